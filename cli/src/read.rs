//! The commands that read the gateway's state: `health`, `whoami`, `servers list|info` and
//! `tools list`. Each asks one REST route and prints its JSON as is, or a table.

use std::io::Write;

use serde_json::{Value, json};

use crate::args::OutputFormat;
use crate::client::{Failure, Gateway, encode};
use crate::output::{self, list, short, table, text};

/// What a read command prints: the JSON to print as is, and its table.
struct Answer {
    json: Value,
    table: comfy_table::Table,
}

fn print(out: &mut dyn Write, format: OutputFormat, answer: &Answer) -> Result<(), Failure> {
    let written = match format {
        OutputFormat::Json => output::json(out, &answer.json),
        OutputFormat::Table => output::print_table(out, &answer.table),
    };
    // stdout closed (`| head`): nothing left to tell anyone.
    let _ = written;
    Ok(())
}

pub fn health(gateway: &Gateway, format: OutputFormat, out: &mut dyn Write) -> Result<(), Failure> {
    let json = gateway.get("/health")?;
    let servers = &json["servers"];
    let row = vec![
        text(&json["status"]),
        format!(
            "{}/{} healthy",
            text(&servers["healthy"]),
            text(&servers["total"])
        ),
    ];
    let table = table(&["STATUS", "SERVERS"], vec![row]);
    print(out, format, &Answer { json, table })
}

pub fn whoami(gateway: &Gateway, format: OutputFormat, out: &mut dyn Write) -> Result<(), Failure> {
    let json = gateway.get("/whoami")?;
    let row = vec![
        text(&json["user"]),
        text(&json["subject"]),
        list(&json["roles"]),
    ];
    let table = table(&["USER", "SUBJECT", "ROLES"], vec![row]);
    print(out, format, &Answer { json, table })
}

/// A server's health at a glance.
fn health_word(server: &Value) -> &'static str {
    match (server["enabled"].as_bool(), server["healthy"].as_bool()) {
        (Some(false), _) => "disabled",
        (_, Some(true)) => "up",
        _ => "DOWN",
    }
}

fn server_row(server: &Value) -> Vec<String> {
    vec![
        text(&server["name"]),
        text(&server["type"]),
        health_word(server).to_owned(),
        text(&server["tool_count"]),
        list(&server["tags"]),
        text(&server["last_error"]),
    ]
}

const SERVER_HEADER: [&str; 6] = ["NAME", "TYPE", "HEALTH", "TOOLS", "TAGS", "LAST ERROR"];

pub fn servers_list(
    gateway: &Gateway,
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let json = gateway.get("/mcp/servers")?;
    let rows = json["servers"]
        .as_array()
        .map(|servers| servers.iter().map(server_row).collect())
        .unwrap_or_default();
    let table = table(&SERVER_HEADER, rows);
    print(out, format, &Answer { json, table })
}

pub fn servers_info(
    gateway: &Gateway,
    name: &str,
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let json = gateway
        .get(&format!("/mcp/server/{}/info", encode(name)))
        .map_err(|failure| match failure {
            Failure::Refused {
                status: 404, code, ..
            } => Failure::Refused {
                status: 404,
                code,
                message: format!("no server named {name}; see `mcpgw servers list`"),
            },
            other => other,
        })?;
    if format == OutputFormat::Json {
        return print(
            out,
            format,
            &Answer {
                json,
                table: table(&[], vec![]),
            },
        );
    }
    let info = &json["server_info"];
    let handshake = if info.is_object() {
        format!(
            "{} {} (protocol {})",
            text(&info["name"]),
            text(&info["version"]),
            text(&info["protocol_version"])
        )
    } else {
        "-".to_owned()
    };
    let mut row = server_row(&json);
    row.push(handshake);
    let mut header = SERVER_HEADER.to_vec();
    header.push("SERVER INFO");
    let _ = output::print_table(out, &table(&header, vec![row]));
    let _ = writeln!(out);
    let tools = json["tools"]
        .as_array()
        .map(|tools| {
            tools
                .iter()
                .map(|tool| {
                    vec![
                        text(&tool["name"]),
                        text(&tool["exposed_name"]),
                        short(&tool["description"]),
                    ]
                })
                .collect()
        })
        .unwrap_or_default();
    let _ = output::print_table(out, &table(&["TOOL", "EXPOSED NAME", "DESCRIPTION"], tools));
    Ok(())
}

/// `tools list`: `GET /tools`, narrowed to `server`'s tools (by the `server__` prefix) and to
/// names or descriptions containing `filter` (any case).
pub fn tools_list(
    gateway: &Gateway,
    server: Option<&str>,
    filter: Option<&str>,
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let mut json = gateway.get("/tools")?;
    let tools = json["tools"].as_array().cloned().unwrap_or_default();
    let kept: Vec<Value> = tools
        .into_iter()
        .filter(|tool| keep(tool, server, filter))
        .collect();
    let rows = kept
        .iter()
        .map(|tool| vec![text(&tool["name"]), short(&tool["description"])])
        .collect();
    json = json!({"tools": kept});
    let table = table(&["NAME", "DESCRIPTION"], rows);
    print(out, format, &Answer { json, table })
}

fn keep(tool: &Value, server: Option<&str>, filter: Option<&str>) -> bool {
    let name = tool["name"].as_str().unwrap_or_default();
    let of_server = server.is_none_or(|server| {
        name.strip_prefix(server)
            .is_some_and(|rest| rest.starts_with("__"))
    });
    let matches = filter.is_none_or(|filter| {
        let filter = filter.to_lowercase();
        let description = tool["description"].as_str().unwrap_or_default();
        name.to_lowercase().contains(&filter) || description.to_lowercase().contains(&filter)
    });
    of_server && matches
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tools_are_kept_by_server_prefix_and_text() {
        let tool = json!({"name": "prod-elk-1__search_logs", "description": "Search the LOGS"});
        assert!(keep(&tool, None, None));
        assert!(keep(&tool, Some("prod-elk-1"), None));
        assert!(!keep(&tool, Some("prod-elk"), None));
        assert!(keep(&tool, None, Some("logs")));
        assert!(keep(&tool, Some("prod-elk-1"), Some("search")));
        assert!(!keep(&tool, None, Some("health")));
    }

    #[test]
    fn health_reads_at_a_glance() {
        assert_eq!(
            health_word(&json!({"enabled": true, "healthy": true})),
            "up"
        );
        assert_eq!(
            health_word(&json!({"enabled": true, "healthy": false})),
            "DOWN"
        );
        assert_eq!(
            health_word(&json!({"enabled": false, "healthy": false})),
            "disabled"
        );
    }
}
