//! The `/mcp` endpoint's sessions: rmcp's in-memory session manager, with session ids of 128
//! random bits (SPEC §13) where rmcp's own are UUID v4s (122 random bits), and the calls the
//! gateway answers itself in each session ([`InFlight`]), cancelled when their client deletes
//! the session. Every other operation is rmcp's, unchanged. The sessions whose client declared
//! something a backend may ask it (sampling, elicitation, roots) are remembered: their calls
//! are rmcp's, which can send the client requests.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use futures::Stream;
use rand::RngCore as _;
use rmcp::model::{ClientJsonRpcMessage, ClientRequest, ServerJsonRpcMessage};
use rmcp::transport::WorkerTransport;
use rmcp::transport::streamable_http_server::session::local::{
    LocalSessionManager, LocalSessionManagerError, LocalSessionWorker, create_local_session,
};
use rmcp::transport::streamable_http_server::session::{
    EventStore, RestoreOutcome, ServerSseMessage, SessionId, SessionManager,
};

use super::session_calls::InFlight;
use crate::client_requests;

/// A new session id, for `/mcp` and legacy SSE alike: 128 bits from the thread-local CSPRNG,
/// as 32 hex digits (SPEC §13).
pub fn new_session_id() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// See the module docs.
#[derive(Default)]
pub struct McpSessions {
    local: LocalSessionManager,
    in_flight: Arc<InFlight>,
    /// Sessions whose client may be asked something by a backend.
    askable: RwLock<HashSet<Arc<str>>>,
}

impl McpSessions {
    /// The calls answered outside rmcp, by session.
    pub fn in_flight(&self) -> &Arc<InFlight> {
        &self.in_flight
    }

    /// Whether the client of `session` declared sampling, elicitation or roots.
    pub fn client_can_be_asked(&self, session: &str) -> bool {
        // Asked on every call of the session fast path: without such sessions, no hashing.
        self.askable
            .read()
            .is_ok_and(|sessions| !sessions.is_empty() && sessions.contains(session))
    }

    /// Forget what is remembered of sessions rmcp no longer has (they expired idling).
    pub async fn prune(&self) {
        let remembered: Vec<Arc<str>> = match self.askable.read() {
            Ok(sessions) => sessions.iter().cloned().collect(),
            Err(_) => return,
        };
        for id in remembered {
            if !self.local.has_session(&id).await.unwrap_or(false)
                && let Ok(mut sessions) = self.askable.write()
            {
                sessions.remove(&id);
            }
        }
    }
}

impl SessionManager for McpSessions {
    type Error = LocalSessionManagerError;
    type Transport = WorkerTransport<LocalSessionWorker>;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        // As rmcp's `create_session`, with our id.
        let id: SessionId = new_session_id().into();
        let (handle, worker) = create_local_session(id.clone(), self.local.session_config.clone());
        self.local.sessions.write().await.insert(id.clone(), handle);
        Ok((id, WorkerTransport::spawn(worker)))
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        if let ClientJsonRpcMessage::Request(request) = &message
            && let ClientRequest::InitializeRequest(initialize) = &request.request
            && client_requests::can_be_asked(&initialize.params.capabilities)
            && let Ok(mut sessions) = self.askable.write()
        {
            sessions.insert(Arc::from(id.as_ref()));
        }
        self.local.initialize_session(id, message).await
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        self.local.has_session(id).await
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        // A session's calls end with it (rmcp cancels those it serves itself).
        self.in_flight.cancel_session(id);
        if let Ok(mut sessions) = self.askable.write() {
            sessions.remove(&**id);
        }
        self.local.close_session(id).await
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.local.create_stream(id, message).await
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        self.local.accept_message(id, message).await
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.local.create_standalone_stream(id).await
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.local.resume(id, last_event_id).await
    }

    async fn restore_session(
        &self,
        id: SessionId,
    ) -> Result<RestoreOutcome<Self::Transport>, Self::Error> {
        self.local.restore_session(id).await
    }

    fn event_store(&self) -> Option<Arc<dyn EventStore>> {
        self.local.event_store()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_are_128_bit_hex_and_distinct() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| new_session_id()).collect();
        assert_eq!(ids.len(), 1000);
        for id in &ids {
            assert_eq!(id.len(), 32);
            assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
        }
    }

    #[tokio::test]
    async fn session_ids_are_128_random_bits_and_the_sessions_are_rmcps() {
        let sessions = McpSessions::default();
        let (first, _transport) = sessions.create_session().await.expect("a session");
        let (second, _other) = sessions.create_session().await.expect("another");
        for id in [&first, &second] {
            assert_eq!(id.len(), 32, "{id}");
            assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        }
        assert_ne!(first, second);
        assert!(sessions.has_session(&first).await.expect("lookup"));
        sessions.close_session(&first).await.expect("close");
        assert!(!sessions.has_session(&first).await.expect("lookup"));
        assert!(sessions.has_session(&second).await.expect("lookup"));
    }
}
