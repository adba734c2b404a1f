//! Wiring: load the config, start the gateway, bind, serve, drain on shutdown.

use std::sync::Arc;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::{self, Settings};
use crate::gateway::Gateway;
use crate::{http, reload};

/// A gateway bound to a socket, not yet serving (tests use the bound address).
pub struct Bound {
    pub gateway: Arc<Gateway>,
    pub listener: TcpListener,
    pub shutdown: CancellationToken,
}

/// Load the config and bind. Fails on an invalid config (every problem listed) or a port
/// that cannot be bound; never on an unreachable backend (those connect in the background).
pub async fn bind(settings: Settings) -> anyhow::Result<Bound> {
    let config = config::load_file(&settings.config_path).map_err(|problems| {
        anyhow::anyhow!(
            "invalid configuration ({} problem{}):\n{problems}",
            problems.0.len(),
            if problems.0.len() == 1 { "" } else { "s" }
        )
    })?;
    let address = format!("{}:{}", settings.host, settings.port);
    let listener = TcpListener::bind(&address)
        .await
        .with_context(|| format!("cannot listen on {address}"))?;
    let gateway = Gateway::start(settings, config);
    Ok(Bound {
        gateway,
        listener,
        shutdown: CancellationToken::new(),
    })
}

/// Serve until `shutdown` is cancelled, then drain and stop the backends.
pub async fn serve(bound: Bound) -> anyhow::Result<()> {
    let Bound {
        gateway,
        listener,
        shutdown,
    } = bound;
    let local = listener.local_addr()?;
    reload::spawn(
        Arc::clone(&gateway),
        gateway.settings().config_path.clone(),
        shutdown.clone(),
    );
    let router = http::router(Arc::clone(&gateway), shutdown.clone());
    tracing::info!(
        address = %local,
        public_url = %gateway.settings().public_url,
        "gateway listening; MCP endpoint at /mcp"
    );
    let drain = shutdown.clone();
    let served = axum::serve(listener, router)
        .with_graceful_shutdown(async move { drain.cancelled().await })
        .await;
    gateway.shut_down();
    served.context("server error")
}

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
