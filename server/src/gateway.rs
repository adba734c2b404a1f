//! The gateway's shared state and the operations every transport uses.
//!
//! MCP (streamable HTTP, legacy SSE, plain JSON-RPC) and, later, REST all go through
//! [`Gateway::list_tools`] and [`Gateway::call_tool`], so routing, errors and (in later
//! layers) authorization and audit behave the same whichever door a request came in by.

use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use rmcp::RoleServer;
use rmcp::model::{CallToolResult, JsonObject, Tool};
use rmcp::service::Peer;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::catalog::{self, Catalog, ServerView, Target};
use crate::config::{Config, Settings};
use crate::fanout::{self, BroadcastReport, FanoutLimits, FanoutPlan};
use crate::result_shape::truncate;
use crate::upstream::{BackendInfo, CallError, CallOptions, Pool};

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

/// The gateway: config, backends, catalog and connected downstream sessions.
pub struct Gateway {
    settings: Arc<Settings>,
    config: ArcSwap<Config>,
    pool: Pool,
    catalog: ArcSwap<Catalog>,
    /// Bumped whenever the listed catalog changes; 2026-07-28 `listen` streams watch it.
    catalog_generation: watch::Sender<u64>,
    metrics: crate::metrics::Metrics,
    /// Session-era downstream peers, told about catalog changes.
    peers: Mutex<Vec<Peer<RoleServer>>>,
    shutdown: CancellationToken,
}

impl Gateway {
    /// Build the gateway and start connecting to every enabled backend (in the background:
    /// this returns at once, so the listener can bind while slow backends connect).
    pub fn start(settings: Settings, config: Config) -> Arc<Self> {
        let http = reqwest::Client::builder()
            // A backend must not redirect our credentials to another origin.
            .redirect(crate::upstream::sse::same_origin_redirects())
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
            metrics: crate::metrics::Metrics::new(),
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

    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.metrics
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
                let started = std::time::Instant::now();
                let outcome = upstream.call_tool(tool, arguments, options).await;
                self.metrics.record_call(
                    server,
                    crate::metrics::outcome_of(&outcome),
                    started.elapsed(),
                );
                let mut result = outcome?;
                truncate(&mut result, self.config.load().limits.max_response_bytes);
                Ok(result)
            }
            Target::Broadcast { tool, servers } => {
                let plan = FanoutPlan {
                    tool_name: tool.clone(),
                    targets: servers.clone(),
                    arguments,
                    preset_errors: Default::default(),
                };
                let report = self.run_fanout(plan, options).await;
                Ok(report.to_call_tool_result())
            }
            Target::TagBroadcast {
                tag,
                servers,
                tools,
            } => {
                let (tool, arguments) = tag_broadcast_arguments(tag, tools, arguments)?;
                let targets = servers
                    .iter()
                    .filter(|server| catalog.offers(server, &tool))
                    .cloned()
                    .collect();
                let plan = FanoutPlan {
                    tool_name: tool,
                    targets,
                    arguments,
                    preset_errors: Default::default(),
                };
                let report = self.run_fanout(plan, options).await;
                Ok(report.to_call_tool_result())
            }
        }
    }

    /// A broadcast by backend tool name with optional filters (REST). `tags` and `servers`
    /// narrow together (SPEC §12); an unknown server or a tool no server in scope offers is
    /// `NotFound`.
    pub async fn broadcast(
        &self,
        request: BroadcastRequest,
        options: CallOptions,
    ) -> Result<BroadcastReport, ToolCallError> {
        let config = self.config.load_full();
        if let Some(named) = &request.servers
            && let Some(unknown) = named.iter().find(|n| config.server(n).is_none())
        {
            return Err(ToolCallError::NotFound(format!(
                "unknown server: {unknown}"
            )));
        }
        let catalog = self.catalog.load_full();
        let targets: Vec<String> = catalog
            .servers_offering(&request.tool)
            .iter()
            .filter(|server| {
                request
                    .servers
                    .as_ref()
                    .is_none_or(|named| named.iter().any(|n| n == *server))
            })
            .filter(|server| {
                request.tags.as_ref().is_none_or(|tags| {
                    config
                        .server(server)
                        .is_some_and(|s| s.tags.iter().any(|t| tags.contains(t)))
                })
            })
            .cloned()
            .collect();
        if targets.is_empty() {
            return Err(ToolCallError::NotFound(format!(
                "no server in scope offers tool {}",
                request.tool
            )));
        }
        let plan = FanoutPlan {
            tool_name: request.tool,
            targets,
            arguments: request.arguments,
            preset_errors: Default::default(),
        };
        Ok(self.run_fanout(plan, options).await)
    }

    async fn run_fanout(&self, plan: FanoutPlan, options: CallOptions) -> BroadcastReport {
        let limits = {
            let config = self.config.load();
            FanoutLimits {
                concurrency: config.limits.broadcast_concurrency,
                overall_timeout: config.limits.broadcast_timeout,
                max_response_bytes: config.limits.max_response_bytes,
            }
        };
        self.metrics.record_broadcast();
        fanout::run(
            &self.pool,
            &self.metrics,
            plan,
            limits,
            options.progress,
            &options.cancel,
        )
        .await
    }

    /// Every configured server, disabled ones too (SPEC §12), sorted by name.
    pub fn servers(&self) -> Vec<ServerSummary> {
        let config = self.config.load();
        config
            .servers
            .iter()
            .map(|server| {
                let state = self.pool.get(&server.name).map(|u| u.state());
                ServerSummary {
                    name: server.name.clone(),
                    kind: server.transport_type(),
                    description: server.description.clone(),
                    tags: server.tags.clone(),
                    enabled: server.enabled,
                    healthy: state.as_ref().is_some_and(|s| s.healthy()),
                    tool_count: state
                        .as_ref()
                        .and_then(|s| s.tools.as_ref())
                        .map_or(0, |t| t.len()),
                    last_error: state.and_then(|s| s.last_error.clone()),
                }
            })
            .collect()
    }

    /// A backend's own tool list (backend names) and handshake info, if it is configured.
    pub fn backend_tools(&self, server: &str) -> Option<(Vec<Tool>, Option<BackendInfo>)> {
        self.config.load().server(server)?;
        match self.pool.get(server) {
            Some(upstream) => {
                let state = upstream.state();
                let tools = state
                    .tools
                    .as_deref()
                    .map(<[Tool]>::to_vec)
                    .unwrap_or_default();
                Some((tools, state.info.clone()))
            }
            None => Some((Vec::new(), None)),
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
        self.metrics.set_backends(
            views.iter().map(|v| (v.name, v.healthy)),
            next.listed().count(),
        );
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
            // One slow client must not hold up the others; a peer that is gone is pruned on
            // the next pass.
            tokio::spawn(async move {
                let _ = peer.notify_tool_list_changed().await;
            });
        }
    }
}

/// The `{tool_name, arguments}` of a tag broadcast, checked against the tag's tools.
fn tag_broadcast_arguments(
    tag: &str,
    tools: &[String],
    arguments: Option<JsonObject>,
) -> Result<(String, Option<JsonObject>), ToolCallError> {
    let mut arguments = arguments.unwrap_or_default();
    let tool = match arguments.remove("tool_name") {
        Some(serde_json::Value::String(tool)) if tools.contains(&tool) => tool,
        Some(serde_json::Value::String(tool)) => {
            return Err(ToolCallError::InvalidParams(format!(
                "tool_name {tool:?} is not offered by servers tagged {tag}"
            )));
        }
        _ => {
            return Err(ToolCallError::InvalidParams(
                "tool_name (string) is required".to_owned(),
            ));
        }
    };
    let inner = match arguments.remove("arguments") {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::Object(map)) => Some(map),
        Some(_) => {
            return Err(ToolCallError::InvalidParams(
                "arguments must be an object".to_owned(),
            ));
        }
    };
    Ok((tool, inner))
}
