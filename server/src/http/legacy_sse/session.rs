//! One legacy SSE session: the table of open sessions, the in-memory rmcp transport between
//! the HTTP routes and the session's rmcp service, and the task that runs that service.
//!
//! Both directions are bounded channels. A POST waits a little for room and is then refused;
//! a client that stops reading its event stream fills the outbound channel, and once a send
//! has waited [`SLOW_CLIENT_LIMIT`] the session is dropped rather than buffered without end.

use std::{
    collections::HashMap,
    pin::Pin,
    sync::{Arc, Mutex, PoisonError},
    task::{Context, Poll},
    time::Duration,
};

use futures::{Stream, StreamExt, stream::BoxStream};
use rmcp::{
    RoleServer, ServerHandler,
    model::{ClientJsonRpcMessage, ServerJsonRpcMessage},
    service::serve_server_with_ct,
    transport::Transport,
};
use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, DropGuard};

/// Messages from POSTs waiting for the session's service to take them.
const INBOUND_CAPACITY: usize = 32;
/// Messages waiting for the client to read them from its event stream.
const OUTBOUND_CAPACITY: usize = 64;
/// How long a POST waits for room in a full inbound queue before it is refused.
const DELIVERY_LIMIT: Duration = Duration::from_secs(10);
/// How long a message waits for room in a full outbound queue before the client is taken for
/// gone and the session is dropped.
const SLOW_CLIENT_LIMIT: Duration = Duration::from_secs(10);

/// Why a POSTed message did not reach its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum InboundError {
    /// The session ended.
    Closed,
    /// The session did not take the message in time.
    Busy,
}

/// What a POST needs to reach a session.
#[derive(Clone)]
pub(super) struct SessionEntry {
    inbound: mpsc::Sender<ClientJsonRpcMessage>,
    /// The key of the request that opened the session (see `LegacySseConfig::owner_key`).
    pub(super) owner: Option<String>,
    closed: CancellationToken,
    delivery_limit: Duration,
}

impl SessionEntry {
    /// Hands a message to the session's service.
    pub(super) async fn deliver(&self, message: ClientJsonRpcMessage) -> Result<(), InboundError> {
        tokio::select! {
            sent = tokio::time::timeout(self.delivery_limit, self.inbound.send(message)) => match sent {
                Ok(Ok(())) => Ok(()),
                Ok(Err(_)) => Err(InboundError::Closed),
                Err(_) => Err(InboundError::Busy),
            },
            () = self.closed.cancelled() => Err(InboundError::Closed),
        }
    }
}

/// The open sessions, by id.
#[derive(Default)]
pub(super) struct SessionTable {
    sessions: Mutex<HashMap<String, SessionEntry>>,
}

impl SessionTable {
    pub(super) fn get(&self, id: &str) -> Option<SessionEntry> {
        self.lock().get(id).cloned()
    }

    fn insert(&self, id: String, entry: SessionEntry) {
        self.lock().insert(id, entry);
    }

    fn remove(&self, id: &str) {
        self.lock().remove(id);
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.lock().len()
    }

    // A panic while holding the lock cannot leave the map half-updated (every critical
    // section is a single map call), so a poisoned lock is still safe to use.
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, SessionEntry>> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A session just opened: its id, the stream of messages for the client, and the guard that
/// ends the session when the client's event stream is dropped.
pub(super) struct OpenedSession {
    pub(super) id: String,
    pub(super) outbound: BoxStream<'static, ServerJsonRpcMessage>,
    pub(super) close_guard: DropGuard,
}

/// Registers a session and starts serving `handler` on it.
pub(super) fn open<H: ServerHandler>(
    handler: H,
    owner: Option<String>,
    table: &Arc<SessionTable>,
    closed: CancellationToken,
) -> OpenedSession {
    let id = crate::http::mcp::sessions::new_session_id();
    let (inbound_tx, inbound_rx) = mpsc::channel(INBOUND_CAPACITY);
    let (outbound_tx, mut outbound_rx) = mpsc::channel(OUTBOUND_CAPACITY);
    table.insert(
        id.clone(),
        SessionEntry {
            inbound: inbound_tx,
            owner,
            closed: closed.clone(),
            delivery_limit: DELIVERY_LIMIT,
        },
    );
    let transport = SessionTransport {
        inbound: inbound_rx,
        outbound: outbound_tx,
        closed: closed.clone(),
        slow_client_limit: SLOW_CLIENT_LIMIT,
    };
    let cleanup = SessionCleanup {
        table: Arc::clone(table),
        id: id.clone(),
        closed: closed.clone(),
    };
    tokio::spawn(run_session(handler, transport, cleanup));

    let outbound = futures::stream::poll_fn(move |cx| outbound_rx.poll_recv(cx))
        .take_until(closed.clone().cancelled_owned())
        .boxed();
    OpenedSession {
        id,
        outbound,
        close_guard: closed.drop_guard(),
    }
}

/// Runs the session's rmcp service until the client leaves, the service stops or the
/// session is cancelled; then forgets the session.
async fn run_session<H: ServerHandler>(
    handler: H,
    transport: SessionTransport,
    cleanup: SessionCleanup,
) {
    let short_id = cleanup.short_id();
    tracing::debug!(session = %short_id, "legacy SSE session opened");
    match serve_server_with_ct(handler, transport, cleanup.closed.clone()).await {
        Ok(service) => {
            let _ = service.waiting().await;
        }
        Err(error) => {
            tracing::debug!(session = %short_id, %error, "legacy SSE session ended before initialization");
        }
    }
    tracing::debug!(session = %short_id, "legacy SSE session closed");
    drop(cleanup);
}

/// Removes the session from the table and ends it, however the session task exits.
struct SessionCleanup {
    table: Arc<SessionTable>,
    id: String,
    closed: CancellationToken,
}

impl SessionCleanup {
    /// Enough of the id to follow a session in the logs without handing out a usable id.
    fn short_id(&self) -> &str {
        self.id.get(..8).unwrap_or("")
    }
}

impl Drop for SessionCleanup {
    fn drop(&mut self) {
        self.closed.cancel();
        self.table.remove(&self.id);
    }
}

/// Why a message could not be queued for the client.
#[derive(Debug, thiserror::Error)]
pub(super) enum SessionSendError {
    #[error("session closed")]
    Closed,
    #[error("client stopped reading; session dropped")]
    SlowClient,
}

/// The rmcp side of a session: messages from POSTs in, messages for the event stream out.
struct SessionTransport {
    inbound: mpsc::Receiver<ClientJsonRpcMessage>,
    outbound: mpsc::Sender<ServerJsonRpcMessage>,
    closed: CancellationToken,
    slow_client_limit: Duration,
}

impl Transport<RoleServer> for SessionTransport {
    type Error = SessionSendError;

    fn send(
        &mut self,
        item: ServerJsonRpcMessage,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let outbound = self.outbound.clone();
        let closed = self.closed.clone();
        let limit = self.slow_client_limit;
        async move {
            tokio::select! {
                sent = tokio::time::timeout(limit, outbound.send(item)) => match sent {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(_)) => Err(SessionSendError::Closed),
                    Err(_) => {
                        closed.cancel();
                        Err(SessionSendError::SlowClient)
                    }
                },
                () = closed.cancelled() => Err(SessionSendError::Closed),
            }
        }
    }

    // `mpsc::Receiver::recv` is cancel-safe, which rmcp's select loop requires.
    fn receive(&mut self) -> impl Future<Output = Option<ClientJsonRpcMessage>> + Send {
        self.inbound.recv()
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.inbound.close();
        Ok(())
    }
}

/// An event stream that ends its session when dropped: axum drops the response body when
/// the client goes away.
pub(super) struct CloseOnDrop<T> {
    inner: BoxStream<'static, T>,
    _close: DropGuard,
}

impl<T> CloseOnDrop<T> {
    pub(super) fn new(inner: impl Stream<Item = T> + Send + 'static, close: DropGuard) -> Self {
        Self {
            inner: inner.boxed(),
            _close: close,
        }
    }
}

impl<T> Stream for CloseOnDrop<T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.inner.poll_next_unpin(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client_message() -> ClientJsonRpcMessage {
        serde_json::from_str(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
            .expect("valid notification")
    }

    fn server_message() -> ServerJsonRpcMessage {
        serde_json::from_str(r#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#)
            .expect("valid notification")
    }

    fn entry(
        inbound: mpsc::Sender<ClientJsonRpcMessage>,
        closed: &CancellationToken,
    ) -> SessionEntry {
        SessionEntry {
            inbound,
            owner: None,
            closed: closed.clone(),
            delivery_limit: DELIVERY_LIMIT,
        }
    }

    fn transport(
        outbound: mpsc::Sender<ServerJsonRpcMessage>,
        closed: &CancellationToken,
        slow_client_limit: Duration,
    ) -> SessionTransport {
        SessionTransport {
            inbound: mpsc::channel(1).1,
            outbound,
            closed: closed.clone(),
            slow_client_limit,
        }
    }

    #[tokio::test]
    async fn delivery_to_an_ended_session_is_closed() {
        let (inbound, receiver) = mpsc::channel(1);
        drop(receiver);
        let entry = entry(inbound, &CancellationToken::new());
        assert_eq!(
            entry.deliver(client_message()).await,
            Err(InboundError::Closed)
        );
    }

    #[tokio::test]
    async fn delivery_to_a_cancelled_full_session_is_closed() {
        let (inbound, _receiver) = mpsc::channel(1);
        let closed = CancellationToken::new();
        let entry = entry(inbound, &closed);
        assert_eq!(entry.deliver(client_message()).await, Ok(()));
        closed.cancel();
        // The queue is full now; the cancelled session must answer at once, not after the
        // delivery limit.
        assert_eq!(
            entry.deliver(client_message()).await,
            Err(InboundError::Closed)
        );
    }

    #[tokio::test]
    async fn delivery_to_a_session_that_stays_full_is_busy() {
        let (inbound, _receiver) = mpsc::channel(1);
        let closed = CancellationToken::new();
        let entry = SessionEntry {
            delivery_limit: Duration::ZERO,
            ..entry(inbound, &closed)
        };
        assert_eq!(entry.deliver(client_message()).await, Ok(()));
        assert_eq!(
            entry.deliver(client_message()).await,
            Err(InboundError::Busy)
        );
        assert!(!closed.is_cancelled(), "a busy session is not ended");
    }

    #[tokio::test]
    async fn transport_send_fails_once_the_session_is_cancelled() {
        let (outbound, _outbound_rx) = mpsc::channel(1);
        let closed = CancellationToken::new();
        let mut transport = transport(outbound, &closed, SLOW_CLIENT_LIMIT);
        assert!(transport.send(server_message()).await.is_ok());
        closed.cancel();
        assert!(matches!(
            transport.send(server_message()).await,
            Err(SessionSendError::Closed)
        ));
    }

    #[tokio::test]
    async fn a_client_that_stops_reading_is_dropped() {
        let (outbound, mut outbound_rx) = mpsc::channel(1);
        let closed = CancellationToken::new();
        let mut transport = transport(outbound, &closed, Duration::ZERO);
        assert!(transport.send(server_message()).await.is_ok());
        // Nobody reads: the queue stays full past the limit, and the session ends.
        assert!(matches!(
            transport.send(server_message()).await,
            Err(SessionSendError::SlowClient)
        ));
        assert!(closed.is_cancelled());
        // What was queued is still there; nothing more was buffered.
        assert!(outbound_rx.try_recv().is_ok());
        assert!(outbound_rx.try_recv().is_err());
    }

    #[tokio::test]
    async fn transport_receives_what_posts_deliver() {
        let (inbound_tx, inbound) = mpsc::channel(1);
        let closed = CancellationToken::new();
        let entry = entry(inbound_tx, &closed);
        let mut transport = SessionTransport {
            inbound,
            ..transport(mpsc::channel(1).0, &closed, SLOW_CLIENT_LIMIT)
        };
        assert_eq!(entry.deliver(client_message()).await, Ok(()));
        assert!(matches!(
            Transport::<RoleServer>::receive(&mut transport).await,
            Some(ClientJsonRpcMessage::Notification(_))
        ));
        assert!(Transport::<RoleServer>::close(&mut transport).await.is_ok());
        assert!(
            Transport::<RoleServer>::receive(&mut transport)
                .await
                .is_none()
        );
        assert_eq!(
            entry.deliver(client_message()).await,
            Err(InboundError::Closed)
        );
    }

    #[test]
    fn cleanup_removes_the_session_and_cancels_it() {
        let table = Arc::new(SessionTable::default());
        let (inbound, _receiver) = mpsc::channel(1);
        let closed = CancellationToken::new();
        table.insert(
            "abcdef0123456789".to_owned(),
            SessionEntry {
                owner: Some("alice".to_owned()),
                ..entry(inbound, &closed)
            },
        );
        assert_eq!(
            table.get("abcdef0123456789").and_then(|e| e.owner),
            Some("alice".to_owned())
        );
        let cleanup = SessionCleanup {
            table: Arc::clone(&table),
            id: "abcdef0123456789".to_owned(),
            closed: closed.clone(),
        };
        assert_eq!(cleanup.short_id(), "abcdef01");
        drop(cleanup);
        assert!(closed.is_cancelled());
        assert!(table.get("abcdef0123456789").is_none());
        assert_eq!(table.len(), 0);
    }
}
