//! The gateway's own `tools/call` client for streamable-HTTP backends
//! (`upstream/http_call.rs`): calls skip rmcp's client yet carry the session's headers;
//! backends answering with JSON or with an event stream both work; progress, tool errors and
//! deadlines behave as through rmcp's client (`upstream_clients.rs` holds the two to the same
//! results); and a session the backend forgot is re-opened by rmcp without the caller
//! noticing.
//!
//! The mock's `headers` tool shows what reached the backend, and under `:request-id` the
//! JSON-RPC id: the gateway's own client's ids are strings (`gw-…`), rmcp's are numbers.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use rmcp::model::ServerResult;
use serde_json::{Value, json};

use crate::common::*;
use crate::mcp::{call_with_progress_token, recording_client};

/// A gateway with one HTTP backend `alpha` at `url`, healthy.
async fn gateway_at(url: &str, extra: &str) -> TestGateway {
    let yaml = format!("servers:\n{}{extra}", url_entry("alpha", "http", url));
    // This client is what these tests are about, whatever the environment chooses.
    let gateway = TestGateway::start_with_env(&yaml, &[("GATEWAY_UPSTREAM_CLIENT", "auto")]).await;
    gateway.wait_healthy(1).await;
    gateway
}

async fn headers_seen(client: &McpClient) -> Value {
    let result = call(client, "alpha__headers", json!({}))
        .await
        .expect("headers call");
    serde_json::from_str(&text_of(&result)).expect("headers JSON")
}

fn sent_by_the_gateways_client(seen: &Value) -> bool {
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
async fn calls_to_a_session_backend_go_through_the_gateways_client_with_its_headers() {
    let mock = MockServer::start("http", "alpha", &[]);
    let gateway = gateway_at(mock.url(), "").await;
    let client = rmcp_client(&gateway.mcp_url()).await;

    let seen = headers_seen(&client).await;
    assert!(sent_by_the_gateways_client(&seen), "{seen}");
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
async fn a_stateless_backend_answering_with_json_is_called_by_the_gateways_client() {
    let mock = MockServer::start("http", "alpha", &["--stateless"]);
    let gateway = gateway_at(mock.url(), "").await;
    let client = rmcp_client(&gateway.mcp_url()).await;

    let seen = headers_seen(&client).await;
    assert!(sent_by_the_gateways_client(&seen), "{seen}");
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
    let gateway = gateway_at(mock.url(), "").await;
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

    // Refused with 404 to the gateway's client, the call goes through rmcp, which opens a new
    // session and sends it there.
    let second = headers_seen(&client).await;
    assert_ne!(second["mcp-session-id"], session.as_str(), "{second}");
    // Calls after that are direct again, in the new session.
    let third = headers_seen(&client).await;
    assert!(sent_by_the_gateways_client(&third), "{third}");
    assert_eq!(third["mcp-session-id"], second["mcp-session-id"]);
}

#[tokio::test]
async fn progress_from_an_http_backend_reaches_the_caller() {
    let mock = MockServer::start("http", "alpha", &[]);
    let gateway = gateway_at(mock.url(), "").await;
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
    let gateway = gateway_at(mock.url(), "    timeout: 0.5\n").await;
    let client = rmcp_client(&gateway.mcp_url()).await;
    let outcome = match call(&client, "alpha__sleep", json!({"seconds": 30})).await {
        Ok(result) => text_of(&result),
        Err(error) => error.to_string(),
    };
    assert!(outcome.contains("timeout after 0.5 s"), "{outcome}");
    let seen = headers_seen(&client).await;
    assert!(sent_by_the_gateways_client(&seen), "{seen}");
}

#[tokio::test]
async fn a_backend_that_redirects_is_followed_within_its_origin() {
    let mock = MockServer::start("http", "alpha", &["--redirect-from", "/old"]);
    let gateway = gateway_at(&mock.url().replace("/mcp", "/old"), "").await;
    let client = rmcp_client(&gateway.mcp_url()).await;
    // The first direct call meets the redirect and is sent again through the client that
    // follows it; later ones go there at once. Every call arrives, once.
    for _ in 0..3 {
        let seen = headers_seen(&client).await;
        assert!(sent_by_the_gateways_client(&seen), "{seen}");
        assert!(seen["mcp-session-id"].is_string(), "{seen}");
    }
    let echoed = call(&client, "alpha__echo", json!({"n": 1}))
        .await
        .expect("echo");
    let echoed: Value = serde_json::from_str(&text_of(&echoed)).expect("echo JSON");
    assert_eq!(echoed, json!({"n": 1}));
}

#[tokio::test]
async fn the_gateways_client_names_the_gateway_as_user_agent() {
    let mock = MockServer::start("http", "alpha", &[]);
    let gateway = gateway_at(mock.url(), "").await;
    let client = rmcp_client(&gateway.mcp_url()).await;
    let seen = headers_seen(&client).await;
    assert!(sent_by_the_gateways_client(&seen), "{seen}");
    assert!(
        seen["user-agent"]
            .as_str()
            .is_some_and(|agent| agent.starts_with("secure-mcp-gateway/")),
        "{seen}"
    );
}

/// Sequential calls share pooled backend connections: an answer read off its event stream
/// leaves the connection reusable (the stream's end is read too), so a hundred calls open
/// only a few connections, not one each. The proxy holds back the end of every chunked body
/// for a moment, as a busy backend's separate writes would.
#[tokio::test]
async fn calls_reuse_backend_connections() {
    let mock = MockServer::start("http", "alpha", &[]);
    let proxy = CountingProxy::start(mock.url(), Duration::from_millis(2)).await;
    let gateway = gateway_at(&proxy.url, "").await;
    let client = rmcp_client(&gateway.mcp_url()).await;
    call(&client, "alpha__echo", json!({"warm": true}))
        .await
        .expect("first call");
    let before = proxy.accepted();
    for n in 0..100 {
        let result = call(&client, "alpha__echo", json!({"n": n}))
            .await
            .expect("echo");
        let echoed: Value = serde_json::from_str(&text_of(&result)).expect("echo JSON");
        assert_eq!(echoed, json!({"n": n}));
    }
    let opened = proxy.accepted() - before;
    assert!(
        opened <= 5,
        "100 sequential calls opened {opened} new backend connections"
    );
}

/// The end of a chunked HTTP/1.1 body.
const LAST_CHUNK: &[u8] = b"\r\n0\r\n\r\n";

/// A TCP forwarder in front of a backend that counts the connections it accepts and passes
/// the end of each chunked body from the backend on only after `pause`.
struct CountingProxy {
    url: String,
    accepted: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl CountingProxy {
    async fn start(backend_url: &str, pause: Duration) -> CountingProxy {
        let backend: reqwest::Url = backend_url.parse().expect("backend URL");
        let backend_addr = format!(
            "{}:{}",
            backend.host_str().expect("host"),
            backend.port().expect("port")
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = std::sync::Arc::clone(&accepted);
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let backend_addr = backend_addr.clone();
                tokio::spawn(async move {
                    let Ok(outbound) = tokio::net::TcpStream::connect(&backend_addr).await else {
                        return;
                    };
                    let _ = inbound.set_nodelay(true);
                    let _ = outbound.set_nodelay(true);
                    let (mut from_client, mut to_client) = inbound.into_split();
                    let (mut from_backend, mut to_backend) = outbound.into_split();
                    let upstream = tokio::io::copy(&mut from_client, &mut to_backend);
                    let downstream = async {
                        let mut buffer = vec![0u8; 64 * 1024];
                        loop {
                            match from_backend.read(&mut buffer).await {
                                Ok(0) | Err(_) => break,
                                Ok(n) => {
                                    // The last chunk of a chunked body (`0` CRLF CRLF) goes
                                    // on its own, after a pause.
                                    let data = &buffer[..n];
                                    let split = if data.len() > LAST_CHUNK.len()
                                        && data.ends_with(LAST_CHUNK)
                                    {
                                        data.len() - LAST_CHUNK.len()
                                    } else {
                                        data.len()
                                    };
                                    let (before, end) = data.split_at(split);
                                    if to_client.write_all(before).await.is_err() {
                                        break;
                                    }
                                    if !end.is_empty() {
                                        tokio::time::sleep(pause).await;
                                        if to_client.write_all(end).await.is_err() {
                                            break;
                                        }
                                    }
                                }
                            }
                        }
                        let _ = to_client.shutdown().await;
                    };
                    let _ = tokio::join!(upstream, downstream);
                });
            }
        });
        CountingProxy {
            url: format!("http://127.0.0.1:{port}{}", backend.path()),
            accepted,
            task,
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
