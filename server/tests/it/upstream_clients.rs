//! The two clients a call to a backend can go through — the gateway's own HTTP client and
//! rmcp's (`GATEWAY_UPSTREAM_CLIENT=auto` and `rmcp`) — held to one behaviour: the same
//! inputs give the same results, tool errors, timeouts, progress, cancellation, identity
//! headers and `_meta` at the backend. Each scenario runs against a gateway of each setting,
//! and what the caller and the backend saw must be equal.

use std::sync::atomic::Ordering;

use serde_json::{Value, json};

use crate::accounted::{call_records, plain_call, wait_for_sleep};
use crate::common::*;
use crate::mcp::{recording_client, send_tool_call};

/// `alpha`: the mock over streamable HTTP, with `forward_identity`; `brief`: the same backend
/// with a deadline of half a second.
async fn gateway_with(client: &str) -> (MockServer, TestGateway) {
    let mock = MockServer::start("http", "alpha", &[]);
    let yaml = format!(
        "servers:\n{}    forward_identity: true\n{}    timeout: 0.5\n",
        url_entry("alpha", "http", mock.url()),
        url_entry("brief", "http", mock.url())
    );
    let gateway = TestGateway::start_with_env(&yaml, &[("GATEWAY_UPSTREAM_CLIENT", client)]).await;
    gateway.wait_healthy(2).await;
    (mock, gateway)
}

/// What a caller gets back from a plain JSON-RPC call, without its id.
async fn answer(gateway: &TestGateway, tool: &str, arguments: Value) -> Value {
    let mut answer = plain_call(gateway, tool, arguments).await;
    answer.as_object_mut().map(|a| a.remove("id"));
    answer
}

/// What the backend's `headers` tool saw of a call sent with `X-Request-ID: conformance`.
async fn seen_by_the_backend(gateway: &TestGateway) -> Value {
    let answer: Value = reqwest::Client::new()
        .post(gateway.mcp_url())
        .header("x-request-id", "conformance")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                      "params": {"name": "alpha__headers", "arguments": {}}}))
        .send()
        .await
        .expect("POST /mcp")
        .json()
        .await
        .expect("JSON");
    let text = answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("a headers answer: {answer}"));
    serde_json::from_str(text).expect("headers JSON")
}

/// Everything observed of one gateway; equal for both clients but for `request_id_kind`.
#[derive(Debug, PartialEq)]
struct Observed {
    echo: Value,
    structured: Value,
    tool_error: Value,
    timeout: Value,
    timeout_record: (Value, Value),
    /// Identity and protocol headers, and `_meta`, as the backend saw them.
    backend_saw: Value,
    progress_relayed: bool,
    cancellation: (Value, Value, bool),
}

async fn observe(client: &str) -> (Observed, Value) {
    let (_mock, gateway) = gateway_with(client).await;
    let echo = answer(
        &gateway,
        "alpha__echo",
        json!({"word": "héllo", "n": [1, 2]}),
    )
    .await;
    let structured = answer(&gateway, "alpha__check_health", json!({})).await;
    let tool_error = answer(&gateway, "alpha__fail", json!({"message": "no disk"})).await;

    let timeout = answer(
        &gateway,
        "brief__sleep",
        json!({"seconds": 30, "tag": "late"}),
    )
    .await;
    let record = gateway
        .wait_for_audit("the timed-out call", |r| r["parameters"]["tag"] == "late")
        .await;
    wait_for_sleep(&gateway, "brief", "cancelled", "late").await;
    let timeout_record = (record["status"].clone(), record["error"].clone());

    let seen = seen_by_the_backend(&gateway).await;
    let mut meta = seen[":meta"].clone();
    // Each client numbers its own progress tokens.
    meta.as_object_mut().map(|m| m.remove("progressToken"));
    let backend_saw = json!({
        "x-user-id": seen["x-user-id"],
        "x-request-id": seen["x-request-id"],
        "mcp-protocol-version": seen["mcp-protocol-version"],
        "has-session": seen["mcp-session-id"].is_string(),
        "user-agent": seen["user-agent"],
        "accepts-both": seen["accept"].as_str().is_some_and(|a| {
            a.contains("application/json") && a.contains("text/event-stream")
        }),
        "meta": meta,
    });
    let request_id = seen[":request-id"].clone();

    let (caller, recorder) = recording_client(&gateway.mcp_url()).await;
    let response =
        crate::mcp::call_with_progress_token(&caller, "alpha__sleep", json!({"seconds": 0.4}))
            .await;
    assert!(matches!(
        response,
        rmcp::model::ServerResult::CallToolResult(_)
    ));
    let progress_relayed = recorder.progress.load(Ordering::SeqCst) >= 1;

    let handle = send_tool_call(
        &caller,
        "alpha__sleep",
        json!({"seconds": 120, "tag": "gone"}),
    )
    .await;
    wait_for_sleep(&gateway, "alpha", "started", "gone").await;
    handle.cancel(None).await.expect("cancel");
    wait_for_sleep(&gateway, "alpha", "cancelled", "gone").await;
    let record = gateway
        .wait_for_audit("the cancelled call", |r| r["parameters"]["tag"] == "gone")
        .await;
    let cancellation = (
        record["status"].clone(),
        record["error"].clone(),
        call_records(&gateway, "gone").len() == 1,
    );

    let observed = Observed {
        echo,
        structured,
        tool_error,
        timeout,
        timeout_record,
        backend_saw,
        progress_relayed,
        cancellation,
    };
    (observed, request_id)
}

#[tokio::test]
async fn both_upstream_clients_behave_the_same() {
    let (own, own_id) = observe("auto").await;
    let (rmcp, rmcp_id) = observe("rmcp").await;
    // The setting chose the client: the gateway's own ids are strings, rmcp's numbers.
    assert!(
        own_id.as_str().is_some_and(|id| id.starts_with("gw-")),
        "{own_id}"
    );
    assert!(rmcp_id.is_u64(), "{rmcp_id}");
    assert_eq!(own, rmcp);

    // And what they both do is right.
    let text = own.echo["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(
        serde_json::from_str::<Value>(text).ok(),
        Some(json!({"word": "héllo", "n": [1, 2]}))
    );
    assert_eq!(
        own.structured["result"]["structuredContent"]["status"],
        "ok"
    );
    assert_eq!(own.tool_error["result"]["isError"], true);
    assert_eq!(own.tool_error["result"]["content"][0]["text"], "no disk");
    assert_eq!(own.timeout["result"]["isError"], true, "{}", own.timeout);
    assert_eq!(
        own.timeout["result"]["content"][0]["text"],
        "timeout after 0.5 s"
    );
    assert_eq!(
        own.timeout_record,
        (json!("timeout"), json!("timeout after 0.5 s"))
    );
    assert_eq!(own.backend_saw["x-user-id"], "anonymous");
    assert_eq!(own.backend_saw["x-request-id"], "conformance");
    assert_eq!(own.backend_saw["has-session"], true);
    assert_eq!(own.backend_saw["accepts-both"], true);
    assert!(own.progress_relayed);
    assert_eq!(
        own.cancellation,
        (json!("cancelled"), json!("cancelled by the caller"), true)
    );
}
