//! `mcpgw login` in the browser (SPEC §14): authorization code with PKCE (S256) for the public
//! client `mcp-cli`, the code coming back to a one-shot listener on
//! `http://127.0.0.1:<free port>/callback` (RFC 8252's loopback redirect).
//!
//! The URL is printed as well as opened, for a browser on another machine or none at all. A
//! callback whose `state` is not this login's is answered 400 and otherwise ignored: a page
//! elsewhere cannot end (or hijack) the login by calling the port.

use std::collections::HashMap;
use std::io::Write;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Html;
use reqwest::Url;
use tokio::sync::mpsc;

use crate::client::Failure;
use crate::oidc::{self, Discovery, Pkce};
use crate::store::Login;

/// How long the browser has to come back.
const WAIT_FOR_BROWSER: Duration = Duration::from_secs(300);

/// What came back to the redirect: the code, or the issuer's refusal.
type Outcome = Result<String, String>;

#[derive(Clone)]
struct Callback {
    state: String,
    outcome: mpsc::Sender<Outcome>,
}

pub async fn browser_login(
    http: &reqwest::Client,
    discovery: &Discovery,
    err: &mut dyn Write,
) -> Result<Login, Failure> {
    let authorization = discovery.authorization_endpoint.as_deref().ok_or_else(|| {
        Failure::Auth(
            "the issuer offers no browser sign-in (no authorization endpoint): use --username"
                .to_owned(),
        )
    })?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(|e| {
            Failure::BadAnswer(format!("cannot listen on 127.0.0.1 for the browser: {e}"))
        })?;
    let port = listener
        .local_addr()
        .map_err(|e| Failure::BadAnswer(format!("cannot listen on 127.0.0.1: {e}")))?
        .port();
    let redirect_uri = format!("http://127.0.0.1:{port}/callback");
    let pkce = Pkce::new();
    let state = oidc::random_text();
    let mut url = Url::parse(authorization).map_err(|_| {
        Failure::Auth(format!(
            "the issuer's authorization endpoint `{authorization}` is not a URL"
        ))
    })?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", oidc::CLIENT_ID)
        .append_pair("redirect_uri", &redirect_uri)
        .append_pair("scope", "openid")
        .append_pair("state", &state)
        .append_pair("code_challenge", &pkce.challenge)
        .append_pair("code_challenge_method", "S256");

    let (sender, mut outcomes) = mpsc::channel(1);
    let app = axum::Router::new()
        .route("/callback", axum::routing::get(callback))
        .with_state(Callback {
            state,
            outcome: sender,
        });
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let _ = writeln!(
        err,
        "Sign in in your browser. If it does not open, visit this URL on this machine:\n\n    {url}\n"
    );
    let _ = err.flush();
    let opening = url.to_string();
    // Opening may take a moment (or fail on a machine without one): the URL is printed.
    tokio::task::spawn_blocking(move || {
        let _ = webbrowser::open(&opening);
    });

    let outcome = tokio::time::timeout(WAIT_FOR_BROWSER, outcomes.recv()).await;
    server.abort();
    let code = match outcome {
        Ok(Some(Ok(code))) => code,
        Ok(Some(Err(refusal))) => {
            return Err(Failure::Auth(format!(
                "the issuer refused the login: {refusal}"
            )));
        }
        Ok(None) | Err(_) => {
            return Err(Failure::Auth(
                "the browser did not come back within 5 minutes: run `mcpgw login` again"
                    .to_owned(),
            ));
        }
    };
    oidc::code_grant(http, discovery, &code, &redirect_uri, &pkce.verifier).await
}

async fn callback(
    State(callback): State<Callback>,
    Query(query): Query<HashMap<String, String>>,
) -> (StatusCode, Html<&'static str>) {
    if query.get("state") != Some(&callback.state) {
        return (StatusCode::BAD_REQUEST, Html(NOT_THIS_LOGIN));
    }
    let outcome = match (query.get("code"), query.get("error")) {
        (Some(code), None) => Ok(code.clone()),
        (_, error) => Err(query
            .get("error_description")
            .or(error)
            .cloned()
            .unwrap_or_else(|| "no code in the redirect".to_owned())),
    };
    let signed_in = outcome.is_ok();
    let _ = callback.outcome.try_send(outcome);
    if signed_in {
        (StatusCode::OK, Html(SIGNED_IN))
    } else {
        (StatusCode::OK, Html(REFUSED))
    }
}

// Fixed pages: nothing from the request is ever echoed into them.
const SIGNED_IN: &str = "<!doctype html><title>mcpgw</title>\
    <p>Signed in. You can close this tab and go back to the terminal.</p>";
const REFUSED: &str =
    "<!doctype html><title>mcpgw</title><p>The sign-in was refused; the terminal says why.</p>";
const NOT_THIS_LOGIN: &str =
    "<!doctype html><title>mcpgw</title><p>This is not the sign-in mcpgw is waiting for.</p>";
