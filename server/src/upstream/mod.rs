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
    /// What else than tools the backend said it offers; kept while it is down.
    pub offers: Offers,
}

/// The server capabilities beyond tools that the gateway relays (SPEC §14), as the backend
/// declared them in its handshake.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Offers {
    pub prompts: bool,
    pub resources: bool,
    /// `resources/subscribe` and `notifications/resources/updated`.
    pub subscribe: bool,
    /// `completion/complete`.
    pub completions: bool,
}

impl Offers {
    /// From a backend's handshake. Subscriptions are relayed with `resources/subscribe`,
    /// which the 2026-07-28 revision replaced by `subscriptions/listen`: a backend of that
    /// era offers none through the gateway.
    pub fn of(info: &rmcp::model::ServerPeerInfo) -> Self {
        let capabilities = &info.capabilities;
        let session_era =
            info.protocol_version.as_str() < rmcp::model::ProtocolVersion::V_2026_07_28.as_str();
        Offers {
            prompts: capabilities.prompts.is_some(),
            resources: capabilities.resources.is_some(),
            subscribe: session_era
                && capabilities
                    .resources
                    .as_ref()
                    .is_some_and(|r| r.subscribe == Some(true)),
            completions: capabilities.completions.is_some(),
        }
    }

    /// What either offers.
    pub fn union(self, other: Offers) -> Offers {
        Offers {
            prompts: self.prompts || other.prompts,
            resources: self.resources || other.resources,
            subscribe: self.subscribe || other.subscribe,
            completions: self.completions || other.completions,
        }
    }
}

/// Something a backend told the gateway outside any call, that downstream clients hear of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendNotice {
    pub server: Arc<str>,
    pub kind: NoticeKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoticeKind {
    PromptsChanged,
    ResourcesChanged,
    /// `notifications/resources/updated` for this backend URI.
    ResourceUpdated(String),
    /// A new session with the backend is ready (it knows nothing of the previous one's
    /// subscriptions).
    Connected,
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

    /// Count a request made to this backend for no client that can be asked (a prompt, a
    /// resource, a list) while it runs: a request the backend sends its client meanwhile must
    /// not be guessed to belong to someone else's call.
    pub fn request_without_client(&self) -> asks::Registration<'_> {
        self.events.calls.register(None)
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
