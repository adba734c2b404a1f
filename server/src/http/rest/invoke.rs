//! `POST /mcp/invoke?mcp_server=S` and `POST /mcp/invoke-broadcast`: calls by backend names,
//! answered in the seed's shapes with the unchanged MCP results beside them (SPEC §13).
//!
//! Both go through the gateway's own call paths: a direct call is routed by the exposed name
//! the catalog gives `(S, T)`, so limits, truncation and (later) authorization and audit
//! apply exactly as for MCP callers.

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use rmcp::model::CallToolResult;
use serde::Serialize;
use serde_json::Value;

use super::bodies::{InvokeBody, broadcast_request};
use super::extract::{ApiQuery, RawJsonBody};
use super::outcome::api_error;
use super::servers::{RawServerQuery, unknown_server};
use crate::catalog::Catalog;
use crate::config::Config;
use crate::error::ApiError;
use crate::gateway::{Downstream, Gateway};
use crate::http::caller::Caller;
use crate::result_shape::payload;

/// The answer of `/mcp/invoke`.
#[derive(Debug, Serialize)]
struct InvokeAnswer<'a> {
    /// The tool ran and did not report `isError`.
    success: bool,
    tool_name: &'a str,
    mcp_server: &'a str,
    /// The tool's payload (SPEC §13).
    result: Value,
    call_result: &'a CallToolResult,
    execution_time_ms: u64,
}

/// `POST /mcp/invoke?mcp_server=S` with `{"tool_name": T, "parameters": {…}}`.
pub async fn invoke(
    State(gateway): State<Arc<Gateway>>,
    Caller(caller): Caller,
    ApiQuery(query): ApiQuery<RawServerQuery>,
    RawJsonBody(raw): RawJsonBody,
) -> Result<Response, ApiError> {
    let server = query.required()?;
    let body = InvokeBody::from_raw(raw)?;
    let exposed = exposed_name(
        &gateway.config(),
        &gateway.catalog(),
        &server,
        &body.tool_name,
    )?;
    let started = Instant::now();
    let arguments = body.arguments;
    let result = gateway
        .call_tool(&caller, &exposed, arguments, Downstream::default())
        .await
        .map_err(api_error)?;
    let execution_time_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let answer = InvokeAnswer {
        success: result.is_error != Some(true),
        tool_name: &body.tool_name,
        mcp_server: &server,
        result: payload(&result),
        call_result: &result,
        execution_time_ms,
    };
    Ok(Json(answer).into_response())
}

/// The exposed name of backend tool `tool` of `server`. A server that is not configured, or
/// whose discovered tools do not include `tool`, is 404; a configured server whose tools were
/// never discovered (disabled, or down since the start) is 503: the tool may well exist.
pub fn exposed_name(
    config: &Config,
    catalog: &Catalog,
    server: &str,
    tool: &str,
) -> Result<String, ApiError> {
    let Some(server_config) = config.server(server) else {
        return Err(unknown_server(server));
    };
    if let Some(exposed) = catalog.exposed_name(server, tool) {
        return Ok(exposed.to_owned());
    }
    if catalog.direct_tools_of(server).next().is_some() {
        return Err(ApiError::NotFound(format!(
            "server {server} has no tool {tool}"
        )));
    }
    Err(ApiError::BackendUnavailable(if server_config.enabled {
        format!("server {server} is unavailable: its tools were never discovered")
    } else {
        format!("server {server} is disabled")
    }))
}

/// `POST /mcp/invoke-broadcast`: 200 with the report once dispatched, even when every target
/// failed; 404 for an unknown server in `mcp_servers` or no target in scope.
pub async fn broadcast(
    State(gateway): State<Arc<Gateway>>,
    Caller(caller): Caller,
    RawJsonBody(raw): RawJsonBody,
) -> Result<Json<Value>, ApiError> {
    let request = broadcast_request(raw)?;
    let report = gateway
        .broadcast(&caller, request, Downstream::default())
        .await
        .map_err(api_error)?;
    Ok(Json(report.to_json()))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rmcp::model::{JsonObject, Tool};

    use super::*;
    use crate::catalog::{self, ServerView};
    use crate::config::{DEFAULT_SERVER_TIMEOUT, ServerConfig, TransportConfig};

    fn server(name: &str, enabled: bool) -> ServerConfig {
        ServerConfig {
            name: name.to_owned(),
            transport: TransportConfig::Http {
                url: "http://127.0.0.1:1/mcp".to_owned(),
            },
            timeout: DEFAULT_SERVER_TIMEOUT,
            enabled,
            description: None,
            tags: vec![],
            forward_identity: false,
            auth: None,
        }
    }

    /// alpha: tools discovered (echo); beta: enabled, never discovered; gamma: disabled.
    fn fixture() -> (Config, Catalog) {
        let config = Config {
            servers: vec![
                server("alpha", true),
                server("beta", true),
                server("gamma", false),
            ],
            ..Config::default()
        };
        let tools = vec![Tool::new("echo", "Echo", Arc::new(JsonObject::new()))];
        let views = [
            ServerView {
                name: "alpha",
                tags: &[],
                healthy: false,
                tools: Some(&tools),
            },
            ServerView {
                name: "beta",
                tags: &[],
                healthy: false,
                tools: None,
            },
        ];
        (config, catalog::build(&views, 64))
    }

    fn status_and_message(result: Result<String, ApiError>) -> (u16, String) {
        match result {
            Ok(name) => (200, name),
            Err(error) => (error.status_and_code().0.as_u16(), error.to_string()),
        }
    }

    #[test]
    fn a_discovered_tool_resolves_even_while_its_server_is_down() {
        let (config, catalog) = fixture();
        assert_eq!(
            status_and_message(exposed_name(&config, &catalog, "alpha", "echo")),
            (200, "alpha__echo".to_owned())
        );
    }

    #[test]
    fn an_unknown_server_is_404() {
        let (config, catalog) = fixture();
        assert_eq!(
            status_and_message(exposed_name(&config, &catalog, "zeta", "echo")),
            (404, "unknown server: zeta".to_owned())
        );
    }

    #[test]
    fn an_unknown_tool_of_a_discovered_server_is_404() {
        let (config, catalog) = fixture();
        assert_eq!(
            status_and_message(exposed_name(&config, &catalog, "alpha", "nope")),
            (404, "server alpha has no tool nope".to_owned())
        );
    }

    #[test]
    fn a_server_never_discovered_is_503() {
        let (config, catalog) = fixture();
        let (status, message) = status_and_message(exposed_name(&config, &catalog, "beta", "echo"));
        assert_eq!(status, 503);
        assert!(message.contains("never discovered"), "{message}");
        assert_eq!(
            status_and_message(exposed_name(&config, &catalog, "gamma", "echo")),
            (503, "server gamma is disabled".to_owned())
        );
    }
}
