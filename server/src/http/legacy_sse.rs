//! Legacy HTTP+SSE server transport (protocol 2024-11-05): `GET /sse` + `POST /messages`.
//!
//! rmcp ships no SSE transport, so this module serves any rmcp [`ServerHandler`] over it:
//!
//! 1. `GET /sse` opens a session: a handler is built from the request's parts, served with
//!    rmcp's `serve_server` over an in-memory transport (bounded channels), and the response is
//!    an event stream whose first event is `endpoint`, carrying the URI to POST messages to
//!    (`{messages_path}?sessionId=<id>`). Every server→client message follows as
//!    `event: message`.
//! 2. `POST {messages_path}?sessionId=<id>` hands one JSON-RPC message to that session and
//!    answers `202 Accepted`; the answer itself travels on the event stream.
//!
//! Each POST's [`http::request::Parts`] is put into the message's extensions exactly as rmcp's
//! streamable HTTP server does, so a handler reads
//! `context.extensions.get::<http::request::Parts>()` the same way for both transports.
//!
//! A session ends when its event stream is dropped (the client went away), when its rmcp
//! service stops, when a client stops reading for too long, or when the configured
//! cancellation token fires.

mod session;
#[cfg(test)]
pub(crate) mod test_support;
#[cfg(test)]
mod tests;

use std::{fmt, sync::Arc, time::Duration};

use axum::{
    Router,
    body::Bytes,
    extract::{NestedPath, Query, State},
    http::{StatusCode, header},
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
    routing::{get, post},
};
use futures::{StreamExt, stream};
use http::request::Parts;
use rmcp::{
    ServerHandler,
    model::{ClientJsonRpcMessage, GetExtensions},
};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use self::session::{InboundError, SessionEntry, SessionTable};
use super::jsonrpc::{BadMessage, Incoming};

/// The path of the event stream that opens a session.
pub const SSE_PATH: &str = "/sse";
/// The path messages are POSTed to, unless configured otherwise.
pub const MESSAGES_PATH: &str = "/messages";
/// The query parameter of the endpoint URI that names the session.
pub const SESSION_QUERY_PARAM: &str = "sessionId";

/// Computes who a request belongs to (for example the authenticated subject), so that a
/// session can only be used by whoever opened it.
pub type OwnerKeyFn = dyn Fn(&Parts) -> Option<String> + Send + Sync;

/// Looks at a POSTed message before its session gets it, and may add to the request parts
/// the handler will see (`context.extensions`).
pub type MessageHookFn = dyn Fn(&mut Parts, &Incoming<'_>) + Send + Sync;

/// How the legacy SSE endpoints behave.
#[derive(Clone)]
pub struct LegacySseConfig {
    /// Path of the POST endpoint, as routed by this router (`/messages`). The endpoint event
    /// prefixes it with the path this router is nested under, if any.
    pub messages_path: String,
    /// Interval of the keep-alive comments on the event stream.
    pub keep_alive: Duration,
    /// Cancelling this token ends every session and refuses new ones.
    pub cancellation: CancellationToken,
    /// When set, a POST whose key differs from the key of the GET that opened the session is
    /// answered 404, exactly as for an unknown session.
    pub owner_key: Option<Arc<OwnerKeyFn>>,
    /// Called with every well-formed POSTed message and its request parts.
    pub message_hook: Option<Arc<MessageHookFn>>,
}

impl Default for LegacySseConfig {
    fn default() -> Self {
        Self {
            messages_path: MESSAGES_PATH.to_owned(),
            keep_alive: Duration::from_secs(15),
            cancellation: CancellationToken::new(),
            owner_key: None,
            message_hook: None,
        }
    }
}

impl fmt::Debug for LegacySseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LegacySseConfig")
            .field("messages_path", &self.messages_path)
            .field("keep_alive", &self.keep_alive)
            .field("cancelled", &self.cancellation.is_cancelled())
            .field("owner_key", &self.owner_key.is_some())
            .field("message_hook", &self.message_hook.is_some())
            .finish()
    }
}

/// Everything the two routes share.
struct Shared<F> {
    make_handler: F,
    config: LegacySseConfig,
    messages_path: String,
    sessions: Arc<SessionTable>,
}

/// The routes `GET /sse` and `POST {messages_path}`, serving a handler built per session by
/// `make_handler` from the parts of the GET request that opened it.
pub fn router<H, F>(make_handler: F, config: LegacySseConfig) -> Router
where
    F: Fn(&Parts) -> H + Clone + Send + Sync + 'static,
    H: ServerHandler,
{
    let messages_path = normalize_path(&config.messages_path);
    let shared = Arc::new(Shared {
        make_handler,
        messages_path: messages_path.clone(),
        config,
        sessions: Arc::new(SessionTable::default()),
    });
    Router::new()
        .route(SSE_PATH, get(open_session::<H, F>))
        .route(&messages_path, post(post_message::<H, F>))
        .with_state(shared)
}

/// A route path must start with `/`; a configured `messages` becomes `/messages`.
fn normalize_path(path: &str) -> String {
    let trimmed = path.trim();
    if trimmed.starts_with('/') {
        trimmed.to_owned()
    } else {
        format!("/{trimmed}")
    }
}

/// `GET /sse`: opens a session and streams its messages.
async fn open_session<H, F>(State(shared): State<Arc<Shared<F>>>, parts: Parts) -> Response
where
    F: Fn(&Parts) -> H + Clone + Send + Sync + 'static,
    H: ServerHandler,
{
    if shared.config.cancellation.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    let owner = shared.config.owner_key.as_ref().and_then(|key| key(&parts));
    let handler = (shared.make_handler)(&parts);
    let opened = session::open(
        handler,
        owner,
        &shared.sessions,
        shared.config.cancellation.child_token(),
    );

    // The endpoint is relative to the server root, so a router nested under a prefix must
    // name the prefix too, or the client would POST to a path nobody serves.
    let prefix = parts
        .extensions
        .get::<NestedPath>()
        .map(|nested| nested.as_str().trim_end_matches('/').to_owned())
        .unwrap_or_default();
    let endpoint = format!(
        "{prefix}{}?{SESSION_QUERY_PARAM}={}",
        shared.messages_path, opened.id
    );

    let first = stream::once(async move {
        Ok::<_, std::convert::Infallible>(Event::default().event("endpoint").data(endpoint))
    });
    let messages = opened.outbound.filter_map(|message| async move {
        match Event::default().event("message").json_data(&message) {
            Ok(event) => Some(Ok(event)),
            Err(error) => {
                tracing::warn!(%error, "dropping a server message that does not serialize");
                None
            }
        }
    });
    let events = session::CloseOnDrop::new(first.chain(messages), opened.close_guard);
    let sse = Sse::new(events).keep_alive(KeepAlive::new().interval(shared.config.keep_alive));
    // Proxies such as nginx buffer responses unless told not to, which would hold back
    // every message of the session.
    (
        [(header::HeaderName::from_static("x-accel-buffering"), "no")],
        sse,
    )
        .into_response()
}

#[derive(Deserialize)]
struct SessionQuery {
    #[serde(rename = "sessionId")]
    session_id: Option<String>,
}

/// `POST {messages_path}?sessionId=…`: hands one message to its session.
async fn post_message<H, F>(
    State(shared): State<Arc<Shared<F>>>,
    parts: Parts,
    body: Bytes,
) -> Response
where
    F: Fn(&Parts) -> H + Clone + Send + Sync + 'static,
    H: ServerHandler,
{
    let session_id = match Query::<SessionQuery>::try_from_uri(&parts.uri) {
        Ok(Query(SessionQuery {
            session_id: Some(id),
        })) => id,
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                format!("missing {SESSION_QUERY_PARAM}"),
            )
                .into_response();
        }
    };
    let Some(entry) = shared.sessions.get(&session_id) else {
        return session_not_found();
    };
    if !owner_matches(&shared.config, &entry, &parts) {
        return session_not_found();
    }
    let (incoming, mut message) = match parse_message(&body) {
        Ok(parsed) => parsed,
        Err(bad) => return bad.into_response(),
    };
    let mut parts = parts;
    if let Some(hook) = &shared.config.message_hook {
        hook(&mut parts, &incoming);
    }
    attach_parts(&mut message, parts);
    match entry.deliver(message).await {
        Ok(()) => (StatusCode::ACCEPTED, "Accepted").into_response(),
        Err(InboundError::Closed) => session_not_found(),
        Err(InboundError::Busy) => {
            (StatusCode::SERVICE_UNAVAILABLE, "session busy").into_response()
        }
    }
}

/// The same answer for a session that never existed, has ended, or belongs to someone else,
/// so that a caller cannot tell them apart.
fn session_not_found() -> Response {
    (StatusCode::NOT_FOUND, "session not found").into_response()
}

fn owner_matches(config: &LegacySseConfig, entry: &SessionEntry, parts: &Parts) -> bool {
    match &config.owner_key {
        Some(key) => key(parts) == entry.owner,
        None => true,
    }
}

/// The message of a POST body: as read by the gateway (what is not a message is answered as
/// on `/mcp`, [`super::jsonrpc`]), and as rmcp's type, which a session takes.
fn parse_message(body: &[u8]) -> Result<(Incoming<'_>, ClientJsonRpcMessage), BadMessage> {
    let incoming = super::jsonrpc::parse(body)?;
    // A batch, or a message of no kind rmcp knows.
    let message = serde_json::from_slice::<ClientJsonRpcMessage>(body)
        .map_err(|_| BadMessage::NotAMessage)?;
    Ok((incoming, message))
}

/// Puts the POST's request parts into the message, where rmcp hands them to the handler as
/// `context.extensions`.
fn attach_parts(message: &mut ClientJsonRpcMessage, parts: Parts) {
    match message {
        ClientJsonRpcMessage::Request(request) => {
            request.request.extensions_mut().insert(parts);
        }
        ClientJsonRpcMessage::Notification(notification) => {
            notification.notification.extensions_mut().insert(parts);
        }
        ClientJsonRpcMessage::Response(_) | ClientJsonRpcMessage::Error(_) => {}
    }
}

#[cfg(test)]
mod parse_tests {
    use super::*;

    #[test]
    fn bodies_are_classified() {
        assert!(parse_message(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#).is_ok());
        assert!(
            parse_message(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).is_ok()
        );
        assert_eq!(parse_message(b"{").err(), Some(BadMessage::NotJson));
        assert_eq!(parse_message(b"").err(), Some(BadMessage::NotJson));
        assert_eq!(parse_message(b"nope").err(), Some(BadMessage::NotJson));
        assert_eq!(
            parse_message(br#"{"a":1}"#).err(),
            Some(BadMessage::NotAMessage)
        );
        assert_eq!(parse_message(b"[]").err(), Some(BadMessage::NotAMessage));
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert_eq!(
            parse_message(deep.as_bytes()).err(),
            Some(BadMessage::NotJson)
        );
    }

    #[test]
    fn normalized_paths_start_with_a_slash() {
        assert_eq!(normalize_path("/messages"), "/messages");
        assert_eq!(normalize_path("messages"), "/messages");
        assert_eq!(normalize_path(" /m "), "/m");
    }
}
