//! `mcpgw keys create|list|revoke`: the gateway's API keys (`/api/keys`). A key stands for
//! the user who makes it; `create` prints its text once (the gateway keeps only a digest).

use std::io::Write;

use serde_json::{Value, json};

use crate::args::OutputFormat;
use crate::client::{Failure, Gateway, encode};
use crate::output::{self, list, table, text};

const HEADER: [&str; 7] = ["ID", "NAME", "USER", "ROLES", "STATE", "CREATED", "EXPIRES"];

fn row(key: &Value) -> Vec<String> {
    vec![
        text(&key["id"]),
        text(&key["name"]),
        text(&key["user"]),
        list(&key["roles"]),
        text(&key["state"]),
        text(&key["created_at"]),
        text(&key["expires_at"]),
    ]
}

fn print(out: &mut dyn Write, format: OutputFormat, json: &Value, rows: Vec<Vec<String>>) {
    // stdout closed (`| head`): nothing left to tell anyone.
    let _ = match format {
        OutputFormat::Json => output::json(out, json),
        OutputFormat::Table => output::print_table(out, &table(&HEADER, rows)),
    };
}

pub fn create(
    gateway: &Gateway,
    name: &str,
    roles: &[String],
    expires: Option<&str>,
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let mut body = json!({"name": name});
    if !roles.is_empty() {
        body["roles"] = json!(roles);
    }
    if let Some(expires) = expires {
        body["expires_in"] = json!(expires);
    }
    let key = gateway.post("/api/keys", &body)?;
    match format {
        OutputFormat::Json => {
            let _ = output::json(out, &key);
        }
        OutputFormat::Table => {
            print(out, format, &key, vec![row(&key)]);
            let _ = writeln!(
                out,
                "\nkey (shown once; keep it secret): {}\nuse it as `Authorization: Bearer <key>`, `x-api-key: <key>`, or MCP_GATEWAY_TOKEN",
                text(&key["key"])
            );
        }
    }
    Ok(())
}

pub fn list_keys(
    gateway: &Gateway,
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let listed = gateway.get("/api/keys")?;
    let rows = listed["keys"]
        .as_array()
        .map(|keys| keys.iter().map(row).collect())
        .unwrap_or_default();
    print(out, format, &listed, rows);
    Ok(())
}

pub fn revoke(
    gateway: &Gateway,
    id: &str,
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let key = gateway.delete(&format!("/api/keys/{}", encode(id)))?;
    print(out, format, &key, vec![row(&key)]);
    Ok(())
}
