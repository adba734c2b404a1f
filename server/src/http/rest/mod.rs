//! The REST API of the gateway (SPEC §7, §12, §13): tool listing and invocation, server
//! inventory, direct and broadcast invocation by backend names, and the redacted config.
//!
//! Every route goes through the same [`Gateway`] operations as MCP callers
//! ([`Gateway::list_tools`], [`Gateway::call_tool`], [`Gateway::broadcast`]), so limits,
//! truncation and (later) authorization and audit apply alike whichever door a call used.
//! Every error is `{"error":{"code","message"}}` ([`ApiError`]); bodies and query strings are
//! read by [`extract`], never by axum's plain-text rejections.
//!
//! | route | module |
//! |---|---|
//! | `GET /tools`, `POST /tools/{tool_name}/invoke` | [`tools`] |
//! | `GET /mcp/servers`, `GET /mcp/server/{name}/info`, `GET /mcp/list-tools` | [`servers`] |
//! | `POST /mcp/invoke`, `POST /mcp/invoke-broadcast` | [`invoke`] |
//! | `GET /config` | [`config_view`] |
//!
//! [`ApiError`]: crate::error::ApiError

pub mod bodies;
pub mod config_view;
pub mod extract;
pub mod invoke;
pub mod keys;
pub mod llm_key;
pub mod outcome;
pub mod request_id;
pub mod servers;
pub mod tools;

use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

use crate::gateway::Gateway;

/// Every REST route, with the gateway as state. Merged into [`super::router`] before its
/// layers, so the `Host`/`Origin` guard, tracing and `X-Request-ID` cover these routes too.
pub fn router(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route("/tools", get(tools::list))
        .route("/tools/{tool_name}/invoke", post(tools::invoke))
        .route("/mcp/servers", get(servers::list))
        .route("/mcp/server/{name}/info", get(servers::info))
        .route("/mcp/list-tools", get(servers::list_tools))
        .route("/mcp/invoke", post(invoke::invoke))
        .route("/mcp/invoke-broadcast", post(invoke::broadcast))
        // Admin only (checked in the handler).
        .route("/config", get(config_view::show))
        .route("/api/keys", get(keys::list).post(keys::create))
        .route("/api/keys/{id}", axum::routing::delete(keys::revoke))
        .route(
            "/api/llm/key",
            get(llm_key::show).put(llm_key::put).delete(llm_key::remove),
        )
        .with_state(gateway)
}
