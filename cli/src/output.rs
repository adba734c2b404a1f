//! How `mcpgw` prints answers: the gateway's JSON as is (`--output json`, and whenever stdout
//! is not a terminal), or tables that fit the terminal (`--output table`, the default on a
//! terminal). Tables carry no colour, so `NO_COLOR` and pipes need nothing more.

use std::io::{IsTerminal as _, Write};

use comfy_table::{ContentArrangement, Table, presets};
use serde_json::Value;

use crate::args::OutputFormat;

/// The longest description a table shows before cutting it with `…`.
const MAX_DESCRIPTION_CHARS: usize = 60;

/// The format in effect: the one asked for, else table on a terminal and JSON otherwise.
pub fn format(asked: Option<OutputFormat>) -> OutputFormat {
    asked.unwrap_or_else(|| {
        if std::io::stdout().is_terminal() {
            OutputFormat::Table
        } else {
            OutputFormat::Json
        }
    })
}

/// Pretty JSON, one document.
pub fn json(out: &mut dyn Write, value: &Value) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string());
    writeln!(out, "{text}")
}

/// A table with a header row and no borders, as wide as the terminal when there is one.
pub fn table(header: &[&str], rows: Vec<Vec<String>>) -> Table {
    let mut table = Table::new();
    table
        .load_style(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header.to_vec());
    for row in rows {
        table.add_row(row);
    }
    // Columns start at the left edge, two blanks apart, as `kubectl get` prints them.
    for column in table.column_iter_mut() {
        column.set_padding((0, 2));
    }
    table
}

pub fn print_table(out: &mut dyn Write, table: &Table) -> std::io::Result<()> {
    // comfy-table pads every line to the column widths; trailing blanks help no one.
    for line in table.to_string().lines() {
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// A JSON string field, or `-` when absent.
pub fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}

/// The first line of a description, cut to [`MAX_DESCRIPTION_CHARS`].
pub fn short(value: &Value) -> String {
    let text = value.as_str().unwrap_or_default();
    let line = text.lines().next().unwrap_or_default();
    match line.char_indices().nth(MAX_DESCRIPTION_CHARS) {
        Some((cut, _)) => format!("{}…", &line[..cut]),
        None if line.len() < text.trim_end().len() => format!("{line} …"),
        None => line.to_owned(),
    }
}

/// A list of strings, comma-separated; `-` when empty.
pub fn list(value: &Value) -> String {
    let items: Vec<&str> = value
        .as_array()
        .map(|items| items.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if items.is_empty() {
        "-".to_owned()
    } else {
        items.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn descriptions_are_cut_to_one_short_line() {
        assert_eq!(short(&json!("Search logs")), "Search logs");
        assert_eq!(short(&json!("first\nsecond")), "first …");
        let long = "x".repeat(100);
        let cut = short(&json!(long));
        assert_eq!(cut.chars().count(), MAX_DESCRIPTION_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(short(&Value::Null), "");
    }

    #[test]
    fn tables_have_a_header_and_no_trailing_blanks() {
        let mut out = Vec::new();
        let rows = vec![vec!["a".to_owned(), "-".to_owned()]];
        print_table(&mut out, &table(&["NAME", "TAGS"], rows)).expect("write");
        let text = String::from_utf8(out).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].contains("NAME") && lines[0].contains("TAGS"));
        assert!(lines.iter().all(|l| !l.ends_with(' ')), "{text:?}");
        assert!(
            lines[0].starts_with("NAME") && lines[1].starts_with('a'),
            "{text:?}"
        );
    }

    #[test]
    fn fields_read_plainly() {
        assert_eq!(text(&json!("x")), "x");
        assert_eq!(text(&Value::Null), "-");
        assert_eq!(text(&json!(3)), "3");
        assert_eq!(list(&json!(["a", "b"])), "a, b");
        assert_eq!(list(&json!([])), "-");
    }
}
