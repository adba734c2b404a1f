//! The commands that call tools: `call` (an exposed name), `invoke` (a backend's own tool
//! name) and `broadcast`. Arguments come from `--json` (an object, or `@FILE`) and `--arg
//! KEY=VALUE` pairs on top of it; a tool that ran and failed, or a broadcast where every
//! target failed, is exit 1.

use std::io::Write;

use serde_json::{Map, Value, json};

use crate::args::{OutputFormat, ToolArguments};
use crate::client::{Failure, Gateway, encode};
use crate::exit;
use crate::output::{self, table, text};

/// Why the command line's arguments are unusable (exit 2): the message names the argument.
#[derive(Debug, PartialEq)]
pub struct BadArguments(pub String);

/// The tool's arguments: `--json` first, then each `--arg` (a JSON value when `VALUE` is
/// valid JSON, else the text itself).
pub fn arguments(given: &ToolArguments) -> Result<Map<String, Value>, BadArguments> {
    let mut object = match &given.json {
        None => Map::new(),
        Some(json) => {
            let (text, source) = match json.strip_prefix('@') {
                Some(path) => (
                    std::fs::read_to_string(path).map_err(|e| {
                        BadArguments(format!("--json @{path}: cannot read it: {e}"))
                    })?,
                    format!("--json @{path}"),
                ),
                None => (json.clone(), "--json".to_owned()),
            };
            match serde_json::from_str::<Value>(&text) {
                Ok(Value::Object(object)) => object,
                Ok(_) => return Err(BadArguments(format!("{source}: expected a JSON object"))),
                Err(e) => return Err(BadArguments(format!("{source}: not JSON ({e})"))),
            }
        }
    };
    for (key, value) in &given.args {
        let value = serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.clone()));
        object.insert(key.clone(), value);
    }
    Ok(object)
}

/// The text a person reads of a `CallToolResult`: its text items, else the JSON of its
/// structured content.
fn result_text(result: &Value) -> String {
    let texts: Vec<&str> = result["content"]
        .as_array()
        .map(|items| items.iter().filter_map(|i| i["text"].as_str()).collect())
        .unwrap_or_default();
    if texts.is_empty() {
        result
            .get("structuredContent")
            .map(Value::to_string)
            .unwrap_or_default()
    } else {
        texts.join("\n")
    }
}

/// Print a tool's result; exit 1 when it says `isError`.
fn print_result(out: &mut dyn Write, format: OutputFormat, json: &Value, result: &Value) -> u8 {
    let _ = match format {
        OutputFormat::Json => output::json(out, json),
        OutputFormat::Table => writeln!(out, "{}", result_text(result)),
    };
    if result["isError"] == true {
        exit::FAILURE
    } else {
        exit::OK
    }
}

/// `call NAME`: `POST /tools/{NAME}/invoke`.
pub fn call(
    gateway: &Gateway,
    name: &str,
    arguments: Map<String, Value>,
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<u8, Failure> {
    let result = gateway.post(
        &format!("/tools/{}/invoke", encode(name)),
        &Value::Object(arguments),
    )?;
    Ok(print_result(out, format, &result, &result))
}

/// `invoke SERVER TOOL`: `POST /mcp/invoke?mcp_server=SERVER`.
pub fn invoke(
    gateway: &Gateway,
    server: &str,
    tool: &str,
    arguments: Map<String, Value>,
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<u8, Failure> {
    let body = json!({"tool_name": tool, "parameters": arguments});
    let answer = gateway.post(&format!("/mcp/invoke?mcp_server={}", encode(server)), &body)?;
    Ok(print_result(out, format, &answer, &answer["call_result"]))
}

/// `broadcast TOOL`: `POST /mcp/invoke-broadcast`; a table of one row per server.
pub fn broadcast(
    gateway: &Gateway,
    tool: &str,
    tags: &[String],
    servers: &[String],
    arguments: Map<String, Value>,
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<u8, Failure> {
    let mut body = json!({"tool_name": tool, "parameters": arguments});
    if !tags.is_empty() {
        body["tags"] = json!(tags);
    }
    if !servers.is_empty() {
        body["mcp_servers"] = json!(servers);
    }
    let report = gateway.post("/mcp/invoke-broadcast", &body)?;
    let _ = match format {
        OutputFormat::Json => output::json(out, &report),
        OutputFormat::Table => output::print_table(out, &broadcast_table(&report)),
    };
    let all_failed = report["total_servers"].as_u64().unwrap_or(0) > 0
        && report["successful"].as_u64() == Some(0);
    Ok(if all_failed { exit::FAILURE } else { exit::OK })
}

/// One row per server: how it ended, its time, the first line of its result or error.
fn broadcast_table(report: &Value) -> comfy_table::Table {
    let mut servers: Vec<&String> = Vec::new();
    for key in ["call_results", "errors"] {
        if let Some(map) = report[key].as_object() {
            servers.extend(map.keys());
        }
    }
    servers.sort();
    let rows = servers
        .into_iter()
        .map(|server| {
            let time = match &report["durations_ms"][server] {
                Value::Null => "-".to_owned(),
                ms => format!("{} ms", text(ms)),
            };
            let (status, detail) = match &report["call_results"][server] {
                Value::Null => ("FAILED", text(&report["errors"][server])),
                result if result["isError"] == true => ("ERROR", result_text(result)),
                result => ("ok", result_text(result)),
            };
            let first_line = detail.lines().next().unwrap_or_default().to_owned();
            vec![server.clone(), status.to_owned(), time, first_line]
        })
        .collect();
    table(&["SERVER", "STATUS", "TIME", "RESULT"], rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn given(args: &[(&str, &str)], json: Option<&str>) -> ToolArguments {
        ToolArguments {
            args: args
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            json: json.map(str::to_owned),
        }
    }

    #[test]
    fn args_are_json_when_they_parse_and_text_otherwise() {
        let object = arguments(&given(
            &[
                ("n", "5"),
                ("q", "error"),
                ("flag", "true"),
                ("o", r#"{"a":1}"#),
            ],
            None,
        ))
        .expect("arguments");
        assert_eq!(
            Value::Object(object),
            json!({"n": 5, "q": "error", "flag": true, "o": {"a": 1}})
        );
    }

    #[test]
    fn args_go_on_top_of_json_and_files_are_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.json");
        std::fs::write(&path, r#"{"q": "x", "limit": 2}"#).expect("write");
        let file = format!("@{}", path.display());
        let object = arguments(&given(&[("q", "y")], Some(&file))).expect("arguments");
        assert_eq!(Value::Object(object), json!({"q": "y", "limit": 2}));
    }

    #[test]
    fn bad_json_names_the_argument() {
        let not_json = arguments(&given(&[], Some("{nope"))).unwrap_err();
        assert!(not_json.0.starts_with("--json: not JSON"), "{}", not_json.0);
        let array = arguments(&given(&[], Some("[1]"))).unwrap_err();
        assert_eq!(array.0, "--json: expected a JSON object");
        let missing = arguments(&given(&[], Some("@/nonexistent/a.json"))).unwrap_err();
        assert!(
            missing
                .0
                .starts_with("--json @/nonexistent/a.json: cannot read it"),
            "{}",
            missing.0
        );
    }

    #[test]
    fn a_broadcast_table_has_one_row_per_server() {
        let report = json!({
            "total_servers": 3, "successful": 1, "failed": 2,
            "durations_ms": {"a": 12, "b": 30},
            "call_results": {
                "a": {"content": [{"type": "text", "text": "fine\nmore"}]},
                "b": {"content": [{"type": "text", "text": "disk full"}], "isError": true}
            },
            "errors": {"c": "access denied"}
        });
        let rendered = broadcast_table(&report).to_string();
        let lines: Vec<&str> = rendered.lines().map(str::trim_end).collect();
        assert_eq!(lines.len(), 4, "{rendered}");
        assert!(
            lines[1].starts_with('a')
                && lines[1].contains("ok")
                && lines[1].contains("12 ms")
                && lines[1].ends_with("fine"),
            "{rendered}"
        );
        assert!(
            lines[2].contains("ERROR") && lines[2].ends_with("disk full"),
            "{rendered}"
        );
        assert!(
            lines[3].contains("FAILED")
                && lines[3].contains(" - ")
                && lines[3].ends_with("access denied"),
            "{rendered}"
        );
    }
}
