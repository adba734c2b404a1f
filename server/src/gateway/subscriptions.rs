//! Who is subscribed to which backend resource (`resources/subscribe`, session era).
//!
//! The gateway holds one session per backend, so it subscribes each backend resource once,
//! however many downstream sessions asked, and relays the backend's
//! `notifications/resources/updated` to each of them — each subscriber's principal is kept, so
//! that an update is relayed only while its policy still lets it see the resource. Sessions
//! that ended are dropped by [`Subscriptions::prune`]; the backend is unsubscribed when no
//! session is left.

use std::collections::HashMap;
use std::sync::Mutex;

use rmcp::RoleServer;
use rmcp::service::Peer;

use crate::principal::Principal;

/// (server, backend URI) -> session id -> the session's client and caller.
type Table = HashMap<(String, String), HashMap<String, Subscriber>>;

#[derive(Clone)]
pub struct Subscriber {
    pub peer: Peer<RoleServer>,
    pub principal: Principal,
}

#[derive(Default)]
pub struct Subscriptions {
    table: Mutex<Table>,
    /// Held while a subscription is added or removed together with its backend request, so
    /// that a second subscriber never counts on a backend subscription that then fails.
    pub changing: tokio::sync::Mutex<()>,
}

impl Subscriptions {
    /// Subscribe `session`; true when it is the resource's first subscriber (the backend
    /// must be subscribed).
    pub fn add(&self, server: &str, uri: &str, session: &str, subscriber: Subscriber) -> bool {
        let Ok(mut table) = self.table.lock() else {
            return false;
        };
        let sessions = table
            .entry((server.to_owned(), uri.to_owned()))
            .or_default();
        let first = sessions.is_empty();
        sessions.insert(session.to_owned(), subscriber);
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

    /// The subscribers of the resource now, the ended ones dropped.
    pub fn subscribers(&self, server: &str, uri: &str) -> Vec<Subscriber> {
        let Ok(mut table) = self.table.lock() else {
            return Vec::new();
        };
        let key = (server.to_owned(), uri.to_owned());
        let Some(sessions) = table.get_mut(&key) else {
            return Vec::new();
        };
        sessions.retain(|_, subscriber| !subscriber.peer.is_transport_closed());
        sessions.values().cloned().collect()
    }

    /// Drop the sessions that ended; the resources left without a subscriber, as
    /// (server, backend URI), to unsubscribe the backend from.
    pub fn prune(&self) -> Vec<(String, String)> {
        let Ok(mut table) = self.table.lock() else {
            return Vec::new();
        };
        let mut orphans = Vec::new();
        table.retain(|key, sessions| {
            sessions.retain(|_, subscriber| !subscriber.peer.is_transport_closed());
            if sessions.is_empty() {
                orphans.push(key.clone());
            }
            !sessions.is_empty()
        });
        orphans
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
