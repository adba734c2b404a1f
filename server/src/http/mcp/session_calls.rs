//! The commonest MCP message, `tools/call` inside an existing session, answered by the
//! gateway itself.
//!
//! rmcp serves a session-era request by handing it to the session's worker task, which hands
//! it to the service task, which spawns a handler task, whose answer travels back through two
//! channels into an event stream. For a call that sends nothing but its answer, that is four
//! task hops and an SSE body where one JSON body does (the transport allows either,
//! MCP 2025-06-18 "Sending Messages to the Server"). So the `/mcp` endpoint answers such calls
//! here, through the same [`Gateway::call_tool`] and the same result shaping as
//! [`super::handler::McpHandler`], and leaves everything else to rmcp:
//!
//! - only a single JSON-RPC request `tools/call` in a session rmcp knows, with the headers rmcp
//!   requires and a protocol version header rmcp accepts;
//! - not one that names a per-request protocol version, answers an input request, or carries
//!   SEP-2243 routing headers (2026-07-28 matters);
//! - not one of a session whose client declared sampling, elicitation or roots: a backend may
//!   ask it something during the call, which only rmcp's session can send;
//! - a call without a progress token gets one JSON body; one with a token gets an event
//!   stream of its progress notifications and then its result (a caller that goes away
//!   cancels the call);
//! - `notifications/cancelled` from the client reaches calls in flight here through
//!   [`InFlight`], and goes on to rmcp as before (for calls rmcp serves).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::request::Parts;
use http::{HeaderValue, StatusCode, header};
use rmcp::model::{
    CallToolRequestParams, CancelledNotificationParam, NumberOrString, ProgressNotification,
    ProgressNotificationParam, ProgressToken, ProtocolVersion, ServerJsonRpcMessage,
    ServerNotification,
};
use rmcp::transport::streamable_http_server::session::SessionManager as _;
use serde_json::value::RawValue;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::handler::{call_outcome_to_mcp, session_era_result};
use super::sessions::McpSessions;
use super::{PROTOCOL_VERSION_HEADER, SESSION_HEADER, content_type_is_json};
use crate::gateway::{Downstream, Gateway};
use crate::http::caller;
use crate::principal::{RequestContext, Transport};
use crate::progress::{ProgressSink, ProgressTarget};

/// SEP-2243 headers, which rmcp checks against the body; such requests stay with rmcp.
const STANDARD_HEADERS: [&str; 2] = ["mcp-method", "mcp-name"];

/// (session, id) -> the call's serial number (see [`InFlightGuard`]) and cancellation.
type Calls = HashMap<(Arc<str>, NumberOrString), (u64, CancellationToken)>;

/// Calls served here and not finished yet, by session and JSON-RPC id, so that a client's
/// `notifications/cancelled`, or the end of its session, can stop them.
#[derive(Default)]
pub struct InFlight {
    calls: Mutex<Calls>,
    next_serial: AtomicU64,
}

impl InFlight {
    fn register(self: &Arc<Self>, session: Arc<str>, id: NumberOrString) -> InFlightGuard {
        let token = CancellationToken::new();
        let serial = self.next_serial.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut calls) = self.calls.lock() {
            calls.insert((Arc::clone(&session), id.clone()), (serial, token.clone()));
        }
        InFlightGuard {
            in_flight: Arc::clone(self),
            key: Some((session, id)),
            serial,
            token,
        }
    }

    /// Cancel the call `id` of `session`, if it is served here. True when one was found.
    pub fn cancel(&self, session: &str, id: &NumberOrString) -> bool {
        let token = self.calls.lock().ok().and_then(|calls| {
            let (_, token) = calls.get(&(Arc::<str>::from(session), id.clone()))?;
            Some(token.clone())
        });
        match token {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
        }
    }

    /// Cancel every call of `session` served here (the session is closing).
    pub fn cancel_session(&self, session: &str) {
        if let Ok(calls) = self.calls.lock() {
            calls
                .iter()
                .filter(|((owner, _), _)| &**owner == session)
                .for_each(|(_, (_, token))| token.cancel());
        }
    }

    pub fn len(&self) -> usize {
        self.calls.lock().map(|c| c.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Removes a call from [`InFlight`] when it ends, however it ends — unless a newer call of a
/// client that reused the id took its place, which stays cancellable.
struct InFlightGuard {
    in_flight: Arc<InFlight>,
    key: Option<(Arc<str>, NumberOrString)>,
    serial: u64,
    token: CancellationToken,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        if let (Some(key), Ok(mut calls)) = (self.key.take(), self.in_flight.calls.lock())
            && calls
                .get(&key)
                .is_some_and(|(serial, _)| *serial == self.serial)
        {
            calls.remove(&key);
        }
    }
}

/// Whether the headers of a session POST allow answering it here at all:
/// a session, what rmcp would accept, nothing rmcp must check itself.
pub fn headers_qualify(headers: &http::HeaderMap) -> bool {
    if !headers.contains_key(SESSION_HEADER)
        || STANDARD_HEADERS.iter().any(|h| headers.contains_key(*h))
    {
        return false;
    }
    if let Some(version) = headers.get(PROTOCOL_VERSION_HEADER) {
        let known = version.to_str().is_ok_and(|v| {
            ProtocolVersion::KNOWN_VERSIONS
                .iter()
                // Sessions end with 2026-07-28; such requests are rmcp's (stateless).
                .any(|known| known.as_str() == v && *known < ProtocolVersion::V_2026_07_28)
        });
        if !known {
            return false;
        }
    }
    content_type_is_json(headers) && accepts_json_and_sse(headers)
}

fn accepts_json_and_sse(headers: &http::HeaderMap) -> bool {
    let (mut json, mut sse) = (false, false);
    for value in headers.get_all(header::ACCEPT) {
        let Ok(value) = value.to_str() else { continue };
        for item in value.split(',') {
            let essence = item.split(';').next().unwrap_or_default().trim();
            json |= essence.eq_ignore_ascii_case("application/json");
            sse |= essence.eq_ignore_ascii_case("text/event-stream");
        }
    }
    json && sse
}

/// What the endpoint should do with a session-era `tools/call`.
pub enum Routed {
    /// Answered here.
    Answered(Response),
    /// Not for this path: give the request (body untouched) to rmcp.
    ToRmcp,
}

/// Serve a `tools/call` request of `session` here if it is one this path answers; see the
/// module docs.
pub async fn route(
    gateway: &Arc<Gateway>,
    sessions: &McpSessions,
    parts: &Parts,
    session: &str,
    id: NumberOrString,
    params: Option<&RawValue>,
) -> Routed {
    let Some(Ok(params)) = params.map(|p| serde_json::from_str::<CallToolRequestParams>(p.get()))
    else {
        return Routed::ToRmcp;
    };
    // A per-request protocol version and input responses belong to 2026-07-28 requests:
    // rmcp's.
    if params
        .meta
        .as_ref()
        .is_some_and(|meta| meta.protocol_version().is_some())
        || params.input_responses.is_some()
        || params.request_state.is_some()
    {
        return Routed::ToRmcp;
    }
    let progress = params
        .meta
        .as_ref()
        .and_then(|meta| meta.get_progress_token());
    // A backend may ask this client something during the call: rmcp's handler can relay it.
    if sessions.client_can_be_asked(session) {
        return Routed::ToRmcp;
    }
    let session: Arc<str> = Arc::from(session);
    // Unknown or ended sessions get rmcp's answer (404).
    if !sessions.has_session(&session).await.unwrap_or(false) {
        return Routed::ToRmcp;
    }

    let guard = sessions
        .in_flight()
        .register(Arc::clone(&session), id.clone());
    let ctx = caller::request_context(gateway.settings(), parts, Transport::Mcp);
    let Some(token) = progress else {
        let answer = call(gateway, &ctx, params, None, id, guard).await;
        return Routed::Answered(json_response(&answer));
    };
    Routed::Answered(streamed(Arc::clone(gateway), ctx, params, token, id, guard))
}

/// Apply a client's `notifications/cancelled` to the calls of `session` answered here (it
/// goes on to rmcp too, for the calls rmcp serves).
pub fn cancelled(sessions: &McpSessions, session: &str, params: Option<&RawValue>) {
    if let Some(Ok(cancelled)) =
        params.map(|p| serde_json::from_str::<CancelledNotificationParam>(p.get()))
        && let Some(id) = &cancelled.request_id
    {
        sessions.in_flight().cancel(session, id);
    }
}

/// Make the call and give its JSON-RPC answer, in the session era's shape. The call leaves
/// the in-flight table (`guard`) as soon as it ends.
async fn call(
    gateway: &Arc<Gateway>,
    ctx: &RequestContext,
    params: CallToolRequestParams,
    progress: Option<ProgressTarget>,
    id: NumberOrString,
    guard: InFlightGuard,
) -> ServerJsonRpcMessage {
    let downstream = Downstream {
        progress,
        cancel: guard.token.clone(),
        // Sessions whose client could be asked anything do not take this path.
        requester: None,
    };
    let outcome = gateway
        .call_tool(ctx, &params.name, params.arguments, downstream)
        .await;
    drop(guard);
    match call_outcome_to_mcp(outcome) {
        Ok(result) => ServerJsonRpcMessage::response(session_era_result(result), id),
        Err(error) => ServerJsonRpcMessage::error(error, Some(id)),
    }
}

/// Progress notifications a slow reader may have queued before some are dropped.
const PROGRESS_BUFFER: usize = 64;

/// A call whose caller asked for progress: its answer is an event stream of the progress
/// notifications, then the result. The stream drives the call; a caller that goes away drops
/// the stream, and with it the call's future (the gateway then cancels the call).
fn streamed(
    gateway: Arc<Gateway>,
    ctx: RequestContext,
    params: CallToolRequestParams,
    token: ProgressToken,
    id: NumberOrString,
    guard: InFlightGuard,
) -> Response {
    let (progress_tx, progress_rx) = mpsc::channel(PROGRESS_BUFFER);
    let progress = ProgressTarget {
        sink: ProgressSink::Stream(progress_tx),
        token,
    };
    let answer: Pin<Box<dyn Future<Output = ServerJsonRpcMessage> + Send>> =
        Box::pin(async move { call(&gateway, &ctx, params, Some(progress), id, guard).await });
    struct Stream {
        progress: mpsc::Receiver<ProgressNotificationParam>,
        answer: Option<Pin<Box<dyn Future<Output = ServerJsonRpcMessage> + Send>>>,
    }
    let state = Stream {
        progress: progress_rx,
        answer: Some(answer),
    };
    let events = futures::stream::unfold(state, |mut state| async move {
        let answer = state.answer.as_mut()?;
        let message = tokio::select! {
            // Progress first: what was sent before the result arrives before it.
            biased;
            Some(progress) = state.progress.recv() => ServerJsonRpcMessage::notification(
                ServerNotification::ProgressNotification(ProgressNotification::new(progress)),
            ),
            finished = answer => {
                state.answer = None;
                finished
            }
        };
        let frame = sse_frame(&message);
        Some((Ok::<_, std::convert::Infallible>(frame), state))
    });
    let mut response = Response::new(Body::from_stream(events));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// One server-sent event carrying a JSON-RPC message.
fn sse_frame(message: &ServerJsonRpcMessage) -> Bytes {
    let json = serde_json::to_vec(message).unwrap_or_else(|error| {
        tracing::error!(%error, "could not serialize a message of a call's event stream");
        b"{}".to_vec()
    });
    let mut frame = Vec::with_capacity(json.len() + 22);
    frame.extend_from_slice(b"event: message\ndata: ");
    frame.extend_from_slice(&json);
    frame.extend_from_slice(b"\n\n");
    Bytes::from(frame)
}

fn json_response(message: &ServerJsonRpcMessage) -> Response {
    match serde_json::to_vec(message) {
        Ok(body) => {
            let mut response = Response::new(Body::from(body));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        Err(error) => {
            tracing::error!(%error, "could not serialize a tools/call answer");
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> http::HeaderMap {
        let mut map = http::HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    const GOOD: [(&str, &str); 4] = [
        ("mcp-session-id", "s1"),
        ("content-type", "application/json"),
        ("accept", "application/json, text/event-stream"),
        ("mcp-protocol-version", "2025-06-18"),
    ];

    #[test]
    fn a_session_request_with_what_rmcp_requires_qualifies() {
        assert!(headers_qualify(&headers(&GOOD)));
        // Without a version header (2025-03-26 clients), and with Accept in two headers.
        assert!(headers_qualify(&headers(&[
            ("mcp-session-id", "s1"),
            ("content-type", "application/json; charset=utf-8"),
            ("accept", "application/json"),
            ("accept", "text/event-stream;q=0.9"),
        ])));
    }

    #[test]
    fn anything_rmcp_must_judge_does_not_qualify() {
        let without = |name: &str| {
            let mut map = headers(&GOOD);
            map.remove(name);
            map
        };
        assert!(!headers_qualify(&without("mcp-session-id")));
        assert!(!headers_qualify(&without("content-type")));
        assert!(!headers_qualify(&without("accept")));
        let with = |name: &'static str, value: &'static str| {
            let mut map = headers(&GOOD);
            map.insert(name, HeaderValue::from_static(value));
            map
        };
        assert!(!headers_qualify(&with("accept", "application/json")));
        assert!(!headers_qualify(&with("content-type", "text/plain")));
        assert!(!headers_qualify(&with(
            "mcp-protocol-version",
            "1999-01-01"
        )));
        assert!(!headers_qualify(&with(
            "mcp-protocol-version",
            "2026-07-28"
        )));
        assert!(!headers_qualify(&with("mcp-method", "tools/call")));
        assert!(!headers_qualify(&with("mcp-name", "x")));
    }

    #[test]
    fn in_flight_calls_are_cancelled_by_session_and_id_and_forgotten_when_done() {
        let in_flight = Arc::new(InFlight::default());
        let guard = in_flight.register(Arc::from("s1"), NumberOrString::Number(7));
        assert!(!in_flight.cancel("s2", &NumberOrString::Number(7)));
        assert!(!in_flight.cancel("s1", &NumberOrString::Number(8)));
        assert!(!guard.token.is_cancelled());
        assert!(in_flight.cancel("s1", &NumberOrString::Number(7)));
        assert!(guard.token.is_cancelled());
        drop(guard);
        assert!(in_flight.is_empty());
    }

    #[test]
    fn a_reused_id_stays_cancellable_when_the_older_call_ends() {
        let in_flight = Arc::new(InFlight::default());
        let older = in_flight.register(Arc::from("s1"), NumberOrString::Number(1));
        let newer = in_flight.register(Arc::from("s1"), NumberOrString::Number(1));
        drop(older);
        assert!(in_flight.cancel("s1", &NumberOrString::Number(1)));
        assert!(newer.token.is_cancelled());
        drop(newer);
        assert!(in_flight.is_empty());
    }

    #[test]
    fn closing_a_session_cancels_its_calls_only() {
        let in_flight = Arc::new(InFlight::default());
        let first = in_flight.register(Arc::from("s1"), NumberOrString::Number(1));
        let second = in_flight.register(Arc::from("s1"), NumberOrString::Number(2));
        let other = in_flight.register(Arc::from("s2"), NumberOrString::Number(1));
        in_flight.cancel_session("s1");
        assert!(first.token.is_cancelled() && second.token.is_cancelled());
        assert!(!other.token.is_cancelled());
    }
}
