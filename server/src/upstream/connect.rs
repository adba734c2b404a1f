//! Opening one MCP client session to a backend, over its configured transport.
//!
//! Streamable HTTP and stdio come from rmcp; legacy SSE from [`super::sse`]. A stdio
//! backend gets a clean environment (never the gateway's secrets) and its stderr goes to our
//! log, line by line, tagged with the server name.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use rmcp::RoleClient;
use rmcp::ServiceExt as _;
use rmcp::service::RunningService;
use rmcp::transport::child_process::TokioChildProcess;
use rmcp::transport::streamable_http_client::{
    StreamableHttpClientTransport, StreamableHttpClientTransportConfig,
};
use tokio::io::AsyncBufReadExt as _;

use super::clients::HttpClients;
use super::credentials::ResolvedAuth;
use super::handler::{BackendHandler, LinkEvents};
use super::http_call::HttpCaller;
use super::rmcp_http::RmcpHttpClient;
use super::sse;
use crate::config::{EnvValue, ServerConfig, TransportConfig};

pub type Connection = RunningService<RoleClient, BackendHandler>;

/// An open session, and for streamable HTTP the gateway's own `tools/call` client.
pub struct Connected {
    pub service: Connection,
    pub http_caller: Option<Arc<HttpCaller>>,
}

/// The variables a stdio backend inherits from the gateway; everything else it gets comes
/// from its own `env` block (SPEC §13).
const INHERITED_ENV: &[&str] = &["PATH", "HOME", "USER", "LANG", "TMPDIR"];

/// How many calls one shared backend connection carries at once over streamable HTTP.
/// Every downstream session shares the connection, so rmcp's default of 16 is too low.
const HTTP_MAX_CONCURRENT_REQUESTS: usize = 1024;

/// Connect and complete the MCP handshake. Errors are safe to show (no URL, no secret).
pub async fn connect(
    config: &ServerConfig,
    auth: &ResolvedAuth,
    http: &HttpClients,
    events: Arc<LinkEvents>,
    handshake_timeout: Duration,
) -> Result<Connected, String> {
    let handler = BackendHandler::new(events);
    let serve = async {
        match &config.transport {
            TransportConfig::Http { url } => {
                let headers: HashMap<_, _> = auth
                    .headers
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                let transport_config =
                    StreamableHttpClientTransportConfig::with_uri(with_query(url, &auth.query)?)
                        .custom_headers(headers)
                        .max_concurrent_requests(HTTP_MAX_CONCURRENT_REQUESTS);
                let http_caller = Arc::new(HttpCaller::new(http.clone()));
                let client = RmcpHttpClient {
                    http: http.reqwest.clone(),
                    http_caller: Arc::clone(&http_caller),
                };
                let transport =
                    StreamableHttpClientTransport::with_client(client, transport_config);
                let service = handler
                    .serve(transport)
                    .await
                    .map_err(|e| format!("handshake failed: {}", initialize_category(&e)))?;
                Ok(Connected {
                    service,
                    http_caller: Some(http_caller),
                })
            }
            TransportConfig::Sse { url } => {
                let target = sse::SseTarget {
                    url: url.clone(),
                    headers: auth.headers.clone(),
                    query: auth.query.clone(),
                };
                let transport = sse::connect(http.reqwest.clone(), target, handshake_timeout)
                    .await
                    .map_err(|e| e.to_string())?;
                handler
                    .serve(transport)
                    .await
                    .map(Connected::rmcp_only)
                    .map_err(|e| format!("handshake failed: {}", initialize_category(&e)))
            }
            TransportConfig::Stdio { command, args, env } => {
                let transport = spawn_stdio(&config.name, command, args, env)?;
                handler
                    .serve(transport)
                    .await
                    .map(Connected::rmcp_only)
                    .map_err(|e| format!("handshake failed: {}", initialize_category(&e)))
            }
        }
    };
    tokio::time::timeout(handshake_timeout, serve)
        .await
        .map_err(|_| format!("no handshake within {} s", handshake_timeout.as_secs_f64()))?
}

impl Connected {
    fn rmcp_only(service: Connection) -> Self {
        Self {
            service,
            http_caller: None,
        }
    }
}

/// rmcp's initialize errors may quote the transport error, which may quote the URL.
fn initialize_category(error: &rmcp::service::ClientInitializeError) -> &'static str {
    use rmcp::service::ClientInitializeError as E;
    match error {
        E::ConnectionClosed(_) => "connection closed",
        E::TransportError { .. } => "transport error",
        E::JsonRpcError(_) => "the server answered initialize with an error",
        _ => "unexpected answer to initialize",
    }
}

/// Append credential query pairs to a backend URL.
fn with_query(url: &str, query: &[(String, String)]) -> Result<String, String> {
    if query.is_empty() {
        return Ok(url.to_owned());
    }
    let mut parsed = reqwest::Url::parse(url).map_err(|_| "invalid url".to_owned())?;
    {
        let mut pairs = parsed.query_pairs_mut();
        for (k, v) in query {
            pairs.append_pair(k, v);
        }
    }
    Ok(parsed.into())
}

fn spawn_stdio(
    server: &str,
    command: &str,
    args: &[String],
    env: &std::collections::BTreeMap<String, EnvValue>,
) -> Result<TokioChildProcess, String> {
    let mut cmd = tokio::process::Command::new(command);
    cmd.args(args).env_clear().kill_on_drop(true);
    for name in INHERITED_ENV {
        if let Some(value) = std::env::var_os(name) {
            cmd.env(name, value);
        }
    }
    for (name, value) in env {
        let value = match value {
            EnvValue::Literal(v) => v.clone(),
            EnvValue::Ref(reference) => reference
                .resolve()
                .map_err(|e| e.to_string())?
                .expose()
                .to_owned(),
        };
        cmd.env(name, value);
    }
    let (process, stderr) = TokioChildProcess::builder(cmd)
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start command {command:?}: {}", e.kind()))?;
    if let Some(stderr) = stderr {
        let server = server.to_owned();
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::info!(target: "backend_stderr", server = %server, "{line}");
            }
        });
    }
    Ok(process)
}
