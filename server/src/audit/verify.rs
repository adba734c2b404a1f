//! `mcp-gateway audit verify`: check a sink's hash chain and name the first broken record.
//!
//! Files: the given file, preceded by its rotated days (`<file>.YYYY-MM-DD[.n]`, oldest
//! first) when it is the active file. Database: `audit_log` in `seq` order.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::chain::{BreakKind, ChainStart, ChainVerifier};
use super::file_sink::rotated_files;
use super::store::{Store, StoreError};
use crate::config::Secret;

/// Rows read per query when verifying a database.
const PAGE: i64 = 5000;

/// The first record that breaks the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenRecord {
    /// 1-based position in the chain (records checked before it + 1).
    pub position: u64,
    /// The record's `id`, when it can be read.
    pub id: Option<String>,
    /// `file:line` or `seq N`.
    pub location: String,
    pub kind: BreakKind,
}

impl std::fmt::Display for BrokenRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "record {} (id {}, {}): {}",
            self.position,
            self.id.as_deref().unwrap_or("unknown"),
            self.location,
            self.kind
        )
    }
}

/// What a verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// What was read, in order (file paths, or the database kind).
    pub sources: Vec<String>,
    /// Intact records before the first break (all of them when there is none).
    pub checked: u64,
    pub broken: Option<BrokenRecord>,
    /// `prev_hash` of the first record when the chain does not start at genesis (only
    /// accepted with [`ChainStart::Any`]).
    pub continues_from: Option<String>,
}

impl VerifyReport {
    pub fn intact(&self) -> bool {
        self.broken.is_none()
    }
}

/// The files of the chain that `path` ends: its rotated days, oldest first, then `path`.
pub fn chain_files(path: &Path) -> io::Result<Vec<PathBuf>> {
    let mut files = rotated_files(path)?;
    files.push(path.to_owned());
    Ok(files)
}

/// Check the records of `files`, in order, as one chain.
pub fn verify_files(files: &[PathBuf], start: ChainStart) -> io::Result<VerifyReport> {
    let mut verifier = ChainVerifier::new(start);
    let mut report = VerifyReport {
        sources: files.iter().map(|f| f.display().to_string()).collect(),
        checked: 0,
        broken: None,
        continues_from: None,
    };
    for path in files {
        let mut reader = BufReader::new(File::open(path)?);
        let mut line = Vec::new();
        let mut number = 0u64;
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line)? == 0 {
                break;
            }
            number += 1;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let location = format!("{}:{number}", path.display());
            let checked = match serde_json::from_slice::<Value>(&line) {
                Ok(value) => verifier.check(&value).map_err(|kind| (id_of(&value), kind)),
                Err(e) => Err((None, BreakKind::Unreadable(format!("not JSON: {e}")))),
            };
            if let Err((id, kind)) = checked {
                report.broken = Some(BrokenRecord {
                    position: verifier.checked() + 1,
                    id,
                    location,
                    kind,
                });
                report.checked = verifier.checked();
                return Ok(report);
            }
        }
    }
    report.checked = verifier.checked();
    report.continues_from = verifier.continues_from().map(str::to_owned);
    Ok(report)
}

/// Check `audit_log` in `seq` order.
pub async fn verify_store(store: &Store, start: ChainStart) -> Result<VerifyReport, StoreError> {
    let mut verifier = ChainVerifier::new(start);
    let mut report = VerifyReport {
        sources: vec![format!("{} audit_log", store.kind())],
        checked: 0,
        broken: None,
        continues_from: None,
    };
    let mut after = i64::MIN;
    loop {
        let page = store.chain_page(after, PAGE).await?;
        let Some((last, _)) = page.last() else {
            break;
        };
        after = *last;
        for (seq, row) in page {
            let checked = match row {
                Ok(row) => {
                    let value = row.to_json();
                    verifier
                        .check(&value)
                        .map_err(|kind| (Some(row.id.to_string()), kind))
                }
                Err(why) => Err((None, BreakKind::Unreadable(why))),
            };
            if let Err((id, kind)) = checked {
                report.broken = Some(BrokenRecord {
                    position: verifier.checked() + 1,
                    id,
                    location: format!("seq {seq}"),
                    kind,
                });
                report.checked = verifier.checked();
                return Ok(report);
            }
        }
    }
    report.checked = verifier.checked();
    report.continues_from = verifier.continues_from().map(str::to_owned);
    Ok(report)
}

/// Connect to `database_url` and check its `audit_log`.
pub async fn verify_database(
    database_url: &str,
    start: ChainStart,
) -> Result<VerifyReport, StoreError> {
    let store = Store::connect_lazy(database_url)?;
    let report = verify_store(&store, start).await;
    store.close().await;
    report
}

/// What `mcp-gateway audit verify` checks.
#[derive(Debug, Clone)]
pub enum VerifySource {
    File(PathBuf),
    Database(Secret),
}

/// Exit codes of `audit verify`.
pub const EXIT_INTACT: u8 = 0;
pub const EXIT_BROKEN: u8 = 1;
pub const EXIT_NOT_CHECKED: u8 = 2;

/// `mcp-gateway audit verify`: check, print the verdict (stdout) or why nothing could be
/// checked (stderr), and return the exit code.
pub async fn run_command(source: &VerifySource, start: ChainStart) -> u8 {
    let report = match source {
        VerifySource::File(path) => chain_files(path)
            .and_then(|files| verify_files(&files, start))
            .map_err(|e| format!("cannot read {}: {e}", path.display())),
        // The URL may hold a password: errors never quote it.
        VerifySource::Database(url) => verify_database(url.expose(), start)
            .await
            .map_err(|e| format!("cannot read the audit database: {e}")),
    };
    match report {
        Ok(report) => {
            println!("{}", describe(&report));
            if report.intact() {
                EXIT_INTACT
            } else {
                EXIT_BROKEN
            }
        }
        Err(message) => {
            eprintln!("mcp-gateway: {message}");
            EXIT_NOT_CHECKED
        }
    }
}

/// The verdict in a few lines.
pub fn describe(report: &VerifyReport) -> String {
    let sources = report.sources.join(", ");
    match &report.broken {
        Some(broken) => format!(
            "BROKEN: {broken}\n{} record(s) before it are intact ({sources})",
            report.checked
        ),
        None => {
            let mut text = format!("OK: {} record(s), chain intact ({sources})", report.checked);
            if let Some(prev) = &report.continues_from {
                text.push_str(&format!(
                    "\nthe first record follows a record not present (prev_hash {prev})"
                ));
            }
            text
        }
    }
}

fn id_of(value: &Value) -> Option<String> {
    value.get("id").and_then(Value::as_str).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use std::fs;

    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::audit::file_sink::FileSink;
    use crate::audit::record::{AuditEvent, AuditRecord, AuditStatus};

    /// `n` records on day 20 and `n` on day 21: one rotated file and the active one.
    fn write_files(dir: &Path, n: u32) -> PathBuf {
        let path = dir.join("audit.json");
        let mut sink = FileSink::open(&path).unwrap();
        for day in [20, 21] {
            for i in 0..n {
                let mut record = AuditRecord::new(AuditEvent::ToolCall, AuditStatus::Success)
                    .with_timestamp(Utc.with_ymd_and_hms(2026, 11, day, 1, i, 0).unwrap());
                sink.write(&mut record).unwrap();
            }
        }
        path
    }

    fn edit_lines(path: &Path, edit: impl FnOnce(&mut Vec<String>)) {
        let mut lines: Vec<String> = fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        edit(&mut lines);
        fs::write(path, lines.join("\n") + "\n").unwrap();
    }

    #[test]
    fn an_intact_rotated_chain_verifies_from_genesis() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_files(dir.path(), 3);
        let files = chain_files(&path).unwrap();
        assert_eq!(files.len(), 2);
        let report = verify_files(&files, ChainStart::Genesis).unwrap();
        assert!(report.intact(), "{report:?}");
        assert_eq!(report.checked, 6);
        assert_eq!(report.continues_from, None);
    }

    #[test]
    fn the_active_file_alone_continues_an_earlier_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_files(dir.path(), 3);
        let only = [path.clone()];
        let strict = verify_files(&only, ChainStart::Genesis).unwrap();
        let broken = strict.broken.unwrap();
        assert_eq!(broken.position, 1);
        assert!(matches!(broken.kind, BreakKind::Linkage { .. }));
        let partial = verify_files(&only, ChainStart::Any).unwrap();
        assert!(partial.intact());
        assert!(partial.continues_from.is_some());
    }

    #[test]
    fn edits_deletions_insertions_and_garbage_are_named_with_their_place() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_files(dir.path(), 3);
        let files = chain_files(&path).unwrap();
        let active = files[1].clone();
        let original = fs::read_to_string(&active).unwrap();

        // Edited: the 2nd line of the active file is record 5 of the chain.
        edit_lines(&active, |lines| {
            lines[1] = lines[1].replace("\"success\"", "\"error\"");
        });
        let broken = verify_files(&files, ChainStart::Genesis)
            .unwrap()
            .broken
            .unwrap();
        assert_eq!(broken.position, 5);
        assert!(matches!(broken.kind, BreakKind::Content { .. }));
        assert!(
            broken.location.ends_with("audit.json:2"),
            "{}",
            broken.location
        );
        let id: Value = serde_json::from_str(original.lines().nth(1).unwrap()).unwrap();
        assert_eq!(broken.id.as_deref(), id["id"].as_str());

        // Deleted: record 5 gone, record 6 no longer links.
        fs::write(&active, &original).unwrap();
        edit_lines(&active, |lines| {
            lines.remove(1);
        });
        let broken = verify_files(&files, ChainStart::Genesis)
            .unwrap()
            .broken
            .unwrap();
        assert_eq!(broken.position, 5);
        assert!(matches!(broken.kind, BreakKind::Linkage { .. }));

        // Inserted: a copy of record 4 placed again after it.
        fs::write(&active, &original).unwrap();
        edit_lines(&active, |lines| {
            let copy = lines[0].clone();
            lines.insert(1, copy);
        });
        let broken = verify_files(&files, ChainStart::Genesis)
            .unwrap()
            .broken
            .unwrap();
        assert_eq!(broken.position, 5);
        assert!(matches!(broken.kind, BreakKind::Linkage { .. }));

        // Garbage.
        fs::write(&active, format!("{original}not json\n")).unwrap();
        let broken = verify_files(&files, ChainStart::Genesis)
            .unwrap()
            .broken
            .unwrap();
        assert_eq!(broken.position, 7);
        assert!(matches!(broken.kind, BreakKind::Unreadable(_)));
        assert_eq!(broken.id, None);
    }

    #[test]
    fn a_missing_file_is_an_error_not_a_verdict() {
        let dir = tempfile::tempdir().unwrap();
        assert!(verify_files(&[dir.path().join("nope")], ChainStart::Any).is_err());
    }
}
