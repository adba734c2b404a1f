//! Plain JSON-RPC over `POST /mcp` (SPEC §12): one request, no session, no protocol headers.
//!
//! What `curl -d '{"jsonrpc":"2.0","id":1,"method":"tools/list"}'` sends is answered
//! statelessly with a JSON body, through the same [`Gateway`] operations as MCP clients.

use std::sync::Arc;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use rmcp::model::{JsonObject, ProtocolVersion, RequestId};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::handler::{call_outcome_to_mcp, offer_error_to_mcp, server_config, session_era_result};
use crate::gateway::OfferError;
use crate::gateway::{Downstream, Gateway};
use crate::http::jsonrpc::{self, INVALID_PARAMS, INVALID_REQUEST, Incoming, METHOD_NOT_FOUND};
use crate::principal::RequestContext;

/// Should this POST be served here rather than by the MCP transport? When the client shows
/// no sign of speaking streamable HTTP: no session and no protocol version header (SPEC §12),
/// and it is not opening a session — an `Accept` that does not ask for event streams, or a
/// message that is anything but an `initialize` request (which a client that accepts event
/// streams sends to open one).
pub fn is_plain_request(headers: &http::HeaderMap, message: &Incoming<'_>) -> bool {
    if headers.contains_key(super::SESSION_HEADER)
        || headers.contains_key(super::PROTOCOL_VERSION_HEADER)
    {
        return false;
    }
    let accepts_sse = headers
        .get_all(http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/event-stream"));
    let opens_a_session =
        matches!(message, Incoming::Request { method, .. } if method == "initialize");
    !accepts_sse || !opens_a_session
}

fn result_body(id: &RequestId, result: impl serde::Serialize) -> Response {
    match serde_json::to_value(result) {
        Ok(result) => Json(json!({"jsonrpc": "2.0", "id": id, "result": result})).into_response(),
        Err(_) => Json(jsonrpc::error_body(
            Some(id),
            jsonrpc::INTERNAL_ERROR,
            "Internal error",
        ))
        .into_response(),
    }
}

fn error(id: &RequestId, code: i64, message: &str) -> Response {
    Json(jsonrpc::error_body(Some(id), code, message)).into_response()
}

/// Serve one plain JSON-RPC message.
pub async fn serve(gateway: Arc<Gateway>, ctx: RequestContext, message: Incoming<'_>) -> Response {
    let (id, method, params) = match message {
        Incoming::Request { id, method, params } => (id, method, params),
        // A notification gets no answer.
        Incoming::Notification { .. } => return StatusCode::ACCEPTED.into_response(),
        Incoming::Batch => {
            return (
                StatusCode::BAD_REQUEST,
                Json(jsonrpc::error_body(
                    None,
                    INVALID_REQUEST,
                    "Invalid Request: batches are not supported",
                )),
            )
                .into_response();
        }
        // Nothing was asked of the client that it could answer.
        Incoming::Response => {
            return (
                StatusCode::BAD_REQUEST,
                Json(jsonrpc::error_body(
                    None,
                    INVALID_REQUEST,
                    "Invalid Request: expected a JSON-RPC 2.0 request object",
                )),
            )
                .into_response();
        }
    };
    match &*method {
        "ping" => result_body(&id, json!({})),
        "initialize" => {
            let mut offers = gateway.offers_in(&ctx.endpoint.scope);
            // Without a session there is nothing to subscribe with.
            offers.subscribe = false;
            let mut config = server_config(offers);
            // Answer with the client's version when we know it, else our newest.
            if let Some(version) = params.and_then(|p| {
                #[derive(Deserialize)]
                #[serde(rename_all = "camelCase")]
                struct Initialize {
                    protocol_version: ProtocolVersion,
                }
                serde_json::from_str::<Initialize>(p.get()).ok()
            }) && ProtocolVersion::KNOWN_VERSIONS.contains(&version.protocol_version)
            {
                config.protocol_version = version.protocol_version;
            }
            result_body(&id, config)
        }
        "tools/list" => {
            let server = jsonrpc::list_server(params);
            let tools = gateway.list_tools(&ctx, server.as_deref());
            result_body(&id, json!({"tools": tools}))
        }
        "tools/call" => call_tool(gateway, ctx, id, params).await,
        // Boxed: their futures are large, and every plain request would carry their size.
        "prompts/list"
        | "prompts/get"
        | "resources/list"
        | "resources/templates/list"
        | "resources/read"
        | "completion/complete" => Box::pin(offers(&gateway, &ctx, &id, &method, params)).await,
        _ => error(
            &id,
            METHOD_NOT_FOUND,
            &format!("Method not found: {method}"),
        ),
    }
}

/// The prompt and resource methods. A caller that hangs up drops the future: nothing else
/// cancels them, hence the token that never fires.
async fn offers(
    gateway: &Gateway,
    ctx: &RequestContext,
    id: &RequestId,
    method: &str,
    params: Option<&RawValue>,
) -> Response {
    let never = tokio_util::sync::CancellationToken::new();
    match method {
        "prompts/list" => {
            let cursor = list_cursor(params);
            answer(
                id,
                gateway.list_prompts(ctx, cursor.as_deref(), &never).await,
            )
        }
        "resources/list" => {
            let cursor = list_cursor(params);
            answer(
                id,
                gateway.list_resources(ctx, cursor.as_deref(), &never).await,
            )
        }
        "resources/templates/list" => {
            let cursor = list_cursor(params);
            answer(
                id,
                gateway
                    .list_resource_templates(ctx, cursor.as_deref(), &never)
                    .await,
            )
        }
        "prompts/get" => match parsed::<rmcp::model::GetPromptRequestParams>(params) {
            Some(request) => answer(
                id,
                gateway
                    .get_prompt(ctx, &request.name, request.arguments, &never)
                    .await,
            ),
            None => error(
                id,
                INVALID_PARAMS,
                "Invalid params: expected {\"name\", \"arguments\"?}",
            ),
        },
        "resources/read" => match parsed::<rmcp::model::ReadResourceRequestParams>(params) {
            Some(request) => answer(id, gateway.read_resource(ctx, &request.uri, &never).await),
            None => error(id, INVALID_PARAMS, "Invalid params: expected {\"uri\"}"),
        },
        "completion/complete" => match parsed::<rmcp::model::CompleteRequestParams>(params) {
            Some(request) => answer(id, gateway.complete(ctx, request, &never).await),
            None => error(
                id,
                INVALID_PARAMS,
                "Invalid params: expected {\"ref\", \"argument\"}",
            ),
        },
        _ => error(id, METHOD_NOT_FOUND, &format!("Method not found: {method}")),
    }
}

/// A list request's cursor, if any.
fn list_cursor(params: Option<&RawValue>) -> Option<String> {
    #[derive(Deserialize)]
    struct Paginated {
        cursor: Option<String>,
    }
    parsed::<Paginated>(params).and_then(|p| p.cursor)
}

fn parsed<T: serde::de::DeserializeOwned>(params: Option<&RawValue>) -> Option<T> {
    serde_json::from_str(params?.get()).ok()
}

/// A prompt or resource answer, or its error, as a JSON-RPC body.
fn answer<T: serde::Serialize>(id: &RequestId, outcome: Result<T, OfferError>) -> Response {
    match outcome {
        Ok(result) => {
            let mut value = serde_json::to_value(result).unwrap_or(Value::Null);
            // Plain callers negotiated nothing: none of the 2026-07-28 result fields.
            if let Value::Object(map) = &mut value {
                for field in ["resultType", "cacheScope", "ttlMs"] {
                    map.remove(field);
                }
            }
            result_body(id, value)
        }
        Err(e) => Json(json!({"jsonrpc": "2.0", "id": id, "error": offer_error_to_mcp(e)}))
            .into_response(),
    }
}

/// `tools/call`'s params as plain callers may send them.
#[derive(Deserialize)]
struct CallParams {
    name: Option<String>,
    #[serde(default)]
    arguments: Option<Value>,
}

async fn call_tool(
    gateway: Arc<Gateway>,
    ctx: RequestContext,
    id: RequestId,
    params: Option<&RawValue>,
) -> Response {
    let params = params
        .and_then(|p| serde_json::from_str::<CallParams>(p.get()).ok())
        .unwrap_or(CallParams {
            name: None,
            arguments: None,
        });
    let Some(name) = params.name else {
        return error(&id, INVALID_PARAMS, "Invalid params: missing tool name");
    };
    let arguments = match params.arguments {
        None | Some(Value::Null) => None,
        Some(Value::Object(map)) => Some(map as JsonObject),
        Some(_) => {
            return error(
                &id,
                INVALID_PARAMS,
                "Invalid params: arguments must be an object",
            );
        }
    };
    let outcome = gateway
        .call_tool(&ctx, &name, arguments, Downstream::default())
        .await;
    match call_outcome_to_mcp(outcome) {
        // Plain callers negotiated nothing: the widely understood pre-2026 shape.
        Ok(result) => result_body(&id, session_era_result(result)),
        Err(error) => Json(json!({"jsonrpc": "2.0", "id": id, "error": error})).into_response(),
    }
}
