//! JSON-RPC at the gateway's MCP doors (`POST /mcp`, `POST /messages`): a body read once into
//! an [`Incoming`] message, and the answers to bodies that are not one (SPEC §14: 400 with
//! `-32700` for what is not JSON or nests deeper than [`MAX_DEPTH`], 400 with `-32600` for
//! JSON that is not a JSON-RPC message).

use std::borrow::Cow;

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use rmcp::model::RequestId;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;
pub const INTERNAL_ERROR: i64 = -32603;

/// The deepest nesting of arrays and objects a message may have (SPEC §14), as serde_json's
/// own limit for typed values; raw values (`params` here) are not held to that limit, hence
/// [`nests_deeper_than`].
pub const MAX_DEPTH: usize = 128;

/// A POSTed body, parsed once: what routing needs, with `params` left as text until its type
/// is known, so that it is parsed once more at most, straight into that type.
#[derive(Debug)]
pub enum Incoming<'a> {
    Request {
        id: RequestId,
        method: Cow<'a, str>,
        params: Option<&'a RawValue>,
    },
    Notification {
        method: Cow<'a, str>,
        params: Option<&'a RawValue>,
    },
    /// A client's answer to a request of the server.
    Response,
    /// A JSON array of messages (a 2025-03-26 batch); each door decides what it accepts.
    Batch,
}

impl Incoming<'_> {
    /// The method of a request or notification.
    pub fn method(&self) -> Option<&str> {
        match self {
            Incoming::Request { method, .. } | Incoming::Notification { method, .. } => {
                Some(method)
            }
            Incoming::Response | Incoming::Batch => None,
        }
    }

    /// `params` of a request or notification.
    pub fn params(&self) -> Option<&RawValue> {
        match self {
            Incoming::Request { params, .. } | Incoming::Notification { params, .. } => *params,
            Incoming::Response | Incoming::Batch => None,
        }
    }

    /// `params.server` of a `tools/list` request (see [`list_server`]).
    pub fn list_server(&self) -> Option<String> {
        if self.method() != Some("tools/list") {
            return None;
        }
        list_server(self.params())
    }
}

/// `params.server` of `tools/list`: the gateway's narrowing to one backend (SPEC §12), which
/// rmcp's typed params drop.
pub fn list_server(params: Option<&RawValue>) -> Option<String> {
    #[derive(Deserialize)]
    struct ListParams {
        server: Option<String>,
    }
    serde_json::from_str::<ListParams>(params?.get())
        .ok()?
        .server
}

/// Why a body is not a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadMessage {
    /// Not JSON, or nested deeper than [`MAX_DEPTH`]: `-32700`.
    NotJson,
    /// JSON, but not a JSON-RPC 2.0 message: `-32600`.
    NotAMessage,
}

impl IntoResponse for BadMessage {
    /// 400 with the JSON-RPC error; the id is unknown, so it is null.
    fn into_response(self) -> Response {
        let (code, message) = match self {
            BadMessage::NotJson => (
                PARSE_ERROR,
                "Parse error: the body is not JSON, or nests deeper than 128 levels",
            ),
            BadMessage::NotAMessage => (
                INVALID_REQUEST,
                "Invalid Request: expected a JSON-RPC 2.0 message",
            ),
        };
        (
            StatusCode::BAD_REQUEST,
            Json(error_body(None, code, message)),
        )
            .into_response()
    }
}

/// The fields of any JSON-RPC message; which ones are present says what it is.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(default, borrow)]
    jsonrpc: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    id: Option<&'a RawValue>,
    #[serde(default, borrow)]
    method: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    params: Option<&'a RawValue>,
    #[serde(default, borrow)]
    result: Option<&'a RawValue>,
    #[serde(default, borrow)]
    error: Option<&'a RawValue>,
}

/// Read `body` as one JSON-RPC message (or a batch).
pub fn parse(body: &[u8]) -> Result<Incoming<'_>, BadMessage> {
    if nests_deeper_than(body, MAX_DEPTH) {
        return Err(BadMessage::NotJson);
    }
    // One parse of the whole body: its syntax everywhere (raw values included), and the
    // envelope's fields.
    let envelope = match serde_json::from_slice::<Envelope<'_>>(body) {
        Ok(envelope) => envelope,
        Err(error) if error.is_data() => {
            // Valid JSON of another shape: an array is a batch, anything else no message.
            return match serde_json::from_slice::<Vec<&RawValue>>(body) {
                Ok(_) => Ok(Incoming::Batch),
                Err(_) => Err(BadMessage::NotAMessage),
            };
        }
        Err(_) => return Err(BadMessage::NotJson),
    };
    if envelope.jsonrpc.as_deref() != Some("2.0") {
        return Err(BadMessage::NotAMessage);
    }
    match (envelope.method, envelope.id) {
        (Some(method), Some(id)) => {
            let id =
                serde_json::from_str::<RequestId>(id.get()).map_err(|_| BadMessage::NotAMessage)?;
            Ok(Incoming::Request {
                id,
                method,
                params: envelope.params,
            })
        }
        (Some(method), None) => Ok(Incoming::Notification {
            method,
            params: envelope.params,
        }),
        (None, Some(_)) if envelope.result.is_some() != envelope.error.is_some() => {
            Ok(Incoming::Response)
        }
        (None, _) => Err(BadMessage::NotAMessage),
    }
}

/// Whether arrays and objects in `body` nest deeper than `max` (a scan of the bytes, not a
/// parse: brackets inside strings do not count; what is not JSON is the parser's to find).
fn nests_deeper_than(body: &[u8], max: usize) -> bool {
    // Nesting deeper than `max` takes more than `max` opening brackets. Most bodies have far
    // fewer, and counting them is a loop the compiler vectorises.
    if body.iter().filter(|&&b| b == b'[' || b == b'{').count() <= max {
        return false;
    }
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &byte in body {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// A JSON-RPC error message.
pub fn error_body(id: Option<&RequestId>, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(depth: usize) -> String {
        let inner = format!("{}{}", "[".repeat(depth - 1), "]".repeat(depth - 1));
        format!(r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{inner}}}"#)
    }

    #[test]
    fn requests_notifications_and_responses_are_told_apart() {
        let request =
            parse(br#"{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"x"}}"#);
        match request {
            Ok(Incoming::Request { id, method, params }) => {
                assert_eq!(id, RequestId::String("a".into()));
                assert_eq!(method, "tools/call");
                assert_eq!(params.map(RawValue::get), Some(r#"{"name":"x"}"#));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            Ok(Incoming::Notification { .. })
        ));
        assert!(matches!(
            parse(br#"{"jsonrpc":"2.0","id":3,"result":{}}"#),
            Ok(Incoming::Response)
        ));
        assert!(matches!(
            parse(br#"{"jsonrpc":"2.0","id":3,"error":{"code":1,"message":"x"}}"#),
            Ok(Incoming::Response)
        ));
        assert!(matches!(
            parse(br#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#),
            Ok(Incoming::Batch)
        ));
    }

    #[test]
    fn what_is_not_json_is_a_parse_error() {
        for body in [
            &b"not json"[..],
            b"{\"jsonrpc\":\"2.0\",",
            b"",
            b"{} trailing",
        ] {
            assert_eq!(parse(body).err(), Some(BadMessage::NotJson), "{body:?}");
        }
    }

    #[test]
    fn json_that_is_no_message_is_an_invalid_request() {
        for body in [
            r#"{"foo":1}"#,
            r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#,
            r#"{"id":1,"method":"ping"}"#,
            r#"{"jsonrpc":"2.0","id":true,"method":"ping"}"#,
            r#"{"jsonrpc":"2.0","id":1}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":{},"error":{}}"#,
            r#"{"jsonrpc":"2.0","method":3}"#,
            "42",
            r#""text""#,
            "null",
        ] {
            assert_eq!(
                parse(body.as_bytes()).err(),
                Some(BadMessage::NotAMessage),
                "{body}"
            );
        }
    }

    #[test]
    fn nesting_is_allowed_to_128_levels_anywhere_in_the_message() {
        assert!(parse(nested(MAX_DEPTH).as_bytes()).is_ok());
        assert_eq!(
            parse(nested(MAX_DEPTH + 1).as_bytes()).err(),
            Some(BadMessage::NotJson)
        );
        let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
        assert_eq!(parse(deep.as_bytes()).err(), Some(BadMessage::NotJson));
    }

    #[test]
    fn brackets_in_strings_do_not_nest() {
        let text = format!(r#"{{"a":"{}","b":"\\"}}"#, "[".repeat(500));
        assert!(!nests_deeper_than(text.as_bytes(), 2));
        // An escaped quote does not end the string.
        assert!(!nests_deeper_than(br#"{"a":"\"[[[["}"#, 1));
        assert!(nests_deeper_than(br#"{"a":[{"b":1}]}"#, 2));
        assert!(!nests_deeper_than(br#"{"a":[{"b":1}]}"#, 3));
    }

    #[test]
    fn the_servers_of_a_tools_list_are_read_from_its_params() {
        let narrowed =
            parse(br#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"server":"a"}}"#)
                .expect("a message");
        assert_eq!(narrowed.list_server().as_deref(), Some("a"));
        let other =
            parse(br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"server":"a"}}"#)
                .expect("a message");
        assert_eq!(other.list_server(), None);
    }

    #[tokio::test]
    async fn bad_messages_are_400_with_their_json_rpc_code_and_a_null_id() {
        for (bad, code) in [
            (BadMessage::NotJson, PARSE_ERROR),
            (BadMessage::NotAMessage, INVALID_REQUEST),
        ] {
            let response = bad.into_response();
            assert_eq!(response.status(), StatusCode::BAD_REQUEST);
            let body = axum::body::to_bytes(response.into_body(), 1 << 16)
                .await
                .expect("body");
            let body: Value = serde_json::from_slice(&body).expect("JSON");
            assert_eq!(body["error"]["code"], code, "{body}");
            assert_eq!(body["id"], Value::Null, "{body}");
        }
    }
}
