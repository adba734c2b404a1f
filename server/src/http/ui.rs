//! The web console (SPEC §14): the files of `frontend/app/`, compiled into the binary and
//! served at `/ui/`.
//!
//! - `/ui` redirects to `/ui/`; `/ui/` is `index.html`.
//! - A path whose last segment has an extension names a file (404 when there is none, so
//!   that a broken link shows as one); any other path is a page of the console
//!   (`/ui/tools/x`) and gets `index.html`, whose script routes it.
//! - Every answer carries the console's Content-Security-Policy: nothing loads from another
//!   origin, and the only other origin scripts may talk to is the token issuer's (sign-in).
//! - Files are revalidated on every load (`no-cache`, and the first 128 bits of the file's
//!   SHA-256 as `ETag`): the names carry no hash, and an upgraded gateway must never leave a
//!   browser on old files.
//! - Answers are gzip-compressed when the browser accepts it.
//!
//! The routes are public (authentication exempts `/ui/`): the files hold no data; the data
//! comes from the API, which authenticates each request.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use http::header::{self, HeaderMap, HeaderValue};
use http::{StatusCode, Uri};
use tower_http::compression::CompressionLayer;

use crate::config::Settings;

/// The console's files (`frontend/app/`, every file of it).
#[derive(rust_embed::Embed)]
#[folder = "../frontend/app/"]
struct Assets;

const INDEX: &str = "index.html";

/// The headers every console answer carries, made once.
struct UiHeaders {
    content_security_policy: HeaderValue,
}

/// `/ui` and everything under it.
pub fn routes(settings: &Settings) -> Router {
    let headers = Arc::new(UiHeaders {
        content_security_policy: content_security_policy(settings),
    });
    Router::new()
        .route("/ui", get(|| async { Redirect::permanent("/ui/") }))
        .route("/ui/", get(index))
        .route("/ui/{*path}", get(file))
        .with_state(headers)
        // On these routes only: the API's answers stay uncompressed (small, and on the
        // call path).
        .layer(CompressionLayer::new().gzip(true))
}

/// The console's CSP: this origin only, plus `connect-src` for the issuer when auth is on
/// (the browser exchanges and refreshes its tokens there).
fn content_security_policy(settings: &Settings) -> HeaderValue {
    let issuer = settings
        .auth_enabled
        .then(|| origin_of(&settings.issuer()))
        .flatten()
        .map(|origin| format!(" {origin}"))
        .unwrap_or_default();
    let policy = format!(
        "default-src 'self'; connect-src 'self'{issuer}; img-src 'self' data:; \
         style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors 'none'"
    );
    // The origin comes from a validated URL: no characters a header cannot carry.
    HeaderValue::from_str(&policy)
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'"))
}

/// `scheme://host[:port]` of a URL, as CSP source expressions name origins.
fn origin_of(url: &str) -> Option<String> {
    let uri: Uri = url.parse().ok()?;
    Some(format!("{}://{}", uri.scheme_str()?, uri.authority()?))
}

async fn index(State(ui): State<Arc<UiHeaders>>, request: HeaderMap) -> Response {
    serve(&ui, INDEX, &request)
}

async fn file(
    State(ui): State<Arc<UiHeaders>>,
    Path(path): Path<String>,
    request: HeaderMap,
) -> Response {
    let last = path.rsplit('/').next().unwrap_or("");
    let page = !last.contains('.');
    serve(&ui, if page { INDEX } else { &path }, &request)
}

/// One embedded file, or 304 when the browser's copy is current; 404 when there is none.
fn serve(ui: &UiHeaders, path: &str, request: &HeaderMap) -> Response {
    let Some(file) = Assets::get(path) else {
        return with_policy(ui, (StatusCode::NOT_FOUND, "no such file").into_response());
    };
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..16]));
    let current = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == etag));
    let mut response = if current {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        Response::new(Body::from(file.data.into_owned()))
    };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, content_type(file.metadata.mimetype()));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, etag);
    }
    with_policy(ui, response)
}

/// Text types are UTF-8 (the browser must not guess).
fn content_type(mime: &str) -> HeaderValue {
    let text = mime.starts_with("text/")
        || mime.ends_with("javascript")
        || mime.ends_with("json")
        || mime.ends_with("+xml");
    let value = if text && !mime.contains("charset") {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_owned()
    };
    HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("application/octet-stream"))
}

fn with_policy(ui: &UiHeaders, mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        ui.content_security_policy.clone(),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Sign-in puts a code in the console's URL; no request to anywhere repeats it.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_origin_is_scheme_host_and_port() {
        assert_eq!(
            origin_of("http://localhost:8080/realms/mcp-gateway").as_deref(),
            Some("http://localhost:8080")
        );
        assert_eq!(
            origin_of("https://id.example.com/realms/x").as_deref(),
            Some("https://id.example.com")
        );
        assert_eq!(origin_of("not a url"), None);
    }

    #[test]
    fn text_is_utf8_and_the_rest_as_guessed() {
        assert_eq!(content_type("text/html"), "text/html; charset=utf-8");
        assert_eq!(
            content_type("text/javascript"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            content_type("image/svg+xml"),
            "image/svg+xml; charset=utf-8"
        );
        assert_eq!(content_type("image/png"), "image/png");
    }

    #[test]
    fn the_console_is_in_the_binary() {
        assert!(Assets::get(INDEX).is_some(), "frontend/app/index.html");
        assert!(Assets::get("main.js").is_some(), "frontend/app/main.js");
    }
}
