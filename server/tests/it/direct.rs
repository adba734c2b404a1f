//! The direct `tools/call` path to streamable-HTTP backends (`upstream/direct.rs`): calls
//! skip rmcp's client yet carry the session's headers; backends answering with JSON or with
//! an event stream both work; progress, tool errors and deadlines behave as on rmcp's path;
//! and a session the backend forgot is re-opened by rmcp without the caller noticing.
//!
//! The mock's `headers` tool shows what reached the backend, and under `:request-id` the
//! JSON-RPC id: the direct path's ids are strings (`gw-…`), rmcp's are numbers.

use std::sync::atomic::Ordering;

use rmcp::model::ServerResult;
use serde_json::{Value, json};

use crate::common::*;
use crate::mcp::{call_with_progress_token, recording_client};

async fn gateway_over(mock: &MockServer, extra: &str) -> TestGateway {
    let yaml = format!(
        "servers:\n{}{extra}",
        url_entry("alpha", "http", mock.url())
    );
    let gateway = TestGateway::start(&yaml).await;
    gateway.wait_healthy(1).await;
    gateway
}

async fn headers_seen(client: &McpClient) -> Value {
    let result = call(client, "alpha__headers", json!({}))
        .await
        .expect("headers call");
    serde_json::from_str(&text_of(&result)).expect("headers JSON")
}

fn took_the_direct_path(seen: &Value) -> bool {
    seen[":request-id"]
        .as_str()
        .is_some_and(|id| id.starts_with("gw-"))
}

/// `Mcp-Method` / `Mcp-Name` travel exactly when the negotiated protocol has them.
fn standard_headers_match(seen: &Value) -> bool {
    let version = seen["mcp-protocol-version"].as_str().unwrap_or_default();
    if version >= "2026-07-28" {
        seen["mcp-method"] == "tools/call" && seen["mcp-name"] == "headers"
    } else {
        seen.get("mcp-method").is_none() && seen.get("mcp-name").is_none()
    }
}

#[tokio::test]
async fn calls_to_a_session_backend_take_the_direct_path_with_the_sessions_headers() {
    let mock = MockServer::start("http", "alpha", &[]);
    let gateway = gateway_over(&mock, "").await;
    let client = rmcp_client(&gateway.mcp_url()).await;

    let seen = headers_seen(&client).await;
    assert!(took_the_direct_path(&seen), "{seen}");
    assert!(seen["mcp-session-id"].is_string(), "{seen}");
    assert!(seen["mcp-protocol-version"].is_string(), "{seen}");
    assert!(standard_headers_match(&seen), "{seen}");
    assert!(
        seen["accept"]
            .as_str()
            .is_some_and(|a| a.contains("text/event-stream") && a.contains("application/json")),
        "{seen}"
    );

    let echoed = call(
        &client,
        "alpha__echo",
        json!({"word": "héllo", "n": [1, 2]}),
    )
    .await
    .expect("echo");
    let echoed: Value = serde_json::from_str(&text_of(&echoed)).expect("echo JSON");
    assert_eq!(echoed, json!({"word": "héllo", "n": [1, 2]}));

    let failed = call(&client, "alpha__fail", json!({"message": "no disk"}))
        .await
        .expect("a tool failure is a result");
    assert_eq!(failed.is_error, Some(true));
    assert_eq!(text_of(&failed), "no disk");

    let structured = call(&client, "alpha__check_health", json!({}))
        .await
        .expect("check_health");
    assert_eq!(
        structured.structured_content,
        Some(json!({"server": "alpha", "status": "ok"}))
    );
}

#[tokio::test]
async fn a_stateless_backend_answering_with_json_is_called_directly() {
    let mock = MockServer::start("http", "alpha", &["--stateless"]);
    let gateway = gateway_over(&mock, "").await;
    let client = rmcp_client(&gateway.mcp_url()).await;

    let seen = headers_seen(&client).await;
    assert!(took_the_direct_path(&seen), "{seen}");
    assert!(seen.get("mcp-session-id").is_none(), "{seen}");
    assert!(standard_headers_match(&seen), "{seen}");
    let result = call(&client, "alpha__search_logs", json!({"query": "disk"}))
        .await
        .expect("search_logs");
    assert!(text_of(&result).contains("disk"), "{}", text_of(&result));
}

#[tokio::test]
async fn a_session_the_backend_forgot_is_reopened_without_the_caller_noticing() {
    let mock = MockServer::start("http", "alpha", &[]);
    let gateway = gateway_over(&mock, "").await;
    let client = rmcp_client(&gateway.mcp_url()).await;
    let first = headers_seen(&client).await;
    let session = first["mcp-session-id"]
        .as_str()
        .expect("session")
        .to_owned();

    // The backend ends the session (as a restart would).
    let ended = reqwest::Client::new()
        .delete(mock.url())
        .header("mcp-session-id", &session)
        .send()
        .await
        .expect("DELETE the session");
    assert!(ended.status().is_success(), "{}", ended.status());

    // Refused with 404 on the direct path, the call goes through rmcp, which opens a new
    // session and sends it there.
    let second = headers_seen(&client).await;
    assert_ne!(second["mcp-session-id"], session.as_str(), "{second}");
    // Calls after that are direct again, in the new session.
    let third = headers_seen(&client).await;
    assert!(took_the_direct_path(&third), "{third}");
    assert_eq!(third["mcp-session-id"], second["mcp-session-id"]);
}

#[tokio::test]
async fn progress_from_an_http_backend_reaches_the_caller() {
    let mock = MockServer::start("http", "alpha", &[]);
    let gateway = gateway_over(&mock, "").await;
    let (client, recorder) = recording_client(&gateway.mcp_url()).await;
    // rmcp's client attaches a progress token to every request it sends.
    let response = call_with_progress_token(&client, "alpha__sleep", json!({"seconds": 0.5})).await;
    let ServerResult::CallToolResult(result) = response else {
        panic!("not a tool result: {response:?}");
    };
    assert_eq!(text_of(&result), "slept 0.5 s");
    assert!(
        recorder.progress.load(Ordering::SeqCst) >= 2,
        "expected relayed progress notifications, got {}",
        recorder.progress.load(Ordering::SeqCst)
    );
}

#[tokio::test]
async fn a_call_past_its_deadline_times_out_and_the_backend_keeps_serving() {
    let mock = MockServer::start("http", "alpha", &[]);
    let gateway = gateway_over(&mock, "    timeout: 0.5\n").await;
    let client = rmcp_client(&gateway.mcp_url()).await;
    let outcome = match call(&client, "alpha__sleep", json!({"seconds": 30})).await {
        Ok(result) => text_of(&result),
        Err(error) => error.to_string(),
    };
    assert!(outcome.contains("timeout after 0.5 s"), "{outcome}");
    let seen = headers_seen(&client).await;
    assert!(took_the_direct_path(&seen), "{seen}");
}
