//! The gateway's shared state and the operations every transport uses.
//!
//! MCP (streamable HTTP, legacy SSE, plain JSON-RPC) and REST all go through
//! [`Gateway::list_tools`], [`Gateway::call_tool`] and [`Gateway::broadcast`], so routing,
//! authorization, rate limits, errors and audit behave the same whichever door a request came
//! in by. `plan.rs` holds the ordered policy steps of a call (pure), `calls.rs` runs an
//! admitted call to its audit record, `views.rs` what a caller may see.

mod calls;
mod offers;
pub mod plan;
pub mod search;
mod subscriptions;
mod views;

use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use rmcp::RoleServer;
use rmcp::model::JsonObject;
use rmcp::service::Peer;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::audit::{AuditRecord, Auditor};
use crate::authz::Policy;
use crate::catalog::{self, Catalog, ServerView};
use crate::config::{Config, Settings};
use crate::ratelimit::{RateLimiter, RetryAfter};
use crate::scope::Scope;
use crate::upstream::Pool;
use crate::upstream::clients::HttpClients;

pub use calls::Downstream;
pub use offers::{OfferError, OfferKind};
// Part of the gateway's own API: what a failed backend call and a backend's handshake are.
pub use crate::upstream::{BackendInfo, CallError};

/// Why a `tools/call` could not be routed or produced no backend result.
#[derive(Debug, thiserror::Error)]
pub enum ToolCallError {
    /// Never seen (or, later, not visible to this caller): a protocol error over MCP.
    #[error("Unknown tool: {0}")]
    UnknownTool(String),
    /// The arguments cannot be routed (a tag broadcast's `tool_name`): a protocol error.
    #[error("{0}")]
    InvalidParams(String),
    /// A server or tool named in a REST broadcast that is not there (404).
    #[error("{0}")]
    NotFound(String),
    /// Authorization refused the tool. Over MCP this looks exactly like `UnknownTool` (its
    /// existence is not revealed, SPEC §12); over REST it is 403.
    #[error("access denied")]
    Denied(String),
    /// A rate limit refused the whole call (REST 429, MCP `isError`).
    #[error("{0}")]
    RateLimited(RetryAfter),
    /// Known, routed, and the backend did not give a result.
    #[error(transparent)]
    Backend(#[from] CallError),
}

/// A broadcast asked for by name and filters (REST `/mcp/invoke-broadcast`).
#[derive(Debug, Clone, Default)]
pub struct BroadcastRequest {
    /// The backend tool name.
    pub tool: String,
    pub arguments: Option<JsonObject>,
    /// Only servers carrying any of these tags.
    pub tags: Option<Vec<String>>,
    /// Only these servers (an unknown name is an error).
    pub servers: Option<Vec<String>>,
}

/// One configured server as the REST API shows it (SPEC §7 `/mcp/servers`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ServerSummary {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub description: Option<String>,
    pub tags: Vec<String>,
    pub enabled: bool,
    pub healthy: bool,
    pub tool_count: usize,
    pub last_error: Option<String>,
}

/// One consistent config and what is compiled from it, swapped whole on reload.
pub struct Snapshot {
    pub config: Arc<Config>,
    pub policy: Policy,
    pub limiter: RateLimiter,
    /// The Anthropic proxy's compiled `llm:` section; `None` without one.
    pub llm: Option<Arc<crate::llm::LlmPolicy>>,
}

impl Snapshot {
    /// Compile the policy and rate limits of a validated config.
    pub fn build(config: Config) -> Result<Snapshot, String> {
        let policy = Policy::new(config.authorization.as_ref())
            .map_err(|e| format!("authorization: {e}"))?;
        let limiter = RateLimiter::new(config.rate_limits.as_ref())
            .map_err(|e| format!("rate_limits: {e}"))?;
        let llm = config
            .llm
            .as_ref()
            .map(crate::llm::LlmPolicy::new)
            .transpose()?
            .map(Arc::new);
        Ok(Snapshot {
            config: Arc::new(config),
            policy,
            limiter,
            llm,
        })
    }
}

/// How often the subscriptions of sessions that ended are dropped.
const SUBSCRIPTION_PRUNE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(60);

/// What the catalog is built from, for each backend in `states`.
fn server_views(
    states: &[(
        Arc<crate::config::ServerConfig>,
        Arc<crate::upstream::LinkState>,
    )],
) -> Vec<ServerView<'_>> {
    states
        .iter()
        .map(|(server, state)| ServerView {
            name: &server.name,
            tags: &server.tags,
            healthy: state.healthy(),
            tools: state.tools.as_deref(),
        })
        .collect()
}

/// The gateway: config, backends, catalog and connected downstream sessions.
pub struct Gateway {
    settings: Arc<Settings>,
    snapshot: ArcSwap<Snapshot>,
    audit: Auditor,
    pool: Pool,
    catalog: ArcSwap<Catalog>,
    /// The catalogs of scoped endpoints asked for since the last rebuild (SPEC §14): each
    /// built from its servers alone, so that broadcasts reach only servers in scope.
    scoped_catalogs: Mutex<std::collections::HashMap<Scope, Arc<Catalog>>>,
    /// Bumped whenever the listed catalog changes; 2026-07-28 `listen` streams watch it.
    catalog_generation: watch::Sender<u64>,
    metrics: crate::metrics::Metrics,
    /// Session-era downstream peers, told about catalog changes.
    peers: Mutex<Vec<Peer<RoleServer>>>,
    /// Downstream sessions subscribed to backend resources.
    subscriptions: subscriptions::Subscriptions,
    shutdown: CancellationToken,
    /// The Anthropic proxy's client: no redirects (an API answer never redirects, and the
    /// gateway's key must not follow one).
    llm_client: reqwest::Client,
}

impl Gateway {
    /// Build the gateway and start connecting to every enabled backend (in the background:
    /// this returns at once, so the listener can bind while slow backends connect).
    pub fn start(settings: Settings, snapshot: Snapshot, audit: Auditor) -> Arc<Self> {
        const USER_AGENT: &str = concat!("secure-mcp-gateway/", env!("CARGO_PKG_VERSION"));
        let reqwest = reqwest::Client::builder()
            // A backend must not redirect our credentials to another origin.
            .redirect(crate::upstream::sse::same_origin_redirects())
            .user_agent(USER_AGENT)
            .pool_max_idle_per_host(64)
            .build()
            .unwrap_or_default();
        let llm_client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(USER_AGENT)
            .build()
            .unwrap_or_default();
        let http = HttpClients::new(reqwest, USER_AGENT);
        let upstream_client = settings.upstream_client;
        let gateway = Arc::new(Gateway {
            settings: Arc::new(settings),
            snapshot: ArcSwap::from_pointee(snapshot),
            audit,
            pool: Pool::new(http, upstream_client),
            catalog: ArcSwap::from_pointee(Catalog::default()),
            scoped_catalogs: Default::default(),
            catalog_generation: watch::channel(0).0,
            metrics: crate::metrics::Metrics::new(),
            peers: Mutex::new(Vec::new()),
            subscriptions: Default::default(),
            shutdown: CancellationToken::new(),
            llm_client,
        });
        let changed = gateway.pool.changed();
        let watcher = Arc::clone(&gateway);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = watcher.shutdown.cancelled() => break,
                    _ = changed.notified() => watcher.rebuild_catalog().await,
                }
            }
        });
        let mut notices = gateway.pool.notices();
        let relay = Arc::clone(&gateway);
        tokio::spawn(async move {
            let mut prune = tokio::time::interval(SUBSCRIPTION_PRUNE_INTERVAL);
            loop {
                let notice = tokio::select! {
                    _ = relay.shutdown.cancelled() => break,
                    _ = prune.tick() => {
                        relay.prune_subscriptions();
                        continue;
                    }
                    notice = notices.recv() => notice,
                };
                match notice {
                    Ok(notice) => relay.relay_notice(notice),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        gateway.pool.apply(&gateway.config().servers);
        gateway
    }

    /// What backends say about their prompts and resources (2026-07-28 `listen` streams
    /// follow it; session-era clients are told by the gateway).
    pub fn notices(&self) -> tokio::sync::broadcast::Receiver<crate::upstream::BackendNotice> {
        self.pool.notices()
    }

    pub fn settings(&self) -> &Arc<Settings> {
        &self.settings
    }

    pub fn config(&self) -> Arc<Config> {
        Arc::clone(&self.snapshot.load().config)
    }

    /// The config and its compiled policy and limits: load once per request.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    pub fn audit(&self) -> &Auditor {
        &self.audit
    }

    /// The catalog of `/mcp` (every server).
    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog.load_full()
    }

    /// The catalog of an endpoint's scope: the servers in scope only, their broadcasts
    /// over them only.
    pub fn catalog_for(&self, scope: &Scope) -> Arc<Catalog> {
        if *scope == Scope::All {
            return self.catalog();
        }
        let Ok(mut scoped) = self.scoped_catalogs.lock() else {
            return Arc::new(Catalog::default());
        };
        let catalog = scoped.entry(scope.clone()).or_insert_with(|| {
            let config = self.config();
            let states = self.server_states(scope);
            Arc::new(catalog::build(
                &server_views(&states),
                config.limits.max_tool_name_length,
            ))
        });
        Arc::clone(catalog)
    }

    /// Every running backend in `scope` and its state now.
    fn server_states(
        &self,
        scope: &Scope,
    ) -> Vec<(
        Arc<crate::config::ServerConfig>,
        Arc<crate::upstream::LinkState>,
    )> {
        self.pool
            .upstreams()
            .values()
            .filter(|u| scope.includes(u.config()))
            .map(|u| (Arc::clone(u.config()), u.state()))
            .collect()
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// How many enabled backends are healthy, of how many.
    pub fn backend_health(&self) -> (usize, usize) {
        let upstreams = self.pool.upstreams();
        let healthy = upstreams.values().filter(|u| u.state().healthy()).count();
        (healthy, upstreams.len())
    }

    /// The HTTP client of the Anthropic proxy.
    pub fn llm_client(&self) -> &reqwest::Client {
        &self.llm_client
    }

    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.metrics
    }

    pub fn catalog_generation(&self) -> watch::Receiver<u64> {
        self.catalog_generation.subscribe()
    }

    /// Replace the config: backends are added, removed or restarted as needed; sessions stay.
    pub fn apply_config(&self, snapshot: Snapshot) -> crate::upstream::pool::PoolChanges {
        let changes = self.pool.apply(&snapshot.config.servers);
        self.snapshot.store(Arc::new(snapshot));
        changes
    }

    /// Stop every backend and the catalog task.
    pub fn shut_down(&self) {
        self.shutdown.cancel();
        self.pool.shut_down_all();
    }

    /// Remember a session-era downstream peer so it hears `tools/list_changed`.
    pub fn register_peer(&self, peer: Peer<RoleServer>) {
        if let Ok(mut peers) = self.peers.lock() {
            peers.retain(|p| !p.is_transport_closed());
            peers.push(peer);
        }
    }

    /// Rebuild the catalog from the backends' states; tell clients when the listing changed.
    async fn rebuild_catalog(&self) {
        let config = self.config();
        let states = self.server_states(&Scope::All);
        let views = server_views(&states);
        let next = catalog::build(&views, config.limits.max_tool_name_length);
        self.metrics.set_backends(
            views.iter().map(|v| (v.name, v.healthy)),
            next.listed().count(),
        );
        let previous = self.catalog.load_full();
        self.audit_health_changes(&previous, &views);
        let listing_changed = !previous.same_listing(&next);
        self.catalog.store(Arc::new(next));
        // Rebuilt when next asked for, from the states this rebuild saw or newer ones.
        if let Ok(mut scoped) = self.scoped_catalogs.lock() {
            scoped.clear();
        }
        if listing_changed {
            self.catalog_generation.send_modify(|g| *g += 1);
            self.notify_list_changed().await;
        }
    }

    /// A `server_health` record for every backend that went up or down.
    fn audit_health_changes(&self, previous: &Catalog, views: &[ServerView<'_>]) {
        for view in views {
            let was = previous.server_healthy(view.name).unwrap_or(false);
            if was == view.healthy {
                continue;
            }
            let error = self
                .pool
                .get(view.name)
                .and_then(|u| u.state().last_error.clone());
            self.audit.emit(AuditRecord::server_health(
                view.name,
                view.healthy,
                error.as_deref(),
            ));
        }
    }

    async fn notify_list_changed(&self) {
        self.tell_peers(|peer| async move {
            let _ = peer.notify_tool_list_changed().await;
        });
    }

    /// Send something to every session-era downstream peer, each in its own task: one slow
    /// client must not hold up the others; a peer that is gone is pruned on the next pass.
    fn tell_peers<F, Fut>(&self, send: F)
    where
        F: Fn(Peer<RoleServer>) -> Fut,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let peers: Vec<_> = match self.peers.lock() {
            Ok(mut peers) => {
                peers.retain(|p| !p.is_transport_closed());
                peers.clone()
            }
            Err(_) => return,
        };
        for peer in peers {
            tokio::spawn(send(peer));
        }
    }

    /// Pass a backend's notice on to the session-era clients that should hear it.
    fn relay_notice(self: &Arc<Self>, notice: crate::upstream::BackendNotice) {
        use crate::upstream::NoticeKind;
        match notice.kind {
            NoticeKind::PromptsChanged => self.tell_peers(|peer| async move {
                let _ = peer.notify_prompt_list_changed().await;
            }),
            NoticeKind::ResourcesChanged => self.tell_peers(|peer| async move {
                let _ = peer.notify_resource_list_changed().await;
            }),
            NoticeKind::ResourceUpdated(uri) => self.relay_resource_update(&notice.server, &uri),
            NoticeKind::Connected => self.resubscribe(&notice.server),
        }
    }
}
