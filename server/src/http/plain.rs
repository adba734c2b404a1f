//! Plain JSON-RPC over `POST /mcp` (SPEC §12): one request, no session, no protocol headers.
//!
//! What `curl -d '{"jsonrpc":"2.0","id":1,"method":"tools/list"}'` sends is answered
//! statelessly with a JSON body, through the same [`Gateway`] operations as MCP clients.

use std::sync::Arc;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rmcp::model::{CallToolResult, JsonObject, ProtocolVersion};
use serde::Deserialize;
use serde_json::{Value, json};

use super::mcp::{call_outcome_to_mcp, server_config};
use crate::gateway::{Downstream, Gateway};
use crate::principal::RequestContext;

/// Should this POST be served here rather than by the MCP transport? When the client shows
/// no sign of speaking streamable HTTP: no session and no protocol version header (SPEC §12),
/// and it is not opening a session — an `Accept` that does not ask for event streams, or a
/// body that is anything but an `initialize` request (which a client that accepts event
/// streams sends to open one).
pub fn is_plain_request(headers: &http::HeaderMap, body: &[u8]) -> bool {
    if headers.contains_key("mcp-session-id") || headers.contains_key("mcp-protocol-version") {
        return false;
    }
    let accepts_sse = headers
        .get_all(http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/event-stream"));
    !accepts_sse || !opens_a_session(body)
}

/// Whether `body` is a single `initialize` request.
fn opens_a_session(body: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Method<'a> {
        #[serde(borrow, default)]
        method: Option<std::borrow::Cow<'a, str>>,
    }
    serde_json::from_slice::<Method>(body)
        .is_ok_and(|message| message.method.as_deref() == Some("initialize"))
}

#[derive(Deserialize)]
struct RawRequest {
    jsonrpc: Option<String>,
    id: Option<Value>,
    method: Option<String>,
    #[serde(default)]
    params: Option<Value>,
}

const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;

fn error_body(id: Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

fn result_body(id: Value, result: impl serde::Serialize) -> Response {
    match serde_json::to_value(result) {
        Ok(result) => Json(json!({"jsonrpc": "2.0", "id": id, "result": result})).into_response(),
        Err(_) => Json(error_body(id, -32603, "Internal error")).into_response(),
    }
}

/// 400 with JSON-RPC's parse error: the answer to a body that is not JSON, in a session or not.
pub fn parse_error() -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(error_body(
            Value::Null,
            PARSE_ERROR,
            "Parse error: the body is not JSON",
        )),
    )
        .into_response()
}

/// Serve one plain JSON-RPC message.
pub async fn serve(gateway: Arc<Gateway>, ctx: RequestContext, body: &[u8]) -> Response {
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => return parse_error(),
    };
    if value.is_array() {
        return (
            StatusCode::BAD_REQUEST,
            Json(error_body(
                Value::Null,
                INVALID_REQUEST,
                "Invalid Request: batches are not supported",
            )),
        )
            .into_response();
    }
    let request: RawRequest = match serde_json::from_value(value) {
        Ok(r) => r,
        Err(_) => return invalid_request(Value::Null),
    };
    let (Some("2.0"), Some(method)) = (request.jsonrpc.as_deref(), request.method.as_deref())
    else {
        return invalid_request(request.id.unwrap_or(Value::Null));
    };
    // A notification gets no answer.
    let Some(id) = request.id else {
        return StatusCode::ACCEPTED.into_response();
    };
    let params = request.params.unwrap_or(Value::Null);
    match method {
        "ping" => result_body(id, json!({})),
        "initialize" => {
            let mut config = server_config();
            // Answer with the client's version when we know it, else our newest.
            if let Some(version) = params.get("protocolVersion").cloned()
                && let Ok(version) = serde_json::from_value::<ProtocolVersion>(version)
                && ProtocolVersion::KNOWN_VERSIONS.contains(&version)
            {
                config.protocol_version = version;
            }
            result_body(id, config)
        }
        "tools/list" => {
            let server = params.get("server").and_then(Value::as_str);
            let tools = gateway.list_tools(&ctx, server);
            result_body(id, json!({"tools": tools}))
        }
        "tools/call" => call_tool(gateway, ctx, id, params).await,
        _ => Json(error_body(
            id,
            METHOD_NOT_FOUND,
            &format!("Method not found: {method}"),
        ))
        .into_response(),
    }
}

fn invalid_request(id: Value) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(error_body(
            id,
            INVALID_REQUEST,
            "Invalid Request: expected a JSON-RPC 2.0 request object",
        )),
    )
        .into_response()
}

async fn call_tool(
    gateway: Arc<Gateway>,
    ctx: RequestContext,
    id: Value,
    params: Value,
) -> Response {
    let Some(name) = params.get("name").and_then(Value::as_str) else {
        return Json(error_body(
            id,
            INVALID_PARAMS,
            "Invalid params: missing tool name",
        ))
        .into_response();
    };
    let arguments = match params.get("arguments") {
        None | Some(Value::Null) => None,
        Some(Value::Object(map)) => Some(map.clone() as JsonObject),
        Some(_) => {
            return Json(error_body(
                id,
                INVALID_PARAMS,
                "Invalid params: arguments must be an object",
            ))
            .into_response();
        }
    };
    let outcome = gateway
        .call_tool(&ctx, name, arguments, Downstream::default())
        .await;
    match call_outcome_to_mcp(outcome) {
        Ok(result) => result_body(id, legacy_shape(result)),
        Err(error) => Json(json!({"jsonrpc": "2.0", "id": id, "error": error})).into_response(),
    }
}

/// Plain clients negotiated nothing: answer in the widely understood pre-2026 shape.
fn legacy_shape(mut result: CallToolResult) -> CallToolResult {
    result.result_type = None;
    result
}
