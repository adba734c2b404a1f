//! Config reload on SIGHUP or when the config file changes (SPEC §12).
//!
//! A valid new config replaces the old one without dropping client sessions; an invalid one
//! is refused with every problem logged, and the old one stays.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher as _};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::audit::AuditRecord;
use crate::config;
use crate::gateway::{Gateway, Snapshot};

/// Editors and `kubectl` replace files in several steps; wait for them to settle.
const SETTLE: Duration = Duration::from_millis(250);

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
    let watcher = watch_file(&path, tx.clone());
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
        // The watcher stops when dropped: keep it for the life of this task.
        let _watcher = watcher;
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

/// Watch the file's directory (editors replace the file, which a watch on the file would
/// lose) and signal on events that concern the file.
fn watch_file(path: &Path, tx: mpsc::Sender<()>) -> Option<notify::RecommendedWatcher> {
    let file_name = path.file_name()?.to_owned();
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if event.kind.is_access() {
            return;
        }
        if event
            .paths
            .iter()
            .any(|p| p.file_name() == Some(&file_name))
        {
            let _ = tx.try_send(());
        }
    })
    .map_err(|e| tracing::warn!(error = %e, "cannot watch the config file; reload on SIGHUP only"))
    .ok()?;
    watcher
        .watch(&dir, RecursiveMode::NonRecursive)
        .map_err(|e| tracing::warn!(error = %e, "cannot watch the config directory; reload on SIGHUP only"))
        .ok()?;
    Some(watcher)
}
