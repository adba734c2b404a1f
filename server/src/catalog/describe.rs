//! Descriptions and JSON schemas of exposed tools: the `[server]` prefix of direct tools, and
//! the input/output schemas and texts of synthesized broadcast tools (SPEC §5, §6, §13).

use rmcp::model::JsonObject;
use serde_json::{Value, json};

/// `[server] <backend description>`, or just `[server]` when the backend gave none (or an
/// empty one).
pub fn direct_description(server: &str, backend_description: Option<&str>) -> String {
    match backend_description {
        Some(text) if !text.is_empty() => format!("[{server}] {text}"),
        _ => format!("[{server}]"),
    }
}

/// Text of `broadcast__<tool>`: which servers it reaches, then the backend's own description
/// when every member describes the tool the same way.
pub fn broadcast_description<S: AsRef<str>>(
    tool: &str,
    servers: &[S],
    common_description: Option<&str>,
) -> String {
    let mut text = format!(
        "Broadcast: calls `{tool}` concurrently on {} ({}) and returns every server's result.",
        server_count(servers.len()),
        join(servers),
    );
    if let Some(about) = common_description.filter(|about| !about.is_empty()) {
        text.push_str("\n\n");
        text.push_str(about);
    }
    text
}

/// Text of `broadcast__by_tag__<tag>`: which servers it reaches and how to call it.
pub fn tag_broadcast_description<S: AsRef<str>>(tag: &str, servers: &[S]) -> String {
    format!(
        "Broadcast to the servers tagged `{tag}`: calls `tool_name` with `arguments` \
         concurrently on every one of {} ({}) that offers it, and returns every server's result.",
        server_count(servers.len()),
        join(servers),
    )
}

/// Input schema of a `broadcast__<tool>` whose members disagree on the tool's schema: any
/// object, passed unchanged to every member.
pub fn open_input_schema() -> JsonObject {
    object(json!({
        "type": "object",
        "properties": {},
        "additionalProperties": true,
    }))
}

/// Input schema of a `broadcast__by_tag__<tag>`: the tool to call (one of `tools`, in the
/// order given) and its arguments.
pub fn tag_input_schema<S: AsRef<str>>(tools: &[S]) -> JsonObject {
    let tool_names: Vec<&str> = tools.iter().map(AsRef::as_ref).collect();
    object(json!({
        "type": "object",
        "properties": {
            "tool_name": {
                "type": "string",
                "enum": tool_names,
                "description": "The tool to call on every tagged server that offers it.",
            },
            "arguments": {
                "type": "object",
                "description": "Arguments passed unchanged to the tool on every server.",
            },
        },
        "required": ["tool_name"],
    }))
}

/// Output schema of every broadcast tool: the `structuredContent` of a broadcast result,
/// which is the body of `POST /mcp/invoke-broadcast` (SPEC §7, §13).
pub fn broadcast_output_schema() -> JsonObject {
    object(json!({
        "type": "object",
        "properties": {
            "tool_name": {
                "type": "string",
                "description": "The backend tool that was called on every server.",
            },
            "total_servers": {
                "type": "integer",
                "minimum": 0,
                "description": "Servers in scope: successful + failed.",
            },
            "successful": { "type": "integer", "minimum": 0 },
            "failed": { "type": "integer", "minimum": 0 },
            "execution_time_ms": { "type": "integer", "minimum": 0 },
            "durations_ms": {
                "type": "object",
                "description": "Per server that was called: how long its call took.",
                "additionalProperties": { "type": "integer", "minimum": 0 },
            },
            "results": {
                "type": "object",
                "description": "Per server whose tool ran: its payload (structured content, \
                                parsed JSON text, or text).",
                "additionalProperties": true,
            },
            "call_results": {
                "type": "object",
                "description": "Per server whose tool ran: its unchanged CallToolResult.",
                "additionalProperties": { "type": "object" },
            },
            "errors": {
                "type": "object",
                "description": "Per server whose tool did not run: why.",
                "additionalProperties": { "type": "string" },
            },
        },
        "required": [
            "tool_name",
            "total_servers",
            "successful",
            "failed",
            "execution_time_ms",
            "results",
            "errors",
        ],
    }))
}

fn server_count(count: usize) -> String {
    if count == 1 {
        "1 server".to_owned()
    } else {
        format!("{count} servers")
    }
}

fn join<S: AsRef<str>>(items: &[S]) -> String {
    items
        .iter()
        .map(AsRef::as_ref)
        .collect::<Vec<_>>()
        .join(", ")
}

// `json!` with an object literal always yields an object; the fallback only keeps this
// function total.
fn object(value: Value) -> JsonObject {
    match value {
        Value::Object(map) => map,
        _ => JsonObject::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direct_description_prefixes_the_server() {
        assert_eq!(
            direct_description("prod-elk-1", Some("Search the logs")),
            "[prod-elk-1] Search the logs"
        );
    }

    #[test]
    fn direct_description_without_text_is_the_prefix_alone() {
        assert_eq!(direct_description("s", None), "[s]");
        assert_eq!(direct_description("s", Some("")), "[s]");
    }

    #[test]
    fn broadcast_description_names_every_server() {
        let text = broadcast_description("search_logs", &["prod-elk-1", "prod-elk-2"], None);
        assert_eq!(
            text,
            "Broadcast: calls `search_logs` concurrently on 2 servers (prod-elk-1, prod-elk-2) \
             and returns every server's result."
        );
    }

    #[test]
    fn broadcast_description_appends_the_common_description() {
        let text = broadcast_description("t", &["a"], Some("Does t."));
        assert!(text.starts_with("Broadcast: calls `t` concurrently on 1 server (a)"));
        assert!(text.ends_with("\n\nDoes t."));
        assert!(!broadcast_description("t", &["a"], Some("")).contains("\n\n"));
    }

    #[test]
    fn tag_broadcast_description_names_the_tag_and_servers() {
        let text = tag_broadcast_description("elk_cluster", &["x".to_owned(), "y".to_owned()]);
        assert!(text.contains("`elk_cluster`"));
        assert!(text.contains("2 servers (x, y)"));
    }

    #[test]
    fn open_input_schema_accepts_any_object() {
        assert_eq!(
            Value::Object(open_input_schema()),
            json!({"type":"object","properties":{},"additionalProperties":true})
        );
    }

    #[test]
    fn tag_input_schema_lists_the_tools_in_order() {
        let schema = Value::Object(tag_input_schema(&["a", "b.c"]));
        assert_eq!(schema["type"], "object");
        assert_eq!(schema["properties"]["tool_name"]["type"], "string");
        assert_eq!(
            schema["properties"]["tool_name"]["enum"],
            json!(["a", "b.c"])
        );
        assert_eq!(schema["properties"]["arguments"]["type"], "object");
        assert_eq!(schema["required"], json!(["tool_name"]));
    }

    #[test]
    fn broadcast_output_schema_requires_the_rest_fields() {
        let schema = Value::Object(broadcast_output_schema());
        assert_eq!(schema["type"], "object");
        assert_eq!(
            schema["required"],
            json!([
                "tool_name",
                "total_servers",
                "successful",
                "failed",
                "execution_time_ms",
                "results",
                "errors"
            ])
        );
        for key in ["total_servers", "successful", "failed", "execution_time_ms"] {
            assert_eq!(schema["properties"][key]["type"], "integer", "{key}");
        }
        assert_eq!(
            schema["properties"]["errors"]["additionalProperties"]["type"],
            "string"
        );
        assert_eq!(schema["properties"]["call_results"]["type"], "object");
        assert_eq!(
            schema["properties"]["durations_ms"]["additionalProperties"]["type"],
            "integer"
        );
    }
}
