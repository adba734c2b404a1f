//! The database writer: one background task that applies the migrations (retrying until the
//! database is there), then moves the backlog into `audit_log` batch by batch, off the
//! request path. A failed batch goes back to the backlog and is retried with backoff; an
//! outage is logged at WARN at most every 30 s with the number of records pending.
//!
//! A batch the database refuses as data (not as an outage) is retried record by record, and
//! the records it will never take are set aside in `<audit file>.rejected` with an ERROR, so
//! that one bad record cannot hold up every record behind it.
//!
//! At shutdown the writer drains until the backlog is empty or the deadline passes, then
//! moves what is left into the spool for the next start.

use std::fs::OpenOptions;
use std::future::Future;
use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::backlog::Backlog;
use super::record::AuditRecord;
use super::store::{Store, StoreError};
use super::throttle::Throttle;

/// Tuning of the writer; the defaults suit production.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterTuning {
    /// Records per batch (one transaction, one multi-row INSERT).
    pub batch_size: usize,
    /// First retry delay after a failure; doubles up to `backoff_max`.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// A batch taking longer than this counts as failed (a database that stopped answering
    /// without closing the connection).
    pub write_timeout: Duration,
    /// The same for applying the migrations, which may rebuild a large table once.
    pub migrate_timeout: Duration,
    /// After a batch smaller than `batch_size`, wait this long before the next one, so that
    /// a steady trickle of records becomes a few transactions per second rather than one
    /// per record (each commit costs far more than a row). The records are in the audit
    /// file before this; shutdown cuts the wait short.
    pub linger: Duration,
}

impl Default for WriterTuning {
    fn default() -> Self {
        WriterTuning {
            batch_size: 1000,
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            write_timeout: Duration::from_secs(15),
            // SQLite's 0002 copies the table: ~10 s per million records on a small machine.
            migrate_timeout: Duration::from_secs(600),
            linger: Duration::from_millis(100),
        }
    }
}

/// `None` while running; `Some(deadline)` once shutdown has begun.
pub type ShutdownSignal = watch::Receiver<Option<Instant>>;

/// How long the writer keeps draining when every handle to it is dropped without a
/// shutdown.
const ORPHAN_GRACE: Duration = Duration::from_secs(10);

enum Bounded<T> {
    Done(T),
    TimedOut,
    /// The shutdown deadline passed first.
    Stopped,
}

struct Health {
    warn: Throttle,
    failing: bool,
}

impl Health {
    fn failed(&mut self, what: &str, error: &StoreError, backlog: &Backlog) {
        self.failing = true;
        if self.warn.ready() {
            tracing::warn!(
                pending = backlog.pending(),
                spooled = backlog.spooled(),
                "audit database unavailable ({what}): {error}; records are queued and will be written when it is back"
            );
        }
    }

    fn timed_out(&mut self, what: &str, backlog: &Backlog) {
        self.failing = true;
        if self.warn.ready() {
            tracing::warn!(
                pending = backlog.pending(),
                spooled = backlog.spooled(),
                "audit database did not answer in time ({what}); records are queued"
            );
        }
    }

    fn succeeded(&mut self, backlog: &Backlog) {
        if self.failing {
            self.failing = false;
            self.warn.reset();
            tracing::info!(
                pending = backlog.pending(),
                "audit database reachable again; writing queued records"
            );
        }
    }
}

/// Run until shutdown. Ends by closing the backlog (memory moved to the spool). Records
/// the database refuses as data are appended to `rejected`.
pub async fn run(
    store: Store,
    backlog: Arc<Backlog>,
    tuning: WriterTuning,
    rejected: &Path,
    mut shutdown: ShutdownSignal,
) {
    let mut health = Health {
        warn: Throttle::every_secs(30),
        failing: false,
    };
    let mut migrated = false;
    let mut backoff = tuning.backoff_min;
    let mut orphaned_at = None;
    loop {
        if let Some(deadline) = deadline(&shutdown, &mut orphaned_at)
            && (backlog.pending() == 0 || Instant::now() >= deadline)
        {
            break;
        }
        if !migrated {
            match bounded(store.migrate(), tuning.migrate_timeout, &mut shutdown).await {
                Bounded::Done(Ok(())) => {
                    migrated = true;
                    backoff = tuning.backoff_min;
                    health.succeeded(&backlog);
                    tracing::debug!(database = store.kind(), "audit database ready");
                }
                Bounded::Done(Err(e)) => {
                    health.failed("migrations", &e, &backlog);
                    backoff = pause(backoff, &tuning, &mut shutdown).await;
                }
                Bounded::TimedOut => {
                    health.timed_out("migrations", &backlog);
                    backoff = pause(backoff, &tuning, &mut shutdown).await;
                }
                Bounded::Stopped => break,
            }
            continue;
        }
        let Some(batch) = backlog.take(tuning.batch_size) else {
            if deadline(&shutdown, &mut orphaned_at).is_some() {
                break;
            }
            wait_for_work(&backlog, &mut shutdown).await;
            continue;
        };
        match bounded(
            store.insert(&batch.records),
            tuning.write_timeout,
            &mut shutdown,
        )
        .await
        {
            Bounded::Done(Ok(_)) => {
                let short = batch.records.len() < tuning.batch_size;
                backlog.commit(batch);
                backoff = tuning.backoff_min;
                health.succeeded(&backlog);
                if short {
                    linger(tuning.linger, &mut shutdown).await;
                }
            }
            Bounded::Done(Err(e)) if e.is_data_error() => {
                // The database refuses some record of the batch: find it, set it aside, and
                // keep the queue moving behind it.
                match quarantine(&store, &batch.records, rejected, &tuning, &mut shutdown).await {
                    Ok(()) => {
                        backlog.commit(batch);
                        health.succeeded(&backlog);
                    }
                    Err(e) => {
                        backlog.restore(batch);
                        health.failed("insert", &e, &backlog);
                        backoff = pause(backoff, &tuning, &mut shutdown).await;
                    }
                }
            }
            Bounded::Done(Err(e)) => {
                backlog.restore(batch);
                health.failed("insert", &e, &backlog);
                backoff = pause(backoff, &tuning, &mut shutdown).await;
            }
            Bounded::TimedOut => {
                backlog.restore(batch);
                health.timed_out("insert", &backlog);
                backoff = pause(backoff, &tuning, &mut shutdown).await;
            }
            Bounded::Stopped => {
                backlog.restore(batch);
                break;
            }
        }
    }
    let stranded = backlog.close();
    if stranded > 0 {
        tracing::error!(
            stranded,
            "audit records could not be written to the database nor spooled; they are in the audit file only"
        );
    } else if backlog.pending() > 0 {
        tracing::warn!(
            pending = backlog.pending(),
            spool = ?backlog.spool_path(),
            "audit records not yet in the database were spooled; they are written at the next start"
        );
    }
}

/// Insert `records` one by one; those the database refuses as data go to the `rejected`
/// file. Any other failure stops the pass (the batch is retried whole later; rows already in
/// are then left out).
async fn quarantine(
    store: &Store,
    records: &[AuditRecord],
    rejected: &Path,
    tuning: &WriterTuning,
    shutdown: &mut ShutdownSignal,
) -> Result<(), StoreError> {
    for record in records {
        match bounded(
            store.insert(std::slice::from_ref(record)),
            tuning.write_timeout,
            shutdown,
        )
        .await
        {
            Bounded::Done(Ok(_)) => {}
            Bounded::Done(Err(e)) if e.is_data_error() => reject(record, &e, rejected),
            Bounded::Done(Err(e)) => return Err(e),
            Bounded::TimedOut | Bounded::Stopped => {
                return Err(StoreError::Config(
                    "no answer while isolating a refused record".into(),
                ));
            }
        }
    }
    Ok(())
}

/// Set aside a record the database will never take. It is in the audit file already; this
/// keeps a copy for an operator to re-import.
fn reject(record: &AuditRecord, error: &StoreError, rejected: &Path) {
    let saved = serde_json::to_vec(record)
        .map_err(std::io::Error::other)
        .and_then(|mut line| {
            line.push(b'\n');
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(rejected)?
                .write_all(&line)
        });
    match saved {
        Ok(()) => tracing::error!(
            id = %record.id,
            file = %rejected.display(),
            "the audit database refused a record ({error}); it is in the audit file and was set aside"
        ),
        Err(e) => tracing::error!(
            id = %record.id,
            "the audit database refused a record ({error}) and it could not be set aside ({e}); it is in the audit file only"
        ),
    }
}

/// The shutdown deadline, if shutdown has begun. When every handle is gone without a
/// shutdown, the writer drains for [`ORPHAN_GRACE`] from the moment it noticed.
fn deadline(shutdown: &ShutdownSignal, orphaned_at: &mut Option<Instant>) -> Option<Instant> {
    if shutdown.has_changed().is_err() {
        let since = *orphaned_at.get_or_insert_with(Instant::now);
        return Some(since + ORPHAN_GRACE);
    }
    *shutdown.borrow()
}

/// Run `op` for at most `limit`, and not past the shutdown deadline.
async fn bounded<F: Future>(
    op: F,
    limit: Duration,
    shutdown: &mut ShutdownSignal,
) -> Bounded<F::Output> {
    tokio::pin!(op);
    let op_deadline = Instant::now() + limit;
    let mut orphaned = false;
    loop {
        let stop_at = if orphaned { None } else { *shutdown.borrow() };
        let wake = stop_at.map_or(op_deadline, |stop| stop.min(op_deadline));
        tokio::select! {
            output = &mut op => return Bounded::Done(output),
            () = tokio::time::sleep_until(wake) => {
                return if stop_at.is_some_and(|stop| stop <= op_deadline) {
                    Bounded::Stopped
                } else {
                    Bounded::TimedOut
                };
            }
            changed = shutdown.changed(), if !orphaned => {
                // A new deadline: loop to take it into account. A dropped sender means no
                // deadline will ever come from there.
                orphaned = changed.is_err();
            }
        }
    }
}

/// Sleep `backoff` (cut short by a shutdown deadline); returns the next backoff.
async fn pause(
    backoff: Duration,
    tuning: &WriterTuning,
    shutdown: &mut ShutdownSignal,
) -> Duration {
    let _ = bounded(tokio::time::sleep(backoff), backoff, shutdown).await;
    (backoff * 2).min(tuning.backoff_max)
}

/// Let records gather for `duration`; not at all once shutdown has begun (drain at once).
async fn linger(duration: Duration, shutdown: &mut ShutdownSignal) {
    if duration.is_zero() || shutdown.borrow().is_some() {
        return;
    }
    tokio::select! {
        () = tokio::time::sleep(duration) => {}
        _ = shutdown.changed() => {}
    }
}

async fn wait_for_work(backlog: &Backlog, shutdown: &mut ShutdownSignal) {
    tokio::select! {
        () = backlog.wait() => {}
        changed = shutdown.changed() => {
            if changed.is_err() {
                // Orphaned: nothing new can arrive, the loop drains and stops.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
