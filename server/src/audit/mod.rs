//! The audit subsystem (SPEC §9, §13): a JSON record of every operation in the audit file,
//! on stdout and in the `audit_log` table, with secrets redacted and a hash chain per sink.
//!
//! The [`Auditor`] is the one handle the gateway holds:
//! - [`Auditor::record`] for records the spec wants on file before the answer is sent (tool
//!   calls): the file line is written (and stdout queued) before it returns; the database
//!   write is queued. It is the only audit I/O on the request path.
//! - [`Auditor::emit`] for everything else: a channel send, the rest happens in the
//!   background.
//! - [`Auditor::flush_and_close`] at shutdown.
//!
//! Database writes are batched by a background writer ([`writer`]); while the database is
//! unreachable records wait in a bounded memory queue, then in a spool file next to the audit
//! file ([`backlog`]), and are written in order once it is back. See `docs/audit.md`.

mod backlog;
pub mod canonical;
pub mod chain;
mod file_sink;
pub mod query;
pub mod record;
pub mod redact;
mod stdout_sink;
pub mod store;
mod throttle;
pub mod verify;
mod writer;

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use query::{AuditFilter, Cursor, RawAuditQuery};
pub use record::{AuditEvent, AuditRecord, AuditStatus};
pub use redact::redact;
pub use store::{Page, Store, StoreError};
pub use writer::WriterTuning;

use backlog::{Backlog, Queued};
use file_sink::{FileSink, UnlinkedLine};
use stdout_sink::StdoutSink;
use throttle::Throttle;

use crate::config::{Secret, Settings};

/// Records kept in memory for the database before they spill to the spool file.
pub const DEFAULT_MEMORY_QUEUE: usize = 10_000;

/// Where the audit records go.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditSettings {
    /// `None`: file (and stdout) only.
    pub database_url: Option<Secret>,
    pub audit_log_file: PathBuf,
    pub audit_to_stdout: bool,
    /// Records held in memory while the database is behind.
    pub memory_queue: usize,
    /// Where records spill past `memory_queue`; default `<audit_log_file>.spool`.
    pub spool_file: Option<PathBuf>,
    pub writer: WriterTuning,
}

impl AuditSettings {
    /// The audit file only (no stdout, no database).
    pub fn file_only(audit_log_file: impl Into<PathBuf>) -> Self {
        AuditSettings {
            database_url: None,
            audit_log_file: audit_log_file.into(),
            audit_to_stdout: false,
            memory_queue: DEFAULT_MEMORY_QUEUE,
            spool_file: None,
            writer: WriterTuning::default(),
        }
    }

    /// `DATABASE_URL`, `AUDIT_LOG_FILE` and `AUDIT_TO_STDOUT` of the gateway's settings.
    pub fn from_settings(settings: &Settings) -> Self {
        AuditSettings {
            database_url: Some(settings.database_url.clone()),
            audit_to_stdout: settings.audit_to_stdout,
            ..AuditSettings::file_only(settings.audit_log_file.clone())
        }
    }

    pub fn spool_path(&self) -> PathBuf {
        self.spool_file
            .clone()
            .unwrap_or_else(|| with_suffix(&self.audit_log_file, ".spool"))
    }

    /// Where records the database refuses as data are set aside.
    pub fn rejected_path(&self) -> PathBuf {
        with_suffix(&self.audit_log_file, ".rejected")
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

enum Intake {
    Record(Box<AuditRecord>),
    Flush(oneshot::Sender<()>),
}

/// The file, stdout and the database queue: what writing one record touches.
struct Sinks {
    file: Mutex<FileSink>,
    stdout: Option<StdoutSink>,
    backlog: Option<Arc<Backlog>>,
    file_errors: Throttle,
}

impl Sinks {
    fn file(&self) -> MutexGuard<'_, FileSink> {
        // The sink's state stays consistent across a panic in another holder.
        self.file.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self, mut record: AuditRecord) {
        seal(&mut record);
        // Final now: both chains hash these bytes.
        record.unlinked = canonical::UnlinkedCache::of(&record);
        // Serialized before the lock: only linking and the write need it.
        let unlinked = UnlinkedLine::of(&record).map_err(io::Error::other);
        let line = {
            let mut file = self.file();
            let line = match unlinked.and_then(|unlinked| file.append(&mut record, unlinked)) {
                Ok(line) => Some(line),
                Err(e) => {
                    if self.file_errors.ready() {
                        tracing::error!(
                            file = %file.path().display(),
                            "cannot write the audit file: {e}"
                        );
                    }
                    serde_json::to_string(&record).ok()
                }
            };
            // Under the file lock, so that stdout shows the lines in file order.
            if let (Some(stdout), Some(line)) = (&self.stdout, &line) {
                stdout.send(line.clone());
            }
            line
        };
        if let Some(backlog) = &self.backlog {
            // The database keeps its own chain; its writer reads the record back from the line
            // (see `backlog::Queued`).
            match line {
                Some(line) => backlog.push(Queued::Line {
                    line,
                    unlinked: record.unlinked.take(),
                }),
                None => {
                    record.prev_hash = None;
                    record.hash = None;
                    backlog.push(record);
                }
            }
        }
    }
}

/// Make a record fit to write, whatever the caller put in it: secrets redacted, no NUL
/// characters, microsecond time, no stale chain fields.
fn seal(record: &mut AuditRecord) {
    redact::redact_in_place(&mut record.parameters);
    redact::redact_in_place(&mut record.details);
    for field in [
        &mut record.request_id,
        &mut record.session_id,
        &mut record.user,
        &mut record.subject,
        &mut record.client_ip,
        &mut record.tool,
        &mut record.mcp_server,
        &mut record.backend_tool,
        &mut record.error,
    ] {
        redact::clean_text(field);
    }
    for role in &mut record.roles {
        if role.contains('\0') {
            *role = redact::replace_nul(role);
        }
    }
    record.timestamp = record::truncate_to_micros(record.timestamp);
    record.duration_ms = record
        .duration_ms
        .map(|ms| ms.min(u64::try_from(i64::MAX).unwrap_or(u64::MAX)));
    record.prev_hash = None;
    record.hash = None;
}

struct Inner {
    sinks: Arc<Sinks>,
    intake: mpsc::UnboundedSender<Intake>,
    store: Option<Store>,
    shutdown: watch::Sender<Option<Instant>>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

/// The audit handle. Cheap to clone; every clone writes to the same sinks.
#[derive(Clone)]
pub struct Auditor {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Auditor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auditor")
            .field("database", &self.inner.store)
            .field("pending", &self.pending())
            .finish()
    }
}

impl Auditor {
    /// Open the audit file (creating its folders) and start stdout and the database writer.
    /// Fails on an audit file or spool that cannot be opened and on a malformed
    /// `DATABASE_URL`; never on an unreachable database (migrations retry in the background
    /// and records queue meanwhile). Must run inside a Tokio runtime.
    pub async fn start(settings: &AuditSettings) -> anyhow::Result<Auditor> {
        let file = FileSink::open(&settings.audit_log_file).with_context(|| {
            format!(
                "cannot open the audit file {}",
                settings.audit_log_file.display()
            )
        })?;
        let stdout = if settings.audit_to_stdout {
            Some(StdoutSink::start().context("cannot start the stdout audit writer")?)
        } else {
            None
        };
        let (shutdown, shutdown_signal) = watch::channel(None);
        let (store, backlog, writer) = match &settings.database_url {
            None => (None, None, None),
            Some(url) => {
                // Reads (`GET /audit`) get a pool of their own (see `Store::connect_writer`).
                let store = Store::connect_lazy(url.expose())?;
                let writer_store = Store::connect_writer(url.expose())?;
                let spool = settings.spool_path();
                let backlog = Arc::new(
                    Backlog::open(settings.memory_queue, Some(&spool)).with_context(|| {
                        format!("cannot open the audit spool {}", spool.display())
                    })?,
                );
                if backlog.pending() > 0 {
                    tracing::info!(
                        pending = backlog.pending(),
                        "audit records spooled by an earlier run will be written to the database"
                    );
                }
                let rejected = settings.rejected_path();
                let writer_backlog = Arc::clone(&backlog);
                let tuning = settings.writer;
                let writer = tokio::spawn(async move {
                    writer::run(
                        writer_store,
                        writer_backlog,
                        tuning,
                        &rejected,
                        shutdown_signal,
                    )
                    .await;
                });
                (Some(store), Some(backlog), Some(writer))
            }
        };
        let sinks = Arc::new(Sinks {
            file: Mutex::new(file),
            stdout,
            backlog,
            file_errors: Throttle::every_secs(30),
        });
        let (intake, receiver) = mpsc::unbounded_channel();
        tokio::spawn(run_intake(Arc::clone(&sinks), receiver));
        Ok(Auditor {
            inner: Arc::new(Inner {
                sinks,
                intake,
                store,
                shutdown,
                writer: Mutex::new(writer),
            }),
        })
    }

    /// Write `record` to the file (and queue it for stdout) now; queue it for the database.
    /// For records that must be on file before the answer is sent.
    pub fn record(&self, record: AuditRecord) {
        self.inner.sinks.write(record);
    }

    /// Hand `record` to the background writer. Never blocks.
    pub fn emit(&self, record: AuditRecord) {
        if let Err(mpsc::error::SendError(Intake::Record(record))) =
            self.inner.intake.send(Intake::Record(Box::new(record)))
        {
            // The intake task is gone (runtime shutting down): write it here instead.
            self.inner.sinks.write(*record);
        }
    }

    /// Records not yet in the database (0 without a database).
    pub fn pending(&self) -> u64 {
        self.inner.sinks.backlog.as_ref().map_or(0, |b| b.pending())
    }

    /// Records waiting in the spool file.
    pub fn spooled(&self) -> u64 {
        self.inner.sinks.backlog.as_ref().map_or(0, |b| b.spooled())
    }

    /// The audit file's path.
    pub fn audit_file(&self) -> PathBuf {
        self.inner.sinks.file().path().to_owned()
    }

    /// A reader of the audit database for `GET /audit` (one pool for every reader).
    pub fn reader(&self) -> Option<AuditReader> {
        self.inner.store.clone().map(|store| AuditReader { store })
    }

    /// Shutdown: write what `emit` queued, give the database writer until `timeout` to
    /// drain, spool what is left, flush stdout. Safe to call more than once; records
    /// audited afterwards still reach the file, and the spool.
    pub async fn flush_and_close(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let (done, flushed) = oneshot::channel();
        if self.inner.intake.send(Intake::Flush(done)).is_ok() {
            let _ = tokio::time::timeout_at(deadline, flushed).await;
        }
        self.inner.shutdown.send_replace(Some(deadline));
        let writer = self
            .inner
            .writer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(mut writer) = writer {
            // The writer stops by itself at the deadline; the grace covers spooling the rest.
            let grace = deadline + Duration::from_secs(5);
            if tokio::time::timeout_at(grace, &mut writer).await.is_err() {
                writer.abort();
                tracing::error!("the audit database writer did not stop in time");
            }
        }
        if let Some(backlog) = &self.inner.sinks.backlog {
            backlog.close();
        }
        if let Some(stdout) = &self.inner.sinks.stdout {
            let _ = tokio::time::timeout_at(
                deadline.max(Instant::now() + Duration::from_secs(1)),
                stdout.flush(),
            )
            .await;
        }
    }
}

async fn run_intake(sinks: Arc<Sinks>, mut receiver: mpsc::UnboundedReceiver<Intake>) {
    while let Some(message) = receiver.recv().await {
        match message {
            Intake::Record(record) => sinks.write(*record),
            Intake::Flush(done) => {
                let _ = done.send(());
            }
        }
    }
}

/// Reads `audit_log` for `GET /audit`.
#[derive(Debug, Clone)]
pub struct AuditReader {
    store: Store,
}

impl AuditReader {
    /// A reader with its own lazily connecting pool (when no [`Auditor`] is at hand).
    /// Must run inside a Tokio runtime.
    pub fn connect_lazy(database_url: &Secret) -> Result<AuditReader, StoreError> {
        Store::connect_lazy(database_url.expose()).map(|store| AuditReader { store })
    }

    /// The database it reads (the API keys live there too).
    pub fn store(&self) -> &Store {
        &self.store
    }

    pub async fn query(&self, filter: &AuditFilter) -> Result<Page, StoreError> {
        self.store.query(filter).await
    }

    /// Check the database's hash chain from its first record (a database keeps them all).
    pub async fn verify(&self) -> Result<verify::VerifyReport, StoreError> {
        verify::verify_store(&self.store, chain::ChainStart::Genesis).await
    }
}

/// The spool path the settings of `audit_log_file` would use (for operators and tests).
pub fn default_spool_path(audit_log_file: &Path) -> PathBuf {
    AuditSettings::file_only(audit_log_file).spool_path()
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn lines(path: &Path) -> Vec<Value> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn seal_redacts_cleans_and_forgets_chain_fields() {
        let mut record = AuditRecord::new(AuditEvent::ToolCall, AuditStatus::Success);
        record.parameters = json!({"Api-Key": "k", "q": "a\u{0}b"});
        record.details = json!({"nested": {"token": "t"}});
        record.error = Some("bad\u{0}".into());
        record.roles = vec!["r\u{0}".into()];
        record.duration_ms = Some(u64::MAX);
        record.prev_hash = Some("x".into());
        record.hash = Some("y".into());
        seal(&mut record);
        assert_eq!(
            record.parameters,
            json!({"Api-Key": "[REDACTED]", "q": "a\u{FFFD}b"})
        );
        assert_eq!(record.details, json!({"nested": {"token": "[REDACTED]"}}));
        assert_eq!(record.error.as_deref(), Some("bad\u{FFFD}"));
        assert_eq!(record.roles, ["r\u{FFFD}"]);
        assert_eq!(record.duration_ms, Some(i64::MAX as u64));
        assert_eq!((record.prev_hash, record.hash), (None, None));
    }

    #[test]
    fn spool_defaults_next_to_the_audit_file() {
        assert_eq!(
            default_spool_path(Path::new("logs/audit.json")),
            PathBuf::from("logs/audit.json.spool")
        );
    }

    #[tokio::test]
    async fn record_is_on_file_when_it_returns_and_emit_after_a_flush() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.json");
        let auditor = Auditor::start(&AuditSettings::file_only(&path))
            .await
            .unwrap();
        let first = AuditRecord::new(AuditEvent::ToolCall, AuditStatus::Success);
        auditor.record(first.clone());
        assert_eq!(lines(&path).len(), 1);
        let emitted = AuditRecord::server_health("db", false, Some("connection refused"));
        auditor.emit(emitted.clone());
        auditor.flush_and_close(Duration::from_secs(5)).await;
        let written = lines(&path);
        assert_eq!(written.len(), 2);
        assert_eq!(written[0]["id"], json!(first.id));
        assert_eq!(written[1]["id"], json!(emitted.id));
        assert_eq!(written[1]["prev_hash"], written[0]["hash"]);
        assert_eq!(auditor.pending(), 0);
        assert!(auditor.reader().is_none());
        // Still writes after close.
        auditor.record(AuditRecord::new(
            AuditEvent::ListTools,
            AuditStatus::Success,
        ));
        assert_eq!(lines(&path).len(), 3);
    }

    #[tokio::test]
    async fn an_unopenable_audit_file_fails_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let error = Auditor::start(&AuditSettings::file_only(dir.path()))
            .await
            .unwrap_err();
        assert!(format!("{error:#}").contains("cannot open the audit file"));
    }

    #[tokio::test]
    async fn a_malformed_database_url_fails_the_start_without_showing_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = AuditSettings::file_only(dir.path().join("audit.json"));
        settings.database_url = Some(Secret::new("postgres://u:hunter2@host:notaport/db"));
        let error = Auditor::start(&settings).await.unwrap_err();
        assert!(!format!("{error:#}").contains("hunter2"));
    }
}
