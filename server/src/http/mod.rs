//! The HTTP surface of the gateway: every route and the layer stack, in one place.
//!
//! Layers, outermost first: `X-Request-ID` -> request tracing -> `Host`/`Origin` guard ->
//! authentication ([`auth`]) -> routes. The MCP endpoint is [`mcp`], its legacy HTTP+SSE
//! twin [`legacy_sse`] (both read JSON-RPC through [`jsonrpc`]); the REST API is [`rest`]; the
//! web console's files are [`ui`].

pub mod anthropic;
pub mod audit_api;
pub mod auth;
pub mod caller;
pub mod guard;
pub mod info;
pub mod jsonrpc;
pub mod legacy_sse;
pub mod mcp;
pub mod rest;
pub mod ui;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::get;
use tokio_util::sync::CancellationToken;
use tower::ServiceBuilder;
use tower_http::trace::TraceLayer;

use crate::gateway::Gateway;
use crate::principal::Transport;
use mcp::handler::{ListServerFilter, McpHandler};

/// The transport a request path belongs to, as audit records name it: the MCP doors (`/mcp`,
/// `GET /sse`, `POST /messages`) are `mcp`, every other path `rest` (the REST paths under
/// `/mcp/…` included).
pub fn transport_of(path: &str) -> Transport {
    if path == mcp::PATH || path == legacy_sse::SSE_PATH || path == legacy_sse::MESSAGES_PATH {
        Transport::Mcp
    } else {
        Transport::Rest
    }
}

/// Build the whole router. `shutdown` ends open MCP streams when the gateway stops.
/// `auth` decides who the caller is (see [`auth`]).
pub fn router(gateway: Arc<Gateway>, auth: auth::AuthState, shutdown: CancellationToken) -> Router {
    let settings = gateway.settings().clone();
    let sse_gateway = Arc::clone(&gateway);
    let legacy = legacy_sse::router(
        move |_parts: &http::request::Parts| McpHandler::new(Arc::clone(&sse_gateway)),
        legacy_sse::LegacySseConfig {
            cancellation: shutdown.child_token(),
            // An SSE session, like an MCP session, belongs to the subject that opened it.
            owner_key: Some(Arc::new(|parts: &http::request::Parts| {
                Some(mcp::owners::subject_of(&parts.extensions).to_owned())
            })),
            // `tools/list` narrowed by `params.server` (SPEC §12), as on `/mcp`.
            message_hook: Some(Arc::new(
                |parts: &mut http::request::Parts, message: &jsonrpc::Incoming<'_>| {
                    if let Some(server) = message.list_server() {
                        parts.extensions.insert(ListServerFilter(server));
                    }
                },
            )),
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
        .merge(mcp::routes(Arc::clone(&gateway), &shutdown))
        .merge(legacy)
        .merge(match gateway.audit().reader() {
            // The auditor's reader pool, shared by every `/audit` request.
            Some(reader) => audit_api::routes(reader),
            None => audit_api::routes_from_settings(&settings),
        })
        .merge(rest::router(Arc::clone(&gateway)))
        .merge(anthropic::routes(Arc::clone(&gateway)))
        .merge(ui::routes(&settings))
        .merge(auth::routes(auth.clone(), {
            let gateway = Arc::clone(&gateway);
            Arc::new(move |scope: &crate::scope::Scope| scope.exists_in(&gateway.config()))
        }));

    // The layers every request passes, outermost first, around the routes as one stack:
    // `Router::layer` would wrap each route in each layer, and every request would clone and
    // box its route's whole stack layer by layer (2.4 % of the instructions of a call).
    // - X-Request-ID: a usable caller id is kept, else a UUID v4 made, and copied onto the
    //   response, so that every answer carries it (guard refusals included) and tracing and
    //   every handler see it (header and `RequestId` extension).
    // - Request logging (tower-http's spans, at DEBUG).
    // - [`front_door`]: the request timer, the Host/Origin guard, the OTLP request span, then
    //   authentication (a refused host or origin costs no token work), which puts the
    //   caller's `Principal` in the request extensions for every handler. One middleware, not
    //   several: each costs every request a clone of the stack inside it and a boxed future.
    let layered = ServiceBuilder::new()
        .layer(rest::request_id::RequestIdLayer)
        .layer(TraceLayer::new_for_http())
        .layer(axum::middleware::from_fn_with_state(
            FrontDoor {
                guard,
                auth,
                gateway: Arc::clone(&gateway),
            },
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
    /// For the request-duration histogram.
    gateway: Arc<Gateway>,
}

/// The Host/Origin guard, then authentication, as one middleware (see [`router`]); every
/// request is timed (`http_request_duration_seconds`), and one that passes the guard gets its
/// trace span.
async fn front_door(State(front): State<FrontDoor>, mut request: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let route = crate::metrics::route_of(request.uri().path());
    let response = match front.guard.refusal(&request) {
        Some(refusal) => refusal,
        None => {
            // The request's trace span (disabled, and free, when traces are off). Not entered:
            // its calls name it as parent through the request context, and wrapping the rest
            // of the request in it would copy that future whole on every request.
            let span = crate::telemetry::start_request(&mut request);
            let response = match auth::admit(&front.auth, request).await {
                Ok(request) => next.run(request).await,
                Err(refusal) => refusal,
            };
            crate::telemetry::finish_request(&span, response.status());
            response
        }
    };
    front
        .gateway
        .metrics()
        .record_request(route, response.status().as_u16(), started.elapsed());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mcp_doors_are_mcp_and_the_rest_api_under_mcp_is_rest() {
        for path in ["/mcp", "/sse", "/messages"] {
            assert_eq!(transport_of(path), Transport::Mcp, "{path}");
        }
        for path in ["/mcp/servers", "/mcp/invoke", "/tools", "/audit", "/"] {
            assert_eq!(transport_of(path), Transport::Rest, "{path}");
        }
    }
}
