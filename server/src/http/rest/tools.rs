//! `GET /tools` and `POST /tools/{tool_name}/invoke`: the exposed tools, as MCP clients see
//! them, over plain HTTP.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use rmcp::model::{CallToolResult, JsonObject, Tool};
use serde::Serialize;

use super::bodies::tool_arguments;
use super::extract::{ApiPath, RawJsonBody};
use super::outcome::api_error;
use crate::error::ApiError;
use crate::gateway::{BroadcastRequest, Downstream, Gateway};
use crate::http::caller::Caller;

/// A tool as the REST API lists it: exactly these three keys.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolSummary<'a> {
    pub name: &'a str,
    /// `null` when the tool has none.
    pub description: Option<&'a str>,
    #[serde(rename = "inputSchema")]
    pub input_schema: &'a JsonObject,
}

impl<'a> From<&'a Tool> for ToolSummary<'a> {
    fn from(tool: &'a Tool) -> Self {
        ToolSummary {
            name: &tool.name,
            description: tool.description.as_deref(),
            input_schema: &tool.input_schema,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ToolList<'a> {
    pub tools: Vec<ToolSummary<'a>>,
}

/// `GET /tools`: the exposed tools this caller may call.
pub async fn list(State(gateway): State<Arc<Gateway>>, Caller(caller): Caller) -> Response {
    let tools = gateway.list_tools(&caller, None);
    Json(ToolList {
        tools: tools.iter().map(ToolSummary::from).collect(),
    })
    .into_response()
}

/// `POST /tools/{tool_name}/invoke`: the body is the tool's arguments; the answer is the MCP
/// `CallToolResult` (200 also when the tool reports `isError`).
///
/// A name that is not exposed but is a backend tool name some server offers (the seed's
/// `POST /tools/search_logs/invoke`) is broadcast to every server offering it (SPEC §13).
pub async fn invoke(
    State(gateway): State<Arc<Gateway>>,
    Caller(caller): Caller,
    ApiPath(tool_name): ApiPath<String>,
    RawJsonBody(raw): RawJsonBody,
) -> Result<Json<CallToolResult>, ApiError> {
    let arguments = tool_arguments(raw)?;
    if is_bare_backend_name(&gateway, &tool_name) {
        let request = BroadcastRequest {
            tool: tool_name,
            arguments: Some(arguments),
            tags: None,
            servers: None,
        };
        let report = gateway
            .broadcast(&caller, request, Downstream::default())
            .await
            .map_err(api_error)?;
        return Ok(Json(report.to_call_tool_result()));
    }
    let result = gateway
        .call_tool(&caller, &tool_name, Some(arguments), Downstream::default())
        .await
        .map_err(api_error)?;
    Ok(Json(result))
}

/// Exposed names win: only a name the catalog does not resolve is taken as a backend name.
fn is_bare_backend_name(gateway: &Gateway, name: &str) -> bool {
    let catalog = gateway.catalog();
    catalog.lookup(name).is_none() && !catalog.servers_offering(name).is_empty()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    use serde_json::json;

    #[test]
    fn a_summary_has_exactly_three_keys() {
        let schema = json!({"type": "object", "properties": {"q": {"type": "string"}}});
        let schema = Arc::new(schema.as_object().cloned().unwrap_or_default());
        let tool = Tool::new("alpha__echo", "[alpha] Echo", Arc::clone(&schema));
        let value = serde_json::to_value(ToolSummary::from(&tool)).unwrap_or_default();
        assert_eq!(
            value,
            json!({
                "name": "alpha__echo",
                "description": "[alpha] Echo",
                "inputSchema": {"type": "object", "properties": {"q": {"type": "string"}}},
            })
        );
    }

    #[test]
    fn a_missing_description_is_null() {
        let mut tool = Tool::new("t", "d", Arc::new(JsonObject::new()));
        tool.description = None;
        let value = serde_json::to_value(ToolSummary::from(&tool)).unwrap_or_default();
        assert_eq!(
            value,
            json!({"name": "t", "description": null, "inputSchema": {}})
        );
    }
}
