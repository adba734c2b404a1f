//! The JSON bodies of the REST API, checked: raw JSON in ([`RawJsonBody`]), validated values
//! out. Messages name the field that is wrong and what was expected, never the value sent.
//!
//! Unknown fields are refused: a misspelt `mcp_servers` must not silently widen a broadcast
//! to every server, nor a misspelt `parameters` call a tool without its arguments.
//!
//! [`RawJsonBody`]: super::extract::RawJsonBody

use rmcp::model::JsonObject;
use serde_json::{Map, Value};

use crate::error::ApiError;
use crate::gateway::BroadcastRequest;

/// `POST /mcp/invoke`: which tool of the server named in the query, with what arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct InvokeBody {
    /// The backend's own tool name; never empty.
    pub tool_name: String,
    pub arguments: Option<JsonObject>,
}

const INVOKE_FIELDS: &[&str] = &["tool_name", "parameters"];
const BROADCAST_FIELDS: &[&str] = &["tool_name", "parameters", "tags", "mcp_servers"];

impl InvokeBody {
    /// `{"tool_name": T, "parameters": {…}?}`.
    pub fn from_raw(raw: Option<Value>) -> Result<InvokeBody, ApiError> {
        let mut object = body_object(raw, INVOKE_FIELDS)?;
        Ok(InvokeBody {
            tool_name: tool_name(&mut object)?,
            arguments: parameters(&mut object)?,
        })
    }
}

/// `POST /mcp/invoke-broadcast`: `{"tool_name": T, "parameters": {…}?, "tags": [..]?,
/// "mcp_servers": [..]?}`. An empty `tags` or `mcp_servers` list is no filter, as if absent.
pub fn broadcast_request(raw: Option<Value>) -> Result<BroadcastRequest, ApiError> {
    let mut object = body_object(raw, BROADCAST_FIELDS)?;
    Ok(BroadcastRequest {
        tool: tool_name(&mut object)?,
        arguments: parameters(&mut object)?,
        tags: string_list(&mut object, "tags")?,
        servers: string_list(&mut object, "mcp_servers")?,
    })
}

/// `POST /tools/{tool_name}/invoke`: the body is the tool's arguments; an empty body or
/// `null` is `{}`.
pub fn tool_arguments(raw: Option<Value>) -> Result<JsonObject, ApiError> {
    match raw {
        None | Some(Value::Null) => Ok(JsonObject::new()),
        Some(Value::Object(arguments)) => Ok(arguments),
        Some(other) => Err(ApiError::BadRequest(format!(
            "the body must be a JSON object (the tool's arguments), not {}",
            kind(&other)
        ))),
    }
}

/// The body as an object holding only `allowed` fields.
fn body_object(raw: Option<Value>, allowed: &[&str]) -> Result<Map<String, Value>, ApiError> {
    let object = match raw {
        Some(Value::Object(object)) => object,
        None => {
            return Err(ApiError::BadRequest(
                "a JSON object body is required (with at least tool_name)".to_owned(),
            ));
        }
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "the body must be a JSON object, not {}",
                kind(&other)
            )));
        }
    };
    if let Some(unknown) = object.keys().find(|key| !allowed.contains(&key.as_str())) {
        return Err(ApiError::BadRequest(format!(
            "unknown field {}; expected {}",
            shown_field(unknown),
            allowed.join(", ")
        )));
    }
    Ok(object)
}

fn tool_name(object: &mut Map<String, Value>) -> Result<String, ApiError> {
    match object.remove("tool_name") {
        Some(Value::String(name)) if !name.is_empty() => Ok(name),
        Some(Value::String(_)) => Err(ApiError::BadRequest(
            "tool_name must not be empty".to_owned(),
        )),
        None | Some(Value::Null) => Err(ApiError::BadRequest("tool_name is required".to_owned())),
        Some(other) => Err(ApiError::BadRequest(format!(
            "tool_name must be a string, not {}",
            kind(&other)
        ))),
    }
}

fn parameters(object: &mut Map<String, Value>) -> Result<Option<JsonObject>, ApiError> {
    match object.remove("parameters") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(arguments)) => Ok(Some(arguments)),
        Some(other) => Err(ApiError::BadRequest(format!(
            "parameters must be a JSON object (the tool's arguments), not {}",
            kind(&other)
        ))),
    }
}

/// An optional list of strings; empty is `None` (no filter).
fn string_list(
    object: &mut Map<String, Value>,
    field: &str,
) -> Result<Option<Vec<String>>, ApiError> {
    let items = match object.remove(field) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "{field} must be an array of strings, not {}",
                kind(&other)
            )));
        }
    };
    let mut list = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        match item {
            Value::String(text) => list.push(text),
            other => {
                return Err(ApiError::BadRequest(format!(
                    "{field}[{index}] must be a string, not {}",
                    kind(&other)
                )));
            }
        }
    }
    Ok((!list.is_empty()).then_some(list))
}

/// The JSON type of a value, for messages that must not repeat the value itself.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A caller's field name, quoted when it looks like a name and left out otherwise.
fn shown_field(name: &str) -> String {
    const MAX_SHOWN: usize = 64;
    let looks_like_a_name = !name.is_empty()
        && name.len() <= MAX_SHOWN
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if looks_like_a_name {
        format!("`{name}`")
    } else {
        "(a field name that is not shown)".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use serde_json::json;

    fn bad_request(error: Option<ApiError>) -> String {
        match error {
            Some(ApiError::BadRequest(message)) => message,
            other => panic!("expected a bad request, got {other:?}"),
        }
    }

    #[test]
    fn invoke_body_with_parameters() {
        let body = InvokeBody::from_raw(Some(json!({"tool_name": "echo", "parameters": {"a": 1}})));
        let expected = InvokeBody {
            tool_name: "echo".to_owned(),
            arguments: json!({"a": 1}).as_object().cloned(),
        };
        assert_eq!(body.ok(), Some(expected));
    }

    #[test]
    fn invoke_body_without_parameters() {
        for raw in [
            json!({"tool_name": "echo"}),
            json!({"tool_name": "echo", "parameters": null}),
        ] {
            let body = InvokeBody::from_raw(Some(raw)).ok();
            assert_eq!(body.map(|b| b.arguments), Some(None));
        }
    }

    #[test]
    fn invoke_body_needs_a_tool_name() {
        let cases = [
            (None, "a JSON object body is required"),
            (Some(json!({})), "tool_name is required"),
            (Some(json!({"tool_name": null})), "tool_name is required"),
            (
                Some(json!({"tool_name": ""})),
                "tool_name must not be empty",
            ),
            (
                Some(json!({"tool_name": 7})),
                "tool_name must be a string, not a number",
            ),
            (
                Some(json!({"tool_name": ["x"]})),
                "tool_name must be a string, not an array",
            ),
        ];
        for (raw, expected) in cases {
            let message = bad_request(InvokeBody::from_raw(raw).err());
            assert!(message.starts_with(expected), "{message}");
        }
    }

    #[test]
    fn invoke_body_must_be_an_object() {
        for (raw, expected) in [
            (json!([1]), "an array"),
            (json!("x"), "a string"),
            (json!(true), "a boolean"),
            (Value::Null, "null"),
        ] {
            let message = bad_request(InvokeBody::from_raw(Some(raw)).err());
            assert!(message.ends_with(expected), "{message}");
        }
    }

    #[test]
    fn parameters_must_be_an_object_and_are_not_echoed() {
        let message = bad_request(
            InvokeBody::from_raw(Some(json!({"tool_name": "echo", "parameters": "hunter2"}))).err(),
        );
        assert_eq!(
            message,
            "parameters must be a JSON object (the tool's arguments), not a string"
        );
    }

    #[test]
    fn unknown_fields_are_named() {
        let message = bad_request(
            InvokeBody::from_raw(Some(json!({"tool_name": "echo", "arguments": {}}))).err(),
        );
        assert_eq!(
            message,
            "unknown field `arguments`; expected tool_name, parameters"
        );
        let message = bad_request(
            broadcast_request(Some(json!({"tool_name": "echo", "mcp_server": ["a"]}))).err(),
        );
        assert!(message.contains("`mcp_server`"), "{message}");
        assert!(message.contains("mcp_servers"), "{message}");
    }

    #[test]
    fn odd_field_names_are_not_repeated() {
        let message = bad_request(
            InvokeBody::from_raw(Some(json!({"tool_name": "e", "token sk-123": 1}))).err(),
        );
        assert!(!message.contains("sk-123"), "{message}");
        assert!(message.starts_with("unknown field"), "{message}");
    }

    #[test]
    fn broadcast_request_with_every_field() {
        let request = broadcast_request(Some(json!({
            "tool_name": "search_logs",
            "parameters": {"query": "x"},
            "tags": ["prod", "elk"],
            "mcp_servers": ["a"],
        })))
        .ok();
        let Some(request) = request else {
            panic!("valid broadcast refused");
        };
        assert_eq!(request.tool, "search_logs");
        assert_eq!(
            request.arguments,
            json!({"query": "x"}).as_object().cloned()
        );
        assert_eq!(
            request.tags,
            Some(vec!["prod".to_owned(), "elk".to_owned()])
        );
        assert_eq!(request.servers, Some(vec!["a".to_owned()]));
    }

    #[test]
    fn empty_or_null_filters_are_no_filter() {
        let request = broadcast_request(Some(json!({
            "tool_name": "t", "tags": [], "mcp_servers": null,
        })))
        .ok();
        let Some(request) = request else {
            panic!("valid broadcast refused");
        };
        assert_eq!(request.tags, None);
        assert_eq!(request.servers, None);
        assert_eq!(request.arguments, None);
    }

    #[test]
    fn filters_must_be_lists_of_strings() {
        let cases = [
            (
                json!({"tool_name": "t", "tags": "prod"}),
                "tags must be an array of strings, not a string",
            ),
            (
                json!({"tool_name": "t", "tags": ["a", 1]}),
                "tags[1] must be a string, not a number",
            ),
            (
                json!({"tool_name": "t", "mcp_servers": {"a": 1}}),
                "mcp_servers must be an array of strings, not an object",
            ),
            (
                json!({"tool_name": "t", "mcp_servers": [null]}),
                "mcp_servers[0] must be a string, not null",
            ),
        ];
        for (raw, expected) in cases {
            assert_eq!(bad_request(broadcast_request(Some(raw)).err()), expected);
        }
    }

    #[test]
    fn tool_arguments_default_to_an_empty_object() {
        assert_eq!(tool_arguments(None).ok(), Some(JsonObject::new()));
        assert_eq!(
            tool_arguments(Some(Value::Null)).ok(),
            Some(JsonObject::new())
        );
        assert_eq!(
            tool_arguments(Some(json!({"k": "v"}))).ok(),
            json!({"k": "v"}).as_object().cloned()
        );
    }

    #[test]
    fn tool_arguments_must_be_an_object() {
        let message = bad_request(tool_arguments(Some(json!([1, 2]))).err());
        assert_eq!(
            message,
            "the body must be a JSON object (the tool's arguments), not an array"
        );
        let message = bad_request(tool_arguments(Some(json!(42))).err());
        assert!(message.ends_with("a number"), "{message}");
    }
}
