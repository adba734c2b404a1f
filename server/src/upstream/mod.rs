//! Connections to backend MCP servers.
//!
//! One [`Upstream`] per configured server: a supervisor task keeps one MCP client session
//! open (reconnecting with backoff, restarting stdio processes), publishes what the backend
//! offers as a [`LinkState`], and every downstream caller shares that session.

pub mod asks;
pub mod call;
pub mod clients;
pub mod connect;
pub mod credentials;
pub mod handler;
pub mod http_call;
pub mod identity;
pub mod pool;
pub mod rmcp_http;
pub mod sse;
mod supervisor;

use std::sync::Arc;

use arc_swap::ArcSwap;
use rmcp::RoleClient;
use rmcp::model::Tool;
use rmcp::service::Peer;
use tokio_util::sync::CancellationToken;

pub use call::{CallError, CallOptions};
pub use pool::Pool;

use crate::config::{ServerConfig, UpstreamClient};
use credentials::CredentialCache;
use handler::LinkEvents;

/// What the backend said about itself in its handshake.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BackendInfo {
    pub name: String,
    pub version: String,
    pub protocol_version: String,
}

/// An open session to the backend, as callers use it.
#[derive(Clone)]
pub struct LiveLink {
    pub peer: Peer<RoleClient>,
    /// A `location: body` credential, added to the arguments of every call.
    pub body_argument: Option<(String, String)>,
    /// Streamable HTTP backends: `tools/call` as one POST, without rmcp's client.
    pub http_caller: Option<Arc<http_call::HttpCaller>>,
}

/// Everything the gateway knows about one backend right now. Replaced whole on change.
#[derive(Clone, Default)]
pub struct LinkState {
    /// Set while a session is open and its tools are known.
    pub live: Option<LiveLink>,
    /// The last tool list discovered; kept while the backend is down (broadcast membership
    /// and "backend unavailable" answers need it).
    pub tools: Option<Arc<[Tool]>>,
    /// Why the backend is not healthy, safe to show (no URL, no secret).
    pub last_error: Option<String>,
    pub info: Option<BackendInfo>,
    /// Tools whose schema asks for `Mcp-Param-*` headers: only rmcp's client sends those.
    pub param_header_tools: Arc<[String]>,
}

impl LinkState {
    pub fn healthy(&self) -> bool {
        self.live.is_some()
    }
}

/// One configured backend server and the task that keeps it connected.
pub struct Upstream {
    config: Arc<ServerConfig>,
    /// Which client its calls go through.
    client: UpstreamClient,
    state: ArcSwap<LinkState>,
    events: Arc<LinkEvents>,
    credentials: CredentialCache,
    shutdown: CancellationToken,
}

impl Upstream {
    pub fn config(&self) -> &Arc<ServerConfig> {
        &self.config
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The current state; cheap (an `Arc` clone).
    pub fn state(&self) -> Arc<LinkState> {
        self.state.load_full()
    }

    /// Stop the supervisor and close the session (the stdio process is killed).
    pub fn shut_down(&self) {
        self.shutdown.cancel();
    }
}

/// A transport or client error reduced to a category that never carries a URL.
pub fn error_category(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".into()
    } else if error.is_connect() {
        "connection refused or unreachable".into()
    } else if let Some(status) = error.status() {
        format!("http status {}", status.as_u16())
    } else if error.is_decode() || error.is_body() {
        "malformed response".into()
    } else {
        "request failed".into()
    }
}
