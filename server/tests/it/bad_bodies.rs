//! A body that is not a JSON-RPC message gets a JSON-RPC error on every MCP door (SPEC §14):
//! 400 with `-32700` for what is not JSON or nests deeper than 128 levels, 400 with `-32600`
//! for JSON that is no message; 415 only for a streamable HTTP client's non-JSON
//! `Content-Type`.

use serde_json::{Value, json};

use crate::common::raw::{LegacySession, RawSession, VERSION};
use crate::common::*;

/// A `tools/call` whose arguments nest `depth` levels deep in all.
fn nested(depth: usize) -> String {
    let inner = format!("{}{}", "[".repeat(depth - 3), "]".repeat(depth - 3));
    format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"alpha__echo","arguments":{{"x":{inner}}}}}}}"#
    )
}

/// Bodies and the JSON-RPC code each must get.
fn bad_bodies() -> Vec<(String, i64)> {
    vec![
        ("not json".to_owned(), -32700),
        (r#"{"jsonrpc":"2.0","#.to_owned(), -32700),
        (format!("{}{}", "[".repeat(5000), "]".repeat(5000)), -32700),
        (nested(129), -32700),
        (r#"{"foo":1}"#.to_owned(), -32600),
        (r#"{"jsonrpc":"2.0","id":1}"#.to_owned(), -32600),
        ("42".to_owned(), -32600),
    ]
}

async fn assert_refused(response: reqwest::Response, code: i64, what: &str) {
    assert_eq!(response.status(), 400, "{what}");
    let answer: Value = response.json().await.expect("a JSON body");
    assert_eq!(answer["error"]["code"], code, "{what}: {answer}");
    assert_eq!(answer["id"], Value::Null, "{what}: {answer}");
}

#[tokio::test]
async fn every_mcp_door_answers_bad_bodies_with_json_rpc_errors() {
    let (_mocks, gateway) = gateway_over_every_transport().await;
    let http = reqwest::Client::new();
    let session = RawSession::open(&gateway.mcp_url()).await;
    let legacy = LegacySession::open(&gateway.base).await;
    for (body, code) in bad_bodies() {
        let what = &body[..body.len().min(40)];
        // Plain JSON-RPC, as `curl -d` sends it.
        let plain = http.post(gateway.mcp_url()).body(body.clone()).send().await;
        assert_refused(plain.expect("POST"), code, what).await;
        // In a session.
        let in_session = session.request_in(&session.id, body.clone()).send().await;
        assert_refused(in_session.expect("POST"), code, what).await;
        // The stateless 2026-07-28 era.
        let stateless = http
            .post(gateway.mcp_url())
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .header("mcp-protocol-version", "2026-07-28")
            .body(body.clone())
            .send()
            .await;
        assert_refused(stateless.expect("POST"), code, what).await;
        // Legacy HTTP+SSE.
        let posted = legacy
            .http
            .post(&legacy.messages)
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await;
        assert_refused(posted.expect("POST"), code, what).await;
    }
    // 128 levels are fine, and the session goes on.
    let deep_enough = session
        .request_in(&session.id, nested(128))
        .send()
        .await
        .expect("POST");
    assert_eq!(deep_enough.status(), 200);
    let answer: Value = deep_enough.json().await.expect("JSON");
    assert!(answer["result"]["content"].is_array(), "{answer}");
}

#[tokio::test]
async fn only_a_streamable_http_client_sending_no_json_gets_415() {
    let (_mocks, gateway) = gateway_over_every_transport().await;
    let session = RawSession::open(&gateway.mcp_url()).await;
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}).to_string();
    let refused = session
        .http
        .post(&session.url)
        .header("accept", "application/json, text/event-stream")
        .header("content-type", "text/plain")
        .header("mcp-session-id", &session.id)
        .header("mcp-protocol-version", VERSION)
        .body(body.clone())
        .send()
        .await
        .expect("POST");
    assert_eq!(refused.status(), 415);
    // A plain caller's form type (`curl -d`) is read as JSON.
    let plain = session
        .http
        .post(&session.url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("POST");
    assert_eq!(plain.status(), 200);
    let answer: Value = plain.json().await.expect("JSON");
    assert_eq!(answer["result"], json!({}), "{answer}");
}
