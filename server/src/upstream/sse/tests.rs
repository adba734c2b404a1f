//! The SSE client transport against the legacy SSE server of `http::legacy_sse` (and a few
//! hand-written hostile servers), through real sockets on 127.0.0.1 with rmcp's client.

use std::sync::Arc;

use axum::{
    Router,
    body::Body,
    http::{StatusCode, header},
    response::Response,
    routing::get,
};
use http::{HeaderMap, HeaderValue};
use rmcp::{
    ClientHandler, RoleClient, ServiceExt,
    model::{CallToolRequestParams, CallToolResult},
    service::{NotificationContext, RunningService},
};
use serde_json::{Value, json};
use tokio::sync::Notify;

use super::*;
use crate::http::legacy_sse::{LegacySseConfig, test_support::*};

const TIMEOUT: Duration = Duration::from_secs(10);

fn target(url: String) -> SseTarget {
    SseTarget {
        url,
        headers: HeaderMap::new(),
        query: Vec::new(),
    }
}

/// A client that signals each `tools/list_changed` it receives.
#[derive(Clone, Default)]
struct ListChangedClient {
    seen: Arc<Notify>,
}

impl ClientHandler for ListChangedClient {
    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.seen.notify_one();
    }
}

fn text_of(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|item| item.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

async fn call(
    client: &RunningService<RoleClient, impl rmcp::Service<RoleClient>>,
    name: &'static str,
    arguments: Value,
) -> CallToolResult {
    let arguments = arguments.as_object().cloned().unwrap_or_default();
    client
        .call_tool(CallToolRequestParams::new(name).with_arguments(arguments))
        .await
        .expect("tools/call")
}

#[tokio::test]
async fn initialize_list_and_call_through_our_server() {
    let server = spawn_probe(LegacySseConfig::default(), |r| r).await;
    let transport = connect(reqwest::Client::new(), target(server.sse_url()), TIMEOUT)
        .await
        .expect("connect");
    let client = ().serve(transport).await.expect("initialize");

    let info = client.peer_info().expect("server info");
    assert_eq!(
        info.server_info.as_ref().map(|i| i.name.as_str()),
        Some("probe")
    );

    let tools = client.list_all_tools().await.expect("tools/list");
    let names: Vec<_> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(names, ["echo", "request_info", "notify"]);

    let echoed = call(&client, "echo", json!({"q": "x", "n": 2})).await;
    assert_eq!(text_of(&echoed), r#"{"n":2,"q":"x"}"#);

    // Several calls in flight at once, each answered on the one stream.
    let calls = (0..8).map(|i| call(&client, "echo", json!({ "i": i })));
    let results = futures::future::join_all(calls).await;
    for (i, result) in results.iter().enumerate() {
        assert_eq!(text_of(result), format!(r#"{{"i":{i}}}"#));
    }
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn server_notifications_reach_the_client() {
    let server = spawn_probe(LegacySseConfig::default(), |r| r).await;
    let transport = connect(reqwest::Client::new(), target(server.sse_url()), TIMEOUT)
        .await
        .expect("connect");
    let handler = ListChangedClient::default();
    let seen = Arc::clone(&handler.seen);
    let client = handler.serve(transport).await.expect("initialize");
    let result = call(&client, "notify", json!({})).await;
    assert_eq!(text_of(&result), "notified");
    tokio::time::timeout(HANG_GUARD, seen.notified())
        .await
        .expect("tools/list_changed arrives");
}

#[tokio::test]
async fn headers_and_query_go_on_the_get_and_every_post_and_parts_reach_the_handler() {
    let server = spawn_probe(LegacySseConfig::default(), |r| r).await;
    let mut headers = HeaderMap::new();
    headers.insert(PROBE_HEADER, HeaderValue::from_static("secret-header"));
    let target = SseTarget {
        url: server.sse_url(),
        headers,
        query: vec![("api_key".to_owned(), "secret query&=".to_owned())],
    };
    let transport = connect(reqwest::Client::new(), target, TIMEOUT)
        .await
        .expect("connect");
    let client = ().serve(transport).await.expect("initialize");

    let info: Value =
        serde_json::from_str(&text_of(&call(&client, "request_info", json!({})).await))
            .expect("JSON report");
    assert_eq!(info["get_header"], "secret-header");
    assert_eq!(info["post_header"], "secret-header");
    assert_eq!(info["get_query"], "api_key=secret+query%26%3D");
    assert_eq!(info["post_path"], "/messages");
    let post_query = info["post_query"].as_str().unwrap_or_default();
    assert!(post_query.starts_with("sessionId="), "{post_query}");
    assert!(
        post_query.ends_with("&api_key=secret+query%26%3D"),
        "{post_query}"
    );
}

#[tokio::test]
async fn server_shutdown_ends_the_client_transport() {
    let server = spawn_probe(LegacySseConfig::default(), |r| r).await;
    let transport = connect(reqwest::Client::new(), target(server.sse_url()), TIMEOUT)
        .await
        .expect("connect");
    let client = ().serve(transport).await.expect("initialize");
    assert_eq!(text_of(&call(&client, "echo", json!({})).await), "{}");

    server.cancellation.cancel();
    let ended = tokio::time::timeout(HANG_GUARD, client.waiting()).await;
    assert!(ended.is_ok(), "the client service ends with the stream");
}

#[tokio::test]
async fn closing_the_client_ends_the_server_session() {
    let server = spawn_probe(
        LegacySseConfig {
            keep_alive: Duration::from_millis(20),
            ..LegacySseConfig::default()
        },
        |r| r,
    )
    .await;
    let transport = connect(reqwest::Client::new(), target(server.sse_url()), TIMEOUT)
        .await
        .expect("connect");
    let client = ().serve(transport).await.expect("initialize");
    server.live.wait_for(1).await;
    client.cancel().await.expect("close");
    server.live.wait_for(0).await;
}

/// Serves one canned answer to `GET /sse`.
async fn canned(status: StatusCode, content_type: &'static str, body: String) -> String {
    let app = Router::new().route(
        "/sse",
        get(move || {
            let body = body.clone();
            async move {
                Response::builder()
                    .status(status)
                    .header(header::CONTENT_TYPE, content_type)
                    .body(Body::from(body))
                    .unwrap_or_default()
            }
        }),
    );
    format!("{}/sse", serve(app).await)
}

fn endpoint_event(data: &str) -> String {
    format!(": hello\n\nevent: endpoint\ndata: {data}\n\n")
}

/// A target whose credentials must never appear in an error.
fn secret_target(url: String) -> SseTarget {
    let mut headers = HeaderMap::new();
    headers.insert("x-api-key", HeaderValue::from_static("hunter2"));
    SseTarget {
        url,
        headers,
        query: vec![("token".to_owned(), "hunter2".to_owned())],
    }
}

async fn connect_error(url: String) -> SseError {
    let error = connect(reqwest::Client::new(), secret_target(url), TIMEOUT)
        .await
        .expect_err("connect must fail");
    let text = error.to_string();
    assert!(!text.contains("hunter2"), "{text}");
    assert!(!text.contains("127.0.0.1"), "{text}");
    assert!(!format!("{error:?}").contains("hunter2"));
    error
}

#[tokio::test]
async fn an_endpoint_on_another_origin_is_refused() {
    let other = serve(Router::new()).await;
    for endpoint in [
        format!("{other}/messages?sessionId=1"),
        "//evil.example/messages".to_owned(),
        "https://127.0.0.1/messages".to_owned(),
    ] {
        let url = canned(
            StatusCode::OK,
            "text/event-stream",
            endpoint_event(&endpoint),
        )
        .await;
        let error = connect_error(url).await;
        assert_eq!(error, SseError::EndpointOtherOrigin, "{endpoint}");
        assert_eq!(error.to_string(), "endpoint on another origin");
    }
}

#[tokio::test]
async fn connect_failures_are_categories() {
    let unauthorized = canned(StatusCode::UNAUTHORIZED, "text/plain", "no".to_owned()).await;
    let error = connect_error(unauthorized).await;
    assert_eq!(error, SseError::HttpStatus(401));
    assert_eq!(error.to_string(), "http status 401");

    let json = canned(StatusCode::OK, "application/json", "{}".to_owned()).await;
    assert_eq!(connect_error(json).await, SseError::NotEventStream);

    let silent = canned(
        StatusCode::OK,
        "text/event-stream; charset=utf-8",
        "event: message\ndata: {}\n\n".to_owned(),
    )
    .await;
    let error = connect_error(silent).await;
    assert_eq!(error, SseError::NoEndpoint);
    assert_eq!(error.to_string(), "no endpoint event");

    // A port nobody listens on: bind one, then let it go.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    drop(listener);
    let error = connect_error(format!("http://{address}/sse")).await;
    assert_eq!(error, SseError::ConnectFailed);
    assert_eq!(error.to_string(), "connect failed");

    assert_eq!(
        connect_error("ftp://127.0.0.1/sse".to_owned()).await,
        SseError::InvalidUrl
    );
}

#[tokio::test]
async fn a_redirect_to_another_origin_is_not_followed() {
    // The other origin would serve a working stream: only the origin check stops it.
    let location = canned(StatusCode::OK, "text/event-stream", endpoint_event("/m")).await;
    let app = Router::new().route(
        "/sse",
        get(move || {
            let location = location.clone();
            async move {
                Response::builder()
                    .status(StatusCode::FOUND)
                    .header(header::LOCATION, location)
                    .body(Body::empty())
                    .unwrap_or_default()
            }
        }),
    );
    let url = format!("{}/sse", serve(app).await);
    let client = reqwest::Client::builder()
        .redirect(same_origin_redirects())
        .build()
        .expect("client");
    let error = connect(client, secret_target(url.clone()), TIMEOUT)
        .await
        .expect_err("refused");
    assert_eq!(error, SseError::HttpStatus(302));

    // With reqwest's default policy the redirect is followed, and then refused.
    let error = connect(reqwest::Client::new(), secret_target(url), TIMEOUT)
        .await
        .expect_err("refused");
    assert_eq!(error, SseError::RedirectedToOtherOrigin);
}

#[tokio::test]
async fn bad_messages_are_skipped_and_the_end_of_the_stream_ends_the_transport() {
    let body = format!(
        "{}event: message\ndata: not json\n\nevent: other\ndata: {{}}\n\n\
         event: message\ndata: {{\"jsonrpc\":\"2.0\",\r\ndata: \"method\":\"notifications/tools/list_changed\"}}\r\n\r\n",
        endpoint_event("/messages?sessionId=1")
    );
    let url = canned(StatusCode::OK, "text/event-stream", body).await;
    let mut transport = connect(reqwest::Client::new(), target(url), TIMEOUT)
        .await
        .expect("connect");
    let message = Transport::<RoleClient>::receive(&mut transport).await;
    assert!(
        matches!(message, Some(ServerJsonRpcMessage::Notification(_))),
        "{message:?}"
    );
    assert!(
        Transport::<RoleClient>::receive(&mut transport)
            .await
            .is_none()
    );
    assert!(
        Transport::<RoleClient>::receive(&mut transport)
            .await
            .is_none()
    );
    let message: ClientJsonRpcMessage =
        serde_json::from_str(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
            .expect("valid notification");
    assert_eq!(
        Transport::<RoleClient>::send(&mut transport, message).await,
        Err(SseError::StreamClosed)
    );
}

#[test]
fn endpoints_resolve_against_the_sse_url() {
    let sse = Url::parse("http://backend.test:8080/mcp/sse?token=t").expect("url");
    let query = vec![("token".to_owned(), "t".to_owned())];
    let resolve = |data: &str| resolve_endpoint(&sse, data, &query).map(|u| u.to_string());

    assert_eq!(
        resolve("/messages?sessionId=abc"),
        Ok("http://backend.test:8080/messages?sessionId=abc&token=t".to_owned())
    );
    assert_eq!(
        resolve("messages?session_id=abc"),
        Ok("http://backend.test:8080/mcp/messages?session_id=abc&token=t".to_owned())
    );
    assert_eq!(
        resolve(" http://backend.test:8080/m \n"),
        Ok("http://backend.test:8080/m?token=t".to_owned())
    );
    assert_eq!(
        resolve("http://backend.test:8081/m"),
        Err(SseError::EndpointOtherOrigin)
    );
    assert_eq!(
        resolve("https://backend.test:8080/m"),
        Err(SseError::EndpointOtherOrigin)
    );
    assert_eq!(
        resolve("http://other.test:8080/m"),
        Err(SseError::EndpointOtherOrigin)
    );
    assert_eq!(
        resolve("//other.test:8080/m"),
        Err(SseError::EndpointOtherOrigin)
    );
    assert_eq!(
        resolve("data:text/plain,x"),
        Err(SseError::EndpointOtherOrigin)
    );

    // The default port is the same origin whether written or not.
    let plain = Url::parse("https://backend.test/sse").expect("url");
    assert_eq!(
        resolve_endpoint(&plain, "https://backend.test:443/m", &[]).map(|u| u.to_string()),
        Ok("https://backend.test/m".to_owned())
    );
}

#[test]
fn only_http_urls_are_accepted() {
    assert!(parse_http_url("http://a/sse").is_some());
    assert!(parse_http_url(" https://a/sse ").is_some());
    assert!(parse_http_url("ftp://a/sse").is_none());
    assert!(parse_http_url("not a url").is_none());
    assert!(parse_http_url("/relative").is_none());
}

#[test]
fn event_stream_content_types() {
    let check = |value: &'static str| is_event_stream(Some(&HeaderValue::from_static(value)));
    assert!(check("text/event-stream"));
    assert!(check("Text/Event-Stream; charset=utf-8"));
    assert!(!check("application/json"));
    assert!(!check("text/event-streams"));
    assert!(!is_event_stream(None));
}

#[test]
fn target_debug_hides_values() {
    let target = secret_target("https://user:pw@backend.test:8443/sse?key=hunter2".to_owned());
    let shown = format!("{target:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(!shown.contains("pw"), "{shown}");
    assert!(shown.contains("https://backend.test:8443"), "{shown}");
    assert!(shown.contains("x-api-key"), "{shown}");
    assert!(shown.contains("token"), "{shown}");
}

#[test]
fn every_error_text_is_a_bare_category() {
    let all = [
        SseError::InvalidUrl,
        SseError::ConnectFailed,
        SseError::ConnectTimeout,
        SseError::HttpStatus(503),
        SseError::RedirectedToOtherOrigin,
        SseError::NotEventStream,
        SseError::NoEndpoint,
        SseError::InvalidEndpoint,
        SseError::EndpointOtherOrigin,
        SseError::StreamClosed,
        SseError::StreamError,
        SseError::EventTooLarge,
        SseError::RequestFailed,
        SseError::RequestTimeout,
        SseError::InvalidMessage,
    ];
    for error in all {
        let text = error.to_string();
        assert!(
            text.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == ' '),
            "{text}"
        );
    }
}
