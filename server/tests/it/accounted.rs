//! Every call accounted for (SPEC §14): whichever door a `tools/call` came in by and however
//! its caller leaves — hangs up, sends `notifications/cancelled`, deletes its session — it
//! leaves exactly one audit record, `cancelled`, and the backend is told to stop.
//!
//! The mock's `sleep` tool notes its `tag` argument when it starts and when it is cancelled;
//! its `sleeps` tool lists both, so a test knows when a call is running on the backend
//! (then leaves) and that the cancellation reached it, whatever the backend's transport.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::raw::{LegacySession, RawSession, VERSION, call_body};
use crate::common::*;

/// How long the sleeping calls would take if nothing stopped them: far beyond any wait of a
/// test, so that a call that is not cancelled fails the test instead of ending by itself.
const SLEEP_SECONDS: u64 = 120;

/// A gateway over `alpha` (streamable HTTP), `beta` (stdio) and `gamma` (legacy SSE).
async fn gateway() -> ([MockServer; 2], TestGateway) {
    gateway_over_every_transport().await
}

/// A plain JSON-RPC call through the gateway (how tests ask a backend what it saw).
pub async fn plain_call(gateway: &TestGateway, tool: &str, arguments: Value) -> Value {
    reqwest::Client::new()
        .post(gateway.mcp_url())
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                      "params": {"name": tool, "arguments": arguments}}))
        .send()
        .await
        .expect("POST /mcp")
        .json()
        .await
        .expect("a JSON-RPC answer")
}

/// What `server`'s `sleeps` tool reports: `{"started": [tags], "cancelled": [tags]}`.
async fn sleeps(gateway: &TestGateway, server: &str) -> Value {
    let answer = plain_call(gateway, &format!("{server}__sleeps"), json!({})).await;
    let text = answer["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("a sleeps answer: {answer}"));
    serde_json::from_str(text).expect("sleeps JSON")
}

/// Wait until `server` lists `tag` under `list` (`started` or `cancelled`).
pub async fn wait_for_sleep(gateway: &TestGateway, server: &str, list: &str, tag: &str) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let seen = sleeps(gateway, server).await;
        if seen[list]
            .as_array()
            .is_some_and(|tags| tags.contains(&json!(tag)))
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{server} never listed {tag} as {list}: {seen}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `tool_call` records of the calls made with `tag`.
pub fn call_records(gateway: &TestGateway, tag: &str) -> Vec<Value> {
    gateway
        .audit_records()
        .into_iter()
        .filter(|r| r["event"] == "tool_call" && r["parameters"]["tag"] == tag)
        .collect()
}

/// The call tagged `tag` on `server` was cancelled at the backend and left exactly one
/// record, `cancelled`, by `transport`.
async fn assert_cancelled_once(gateway: &TestGateway, server: &str, tag: &str, transport: &str) {
    wait_for_sleep(gateway, server, "cancelled", tag).await;
    let record = gateway
        .wait_for_audit(tag, |r| {
            r["event"] == "tool_call" && r["parameters"]["tag"] == tag
        })
        .await;
    assert_eq!(record["status"], "cancelled", "{record}");
    assert_eq!(record["error"], "cancelled by the caller", "{record}");
    assert_eq!(record["transport"], transport, "{record}");
    assert_eq!(record["mcp_server"], server, "{record}");
    assert!(record["duration_ms"].is_u64(), "{record}");
    // The backend has stopped: nothing else will be written for this call.
    assert_eq!(call_records(gateway, tag).len(), 1, "{tag}");
}

fn sleep_arguments(tag: &str) -> Value {
    json!({"seconds": SLEEP_SECONDS, "tag": tag})
}

/// Start `request`, wait until the backend runs the call tagged `tag`, then hang up: the
/// request's future (and with it the connection) is dropped, as a client that goes away does.
async fn hang_up_once_running(
    gateway: &TestGateway,
    server: &str,
    tag: &str,
    request: reqwest::RequestBuilder,
) {
    let caller = tokio::spawn(async move {
        let response = request.send().await;
        // Reached only when the call ended by itself: read the whole answer.
        match response {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(error) => error.to_string(),
        }
    });
    wait_for_sleep(gateway, server, "started", tag).await;
    assert!(!caller.is_finished(), "the call ended by itself");
    caller.abort();
    let _ = caller.await;
}

#[tokio::test]
async fn a_plain_json_rpc_caller_that_hangs_up_cancels_its_call_on_every_backend_transport() {
    let (_mocks, gateway) = gateway().await;
    for server in ["alpha", "beta", "gamma"] {
        let tag = format!("plain-{server}");
        let request = reqwest::Client::new()
            .post(gateway.mcp_url())
            .json(&call_body(
                1,
                &format!("{server}__sleep"),
                sleep_arguments(&tag),
            ));
        hang_up_once_running(&gateway, server, &tag, request).await;
        assert_cancelled_once(&gateway, server, &tag, "mcp").await;
    }
}

#[tokio::test]
async fn a_rest_caller_that_hangs_up_cancels_its_call() {
    let (_mocks, gateway) = gateway().await;
    let http = reqwest::Client::new();
    let request = http
        .post(format!("{}/mcp/invoke?mcp_server=alpha", gateway.base))
        .json(&json!({"tool_name": "sleep", "parameters": sleep_arguments("rest")}));
    hang_up_once_running(&gateway, "alpha", "rest", request).await;
    assert_cancelled_once(&gateway, "alpha", "rest", "rest").await;

    // The CLI's requests are REST requests marked `X-Client: mcpgw`.
    let request = http
        .post(format!("{}/tools/beta__sleep/invoke", gateway.base))
        .header("x-client", "mcpgw")
        .json(&sleep_arguments("cli"));
    hang_up_once_running(&gateway, "beta", "cli", request).await;
    assert_cancelled_once(&gateway, "beta", "cli", "cli").await;
}

#[tokio::test]
async fn a_session_caller_that_hangs_up_cancels_its_call() {
    let (_mocks, gateway) = gateway().await;
    let session = RawSession::open(&gateway.mcp_url()).await;
    // Answered as one JSON body.
    let request = session.request(&call_body(1, "alpha__sleep", sleep_arguments("session")));
    hang_up_once_running(&gateway, "alpha", "session", request).await;
    assert_cancelled_once(&gateway, "alpha", "session", "mcp").await;
    // Answered as an event stream of progress, then the result.
    let mut body = call_body(2, "beta__sleep", sleep_arguments("session-progress"));
    body["params"]["_meta"] = json!({"progressToken": "p-1"});
    let request = session.request(&body);
    hang_up_once_running(&gateway, "beta", "session-progress", request).await;
    assert_cancelled_once(&gateway, "beta", "session-progress", "mcp").await;
    let record = &call_records(&gateway, "session")[0];
    assert_eq!(record["session_id"], session.id.as_str(), "{record}");
}

#[tokio::test]
async fn a_stateless_2026_07_28_caller_that_hangs_up_cancels_its_call() {
    let (_mocks, gateway) = gateway().await;
    let mut body = call_body(1, "beta__sleep", sleep_arguments("stateless"));
    body["params"]["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {}
    });
    let request = reqwest::Client::new()
        .post(gateway.mcp_url())
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "beta__sleep")
        .json(&body);
    hang_up_once_running(&gateway, "beta", "stateless", request).await;
    assert_cancelled_once(&gateway, "beta", "stateless", "mcp").await;
}

#[tokio::test]
async fn a_session_caller_that_cancels_or_deletes_its_session_cancels_its_calls() {
    let (_mocks, gateway) = gateway().await;
    let session = RawSession::open(&gateway.mcp_url()).await;
    let call = session
        .request(&call_body(7, "alpha__sleep", sleep_arguments("notified")))
        .send();
    let caller = tokio::spawn(call);
    wait_for_sleep(&gateway, "alpha", "started", "notified").await;
    let accepted = session
        .request(
            &json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                          "params": {"requestId": 7, "reason": "changed my mind"}}),
        )
        .send()
        .await
        .expect("notifications/cancelled");
    assert_eq!(accepted.status(), 202);
    assert_cancelled_once(&gateway, "alpha", "notified", "mcp").await;
    // The caller still gets an answer, and it says so.
    let answer: Value = caller
        .await
        .expect("caller")
        .expect("answer")
        .json()
        .await
        .expect("JSON");
    assert_eq!(answer["result"]["isError"], true, "{answer}");

    // Deleting the session ends its calls on every backend.
    let calls: Vec<_> = [("alpha", 8), ("beta", 9)]
        .into_iter()
        .map(|(server, id)| {
            let tag = format!("deleted-{server}");
            let request = session.request(&call_body(
                id,
                &format!("{server}__sleep"),
                sleep_arguments(&tag),
            ));
            tokio::spawn(request.send())
        })
        .collect();
    for server in ["alpha", "beta"] {
        wait_for_sleep(&gateway, server, "started", &format!("deleted-{server}")).await;
    }
    let deleted = session
        .http
        .delete(&session.url)
        .header("mcp-session-id", &session.id)
        .header("mcp-protocol-version", VERSION)
        .send()
        .await
        .expect("DELETE /mcp");
    assert!(deleted.status().is_success(), "{}", deleted.status());
    for server in ["alpha", "beta"] {
        assert_cancelled_once(&gateway, server, &format!("deleted-{server}"), "mcp").await;
    }
    for call in calls {
        let _ = call.await;
    }
}

#[tokio::test]
async fn an_rmcp_client_that_cancels_cancels_the_backend_call() {
    let (_mocks, gateway) = gateway().await;
    let client = rmcp_client(&gateway.mcp_url()).await;
    let handle = crate::mcp::send_tool_call(&client, "gamma__sleep", sleep_arguments("rmcp")).await;
    wait_for_sleep(&gateway, "gamma", "started", "rmcp").await;
    handle
        .cancel(Some("changed my mind".into()))
        .await
        .expect("cancel");
    assert_cancelled_once(&gateway, "gamma", "rmcp", "mcp").await;
}

#[tokio::test]
async fn a_legacy_sse_caller_that_hangs_up_cancels_its_call() {
    let (_mocks, gateway) = gateway().await;
    let session = LegacySession::open(&gateway.base).await;
    session
        .post(&call_body(1, "alpha__sleep", sleep_arguments("legacy")))
        .await;
    wait_for_sleep(&gateway, "alpha", "started", "legacy").await;
    // Hanging up a legacy session is closing its event stream.
    drop(session.stream);
    assert_cancelled_once(&gateway, "alpha", "legacy", "mcp").await;
}

#[tokio::test]
async fn a_legacy_sse_caller_that_cancels_cancels_its_call() {
    let (_mocks, gateway) = gateway().await;
    let session = LegacySession::open(&gateway.base).await;
    session
        .post(&call_body(
            5,
            "beta__sleep",
            sleep_arguments("legacy-cancel"),
        ))
        .await;
    wait_for_sleep(&gateway, "beta", "started", "legacy-cancel").await;
    session
        .post(
            &json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
                      "params": {"requestId": 5, "reason": "changed my mind"}}),
        )
        .await;
    assert_cancelled_once(&gateway, "beta", "legacy-cancel", "mcp").await;
}

/// Two HTTP mocks offering the same tools and both tagged `elk`, so that `broadcast__sleep`
/// and `broadcast__by_tag__elk` reach both.
async fn two_backends() -> ([MockServer; 2], TestGateway) {
    let first = MockServer::start("http", "one", &[]);
    let second = MockServer::start("http", "two", &[]);
    let yaml = format!(
        "servers:\n{}    tags: [elk]\n{}    tags: [elk]\n",
        url_entry("one", "http", first.url()),
        url_entry("two", "http", second.url())
    );
    let gateway = TestGateway::start(&yaml).await;
    gateway.wait_healthy(2).await;
    ([first, second], gateway)
}

/// The broadcast tagged `tag` left its parent and one child per target, all `cancelled`,
/// and both backends were told.
async fn assert_broadcast_cancelled(gateway: &TestGateway, tag: &str) {
    for server in ["one", "two"] {
        wait_for_sleep(gateway, server, "cancelled", tag).await;
    }
    let parent = gateway
        .wait_for_audit("the broadcast", |r| {
            r["event"] == "broadcast" && r["parameters"]["tag"] == tag
        })
        .await;
    assert_eq!(parent["status"], "cancelled", "{parent}");
    assert_eq!(parent["error"], "cancelled by the caller", "{parent}");
    let children = call_records(gateway, tag);
    assert_eq!(children.len(), 2, "{children:?}");
    for child in &children {
        assert_eq!(child["status"], "cancelled", "{child}");
        assert_eq!(child["broadcast_id"], parent["id"], "{child}");
        assert!(child["duration_ms"].is_u64(), "{child}");
    }
}

#[tokio::test]
async fn a_broadcast_whose_caller_cancels_is_cancelled_on_every_target() {
    let (_mocks, gateway) = two_backends().await;
    let client = rmcp_client(&gateway.mcp_url()).await;
    let handle = crate::mcp::send_tool_call(
        &client,
        "broadcast__sleep",
        sleep_arguments("fanout-cancel"),
    )
    .await;
    for server in ["one", "two"] {
        wait_for_sleep(&gateway, server, "started", "fanout-cancel").await;
    }
    handle.cancel(None).await.expect("cancel");
    assert_broadcast_cancelled(&gateway, "fanout-cancel").await;
}

#[tokio::test]
async fn a_broadcast_whose_caller_hangs_up_is_cancelled_on_every_target() {
    let (_mocks, gateway) = two_backends().await;
    let request = reqwest::Client::new()
        .post(gateway.mcp_url())
        .json(&call_body(1, "broadcast__sleep", sleep_arguments("fanout")));
    let caller = tokio::spawn(request.send());
    for server in ["one", "two"] {
        wait_for_sleep(&gateway, server, "started", "fanout").await;
    }
    caller.abort();
    let _ = caller.await;
    assert_broadcast_cancelled(&gateway, "fanout").await;
}

#[tokio::test]
async fn a_tag_broadcast_records_what_its_targets_are_sent_and_is_recorded_when_refused() {
    let (_mocks, gateway) = two_backends().await;
    let answer = plain_call(
        &gateway,
        "broadcast__by_tag__elk",
        json!({"tool_name": "echo", "arguments": {"tag": "tagged"}}),
    )
    .await;
    assert_eq!(answer["result"]["isError"], false, "{answer}");
    let parent = gateway
        .wait_for_audit("the tag broadcast", |r| r["event"] == "broadcast")
        .await;
    assert_eq!(parent["parameters"], json!({"tag": "tagged"}), "{parent}");
    assert_eq!(parent["backend_tool"], "echo", "{parent}");
    assert_eq!(call_records(&gateway, "tagged").len(), 2);

    // Authorized, but its arguments name no tool of the tag: refused, and recorded.
    let refused = plain_call(
        &gateway,
        "broadcast__by_tag__elk",
        json!({"tool_name": "nope", "arguments": {}}),
    )
    .await;
    assert_eq!(refused["error"]["code"], -32602, "{refused}");
    let record = gateway
        .wait_for_audit("the refused tag broadcast", |r| {
            r["event"] == "broadcast" && r["status"] == "error"
        })
        .await;
    assert_eq!(record["tool"], "broadcast__by_tag__elk", "{record}");
    assert!(
        record["error"]
            .as_str()
            .is_some_and(|e| e.contains("\"nope\" is not offered")),
        "{record}"
    );
}

#[tokio::test]
async fn a_call_that_is_waited_for_leaves_one_record_with_its_outcome() {
    let (_mocks, gateway) = gateway().await;
    let answer = plain_call(
        &gateway,
        "alpha__sleep",
        json!({"seconds": 0.1, "tag": "waited"}),
    )
    .await;
    assert!(answer["result"]["content"].is_array(), "{answer}");
    let record = gateway
        .wait_for_audit("waited", |r| r["parameters"]["tag"] == "waited")
        .await;
    assert_eq!(record["status"], "success", "{record}");
    assert_eq!(record["error"], Value::Null, "{record}");
    // A tool that ran and failed: its text is the record's error.
    let failed = plain_call(&gateway, "beta__fail", json!({"message": "disk full"})).await;
    assert_eq!(failed["result"]["isError"], true, "{failed}");
    let record = gateway
        .wait_for_audit("the failed call", |r| r["tool"] == "beta__fail")
        .await;
    assert_eq!(record["status"], "error", "{record}");
    assert_eq!(record["error"], "disk full", "{record}");
    assert_eq!(call_records(&gateway, "waited").len(), 1);
}
