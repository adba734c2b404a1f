//! `GET /` (what this is and where things are) and `GET /health` (SPEC §7, §12).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::gateway::Gateway;

pub async fn root(State(gateway): State<Arc<Gateway>>) -> Json<Value> {
    let mut answer = json!({
        "name": "secure-mcp-gateway",
        "version": env!("CARGO_PKG_VERSION"),
        // Where clients reach this gateway (the console's Connect page writes it into configs).
        "public_url": gateway.settings().public_url,
        // Every route of SPEC §7, so that a newcomer (or a script) finds them from here.
        "endpoints": {
            "mcp": "/mcp",
            "mcp_tag": "/mcp/tag/{tag}",
            "mcp_server": "/mcp/server/{name}",
            "mcp_search_view": "/mcp?view=search",
            "sse": "/sse",
            "messages": "/messages",
            "health": "/health",
            "metrics": "/metrics",
            "tools": "/tools",
            "invoke_tool": "/tools/{tool_name}/invoke",
            "servers": "/mcp/servers",
            "server_info": "/mcp/server/{name}/info",
            "list_tools": "/mcp/list-tools",
            "invoke": "/mcp/invoke",
            "invoke_broadcast": "/mcp/invoke-broadcast",
            "audit": "/audit",
            "audit_verify": "/audit/verify",
            "console": "/ui/",
            "config": "/config",
            "whoami": "/whoami",
        },
    });
    // The OAuth documents exist only when there is an issuer to point at.
    if gateway.settings().auth_enabled {
        answer["endpoints"]["protected_resource_metadata"] =
            json!("/.well-known/oauth-protected-resource");
        answer["endpoints"]["authorization_server_metadata"] =
            json!("/.well-known/oauth-authorization-server");
    }
    Json(answer)
}

/// 200 while the gateway serves; counts enabled servers only (SPEC §12).
pub async fn health(State(gateway): State<Arc<Gateway>>) -> Json<Value> {
    let (healthy, total) = gateway.backend_health();
    Json(json!({
        "status": "ok",
        "servers": {"healthy": healthy, "total": total},
    }))
}

/// Prometheus text exposition (no per-user labels).
pub async fn metrics(State(gateway): State<Arc<Gateway>>) -> impl axum::response::IntoResponse {
    (
        [(
            http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        {
            // Read at scrape time: the audit writer owns the figure.
            let pending = i64::try_from(gateway.audit().pending()).unwrap_or(i64::MAX);
            gateway.metrics().audit_pending.set(pending);
            gateway.metrics().render()
        },
    )
}
