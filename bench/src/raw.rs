//! A minimal MCP client over streamable HTTP: hand-written JSON-RPC POSTs on a pooled HTTP
//! client, answers read from a JSON body or an SSE stream. It does what a session-era client
//! must (initialize, `notifications/initialized`, `Mcp-Session-Id`, `MCP-Protocol-Version`)
//! and nothing else, so the load generator's own cost stays small next to what it measures.

use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result, anyhow, bail};
use reqwest::{
    StatusCode, Url,
    header::{ACCEPT, CONTENT_TYPE, HeaderValue},
};
use serde::Serialize;
use serde_json::{Map, Value, json};

/// The newest protocol revision that still opens sessions with `initialize`.
const PROTOCOL_VERSION: &str = "2025-11-25";
const HEADER_SESSION_ID: &str = "mcp-session-id";
const HEADER_PROTOCOL_VERSION: &str = "mcp-protocol-version";
const ACCEPT_BOTH: &str = "application/json, text/event-stream";

/// One open MCP session.
#[derive(Debug)]
pub struct RawSession {
    http: reqwest::Client,
    url: Url,
    /// Absent when the server runs without sessions.
    session_id: Option<HeaderValue>,
    protocol_version: HeaderValue,
    next_id: AtomicU64,
}

/// The answer to one JSON-RPC request.
#[derive(Debug, Clone, PartialEq)]
pub enum RpcAnswer {
    Result(Value),
    Error { code: i64, message: String },
}

#[derive(Serialize)]
struct RequestBody<'a> {
    jsonrpc: &'static str,
    id: u64,
    method: &'a str,
    params: &'a Value,
}

impl RawSession {
    /// `initialize`, then `notifications/initialized`.
    pub async fn open(http: reqwest::Client, url: Url) -> Result<Self> {
        let mut session = Self {
            http,
            url,
            session_id: None,
            protocol_version: HeaderValue::from_static(PROTOCOL_VERSION),
            next_id: AtomicU64::new(0),
        };
        let params = json!({
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "mcp-bench", "version": env!("CARGO_PKG_VERSION")},
        });
        let id = session.next_id.fetch_add(1, Ordering::Relaxed);
        let response = session
            .post(&serialize_request(id, "initialize", &params)?)
            .await?;
        session.session_id = response.headers().get(HEADER_SESSION_ID).cloned();
        let answer = read_answer(response, id).await?;
        let RpcAnswer::Result(result) = answer else {
            bail!("initialize refused: {}", describe(&answer));
        };
        if let Some(version) = result.get("protocolVersion").and_then(Value::as_str) {
            session.protocol_version = HeaderValue::from_str(version)
                .context("server sent an unusable protocol version")?;
        }
        let notification = br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
        let response = session.post(notification).await?;
        if !response.status().is_success() {
            bail!(
                "notifications/initialized answered HTTP {}",
                response.status()
            );
        }
        Ok(session)
    }

    /// One request, waiting for its answer.
    pub async fn request(&self, method: &str, params: &Value) -> Result<RpcAnswer> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let response = self.post(&serialize_request(id, method, params)?).await?;
        read_answer(response, id).await
    }

    /// Ends the session on the server; failures are ignored (the server expires it anyway).
    pub async fn close(self) {
        let Some(session_id) = self.session_id else {
            return;
        };
        let _ = self
            .http
            .delete(self.url.clone())
            .header(HEADER_SESSION_ID, session_id)
            .header(HEADER_PROTOCOL_VERSION, self.protocol_version)
            .send()
            .await;
    }

    async fn post(&self, body: &[u8]) -> Result<reqwest::Response> {
        let mut request = self
            .http
            .post(self.url.clone())
            .header(ACCEPT, ACCEPT_BOTH)
            .header(CONTENT_TYPE, "application/json")
            .header(HEADER_PROTOCOL_VERSION, self.protocol_version.clone())
            .body(body.to_vec());
        if let Some(session_id) = &self.session_id {
            request = request.header(HEADER_SESSION_ID, session_id.clone());
        }
        request.send().await.context("POST failed")
    }
}

fn serialize_request(id: u64, method: &str, params: &Value) -> Result<Vec<u8>> {
    let body = RequestBody {
        jsonrpc: "2.0",
        id,
        method,
        params,
    };
    serde_json::to_vec(&body).context("serializing a request")
}

async fn read_answer(response: reqwest::Response, id: u64) -> Result<RpcAnswer> {
    let status = response.status();
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let body = response.bytes().await.context("reading the answer")?;
    if status != StatusCode::OK {
        bail!("HTTP {status}");
    }
    parse_answer(content_type.as_deref(), &body, id)
}

/// Finds the answer to request `id` in a response body: a JSON object (or batch) or an SSE
/// stream whose `data:` fields carry JSON-RPC messages.
pub fn parse_answer(content_type: Option<&str>, body: &[u8], id: u64) -> Result<RpcAnswer> {
    let text = std::str::from_utf8(body).context("answer is not UTF-8")?;
    let is_sse = content_type.is_some_and(|value| value.starts_with("text/event-stream"));
    let messages: Vec<Value> = if is_sse {
        sse_data(text)
            .into_iter()
            .filter(|data| !data.trim().is_empty())
            .map(|data| serde_json::from_str(&data).context("SSE data is not JSON"))
            .collect::<Result<_>>()?
    } else {
        match serde_json::from_str(text).context("answer is not JSON")? {
            Value::Array(batch) => batch,
            single => vec![single],
        }
    };
    messages
        .into_iter()
        .find(|message| message.get("id").and_then(Value::as_u64) == Some(id))
        .map(into_answer)
        .ok_or_else(|| anyhow!("no answer to request {id} in the response"))
}

fn into_answer(mut message: Value) -> RpcAnswer {
    if let Some(result) = message.get_mut("result") {
        return RpcAnswer::Result(result.take());
    }
    let error = message.get("error");
    RpcAnswer::Error {
        code: error
            .and_then(|error| error.get("code"))
            .and_then(Value::as_i64)
            .unwrap_or(0),
        message: error
            .and_then(|error| error.get("message"))
            .and_then(Value::as_str)
            .unwrap_or("no message")
            .to_owned(),
    }
}

/// The `data` of every event of an SSE stream, multi-line data joined with `\n`.
pub fn sse_data(stream: &str) -> Vec<String> {
    let mut events = Vec::new();
    let mut current: Option<String> = None;
    for line in stream.lines() {
        if line.is_empty() {
            events.extend(current.take());
            continue;
        }
        let Some(value) = line.strip_prefix("data:") else {
            // Comments, `id:`, `event:` and `retry:` lines carry no message.
            continue;
        };
        let value = value.strip_prefix(' ').unwrap_or(value);
        match &mut current {
            Some(data) => {
                data.push('\n');
                data.push_str(value);
            }
            None => current = Some(value.to_owned()),
        }
    }
    events.extend(current);
    events
}

/// A short text for an answer that is not the expected result.
pub fn describe(answer: &RpcAnswer) -> String {
    match answer {
        RpcAnswer::Result(_) => "a result".to_owned(),
        RpcAnswer::Error { code, message } => format!("JSON-RPC error {code}: {message}"),
    }
}

/// `params` of a `tools/call`.
pub fn tool_call_params(tool: &str, arguments: &Map<String, Value>) -> Value {
    json!({"name": tool, "arguments": arguments})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_events_are_split_on_blank_lines() {
        let stream = "id: 0\nretry: 3000\ndata:\n\nevent: message\ndata: {\"a\":1}\n\n: comment\ndata: x\ndata:y\n";
        assert_eq!(sse_data(stream), ["", "{\"a\":1}", "x\ny"]);
    }

    #[test]
    fn sse_with_crlf_lines_parses() {
        assert_eq!(sse_data("data: 1\r\n\r\ndata: 2\r\n\r\n"), ["1", "2"]);
    }

    #[test]
    fn answer_found_in_sse_after_priming_and_notifications() {
        let body = "id: p\ndata: \n\n\
                    data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{}}\n\n\
                    data: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"isError\":false}}\n\n";
        let answer = parse_answer(Some("text/event-stream"), body.as_bytes(), 7).expect("answer");
        assert_eq!(answer, RpcAnswer::Result(json!({"isError": false})));
    }

    #[test]
    fn answer_found_in_json_body_and_batch() {
        let single = br#"{"jsonrpc":"2.0","id":3,"result":{"tools":[]}}"#;
        let answer = parse_answer(Some("application/json"), single, 3).expect("answer");
        assert_eq!(answer, RpcAnswer::Result(json!({"tools": []})));
        let batch = br#"[{"jsonrpc":"2.0","id":1,"result":1},{"jsonrpc":"2.0","id":2,"result":2}]"#;
        assert_eq!(
            parse_answer(None, batch, 2).expect("answer"),
            RpcAnswer::Result(json!(2))
        );
    }

    #[test]
    fn errors_are_answers_too() {
        let body =
            br#"{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"Unknown tool: x"}}"#;
        let answer = parse_answer(Some("application/json"), body, 1).expect("answer");
        assert_eq!(
            answer,
            RpcAnswer::Error {
                code: -32602,
                message: "Unknown tool: x".to_owned()
            }
        );
        assert_eq!(describe(&answer), "JSON-RPC error -32602: Unknown tool: x");
    }

    #[test]
    fn missing_or_foreign_answers_are_errors() {
        let other = br#"{"jsonrpc":"2.0","id":9,"result":{}}"#;
        assert!(parse_answer(Some("application/json"), other, 1).is_err());
        assert!(parse_answer(Some("application/json"), b"not json", 1).is_err());
        assert!(parse_answer(Some("text/event-stream"), b"data: {oops\n\n", 1).is_err());
        assert!(parse_answer(Some("application/json"), &[0xff, 0xfe], 1).is_err());
    }

    #[test]
    fn requests_serialize_as_json_rpc() {
        let params = tool_call_params("echo", &Map::from_iter([("m".to_owned(), json!("hi"))]));
        let bytes = serialize_request(5, "tools/call", &params).expect("serializes");
        let value: Value = serde_json::from_slice(&bytes).expect("json");
        assert_eq!(
            value,
            json!({"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"echo","arguments":{"m":"hi"}}})
        );
    }
}
