//! The gateway's side of one backend connection: an rmcp `ClientHandler`.
//!
//! It relays the backend's progress notifications to the downstream caller that asked for
//! them, tells the supervisor when the backend's tool list changed, and passes on what
//! downstream clients hear of (prompt and resource list changes, resource updates) as
//! [`BackendNotice`]s.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rmcp::model::{
    ClientCapabilities, ClientConfig, Implementation, ProgressNotificationParam, ProgressToken,
    ResourceUpdatedNotificationParam,
};
use rmcp::service::NotificationContext;
use rmcp::{ClientHandler, RoleClient};
use tokio::sync::{Notify, broadcast};

use super::{BackendNotice, NoticeKind};
use crate::progress::ProgressTarget;

/// State shared by a backend connection's handler and the callers using that connection.
#[derive(Default)]
pub struct LinkEvents {
    /// Backend progress token -> downstream caller. Entries live while their call runs.
    progress: Mutex<HashMap<ProgressToken, ProgressTarget>>,
    /// Woken when the backend says its tool list changed.
    pub tools_changed: Notify,
    /// Woken when a call failed in a way that suggests the connection is dead: probe now.
    pub suspect: Notify,
    /// The backend's name and where its notices go (`None` in unit tests).
    pub notices: Option<(Arc<str>, broadcast::Sender<BackendNotice>)>,
}

impl LinkEvents {
    /// The events of the backend `server`, whose notices go to `notices`.
    pub fn new(server: &str, notices: broadcast::Sender<BackendNotice>) -> Self {
        LinkEvents {
            notices: Some((Arc::from(server), notices)),
            ..Default::default()
        }
    }

    pub fn register_progress(&self, backend_token: ProgressToken, target: ProgressTarget) {
        if let Ok(mut map) = self.progress.lock() {
            map.insert(backend_token, target);
        }
    }

    pub fn unregister_progress(&self, backend_token: &ProgressToken) {
        if let Ok(mut map) = self.progress.lock() {
            map.remove(backend_token);
        }
    }

    fn progress_target(&self, backend_token: &ProgressToken) -> Option<ProgressTarget> {
        self.progress.lock().ok()?.get(backend_token).cloned()
    }

    fn notice(&self, kind: NoticeKind) {
        if let Some((server, notices)) = &self.notices {
            // No receiver (no client listening) is not an error.
            let _ = notices.send(BackendNotice {
                server: Arc::clone(server),
                kind,
            });
        }
    }
}

/// The rmcp client handler of one backend connection.
#[derive(Clone)]
pub struct BackendHandler {
    events: Arc<LinkEvents>,
}

impl BackendHandler {
    pub fn new(events: Arc<LinkEvents>) -> Self {
        Self { events }
    }
}

impl ClientHandler for BackendHandler {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::default(),
            Implementation::new("secure-mcp-gateway", env!("CARGO_PKG_VERSION")),
        )
    }

    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let Some(target) = self.events.progress_target(&params.progress_token) else {
            return;
        };
        let mut relayed = params;
        relayed.progress_token = target.token.clone();
        target.notify(relayed).await;
    }

    async fn on_tool_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.events.tools_changed.notify_one();
    }

    async fn on_prompt_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.events.notice(NoticeKind::PromptsChanged);
    }

    async fn on_resource_list_changed(&self, _context: NotificationContext<RoleClient>) {
        self.events.notice(NoticeKind::ResourcesChanged);
    }

    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.events.notice(NoticeKind::ResourceUpdated(params.uri));
    }
}
