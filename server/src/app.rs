//! Wiring: load the config, start the gateway, bind, serve, drain on shutdown.

use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::audit::{AuditRecord, AuditSettings, Auditor};
use crate::config::{self, Settings};
use crate::gateway::{Gateway, Snapshot};
use crate::{http, reload, serving};

/// A gateway bound to a socket, not yet serving (tests use the bound address).
pub struct Bound {
    pub gateway: Arc<Gateway>,
    pub listener: TcpListener,
    pub shutdown: CancellationToken,
    /// Who callers are: auth off, or the authenticator (its key refresh already running).
    pub auth: http::auth::AuthState,
}

/// Load the config and bind. Fails on an invalid config (every problem listed), unusable
/// authentication settings or a port that cannot be bound; never on an unreachable backend or
/// token issuer (those are reached in the background).
pub async fn bind(settings: Settings) -> anyhow::Result<Bound> {
    let config = config::load_file(&settings.config_path).map_err(|problems| {
        anyhow::anyhow!(
            "invalid configuration ({} problem{}):\n{problems}",
            problems.0.len(),
            if problems.0.len() == 1 { "" } else { "s" }
        )
    })?;
    let snapshot =
        Snapshot::build(config).map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
    let shutdown = CancellationToken::new();
    let auth = http::auth::AuthState::start(&settings, shutdown.child_token())
        .context("invalid authentication settings")?;
    // Before binding: an audit file that cannot be written stops the start (nothing may go
    // unaudited); an unreachable database does not (records queue until it is back).
    let audit = Auditor::start(&AuditSettings::from_settings(&settings)).await?;
    let address = format!("{}:{}", settings.host, settings.port);
    let listener = TcpListener::bind(&address)
        .await
        .with_context(|| format!("cannot listen on {address}"))?;
    let gateway = Gateway::start(settings, snapshot, audit);
    Ok(Bound {
        gateway,
        listener,
        shutdown,
        auth,
    })
}

/// Serve until `shutdown` is cancelled, then drain and stop the backends.
pub async fn serve(bound: Bound) -> anyhow::Result<()> {
    let Bound {
        gateway,
        listener,
        shutdown,
        auth,
    } = bound;
    let local = listener.local_addr()?;
    reload::spawn(
        Arc::clone(&gateway),
        gateway.settings().config_path.clone(),
        shutdown.clone(),
    );
    let mut auth = auth.with_failure_hook(account_auth_failures(&gateway));
    if let Some(keys) = crate::keys::KeyStore::of(gateway.audit()) {
        auth = auth.with_keys(keys);
    }
    let router = http::router(Arc::clone(&gateway), auth, shutdown.clone());
    tracing::info!(
        address = %local,
        public_url = %gateway.settings().public_url,
        "gateway listening; MCP endpoint at /mcp"
    );
    let served = serving::serve(
        listener,
        router,
        gateway.settings().worker_threads,
        shutdown.clone(),
    )
    .await;
    gateway.shut_down();
    gateway.audit().flush_and_close(AUDIT_DRAIN).await;
    served.context("server error")
}

/// Every refused token becomes an `auth_failure` audit record (off the request path) and a
/// count by reason.
fn account_auth_failures(gateway: &Arc<Gateway>) -> http::auth::AuthFailureHook {
    let gateway = Arc::clone(gateway);
    Arc::new(move |failure: &http::auth::AuthFailure| {
        gateway
            .metrics()
            .record_auth_failure(failure.reason.reason());
        gateway.audit().emit(AuditRecord::auth_failure(
            failure.request_id.as_deref().unwrap_or_default(),
            failure.client_ip.as_deref(),
            http::transport_of(&failure.path),
            &failure.reason.to_string(),
        ));
    })
}

// A serving thread's heartbeat timer must be due before the timers calls set on it, or it
// saves them nothing (see `serving::keep_a_timer_pending`).
const _: () =
    assert!(serving::HEARTBEAT.as_secs() < crate::upstream::http_call::DRAIN_TIMEOUT.as_secs());

/// How long shutdown waits for the audit database to take what is queued (the rest is
/// spooled to disk and written at the next start).
const AUDIT_DRAIN: std::time::Duration = std::time::Duration::from_secs(10);

/// The binary's whole life: bind, serve, stop on Ctrl-C or SIGTERM.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    let bound = bind(settings).await?;
    let shutdown = bound.shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down");
        shutdown.cancel();
    });
    serve(bound).await
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
