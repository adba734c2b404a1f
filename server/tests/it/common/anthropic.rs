//! An Anthropic-compatible upstream for the proxy's tests, on 127.0.0.1: `POST /v1/messages`
//! (a JSON message, or a stream with the real event sequence and `usage`), `POST
//! /v1/messages/count_tokens`, `GET /v1/models`. What it was sent is kept for the test to
//! read (headers that matter, bodies), and so is every stream a client stopped reading.
//!
//! The model name picks the behaviour:
//! - `*-slow*`: a stream of 20 deltas, 150 ms apart (a client sees the first long before
//!   the last);
//! - `*-overloaded`: 529 `overloaded_error` (passed through unchanged);
//! - `*-stall`: never answers;
//! - `*-big*`: reports 1,250 output tokens (a budget-breaking answer);
//! - anything else: "Hello from <model>" at once.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

/// What one request to the fake carried.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub api_key: Option<String>,
    pub authorization: Option<String>,
    pub version: Option<String>,
    pub betas: Vec<String>,
    pub body: Value,
}

#[derive(Default)]
struct Shared {
    seen: Mutex<Vec<Seen>>,
    /// Streams dropped before their last event (the proxy closed the connection).
    abandoned: AtomicUsize,
}

pub struct FakeAnthropic {
    pub url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

/// Usage of every answer: distinct numbers, so that each can be recognised downstream.
pub const INPUT_TOKENS: u64 = 11;
pub const OUTPUT_TOKENS: u64 = 5;
pub const CACHE_CREATION_TOKENS: u64 = 3;
pub const CACHE_READ_TOKENS: u64 = 7;

impl FakeAnthropic {
    pub async fn start() -> FakeAnthropic {
        let shared = Arc::new(Shared::default());
        let app = Router::new()
            .route("/v1/messages", post(messages))
            .route("/v1/messages/count_tokens", post(count_tokens))
            .route("/v1/models", get(models))
            .with_state(Arc::clone(&shared));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake upstream");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeAnthropic { url, shared, task }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    pub fn abandoned_streams(&self) -> usize {
        self.shared.abandoned.load(Ordering::SeqCst)
    }
}

impl Drop for FakeAnthropic {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn record(shared: &Shared, path: &str, headers: &HeaderMap, body: Value) {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    shared.seen.lock().unwrap().push(Seen {
        path: path.to_owned(),
        api_key: text("x-api-key"),
        authorization: text("authorization"),
        version: text("anthropic-version"),
        betas: headers
            .get_all("anthropic-beta")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect(),
        body,
    });
}

/// The output tokens an answer of `model` reports.
fn output_tokens(model: &str) -> u64 {
    if model.contains("-big") {
        BIG_OUTPUT_TOKENS
    } else {
        OUTPUT_TOKENS
    }
}

pub const BIG_OUTPUT_TOKENS: u64 = 1250;

fn usage(output_tokens: u64) -> Value {
    json!({
        "input_tokens": INPUT_TOKENS,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": CACHE_CREATION_TOKENS,
        "cache_read_input_tokens": CACHE_READ_TOKENS,
    })
}

async fn messages(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    record(&shared, "/v1/messages", &headers, body.clone());
    let model = body["model"].as_str().unwrap_or("").to_owned();
    if model.ends_with("-overloaded") {
        let error = json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}});
        return (
            StatusCode::from_u16(529).unwrap(),
            [("request-id", "req_fake_overloaded")],
            axum::Json(error),
        )
            .into_response();
    }
    if model.ends_with("-stall") {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
    let id = format!("msg_fake_{}", shared.seen.lock().unwrap().len());
    if body["stream"] != json!(true) {
        let message = json!({
            "id": id, "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": format!("Hello from {model}")}],
            "stop_reason": "end_turn", "stop_sequence": null, "usage": usage(output_tokens(&model)),
        });
        return ([("request-id", "req_fake_json")], axum::Json(message)).into_response();
    }
    let slow = model.contains("-slow");
    let pieces: Vec<String> = if slow {
        (0..20).map(|i| format!("part{i} ")).collect()
    } else {
        vec!["Hello".into(), " from ".into(), model.clone()]
    };
    let events = stream_events(&id, &model, &pieces);
    let gap = if slow {
        Duration::from_millis(150)
    } else {
        Duration::ZERO
    };
    let guard = AbandonGuard {
        shared: Arc::clone(&shared),
        finished: false,
    };
    let stream = futures::stream::unfold(
        (events.into_iter(), guard, true),
        move |(mut events, mut guard, first)| async move {
            let Some(event) = events.next() else {
                guard.complete();
                return None;
            };
            if !first && !gap.is_zero() {
                tokio::time::sleep(gap).await;
            }
            Some((
                Ok::<_, Infallible>(Bytes::from(event)),
                (events, guard, false),
            ))
        },
    );
    (
        [
            ("content-type", "text/event-stream"),
            ("request-id", "req_fake_stream"),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

/// Counts a stream dropped before its end.
struct AbandonGuard {
    shared: Arc<Shared>,
    finished: bool,
}

impl AbandonGuard {
    fn complete(&mut self) {
        self.finished = true;
    }
}

impl Drop for AbandonGuard {
    fn drop(&mut self) {
        if !self.finished {
            self.shared.abandoned.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// The events of a streamed message, as the Messages API sends them.
fn stream_events(id: &str, model: &str, pieces: &[String]) -> Vec<String> {
    let event = |name: &str, data: Value| format!("event: {name}\ndata: {data}\n\n");
    let mut events = vec![
        event(
            "message_start",
            json!({"type": "message_start", "message": {
                "id": id, "type": "message", "role": "assistant", "model": model, "content": [],
                "stop_reason": null, "stop_sequence": null, "usage": usage(1)}}),
        ),
        event(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        ),
        event("ping", json!({"type": "ping"})),
    ];
    for piece in pieces {
        events.push(event(
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0,
                   "delta": {"type": "text_delta", "text": piece}}),
        ));
    }
    events.push(event(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 0}),
    ));
    events.push(event(
        "message_delta",
        json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
               "usage": {"output_tokens": output_tokens(model)}}),
    ));
    events.push(event("message_stop", json!({"type": "message_stop"})));
    events
}

async fn count_tokens(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    record(&shared, "/v1/messages/count_tokens", &headers, body);
    axum::Json(json!({"input_tokens": 42})).into_response()
}

async fn models(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    record(&shared, "/v1/models", &headers, Value::Null);
    let model = |id: &str| json!({"type": "model", "id": id, "display_name": id, "created_at": "2025-09-29T00:00:00Z"});
    axum::Json(json!({
        "data": [model("claude-sonnet-4-5"), model("claude-haiku-4-5"), model("gpt-4o")],
        "has_more": false, "first_id": "claude-sonnet-4-5", "last_id": "gpt-4o",
    }))
    .into_response()
}
