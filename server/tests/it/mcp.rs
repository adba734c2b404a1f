//! MCP clients (rmcp) through the gateway to mock backends over HTTP and stdio: listing,
//! routing, errors, progress, and backends that die or start late.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rmcp::model::{
    CallToolRequest, CallToolRequestParams, ClientRequest, ProgressNotificationParam,
};
use rmcp::service::{NotificationContext, PeerRequestOptions};
use rmcp::{ClientHandler, RoleClient, ServiceExt as _};
use serde_json::json;

use crate::common::*;

async fn two_backends() -> (MockServer, TestGateway) {
    let http = MockServer::start("http", "alpha", &[]);
    let yaml = format!(
        "servers:\n{}{}",
        url_entry("alpha", "http", http.url()),
        stdio_mock_entry("beta", &[])
    );
    let gateway = TestGateway::start(&yaml).await;
    gateway.wait_healthy(2).await;
    (http, gateway)
}

#[tokio::test]
async fn lists_prefixed_tools_of_every_backend() {
    let (_http, gateway) = two_backends().await;
    let client = rmcp_client(&gateway.mcp_url()).await;
    let tools = client.peer().list_all_tools().await.expect("tools/list");
    let names: Vec<_> = tools.iter().map(|t| t.name.to_string()).collect();
    for expected in [
        "alpha__echo",
        "alpha__search_logs",
        "beta__echo",
        "beta__sleep",
    ] {
        assert!(
            names.contains(&expected.to_owned()),
            "{expected} missing from {names:?}"
        );
    }
    let echo = tools
        .iter()
        .find(|t| t.name == "alpha__echo")
        .expect("alpha__echo");
    assert!(
        echo.description
            .as_deref()
            .unwrap_or("")
            .starts_with("[alpha]"),
        "description not prefixed: {:?}",
        echo.description
    );
    let search = tools
        .iter()
        .find(|t| t.name == "beta__search_logs")
        .expect("search");
    assert_eq!(
        search.annotations.as_ref().and_then(|a| a.read_only_hint),
        Some(true),
        "annotations are passed through"
    );
}

#[tokio::test]
async fn routes_calls_to_the_right_backend() {
    let (_http, gateway) = two_backends().await;
    let client = rmcp_client(&gateway.mcp_url()).await;
    let result = call(&client, "alpha__search_logs", json!({"query": "boom"}))
        .await
        .expect("call");
    assert_ne!(result.is_error, Some(true));
    assert!(text_of(&result).contains("[alpha]"), "{}", text_of(&result));
    let result = call(&client, "beta__search_logs", json!({"query": "boom"}))
        .await
        .expect("call");
    assert!(text_of(&result).contains("[beta]"), "{}", text_of(&result));
    let echoed = call(&client, "beta__echo", json!({"n": 42, "s": "x"}))
        .await
        .expect("echo");
    let value: serde_json::Value = serde_json::from_str(&text_of(&echoed)).expect("echo JSON");
    assert_eq!(value, json!({"n": 42, "s": "x"}));
}

#[tokio::test]
async fn structured_content_is_passed_through() {
    let (_http, gateway) = two_backends().await;
    let client = rmcp_client(&gateway.mcp_url()).await;
    let result = call(&client, "alpha__check_health", json!({}))
        .await
        .expect("call");
    let structured = result.structured_content.expect("structuredContent");
    assert_eq!(structured["server"], "alpha");
}

#[tokio::test]
async fn a_failing_tool_is_an_error_result_not_a_protocol_error() {
    let (_http, gateway) = two_backends().await;
    let client = rmcp_client(&gateway.mcp_url()).await;
    let result = call(&client, "alpha__fail", json!({"message": "disk on fire"}))
        .await
        .expect("an isError result, not a JSON-RPC error");
    assert_eq!(result.is_error, Some(true));
    assert!(text_of(&result).contains("disk on fire"));
}

#[tokio::test]
async fn an_unknown_tool_is_invalid_params() {
    let (_http, gateway) = two_backends().await;
    let client = rmcp_client(&gateway.mcp_url()).await;
    let error = call(&client, "nope__nothing", json!({}))
        .await
        .expect_err("unknown tool must be a protocol error");
    match error {
        rmcp::ServiceError::McpError(e) => {
            assert_eq!(e.code.0, -32602);
            assert_eq!(e.message, "Unknown tool: nope__nothing");
        }
        other => panic!("unexpected error {other:?}"),
    }
}

#[tokio::test]
async fn stdio_backends_do_not_inherit_the_gateway_environment() {
    let (_http, gateway) = two_backends().await;
    let client = rmcp_client(&gateway.mcp_url()).await;
    // cargo sets CARGO_MANIFEST_DIR in this (the gateway's) process.
    assert!(std::env::var("CARGO_MANIFEST_DIR").is_ok());
    let result = call(
        &client,
        "beta__get_env",
        json!({"name": "CARGO_MANIFEST_DIR"}),
    )
    .await
    .expect("call");
    assert_eq!(text_of(&result), "<unset>");
    let result = call(&client, "beta__get_env", json!({"name": "PATH"}))
        .await
        .expect("call");
    assert_ne!(text_of(&result), "<unset>", "PATH is passed on");
}

/// Counts what the gateway relays to this client.
#[derive(Clone, Default)]
pub struct Recorder {
    pub progress: Arc<AtomicUsize>,
    list_changed: Arc<AtomicUsize>,
}

impl ClientHandler for Recorder {
    async fn on_progress(&self, _: ProgressNotificationParam, _: NotificationContext<RoleClient>) {
        self.progress.fetch_add(1, Ordering::SeqCst);
    }
    async fn on_tool_list_changed(&self, _: NotificationContext<RoleClient>) {
        self.list_changed.fetch_add(1, Ordering::SeqCst);
    }
}

pub async fn recording_client(
    url: &str,
) -> (
    rmcp::service::RunningService<RoleClient, Recorder>,
    Recorder,
) {
    let recorder = Recorder::default();
    let transport = rmcp::transport::StreamableHttpClientTransport::from_uri(url.to_owned());
    let client = recorder.clone().serve(transport).await.expect("handshake");
    (client, recorder)
}

/// Send a `tools/call` through rmcp's request API, which gives every request a progress
/// token; the handle awaits or cancels it.
pub async fn send_tool_call<H: ClientHandler>(
    client: &rmcp::service::RunningService<RoleClient, H>,
    tool: &str,
    arguments: serde_json::Value,
) -> rmcp::service::RequestHandle<RoleClient> {
    let params = CallToolRequestParams::new(tool.to_owned())
        .with_arguments(arguments.as_object().cloned().unwrap_or_default());
    client
        .peer()
        .send_request_with_option(
            ClientRequest::CallToolRequest(CallToolRequest::new(params)),
            PeerRequestOptions::no_options(),
        )
        .await
        .expect("send")
}

/// A `tools/call` with a progress token (see [`send_tool_call`]), and its response.
pub async fn call_with_progress_token(
    client: &rmcp::service::RunningService<RoleClient, Recorder>,
    tool: &str,
    arguments: serde_json::Value,
) -> rmcp::model::ServerResult {
    let handle = send_tool_call(client, tool, arguments).await;
    handle.await_response().await.expect("response")
}

pub fn list_changed_count(recorder: &Recorder) -> usize {
    recorder.list_changed.load(Ordering::SeqCst)
}

#[tokio::test]
async fn progress_notifications_are_relayed_to_the_caller() {
    let (_http, gateway) = two_backends().await;
    let (client, recorder) = recording_client(&gateway.mcp_url()).await;
    // rmcp's client attaches a progress token to every request it sends.
    let response = call_with_progress_token(&client, "beta__sleep", json!({"seconds": 0.5})).await;
    assert!(matches!(
        response,
        rmcp::model::ServerResult::CallToolResult(_)
    ));
    assert!(
        recorder.progress.load(Ordering::SeqCst) >= 2,
        "expected relayed progress notifications, got {}",
        recorder.progress.load(Ordering::SeqCst)
    );
}

#[tokio::test]
async fn cancelling_a_call_frees_the_caller_and_the_backend_keeps_serving() {
    let (_http, gateway) = two_backends().await;
    let client = rmcp_client(&gateway.mcp_url()).await;
    let handle = send_tool_call(&client, "beta__sleep", json!({"seconds": 30})).await;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    handle
        .cancel(Some("changed my mind".into()))
        .await
        .expect("cancel");
    let result = call(&client, "beta__echo", json!({"after": "cancel"}))
        .await
        .expect("echo");
    assert!(text_of(&result).contains("cancel"));
}

#[tokio::test]
async fn a_killed_stdio_backend_comes_back_and_others_keep_working() {
    let (_http, gateway) = two_backends().await;
    let client = rmcp_client(&gateway.mcp_url()).await;
    // `crash` makes the stdio process exit at once: the call fails with an error result.
    let crashed = call(&client, "beta__crash", json!({}))
        .await
        .expect("a result");
    assert_eq!(crashed.is_error, Some(true), "{crashed:?}");
    // The other backend is untouched.
    let result = call(&client, "alpha__echo", json!({"still": "here"}))
        .await
        .expect("echo");
    assert!(text_of(&result).contains("still"));
    // The gateway restarts the process and the tool serves again.
    gateway.wait_healthy(2).await;
    let result = call(&client, "beta__echo", json!({"back": true}))
        .await
        .expect("echo");
    assert_ne!(result.is_error, Some(true), "{result:?}");
    assert!(text_of(&result).contains("back"));
}

#[tokio::test]
async fn a_backend_down_at_start_does_not_stop_the_gateway_and_joins_later() {
    let port = free_port();
    let late_url = format!("http://127.0.0.1:{port}/mcp");
    let yaml = format!(
        "servers:\n{}{}",
        url_entry("late", "http", &late_url),
        stdio_mock_entry("beta", &[])
    );
    let gateway = TestGateway::start(&yaml).await;
    gateway.wait_healthy(1).await;
    let health = gateway.health().await;
    assert_eq!(health["status"], "ok");
    assert_eq!(health["servers"]["total"], 2);
    let client = rmcp_client(&gateway.mcp_url()).await;
    let result = call(&client, "beta__echo", json!({"x": 1}))
        .await
        .expect("echo");
    assert_ne!(result.is_error, Some(true));

    let listen = format!("127.0.0.1:{port}");
    let _late = MockServer::start("http", "late", &["--listen", &listen]);
    gateway.wait_healthy(2).await;
    gateway.wait_for_tool("late__echo", true).await;
    let result = call(&client, "late__echo", json!({"y": 2}))
        .await
        .expect("echo");
    assert!(text_of(&result).contains("\"y\""));
}

#[tokio::test]
async fn a_call_to_a_known_but_down_backend_says_so() {
    let mut http = MockServer::start("http", "alpha", &[]);
    let yaml = format!("servers:\n{}", url_entry("alpha", "http", http.url()));
    let gateway = TestGateway::start(&yaml).await;
    gateway.wait_healthy(1).await;
    let client = rmcp_client(&gateway.mcp_url()).await;
    http.kill();
    gateway.wait_healthy(0).await;
    let result = call(&client, "alpha__echo", json!({}))
        .await
        .expect("a result");
    assert_eq!(result.is_error, Some(true));
    assert!(
        text_of(&result).contains("backend unavailable"),
        "{}",
        text_of(&result)
    );
}
