//! The task that keeps one backend connected.
//!
//! Connect, discover tools, publish; wait until the session ends (or the backend's tools
//! change, or an oauth2 token needs renewing); mark the backend down; retry with backoff from
//! 1 s doubling to 60 s (SPEC §12), reset after a successful discovery.

use std::sync::Arc;
use std::time::Duration;

use rmcp::model::Tool;
use tokio::sync::Notify;

use super::clients::HttpClients;
use super::connect::{self, Connected};
use super::http_call::wants_param_headers;
use super::{BackendInfo, LinkState, LiveLink, Upstream};

const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// The handshake and the first discovery get at least this long, whatever the call timeout.
const MIN_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a live backend is probed. A dead HTTP backend is otherwise only noticed when a
/// call fails; the probe (`tools/list`, which every protocol era has, unlike `ping`) also
/// picks up tool changes of backends that cannot notify.
const PROBE_INTERVAL: Duration = Duration::from_secs(5);

/// Why a live session ended.
enum Ended {
    Shutdown,
    Closed,
    CredentialsExpiring,
    DiscoveryFailed(String),
}

impl Upstream {
    /// Create the backend and start its supervisor. `changed` is woken on every state change.
    pub(super) fn spawn(
        config: Arc<crate::config::ServerConfig>,
        http: HttpClients,
        client: crate::config::UpstreamClient,
        changed: Arc<Notify>,
        notices: tokio::sync::broadcast::Sender<super::BackendNotice>,
    ) -> Arc<Self> {
        let events = super::handler::LinkEvents::new(&config.name, notices);
        let upstream = Arc::new(Upstream {
            config,
            client,
            state: Default::default(),
            events: Arc::new(events),
            credentials: Default::default(),
            shutdown: Default::default(),
        });
        let task = Arc::clone(&upstream);
        tokio::spawn(async move { task.supervise(http, changed).await });
        upstream
    }

    async fn supervise(self: Arc<Self>, http: HttpClients, changed: Arc<Notify>) {
        let name = self.config.name.clone();
        let mut backoff = INITIAL_BACKOFF;
        let connect_timeout = self.config.timeout.max(MIN_CONNECT_TIMEOUT);
        loop {
            if self.shutdown.is_cancelled() {
                break;
            }
            let attempt = async {
                let auth = self
                    .credentials
                    .resolve(self.config.auth.as_ref(), &http.reqwest)
                    .await
                    .map_err(|e| e.to_string())?;
                let connection = connect::connect(
                    &self.config,
                    &auth,
                    &http,
                    Arc::clone(&self.events),
                    connect_timeout,
                )
                .await?;
                Ok::<_, String>((connection, auth))
            };
            let outcome = tokio::select! {
                _ = self.shutdown.cancelled() => break,
                outcome = attempt => outcome,
            };
            match outcome {
                Ok((connection, auth)) => {
                    let ended = self
                        .serve_link(connection, auth, connect_timeout, &changed)
                        .await;
                    match ended {
                        Ended::Shutdown => break,
                        Ended::CredentialsExpiring => {
                            tracing::info!(server = %name, "renewing backend credentials");
                            self.mark_down("credentials renewed", &changed);
                            continue;
                        }
                        Ended::Closed => {
                            tracing::warn!(server = %name, "backend connection closed");
                            self.mark_down("connection closed", &changed);
                        }
                        Ended::DiscoveryFailed(reason) => {
                            tracing::warn!(server = %name, %reason, "tool discovery failed");
                            self.mark_down(&reason, &changed);
                            // A session that opened but could not list its tools is not a
                            // success: keep backing off.
                            sleep_or_shutdown(&self, backoff).await;
                            backoff = (backoff * 2).min(MAX_BACKOFF);
                            continue;
                        }
                    }
                    backoff = INITIAL_BACKOFF;
                }
                Err(reason) => {
                    tracing::warn!(server = %name, %reason, retry_in_s = backoff.as_secs(), "backend unavailable");
                    self.mark_down(&reason, &changed);
                }
            }
            if !sleep_or_shutdown(&self, backoff).await {
                break;
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
        self.mark_down("server removed", &changed);
        tracing::debug!(server = %name, "supervisor stopped");
    }

    /// Discover tools, publish the live state, and keep it current until the session ends.
    async fn serve_link(
        &self,
        connection: Connected,
        auth: super::credentials::ResolvedAuth,
        discovery_timeout: Duration,
        changed: &Notify,
    ) -> Ended {
        let Connected {
            service: connection,
            http_caller,
        } = connection;
        let peer = connection.peer().clone();
        let info = peer.peer_info().map(|info| BackendInfo {
            name: info
                .server_info
                .as_ref()
                .map(|i| i.name.clone())
                .unwrap_or_default(),
            version: info
                .server_info
                .as_ref()
                .map(|i| i.version.clone())
                .unwrap_or_default(),
            protocol_version: info.protocol_version.to_string(),
        });
        let offers = peer
            .peer_info()
            .map(|info| super::Offers::of(&info))
            .unwrap_or_default();
        let live = LiveLink {
            peer: peer.clone(),
            body_argument: auth.body_argument.clone(),
            http_caller,
        };
        let refresh = async {
            match auth.refresh_at {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(refresh);
        let closed = connection.waiting();
        tokio::pin!(closed);

        let mut probe = tokio::time::interval(PROBE_INTERVAL);
        probe.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        probe.reset();
        let mut announced = false;
        // Discover now, then again whenever the backend says its tools changed, a call
        // failed suspiciously, or the probe interval passed.
        loop {
            {
                let tools = tokio::select! {
                    _ = self.shutdown.cancelled() => return Ended::Shutdown,
                    _ = &mut closed => return Ended::Closed,
                    tools = discover(&peer, discovery_timeout) => tools,
                };
                match tools {
                    Ok(tools) => {
                        let current = self.state.load();
                        let same = current.live.is_some()
                            && current.offers == offers
                            && current.tools.as_deref() == Some(tools.as_slice());
                        if !same {
                            tracing::info!(server = %self.config.name, tools = tools.len(), "backend ready");
                            let param_header_tools = tools
                                .iter()
                                .filter(|tool| wants_param_headers(&tool.input_schema))
                                .map(|tool| tool.name.to_string())
                                .collect();
                            self.state.store(Arc::new(LinkState {
                                live: Some(live.clone()),
                                tools: Some(tools.into()),
                                last_error: None,
                                info: info.clone(),
                                param_header_tools,
                                offers,
                            }));
                            changed.notify_one();
                        }
                        // After the live state is published: listeners act on it.
                        if !announced {
                            announced = true;
                            self.events.notice(super::NoticeKind::Connected);
                        }
                    }
                    Err(reason) => return Ended::DiscoveryFailed(reason),
                }
            }
            tokio::select! {
                _ = self.shutdown.cancelled() => return Ended::Shutdown,
                _ = &mut closed => return Ended::Closed,
                _ = &mut refresh => return Ended::CredentialsExpiring,
                _ = self.events.tools_changed.notified() => {}
                _ = self.events.suspect.notified() => {}
                _ = probe.tick() => {}
            }
        }
    }

    /// Publish that the backend is down, keeping its last known tools.
    fn mark_down(&self, reason: &str, changed: &Notify) {
        let previous = self.state.load_full();
        if previous.live.is_none() && previous.last_error.as_deref() == Some(reason) {
            return;
        }
        self.state.store(Arc::new(LinkState {
            live: None,
            tools: previous.tools.clone(),
            last_error: Some(reason.to_owned()),
            info: previous.info.clone(),
            param_header_tools: Arc::clone(&previous.param_header_tools),
            offers: previous.offers,
        }));
        changed.notify_one();
    }
}

async fn discover(
    peer: &rmcp::service::Peer<rmcp::RoleClient>,
    timeout: Duration,
) -> Result<Vec<Tool>, String> {
    match tokio::time::timeout(timeout, peer.list_all_tools()).await {
        Ok(Ok(tools)) => Ok(tools),
        Ok(Err(e)) => Err(format!(
            "tools/list failed: {}",
            super::call::service_error_category(&e)
        )),
        Err(_) => Err(format!(
            "tools/list timed out after {} s",
            timeout.as_secs_f64()
        )),
    }
}

/// Sleep for `duration` unless the upstream is shut down first; false when shut down.
async fn sleep_or_shutdown(upstream: &Upstream, duration: Duration) -> bool {
    tokio::select! {
        _ = upstream.shutdown.cancelled() => false,
        _ = tokio::time::sleep(duration) => true,
    }
}
