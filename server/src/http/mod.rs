//! The HTTP surface of the gateway: every route and the layer stack, in one place.
//!
//! Layers, outermost first: `X-Request-ID` -> request tracing -> `Host`/`Origin` guard ->
//! authentication ([`auth`]) -> routes. The MCP endpoint reads its body itself (bounded by
//! `limits.max_request_bytes`) so it can send plain JSON-RPC callers to [`plain`], answer
//! session calls on [`fast_call`]'s direct path and hand the rest to rmcp's streamable HTTP
//! service. The REST API is [`rest`].

pub mod audit_api;
pub mod auth;
pub mod caller;
pub mod fast_call;
pub mod guard;
pub mod info;
pub mod legacy_sse;
pub mod mcp;
pub mod mcp_sessions;
pub mod plain;
pub mod rest;
pub mod sessions;

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;
use tower_http::trace::TraceLayer;

use crate::error::ApiError;
use crate::gateway::Gateway;
use mcp::{ListServerFilter, McpHandler};
use mcp_sessions::McpSessions;

type McpService = StreamableHttpService<McpHandler, McpSessions>;

/// Shared by every `/mcp` request (behind an `Arc`: axum clones the state per request).
struct McpEndpoint {
    gateway: Arc<Gateway>,
    service: McpService,
    sessions: Arc<McpSessions>,
    owners: Arc<sessions::SessionOwners>,
}

/// Build the whole router. `shutdown` ends open MCP streams when the gateway stops.
/// `auth` decides who the caller is (see [`auth`]).
pub fn router(gateway: Arc<Gateway>, auth: auth::AuthState, shutdown: CancellationToken) -> Router {
    let settings = gateway.settings().clone();
    let max_request_bytes = gateway.config().limits.max_request_bytes;
    let factory_gateway = Arc::clone(&gateway);
    let session_manager = Arc::new(McpSessions::default());
    let owners = Arc::new(sessions::SessionOwners::default());
    owners.spawn_pruner(Arc::clone(&session_manager), shutdown.child_token());
    let service = StreamableHttpService::new(
        move || Ok(McpHandler::new(Arc::clone(&factory_gateway))),
        Arc::clone(&session_manager),
        StreamableHttpServerConfig::default()
            // Host and Origin are checked by our own guard, for every route alike.
            .disable_allowed_hosts()
            .disable_allowed_origins()
            .with_max_request_body_bytes(max_request_bytes)
            .with_cancellation_token(shutdown.child_token()),
    );
    let endpoint = McpEndpoint {
        gateway: Arc::clone(&gateway),
        service,
        sessions: session_manager,
        owners,
    };

    let sse_gateway = Arc::clone(&gateway);
    let legacy = legacy_sse::router(
        move |_parts: &http::request::Parts| McpHandler::new(Arc::clone(&sse_gateway)),
        legacy_sse::LegacySseConfig {
            cancellation: shutdown.child_token(),
            // An SSE session, like an MCP session, belongs to the subject that opened it.
            owner_key: Some(Arc::new(|parts: &http::request::Parts| {
                Some(sessions::subject_of(&parts.extensions).to_owned())
            })),
            // `tools/list` narrowed by `params.server` (SPEC §12), as on `/mcp`.
            message_hook: Some(Arc::new(|parts: &mut http::request::Parts, body: &[u8]| {
                if let Some(server) = list_server_filter(body) {
                    parts.extensions.insert(ListServerFilter(server));
                }
            })),
            ..Default::default()
        },
    );

    let guard = Arc::new(guard::RequestGuard::new(
        &settings.allowed_hosts,
        &settings.allowed_origins,
    ));

    let routes = Router::new()
        .route("/", get(info::root))
        .route("/health", get(info::health))
        .route("/metrics", get(info::metrics))
        .with_state(Arc::clone(&gateway))
        .route("/mcp", any(mcp_endpoint).with_state(Arc::new(endpoint)))
        .merge(legacy)
        .merge(match gateway.audit().reader() {
            // The auditor's reader pool, shared by every `/audit` request.
            Some(reader) => audit_api::routes(reader),
            None => audit_api::routes_from_settings(&settings),
        })
        .merge(rest::router(Arc::clone(&gateway)))
        .merge(auth::routes(auth.clone()));

    // The layers every request passes, outermost first, around the routes as one stack:
    // `Router::layer` would wrap each route in each layer, and every request would clone and
    // box its route's whole stack layer by layer (2.4 % of the instructions of a call).
    // - X-Request-ID: a usable caller id is kept, else a UUID v4 made, and copied onto the
    //   response, so that every answer carries it (guard refusals included) and tracing and
    //   every handler see it (header and `RequestId` extension).
    // - Request tracing.
    // - [`front_door`]: the Host/Origin guard, then authentication (a refused host or origin
    //   costs no token work), which puts the caller's `Principal` in the request extensions
    //   for every handler. One middleware, not two: each costs every request a clone of the
    //   stack inside it and a boxed future.
    let layered = ServiceBuilder::new()
        .layer(rest::request_id::RequestIdLayer)
        .layer(TraceLayer::new_for_http())
        .layer(axum::middleware::from_fn_with_state(
            FrontDoor { guard, auth },
            front_door,
        ))
        .service(routes);
    Router::new().fallback_service(layered)
}

/// What a request passes after tracing and before its route.
#[derive(Clone)]
struct FrontDoor {
    guard: Arc<guard::RequestGuard>,
    auth: auth::AuthState,
}

/// The Host/Origin guard, then authentication, as one middleware (see [`router`]).
async fn front_door(State(front): State<FrontDoor>, request: Request, next: Next) -> Response {
    if let Some(refusal) = front.guard.refusal(&request) {
        return refusal;
    }
    match auth::admit(&front.auth, request).await {
        Ok(request) => next.run(request).await,
        Err(refusal) => refusal,
    }
}

/// `/mcp`: plain JSON-RPC callers are answered here; MCP clients go to rmcp, within the
/// sessions they own.
async fn mcp_endpoint(State(endpoint): State<Arc<McpEndpoint>>, request: Request) -> Response {
    let subject = sessions::subject_of(request.extensions()).to_owned();
    let session = request
        .headers()
        .get(sessions::SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(session) = &session
        && endpoint.owners.check(session, &subject) == sessions::Ownership::Foreign
    {
        tracing::warn!(%subject, "request with another subject's MCP session refused");
        return ApiError::NotFound("session not found".into()).into_response();
    }
    let is_delete = request.method() == http::Method::DELETE;
    // Boxed: the call's state machine is large, and every layer above would move it.
    let response = Box::pin(route_mcp(&endpoint, request)).await;
    match &session {
        Some(session) if is_delete => endpoint.owners.release(session),
        Some(_) => {}
        None => {
            if let Some(created) = response
                .headers()
                .get(sessions::SESSION_HEADER)
                .and_then(|v| v.to_str().ok())
            {
                endpoint.owners.claim(created, &subject);
            }
        }
    }
    response
}

async fn route_mcp(endpoint: &McpEndpoint, request: Request) -> Response {
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
    if plain::is_plain_request(&parts.headers, &bytes) {
        let ctx = caller::request_context(
            endpoint.gateway.settings(),
            &parts,
            crate::principal::Transport::Mcp,
        );
        return plain::serve(Arc::clone(&endpoint.gateway), ctx, &bytes).await;
    }
    if fast_call::headers_qualify(&parts.headers)
        && let fast_call::Routed::Answered(response) =
            fast_call::route(&endpoint.gateway, &endpoint.sessions, &parts, &bytes).await
    {
        return response;
    }
    // rmcp answers a JSON body that does not parse with 415 and plain text; JSON-RPC's answer
    // is -32700, as outside a session. (Calls answered above were parsed already.)
    if fast_call::content_type_is_json(&parts.headers)
        && serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_err()
    {
        return plain::parse_error();
    }
    if let Some(server) = list_server_filter(&bytes) {
        parts.extensions.insert(ListServerFilter(server));
    }
    let request = Request::from_parts(parts, Body::from(bytes));
    endpoint.service.handle(request).await.into_response()
}

/// `params.server` of a `tools/list` request (SPEC §12), which rmcp's typed params drop.
/// The substring test keeps the full parse off the path of every other request.
fn list_server_filter(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    if !text.contains("tools/list") || !text.contains("\"server\"") {
        return None;
    }
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    if value.get("method")?.as_str()? != "tools/list" {
        return None;
    }
    Some(value.get("params")?.get("server")?.as_str()?.to_owned())
}
