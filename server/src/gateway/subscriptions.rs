//! Who is subscribed to which backend resource (`resources/subscribe`, session era).
//!
//! The gateway holds one session per backend, so it subscribes each backend resource once,
//! however many downstream sessions asked, and relays the backend's
//! `notifications/resources/updated` to each of them. A session that ended is dropped the
//! next time its resource is updated; the backend is unsubscribed when none is left.

use std::collections::HashMap;
use std::sync::Mutex;

use rmcp::RoleServer;
use rmcp::service::Peer;

/// (server, backend URI) -> session id -> the session's client.
type Table = HashMap<(String, String), HashMap<String, Peer<RoleServer>>>;

#[derive(Default)]
pub struct Subscriptions {
    table: Mutex<Table>,
}

impl Subscriptions {
    /// Subscribe `session`; true when it is the resource's first subscriber (the backend
    /// must be subscribed).
    pub fn add(&self, server: &str, uri: &str, session: &str, peer: Peer<RoleServer>) -> bool {
        let Ok(mut table) = self.table.lock() else {
            return false;
        };
        let sessions = table
            .entry((server.to_owned(), uri.to_owned()))
            .or_default();
        let first = sessions.is_empty();
        sessions.insert(session.to_owned(), peer);
        first
    }

    /// Unsubscribe `session`; true when it was the resource's last subscriber (the backend
    /// should be unsubscribed).
    pub fn remove(&self, server: &str, uri: &str, session: &str) -> bool {
        let Ok(mut table) = self.table.lock() else {
            return false;
        };
        let key = (server.to_owned(), uri.to_owned());
        let Some(sessions) = table.get_mut(&key) else {
            return false;
        };
        if sessions.remove(session).is_none() {
            return false;
        }
        let last = sessions.is_empty();
        if last {
            table.remove(&key);
        }
        last
    }

    /// The clients subscribed to the resource now, the ended ones dropped; `None` when none
    /// is left (the backend should be unsubscribed).
    pub fn subscribers(&self, server: &str, uri: &str) -> Option<Vec<Peer<RoleServer>>> {
        let mut table = self.table.lock().ok()?;
        let key = (server.to_owned(), uri.to_owned());
        let sessions = table.get_mut(&key)?;
        sessions.retain(|_, peer| !peer.is_transport_closed());
        if sessions.is_empty() {
            table.remove(&key);
            return None;
        }
        Some(sessions.values().cloned().collect())
    }

    /// The backend URIs of `server` someone is subscribed to (to subscribe again after the
    /// backend reconnected).
    pub fn uris_of(&self, server: &str) -> Vec<String> {
        let Ok(table) = self.table.lock() else {
            return Vec::new();
        };
        table
            .keys()
            .filter(|(s, _)| s == server)
            .map(|(_, uri)| uri.clone())
            .collect()
    }
}
