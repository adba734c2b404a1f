//! Records waiting for the database: a bounded queue in memory, and past its bound a spool
//! file of JSON lines next to the audit file. Order is kept: once anything is in the spool,
//! new records go behind it until the spool is drained, and memory (older) is drained first.
//!
//! A batch is taken, written, then committed; a failed write restores it in place, so a
//! record leaves the backlog only once the database has it. At shutdown whatever is still in
//! memory is moved into the spool, where the next start finds it.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use tokio::sync::Notify;

use super::canonical::{Unlinked, UnlinkedCache};
use super::record::AuditRecord;
use super::throttle::Throttle;

pub struct Backlog {
    state: Mutex<State>,
    ready: Notify,
    pending: AtomicU64,
    memory_limit: usize,
    warn: Throttle,
}

struct State {
    memory: VecDeque<Queued>,
    spool: Option<Spool>,
    closed: bool,
}

struct Spool {
    path: PathBuf,
    appender: File,
    /// Byte offset of the first record not yet written to the database.
    read_offset: u64,
    /// Lines from `read_offset` on.
    unread: u64,
}

/// A record waiting in memory.
#[derive(Debug)]
pub enum Queued {
    /// As the audit file got it: its JSON line (with the file's chain fields, which the
    /// database's chain replaces) and the canonical bytes both chains hash. The request path
    /// hands these two allocations to the writer instead of the record's dozen or more:
    /// memory freed by another thread goes back to its owner's free lists cold, and at every
    /// call that showed as cache misses in the allocator. The writer parses the line.
    Line {
        line: String,
        unlinked: Option<Unlinked>,
    },
    /// A record (one pushed as such, or a batch put back after a failed write).
    Record(Box<AuditRecord>),
}

impl From<AuditRecord> for Queued {
    fn from(record: AuditRecord) -> Self {
        Queued::Record(Box::new(record))
    }
}

impl Queued {
    fn into_record(self) -> serde_json::Result<AuditRecord> {
        match self {
            Queued::Line { line, unlinked } => {
                let mut record = parse_line(line.as_bytes())?;
                if let Some(unlinked) = unlinked {
                    record.unlinked = UnlinkedCache::from(unlinked);
                }
                Ok(record)
            }
            Queued::Record(record) => Ok(*record),
        }
    }

    /// Write it as a line of the spool.
    fn write_line(&self, out: &mut impl Write) -> io::Result<()> {
        match self {
            Queued::Line { line, .. } => out.write_all(line.as_bytes())?,
            Queued::Record(record) => {
                serde_json::to_writer(&mut *out, record).map_err(io::Error::other)?
            }
        }
        out.write_all(b"\n")
    }
}

/// A record from a line of the audit file or the spool, without the file's chain fields
/// (the database keeps its own chain).
fn parse_line(line: &[u8]) -> serde_json::Result<AuditRecord> {
    let mut record: AuditRecord = serde_json::from_slice(line)?;
    record.prev_hash = None;
    record.hash = None;
    Ok(record)
}

/// Where a batch came from, so that commit knows what to advance.
#[derive(Debug)]
enum Source {
    Memory,
    Spool { end_offset: u64, lines: u64 },
}

/// Records taken for one database write.
#[derive(Debug)]
pub struct Batch {
    pub records: Vec<AuditRecord>,
    source: Source,
}

impl Batch {
    #[cfg(test)]
    pub fn is_from_spool(&self) -> bool {
        matches!(self.source, Source::Spool { .. })
    }
}

impl std::fmt::Debug for Backlog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backlog")
            .field("pending", &self.pending())
            .finish_non_exhaustive()
    }
}

impl Backlog {
    /// A backlog keeping up to `memory_limit` records in memory, spilling to `spool_path`
    /// past it (records left there by an earlier run are picked up). Without a spool path,
    /// memory grows past the limit instead: records are never dropped.
    pub fn open(memory_limit: usize, spool_path: Option<&Path>) -> io::Result<Backlog> {
        let spool = spool_path.map(Spool::open).transpose()?;
        let unread = spool.as_ref().map_or(0, |s| s.unread);
        Ok(Backlog {
            state: Mutex::new(State {
                memory: VecDeque::new(),
                spool,
                closed: false,
            }),
            ready: Notify::new(),
            pending: AtomicU64::new(unread),
            memory_limit: memory_limit.max(1),
            warn: Throttle::every_secs(30),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves consistent data behind (every
        // mutation below is completed before it can fail): keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queue one record for the database. Never waits for the database.
    pub fn push(&self, record: impl Into<Queued>) {
        let record = record.into();
        let mut state = self.lock();
        let State {
            memory,
            spool,
            closed,
        } = &mut *state;
        let to_spool = *closed
            || memory.len() >= self.memory_limit
            || spool.as_ref().is_some_and(|s| s.unread > 0);
        match spool {
            Some(spool) if to_spool => {
                if let Err(e) = spool.append(&record) {
                    if self.warn.ready() {
                        tracing::error!(
                            spool = %spool.path.display(),
                            "cannot write the audit spool, keeping records in memory: {e}"
                        );
                    }
                    memory.push_back(record);
                }
            }
            _ => memory.push_back(record),
        }
        drop(state);
        self.pending.fetch_add(1, Ordering::Relaxed);
        self.ready.notify_one();
    }

    /// Take up to `max` of the oldest records, or `None` when there are none.
    pub fn take(&self, max: usize) -> Option<Batch> {
        let mut state = self.lock();
        if !state.memory.is_empty() {
            let n = state.memory.len().min(max);
            let queued: Vec<Queued> = state.memory.drain(..n).collect();
            drop(state);
            return Some(Batch {
                records: self.parse(queued),
                source: Source::Memory,
            });
        }
        let spool = state.spool.as_mut().filter(|s| s.unread > 0)?;
        match spool.read(max) {
            Ok((records, end_offset, lines)) => Some(Batch {
                records,
                source: Source::Spool { end_offset, lines },
            }),
            Err(e) => {
                if self.warn.ready() {
                    tracing::error!(spool = %spool.path.display(), "cannot read the audit spool: {e}");
                }
                None
            }
        }
    }

    /// The records of lines queued in memory. A line that does not parse (it was written by
    /// the gateway a moment ago, so only a bug can cause that) is in the audit file, and only
    /// there: logged and counted as done.
    fn parse(&self, queued: Vec<Queued>) -> Vec<AuditRecord> {
        let mut records = Vec::with_capacity(queued.len());
        for item in queued {
            match item.into_record() {
                Ok(record) => records.push(record),
                Err(e) => {
                    tracing::error!(
                        "an audit record queued for the database does not parse; it is only in the audit file: {e}"
                    );
                    self.pending.fetch_sub(1, Ordering::Relaxed);
                }
            }
        }
        records
    }

    /// The batch is in the database: forget it.
    pub fn commit(&self, batch: Batch) {
        let done = match batch.source {
            Source::Memory => batch.records.len() as u64,
            Source::Spool { end_offset, lines } => {
                let mut state = self.lock();
                if let Some(spool) = state.spool.as_mut() {
                    spool.advance(end_offset, lines);
                }
                lines
            }
        };
        self.pending.fetch_sub(done, Ordering::Relaxed);
    }

    /// The write failed: put the batch back where it was.
    pub fn restore(&self, batch: Batch) {
        if let Source::Memory = batch.source {
            let mut state = self.lock();
            for record in batch.records.into_iter().rev() {
                state.memory.push_front(Queued::from(record));
            }
        }
        // A spool batch was only read: the offset has not moved.
    }

    /// Records not yet in the database (memory, spool and any batch being written).
    pub fn pending(&self) -> u64 {
        self.pending.load(Ordering::Relaxed)
    }

    /// Records waiting in the spool file.
    pub fn spooled(&self) -> u64 {
        self.lock().spool.as_ref().map_or(0, |s| s.unread)
    }

    pub fn spool_path(&self) -> Option<PathBuf> {
        self.lock().spool.as_ref().map(|s| s.path.clone())
    }

    /// Wait until something may have been pushed since the last wait.
    pub async fn wait(&self) {
        self.ready.notified().await;
    }

    /// Shut down: move what is in memory into the spool (ahead of what is there), and send
    /// later pushes straight to the spool. Returns how many records are left only in memory
    /// (no spool, or the spool could not be written).
    pub fn close(&self) -> u64 {
        let mut state = self.lock();
        state.closed = true;
        if state.memory.is_empty() {
            return 0;
        }
        let State { memory, spool, .. } = &mut *state;
        let Some(spool) = spool.as_mut() else {
            return memory.len() as u64;
        };
        match spool.prepend(memory.make_contiguous()) {
            Ok(()) => {
                memory.clear();
                0
            }
            Err(e) => {
                tracing::error!(spool = %spool.path.display(), "cannot write the audit spool at shutdown: {e}");
                memory.len() as u64
            }
        }
    }
}

fn open_appender(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

impl Spool {
    fn open(path: &Path) -> io::Result<Spool> {
        if let Some(parent) = path.parent()
            && !parent.as_os_str().is_empty()
        {
            fs::create_dir_all(parent)?;
        }
        let mut appender = open_appender(path)?;
        let mut unread = 0u64;
        let mut last = b'\n';
        let mut reader = BufReader::new(File::open(path)?);
        loop {
            let buf = reader.fill_buf()?;
            if buf.is_empty() {
                break;
            }
            unread += buf.iter().filter(|b| **b == b'\n').count() as u64;
            last = buf[buf.len() - 1];
            let n = buf.len();
            reader.consume(n);
        }
        if last != b'\n' {
            // A line torn by a crash: end it, it will be skipped as unreadable.
            appender.write_all(b"\n")?;
            unread += 1;
        }
        Ok(Spool {
            path: path.to_owned(),
            appender,
            read_offset: 0,
            unread,
        })
    }

    fn append(&mut self, record: &Queued) -> io::Result<()> {
        // One write of the whole line, as a line torn in two writes would not read back.
        let mut line = Vec::with_capacity(1024);
        record.write_line(&mut line)?;
        self.appender.write_all(&line)?;
        self.unread += 1;
        Ok(())
    }

    /// Up to `max` records from the read offset: (records, offset after them, lines read).
    fn read(&self, max: usize) -> io::Result<(Vec<AuditRecord>, u64, u64)> {
        let mut file = File::open(&self.path)?;
        file.seek(SeekFrom::Start(self.read_offset))?;
        let mut reader = BufReader::new(file);
        let mut records = Vec::new();
        let mut offset = self.read_offset;
        let mut lines = 0u64;
        let mut line = Vec::new();
        while lines < self.unread && records.len() < max {
            line.clear();
            let n = reader.read_until(b'\n', &mut line)?;
            if n == 0 || !line.ends_with(b"\n") {
                break;
            }
            offset += n as u64;
            lines += 1;
            match parse_line(&line) {
                Ok(record) => records.push(record),
                Err(e) => tracing::error!(
                    spool = %self.path.display(),
                    "skipping an unreadable line of the audit spool: {e}"
                ),
            }
        }
        Ok((records, offset, lines))
    }

    fn advance(&mut self, end_offset: u64, lines: u64) {
        self.read_offset = end_offset;
        self.unread = self.unread.saturating_sub(lines);
        if self.unread == 0 {
            // Drained: start over so the file does not grow for ever.
            match self.appender.set_len(0) {
                Ok(()) => self.read_offset = 0,
                Err(e) => {
                    tracing::warn!(spool = %self.path.display(), "cannot truncate the audit spool: {e}")
                }
            }
        }
    }

    /// Rewrite the spool as `records` followed by its unread part.
    fn prepend(&mut self, records: &[Queued]) -> io::Result<()> {
        let mut tmp = self.path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let mut out = io::BufWriter::new(File::create(&tmp)?);
        for record in records {
            record.write_line(&mut out)?;
        }
        let mut rest = File::open(&self.path)?;
        rest.seek(SeekFrom::Start(self.read_offset))?;
        io::copy(&mut rest, &mut out)?;
        let file = out.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        fs::rename(&tmp, &self.path)?;
        self.appender = open_appender(&self.path)?;
        self.read_offset = 0;
        self.unread += records.len() as u64;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::record::{AuditEvent, AuditStatus};

    fn records(n: usize) -> Vec<AuditRecord> {
        (0..n)
            .map(|_| AuditRecord::new(AuditEvent::ToolCall, AuditStatus::Success))
            .collect()
    }

    /// Drain everything, failing every `fail_every`-th write once.
    fn drain(backlog: &Backlog, max: usize, fail_every: usize) -> Vec<AuditRecord> {
        let mut out = Vec::new();
        let mut attempt = 0;
        while let Some(batch) = backlog.take(max) {
            attempt += 1;
            if fail_every > 0 && attempt % fail_every == 0 {
                backlog.restore(batch);
                continue;
            }
            out.extend(batch.records.iter().cloned());
            backlog.commit(batch);
        }
        out
    }

    fn ids(records: &[AuditRecord]) -> Vec<uuid::Uuid> {
        records.iter().map(|r| r.id).collect()
    }

    #[test]
    fn memory_only_keeps_order_and_counts() {
        let backlog = Backlog::open(100, None).unwrap();
        let all = records(10);
        all.iter().cloned().for_each(|r| backlog.push(r));
        assert_eq!(backlog.pending(), 10);
        let out = drain(&backlog, 3, 2);
        assert_eq!(ids(&out), ids(&all));
        assert_eq!(backlog.pending(), 0);
    }

    #[test]
    fn without_a_spool_memory_grows_past_the_limit() {
        let backlog = Backlog::open(2, None).unwrap();
        records(5).into_iter().for_each(|r| backlog.push(r));
        assert_eq!(backlog.pending(), 5);
        assert_eq!(drain(&backlog, 10, 0).len(), 5);
    }

    #[test]
    fn overflow_spills_to_the_spool_in_order_and_the_spool_is_emptied() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.json.spool");
        let backlog = Backlog::open(4, Some(&path)).unwrap();
        let all = records(20);
        for record in &all[..10] {
            backlog.push(record.clone());
        }
        assert_eq!(backlog.spooled(), 6);
        // Part of the backlog is written; new records keep arriving meanwhile.
        let mut out = Vec::new();
        for _ in 0..2 {
            let batch = backlog.take(3).unwrap();
            out.extend(batch.records.iter().cloned());
            backlog.commit(batch);
        }
        for record in &all[10..] {
            backlog.push(record.clone());
        }
        out.extend(drain(&backlog, 3, 3));
        assert_eq!(ids(&out), ids(&all));
        assert_eq!(backlog.pending(), 0);
        assert_eq!(backlog.spooled(), 0);
        assert_eq!(fs::metadata(&path).unwrap().len(), 0);
        // Back to memory once drained.
        backlog.push(all[0].clone());
        assert_eq!(backlog.spooled(), 0);
    }

    #[test]
    fn close_moves_memory_ahead_of_the_spool_and_a_restart_picks_it_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.json.spool");
        let all = records(9);
        {
            let backlog = Backlog::open(3, Some(&path)).unwrap();
            all[..6].iter().cloned().for_each(|r| backlog.push(r));
            // One spool batch is written before shutdown.
            let first = backlog.take(2).unwrap();
            assert!(!first.is_from_spool());
            backlog.commit(first);
            assert_eq!(backlog.close(), 0);
            // Late records still land in the spool.
            all[6..].iter().cloned().for_each(|r| backlog.push(r));
            assert_eq!(backlog.pending(), 7);
        }
        let backlog = Backlog::open(3, Some(&path)).unwrap();
        assert_eq!(backlog.pending(), 7);
        let out = drain(&backlog, 4, 0);
        assert_eq!(ids(&out), ids(&all[2..]));
    }

    #[test]
    fn a_torn_or_unreadable_spool_line_is_skipped_and_counted_done() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spool");
        let good = records(2);
        let mut text = String::new();
        text.push_str(&serde_json::to_string(&good[0]).unwrap());
        text.push_str("\nnot json\n");
        text.push_str(&serde_json::to_string(&good[1]).unwrap());
        text.push_str("\n{\"id\":");
        fs::write(&path, text).unwrap();
        let backlog = Backlog::open(10, Some(&path)).unwrap();
        assert_eq!(backlog.pending(), 4);
        let out = drain(&backlog, 10, 0);
        assert_eq!(ids(&out), ids(&good));
        assert_eq!(backlog.pending(), 0);
    }

    #[test]
    fn a_spool_batch_restored_is_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spool");
        let backlog = Backlog::open(1, Some(&path)).unwrap();
        let all = records(3);
        all.iter().cloned().for_each(|r| backlog.push(r));
        let memory = backlog.take(10).unwrap();
        backlog.commit(memory);
        let first = backlog.take(10).unwrap();
        assert!(first.is_from_spool());
        let first_ids = ids(&first.records);
        backlog.restore(first);
        let again = backlog.take(10).unwrap();
        assert_eq!(ids(&again.records), first_ids);
        assert_eq!(first_ids, ids(&all[1..]));
    }

    /// A record as the audit file got it: its line, its file chain fields and its kept bytes.
    fn as_line(record: &AuditRecord) -> Queued {
        let mut linked = record.clone();
        let unlinked = Unlinked::of(&linked);
        crate::audit::chain::link(&mut linked, &"f".repeat(64));
        Queued::Line {
            line: serde_json::to_string(&linked).unwrap(),
            unlinked: Some(unlinked),
        }
    }

    #[test]
    fn lines_come_out_as_their_records_from_memory_the_spool_and_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spool");
        let mut all = records(7);
        all[0].parameters = serde_json::json!({"q": "é\n", "n": [1, 2.5, u64::MAX]});
        {
            let backlog = Backlog::open(2, Some(&path)).unwrap();
            // Two in memory, the rest spilled to the spool as their lines.
            all[..5].iter().for_each(|r| backlog.push(as_line(r)));
            assert_eq!(backlog.spooled(), 3);
            let batch = backlog.take(10).unwrap();
            assert!(!batch.is_from_spool());
            assert_eq!(batch.records, all[..2]);
            // The kept bytes came along (checked against the record in debug builds).
            assert!(batch.records[0].unlinked.get(&batch.records[0]).is_some());
            backlog.restore(batch);
            all[5..].iter().for_each(|r| backlog.push(as_line(r)));
            // Memory (two records put back) goes ahead of the spool at shutdown.
            assert_eq!(backlog.close(), 0);
        }
        let backlog = Backlog::open(2, Some(&path)).unwrap();
        assert_eq!(backlog.pending(), 7);
        let out = drain(&backlog, 3, 0);
        assert_eq!(out, all, "same records, in order");
    }

    #[test]
    fn a_queued_line_that_does_not_parse_is_counted_done() {
        let backlog = Backlog::open(10, None).unwrap();
        let all = records(2);
        backlog.push(as_line(&all[0]));
        backlog.push(Queued::Line {
            line: "{\"id\":".into(),
            unlinked: None,
        });
        backlog.push(as_line(&all[1]));
        assert_eq!(backlog.pending(), 3);
        let out = drain(&backlog, 10, 0);
        assert_eq!(ids(&out), ids(&all));
        assert_eq!(backlog.pending(), 0);
    }
}
