//! `mcpgw audit`: the gateway's audit records (`GET /audit`, admin role), newest first; with
//! `--follow`, then every new record as it arrives, oldest first, until interrupted.
//!
//! `GET /audit` pages backwards in time, so following polls with `since` instead: from a little
//! before the newest record seen (records of concurrent calls reach the database slightly out
//! of timestamp order), leaving out the ids already printed.

use std::collections::{HashSet, VecDeque};
use std::io::Write;
use std::time::Duration;

use serde_json::Value;

use crate::args::OutputFormat;
use crate::client::{Failure, Gateway, encode};
use crate::output::{self, table, text};

/// How often `--follow` asks for new records.
const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// How far before the newest record seen each poll starts.
const REORDER_WINDOW_SECS: i64 = 5;
/// Ids remembered to leave out records already printed (more than a window's worth).
const REMEMBERED_IDS: usize = 10_000;

/// The filters of one `audit` command.
pub struct Query<'a> {
    pub user: Option<&'a str>,
    pub tool: Option<&'a str>,
    pub status: Option<&'a str>,
    pub since: Option<&'a str>,
    pub limit: Option<u32>,
}

impl Query<'_> {
    /// `/audit?…`, with `since` replaced when given.
    fn path(&self, since: Option<&str>) -> String {
        let mut pairs = Vec::new();
        for (key, value) in [
            ("user", self.user),
            ("tool", self.tool),
            ("status", self.status),
            ("since", since.or(self.since)),
        ] {
            if let Some(value) = value {
                pairs.push(format!("{key}={}", encode(value)));
            }
        }
        if let Some(limit) = self.limit {
            pairs.push(format!("limit={limit}"));
        }
        if pairs.is_empty() {
            "/audit".to_owned()
        } else {
            format!("/audit?{}", pairs.join("&"))
        }
    }
}

const HEADER: [&str; 7] = ["TIME", "EVENT", "STATUS", "USER", "TOOL", "MS", "ERROR"];

fn row(record: &Value) -> Vec<String> {
    vec![
        text(&record["timestamp"]),
        text(&record["event"]),
        text(&record["status"]),
        text(&record["user"]),
        text(&record["tool"]),
        text(&record["duration_ms"]),
        text(&record["error"]),
    ]
}

/// One page, printed; then, with `follow`, every new record until interrupted.
pub fn run(
    gateway: &Gateway,
    query: &Query<'_>,
    follow: bool,
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let page = gateway.get(&query.path(None))?;
    let records = page["records"].as_array().cloned().unwrap_or_default();
    if !follow {
        let _ = match format {
            OutputFormat::Json => output::json(out, &page),
            OutputFormat::Table => {
                output::print_table(out, &table(&HEADER, records.iter().map(row).collect()))
            }
        };
        return Ok(());
    }
    let mut seen = Seen::default();
    if format == OutputFormat::Table {
        let _ = writeln!(out, "{}", HEADER.join("  "));
    }
    // Oldest first from here on, as a log reads.
    let mut reader_there = print_new(out, format, &mut seen, records.iter().rev());
    while reader_there {
        std::thread::sleep(POLL_INTERVAL);
        let since = seen.newest_minus_window();
        let page = gateway.get(&query.path(since.as_deref()))?;
        let records = page["records"].as_array().cloned().unwrap_or_default();
        reader_there = print_new(out, format, &mut seen, records.iter().rev());
    }
    // The reader went away (`| head`): following has no one left to serve.
    Ok(())
}

/// Print the records not printed yet; false once the output is closed.
fn print_new<'a>(
    out: &mut dyn Write,
    format: OutputFormat,
    seen: &mut Seen,
    records: impl Iterator<Item = &'a Value>,
) -> bool {
    for record in records {
        if !seen.first_time(record) {
            continue;
        }
        let written = match format {
            OutputFormat::Json => writeln!(out, "{record}"),
            OutputFormat::Table => writeln!(out, "{}", row(record).join("  ")),
        };
        if written.and_then(|()| out.flush()).is_err() {
            return false;
        }
    }
    true
}

/// The records printed so far: their ids (the latest few thousand) and the newest timestamp.
#[derive(Default)]
struct Seen {
    ids: HashSet<String>,
    order: VecDeque<String>,
    newest: Option<chrono::DateTime<chrono::Utc>>,
}

impl Seen {
    /// Whether `record` is new; remembers it.
    fn first_time(&mut self, record: &Value) -> bool {
        let id = text(&record["id"]);
        if !self.ids.insert(id.clone()) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > REMEMBERED_IDS
            && let Some(oldest) = self.order.pop_front()
        {
            self.ids.remove(&oldest);
        }
        if let Some(time) = record["timestamp"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        {
            let time = time.with_timezone(&chrono::Utc);
            if self.newest.is_none_or(|newest| time > newest) {
                self.newest = Some(time);
            }
        }
        true
    }

    /// Where the next poll starts (RFC 3339), `None` before any record was seen.
    fn newest_minus_window(&self) -> Option<String> {
        self.newest.map(|newest| {
            (newest - chrono::Duration::seconds(REORDER_WINDOW_SECS))
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_query_carries_the_filters() {
        let query = Query {
            user: Some("ann"),
            tool: None,
            status: Some("denied"),
            since: Some("1h"),
            limit: Some(5),
        };
        assert_eq!(
            query.path(None),
            "/audit?user=ann&status=denied&since=1h&limit=5"
        );
        assert_eq!(
            query.path(Some("2026-12-07T01:00:00.000000Z")),
            "/audit?user=ann&status=denied&since=2026-12-07T01%3A00%3A00.000000Z&limit=5"
        );
        let none = Query {
            user: None,
            tool: None,
            status: None,
            since: None,
            limit: None,
        };
        assert_eq!(none.path(None), "/audit");
    }

    #[test]
    fn records_are_printed_once_and_polls_start_a_window_before_the_newest() {
        let mut seen = Seen::default();
        assert_eq!(seen.newest_minus_window(), None);
        let first = json!({"id": "a", "timestamp": "2026-12-07T01:00:10.000000Z"});
        let second = json!({"id": "b", "timestamp": "2026-12-07T01:00:08.000000Z"});
        assert!(seen.first_time(&first));
        assert!(seen.first_time(&second));
        assert!(!seen.first_time(&first));
        assert_eq!(
            seen.newest_minus_window().as_deref(),
            Some("2026-12-07T01:00:05.000000Z")
        );
    }
}
