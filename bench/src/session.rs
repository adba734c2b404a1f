//! One MCP session to measure through, with either client: the rmcp SDK client or the raw
//! JSON-RPC one. Both use the same pooled HTTP client settings, so the direct and the gateway
//! path pay the same client-side cost.

use std::{borrow::Cow, time::Duration};

use anyhow::{Context, Result, bail};
use reqwest::{
    Url,
    header::{AUTHORIZATION, HeaderMap, HeaderValue},
};
use rmcp::{
    RoleClient, ServiceExt,
    model::{CallToolRequestParams, CallToolResult, JsonObject},
    service::RunningService,
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::Value;

use crate::{
    raw::{self, RawSession, RpcAnswer},
    results::{ClientKind, Connections},
};

/// Idle pooled connections are kept this long, far beyond any pause between calls.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// What one `tools/call` gave back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToolOutcome {
    pub is_error: bool,
    /// Bytes of text content plus the compact JSON of structured content.
    pub payload_bytes: usize,
}

/// An open MCP session.
pub enum McpSession {
    Rmcp(RunningService<RoleClient, ()>),
    Raw(RawSession),
}

/// The HTTP client every session of a run shares: no proxy (everything is on loopback),
/// `TCP_NODELAY` so the client never holds back a request. `bearer` goes on every request
/// as a default header, so both clients (rmcp's and the raw one) send it alike.
pub fn http_client(
    connections: Connections,
    bearer: Option<&HeaderValue>,
) -> Result<reqwest::Client> {
    let mut headers = HeaderMap::new();
    if let Some(bearer) = bearer {
        headers.insert(AUTHORIZATION, bearer.clone());
    }
    let builder = reqwest::Client::builder()
        .tcp_nodelay(true)
        .no_proxy()
        .default_headers(headers);
    let builder = match connections {
        Connections::KeepAlive => builder.pool_idle_timeout(POOL_IDLE_TIMEOUT),
        Connections::Fresh => builder.pool_max_idle_per_host(0),
    };
    builder.build().context("building the HTTP client")
}

impl McpSession {
    /// Opens a session: `initialize` and `notifications/initialized`.
    pub async fn open(kind: ClientKind, http: &reqwest::Client, url: &Url) -> Result<Self> {
        match kind {
            ClientKind::Rmcp => {
                let config = StreamableHttpClientTransportConfig::with_uri(url.as_str());
                let transport = StreamableHttpClientTransport::with_client(http.clone(), config);
                let service = ().serve(transport).await.context("opening an MCP session")?;
                Ok(Self::Rmcp(service))
            }
            ClientKind::Raw => Ok(Self::Raw(
                RawSession::open(http.clone(), url.clone()).await?,
            )),
        }
    }

    /// The number of tools on the first page of `tools/list`.
    pub async fn list_tools(&self) -> Result<usize> {
        match self {
            Self::Rmcp(service) => Ok(service
                .list_tools(None)
                .await
                .context("tools/list failed")?
                .tools
                .len()),
            Self::Raw(session) => {
                match session
                    .request("tools/list", &Value::Object(JsonObject::new()))
                    .await?
                {
                    RpcAnswer::Result(result) => Ok(result
                        .get("tools")
                        .and_then(Value::as_array)
                        .map_or(0, Vec::len)),
                    error => bail!("tools/list failed: {}", raw::describe(&error)),
                }
            }
        }
    }

    /// One `tools/call`. A result with `isError` is an outcome; a protocol or transport
    /// failure is an error.
    pub async fn call_tool(&self, call: &PreparedCall) -> Result<ToolOutcome> {
        match self {
            Self::Rmcp(service) => {
                let params = CallToolRequestParams::new(Cow::Owned(call.tool.clone()))
                    .with_arguments(call.arguments.clone());
                let result = service
                    .call_tool(params)
                    .await
                    .context("tools/call failed")?;
                Ok(outcome_of_result(&result))
            }
            Self::Raw(session) => match session.request("tools/call", &call.raw_params).await? {
                RpcAnswer::Result(result) => Ok(outcome_of_raw_result(&result)),
                error => bail!("tools/call failed: {}", raw::describe(&error)),
            },
        }
    }

    /// Ends the session (DELETE on the server); failures do not matter any more.
    pub async fn close(self) {
        match self {
            Self::Rmcp(service) => {
                let _ = service.cancel().await;
            }
            Self::Raw(session) => session.close().await,
        }
    }
}

/// A tool call built once and sent many times.
#[derive(Debug, Clone)]
pub struct PreparedCall {
    pub tool: String,
    pub arguments: JsonObject,
    raw_params: Value,
}

impl PreparedCall {
    pub fn new(tool: &str, arguments: JsonObject) -> Self {
        Self {
            raw_params: raw::tool_call_params(tool, &arguments),
            tool: tool.to_owned(),
            arguments,
        }
    }
}

fn outcome_of_result(result: &CallToolResult) -> ToolOutcome {
    let text_bytes: usize = result
        .content
        .iter()
        .filter_map(|item| item.as_text())
        .map(|text| text.text.len())
        .sum();
    let structured_bytes = result.structured_content.as_ref().map_or(0, json_len);
    ToolOutcome {
        is_error: result.is_error == Some(true),
        payload_bytes: text_bytes + structured_bytes,
    }
}

/// The same reading of a `CallToolResult` as JSON, for the raw client.
pub fn outcome_of_raw_result(result: &Value) -> ToolOutcome {
    let text_bytes: usize = result
        .get("content")
        .and_then(Value::as_array)
        .map_or(0, |items| {
            items
                .iter()
                .filter(|item| item.get("type").and_then(Value::as_str) == Some("text"))
                .filter_map(|item| item.get("text").and_then(Value::as_str))
                .map(str::len)
                .sum()
        });
    let structured_bytes = result.get("structuredContent").map_or(0, json_len);
    ToolOutcome {
        is_error: result.get("isError").and_then(Value::as_bool) == Some(true),
        payload_bytes: text_bytes + structured_bytes,
    }
}

fn json_len(value: &Value) -> usize {
    serde_json::to_string(value).map_or(0, |text| text.len())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn raw_result_outcome_counts_text_and_structured_bytes() {
        let result = json!({
            "content": [{"type": "text", "text": "hello"}, {"type": "image", "data": "xx"}],
            "structuredContent": {"a": 1},
        });
        assert_eq!(
            outcome_of_raw_result(&result),
            ToolOutcome {
                is_error: false,
                payload_bytes: 5 + "{\"a\":1}".len()
            }
        );
    }

    #[test]
    fn raw_result_outcome_sees_is_error() {
        let result = json!({"content": [{"type": "text", "text": "boom"}], "isError": true});
        assert!(outcome_of_raw_result(&result).is_error);
        assert!(!outcome_of_raw_result(&json!({})).is_error);
        assert_eq!(
            outcome_of_raw_result(&json!({"content": "odd"})).payload_bytes,
            0
        );
    }

    #[test]
    fn both_readings_agree() {
        let wire = json!({"content": [{"type": "text", "text": "{\"x\":2}"}], "isError": false});
        let typed: CallToolResult = serde_json::from_value(wire.clone()).expect("result");
        assert_eq!(outcome_of_result(&typed), outcome_of_raw_result(&wire));
    }

    #[test]
    fn prepared_call_carries_raw_params() {
        let call = PreparedCall::new(
            "bench__echo",
            JsonObject::from_iter([("k".to_owned(), json!(1))]),
        );
        assert_eq!(
            call.raw_params,
            json!({"name": "bench__echo", "arguments": {"k": 1}})
        );
    }
}
