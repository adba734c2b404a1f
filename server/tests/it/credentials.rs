//! Outbound credentials: every `auth` method and location reaches the backend as configured,
//! oauth2 tokens are fetched once and cached, and a missing credential makes only its own
//! server unhealthy.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::routing::post;
use serde_json::{Value, json};

use crate::common::*;

/// `env://CARGO_PKG_NAME` is set by cargo for this test process (the gateway's environment).
const ENV_SECRET: &str = "mcp-gateway";

fn auth_entry(name: &str, url: &str, kind: &str, auth: &str) -> String {
    format!("  {name}:\n    type: {kind}\n    url: {url}\n    auth:\n{auth}")
}

async fn headers_seen(client: &McpClient, tool: &str) -> Value {
    let result = call(client, tool, json!({})).await.expect("headers call");
    serde_json::from_str(&text_of(&result)).expect("headers JSON")
}

#[tokio::test]
async fn header_query_and_basic_credentials_reach_the_backend() {
    let dir = tempfile::tempdir().expect("tempdir");
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, "file-secret-42\nignored second line\n").expect("write");
    let bearer = MockServer::start(
        "http",
        "bearer",
        &["--require-header", "Authorization: Bearer file-secret-42"],
    );
    let apikey = MockServer::start(
        "sse",
        "apikey",
        &["--require-header", &format!("X-API-Key: {ENV_SECRET}")],
    );
    let query = MockServer::start(
        "http",
        "query",
        &["--require-query", &format!("api_key={ENV_SECRET}")],
    );
    // base64("user:mcp-gateway")
    let basic = MockServer::start(
        "http",
        "basic",
        &[
            "--require-header",
            "Authorization: Basic dXNlcjptY3AtZ2F0ZXdheQ==",
        ],
    );
    let templ = MockServer::start(
        "http",
        "templ",
        &[
            "--require-header",
            &format!("X-Auth: Token {ENV_SECRET} v1"),
        ],
    );
    let yaml = format!(
        "servers:\n{}{}{}{}{}",
        auth_entry(
            "bearer",
            bearer.url(),
            "http",
            &format!(
                "      method: bearer\n      credential_ref: file://{}\n",
                token_file.display()
            )
        ),
        auth_entry(
            "apikey",
            apikey.url(),
            "sse",
            "      method: api_key\n      credential_ref: env://CARGO_PKG_NAME\n"
        ),
        auth_entry(
            "query",
            query.url(),
            "http",
            "      method: api_key\n      location: query\n      name: api_key\n      format: raw\n      credential_ref: env://CARGO_PKG_NAME\n"
        ),
        auth_entry(
            "basic",
            basic.url(),
            "http",
            "      method: basic\n      credential_ref: env://BASIC_PAIR_FOR_TEST_UNUSED\n"
        )
        .replace(
            "env://BASIC_PAIR_FOR_TEST_UNUSED",
            &format!("file://{}", {
                let p = dir.path().join("pair");
                std::fs::write(&p, "user:mcp-gateway").expect("write pair");
                p.display().to_string()
            })
        ),
        auth_entry(
            "templ",
            templ.url(),
            "http",
            "      method: custom\n      name: X-Auth\n      format: template\n      template: \"Token {credential} v1\"\n      credential_ref: env://CARGO_PKG_NAME\n"
        ),
    );
    let gateway = TestGateway::start(&yaml).await;
    gateway.wait_healthy(5).await;
    let client = rmcp_client(&gateway.mcp_url()).await;
    for server in ["bearer", "apikey", "query", "basic", "templ"] {
        let result = call(&client, &format!("{server}__echo"), json!({"ok": server}))
            .await
            .expect("call");
        assert_ne!(result.is_error, Some(true), "{server}: {result:?}");
    }
    let seen = headers_seen(&client, "bearer__headers").await;
    assert_eq!(seen["authorization"], "Bearer file-secret-42");
}

#[tokio::test]
async fn a_body_credential_is_added_to_the_arguments() {
    let http = MockServer::start("http", "body", &[]);
    let yaml = format!(
        "servers:\n{}",
        auth_entry(
            "body",
            http.url(),
            "http",
            "      method: api_key\n      location: body\n      name: api_token\n      format: raw\n      credential_ref: env://CARGO_PKG_NAME\n"
        ),
    );
    let gateway = TestGateway::start(&yaml).await;
    gateway.wait_healthy(1).await;
    let client = rmcp_client(&gateway.mcp_url()).await;
    let result = call(&client, "body__echo", json!({"q": 1}))
        .await
        .expect("call");
    let echoed: Value = serde_json::from_str(&text_of(&result)).expect("JSON");
    assert_eq!(echoed, json!({"q": 1, "api_token": ENV_SECRET}));
}

#[tokio::test]
async fn oauth2_client_credentials_tokens_are_fetched_once_and_sent() {
    let fetches = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&fetches);
    let app = axum::Router::new().route(
        "/token",
        post(move |body: String| {
            let counter = Arc::clone(&counter);
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                assert!(body.contains("grant_type=client_credentials"), "{body}");
                assert!(body.contains("client_id=gw"), "{body}");
                assert!(body.contains(&format!("client_secret={ENV_SECRET}")), "{body}");
                axum::Json(json!({"access_token": "oauth-token-7", "token_type": "Bearer", "expires_in": 3600}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let token_url = format!("http://{}/token", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });

    let http = MockServer::start(
        "http",
        "oauth",
        &["--require-header", "Authorization: Bearer oauth-token-7"],
    );
    let yaml = format!(
        "servers:\n{}",
        auth_entry(
            "oauth",
            http.url(),
            "http",
            &format!(
                "      method: oauth2\n      token_url: {token_url}\n      client_id: gw\n      client_secret_ref: env://CARGO_PKG_NAME\n      scope: mcp\n"
            )
        ),
    );
    let gateway = TestGateway::start(&yaml).await;
    gateway.wait_healthy(1).await;
    let client = rmcp_client(&gateway.mcp_url()).await;
    for i in 0..3 {
        let result = call(&client, "oauth__echo", json!({"i": i}))
            .await
            .expect("call");
        assert_ne!(result.is_error, Some(true), "{result:?}");
    }
    assert_eq!(fetches.load(Ordering::SeqCst), 1, "the token is cached");
}

#[tokio::test]
async fn a_missing_credential_makes_only_its_server_unhealthy() {
    let good = MockServer::start("http", "good", &[]);
    let bad = MockServer::start("http", "bad", &[]);
    let yaml = format!(
        "servers:\n{}{}",
        url_entry("good", "http", good.url()),
        auth_entry(
            "bad",
            bad.url(),
            "http",
            "      method: bearer\n      credential_ref: env://SURELY_NOT_SET_ANYWHERE_42\n"
        ),
    );
    let gateway = TestGateway::start(&yaml).await;
    gateway.wait_healthy(1).await;
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let state = gateway
            .gateway
            .pool()
            .get("bad")
            .expect("bad is configured")
            .state();
        if state.last_error.as_deref()
            == Some("credential env://SURELY_NOT_SET_ANYWHERE_42 not set")
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "last_error was {:?}",
            state.last_error
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let client = rmcp_client(&gateway.mcp_url()).await;
    let result = call(&client, "good__echo", json!({})).await.expect("call");
    assert_ne!(result.is_error, Some(true));
}

#[tokio::test]
async fn a_backend_refusing_our_credentials_is_unhealthy_with_a_safe_reason() {
    let http = MockServer::start("http", "locked", &["--require-query", "key=right"]);
    let url = format!("{}?key=wrong-and-secret", http.url());
    let yaml = format!("servers:\n{}", url_entry("locked", "http", &url));
    let gateway = TestGateway::start(&yaml).await;
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let state = gateway
            .gateway
            .pool()
            .get("locked")
            .expect("configured")
            .state();
        if let Some(error) = &state.last_error {
            assert!(
                !error.contains("wrong-and-secret"),
                "secret in last_error: {error}"
            );
            assert!(!error.contains("127.0.0.1"), "URL in last_error: {error}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never marked unhealthy"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(gateway.health().await["servers"]["healthy"], 0);
}

#[tokio::test]
async fn forward_identity_sends_user_and_request_id_but_never_the_callers_token() {
    let http = MockServer::start("http", "fwd", &[]);
    let sse = MockServer::start("sse", "fwdsse", &[]);
    let plain = MockServer::start("http", "plain", &[]);
    let yaml = format!(
        "servers:\n{}    forward_identity: true\n{}    forward_identity: true\n{}",
        url_entry("fwd", "http", http.url()),
        url_entry("fwdsse", "sse", sse.url()),
        url_entry("plain", "http", plain.url()),
    );
    let gateway = TestGateway::start(&yaml).await;
    gateway.wait_healthy(3).await;
    let client = reqwest::Client::new();
    for (server, forwarded) in [("fwd", true), ("fwdsse", true), ("plain", false)] {
        let answer: Value = client
            .post(format!("{}/tools/{server}__headers/invoke", gateway.base))
            .header("x-request-id", format!("req-{server}"))
            .header("authorization", "Bearer caller-token-must-not-travel")
            .body("{}")
            .send()
            .await
            .expect("POST")
            .json()
            .await
            .expect("json");
        let text = answer["content"][0]["text"].as_str().expect("text");
        let seen: Value = serde_json::from_str(text).expect("headers JSON");
        assert!(
            !text.contains("caller-token-must-not-travel"),
            "{server}: {text}"
        );
        assert!(!text.contains("forwarded-identity"), "{server}: {text}");
        if forwarded {
            assert_eq!(seen["x-user-id"], "anonymous", "{server}: {text}");
            assert_eq!(
                seen["x-request-id"],
                format!("req-{server}"),
                "{server}: {text}"
            );
        } else {
            assert!(seen.get("x-user-id").is_none(), "{server}: {text}");
        }
    }
}
