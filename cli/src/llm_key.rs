//! `mcpgw llm set-key|key|remove-key`: the user's own Anthropic key for the gateway's
//! proxy (`/api/llm/key`). The gateway keeps it encrypted and never shows it again; these
//! commands print only whether one is set, and when.

use std::io::{IsTerminal as _, Write};

use serde_json::{Value, json};

use crate::args::OutputFormat;
use crate::client::{Failure, Gateway};
use crate::output::{self, table, text};

/// `mcpgw llm set-key`: the key is read from stdin (never an argument, which would stay in
/// the shell's history and the process list).
pub fn set_llm_key(
    gateway: &Gateway,
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    // On a terminal, asked for without echo (like a password); else the first line of stdin.
    let line = if std::io::stdin().is_terminal() {
        rpassword::prompt_password("Your Anthropic key (not shown): ")
    } else {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|_| line)
    }
    .map_err(|_| Failure::Usage("cannot read the key from stdin".into()))?;
    let key = line.trim();
    if key.is_empty() {
        return Err(Failure::Usage(
            "give the key on stdin: `mcpgw llm set-key < key.txt` or `printenv ANTHROPIC_API_KEY | mcpgw llm set-key`".into(),
        ));
    }
    let answer = gateway.put("/api/llm/key", &json!({"key": key}))?;
    print_llm_key(out, format, &answer);
    Ok(())
}

pub fn llm_key(
    gateway: &Gateway,
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let answer = gateway.get("/api/llm/key")?;
    print_llm_key(out, format, &answer);
    Ok(())
}

pub fn remove_llm_key(
    gateway: &Gateway,
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let answer = gateway.delete("/api/llm/key")?;
    print_llm_key(out, format, &answer);
    Ok(())
}

fn print_llm_key(out: &mut dyn Write, format: OutputFormat, answer: &Value) {
    let _ = match format {
        OutputFormat::Json => output::json(out, answer),
        OutputFormat::Table => {
            let set = if answer["set"] == json!(true) {
                "set"
            } else {
                "not set"
            };
            let rows = vec![vec![set.to_owned(), text(&answer["updated_at"])]];
            output::print_table(out, &table(&["YOUR ANTHROPIC KEY", "STORED"], rows))
        }
    };
}
