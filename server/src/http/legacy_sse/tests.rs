//! Wire-level tests of the legacy SSE server through real sockets: the bytes of the endpoint
//! event, the answers to bad POSTs, session ownership, body limits, keep-alives and the end
//! of sessions. The rmcp client talking to this server is tested in `upstream::sse`.

use std::sync::Arc;

use axum::{Router, extract::DefaultBodyLimit};
use http::StatusCode;
use serde_json::Value;

use super::{LegacySseConfig, test_support::*};
use crate::event_stream::{SseEvent, SseParser};

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"wire-test","version":"0"}}}"#;
const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;

/// An event stream read by hand.
struct RawStream {
    response: reqwest::Response,
    parser: SseParser,
}

impl RawStream {
    async fn open(url: &str, headers: &[(&str, &str)]) -> (String, RawStream) {
        let mut request = reqwest::Client::new()
            .get(url)
            .header("accept", "text/event-stream");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("GET /sse");
        assert_eq!(response.status(), StatusCode::OK);
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        let mut stream = RawStream {
            response,
            parser: SseParser::new(1 << 20),
        };
        let first = stream.next_event().await.expect("an endpoint event");
        assert_eq!(first.event, "endpoint");
        (first.data, stream)
    }

    async fn next_event(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(event) = self.parser.next_event() {
                return Some(event);
            }
            let chunk = tokio::time::timeout(HANG_GUARD, self.response.chunk())
                .await
                .expect("the stream answers")
                .ok()??;
            self.parser.push(&chunk).expect("small events");
        }
    }

    /// The next `message` event as JSON, skipping nothing else.
    async fn next_message(&mut self) -> Value {
        let event = self.next_event().await.expect("a message event");
        assert_eq!(event.event, "message");
        serde_json::from_str(&event.data).expect("JSON data")
    }
}

async fn post(
    base: &str,
    endpoint: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(format!("{base}{endpoint}"))
        .header("content-type", "application/json")
        .body(body.to_owned());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.expect("POST")
}

fn session_id_of(endpoint: &str) -> &str {
    endpoint
        .split_once("sessionId=")
        .map(|(_, id)| id)
        .unwrap_or_default()
}

#[tokio::test]
async fn endpoint_event_names_the_messages_path_and_a_128_bit_session() {
    let server = spawn_probe(LegacySseConfig::default(), |r| r).await;
    let (endpoint, _stream) = RawStream::open(&server.sse_url(), &[]).await;
    assert!(endpoint.starts_with("/messages?sessionId="), "{endpoint}");
    let id = session_id_of(&endpoint);
    assert_eq!(id.len(), 32);
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()));

    let (other, _stream2) = RawStream::open(&server.sse_url(), &[]).await;
    assert_ne!(session_id_of(&other), id);
}

#[tokio::test]
async fn a_session_answers_on_its_stream() {
    let server = spawn_probe(LegacySseConfig::default(), |r| r).await;
    let (endpoint, mut stream) = RawStream::open(&server.sse_url(), &[]).await;

    let accepted = post(&server.base, &endpoint, INITIALIZE, &[]).await;
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    let answer = stream.next_message().await;
    assert_eq!(answer["id"], 1);
    assert_eq!(answer["result"]["serverInfo"]["name"], "probe");
    assert_eq!(answer["result"]["protocolVersion"], "2024-11-05");

    let accepted = post(&server.base, &endpoint, INITIALIZED, &[]).await;
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    let call = r#"{"jsonrpc":"2.0","id":"c1","method":"tools/call","params":{"name":"echo","arguments":{"x":1}}}"#;
    assert_eq!(
        post(&server.base, &endpoint, call, &[]).await.status(),
        StatusCode::ACCEPTED
    );
    let answer = stream.next_message().await;
    assert_eq!(answer["id"], "c1");
    assert_eq!(answer["result"]["content"][0]["text"], r#"{"x":1}"#);
}

#[tokio::test]
async fn unknown_or_missing_session_is_refused() {
    let server = spawn_probe(LegacySseConfig::default(), |r| r).await;
    let unknown = post(
        &server.base,
        "/messages?sessionId=00000000000000000000000000000000",
        INITIALIZE,
        &[],
    )
    .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let missing = post(&server.base, "/messages", INITIALIZE, &[]).await;
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn bad_json_is_a_400_with_a_json_rpc_error() {
    let server = spawn_probe(LegacySseConfig::default(), |r| r).await;
    let (endpoint, _stream) = RawStream::open(&server.sse_url(), &[]).await;

    let not_json = post(&server.base, &endpoint, "{not json", &[]).await;
    assert_eq!(not_json.status(), StatusCode::BAD_REQUEST);
    let body: Value = not_json.json().await.expect("a JSON-RPC error body");
    assert_eq!(body["jsonrpc"], "2.0");
    assert_eq!(body["id"], Value::Null);
    assert_eq!(body["error"]["code"], -32700);

    let not_a_message = post(&server.base, &endpoint, r#"{"hello":"world"}"#, &[]).await;
    assert_eq!(not_a_message.status(), StatusCode::BAD_REQUEST);
    let body: Value = not_a_message.json().await.expect("a JSON-RPC error body");
    assert_eq!(body["error"]["code"], -32600);
}

#[tokio::test]
async fn a_session_belongs_to_the_owner_of_its_get() {
    let config = LegacySseConfig {
        owner_key: Some(Arc::new(|parts: &http::request::Parts| {
            parts
                .headers
                .get("x-owner")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })),
        ..LegacySseConfig::default()
    };
    let server = spawn_probe(config, |r| r).await;
    let (endpoint, mut stream) = RawStream::open(&server.sse_url(), &[("x-owner", "alice")]).await;

    let intruder = post(
        &server.base,
        &endpoint,
        INITIALIZE,
        &[("x-owner", "mallory")],
    )
    .await;
    let anonymous = post(&server.base, &endpoint, INITIALIZE, &[]).await;
    let unknown = post(
        &server.base,
        "/messages?sessionId=ffffffffffffffffffffffffffffffff",
        INITIALIZE,
        &[("x-owner", "alice")],
    )
    .await;
    // Refused exactly as a session that does not exist: same status, same body.
    let unknown = status_and_body(unknown).await;
    assert_eq!(unknown.0, StatusCode::NOT_FOUND);
    assert_eq!(status_and_body(intruder).await, unknown);
    assert_eq!(status_and_body(anonymous).await, unknown);

    let owner = post(&server.base, &endpoint, INITIALIZE, &[("x-owner", "alice")]).await;
    assert_eq!(owner.status(), StatusCode::ACCEPTED);
    assert_eq!(stream.next_message().await["id"], 1);
}

async fn status_and_body(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    (status, response.text().await.unwrap_or_default())
}

#[tokio::test]
async fn body_limit_of_the_surrounding_router_is_honoured() {
    let server = spawn_probe(LegacySseConfig::default(), |r| {
        r.layer(DefaultBodyLimit::max(256))
    })
    .await;
    let (endpoint, _stream) = RawStream::open(&server.sse_url(), &[]).await;
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"echo","arguments":{{"pad":"{}"}}}}}}"#,
        "x".repeat(1024)
    );
    let refused = post(&server.base, &endpoint, &big, &[]).await;
    assert_eq!(refused.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let small = post(&server.base, &endpoint, INITIALIZE, &[]).await;
    assert_eq!(small.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn a_nested_router_announces_its_prefix() {
    let server = spawn_probe(
        LegacySseConfig {
            messages_path: "messages".to_owned(),
            ..LegacySseConfig::default()
        },
        |r| Router::new().nest("/legacy", r),
    )
    .await;
    let (endpoint, mut stream) = RawStream::open(&format!("{}/legacy/sse", server.base), &[]).await;
    assert!(
        endpoint.starts_with("/legacy/messages?sessionId="),
        "{endpoint}"
    );
    let accepted = post(&server.base, &endpoint, INITIALIZE, &[]).await;
    assert_eq!(accepted.status(), StatusCode::ACCEPTED);
    assert_eq!(stream.next_message().await["id"], 1);
}

#[tokio::test]
async fn keep_alive_comments_flow_on_an_idle_stream() {
    let server = spawn_probe(
        LegacySseConfig {
            keep_alive: std::time::Duration::from_millis(20),
            ..LegacySseConfig::default()
        },
        |r| r,
    )
    .await;
    let (_endpoint, mut stream) = RawStream::open(&server.sse_url(), &[]).await;
    // The parser drops comments, so read the raw bytes.
    let chunk = tokio::time::timeout(HANG_GUARD, stream.response.chunk())
        .await
        .expect("a keep-alive arrives")
        .expect("stream open")
        .expect("a chunk");
    assert!(chunk.starts_with(b":"), "{chunk:?}");
}

#[tokio::test]
async fn a_session_ends_when_its_client_goes_away() {
    let server = spawn_probe(
        LegacySseConfig {
            // Hyper notices a closed connection on its next write.
            keep_alive: std::time::Duration::from_millis(20),
            ..LegacySseConfig::default()
        },
        |r| r,
    )
    .await;
    let (endpoint, stream) = RawStream::open(&server.sse_url(), &[]).await;
    server.live.wait_for(1).await;
    drop(stream);
    server.live.wait_for(0).await;
    let gone = post(&server.base, &endpoint, INITIALIZE, &[]).await;
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn cancellation_ends_every_session_and_refuses_new_ones() {
    let server = spawn_probe(LegacySseConfig::default(), |r| r).await;
    let (endpoint, mut first) = RawStream::open(&server.sse_url(), &[]).await;
    let (_endpoint2, mut second) = RawStream::open(&server.sse_url(), &[]).await;
    assert_eq!(
        post(&server.base, &endpoint, INITIALIZE, &[])
            .await
            .status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(first.next_message().await["id"], 1);
    server.live.wait_for(2).await;

    server.cancellation.cancel();
    assert!(first.next_event().await.is_none(), "stream ends");
    assert!(second.next_event().await.is_none(), "stream ends");
    server.live.wait_for(0).await;

    let refused = reqwest::get(server.sse_url()).await.expect("GET /sse");
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
}
