//! `GET /` (what this is and where things are) and `GET /health` (SPEC §7, §12).

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::gateway::Gateway;

pub async fn root() -> Json<Value> {
    Json(json!({
        "name": "secure-mcp-gateway",
        "version": env!("CARGO_PKG_VERSION"),
        "endpoints": {
            "mcp": "/mcp",
            "sse": "/sse",
            "messages": "/messages",
            "health": "/health",
        },
    }))
}

/// 200 while the gateway serves; counts enabled servers only (SPEC §12).
pub async fn health(State(gateway): State<Arc<Gateway>>) -> Json<Value> {
    let upstreams = gateway.pool().upstreams();
    let healthy = upstreams.values().filter(|u| u.state().healthy()).count();
    Json(json!({
        "status": "ok",
        "servers": {"healthy": healthy, "total": upstreams.len()},
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
