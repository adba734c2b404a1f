//! `mcp-bench anthropic-upstream`: the part of the Anthropic Messages API the proxy benchmark
//! needs, so that `make bench` can time a streamed message through the gateway's
//! `/anthropic/v1/messages` and directly against the same upstream:
//!
//! - `POST /v1/messages` with `"stream": true`: `text/event-stream` with the real event
//!   sequence (`message_start` with usage, `content_block_start`, `ping`, N
//!   `content_block_delta`, `content_block_stop`, `message_delta` with usage and
//!   `stop_reason`, `message_stop`);
//! - `POST /v1/messages` without it: the same message as one JSON answer;
//! - `POST /v1/messages/count_tokens`: an estimate.
//!
//! Each event is written on its own, as soon as it is due: the first at once (with the
//! answer's headers), the next ones after `--gap-ms` (default 0: only a yield to the
//! runtime between them, so that each leaves in its own write, as a real streaming server's
//! do, and the time measured is the path's, not the model's). Accepted sockets have
//! `TCP_NODELAY`, so no event waits for the client's delayed ACK.
//!
//! With `--api-key-env VAR`, a request must carry `x-api-key` equal to that variable's value
//! (401 `authentication_error` otherwise): the benchmark then also shows that the gateway
//! sent its own key. The key is never printed.

use std::{
    convert::Infallible,
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use anyhow::{Context, Result};
use axum::{
    Router,
    body::{Body, Bytes},
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
    serve::ListenerExt as _,
};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};

/// What the deltas say, in turn.
const WORDS: [&str; 8] = [
    "Hello",
    " from",
    " the",
    " benchmark",
    " upstream",
    ",",
    " streaming",
    " tokens.",
];

/// A validated `anthropic-upstream` run.
#[derive(Debug, Clone)]
pub struct UpstreamPlan {
    pub listen: SocketAddr,
    /// `content_block_delta` events per streamed message.
    pub deltas: usize,
    /// Pause before each event after the first.
    pub gap: Duration,
    /// The `x-api-key` every request must carry, when set (read from the environment).
    pub api_key: Option<String>,
}

struct Upstream {
    deltas: usize,
    gap: Duration,
    api_key: Option<String>,
    next_id: AtomicU64,
}

/// Binds, prints `LISTENING http://<address>`, then serves until the process is stopped.
pub async fn run(plan: UpstreamPlan) -> Result<()> {
    let listener = TcpListener::bind(plan.listen)
        .await
        .with_context(|| format!("binding {}", plan.listen))?;
    let address = listener.local_addr().context("reading the bound address")?;
    println!("LISTENING http://{address}");
    let upstream = Arc::new(Upstream {
        deltas: plan.deltas,
        gap: plan.gap,
        api_key: plan.api_key,
        next_id: AtomicU64::new(1),
    });
    let router = Router::new()
        .route("/v1/messages", post(messages))
        .route("/v1/messages/count_tokens", post(count_tokens))
        .with_state(upstream);
    // Events go out in separate writes; without TCP_NODELAY the second would wait for the
    // client's delayed ACK (~40 ms on Linux).
    let listener = listener.tap_io(|tcp: &mut TcpStream| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router)
        .await
        .context("serving the Anthropic upstream")
}

/// An error in the API's shape.
fn api_error(status: StatusCode, kind: &str, message: &str) -> Response {
    let body = json!({"type": "error", "error": {"type": kind, "message": message}});
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// What a Messages request must hold for this upstream to answer it.
#[derive(Debug, Clone, PartialEq)]
pub struct Asked {
    pub model: String,
    pub stream: bool,
    /// A rough count: a token per 4 bytes of the request.
    pub input_tokens: u64,
}

/// Reads a Messages request: `model`, `max_tokens` and `messages` are required, as upstream.
pub fn read_request(body: &[u8]) -> Result<Asked, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|error| format!("the body is not JSON: {error}"))?;
    let model = value
        .get("model")
        .and_then(Value::as_str)
        .filter(|model| !model.is_empty())
        .ok_or("model: Field required")?;
    if !value.get("max_tokens").is_some_and(Value::is_u64) {
        return Err("max_tokens: Field required".to_owned());
    }
    if !value.get("messages").is_some_and(Value::is_array) {
        return Err("messages: Field required".to_owned());
    }
    Ok(Asked {
        model: model.to_owned(),
        stream: value.get("stream").and_then(Value::as_bool) == Some(true),
        input_tokens: (body.len() as u64).div_ceil(4),
    })
}

impl Upstream {
    /// `None` when the request carries the expected key (or none is expected).
    fn refusal(&self, headers: &HeaderMap) -> Option<Response> {
        let expected = self.api_key.as_deref()?;
        let given = headers.get("x-api-key").map(HeaderValue::as_bytes);
        (given != Some(expected.as_bytes())).then(|| {
            api_error(
                StatusCode::UNAUTHORIZED,
                "authentication_error",
                "invalid x-api-key",
            )
        })
    }
}

async fn messages(
    State(upstream): State<Arc<Upstream>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(refusal) = upstream.refusal(&headers) {
        return refusal;
    }
    let asked = match read_request(&body) {
        Ok(asked) => asked,
        Err(problem) => {
            return api_error(StatusCode::BAD_REQUEST, "invalid_request_error", &problem);
        }
    };
    let number = upstream.next_id.fetch_add(1, Ordering::Relaxed);
    let id = format!("msg_bench_{number:012}");
    let request_id = format!("req_bench_{number:012}");
    if !asked.stream {
        let answer = message_json(&id, &asked, upstream.deltas);
        return (
            [
                (header::CONTENT_TYPE, "application/json".to_owned()),
                (header::HeaderName::from_static("request-id"), request_id),
            ],
            answer.to_string(),
        )
            .into_response();
    }
    // Each event is rendered when it is due: the first goes out without waiting for the rest.
    let message = Arc::new(Streamed {
        id,
        asked,
        deltas: upstream.deltas,
    });
    let gap = upstream.gap;
    let body = futures::stream::unfold(0, move |index| {
        let message = Arc::clone(&message);
        async move {
            let event = message.event(index)?;
            if index > 0 {
                if gap.is_zero() {
                    // Pending once: hyper writes out what it holds before the next event.
                    tokio::task::yield_now().await;
                } else {
                    tokio::time::sleep(gap).await;
                }
            }
            Some((Ok::<_, Infallible>(event), index + 1))
        }
    });
    (
        [
            (
                header::CONTENT_TYPE,
                "text/event-stream; charset=utf-8".to_owned(),
            ),
            (header::CACHE_CONTROL, "no-cache".to_owned()),
            (header::HeaderName::from_static("request-id"), request_id),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

async fn count_tokens(
    State(upstream): State<Arc<Upstream>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(refusal) = upstream.refusal(&headers) {
        return refusal;
    }
    match read_request(&body) {
        Ok(asked) => (
            [(header::CONTENT_TYPE, "application/json")],
            json!({"input_tokens": asked.input_tokens}).to_string(),
        )
            .into_response(),
        Err(problem) => api_error(StatusCode::BAD_REQUEST, "invalid_request_error", &problem),
    }
}

/// The text of delta `index`.
fn word(index: usize) -> &'static str {
    WORDS[index % WORDS.len()]
}

fn usage(input_tokens: u64, output_tokens: u64) -> Value {
    json!({
        "input_tokens": input_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": output_tokens,
    })
}

/// The whole message, as a JSON answer gives it.
pub fn message_json(id: &str, asked: &Asked, deltas: usize) -> Value {
    let text: String = (0..deltas).map(word).collect();
    json!({
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": asked.model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": "end_turn",
        "stop_sequence": null,
        "usage": usage(asked.input_tokens, deltas as u64),
    })
}

/// One server-sent event, `event:` and `data:` lines and the blank line that ends it.
fn event(name: &str, data: &Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

/// A streamed message, its events rendered one by one.
pub struct Streamed {
    pub id: String,
    pub asked: Asked,
    pub deltas: usize,
}

impl Streamed {
    /// Event `index` of the stream, in the order the API sends them; `None` past the last.
    pub fn event(&self, index: usize) -> Option<Bytes> {
        let deltas = self.deltas;
        Some(match index {
            0 => event(
                "message_start",
                &json!({
                    "type": "message_start",
                    "message": {
                        "id": self.id,
                        "type": "message",
                        "role": "assistant",
                        "model": self.asked.model,
                        "content": [],
                        "stop_reason": null,
                        "stop_sequence": null,
                        "usage": usage(self.asked.input_tokens, 1),
                    },
                }),
            ),
            1 => event(
                "content_block_start",
                &json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
            ),
            2 => event("ping", &json!({"type": "ping"})),
            delta if delta < 3 + deltas => event(
                "content_block_delta",
                &json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": word(delta - 3)}}),
            ),
            stop if stop == 3 + deltas => event(
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": 0}),
            ),
            end if end == 4 + deltas => event(
                "message_delta",
                &json!({
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                    "usage": {"output_tokens": deltas},
                }),
            ),
            last if last == 5 + deltas => event("message_stop", &json!({"type": "message_stop"})),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asked(stream: bool) -> Asked {
        Asked {
            model: "claude-bench".to_owned(),
            stream,
            input_tokens: 12,
        }
    }

    /// `(event name, data)` of each event of a stream's text.
    fn parse_events(text: &str) -> Vec<(String, Value)> {
        text.split("\n\n")
            .filter(|block| !block.is_empty())
            .map(|block| {
                let mut name = String::new();
                let mut data = Value::Null;
                for line in block.lines() {
                    if let Some(rest) = line.strip_prefix("event: ") {
                        name = rest.to_owned();
                    } else if let Some(rest) = line.strip_prefix("data: ") {
                        data = serde_json::from_str(rest).expect("data is JSON");
                    }
                }
                (name, data)
            })
            .collect()
    }

    #[test]
    fn a_stream_has_the_apis_event_sequence() {
        let message = Streamed {
            id: "msg_1".to_owned(),
            asked: asked(true),
            deltas: 3,
        };
        let events: Vec<Bytes> = (0..).map_while(|index| message.event(index)).collect();
        let text: String = events
            .iter()
            .map(|event| std::str::from_utf8(event).expect("utf-8"))
            .collect();
        let parsed = parse_events(&text);
        let names: Vec<&str> = parsed.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(
            names,
            [
                "message_start",
                "content_block_start",
                "ping",
                "content_block_delta",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop",
            ]
        );
        for (name, data) in &parsed {
            assert_eq!(data["type"], name.as_str(), "{name}");
        }
        let start = &parsed[0].1["message"];
        assert_eq!(start["model"], "claude-bench");
        assert_eq!(start["usage"]["input_tokens"], 12);
        assert_eq!(parsed[3].1["delta"]["text"], "Hello");
        assert_eq!(parsed[7].1["delta"]["stop_reason"], "end_turn");
        assert_eq!(parsed[7].1["usage"]["output_tokens"], 3);
        // Each event is one piece, ending with its blank line.
        assert!(events.iter().all(|event| event.ends_with(b"\n\n")));
    }

    #[test]
    fn the_json_answer_holds_the_same_text() {
        let answer = message_json("msg_1", &asked(false), 3);
        assert_eq!(answer["content"][0]["text"], "Hello from the");
        assert_eq!(answer["usage"]["output_tokens"], 3);
        assert_eq!(answer["stop_reason"], "end_turn");
    }

    #[test]
    fn requests_need_model_max_tokens_and_messages() {
        let good = br#"{"model":"claude-bench","max_tokens":16,"messages":[],"stream":true}"#;
        let read = read_request(good).expect("valid");
        assert!(read.stream);
        assert_eq!(read.model, "claude-bench");
        assert_eq!(read.input_tokens, (good.len() as u64).div_ceil(4));
        let json = br#"{"model":"m","max_tokens":16,"messages":[]}"#;
        assert!(!read_request(json).expect("valid").stream);
        for bad in [
            &b"{"[..],
            br#"{"max_tokens":16,"messages":[]}"#,
            br#"{"model":"m","messages":[]}"#,
            br#"{"model":"m","max_tokens":16}"#,
        ] {
            assert!(read_request(bad).is_err());
        }
    }

    #[test]
    fn the_key_is_checked_only_when_one_is_expected() {
        let upstream = |api_key: Option<&str>| Upstream {
            deltas: 1,
            gap: Duration::ZERO,
            api_key: api_key.map(str::to_owned),
            next_id: AtomicU64::new(1),
        };
        let mut headers = HeaderMap::new();
        assert!(upstream(None).refusal(&headers).is_none());
        assert!(upstream(Some("k")).refusal(&headers).is_some());
        headers.insert("x-api-key", HeaderValue::from_static("other"));
        assert!(upstream(Some("k")).refusal(&headers).is_some());
        headers.insert("x-api-key", HeaderValue::from_static("k"));
        assert!(upstream(Some("k")).refusal(&headers).is_none());
    }
}
