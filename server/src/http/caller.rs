//! Who is calling and how: the [`RequestContext`] every gateway operation takes, built from
//! what the layer stack put in the request (principal, request id, peer address).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use http::request::Parts;

use super::mcp::SESSION_HEADER;
use super::rest::request_id::request_id_of;
use crate::config::Settings;
use crate::gateway::Gateway;
use crate::principal::{Principal, RequestContext, Transport};

/// `X-Client: mcpgw` marks calls of the CLI (audited with `transport: "cli"`, SPEC §12).
const CLIENT_HEADER: &str = "x-client";

/// Build the context of a request from its parts' headers and extensions.
pub fn request_context(settings: &Settings, parts: &Parts, transport: Transport) -> RequestContext {
    let principal = match parts.extensions.get::<Principal>() {
        Some(principal) => principal.clone(),
        // Auth off: the anonymous caller with ANONYMOUS_ROLES. Auth on and no principal can
        // only mean a route outside the authentication layer: grant nothing.
        None if !settings.auth_enabled => Principal::anonymous(&settings.anonymous_roles),
        None => Principal::anonymous(&[]),
    };
    let transport = match transport {
        Transport::Rest
            if parts
                .headers
                .get(CLIENT_HEADER)
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"mcpgw")) =>
        {
            Transport::Cli
        }
        other => other,
    };
    let session_id = parts
        .headers
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| legacy_sse_session(parts));
    RequestContext {
        principal,
        request_id: request_id_of(&parts.extensions)
            .map(str::to_owned)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        session_id,
        span: crate::telemetry::request_span(&parts.extensions),
        client_ip: parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip().to_string()),
        transport,
        endpoint: crate::scope::Endpoint {
            scope: parts
                .extensions
                .get::<crate::scope::Scope>()
                .cloned()
                .unwrap_or_default(),
            // A view is the MCP endpoint's; REST routes have their own queries.
            view: match transport {
                Transport::Mcp => crate::scope::View::of_query(parts.uri.query()),
                Transport::Rest | Transport::Cli => crate::scope::View::Full,
            },
        },
    }
}

/// The `sessionId` of a legacy SSE `POST /messages?sessionId=…`.
fn legacy_sse_session(parts: &Parts) -> Option<String> {
    let query = parts.uri.query()?;
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key == super::legacy_sse::SESSION_QUERY_PARAM).then(|| value.to_owned())
    })
}

/// Extractor for REST handlers.
pub struct Caller(pub RequestContext);

impl FromRequestParts<Arc<Gateway>> for Caller {
    type Rejection = Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        gateway: &Arc<Gateway>,
    ) -> Result<Self, Self::Rejection> {
        Ok(Caller(request_context(
            gateway.settings(),
            parts,
            Transport::Rest,
        )))
    }
}
