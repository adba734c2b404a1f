//! One request to the Anthropic API and its answer, relayed: the upstream request (the
//! caller's body as received, the upstream key — the gateway's, or the caller's own — and the
//! caller's `anthropic-version` and `anthropic-beta`), and the answer passed on unchanged — a
//! stream event by event as each arrives whole, read on the side for its usage.
//!
//! Every request that reaches the upstream ends in exactly one [`Accounting::finish`]: the
//! `llm_call` audit record, the budget charge and the metrics. Whatever ends it — the answer
//! complete, an upstream failure, the timeout, or the caller hanging up (the answer's
//! stream is dropped, which drops the upstream response and closes its connection) — the
//! [`Accounting`] is finished once, by whoever holds it last.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::Stream;
use futures::stream::BoxStream;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use serde_json::Value;

use super::error::LlmError;
use super::policy::LlmPolicy;
use super::usage::Usage;
use crate::audit::{AuditEvent, AuditRecord, AuditStatus};
use crate::config::Secret;
use crate::event_stream::SseParser;
use crate::gateway::Gateway;
use crate::principal::RequestContext;

/// The largest event of an upstream stream read for usage (events are relayed whatever
/// their size; a larger one is just not read).
const MAX_EVENT_BYTES: usize = 4 * 1024 * 1024;
/// The largest JSON answer read (a Messages answer is far smaller).
const MAX_JSON_ANSWER_BYTES: usize = 64 * 1024 * 1024;
/// `anthropic-version` when the caller sends none (every Anthropic SDK sends one).
const DEFAULT_VERSION: &str = "2023-06-01";
/// What an audit record keeps of an upstream error message.
const MAX_ERROR_CHARS: usize = 1024;
/// The status label of a request whose caller went away (nginx's convention).
const CLIENT_CLOSED: u16 = 499;

/// Answer headers passed on to the caller; everything else (cookies, connection details) is
/// the gateway's business.
fn passes_back(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "content-type" | "cache-control" | "request-id" | "retry-after" | "x-should-retry"
    ) || name.as_str().starts_with("anthropic-ratelimit-")
}

/// The Messages endpoints the relay serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Messages,
    CountTokens,
}

impl Endpoint {
    fn path(self) -> &'static str {
        match self {
            Endpoint::Messages => "/v1/messages",
            Endpoint::CountTokens => "/v1/messages/count_tokens",
        }
    }
}

/// The outcome of a proxied request, for its audit record and metrics.
struct Outcome {
    status: AuditStatus,
    http_status: u16,
    error: Option<String>,
}

/// What a request that reached the upstream owes: its record, charge and metrics.
pub struct Accounting {
    gateway: Arc<Gateway>,
    policy: Arc<LlmPolicy>,
    record: AuditRecord,
    user: String,
    model: String,
    endpoint: Endpoint,
    stream: bool,
    /// `user` or `gateway`: whose key went upstream.
    key_source: &'static str,
    started: Instant,
    usage: Usage,
}

/// What the accounting of a request needs to know of it.
pub struct Exchange<'a> {
    pub model: &'a str,
    pub endpoint: Endpoint,
    pub stream: bool,
    /// The audit record's `parameters` (without the conversation unless `log_prompts`).
    pub parameters: Value,
    /// `user` or `gateway`: whose key goes upstream.
    pub key_source: &'static str,
}

impl Accounting {
    pub fn new(
        gateway: Arc<Gateway>,
        policy: Arc<LlmPolicy>,
        ctx: &RequestContext,
        exchange: Exchange<'_>,
    ) -> Accounting {
        let mut record = AuditRecord::for_request(ctx, AuditEvent::LlmCall, AuditStatus::Success);
        record.tool = Some(super::policy::resource_name(exchange.model));
        record.parameters = exchange.parameters;
        Accounting {
            gateway,
            policy,
            record,
            user: ctx.principal.user.clone(),
            model: exchange.model.to_owned(),
            endpoint: exchange.endpoint,
            stream: exchange.stream,
            key_source: exchange.key_source,
            started: Instant::now(),
            usage: Usage::default(),
        }
    }

    /// Write the record, charge the budgets and count the request.
    fn finish(mut self, outcome: Outcome) {
        let usage = &self.usage;
        let mut details = match self.endpoint {
            Endpoint::Messages => usage.details(&self.model, self.stream),
            // What was counted, not used: kept apart, so that summing usage stays right.
            Endpoint::CountTokens => serde_json::json!({
                "model": self.model,
                "endpoint": "count_tokens",
                "counted_input_tokens": usage.input_tokens,
            }),
        };
        details["upstream_key"] = Value::from(self.key_source);
        self.record.status = outcome.status;
        self.record.error = outcome
            .error
            .map(|e| e.chars().take(MAX_ERROR_CHARS).collect());
        self.record = self
            .record
            .with_duration(self.started.elapsed())
            .with_details(details);
        // Counting tokens uses none.
        if self.endpoint == Endpoint::Messages
            && let Some(budgets) = &self.policy.budgets
        {
            budgets.charge(&self.user, usage.charged_tokens());
        }
        if outcome.status == AuditStatus::Success {
            self.policy.note_served(&self.model);
        }
        let tokens: &[(&'static str, u64)] = if self.endpoint == Endpoint::Messages {
            &[
                ("input", usage.input_tokens),
                ("output", usage.output_tokens),
                ("cache_creation_input", usage.cache_creation_input_tokens),
                ("cache_read_input", usage.cache_read_input_tokens),
            ]
        } else {
            &[]
        };
        self.gateway.metrics().record_llm_request(
            &self.policy.metric_label(&self.model),
            outcome.http_status,
            tokens,
        );
        self.gateway.audit().emit(self.record);
    }
}

/// Send `body` to the upstream and answer the caller: the upstream's answer, or the
/// gateway's own error when there is none. `accounting` is finished whatever happens.
pub async fn relay(
    client: &reqwest::Client,
    key: &Secret,
    caller_headers: &HeaderMap,
    body: Bytes,
    accounting: Accounting,
) -> http::Response<axum::body::Body> {
    let policy = Arc::clone(&accounting.policy);
    let deadline = tokio::time::Instant::now() + policy.upstream.timeout;
    let url = format!("{}{}", policy.upstream.base_url, accounting.endpoint.path());
    // Dropped with the caller (the handler's future), this drops the request: the
    // `Accounting` below is then finished by its guard as cancelled.
    let mut guard = Guard(Some(accounting));
    let Some(headers) = upstream_headers(key, caller_headers) else {
        tracing::warn!(
            "the upstream key is not a valid header value (a stray newline or control character?)"
        );
        let error = LlmError::Upstream(
            "the upstream key cannot be sent (it is not valid as a header)".into(),
        );
        return guard.fail(error, AuditStatus::Error);
    };
    let request = client.post(url).headers(headers).body(body);
    let response = match tokio::time::timeout_at(deadline, request.send()).await {
        Ok(Ok(response)) => response,
        Ok(Err(error)) => {
            tracing::warn!(error = %error_category(&error), "the Anthropic upstream cannot be reached");
            let error = LlmError::Upstream("the upstream API cannot be reached".into());
            return guard.fail(error, AuditStatus::Error);
        }
        Err(_) => {
            let error = LlmError::Timeout(timeout_message(policy.upstream.timeout));
            return guard.fail(error, AuditStatus::Timeout);
        }
    };
    let status = response.status();
    let mut headers = HeaderMap::new();
    for (name, value) in response.headers() {
        if passes_back(name) {
            headers.append(name.clone(), value.clone());
        }
    }
    let is_stream = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if status.is_success() && is_stream {
        let accounting = guard.0.take().expect("accounting held until here");
        let relayed = Relayed {
            upstream: futures::StreamExt::boxed(response.bytes_stream()),
            parser: SseParser::new(MAX_EVENT_BYTES),
            parsing: true,
            partial: bytes::BytesMut::new(),
            stream_error: None,
            stopped: false,
            deadline: Box::pin(tokio::time::sleep_until(deadline)),
            timeout: policy.upstream.timeout,
            accounting: Some(accounting),
        };
        // A proxy in front of the gateway must not hold the events back either.
        headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
        return answer(status, headers, axum::body::Body::from_stream(relayed));
    }
    // A JSON answer (or an upstream error): small, read whole, passed on unchanged.
    let read = tokio::time::timeout_at(deadline, read_limited(response, MAX_JSON_ANSWER_BYTES));
    let bytes = match read.await {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(())) => {
            let error = LlmError::Upstream("the upstream's answer could not be read".into());
            return guard.fail(error, AuditStatus::Error);
        }
        Err(_) => {
            let error = LlmError::Timeout(timeout_message(policy.upstream.timeout));
            return guard.fail(error, AuditStatus::Timeout);
        }
    };
    let mut accounting = guard.0.take().expect("accounting held until here");
    let parsed = serde_json::from_slice::<Value>(&bytes).ok();
    let outcome = if status.is_success() {
        if let Some(answer) = &parsed {
            accounting.usage = match accounting.endpoint {
                Endpoint::Messages => Usage::from_message(answer),
                Endpoint::CountTokens => Usage {
                    input_tokens: answer
                        .get("input_tokens")
                        .and_then(Value::as_u64)
                        .unwrap_or(0),
                    ..Usage::default()
                },
            };
        }
        Outcome {
            status: AuditStatus::Success,
            http_status: status.as_u16(),
            error: None,
        }
    } else {
        Outcome {
            status: AuditStatus::Error,
            http_status: status.as_u16(),
            error: Some(upstream_error_text(status, parsed.as_ref())),
        }
    };
    accounting.finish(outcome);
    answer(status, headers, axum::body::Body::from(bytes))
}

/// Holds the [`Accounting`] while the upstream is asked; finishes it as cancelled when the
/// caller's future is dropped before that.
struct Guard(Option<Accounting>);

impl Guard {
    fn fail(mut self, error: LlmError, status: AuditStatus) -> http::Response<axum::body::Body> {
        if let Some(accounting) = self.0.take() {
            accounting.finish(Outcome {
                status,
                http_status: error.status().as_u16(),
                error: Some(error.message().to_owned()),
            });
        }
        axum::response::IntoResponse::into_response(error)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(accounting) = self.0.take() {
            accounting.finish(cancelled());
        }
    }
}

fn cancelled() -> Outcome {
    Outcome {
        status: AuditStatus::Cancelled,
        http_status: CLIENT_CLOSED,
        error: Some("cancelled by the caller".into()),
    }
}

fn answer(
    status: StatusCode,
    headers: HeaderMap,
    body: axum::body::Body,
) -> http::Response<axum::body::Body> {
    let mut response = http::Response::new(body);
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// The upstream request's headers: the upstream key, and the caller's API version and beta
/// flags; never the caller's own credential. `None` when the key cannot be a header value.
fn upstream_headers(key: &Secret, caller: &HeaderMap) -> Option<HeaderMap> {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let mut value = HeaderValue::from_str(key.expose()).ok()?;
    value.set_sensitive(true);
    headers.insert("x-api-key", value);
    let version = caller
        .get("anthropic-version")
        .cloned()
        .unwrap_or(HeaderValue::from_static(DEFAULT_VERSION));
    headers.insert("anthropic-version", version);
    for beta in caller.get_all("anthropic-beta") {
        headers.append("anthropic-beta", beta.clone());
    }
    Some(headers)
}

/// "overloaded_error: Overloaded", from an error object.
fn error_of(body: Option<&Value>) -> Option<String> {
    let error = body?.get("error")?;
    let kind = error.get("type").and_then(Value::as_str)?;
    let message = error.get("message").and_then(Value::as_str).unwrap_or("");
    Some(format!("{kind}: {message}"))
}

/// Where the last complete event of `bytes` ends (after its blank line); 0 when none has.
fn complete_events_len(bytes: &[u8]) -> usize {
    [&b"\n\n"[..], b"\r\n\r\n", b"\r\r"]
        .iter()
        .filter_map(|end| {
            bytes
                .windows(end.len())
                .rposition(|window| window == *end)
                .map(|at| at + end.len())
        })
        .max()
        .unwrap_or(0)
}

/// "HTTP 529 overloaded_error: Overloaded", from an upstream error answer.
fn upstream_error_text(status: StatusCode, body: Option<&Value>) -> String {
    let error = body.and_then(|b| b.get("error"));
    let kind = error.and_then(|e| e.get("type")).and_then(Value::as_str);
    let message = error.and_then(|e| e.get("message")).and_then(Value::as_str);
    match (kind, message) {
        (Some(kind), Some(message)) => format!("HTTP {} {kind}: {message}", status.as_u16()),
        _ => format!("HTTP {}", status.as_u16()),
    }
}

fn timeout_message(timeout: Duration) -> String {
    format!(
        "the upstream API did not answer within {} s",
        timeout.as_secs_f64()
    )
}

/// A category for the log: reqwest's errors may quote the URL, never a header.
fn error_category(error: &reqwest::Error) -> &'static str {
    if error.is_connect() {
        "connect failed"
    } else if error.is_timeout() {
        "timed out"
    } else {
        "request failed"
    }
}

async fn read_limited(response: reqwest::Response, limit: usize) -> Result<Bytes, ()> {
    use futures::StreamExt as _;
    let mut body = Vec::new();
    let mut chunks = response.bytes_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|_| ())?;
        if body.len() + chunk.len() > limit {
            return Err(());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(body))
}

/// A stream relayed to the caller as it arrives, its events read for usage on the side.
struct Relayed {
    upstream: BoxStream<'static, reqwest::Result<Bytes>>,
    parser: SseParser,
    /// False once an event was too large to read: the rest is relayed unread.
    parsing: bool,
    /// The start of an event not complete yet: held back, so that an `error` event the
    /// gateway adds never lands inside one.
    partial: bytes::BytesMut,
    /// The message of an `error` event the upstream sent within the stream.
    stream_error: Option<String>,
    /// `message_stop` came: the answer is whole.
    stopped: bool,
    deadline: Pin<Box<tokio::time::Sleep>>,
    timeout: Duration,
    /// `None` once finished.
    accounting: Option<Accounting>,
}

impl Relayed {
    fn read(&mut self, chunk: &[u8]) {
        if !self.parsing {
            return;
        }
        if self.parser.push(chunk).is_err() {
            self.parsing = false;
            return;
        }
        while let Some(event) = self.parser.next_event() {
            match event.event.as_str() {
                "error" => {
                    let parsed = serde_json::from_str::<Value>(&event.data).ok();
                    let what = error_of(parsed.as_ref()).unwrap_or_else(|| "unreadable".into());
                    self.stream_error = Some(format!("stream error {what}"));
                }
                "message_stop" => self.stopped = true,
                _ => {}
            }
            if let Some(accounting) = &mut self.accounting {
                accounting.usage.add_event(&event.event, &event.data);
            }
        }
    }

    fn finish(&mut self, outcome: Outcome) {
        if let Some(accounting) = self.accounting.take() {
            accounting.finish(outcome);
        }
    }

    /// End the caller's stream with an `error` event, as Anthropic ends a failed stream.
    fn fail(&mut self, error: LlmError, status: AuditStatus) -> Bytes {
        // An event the upstream left incomplete is dropped: the error event starts clean.
        self.partial.clear();
        let event = format!("event: error\ndata: {}\n\n", error.body());
        self.finish(Outcome {
            status,
            http_status: error.status().as_u16(),
            error: Some(error.message().to_owned()),
        });
        Bytes::from(event)
    }
}

impl Stream for Relayed {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.accounting.is_none() {
            return Poll::Ready(None);
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            let error = LlmError::Timeout(timeout_message(this.timeout));
            return Poll::Ready(Some(Ok(this.fail(error, AuditStatus::Timeout))));
        }
        loop {
            match futures::StreamExt::poll_next_unpin(&mut this.upstream, cx) {
                Poll::Ready(Some(Ok(chunk))) => {
                    this.read(&chunk);
                    this.partial.extend_from_slice(&chunk);
                    let complete = complete_events_len(&this.partial);
                    if complete > 0 {
                        return Poll::Ready(Some(Ok(this.partial.split_to(complete).freeze())));
                    }
                    // Only part of an event so far: ask the upstream for the rest.
                }
                Poll::Ready(Some(Err(_))) => {
                    let error = LlmError::Upstream("the upstream stream broke off".into());
                    return Poll::Ready(Some(Ok(this.fail(error, AuditStatus::Error))));
                }
                Poll::Ready(None) => {
                    let error = match (this.stream_error.take(), this.stopped) {
                        (Some(error), _) => Some(error),
                        (None, false) => Some("the stream ended before message_stop".to_owned()),
                        (None, true) => None,
                    };
                    let status = if error.is_some() {
                        AuditStatus::Error
                    } else {
                        AuditStatus::Success
                    };
                    this.finish(Outcome {
                        status,
                        http_status: StatusCode::OK.as_u16(),
                        error,
                    });
                    // Whatever the upstream left unfinished goes out as it came.
                    let rest = std::mem::take(&mut this.partial);
                    return Poll::Ready((!rest.is_empty()).then(|| Ok(rest.freeze())));
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl Drop for Relayed {
    /// The caller went away before the end: the upstream stream is dropped with this (its
    /// connection closed), and the request is accounted as cancelled with what it used.
    fn drop(&mut self) {
        self.finish(cancelled());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_upstream_gets_the_gateways_key_and_the_callers_api_headers_only() {
        let mut caller = HeaderMap::new();
        caller.insert(
            "authorization",
            HeaderValue::from_static("Bearer caller-jwt"),
        );
        caller.insert("x-api-key", HeaderValue::from_static("caller-key"));
        caller.insert("anthropic-version", HeaderValue::from_static("2023-06-01"));
        caller.append("anthropic-beta", HeaderValue::from_static("a-2025"));
        caller.append("anthropic-beta", HeaderValue::from_static("b-2026"));
        caller.insert("cookie", HeaderValue::from_static("c=1"));
        let headers = upstream_headers(&Secret::new("gateway-key"), &caller).unwrap();
        assert_eq!(headers["x-api-key"], "gateway-key");
        assert!(headers["x-api-key"].is_sensitive());
        assert_eq!(headers["anthropic-version"], "2023-06-01");
        let betas: Vec<_> = headers.get_all("anthropic-beta").iter().collect();
        assert_eq!(betas, ["a-2025", "b-2026"]);
        assert!(headers.get("authorization").is_none());
        assert!(headers.get("cookie").is_none());
        assert_eq!(headers.len(), 5);
    }

    #[test]
    fn a_version_is_sent_when_the_caller_gives_none() {
        let headers = upstream_headers(&Secret::new("k"), &HeaderMap::new()).unwrap();
        assert!(upstream_headers(&Secret::new("key\n"), &HeaderMap::new()).is_none());
        assert_eq!(headers["anthropic-version"], DEFAULT_VERSION);
    }

    #[test]
    fn only_the_api_answer_headers_pass_back() {
        for name in [
            "content-type",
            "request-id",
            "retry-after",
            "anthropic-ratelimit-tokens-remaining",
        ] {
            assert!(passes_back(&HeaderName::from_static(name)), "{name}");
        }
        for name in ["set-cookie", "connection", "server", "cf-ray"] {
            assert!(!passes_back(&HeaderName::from_static(name)), "{name}");
        }
    }

    #[test]
    fn events_go_out_when_whole() {
        assert_eq!(complete_events_len(b""), 0);
        assert_eq!(complete_events_len(b"event: ping\ndata: {}"), 0);
        assert_eq!(complete_events_len(b"event: ping\ndata: {}\n\n"), 22);
        assert_eq!(complete_events_len(b"data: a\n\ndata: b\n\nda"), 18);
        assert_eq!(complete_events_len(b"data: a\r\n\r\ndata: b"), 11);
        assert_eq!(complete_events_len(b"data: a\r\rdata"), 9);
    }

    #[test]
    fn upstream_errors_are_described_by_type_and_message() {
        let body = serde_json::json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}});
        assert_eq!(
            upstream_error_text(StatusCode::from_u16(529).unwrap(), Some(&body)),
            "HTTP 529 overloaded_error: Overloaded"
        );
        assert_eq!(
            upstream_error_text(StatusCode::BAD_GATEWAY, None),
            "HTTP 502"
        );
    }
}
