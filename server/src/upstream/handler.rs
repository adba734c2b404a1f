//! The gateway's side of one backend connection: an rmcp `ClientHandler`.
//!
//! It relays the backend's progress notifications to the downstream caller that asked for
//! them, relays the backend's requests to its client (sampling, elicitation, roots) to the
//! downstream client of the call they belong to ([`super::asks`]), tells the supervisor when
//! the backend's tool list changed, and passes on what downstream clients hear of (prompt
//! and resource list changes, resource updates) as [`BackendNotice`]s.

// Sampling and roots are deprecated by the 2026-07-28 revision (SEP-2577); backends of the
// session era still ask for them.
#![allow(deprecated)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rmcp::model::{
    ClientCapabilities, ClientConfig, ClientResult, CreateMessageRequest,
    CreateMessageRequestParams, CreateMessageResult, ElicitRequest, ElicitRequestParams,
    ElicitResult, ElicitationCapability, ErrorData, FormElicitationCapability, Implementation,
    ListRootsRequest, ListRootsResult, ProgressNotificationParam, ProgressToken,
    ResourceUpdatedNotificationParam, RootsCapabilities, SamplingCapability, ServerRequest,
    UrlElicitationCapability,
};
use rmcp::service::{InboundStreamOrigin, NotificationContext, RequestContext};
use rmcp::{ClientHandler, RoleClient};
use tokio::sync::{Notify, broadcast};

use super::asks::{self, InFlightCalls};
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
    /// The calls in flight and their callers, to whom the backend's requests go.
    pub calls: InFlightCalls,
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

    pub(super) fn notice(&self, kind: NoticeKind) {
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

    /// Relay a request of the backend to the client of the call it belongs to. The backend's
    /// request id stays on this session (rmcp answers it); the client's request gets its own.
    async fn relay(
        &self,
        request: ServerRequest,
        context: RequestContext<RoleClient>,
    ) -> Result<ClientResult, ErrorData> {
        // Streamable HTTP tells which of our requests' streams it came on; other transports
        // cannot, and neither can a server's standalone stream.
        let route = match context.extensions.get::<InboundStreamOrigin>() {
            Some(InboundStreamOrigin::OutboundRequest(id)) => self.events.calls.of_stream(id),
            _ => self.events.calls.route(),
        };
        asks::relay(route, request, context.ct.cancelled_owned()).await
    }
}

/// What the gateway offers backends as a client: what it can relay to its own clients. Each
/// request is checked against what the asking call's client declared; sampling with tools
/// and roots change notifications are not offered (clients differ, and the roots a backend
/// sees are those of whoever's call is asking).
fn client_capabilities() -> ClientCapabilities {
    let mut capabilities = ClientCapabilities::default();
    capabilities.sampling = Some(SamplingCapability::default());
    let mut elicitation = ElicitationCapability::default();
    elicitation.form = Some(FormElicitationCapability::default());
    elicitation.url = Some(UrlElicitationCapability::default());
    capabilities.elicitation = Some(elicitation);
    capabilities.roots = Some(RootsCapabilities::default());
    capabilities
}

/// A client answered with a result of another kind than asked.
fn unexpected_answer() -> ErrorData {
    ErrorData::internal_error("the client answered with a result of another kind", None)
}

impl ClientHandler for BackendHandler {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            client_capabilities(),
            Implementation::new("secure-mcp-gateway", env!("CARGO_PKG_VERSION")),
        )
    }

    async fn create_message(
        &self,
        params: CreateMessageRequestParams,
        context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        let request = ServerRequest::CreateMessageRequest(CreateMessageRequest::new(params));
        match self.relay(request, context).await? {
            ClientResult::CreateMessageResult(result) => Ok(*result),
            _ => Err(unexpected_answer()),
        }
    }

    async fn create_elicitation(
        &self,
        params: ElicitRequestParams,
        context: RequestContext<RoleClient>,
    ) -> Result<ElicitResult, ErrorData> {
        let request = ServerRequest::ElicitRequest(ElicitRequest::new(params));
        match self.relay(request, context).await? {
            ClientResult::ElicitResult(result) => Ok(result),
            _ => Err(unexpected_answer()),
        }
    }

    async fn list_roots(
        &self,
        context: RequestContext<RoleClient>,
    ) -> Result<ListRootsResult, ErrorData> {
        let request = ServerRequest::ListRootsRequest(ListRootsRequest::default());
        match self.relay(request, context).await? {
            ClientResult::ListRootsResult(result) => Ok(result),
            _ => Err(unexpected_answer()),
        }
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
