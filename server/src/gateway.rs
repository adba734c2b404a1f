//! The gateway's shared state and the operations every transport uses.
//!
//! MCP (streamable HTTP, legacy SSE, plain JSON-RPC) and, later, REST all go through
//! [`Gateway::list_tools`] and [`Gateway::call_tool`], so routing, errors and (in later
//! layers) authorization and audit behave the same whichever door a request came in by.

use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use rmcp::model::{CallToolResult, JsonObject, Tool};
use rmcp::service::Peer;
use rmcp::RoleServer;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::catalog::{self, Catalog, ServerView, Target};
use crate::config::{Config, Settings};
use crate::upstream::{CallError, CallOptions, Pool};

/// Why a `tools/call` could not be routed or produced no backend result.
#[derive(Debug, thiserror::Error)]
pub enum ToolCallError {
    /// Never seen (or, later, not visible to this caller): a protocol error over MCP.
    #[error("Unknown tool: {0}")]
    UnknownTool(String),
    /// Known, routed, and the backend did not give a result.
    #[error(transparent)]
    Backend(#[from] CallError),
    /// A tool the gateway lists but cannot call through this path.
    #[error("{0}")]
    Unsupported(&'static str),
}

/// The gateway: config, backends, catalog and connected downstream sessions.
pub struct Gateway {
    settings: Arc<Settings>,
    config: ArcSwap<Config>,
    pool: Pool,
    catalog: ArcSwap<Catalog>,
    /// Bumped whenever the listed catalog changes; 2026-07-28 `listen` streams watch it.
    catalog_generation: watch::Sender<u64>,
    /// Session-era downstream peers, told about catalog changes.
    peers: Mutex<Vec<Peer<RoleServer>>>,
    shutdown: CancellationToken,
}

impl Gateway {
    /// Build the gateway and start connecting to every enabled backend (in the background:
    /// this returns at once, so the listener can bind while slow backends connect).
    pub fn start(settings: Settings, config: Config) -> Arc<Self> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("secure-mcp-gateway/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(64)
            .build()
            .unwrap_or_default();
        let gateway = Arc::new(Gateway {
            settings: Arc::new(settings),
            config: ArcSwap::from_pointee(config),
            pool: Pool::new(http),
            catalog: ArcSwap::from_pointee(Catalog::default()),
            catalog_generation: watch::channel(0).0,
            peers: Mutex::new(Vec::new()),
            shutdown: CancellationToken::new(),
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
        gateway.pool.apply(&gateway.config.load().servers);
        gateway
    }

    pub fn settings(&self) -> &Arc<Settings> {
        &self.settings
    }

    pub fn config(&self) -> Arc<Config> {
        self.config.load_full()
    }

    pub fn catalog(&self) -> Arc<Catalog> {
        self.catalog.load_full()
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    pub fn catalog_generation(&self) -> watch::Receiver<u64> {
        self.catalog_generation.subscribe()
    }

    /// Replace the config: backends are added, removed or restarted as needed; sessions stay.
    pub fn apply_config(&self, config: Config) -> crate::upstream::pool::PoolChanges {
        let changes = self.pool.apply(&config.servers);
        self.config.store(Arc::new(config));
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

    /// The tools a caller sees, optionally narrowed to one backend server.
    pub fn list_tools(&self, server: Option<&str>) -> Vec<Tool> {
        let catalog = self.catalog.load();
        match server {
            Some(server) => catalog
                .listed_for_server(server)
                .map(|t| (*t.tool).clone())
                .collect(),
            None => catalog.listed().map(|t| (*t.tool).clone()).collect(),
        }
    }

    /// Route one `tools/call` by its exposed name.
    pub async fn call_tool(
        &self,
        name: &str,
        arguments: Option<JsonObject>,
        options: CallOptions,
    ) -> Result<CallToolResult, ToolCallError> {
        let catalog = self.catalog.load_full();
        let entry = catalog
            .lookup(name)
            .ok_or_else(|| ToolCallError::UnknownTool(name.to_owned()))?;
        match &entry.target {
            Target::Direct { server, tool } => {
                let upstream = self
                    .pool
                    .get(server)
                    .ok_or(ToolCallError::Backend(CallError::Unavailable))?;
                Ok(upstream.call_tool(tool, arguments, options).await?)
            }
            Target::Broadcast { .. } | Target::TagBroadcast { .. } => Err(
                ToolCallError::Unsupported("broadcast tools are not served by this gateway build"),
            ),
        }
    }

    /// Rebuild the catalog from the backends' states; tell clients when the listing changed.
    async fn rebuild_catalog(&self) {
        let config = self.config.load_full();
        let upstreams = self.pool.upstreams();
        let states: Vec<_> = upstreams
            .values()
            .map(|u| (Arc::clone(u.config()), u.state()))
            .collect();
        let views: Vec<ServerView<'_>> = states
            .iter()
            .map(|(server, state)| ServerView {
                name: &server.name,
                tags: &server.tags,
                healthy: state.healthy(),
                tools: state.tools.as_deref(),
            })
            .collect();
        let next = catalog::build(&views, config.limits.max_tool_name_length);
        let previous = self.catalog.load_full();
        let listing_changed = !previous.same_listing(&next);
        self.catalog.store(Arc::new(next));
        if listing_changed {
            self.catalog_generation.send_modify(|g| *g += 1);
            self.notify_list_changed().await;
        }
    }

    async fn notify_list_changed(&self) {
        let peers: Vec<_> = match self.peers.lock() {
            Ok(mut peers) => {
                peers.retain(|p| !p.is_transport_closed());
                peers.clone()
            }
            Err(_) => return,
        };
        for peer in peers {
            // A peer that is gone is pruned on the next pass.
            let _ = peer.notify_tool_list_changed().await;
        }
    }
}
