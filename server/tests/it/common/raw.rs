//! MCP spoken by hand over HTTP, for tests where the wire bytes themselves are under test:
//! a streamable HTTP session ([`RawSession`]) and a legacy HTTP+SSE session
//! ([`LegacySession`]).

use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};

/// The protocol version the raw sessions speak.
pub const VERSION: &str = "2025-06-18";

/// A streamable HTTP session spoken by hand.
pub struct RawSession {
    pub http: reqwest::Client,
    pub url: String,
    pub id: String,
}

impl RawSession {
    /// `initialize`, then `notifications/initialized`.
    pub async fn open(url: &str) -> RawSession {
        let http = reqwest::Client::new();
        let response = http
            .post(url)
            .header("accept", "application/json, text/event-stream")
            .json(&json!({
                "jsonrpc": "2.0", "id": 0, "method": "initialize",
                "params": {"protocolVersion": VERSION, "capabilities": {},
                           "clientInfo": {"name": "raw", "version": "1"}}
            }))
            .send()
            .await
            .expect("initialize");
        assert!(response.status().is_success(), "{}", response.status());
        let id = response
            .headers()
            .get("mcp-session-id")
            .expect("a session id")
            .to_str()
            .expect("ascii")
            .to_owned();
        let _ = response.bytes().await;
        let session = RawSession {
            http,
            url: url.to_owned(),
            id,
        };
        let accepted = session
            .post(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        assert_eq!(accepted.status(), 202);
        session
    }

    /// A POST of `body` (any bytes) in `session`, with the headers a client sends.
    pub fn request_in(
        &self,
        session: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::RequestBuilder {
        self.http
            .post(&self.url)
            .header("accept", "application/json, text/event-stream")
            .header(CONTENT_TYPE, "application/json")
            .header("mcp-session-id", session)
            .header("mcp-protocol-version", VERSION)
            .body(body)
    }

    /// A POST of the message `body` in this session.
    pub fn request(&self, body: &Value) -> reqwest::RequestBuilder {
        self.request_in(&self.id, body.to_string())
    }

    pub async fn post(&self, body: &Value) -> reqwest::Response {
        self.request(body).send().await.expect("POST /mcp")
    }

    pub async fn post_in(&self, session: &str, body: &Value) -> reqwest::Response {
        self.request_in(session, body.to_string())
            .send()
            .await
            .expect("POST /mcp")
    }
}

/// A `tools/call` message.
pub fn call_body(id: u64, tool: &str, arguments: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": tool, "arguments": arguments}})
}

pub fn content_type(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The JSON-RPC messages of an answer, whether a JSON body or an event stream.
pub async fn messages(response: reqwest::Response) -> Vec<Value> {
    let sse = content_type(&response).starts_with("text/event-stream");
    let text = response.text().await.expect("body");
    if !sse {
        return vec![serde_json::from_str(&text).expect("a JSON body")];
    }
    text.lines()
        .filter_map(|line| line.strip_prefix("data:"))
        .filter_map(|data| serde_json::from_str(data.trim()).ok())
        .collect()
}

/// A legacy HTTP+SSE session spoken by hand: the event stream, and where to POST.
pub struct LegacySession {
    pub http: reqwest::Client,
    pub stream: reqwest::Response,
    pub messages: String,
}

impl LegacySession {
    /// `GET /sse`, read the endpoint event, then `initialize` and `notifications/initialized`.
    pub async fn open(base: &str) -> LegacySession {
        let http = reqwest::Client::new();
        let mut stream = http
            .get(format!("{base}/sse"))
            .header("accept", "text/event-stream")
            .send()
            .await
            .expect("GET /sse");
        let mut seen = String::new();
        let endpoint = loop {
            let chunk = stream.chunk().await.expect("read").expect("an event");
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if let Some(line) = seen
                .lines()
                .find_map(|line| line.strip_prefix("data:").map(str::trim))
                .filter(|_| seen.contains("event: endpoint"))
            {
                break line.to_owned();
            }
        };
        let session = LegacySession {
            http,
            stream,
            messages: format!("{base}{endpoint}"),
        };
        session
            .post(&json!({"jsonrpc": "2.0", "id": 0, "method": "initialize",
                "params": {"protocolVersion": "2024-11-05", "capabilities": {},
                           "clientInfo": {"name": "raw", "version": "1"}}}))
            .await;
        session
            .post(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        session
    }

    /// POST one message; the session accepts it (its answer comes on the stream).
    pub async fn post(&self, body: &Value) {
        let response = self
            .http
            .post(&self.messages)
            .json(body)
            .send()
            .await
            .expect("POST /messages");
        assert!(response.status().is_success(), "{}", response.status());
    }
}
