//! Config reload on SIGHUP or when the config file changes (SPEC §12).
//!
//! A valid new config replaces the old one without dropping client sessions; an invalid one
//! is refused with every problem logged, and the old one stays.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::audit::AuditRecord;
use crate::config;
use crate::gateway::{Gateway, Snapshot};

/// Editors and `kubectl` replace files in several steps; wait for them to settle.
const SETTLE: Duration = Duration::from_millis(250);
/// How often the config file's metadata is checked.
const POLL: Duration = Duration::from_secs(1);

/// Outcome of one reload attempt.
#[derive(Debug)]
pub enum ReloadOutcome {
    Applied(crate::upstream::pool::PoolChanges),
    Refused(config::ConfigErrors),
}

/// Re-read the config file and apply it if it is valid.
pub fn reload_now(gateway: &Gateway, path: &Path) -> ReloadOutcome {
    let loaded = config::load_file(path).and_then(|config| {
        Snapshot::build(config).map_err(|message| {
            config::ConfigErrors(vec![config::ConfigProblem {
                file: path.display().to_string(),
                line: None,
                server: None,
                key: String::new(),
                message,
            }])
        })
    });
    match loaded {
        Ok(snapshot) => {
            let changes = gateway.apply_config(snapshot);
            gateway
                .audit()
                .emit(AuditRecord::config_reload(Ok(serde_json::json!({
                    "added": changes.added,
                    "removed": changes.removed,
                    "restarted": changes.restarted,
                }))));
            tracing::info!(
                added = ?changes.added,
                removed = ?changes.removed,
                restarted = ?changes.restarted,
                "config reloaded"
            );
            ReloadOutcome::Applied(changes)
        }
        Err(problems) => {
            for problem in &problems.0 {
                tracing::error!(%problem, "config reload refused");
            }
            tracing::error!(
                problems = problems.0.len(),
                "config reload refused; the previous config stays in force"
            );
            let summary = format!(
                "config reload refused: {} problem(s), first: {}",
                problems.0.len(),
                problems
                    .0
                    .first()
                    .map(ToString::to_string)
                    .unwrap_or_default()
            );
            gateway
                .audit()
                .emit(AuditRecord::config_reload(Err(&summary)));
            ReloadOutcome::Refused(problems)
        }
    }
}

/// Watch for SIGHUP and for changes of the config file until `shutdown`.
pub fn spawn(gateway: Arc<Gateway>, path: PathBuf, shutdown: CancellationToken) {
    let (tx, mut rx) = mpsc::channel::<()>(1);
    tokio::spawn(watch_file(path.clone(), tx.clone(), shutdown.clone()));
    #[cfg(unix)]
    {
        let tx = tx.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            use tokio::signal::unix::{SignalKind, signal};
            let Ok(mut hup) = signal(SignalKind::hangup()) else {
                tracing::warn!("cannot listen for SIGHUP; reload on file change only");
                return;
            };
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    Some(()) = hup.recv() => {
                        tracing::info!("SIGHUP: reloading config");
                        let _ = tx.try_send(());
                    }
                }
            }
        });
    }
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                Some(()) = rx.recv() => {
                    tokio::time::sleep(SETTLE).await;
                    while rx.try_recv().is_ok() {}
                    reload_now(&gateway, &path);
                }
            }
        }
    });
}

/// What identifies a version of the config file: a rewrite or a replacement (an editor's
/// rename, a Kubernetes ConfigMap's symlink swap) changes at least one of these.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fingerprint {
    modified: Option<std::time::SystemTime>,
    len: u64,
    inode: u64,
}

fn fingerprint(path: &Path) -> Option<Fingerprint> {
    use std::os::unix::fs::MetadataExt as _;
    // `metadata` follows symlinks: a swapped link target counts as a change.
    let meta = std::fs::metadata(path).ok()?;
    Some(Fingerprint {
        modified: meta.modified().ok(),
        len: meta.len(),
        inode: meta.ino(),
    })
}

/// Poll the file's metadata every [`POLL`] and signal when it changed. A stat per second
/// costs nothing, works on every filesystem (bind mounts and network filesystems included,
/// where change notifications are unreliable), and, unlike a directory watch, is not woken
/// by every write of files beside the config (the audit file often is).
async fn watch_file(path: PathBuf, tx: mpsc::Sender<()>, shutdown: CancellationToken) {
    let mut last = fingerprint(&path);
    let mut tick = tokio::time::interval(POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = fingerprint(&path);
        // A file gone for a moment (mid-replacement) is not a change yet; its return is.
        if now.is_some() && now != last {
            let _ = tx.try_send(());
        }
        if now.is_some() {
            last = now;
        }
    }
}
