//! Progress of a call on its way back to the caller: where the backend's progress
//! notifications for one call go. Shared by the layer that receives them (`upstream`) and the
//! layers that deliver them (`http`, through the gateway), so neither imports the other.

use rmcp::RoleServer;
use rmcp::model::{ProgressNotificationParam, ProgressToken};
use rmcp::service::Peer;

/// Where a backend progress token's notifications go: a downstream caller and its own token.
#[derive(Clone)]
pub struct ProgressTarget {
    pub sink: ProgressSink,
    pub token: ProgressToken,
}

/// How progress reaches a downstream caller.
#[derive(Clone)]
pub enum ProgressSink {
    /// An rmcp session or request (rmcp routes it to the right stream).
    Peer(Peer<RoleServer>),
    /// The event stream of one session call the gateway answers itself
    /// (`http/mcp/session_calls.rs`). Full means the caller reads too slowly: progress is
    /// advisory, so that notification is dropped.
    Stream(tokio::sync::mpsc::Sender<ProgressNotificationParam>),
}

impl ProgressTarget {
    /// Tell the caller; a caller that went away cannot be told (the call itself notices).
    pub async fn notify(&self, params: ProgressNotificationParam) {
        match &self.sink {
            ProgressSink::Peer(peer) => {
                let _ = peer.notify_progress(params).await;
            }
            ProgressSink::Stream(sender) => {
                let _ = sender.try_send(params);
            }
        }
    }
}
