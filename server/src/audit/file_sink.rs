//! The audit file (`AUDIT_LOG_FILE`): one JSON record per line, its own hash chain, daily
//! rotation by the records' UTC date.
//!
//! The active file is always `AUDIT_LOG_FILE`; when a record of a later day arrives, the
//! active file is renamed to `AUDIT_LOG_FILE.YYYY-MM-DD` (the day of its records; `.1`,
//! `.2`, … are appended if that name is taken) and a new one is started. The chain runs on
//! across rotations and restarts: at open, the last record's `hash` is read back.
//!
//! A write is one `write(2)` of the whole line on a file opened for append, so the line is
//! with the OS when [`FileSink::append`] returns (no `fsync`: see `docs/audit.md`).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

use super::chain::{self, GENESIS};
use super::record::AuditRecord;

/// How much of the file end is read first when looking for the last record.
const TAIL_CHUNK: u64 = 64 * 1024;

pub struct FileSink {
    path: PathBuf,
    file: File,
    /// UTC day of the records in the active file; `None` while it is empty.
    active_date: Option<NaiveDate>,
    /// `hash` of the last record written (the next record's `prev_hash`).
    head: String,
    /// The file does not end with a newline (a torn write): start the next line afresh.
    torn: bool,
}

impl std::fmt::Debug for FileSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileSink")
            .field("path", &self.path)
            .field("active_date", &self.active_date)
            .finish_non_exhaustive()
    }
}

/// A record's line without its chain fields. `prev_hash` and `hash` are the line's last keys
/// and depend on the records written before it; everything else can be serialized before the
/// sink's lock is taken, so that the serving threads, which write records side by side, hold
/// the lock for the hash and the `write(2)` only.
#[derive(Debug)]
pub struct UnlinkedLine {
    /// The record's JSON object, without `prev_hash` and `hash`.
    json: String,
}

impl UnlinkedLine {
    /// Serialize `record`, whose chain fields must be empty.
    pub fn of(record: &AuditRecord) -> serde_json::Result<UnlinkedLine> {
        debug_assert!(record.prev_hash.is_none() && record.hash.is_none());
        serde_json::to_string(record).map(|json| UnlinkedLine { json })
    }

    /// The line with the chain fields put in: the same text as serializing the linked record.
    fn linked(self, prev_hash: &str, hash: &str) -> String {
        let mut line = self.json;
        // The object always has keys (`id` first), so the chain fields follow a comma.
        debug_assert!(line.ends_with('}'));
        line.pop();
        line.reserve(prev_hash.len() + hash.len() + 26);
        line.push_str(",\"prev_hash\":");
        push_json_string(&mut line, prev_hash);
        line.push_str(",\"hash\":");
        push_json_string(&mut line, hash);
        line.push('}');
        line
    }
}

/// Append `text` as a JSON string. Hashes the gateway made are hex and go in as they are; a
/// `prev_hash` read back from an edited file may hold anything and is escaped as serde would.
fn push_json_string(line: &mut String, text: &str) {
    if text.bytes().all(|b| b.is_ascii_alphanumeric()) {
        line.push('"');
        line.push_str(text);
        line.push('"');
    } else {
        line.push_str(&serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_owned()));
    }
}

impl FileSink {
    /// Open (or create, with its parent folders) the active file and pick up its chain.
    pub fn open(path: &Path) -> io::Result<FileSink> {
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            fs::create_dir_all(parent)?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(path)?;
        let tail = read_tail(&mut file)?;
        let active_date = match tail.last_timestamp {
            Some(time) => Some(time.date_naive()),
            None if tail.non_empty => file
                .metadata()?
                .modified()
                .ok()
                .map(|m| DateTime::<Utc>::from(m).date_naive()),
            None => None,
        };
        Ok(FileSink {
            path: path.to_owned(),
            file,
            active_date,
            head: tail.last_hash.unwrap_or_else(|| GENESIS.to_owned()),
            torn: tail.torn,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The hash of the last record written.
    #[cfg(test)]
    pub fn head(&self) -> &str {
        &self.head
    }

    /// [`FileSink::append`] with the line serialized here (tests; the gateway serializes
    /// before it takes the sink's lock).
    #[cfg(test)]
    pub fn write(&mut self, record: &mut AuditRecord) -> io::Result<String> {
        record.prev_hash = None;
        record.hash = None;
        let unlinked = UnlinkedLine::of(record).map_err(io::Error::other)?;
        self.append(record, unlinked)
    }

    /// Link `record` into the chain (setting its `prev_hash` and `hash`) and append its line,
    /// serialized beforehand by [`UnlinkedLine::of`] outside whatever lock guards the sink
    /// (`record` must not have changed since; debug builds check). Returns the line written,
    /// without its newline.
    pub fn append(
        &mut self,
        record: &mut AuditRecord,
        unlinked: UnlinkedLine,
    ) -> io::Result<String> {
        debug_assert_eq!(
            UnlinkedLine::of(record).ok().map(|fresh| fresh.json),
            Some(unlinked.json.clone()),
            "the record changed after its line was serialized"
        );
        let date = record.timestamp.date_naive();
        match self.active_date {
            Some(active) if date > active => self.rotate(active, date),
            Some(_) => {}
            None => self.active_date = Some(date),
        }
        let hash = chain::hash_after(record, &self.head);
        let mut line = unlinked.linked(&self.head, &hash);
        line.push('\n');
        let written = if self.torn {
            // Rare (after a crash or a failed write): end the torn line first.
            self.file
                .write_all(b"\n")
                .and_then(|()| self.file.write_all(line.as_bytes()))
        } else {
            self.file.write_all(line.as_bytes())
        };
        line.pop();
        if let Err(e) = written {
            // Part of the line may be on disk: the next one starts on a new line.
            self.torn = true;
            return Err(e);
        }
        self.torn = false;
        record.prev_hash = Some(std::mem::replace(&mut self.head, hash.clone()));
        record.hash = Some(hash);
        Ok(line)
    }

    /// Move the active file aside as `<path>.<active>` and start a new one. On failure the
    /// records keep going to the current file: rotation is never worth losing a record.
    fn rotate(&mut self, active: NaiveDate, date: NaiveDate) {
        let target = free_rotated_name(&self.path, active);
        let renamed = fs::rename(&self.path, &target).and_then(|()| {
            OpenOptions::new()
                .create(true)
                .append(true)
                .read(true)
                .open(&self.path)
        });
        match renamed {
            Ok(file) => {
                self.file = file;
                self.torn = false;
                self.active_date = Some(date);
            }
            Err(e) => {
                tracing::error!(
                    file = %self.path.display(),
                    "audit file rotation failed, records stay in the active file: {e}"
                );
                // Try again on the next day change, not on every record.
                self.active_date = Some(date);
            }
        }
    }
}

/// `<path>.<date>`, or `<path>.<date>.<n>` with the first free `n`.
fn free_rotated_name(path: &Path, date: NaiveDate) -> PathBuf {
    let base = format!("{}.{}", path.display(), date.format("%Y-%m-%d"));
    let first = PathBuf::from(&base);
    if !first.exists() {
        return first;
    }
    (1u32..)
        .map(|n| PathBuf::from(format!("{base}.{n}")))
        .find(|candidate| !candidate.exists())
        .unwrap_or(first)
}

/// Where a file name stands among the rotated siblings of `active_name`: `(date, n)`.
fn rotation_key(active_name: &str, name: &str) -> Option<(NaiveDate, u32)> {
    let rest = name.strip_prefix(active_name)?.strip_prefix('.')?;
    let (date, n) = match rest.split_once('.') {
        Some((date, n)) => (date, n.parse::<u32>().ok()?),
        None => (rest, 0),
    };
    if date.len() != 10 {
        return None;
    }
    Some((NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?, n))
}

/// The rotated files of `path`, oldest first (the active file not included).
pub fn rotated_files(path: &Path) -> io::Result<Vec<PathBuf>> {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return Ok(Vec::new());
    };
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    let mut found = Vec::new();
    for entry in fs::read_dir(&dir)? {
        let entry = entry?;
        if let Some(key) = entry
            .file_name()
            .to_str()
            .and_then(|other| rotation_key(name, other))
        {
            found.push((key, dir.join(entry.file_name())));
        }
    }
    found.sort();
    Ok(found.into_iter().map(|(_, path)| path).collect())
}

#[derive(Debug, Default, PartialEq)]
struct Tail {
    non_empty: bool,
    torn: bool,
    last_hash: Option<String>,
    last_timestamp: Option<DateTime<Utc>>,
}

/// Find the last record with a hash at the end of `file`, reading backwards in growing
/// chunks (a record can be as large as a call's arguments).
fn read_tail(file: &mut File) -> io::Result<Tail> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(Tail::default());
    }
    let mut chunk = TAIL_CHUNK;
    loop {
        let start = len.saturating_sub(chunk);
        file.seek(SeekFrom::Start(start))?;
        let mut data = Vec::with_capacity(usize::try_from(len - start).unwrap_or(0));
        Read::by_ref(file)
            .take(len - start)
            .read_to_end(&mut data)?;
        let whole_file = start == 0;
        if let Some(tail) = parse_tail(&data, whole_file) {
            return Ok(tail);
        }
        chunk = chunk.saturating_mul(4);
    }
}

/// The tail found in `data` (the last bytes of the file), or `None` when more of the file
/// must be read to be sure (no complete record line in `data` and the file goes on before it).
fn parse_tail(data: &[u8], whole_file: bool) -> Option<Tail> {
    let torn = !data.is_empty() && !data.ends_with(b"\n");
    let mut lines: Vec<&[u8]> = data.split(|b| *b == b'\n').collect();
    if torn {
        // The last piece is an unfinished line.
        lines.pop();
    }
    // Unless the chunk starts at the beginning of the file, its first piece may be the end
    // of a longer line.
    let complete_from = usize::from(!whole_file);
    for line in lines.iter().skip(complete_from).rev() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let Ok(value) = serde_json::from_slice::<Value>(line) else {
            continue;
        };
        let Some(hash) = value.get("hash").and_then(Value::as_str) else {
            continue;
        };
        let last_timestamp = value
            .get("timestamp")
            .and_then(Value::as_str)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc));
        return Some(Tail {
            non_empty: true,
            torn,
            last_hash: Some(hash.to_owned()),
            last_timestamp,
        });
    }
    if whole_file {
        return Some(Tail {
            non_empty: !data.is_empty(),
            torn,
            last_hash: None,
            last_timestamp: None,
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use serde_json::json;

    use super::*;
    use crate::audit::chain::{ChainStart, ChainVerifier};
    use crate::audit::record::{AuditEvent, AuditStatus};

    fn record_at(day: u32, hour: u32) -> AuditRecord {
        AuditRecord::new(AuditEvent::ToolCall, AuditStatus::Success)
            .with_timestamp(Utc.with_ymd_and_hms(2026, 11, day, hour, 0, 0).unwrap())
    }

    fn lines(path: &Path) -> Vec<Value> {
        fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn verify_all(paths: &[PathBuf]) -> u64 {
        let mut verifier = ChainVerifier::new(ChainStart::Genesis);
        for path in paths {
            for value in lines(path) {
                verifier.check(&value).unwrap();
            }
        }
        verifier.checked()
    }

    #[test]
    fn a_line_serialized_before_linking_is_the_linked_record_serialized() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = FileSink::open(&dir.path().join("audit.json")).unwrap();
        for mut record in [
            record_at(20, 1),
            record_at(20, 2)
                .with_details(json!({"a": [1, "}"], "z": {"\"quoted\"": null}}))
                .with_error("broke: }".to_owned()),
        ] {
            let unlinked = UnlinkedLine::of(&record).unwrap();
            let line = sink.append(&mut record, unlinked).unwrap();
            assert!(record.hash.is_some() && record.prev_hash.is_some());
            assert_eq!(line, serde_json::to_string(&record).unwrap());
        }
    }

    #[test]
    fn a_hash_read_back_from_an_edited_file_is_escaped_in_the_next_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.json");
        let odd = "a\"b\\c\u{1}d";
        let edited = json!({"id": "x", "hash": odd});
        fs::write(&path, format!("{edited}\n")).unwrap();
        let mut sink = FileSink::open(&path).unwrap();
        assert_eq!(sink.head(), odd);
        let mut record = record_at(20, 1);
        let unlinked = UnlinkedLine::of(&record).unwrap();
        let line = sink.append(&mut record, unlinked).unwrap();
        assert_eq!(line, serde_json::to_string(&record).unwrap());
        let read: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(read["prev_hash"], odd);
    }

    #[test]
    fn creates_parent_folders_and_writes_one_line_per_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/audit.json");
        let mut sink = FileSink::open(&path).unwrap();
        let mut first = record_at(20, 1);
        let line = sink.write(&mut first).unwrap();
        assert!(!line.contains('\n'));
        sink.write(&mut record_at(20, 2)).unwrap();
        let written = lines(&path);
        assert_eq!(written.len(), 2);
        assert_eq!(written[0]["id"], json!(first.id));
        assert_eq!(written[0]["prev_hash"], GENESIS);
        assert_eq!(written[1]["prev_hash"], written[0]["hash"]);
        assert_eq!(verify_all(&[path]), 2);
    }

    #[test]
    fn the_chain_continues_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.json");
        let mut sink = FileSink::open(&path).unwrap();
        sink.write(&mut record_at(20, 1)).unwrap();
        let head = sink.head().to_owned();
        drop(sink);
        let mut sink = FileSink::open(&path).unwrap();
        assert_eq!(sink.head(), head);
        sink.write(&mut record_at(20, 2)).unwrap();
        assert_eq!(verify_all(&[path]), 2);
    }

    #[test]
    fn a_torn_last_line_is_left_behind_and_the_next_record_starts_a_new_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.json");
        let mut sink = FileSink::open(&path).unwrap();
        sink.write(&mut record_at(20, 1)).unwrap();
        let head = sink.head().to_owned();
        drop(sink);
        OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"id\":\"torn")
            .unwrap();
        let mut sink = FileSink::open(&path).unwrap();
        assert_eq!(sink.head(), head);
        sink.write(&mut record_at(20, 2)).unwrap();
        let text = fs::read_to_string(&path).unwrap();
        let all: Vec<&str> = text.lines().collect();
        assert_eq!(all.len(), 3);
        assert_eq!(all[1], "{\"id\":\"torn");
        let last: Value = serde_json::from_str(all[2]).unwrap();
        assert_eq!(last["prev_hash"], head.as_str());
    }

    #[test]
    fn rotates_on_a_new_day_and_the_chain_runs_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.json");
        let mut sink = FileSink::open(&path).unwrap();
        sink.write(&mut record_at(20, 22)).unwrap();
        sink.write(&mut record_at(20, 23)).unwrap();
        // A late record of an earlier day stays in the active file.
        sink.write(&mut record_at(19, 23)).unwrap();
        sink.write(&mut record_at(21, 0)).unwrap();
        drop(sink);
        // A restart on a later day rotates at the first record, too.
        let mut sink = FileSink::open(&path).unwrap();
        sink.write(&mut record_at(23, 5)).unwrap();

        let rotated = rotated_files(&path).unwrap();
        let names: Vec<_> = rotated
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["audit.json.2026-11-20", "audit.json.2026-11-21"]);
        assert_eq!(lines(&rotated[0]).len(), 3);
        assert_eq!(lines(&rotated[1]).len(), 1);
        assert_eq!(lines(&path).len(), 1);
        let mut all = rotated.clone();
        all.push(path);
        assert_eq!(verify_all(&all), 5);
    }

    #[test]
    fn a_taken_rotation_name_gets_a_counter() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.json");
        fs::write(dir.path().join("audit.json.2026-11-20"), "").unwrap();
        let mut sink = FileSink::open(&path).unwrap();
        sink.write(&mut record_at(20, 1)).unwrap();
        sink.write(&mut record_at(21, 1)).unwrap();
        assert!(dir.path().join("audit.json.2026-11-20.1").exists());
        let names: Vec<_> = rotated_files(&path)
            .unwrap()
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["audit.json.2026-11-20", "audit.json.2026-11-20.1"]);
    }

    #[test]
    fn rotation_names_are_recognised_strictly() {
        let date = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
        assert_eq!(rotation_key("a.json", "a.json.2026-11-20"), Some((date, 0)));
        assert_eq!(
            rotation_key("a.json", "a.json.2026-11-20.12"),
            Some((date, 12))
        );
        for other in [
            "a.json",
            "a.json.spool",
            "a.json.2026-13-01",
            "a.json.2026-11-20.x",
            "b.json.2026-11-20",
            "a.json.2026-11-2",
        ] {
            assert_eq!(rotation_key("a.json", other), None, "{other}");
        }
    }

    #[test]
    fn the_tail_of_a_file_with_long_lines_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.json");
        let mut sink = FileSink::open(&path).unwrap();
        let mut big = record_at(20, 1);
        big.parameters = json!({"blob": "x".repeat(300 * 1024)});
        sink.write(&mut big).unwrap();
        let head = sink.head().to_owned();
        drop(sink);
        let sink = FileSink::open(&path).unwrap();
        assert_eq!(sink.head(), head);
        assert_eq!(
            sink.active_date,
            Some(NaiveDate::from_ymd_opt(2026, 11, 20).unwrap())
        );
    }

    #[test]
    fn parse_tail_cases() {
        assert_eq!(parse_tail(b"", true).unwrap(), Tail::default());
        let garbage = parse_tail(b"not json\n", true).unwrap();
        assert!(garbage.non_empty && garbage.last_hash.is_none() && !garbage.torn);
        // A chunk whose only line may be the end of a longer one needs more of the file.
        assert_eq!(parse_tail(b"\"hash\":\"h\"}\n", false), None);
        let found = parse_tail(
            b"xx\n{\"hash\":\"h1\",\"timestamp\":\"2026-11-20T00:00:00Z\"}\n{\"hash\":\"h2\"}\n\n",
            false,
        )
        .unwrap();
        assert_eq!(found.last_hash.as_deref(), Some("h2"));
        let torn = parse_tail(b"{\"hash\":\"h1\"}\n{\"hash\":", true).unwrap();
        assert!(torn.torn);
        assert_eq!(torn.last_hash.as_deref(), Some("h1"));
    }
}
