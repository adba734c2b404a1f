//! The MCP endpoint `/mcp`: one dispatcher for every era and kind of client.
//!
//! A POST body is read once into a JSON-RPC message ([`jsonrpc::parse`]); what is not one is
//! answered here (400, `-32700` / `-32600`). Then, by headers and message:
//! - plain JSON-RPC (no session, no protocol header, not opening a session) → [`plain`];
//! - `tools/call` in a session → [`session_calls`], which answers it without rmcp's session
//!   machinery (falling back to rmcp for what it leaves alone);
//! - everything else — `initialize`, the 2026-07-28 stateless era, `GET` streams, `DELETE` —
//!   → rmcp's streamable HTTP service, serving [`handler::McpHandler`] within sessions from
//!   [`sessions::McpSessions`].
//!
//! Sessions belong to the subject that opened them, on the endpoint it opened them on
//! ([`owners`]).
//!
//! The scoped endpoints `/mcp/tag/<tag>` and `/mcp/server/<name>` (SPEC §14) are this same
//! endpoint with a [`Scope`] in the request's extensions, which every list and call reads
//! through the caller's context; an unknown scope is 404.

pub mod handler;
pub mod owners;
pub mod plain;
pub mod session_calls;
pub mod sessions;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use http::header;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;

use super::caller;
use super::jsonrpc::{self, Incoming};
use crate::error::ApiError;
use crate::gateway::Gateway;
use crate::principal::Transport;
use crate::scope::Scope;
use handler::{ListServerFilter, McpHandler};
use owners::{Ownership, SessionOwners};
use sessions::McpSessions;

/// The MCP endpoint's path.
pub const PATH: &str = "/mcp";
pub const SESSION_HEADER: &str = "mcp-session-id";
pub const PROTOCOL_VERSION_HEADER: &str = "mcp-protocol-version";

type McpService = StreamableHttpService<McpHandler, McpSessions>;

/// Shared by every `/mcp` request (behind an `Arc`: axum clones the state per request).
struct McpEndpoint {
    gateway: Arc<Gateway>,
    service: McpService,
    sessions: Arc<McpSessions>,
    owners: Arc<SessionOwners>,
}

/// The `/mcp` route. `shutdown` ends open MCP streams when the gateway stops.
pub fn routes(gateway: Arc<Gateway>, shutdown: &CancellationToken) -> Router {
    let max_request_bytes = gateway.config().limits.max_request_bytes;
    let factory_gateway = Arc::clone(&gateway);
    let sessions = Arc::new(McpSessions::default());
    let owners = Arc::new(SessionOwners::default());
    owners.spawn_pruner(Arc::clone(&sessions), shutdown.child_token());
    let service = StreamableHttpService::new(
        move || Ok(McpHandler::new(Arc::clone(&factory_gateway))),
        Arc::clone(&sessions),
        StreamableHttpServerConfig::default()
            // Host and Origin are checked by our own guard, for every route alike.
            .disable_allowed_hosts()
            .disable_allowed_origins()
            .with_max_request_body_bytes(max_request_bytes)
            .with_cancellation_token(shutdown.child_token()),
    );
    let endpoint = McpEndpoint {
        gateway,
        service,
        sessions,
        owners,
    };
    Router::new()
        .route(PATH, any(endpoint_handler))
        .route(SCOPED_PATH, any(scoped_endpoint_handler))
        .with_state(Arc::new(endpoint))
}

/// The scoped endpoints: `/mcp/tag/<tag>`, `/mcp/server/<name>`.
pub const SCOPED_PATH: &str = "/mcp/{kind}/{name}";

/// `/mcp/tag/<tag>` and `/mcp/server/<name>`: `/mcp` narrowed to a scope the config names
/// and the caller may see (a server hidden from it is as unknown as one not configured).
async fn scoped_endpoint_handler(
    State(endpoint): State<Arc<McpEndpoint>>,
    Path((kind, name)): Path<(String, String)>,
    request: Request,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let scope = Scope::of_path(&kind, &name).filter(|scope| {
        let ctx = caller::request_context(endpoint.gateway.settings(), &parts, Transport::Mcp);
        endpoint.gateway.may_see_scope(&ctx, scope)
    });
    let Some(scope) = scope else {
        return ApiError::NotFound(format!("no MCP endpoint at /mcp/{kind}/{name}"))
            .into_response();
    };
    parts.extensions.insert(scope);
    endpoint_handler(State(endpoint), Request::from_parts(parts, body)).await
}

/// `/mcp` (or a scoped endpoint), within the sessions the caller owns.
async fn endpoint_handler(State(endpoint): State<Arc<McpEndpoint>>, request: Request) -> Response {
    // A session belongs to its subject on the endpoint it was opened on.
    let scope = request
        .extensions()
        .get::<Scope>()
        .cloned()
        .unwrap_or_default();
    let subject = format!(
        "{}\u{0}{}",
        owners::subject_of(request.extensions()),
        scope.path()
    );
    let session = request
        .headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(session) = &session
        && endpoint.owners.check(session, &subject) == Ownership::Foreign
    {
        tracing::warn!(%subject, "request with another subject's MCP session refused");
        return ApiError::NotFound("session not found".into()).into_response();
    }
    let is_delete = request.method() == http::Method::DELETE;
    // Boxed: the call's state machine is large, and every layer above would move it.
    let response = Box::pin(dispatch(&endpoint, request)).await;
    match &session {
        Some(session) if is_delete => endpoint.owners.release(session),
        Some(_) => {}
        None => {
            if let Some(created) = response
                .headers()
                .get(SESSION_HEADER)
                .and_then(|v| v.to_str().ok())
            {
                endpoint.owners.claim(created, &subject);
            }
        }
    }
    response
}

/// See the module docs.
async fn dispatch(endpoint: &McpEndpoint, request: Request) -> Response {
    if request.method() != http::Method::POST {
        return endpoint.service.handle(request).await.into_response();
    }
    let limit = endpoint.gateway.config().limits.max_request_bytes;
    let (mut parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return ApiError::PayloadTooLarge(format!(
                "request body is larger than {limit} bytes (limits.max_request_bytes)"
            ))
            .into_response();
        }
    };
    let speaks_streamable_http = parts.headers.contains_key(SESSION_HEADER)
        || parts.headers.contains_key(PROTOCOL_VERSION_HEADER);
    // A streamable HTTP client that sends anything but JSON gets rmcp's 415; a plain caller
    // (`curl -d` sends a form type) is read as JSON whatever it says.
    if speaks_streamable_http && !content_type_is_json(&parts.headers) {
        let request = Request::from_parts(parts, Body::from(bytes));
        return endpoint.service.handle(request).await.into_response();
    }
    let message = match jsonrpc::parse(&bytes) {
        Ok(message) => message,
        Err(bad) => return bad.into_response(),
    };
    if let Some(method) = message.method() {
        crate::telemetry::record_mcp_method(&parts.extensions, method);
    }
    if plain::is_plain_request(&parts.headers, &message) {
        let ctx = caller::request_context(endpoint.gateway.settings(), &parts, Transport::Mcp);
        return plain::serve(Arc::clone(&endpoint.gateway), ctx, message).await;
    }
    if let Some(session) = parts
        .headers
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
    {
        match &message {
            Incoming::Request {
                id, method, params, ..
            } if method == "tools/call" && session_calls::headers_qualify(&parts.headers) => {
                let routed = session_calls::route(
                    &endpoint.gateway,
                    &endpoint.sessions,
                    &parts,
                    session,
                    id.clone(),
                    *params,
                )
                .await;
                if let session_calls::Routed::Answered(response) = routed {
                    return response;
                }
            }
            Incoming::Notification { method, params } if method == "notifications/cancelled" => {
                session_calls::cancelled(&endpoint.sessions, session, *params);
            }
            _ => {}
        }
    }
    if let Some(server) = message.list_server() {
        parts.extensions.insert(ListServerFilter(server));
    }
    drop(message);
    let request = Request::from_parts(parts, Body::from(bytes));
    endpoint.service.handle(request).await.into_response()
}

/// Whether the request says its body is JSON.
pub fn content_type_is_json(headers: &http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            let essence = v.split_once(';').map_or(v, |(essence, _)| essence);
            essence.trim().eq_ignore_ascii_case("application/json")
        })
}
