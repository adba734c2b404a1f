//! Session-era `tools/call` answered by the gateway itself (`http/mcp/session_calls.rs`),
//! seen on the wire by a raw HTTP client: a JSON answer in the shape of the session's
//! protocol, cancellation by `notifications/cancelled`, and the requests that must still reach
//! rmcp (progress, unknown sessions).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::raw::*;
use crate::common::*;

async fn gateway_with_http_backend() -> (MockServer, TestGateway) {
    let http = MockServer::start("http", "alpha", &[]);
    let yaml = format!("servers:\n{}", url_entry("alpha", "http", http.url()));
    let gateway = TestGateway::start(&yaml).await;
    gateway.wait_healthy(1).await;
    (http, gateway)
}

#[tokio::test]
async fn a_session_call_is_answered_as_json_in_the_sessions_shape_and_audited() {
    let (_http, gateway) = gateway_with_http_backend().await;
    let session = RawSession::open(&gateway.mcp_url()).await;
    let response = session
        .post(&call_body(7, "alpha__echo", json!({"say": "direct"})))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(content_type(&response), "application/json");
    let answer = &messages(response).await[0];
    assert_eq!(answer["jsonrpc"], "2.0");
    assert_eq!(answer["id"], 7);
    let result = &answer["result"];
    assert!(
        result["content"][0]["text"]
            .as_str()
            .is_some_and(|t| t.contains("direct"))
    );
    // 2025-06-18 knows no `resultType`.
    assert!(result.get("resultType").is_none(), "{result}");
    let record = gateway
        .wait_for_audit("the direct call", |r| {
            r["event"] == "tool_call" && r["tool"] == "alpha__echo"
        })
        .await;
    assert_eq!(record["session_id"], session.id.as_str());
    assert_eq!(record["status"], "success");
}

#[tokio::test]
async fn errors_on_the_direct_path_are_the_same_as_through_rmcp() {
    let (_http, gateway) = gateway_with_http_backend().await;
    let session = RawSession::open(&gateway.mcp_url()).await;
    let unknown = &messages(session.post(&call_body(1, "alpha__nope", json!({}))).await).await[0];
    assert_eq!(unknown["error"]["code"], -32602, "{unknown}");
    assert!(
        unknown["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("Unknown tool: alpha__nope"))
    );
    let failed = &messages(session.post(&call_body(2, "alpha__fail", json!({}))).await).await[0];
    assert_eq!(failed["result"]["isError"], true, "{failed}");
}

#[tokio::test]
async fn a_call_with_a_progress_token_gets_its_progress_in_an_event_stream() {
    let (_http, gateway) = gateway_with_http_backend().await;
    let session = RawSession::open(&gateway.mcp_url()).await;
    let body = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": "alpha__sleep", "arguments": {"seconds": 0.5},
                   "_meta": {"progressToken": "p-1"}}});
    let response = session.post(&body).await;
    assert_eq!(response.status(), 200);
    assert!(content_type(&response).starts_with("text/event-stream"));
    let messages = messages(response).await;
    let progress = messages
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .inspect(|m| assert_eq!(m["params"]["progressToken"], "p-1"))
        .count();
    assert!(progress >= 1, "no progress in {messages:?}");
    let last = messages.last().expect("an answer");
    assert_eq!(last["id"], 3);
    assert!(last["result"]["content"].is_array(), "{last}");
}

#[tokio::test]
async fn a_client_cancellation_stops_a_direct_call() {
    let (_http, gateway) = gateway_with_http_backend().await;
    let session = std::sync::Arc::new(RawSession::open(&gateway.mcp_url()).await);
    let started = Instant::now();
    let caller = {
        let session = std::sync::Arc::clone(&session);
        tokio::spawn(async move {
            let response = session
                .post(&call_body(11, "alpha__sleep", json!({"seconds": 30})))
                .await;
            messages(response).await
        })
    };
    // Cancel once the call is in flight (its audit record is written when it ends, so watch
    // the gateway's own count instead).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let accepted = session
        .post(
            &json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                      "params": {"requestId": 11, "reason": "changed my mind"}}),
        )
        .await;
    assert_eq!(accepted.status(), 202);
    let answer = tokio::time::timeout(Duration::from_secs(20), caller)
        .await
        .expect("the cancelled call ends long before its 30 s sleep")
        .expect("caller task");
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(answer[0]["id"], 11);
    assert_eq!(answer[0]["result"]["isError"], true, "{:?}", answer[0]);
    // The session goes on.
    let after = &messages(session.post(&call_body(12, "alpha__echo", json!({}))).await).await[0];
    assert!(after["result"]["content"].is_array(), "{after}");
}

#[tokio::test]
async fn an_unknown_session_is_not_found_on_the_direct_path_too() {
    let (_http, gateway) = gateway_with_http_backend().await;
    let session = RawSession::open(&gateway.mcp_url()).await;
    let response = session
        .post_in("no-such-session", &call_body(1, "alpha__echo", json!({})))
        .await;
    assert_eq!(response.status(), 404);
    let record_count = gateway
        .audit_records()
        .iter()
        .filter(|r| r["event"] == "tool_call")
        .count();
    assert_eq!(record_count, 0, "a call in no session reached a backend");
}

/// A body that is not JSON gets JSON-RPC's parse error inside a session too, as outside one.
#[tokio::test]
async fn a_body_that_is_not_json_is_a_parse_error_in_a_session() {
    let (_http, gateway) = gateway_with_http_backend().await;
    let session = RawSession::open(&gateway.mcp_url()).await;
    for body in [r#"{"jsonrpc":"2.0","#, "not json at all"] {
        let response = session
            .request_in(&session.id, body)
            .send()
            .await
            .expect("POST /mcp");
        assert_eq!(response.status(), 400, "{body}");
        let answer: Value = response.json().await.expect("a JSON body");
        assert_eq!(answer["error"]["code"], -32700, "{answer}");
        assert_eq!(answer["id"], Value::Null, "{answer}");
    }
    // The session is still good.
    let response = session
        .post(&call_body(2, "alpha__echo", json!({"x": 1})))
        .await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_caller_leaving_a_progress_stream_cancels_its_call() {
    let (_http, gateway) = gateway_with_http_backend().await;
    let session = RawSession::open(&gateway.mcp_url()).await;
    let body = json!({"jsonrpc": "2.0", "id": 21, "method": "tools/call",
        "params": {"name": "alpha__sleep", "arguments": {"seconds": 60},
                   "_meta": {"progressToken": 5}}});
    let started = Instant::now();
    let mut response = session.post(&body).await;
    assert!(content_type(&response).starts_with("text/event-stream"));
    // Wait for the first progress event: the call is running on the backend.
    let first = response.chunk().await.expect("read").expect("an event");
    let first = String::from_utf8_lossy(&first).into_owned();
    assert!(first.contains("notifications/progress"), "{first}");
    assert!(first.contains("\"progressToken\":5"), "{first}");
    drop(response);
    drop(session);
    // The call ends (cancelled) long before its 60 s, and is audited as such.
    let record = gateway
        .wait_for_audit("the abandoned call", |r| {
            r["event"] == "tool_call" && r["tool"] == "alpha__sleep"
        })
        .await;
    assert!(started.elapsed() < Duration::from_secs(45));
    assert_eq!(record["status"], "cancelled", "{record}");
    assert_eq!(record["error"], "cancelled by the caller", "{record}");
}
