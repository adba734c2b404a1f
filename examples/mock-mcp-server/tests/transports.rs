//! The built `mock-mcp-server` binary in each transport, driven by real clients: rmcp's
//! streamable HTTP and child-process clients, the gateway's SSE client, and plain HTTP where
//! the wire answer itself is under test.

use std::{collections::HashMap, process::Stdio, sync::Arc, time::Duration};

use http::{HeaderMap, HeaderName, HeaderValue};
use mcp_gateway::upstream::sse::{self, SseError, SseTarget};
use rmcp::{
    ClientHandler, RoleClient, ServiceExt,
    model::{CallToolRequestParams, CallToolResult, ProgressNotificationParam},
    service::{NotificationContext, RunningService},
    transport::{
        StreamableHttpClientTransport, TokioChildProcess,
        streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    process::{Child, Command},
};

const BINARY: &str = env!("CARGO_BIN_EXE_mock-mcp-server");
/// Only keeps a broken build from hanging the run; nothing here should take long.
const HANG_GUARD: Duration = Duration::from_secs(30);

/// A running mock and the URLs it announced.
struct Mock {
    child: Child,
    urls: Vec<String>,
}

async fn spawn_mock(args: &[&str], listeners: usize) -> Mock {
    let mut child = Command::new(BINARY)
        .arg("--test-tools")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn mock-mcp-server");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut urls = Vec::new();
    while urls.len() < listeners {
        let line = tokio::time::timeout(HANG_GUARD, lines.next_line())
            .await
            .expect("the mock announces itself")
            .expect("readable stdout")
            .expect("a LISTENING line");
        let url = line
            .strip_prefix("LISTENING ")
            .unwrap_or_else(|| panic!("unexpected line {line:?}"));
        urls.push(url.to_owned());
    }
    Mock { child, urls }
}

fn arguments(value: Value) -> serde_json::Map<String, Value> {
    value.as_object().cloned().unwrap_or_default()
}

async fn call<S: rmcp::Service<RoleClient>>(
    client: &RunningService<RoleClient, S>,
    name: &'static str,
    args: Value,
) -> CallToolResult {
    client
        .call_tool(CallToolRequestParams::new(name).with_arguments(arguments(args)))
        .await
        .expect("tools/call")
}

fn text_of(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The checks every transport must pass.
async fn exercise<S: rmcp::Service<RoleClient>>(
    client: &RunningService<RoleClient, S>,
    name: &str,
) {
    let info = client.peer_info().expect("server info");
    assert_eq!(
        info.server_info.as_ref().map(|i| i.name.as_str()),
        Some(name)
    );
    let tools = client.list_all_tools().await.expect("tools/list");
    let names: Vec<_> = tools.iter().map(|t| t.name.to_string()).collect();
    assert_eq!(
        names,
        [
            "search_logs",
            "check_health",
            "query",
            "echo",
            "sleep",
            "fail",
            "crash",
            "get_env",
            "headers",
            "sleeps"
        ]
    );

    let echoed = call(client, "echo", json!({"b": [1, 2], "a": "x"})).await;
    assert_eq!(text_of(&echoed), r#"{"a":"x","b":[1,2]}"#);
    assert_ne!(echoed.is_error, Some(true));

    let failed = call(client, "fail", json!({"message": "boom"})).await;
    assert_eq!(failed.is_error, Some(true));
    assert_eq!(text_of(&failed), "boom");

    let health = call(client, "check_health", json!({})).await;
    assert_eq!(
        health.structured_content,
        Some(json!({"server": name, "status": "ok"}))
    );

    let hits = call(client, "search_logs", json!({"query": "timeout"})).await;
    assert!(
        text_of(&hits).starts_with(&format!("[{name}] search_logs query=timeout: 3 hits")),
        "{}",
        text_of(&hits)
    );

    let unknown = client
        .call_tool(CallToolRequestParams::new("nope"))
        .await
        .expect_err("unknown tool");
    assert!(
        unknown.to_string().contains("Unknown tool: nope"),
        "{unknown}"
    );
}

#[tokio::test]
async fn http_session_mode() {
    let mock = spawn_mock(&["--name", "h1", "--tags", "logging,prod"], 1).await;
    assert!(
        mock.urls[0].starts_with("http://127.0.0.1:"),
        "{}",
        mock.urls[0]
    );
    assert!(mock.urls[0].ends_with("/mcp"), "{}", mock.urls[0]);
    let transport = StreamableHttpClientTransport::from_uri(mock.urls[0].clone());
    let client = ().serve(transport).await.expect("initialize");
    let instructions = client
        .peer_info()
        .and_then(|info| info.instructions.clone())
        .unwrap_or_default();
    assert!(instructions.contains("logging, prod"), "{instructions}");
    exercise(&client, "h1").await;
}

#[tokio::test]
async fn stdio() {
    let mut command = Command::new(BINARY);
    command
        .args(["--transport", "stdio", "--name", "s1", "--test-tools"])
        .env("MOCK_TEST_VARIABLE", "xyz");
    let transport = TokioChildProcess::new(command).expect("spawn");
    let client = ().serve(transport).await.expect("initialize");
    exercise(&client, "s1").await;
    let value = call(&client, "get_env", json!({"name": "MOCK_TEST_VARIABLE"})).await;
    assert_eq!(text_of(&value), "xyz");
    let unset = call(
        &client,
        "get_env",
        json!({"name": "MOCK_TEST_UNSET_VARIABLE"}),
    )
    .await;
    assert_eq!(text_of(&unset), "<unset>");
    // Not an HTTP transport: no headers, only the call's JSON-RPC id and `_meta`.
    let seen: Value = serde_json::from_str(&text_of(&call(&client, "headers", json!({})).await))
        .expect("JSON headers");
    let seen = seen.as_object().expect("an object");
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen[":request-id"].is_number(), "{seen:?}");
    assert!(seen[":meta"].is_object(), "{seen:?}");
}

/// Writes JSON-RPC lines to a stdio mock and gives its exit code.
async fn stdio_session(lines: &[&str]) -> Option<i32> {
    let mut child = Command::new(BINARY)
        .args(["--transport", "stdio", "--test-tools"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("piped stdin");
    for line in lines {
        stdin.write_all(line.as_bytes()).await.expect("write");
        stdin.write_all(b"\n").await.expect("write");
    }
    stdin.flush().await.expect("flush");
    let status = tokio::time::timeout(HANG_GUARD, async {
        // Keep stdin open while the mock works, so that only the tool can end it.
        let status = child.wait().await;
        drop(stdin);
        status
    })
    .await
    .expect("the mock exits")
    .expect("exit status");
    status.code()
}

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}"#;
const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;

#[tokio::test]
async fn stdio_crash_exits_with_code_3() {
    let crash = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"crash","arguments":{}}}"#;
    assert_eq!(
        stdio_session(&[INITIALIZE, INITIALIZED, crash]).await,
        Some(3)
    );
}

#[tokio::test]
async fn stdio_exits_when_stdin_closes() {
    let mut child = Command::new(BINARY)
        .args(["--transport", "stdio", "--test-tools"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn");
    let mut stdin = child.stdin.take().expect("piped stdin");
    stdin.write_all(INITIALIZE.as_bytes()).await.expect("write");
    stdin.write_all(b"\n").await.expect("write");
    drop(stdin);
    let status = tokio::time::timeout(HANG_GUARD, child.wait())
        .await
        .expect("the mock exits")
        .expect("exit status");
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn sse_transport_with_headers_tool() {
    let mock = spawn_mock(&["--transport", "sse", "--name", "e1"], 1).await;
    assert!(mock.urls[0].ends_with("/sse"), "{}", mock.urls[0]);
    let mut headers = HeaderMap::new();
    headers.insert("x-user-id", HeaderValue::from_static("bob"));
    let target = SseTarget {
        url: mock.urls[0].clone(),
        headers,
        query: Vec::new(),
    };
    let transport = sse::connect(reqwest::Client::new(), target, HANG_GUARD)
        .await
        .expect("connect");
    let client = ().serve(transport).await.expect("initialize");
    exercise(&client, "e1").await;
    let seen: Value = serde_json::from_str(&text_of(&call(&client, "headers", json!({})).await))
        .expect("JSON headers");
    assert_eq!(seen["x-user-id"], "bob");
    assert_eq!(seen["content-type"], "application/json");
}

#[tokio::test]
async fn http_headers_tool_reports_the_request() {
    let mock = spawn_mock(&["--name", "h2"], 1).await;
    let mut custom = HashMap::new();
    custom.insert(
        HeaderName::from_static("x-request-id"),
        HeaderValue::from_static("req-42"),
    );
    let config =
        StreamableHttpClientTransportConfig::with_uri(mock.urls[0].clone()).custom_headers(custom);
    let transport = StreamableHttpClientTransport::with_client(reqwest::Client::new(), config);
    let client = ().serve(transport).await.expect("initialize");
    let seen: Value = serde_json::from_str(&text_of(&call(&client, "headers", json!({})).await))
        .expect("JSON headers");
    assert_eq!(seen["x-request-id"], "req-42");
}

const REQUIRE: [&str; 4] = [
    "--require-header",
    "X-Api-Key: k1",
    "--require-query",
    "token=t 1",
];

#[tokio::test]
async fn http_requirements_refuse_with_401() {
    let mut args = vec!["--name", "r1"];
    args.extend(REQUIRE);
    let mock = spawn_mock(&args, 1).await;
    let url = &mock.urls[0];
    let post = |url: String, key: Option<&'static str>| async move {
        let mut request = reqwest::Client::new()
            .post(url)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .body(INITIALIZE);
        if let Some(key) = key {
            request = request.header("x-api-key", key);
        }
        request.send().await.expect("POST").status().as_u16()
    };
    assert_eq!(post(url.clone(), None).await, 401);
    assert_eq!(post(format!("{url}?token=t+1"), None).await, 401);
    assert_eq!(post(url.clone(), Some("k1")).await, 401);
    assert_eq!(post(format!("{url}?token=t+1"), Some("k2")).await, 401);
    assert_eq!(post(format!("{url}?token=t%201"), Some("k1")).await, 200);

    let mut custom = HashMap::new();
    custom.insert(
        HeaderName::from_static("x-api-key"),
        HeaderValue::from_static("k1"),
    );
    let config = StreamableHttpClientTransportConfig::with_uri(format!("{url}?token=t+1"))
        .custom_headers(custom);
    let transport = StreamableHttpClientTransport::with_client(reqwest::Client::new(), config);
    let client = ().serve(transport).await.expect("initialize");
    assert_eq!(text_of(&call(&client, "echo", json!({})).await), "{}");
}

#[tokio::test]
async fn sse_requirements_hold_on_the_get_and_every_post() {
    let mut args = vec!["--transport", "sse", "--name", "r2"];
    args.extend(REQUIRE);
    let mock = spawn_mock(&args, 1).await;
    let bare = SseTarget {
        url: mock.urls[0].clone(),
        headers: HeaderMap::new(),
        query: Vec::new(),
    };
    let refused = sse::connect(reqwest::Client::new(), bare.clone(), HANG_GUARD)
        .await
        .expect_err("no credentials");
    assert_eq!(refused, SseError::HttpStatus(401));

    let mut headers = HeaderMap::new();
    headers.insert("x-api-key", HeaderValue::from_static("k1"));
    let target = SseTarget {
        headers,
        query: vec![("token".to_owned(), "t 1".to_owned())],
        ..bare
    };
    let transport = sse::connect(reqwest::Client::new(), target, HANG_GUARD)
        .await
        .expect("connect");
    let client = ().serve(transport).await.expect("initialize");
    assert_eq!(
        text_of(&call(&client, "echo", json!({"k": 1})).await),
        r#"{"k":1}"#
    );
}

#[tokio::test]
async fn stateless_answers_plain_json() {
    let mock = spawn_mock(&["--name", "st", "--stateless"], 1).await;
    let response = reqwest::Client::new()
        .post(&mock.urls[0])
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"z":true}}}"#)
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.headers().get("mcp-session-id").is_none());
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let body: Value = response.json().await.expect("JSON body");
    assert_eq!(body["id"], 7);
    assert_eq!(body["result"]["content"][0]["text"], r#"{"z":true}"#);
}

#[tokio::test]
async fn count_runs_independent_named_servers() {
    let mock = spawn_mock(&["--name", "multi", "--count", "3"], 3).await;
    let mut ports: Vec<_> = mock
        .urls
        .iter()
        .map(|url| url.split(':').nth(2).unwrap_or_default().to_owned())
        .collect();
    ports.dedup();
    assert_eq!(ports.len(), 3, "{:?}", mock.urls);
    for (index, url) in mock.urls.iter().enumerate() {
        let client =
            ().serve(StreamableHttpClientTransport::from_uri(url.clone()))
                .await
                .expect("initialize");
        let health = call(&client, "check_health", json!({})).await;
        assert_eq!(
            health.structured_content,
            Some(json!({"server": format!("multi-{index}"), "status": "ok"}))
        );
    }
}

#[tokio::test]
async fn tools_flag_narrows_the_list() {
    let mock = spawn_mock(&["--tools", "echo,fail"], 1).await;
    let client = ()
        .serve(StreamableHttpClientTransport::from_uri(
            mock.urls[0].clone(),
        ))
        .await
        .expect("initialize");
    let tools = client.list_all_tools().await.expect("tools/list");
    let names: Vec<_> = tools.iter().map(|t| t.name.to_string()).collect();
    assert_eq!(names, ["echo", "fail"]);
    let refused = client
        .call_tool(CallToolRequestParams::new("sleep"))
        .await
        .expect_err("not offered");
    assert!(
        refused.to_string().contains("Unknown tool: sleep"),
        "{refused}"
    );
}

/// Counts the progress notifications it receives.
#[derive(Clone, Default)]
struct ProgressCounter {
    seen: Arc<std::sync::atomic::AtomicUsize>,
}

impl ClientHandler for ProgressCounter {
    async fn on_progress(
        &self,
        _params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[tokio::test]
async fn sleep_reports_progress() {
    let mock = spawn_mock(&["--name", "p1"], 1).await;
    let handler = ProgressCounter::default();
    let seen = Arc::clone(&handler.seen);
    let client = handler
        .serve(StreamableHttpClientTransport::from_uri(
            mock.urls[0].clone(),
        ))
        .await
        .expect("initialize");
    // rmcp's client puts a progress token on every request.
    let slept = call(&client, "sleep", json!({"seconds": 1})).await;
    assert_eq!(text_of(&slept), "slept 1 s");
    assert!(seen.load(std::sync::atomic::Ordering::SeqCst) >= 1);

    let refused = call(&client, "sleep", json!({"seconds": -1})).await;
    assert_eq!(refused.is_error, Some(true));
}

#[tokio::test]
async fn bad_flags_exit_with_code_2_and_say_why() {
    let output = Command::new(BINARY)
        .args(["--tools", "nope", "--require-header", "bad"])
        .output()
        .await
        .expect("run");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown tool \"nope\""), "{stderr}");
    assert!(stderr.contains("--require-header"), "{stderr}");
    assert!(output.stdout.is_empty());
}

#[cfg(unix)]
#[tokio::test]
async fn sigterm_shuts_down_cleanly() {
    let mut mock = spawn_mock(&["--transport", "sse"], 1).await;
    // An open session must not keep the process alive.
    let target = SseTarget {
        url: mock.urls[0].clone(),
        headers: HeaderMap::new(),
        query: Vec::new(),
    };
    let transport = sse::connect(reqwest::Client::new(), target, HANG_GUARD)
        .await
        .expect("connect");
    let client = ().serve(transport).await.expect("initialize");
    let pid = mock.child.id().expect("running");
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = tokio::time::timeout(HANG_GUARD, mock.child.wait())
        .await
        .expect("the mock exits")
        .expect("exit status");
    assert!(status.success(), "{status}");
    let ended = tokio::time::timeout(HANG_GUARD, client.waiting()).await;
    assert!(ended.is_ok(), "the client sees the stream end");
}
