//! `GET /mcp/servers`, `GET /mcp/server/{name}/info` and `GET /mcp/list-tools`: the configured
//! backends, their state, their handshake and their own tool lists (SPEC §7, §12).
//!
//! Every configured server is shown, disabled ones too, to admins; callers without `admin`
//! see only the servers where they may call a tool, and only those tools (SPEC §13) — others
//! are 404, as if they did not exist.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::extract::{ApiPath, ApiQuery};
use super::tools::ToolSummary;
use crate::error::ApiError;
use crate::gateway::{BackendInfo, Gateway, ServerSummary};
use crate::http::caller::Caller;

/// `?mcp_server=S` as sent; checked by [`ServerQuery::required`].
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RawServerQuery {
    pub mcp_server: Option<String>,
}

impl RawServerQuery {
    /// The named server, or 400 when the parameter is missing or empty.
    pub fn required(self) -> Result<String, ApiError> {
        match self.mcp_server {
            Some(server) if !server.is_empty() => Ok(server),
            _ => Err(ApiError::BadRequest(
                "query parameter mcp_server is required".to_owned(),
            )),
        }
    }
}

pub fn unknown_server(name: &str) -> ApiError {
    ApiError::NotFound(format!("unknown server: {name}"))
}

#[derive(Debug, Serialize)]
struct ServerList {
    servers: Vec<ServerSummary>,
}

/// `GET /mcp/servers`.
pub async fn list(
    State(gateway): State<Arc<Gateway>>,
    Caller(caller): Caller,
) -> Json<impl Serialize> {
    Json(ServerList {
        servers: gateway.servers(&caller),
    })
}

/// The backend's `initialize` answer, as `server_info` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HandshakeInfo<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub protocol_version: &'a str,
}

impl<'a> From<&'a BackendInfo> for HandshakeInfo<'a> {
    fn from(info: &'a BackendInfo) -> Self {
        HandshakeInfo {
            name: &info.name,
            version: &info.version,
            protocol_version: &info.protocol_version,
        }
    }
}

/// One backend tool with the name callers use for it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BackendToolSummary<'a> {
    /// The backend's own name.
    #[serde(flatten)]
    pub tool: ToolSummary<'a>,
    /// `null` while the catalog has not (yet) exposed it.
    pub exposed_name: Option<&'a str>,
}

#[derive(Debug, Serialize)]
struct ServerInfo<'a> {
    #[serde(flatten)]
    summary: &'a ServerSummary,
    /// `null` when the server never completed a handshake.
    server_info: Option<HandshakeInfo<'a>>,
    tools: Vec<BackendToolSummary<'a>>,
}

/// `GET /mcp/server/{name}/info`: the server as `/mcp/servers` shows it, its handshake and
/// its tools.
pub async fn info(
    State(gateway): State<Arc<Gateway>>,
    Caller(caller): Caller,
    ApiPath(name): ApiPath<String>,
) -> Result<Response, ApiError> {
    let summary = gateway
        .servers(&caller)
        .into_iter()
        .find(|server| server.name == name)
        .ok_or_else(|| unknown_server(&name))?;
    let (tools, handshake) = gateway.backend_tools(&caller, &name).unwrap_or_default();
    let catalog = gateway.catalog();
    let body = ServerInfo {
        summary: &summary,
        server_info: handshake.as_ref().map(HandshakeInfo::from),
        tools: tools
            .iter()
            .map(|tool| BackendToolSummary {
                tool: ToolSummary::from(tool),
                exposed_name: catalog.exposed_name(&name, &tool.name),
            })
            .collect(),
    };
    Ok(Json(body).into_response())
}

#[derive(Debug, Serialize)]
struct BackendToolList<'a> {
    mcp_server: &'a str,
    tools: Vec<ToolSummary<'a>>,
    count: usize,
}

/// `GET /mcp/list-tools?mcp_server=S`: the server's tools under their backend names.
pub async fn list_tools(
    State(gateway): State<Arc<Gateway>>,
    Caller(caller): Caller,
    ApiQuery(query): ApiQuery<RawServerQuery>,
) -> Result<Response, ApiError> {
    let server = query.required()?;
    let (tools, _) = gateway
        .backend_tools(&caller, &server)
        .ok_or_else(|| unknown_server(&server))?;
    let body = BackendToolList {
        mcp_server: &server,
        tools: tools.iter().map(ToolSummary::from).collect(),
        count: tools.len(),
    };
    Ok(Json(body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    use rmcp::model::{JsonObject, Tool};
    use serde_json::json;

    #[test]
    fn the_server_query_is_required() {
        let present = RawServerQuery {
            mcp_server: Some("alpha".to_owned()),
        };
        assert_eq!(present.required().ok().as_deref(), Some("alpha"));
        for missing in [None, Some(String::new())] {
            let query = RawServerQuery {
                mcp_server: missing,
            };
            let error = query.required().err().map(|e| e.to_string());
            assert_eq!(
                error.as_deref(),
                Some("query parameter mcp_server is required")
            );
        }
    }

    #[test]
    fn a_backend_tool_shows_its_exposed_name_beside_its_own() {
        let tool = Tool::new("echo", "Echo", Arc::new(JsonObject::new()));
        let value = serde_json::to_value(BackendToolSummary {
            tool: ToolSummary::from(&tool),
            exposed_name: Some("alpha__echo"),
        })
        .unwrap_or_default();
        assert_eq!(
            value,
            json!({
                "name": "echo",
                "exposed_name": "alpha__echo",
                "description": "Echo",
                "inputSchema": {},
            })
        );
    }

    #[test]
    fn server_info_adds_the_handshake_and_tools_to_the_summary() {
        let summary = ServerSummary {
            name: "alpha".to_owned(),
            kind: "http",
            description: None,
            tags: vec!["prod".to_owned()],
            enabled: true,
            healthy: true,
            tool_count: 0,
            last_error: None,
        };
        let backend = BackendInfo {
            name: "mock".to_owned(),
            version: "1.0".to_owned(),
            protocol_version: "2025-06-18".to_owned(),
        };
        let value = serde_json::to_value(ServerInfo {
            summary: &summary,
            server_info: Some(HandshakeInfo::from(&backend)),
            tools: vec![],
        })
        .unwrap_or_default();
        assert_eq!(
            value,
            json!({
                "name": "alpha", "type": "http", "description": null, "tags": ["prod"],
                "enabled": true, "healthy": true, "tool_count": 0, "last_error": null,
                "server_info": {"name": "mock", "version": "1.0", "protocol_version": "2025-06-18"},
                "tools": [],
            })
        );
    }

    #[test]
    fn unknown_servers_are_404() {
        let (status, code) = unknown_server("nope").status_and_code();
        assert_eq!((status.as_u16(), code), (404, "not_found"));
        assert_eq!(unknown_server("nope").to_string(), "unknown server: nope");
    }
}
