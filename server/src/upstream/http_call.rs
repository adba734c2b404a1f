//! `tools/call` on a streamable-HTTP backend without rmcp's client worker.
//!
//! rmcp's client sends every request through its service task and its transport worker: two
//! channel hops and a task per request, the whole message turned into a `serde_json::Value` to
//! build headers, and every answer parsed as rmcp's untagged message enum. For the one request
//! the gateway sends at volume that was a fifth of its CPU. Here a call is one POST on a
//! shared connection pool ([`HttpClients`]: hyper's bare client for `http://`, else reqwest),
//! answered with JSON or with an event stream read in place, to its end so that the
//! connection is reused.
//!
//! The session stays rmcp's: it connects, negotiates the protocol, lists tools, probes, sends
//! notifications (cancellation) and re-initialises an expired session. What a request to that
//! backend must carry — URL, session id, credentials, the protocol-version and configured
//! headers, the client context `_meta` of the 2026-07-28 protocol — is learnt from rmcp's own
//! `tools/list` and `tools/call` requests as they pass through
//! [`RmcpHttpClient`](super::rmcp_http::RmcpHttpClient), so the two paths cannot
//! drift apart. A call takes rmcp's path instead until a template is learnt, for tools whose
//! schema asks for `Mcp-Param-*` headers (SEP-2243), and when the backend says the session
//! expired (nothing ran; rmcp re-initialises and sends it).
//!
//! A response stream that ends before the answer is resumed with `Last-Event-ID`, as the
//! streamable HTTP transport allows, when the backend gave its events ids.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use base64::Engine as _;
use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use rmcp::model::{
    CallToolResult, ClientJsonRpcMessage, ErrorData, JsonObject, NumberOrString,
    ProgressNotificationParam, ServerRequest,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::CallError;
use super::asks::{self, Route};
use super::clients::{HttpClients, Response, next_chunk};
use super::handler::LinkEvents;
use super::identity::{self, ForwardedIdentity};
use crate::client_requests;
use crate::event_stream::SseParser;
use crate::progress::ProgressTarget;

const SESSION_HEADER: HeaderName = HeaderName::from_static("mcp-session-id");
const METHOD_HEADER: HeaderName = HeaderName::from_static("mcp-method");
const NAME_HEADER: HeaderName = HeaderName::from_static("mcp-name");
const PARAM_HEADER_PREFIX: &str = "mcp-param-";
const LAST_EVENT_ID_HEADER: HeaderName = HeaderName::from_static("last-event-id");
const ACCEPT_BOTH: HeaderValue = HeaderValue::from_static("text/event-stream, application/json");
const EVENT_STREAM: &str = "text/event-stream";
const JSON: &str = "application/json";
/// The largest answer (a JSON body or one event) read from a backend.
const MAX_ANSWER_BYTES: usize = 32 * 1024 * 1024;
/// How often one call's response stream is resumed before the call fails.
const MAX_RESUMES: u32 = 3;
/// The longest wait a backend's `retry:` field may ask for before a resumption.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(5);

/// What every request on one backend session carries, as rmcp last sent it.
pub struct RequestTemplate {
    url: reqwest::Url,
    /// `url` for the hyper client.
    uri: http::Uri,
    session_id: Option<HeaderValue>,
    /// `Authorization: Bearer …`, marked sensitive.
    authorization: Option<HeaderValue>,
    /// Protocol version and configured headers; never per-request ones.
    headers: HeaderMap,
    /// The protocol sends `Mcp-Method` / `Mcp-Name` (2026-07-28 and later).
    standard_headers: bool,
    /// The request `_meta` every request carries (client context), without a progress token.
    meta: Option<JsonObject>,
}

/// One backend connection's `tools/call` client.
pub struct HttpCaller {
    http: HttpClients,
    /// The hyper client may be used for this backend: false once it answered with a redirect.
    hyper_allowed: AtomicBool,
    template: ArcSwapOption<RequestTemplate>,
    next_id: AtomicU64,
}

/// Why a call did not produce the call's outcome.
#[derive(Debug)]
pub enum HttpCallError {
    /// The backend no longer knows the session; the request was not processed.
    SessionExpired,
    Failed(CallError),
}

/// One call, as the caller gave it.
pub struct ToolCall<'a> {
    pub id: &'a str,
    pub tool: &'a str,
    pub arguments: Option<&'a JsonObject>,
    pub progress: Option<&'a ProgressTarget>,
    pub identity: Option<&'a ForwardedIdentity>,
    /// The call's trace span, named to the backend in `traceparent`.
    pub trace: &'a tracing::Span,
}

impl HttpCaller {
    pub fn new(http: HttpClients) -> Self {
        Self {
            http,
            hyper_allowed: AtomicBool::new(true),
            template: ArcSwapOption::empty(),
            next_id: AtomicU64::new(1),
        }
    }

    /// The current template; `None` until rmcp sent a request this module can learn from.
    pub fn template(&self) -> Option<Arc<RequestTemplate>> {
        self.template.load_full()
    }

    /// A request id of this client: a string, so it never meets rmcp's numeric ones.
    pub fn next_request_id(&self) -> Arc<str> {
        format!("gw-{}", self.next_id.fetch_add(1, Ordering::Relaxed)).into()
    }

    /// Learn the template from a request rmcp is about to POST (`tools/list` or `tools/call`,
    /// which every session sends through the same code path as its other requests).
    pub fn learn(
        &self,
        uri: &str,
        session_id: Option<&str>,
        bearer: Option<&str>,
        headers: &HashMap<HeaderName, HeaderValue>,
        message: &ClientJsonRpcMessage,
    ) {
        let ClientJsonRpcMessage::Request(request) = message else {
            return;
        };
        if !matches!(request.request.method(), "tools/list" | "tools/call") {
            return;
        }
        let (Ok(url), Ok(uri)) = (reqwest::Url::parse(uri), http::Uri::try_from(uri)) else {
            return;
        };
        let template = RequestTemplate {
            url,
            uri,
            session_id: session_id.and_then(|s| HeaderValue::from_str(s).ok()),
            authorization: bearer.and_then(|token| {
                let mut value = HeaderValue::from_str(&format!("Bearer {token}")).ok()?;
                value.set_sensitive(true);
                Some(value)
            }),
            standard_headers: headers.contains_key(&METHOD_HEADER),
            headers: headers
                .iter()
                .filter(|(name, _)| !is_per_request_header(name))
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect(),
            meta: client_context(message),
        };
        self.template.store(Some(Arc::new(template)));
    }

    /// POST the call and read its answer, relaying progress on the way.
    pub async fn call(
        &self,
        template: &RequestTemplate,
        call: ToolCall<'_>,
        events: &LinkEvents,
    ) -> Result<CallToolResult, HttpCallError> {
        let body = serde_json::to_vec(&CallRequest {
            jsonrpc: "2.0",
            id: call.id,
            method: "tools/call",
            params: CallParams {
                name: call.tool,
                arguments: call.arguments,
                meta: Meta {
                    context: template.meta.as_ref(),
                    progress_token: call.progress.map(|_| call.id),
                },
            },
        })
        .map_err(|_| failed(CallError::Transport("could not encode the call")))?;
        let headers = || {
            let mut headers = template.headers.clone();
            headers.insert(ACCEPT, ACCEPT_BOTH);
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
            template.add_session_headers(&mut headers);
            if template.standard_headers {
                headers.insert(METHOD_HEADER, HeaderValue::from_static("tools/call"));
                if let Ok(value) = HeaderValue::from_str(&header_value(call.tool)) {
                    headers.insert(NAME_HEADER, value);
                }
            }
            if let Some(identity) = call.identity {
                headers.extend(identity::headers(identity));
            }
            crate::telemetry::inject_trace_context(call.trace, &mut headers);
            headers
        };
        let response = self
            .send(Method::POST, template, headers, Bytes::from(body))
            .await
            .map_err(|()| {
                events.suspect.notify_one();
                failed(CallError::Transport("could not send to the backend"))
            })?;
        let status = response.status();
        if status == StatusCode::NOT_FOUND && template.session_id.is_some() {
            return Err(HttpCallError::SessionExpired);
        }
        let answer = Answer {
            id: call.id,
            progress: call.progress,
            events,
        };
        match content_kind(response.headers()) {
            _ if !status.is_success() => Err(failed(refused(status, response, &answer).await)),
            Some(Kind::Json) => {
                let body = read_bounded(response).await.map_err(failed)?;
                match answer.handle(&body, self, template).await {
                    Some(outcome) => outcome.map_err(failed),
                    None => Err(failed(CallError::Transport(
                        "unexpected answer to tools/call",
                    ))),
                }
            }
            Some(Kind::EventStream) => self
                .read_stream(response, template, &answer)
                .await
                .map_err(failed),
            None => Err(failed(CallError::Transport(
                "unexpected answer to tools/call",
            ))),
        }
    }

    /// Send a request to the template's URL: through the hyper client while this backend
    /// may use it, else (and for a redirect it answered) through reqwest. `headers` builds
    /// the request's headers (twice when a redirect sends it again).
    async fn send(
        &self,
        method: Method,
        template: &RequestTemplate,
        headers: impl Fn() -> HeaderMap,
        body: Bytes,
    ) -> Result<Response, ()> {
        if self.hyper_allowed.load(Ordering::Relaxed)
            && let Some(hyper) = self.http.hyper_for(&template.url)
        {
            let response = hyper
                .send(method.clone(), &template.uri, headers(), body.clone())
                .await?;
            if !response.status().is_redirection() {
                return Ok(response);
            }
            // reqwest follows redirects within the origin; this backend keeps it from now on.
            tracing::debug!("backend redirected a call; using reqwest for it from now on");
            self.hyper_allowed.store(false, Ordering::Relaxed);
        }
        self.http
            .send_reqwest(method, &template.url, headers(), body)
            .await
    }

    /// Read events until the answer; resume the stream when it ends early and can be resumed.
    async fn read_stream(
        &self,
        mut response: Response,
        template: &RequestTemplate,
        answer: &Answer<'_>,
    ) -> Result<CallToolResult, CallError> {
        let mut parser = SseParser::new(MAX_ANSWER_BYTES);
        let mut resumes = 0;
        loop {
            while let Some(event) = parser.next_event() {
                // An event without data (a server's priming event, which carries only the id
                // to resume from) is no message: not worth a failed parse.
                if event.event != "message" || event.data.trim_ascii().is_empty() {
                    continue;
                }
                if let Some(outcome) = answer.handle(event.data.as_bytes(), self, template).await {
                    finish_in_background(response);
                    return outcome;
                }
            }
            match next_chunk(response.body_mut()).await {
                Ok(Some(chunk)) => parser
                    .push(&chunk)
                    .map_err(|_| CallError::Transport("answer too large"))?,
                Ok(None) | Err(_) => {
                    let last_event_id = parser.last_event_id().map(str::to_owned);
                    let (Some(last_event_id), true) = (last_event_id, resumes < MAX_RESUMES) else {
                        answer.events.suspect.notify_one();
                        return Err(CallError::Transport("connection closed during the call"));
                    };
                    resumes += 1;
                    let wait = parser
                        .retry()
                        .map_or(Duration::ZERO, |retry| retry.min(MAX_RETRY_WAIT));
                    tokio::time::sleep(wait).await;
                    response = self.resume(template, &last_event_id).await?;
                    let mut next = SseParser::new(MAX_ANSWER_BYTES);
                    next.set_last_event_id(&last_event_id);
                    parser = next;
                }
            }
        }
    }

    /// `GET` the session's stream from after `last_event_id`.
    async fn resume(
        &self,
        template: &RequestTemplate,
        last_event_id: &str,
    ) -> Result<Response, CallError> {
        let closed = CallError::Transport("connection closed during the call");
        let last_event_id = HeaderValue::from_str(last_event_id).map_err(|_| closed.clone())?;
        let headers = || {
            let mut headers = template.headers.clone();
            headers.insert(ACCEPT, HeaderValue::from_static(EVENT_STREAM));
            headers.insert(LAST_EVENT_ID_HEADER, last_event_id.clone());
            template.add_session_headers(&mut headers);
            headers
        };
        let response = self
            .send(Method::GET, template, headers, Bytes::new())
            .await
            .map_err(|()| closed.clone())?;
        match content_kind(response.headers()) {
            Some(Kind::EventStream) if response.status().is_success() => Ok(response),
            _ => Err(closed),
        }
    }

    /// Answer a request the backend sent on the call's stream that is not relayed to the
    /// caller: only `ping` has an answer.
    fn reply(&self, template: &RequestTemplate, id: Value, method: &str) {
        let reply = if method == "ping" {
            serde_json::json!({"jsonrpc": "2.0", "id": id, "result": {}})
        } else {
            serde_json::json!({"jsonrpc": "2.0", "id": id,
                "error": {"code": -32601, "message": "Method not found"}})
        };
        let request = self.post_reply(template).json(&reply);
        tokio::spawn(async move {
            let _ = request.send().await;
        });
    }

    /// Relay a request the backend sent on the call's stream to the call's client
    /// ([`asks`]), and post its answer, in a task of its own: the stream goes on being read
    /// meanwhile (the backend may send progress, or more requests).
    fn relay(&self, template: &RequestTemplate, id: Value, request: Value, route: Route) {
        let post = self.post_reply(template);
        tokio::spawn(async move {
            let method = request
                .get("method")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            let answer = match serde_json::from_value::<ServerRequest>(request) {
                // The backend withdrawing its request shows as the call ending.
                Ok(request) => asks::relay(route, request, std::future::pending()).await,
                Err(_) => Err(client_requests::unreadable(&method)),
            };
            let reply = match answer {
                Ok(result) => serde_json::json!({"jsonrpc": "2.0", "id": id, "result": result}),
                Err(error) => serde_json::json!({"jsonrpc": "2.0", "id": id, "error": error}),
            };
            let _ = post.json(&reply).send().await;
        });
    }

    /// A POST of an answer to the backend, on the call's session.
    fn post_reply(&self, template: &RequestTemplate) -> reqwest::RequestBuilder {
        let mut headers = template.headers.clone();
        headers.insert(ACCEPT, ACCEPT_BOTH);
        template.add_session_headers(&mut headers);
        // Rare (a backend's request during a call): reqwest, whatever the backend.
        self.http
            .reqwest
            .post(template.url.clone())
            .headers(headers)
    }
}

fn failed(error: CallError) -> HttpCallError {
    HttpCallError::Failed(error)
}

impl RequestTemplate {
    fn add_session_headers(&self, headers: &mut HeaderMap) {
        if let Some(authorization) = &self.authorization {
            headers.insert(http::header::AUTHORIZATION, authorization.clone());
        }
        if let Some(session_id) = &self.session_id {
            headers.insert(SESSION_HEADER, session_id.clone());
        }
    }
}

/// Headers rmcp sets for one request only (SEP-2243); the template holds the others.
fn is_per_request_header(name: &HeaderName) -> bool {
    *name == METHOD_HEADER || *name == NAME_HEADER || name.as_str().starts_with(PARAM_HEADER_PREFIX)
}

/// The request `_meta` rmcp puts on every request, without the per-request entries.
fn client_context(message: &ClientJsonRpcMessage) -> Option<JsonObject> {
    let mut wire = serde_json::to_value(message).ok()?;
    let Value::Object(mut meta) = wire.get_mut("params")?.get_mut("_meta")?.take() else {
        return None;
    };
    meta.remove("progressToken");
    meta.remove(identity::IDENTITY_META_KEY);
    (!meta.is_empty()).then_some(meta)
}

/// An `Mcp-Name` value as SEP-2243 sends it: Base64-wrapped when it could not travel bare.
fn header_value(value: &str) -> String {
    let needs_base64 = value.starts_with([' ', '\t'])
        || value.ends_with([' ', '\t'])
        || value.chars().any(|c| !(' '..='~').contains(&c))
        || (value.starts_with("=?base64?") && value.ends_with("?="));
    if needs_base64 {
        let encoded = base64::engine::general_purpose::STANDARD.encode(value);
        format!("=?base64?{encoded}?=")
    } else {
        value.to_owned()
    }
}

/// Whether a tool's input schema asks for `Mcp-Param-*` headers anywhere.
pub fn wants_param_headers(schema: &JsonObject) -> bool {
    fn walk(value: &Value) -> bool {
        match value {
            Value::Object(map) => map.contains_key("x-mcp-header") || map.values().any(walk),
            Value::Array(items) => items.iter().any(walk),
            _ => false,
        }
    }
    schema.contains_key("x-mcp-header") || schema.values().any(walk)
}

enum Kind {
    Json,
    EventStream,
}

fn content_kind(headers: &HeaderMap) -> Option<Kind> {
    let value = headers.get(CONTENT_TYPE)?.as_bytes();
    if value.starts_with(JSON.as_bytes()) {
        Some(Kind::Json)
    } else if value.starts_with(EVENT_STREAM.as_bytes()) {
        Some(Kind::EventStream)
    } else {
        None
    }
}

/// How long the rest of a call's event stream may take to end after the answer.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// How much of it is read before the connection is given up instead.
const DRAIN_MAX_BYTES: usize = 64 * 1024;

/// Read what follows the answer on its event stream (normally only the stream's end), so
/// that the connection goes back to the pool. A response dropped before its end closes its
/// connection: with the answer and the end of the stream in separate writes, that was one
/// new backend connection every dozen calls. The end is usually already there; otherwise a
/// task waits for it, briefly.
fn finish_in_background(response: Response) {
    use futures::FutureExt as _;
    let mut body = response.into_body();
    if let Some(Ok(None) | Err(())) = next_chunk(&mut body).now_or_never() {
        return;
    }
    tokio::spawn(async move {
        let drain = async {
            let mut read = 0;
            while let Ok(Some(chunk)) = next_chunk(&mut body).await {
                read += chunk.len();
                if read > DRAIN_MAX_BYTES {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(DRAIN_TIMEOUT, drain).await;
    });
}

async fn read_bounded(response: Response) -> Result<Vec<u8>, CallError> {
    let length = response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    let mut stream = response.into_body();
    let mut body = Vec::with_capacity(length.unwrap_or(0).min(1 << 16));
    loop {
        match next_chunk(&mut stream).await {
            Ok(Some(chunk)) if body.len() + chunk.len() <= MAX_ANSWER_BYTES => {
                body.extend_from_slice(&chunk);
            }
            Ok(Some(_)) => return Err(CallError::Transport("answer too large")),
            Ok(None) => return Ok(body),
            Err(_) => return Err(CallError::Transport("connection closed during the call")),
        }
    }
}

/// A non-success status: the backend's JSON-RPC error when it sent one (rmcp surfaces it the
/// same way), else a category of the status.
async fn refused(status: StatusCode, response: Response, answer: &Answer<'_>) -> CallError {
    let credentials = matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN);
    if !credentials
        && matches!(content_kind(response.headers()), Some(Kind::Json))
        && let Ok(body) = read_bounded(response).await
        && let Ok(Incoming {
            error: Some(error), ..
        }) = serde_json::from_slice::<Incoming>(&body)
    {
        return CallError::Rejected(error.message.into());
    }
    if status.is_server_error() {
        answer.events.suspect.notify_one();
    }
    CallError::Transport("could not send to the backend")
}

/// Reads the messages of one call's answer.
struct Answer<'a> {
    id: &'a str,
    progress: Option<&'a ProgressTarget>,
    events: &'a LinkEvents,
}

impl Answer<'_> {
    /// The call's outcome if `message` is its answer; relays or answers anything else.
    async fn handle(
        &self,
        message: &[u8],
        caller: &HttpCaller,
        template: &RequestTemplate,
    ) -> Option<Result<CallToolResult, CallError>> {
        let incoming = match serde_json::from_slice::<Incoming>(message) {
            Ok(incoming) => incoming,
            Err(_) => {
                // Not a message of the expected shapes; the answer only matters if it is ours.
                let loose: Value = serde_json::from_slice(message).ok()?;
                let ours = loose.get("id").and_then(Value::as_str) == Some(self.id)
                    && loose.get("method").is_none();
                return ours
                    .then_some(Err(CallError::Transport("unexpected answer to tools/call")));
            }
        };
        match (incoming.method.as_deref(), incoming.id) {
            (None, Some(id)) if id.as_str() == Some(self.id) => {
                Some(match (incoming.result, incoming.error) {
                    (Some(result), None) => Ok(result),
                    (None, Some(error)) => Err(CallError::Rejected(error.message.into())),
                    _ => Err(CallError::Transport("unexpected answer to tools/call")),
                })
            }
            (Some("notifications/progress"), None) => {
                self.relay_progress(incoming.params).await;
                None
            }
            (Some("notifications/tools/list_changed"), None) => {
                self.events.tools_changed.notify_one();
                None
            }
            (Some(method), Some(id)) if asks::RELAYED.contains(&method) => {
                let mut request = serde_json::json!({"method": method});
                if let Some(params) = incoming.params {
                    request["params"] = params;
                }
                caller.relay(template, id, request, self.route());
                None
            }
            (Some(method), Some(id)) => {
                caller.reply(template, id, method);
                None
            }
            _ => None,
        }
    }

    /// Where a request that came on this call's stream goes: to this call's client, if it
    /// has one that can be asked.
    fn route(&self) -> Route {
        let id = rmcp::model::RequestId::String(Arc::from(self.id));
        self.events.calls.of_call(&id).unwrap_or(Route::NoClient)
    }

    async fn relay_progress(&self, params: Option<Value>) {
        let Some(target) = self.progress else {
            return;
        };
        let Some(mut params) =
            params.and_then(|p| serde_json::from_value::<ProgressNotificationParam>(p).ok())
        else {
            return;
        };
        if !matches!(&params.progress_token.0, NumberOrString::String(token) if &**token == self.id)
        {
            return;
        }
        params.progress_token = target.token.clone();
        target.notify(params).await;
    }
}

/// Any JSON-RPC message, as far as this client reads one.
#[derive(Deserialize)]
struct Incoming {
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    params: Option<Value>,
    #[serde(default)]
    result: Option<CallToolResult>,
    #[serde(default)]
    error: Option<ErrorData>,
}

#[derive(Serialize)]
struct CallRequest<'a> {
    jsonrpc: &'static str,
    id: &'a str,
    method: &'static str,
    params: CallParams<'a>,
}

#[derive(Serialize)]
struct CallParams<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    arguments: Option<&'a JsonObject>,
    #[serde(rename = "_meta", skip_serializing_if = "Meta::is_empty")]
    meta: Meta<'a>,
}

/// The template's client context plus this call's progress token.
struct Meta<'a> {
    context: Option<&'a JsonObject>,
    progress_token: Option<&'a str>,
}

impl Meta<'_> {
    fn is_empty(&self) -> bool {
        self.context.is_none() && self.progress_token.is_none()
    }
}

impl Serialize for Meta<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        for (key, value) in self.context.into_iter().flatten() {
            map.serialize_entry(key, value)?;
        }
        if let Some(token) = self.progress_token {
            map.serialize_entry("progressToken", token)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::{ClientRequest, ListToolsRequest, RequestId};
    use serde_json::json;

    fn tools_list(meta: Option<Value>) -> ClientJsonRpcMessage {
        let mut message = ClientJsonRpcMessage::request(
            ClientRequest::ListToolsRequest(ListToolsRequest::default()),
            RequestId::Number(7),
        );
        if let (Some(Value::Object(meta)), ClientJsonRpcMessage::Request(request)) =
            (meta, &mut message)
        {
            use rmcp::model::GetMeta as _;
            let target: &mut JsonObject = request.request.get_meta_mut();
            target.extend(meta);
        }
        message
    }

    fn learnt(
        headers: &[(&'static str, &'static str)],
        meta: Option<Value>,
    ) -> Arc<RequestTemplate> {
        let caller = HttpCaller::new(HttpClients::reqwest_only(reqwest::Client::new()));
        let headers = headers
            .iter()
            .map(|(n, v)| (HeaderName::from_static(n), HeaderValue::from_static(v)))
            .collect();
        caller.learn(
            "http://127.0.0.1:9/mcp",
            Some("s-1"),
            Some("secret"),
            &headers,
            &tools_list(meta),
        );
        caller.template().expect("learnt")
    }

    #[test]
    fn the_template_keeps_session_headers_and_drops_per_request_ones() {
        let template = learnt(
            &[
                ("mcp-protocol-version", "2026-07-28"),
                ("mcp-method", "tools/list"),
                ("mcp-param-region", "eu"),
                ("x-api-key", "k"),
            ],
            Some(json!({
                "progressToken": 3,
                "io.modelcontextprotocol/protocolVersion": "2026-07-28"
            })),
        );
        assert!(template.standard_headers);
        assert_eq!(template.headers.len(), 2);
        assert_eq!(template.headers["mcp-protocol-version"], "2026-07-28");
        assert_eq!(template.headers["x-api-key"], "k");
        assert_eq!(
            template.session_id.as_ref().map(|v| v.as_bytes()),
            Some(&b"s-1"[..])
        );
        let authorization = template.authorization.as_ref().expect("bearer");
        assert!(authorization.is_sensitive());
        assert_eq!(authorization, "Bearer secret");
        let meta = template.meta.as_ref().expect("client context");
        assert_eq!(meta.len(), 1, "{meta:?}");
        assert!(meta.contains_key("io.modelcontextprotocol/protocolVersion"));
    }

    #[test]
    fn older_protocols_send_no_method_headers_and_no_context() {
        let template = learnt(&[("mcp-protocol-version", "2025-06-18")], None);
        assert!(!template.standard_headers);
        assert!(template.meta.is_none());
    }

    #[test]
    fn only_tools_requests_teach_a_template() {
        let caller = HttpCaller::new(HttpClients::reqwest_only(reqwest::Client::new()));
        let ping = ClientJsonRpcMessage::request(
            ClientRequest::PingRequest(Default::default()),
            RequestId::Number(1),
        );
        caller.learn("http://127.0.0.1:9/mcp", None, None, &HashMap::new(), &ping);
        assert!(caller.template().is_none());
    }

    #[test]
    fn the_call_body_carries_context_and_progress_token() {
        let context = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28"});
        let context = context.as_object().cloned();
        let arguments = json!({"q": 1}).as_object().cloned();
        let body = serde_json::to_value(CallRequest {
            jsonrpc: "2.0",
            id: "gw-1",
            method: "tools/call",
            params: CallParams {
                name: "echo",
                arguments: arguments.as_ref(),
                meta: Meta {
                    context: context.as_ref(),
                    progress_token: Some("gw-1"),
                },
            },
        })
        .unwrap_or_default();
        assert_eq!(
            body,
            json!({"jsonrpc": "2.0", "id": "gw-1", "method": "tools/call", "params": {
                "name": "echo", "arguments": {"q": 1},
                "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28",
                          "progressToken": "gw-1"}}})
        );
        let bare = serde_json::to_value(CallParams {
            name: "echo",
            arguments: None,
            meta: Meta {
                context: None,
                progress_token: None,
            },
        })
        .unwrap_or_default();
        assert_eq!(bare, json!({"name": "echo"}));
    }

    #[test]
    fn relayed_requests_are_read_from_method_and_params() {
        let read = |value: Value| serde_json::from_value::<ServerRequest>(value);
        assert!(matches!(
            read(json!({"method": "roots/list"})),
            Ok(ServerRequest::ListRootsRequest(_))
        ));
        assert!(matches!(
            read(json!({"method": "sampling/createMessage", "params": {
                "messages": [{"role": "user", "content": {"type": "text", "text": "hi"}}],
                "maxTokens": 5}})),
            Ok(ServerRequest::CreateMessageRequest(_))
        ));
        assert!(matches!(
            read(
                json!({"method": "elicitation/create", "params": {"mode": "url",
                "message": "m", "url": "https://example.com", "elicitationId": "e"}})
            ),
            Ok(ServerRequest::ElicitRequest(_))
        ));
    }

    #[test]
    fn names_that_cannot_travel_bare_are_base64_wrapped() {
        assert_eq!(header_value("search_logs"), "search_logs");
        assert_eq!(header_value(" lead"), "=?base64?IGxlYWQ=?=");
        assert_eq!(header_value("café"), "=?base64?Y2Fmw6k=?=");
        assert!(header_value("=?base64?x?=").starts_with("=?base64?"));
    }

    #[test]
    fn param_header_annotations_are_found_at_any_depth() {
        let flat = json!({"type": "object", "properties": {"q": {"type": "string"}}});
        let nested = json!({"type": "object", "properties": {"a": {"type": "object",
            "properties": {"region": {"type": "string", "x-mcp-header": "Region"}}}}});
        assert!(!wants_param_headers(flat.as_object().expect("object")));
        assert!(wants_param_headers(nested.as_object().expect("object")));
    }
}
