//! Serving mock servers over streamable HTTP, legacy HTTP+SSE or stdio, and shutting them
//! down cleanly on Ctrl-C / SIGTERM.

use axum::serve::ListenerExt as _;
use std::{io::Write, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context as _;
use axum::{
    Router,
    extract::{Query, Request},
    http::StatusCode,
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use http::request::Parts;
use mcp_gateway::http::legacy_sse::{self, LegacySseConfig};
use rmcp::{
    ServiceExt,
    service::ServerInitializeError,
    transport::{
        StreamableHttpServerConfig, StreamableHttpService,
        streamable_http_server::session::local::LocalSessionManager,
    },
};
use tokio::{net::TcpListener, task::JoinSet};
use tokio_util::sync::CancellationToken;

use crate::{
    cli::{MockConfig, Requirements, TransportKind},
    handler::{MockServer, ServerSpec},
    tools::ToolSet,
};

/// How long listeners may take to finish their open requests after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

pub async fn run(config: MockConfig) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    spawn_signal_listener(shutdown.clone());
    let tools = Arc::new(ToolSet::new(&config.tools));
    match config.transport {
        TransportKind::Stdio => serve_stdio(mock_server(&config, 0, &tools), shutdown).await,
        TransportKind::Http | TransportKind::Sse => {
            serve_listeners(&config, &tools, shutdown).await
        }
    }
}

fn mock_server(config: &MockConfig, index: u16, tools: &Arc<ToolSet>) -> MockServer {
    MockServer::new(
        ServerSpec {
            name: config.server_name(index),
            version: config.server_version.clone(),
            tags: config.tags.clone(),
            latency: config.latency,
            prompts: config.prompts,
        },
        Arc::clone(tools),
    )
}

fn spawn_signal_listener(shutdown: CancellationToken) {
    tokio::spawn(async move {
        let interrupt = async {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        #[cfg(unix)]
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let terminate = std::future::pending::<()>();
        tokio::select! {
            () = interrupt => {}
            () = terminate => {}
        }
        tracing::info!("shutting down");
        shutdown.cancel();
    });
}

/// Stdio: stdout is the protocol; the server ends when stdin closes.
async fn serve_stdio(server: MockServer, shutdown: CancellationToken) -> anyhow::Result<()> {
    let running = tokio::select! {
        running = server.serve(rmcp::transport::stdio()) => running,
        () = shutdown.cancelled() => return Ok(()),
    };
    let running = match running {
        Ok(running) => running,
        // Stdin closed before the client initialized: nothing went wrong on our side.
        Err(ServerInitializeError::ConnectionClosed(_)) => return Ok(()),
        Err(error) => return Err(error).context("initialize over stdio"),
    };
    tokio::select! {
        _ = running.waiting() => {}
        () = shutdown.cancelled() => {}
    }
    Ok(())
}

/// Binds one listener per server, announces each with a `LISTENING <url>` line on stdout,
/// then serves them all until shutdown.
async fn serve_listeners(
    config: &MockConfig,
    tools: &Arc<ToolSet>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut bound = Vec::with_capacity(usize::from(config.count));
    for index in 0..config.count {
        let wanted = config.listen_address(index);
        let listener = TcpListener::bind(wanted)
            .await
            .with_context(|| format!("bind {wanted}"))?;
        let address = listener.local_addr().context("read the bound address")?;
        let server = mock_server(config, index, tools);
        let (app, path) = match config.transport {
            TransportKind::Sse => (sse_app(server, &shutdown), legacy_sse::SSE_PATH),
            _ => (
                http_app(server, config, address, &shutdown),
                config.path.as_str(),
            ),
        };
        let app = require(app, &config.requirements);
        bound.push((listener, app, format!("http://{address}{path}")));
    }
    announce(bound.iter().map(|(_, _, url)| url.as_str())).context("write to stdout")?;

    let mut servers = JoinSet::new();
    for (listener, app, _) in bound {
        let shutdown = shutdown.clone();
        servers.spawn(async move {
            // Without TCP_NODELAY, multi-write responses stall on delayed ACKs (~40 ms).
            let listener = listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            axum::serve(listener, app)
                .with_graceful_shutdown(shutdown.cancelled_owned())
                .await
        });
    }
    let all_done = async {
        while let Some(result) = servers.join_next().await {
            match result {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::error!(%error, "listener failed"),
                Err(error) => tracing::error!(%error, "listener task failed"),
            }
        }
    };
    let grace_over = async {
        shutdown.cancelled().await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        () = all_done => {}
        () = grace_over => tracing::warn!("requests still open after the grace period; exiting"),
    }
    Ok(())
}

/// One line per listener, flushed at once: tests and scripts wait for these lines.
fn announce<'a>(urls: impl Iterator<Item = &'a str>) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    for url in urls {
        writeln!(stdout, "LISTENING {url}")?;
    }
    stdout.flush()
}

fn http_app(
    server: MockServer,
    config: &MockConfig,
    address: SocketAddr,
    shutdown: &CancellationToken,
) -> Router {
    let mut http_config =
        StreamableHttpServerConfig::default().with_cancellation_token(shutdown.child_token());
    if config.stateless {
        http_config = http_config
            .with_legacy_session_mode(false)
            .with_json_response(true);
    }
    // rmcp accepts only loopback Host headers by default; a mock listening on another
    // address (in a container, reached by service name) must accept the name it is given.
    if !address.ip().is_loopback() {
        http_config = http_config.disable_allowed_hosts();
    }
    let service = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(LocalSessionManager::default()),
        http_config,
    );
    let router = Router::new().route_service(&config.path, service);
    match &config.redirect_from {
        // 307 keeps the method and the body; the Location is relative, so same-origin.
        Some(from) => {
            let to = config.path.clone();
            router.route(
                from,
                axum::routing::any(move || {
                    let to = to.clone();
                    async move { axum::response::Redirect::temporary(&to) }
                }),
            )
        }
        None => router,
    }
}

fn sse_app(server: MockServer, shutdown: &CancellationToken) -> Router {
    legacy_sse::router(
        move |_parts: &Parts| server.clone(),
        LegacySseConfig {
            cancellation: shutdown.child_token(),
            ..LegacySseConfig::default()
        },
    )
}

/// Answers 401 to any request missing one of the required headers or query pairs.
fn require(app: Router, requirements: &Requirements) -> Router {
    if requirements.is_empty() {
        return app;
    }
    let requirements = Arc::new(requirements.clone());
    app.layer(middleware::from_fn(move |request: Request, next: Next| {
        let requirements = Arc::clone(&requirements);
        async move {
            if satisfies(&requirements, &request) {
                next.run(request).await
            } else {
                unauthorized()
            }
        }
    }))
}

fn satisfies(requirements: &Requirements, request: &Request) -> bool {
    let headers_ok = requirements.headers.iter().all(|(name, value)| {
        request
            .headers()
            .get_all(name)
            .iter()
            .any(|present| present == value)
    });
    if !headers_ok {
        return false;
    }
    if requirements.query.is_empty() {
        return true;
    }
    let Ok(Query(pairs)) = Query::<Vec<(String, String)>>::try_from_uri(request.uri()) else {
        return false;
    };
    requirements
        .query
        .iter()
        .all(|required| pairs.contains(required))
}

fn unauthorized() -> Response {
    (StatusCode::UNAUTHORIZED, "missing or wrong credentials").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderName, HeaderValue};

    fn requirements() -> Requirements {
        Requirements {
            headers: vec![(
                HeaderName::from_static("x-api-key"),
                HeaderValue::from_static("k1"),
            )],
            query: vec![("token".to_owned(), "a b".to_owned())],
        }
    }

    fn request(uri: &str, api_key: Option<&str>) -> Request {
        let mut builder = http::Request::builder().uri(uri);
        if let Some(key) = api_key {
            builder = builder.header("x-api-key", key);
        }
        builder.body(axum::body::Body::empty()).expect("request")
    }

    #[test]
    fn every_requirement_must_hold() {
        let r = requirements();
        assert!(satisfies(&r, &request("/mcp?token=a+b", Some("k1"))));
        assert!(satisfies(&r, &request("/mcp?x=1&token=a%20b", Some("k1"))));
        assert!(!satisfies(&r, &request("/mcp?token=a+b", None)));
        assert!(!satisfies(&r, &request("/mcp?token=a+b", Some("k2"))));
        assert!(!satisfies(&r, &request("/mcp", Some("k1"))));
        assert!(!satisfies(&r, &request("/mcp?token=ab", Some("k1"))));
    }

    #[test]
    fn no_requirements_accept_everything() {
        assert!(satisfies(&Requirements::default(), &request("/", None)));
    }
}
