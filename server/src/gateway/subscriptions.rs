//! Resource subscriptions (`resources/subscribe`, session era): who is subscribed to which
//! backend resource, and the gateway's operations on them.
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
use rmcp::model::{
    ResourceUpdatedNotificationParam, SubscribeRequestParams, UnsubscribeRequestParams,
};
use rmcp::service::Peer;
use tokio_util::sync::CancellationToken;

use super::Gateway;
use super::offers::{Located, OfferError, OfferKind, Reachable, ask, reachable};
use crate::catalog::resource_uri;
use crate::principal::{Principal, RequestContext};

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

impl Gateway {
    /// `resources/subscribe` for the session of `ctx`: the backend is subscribed once
    /// whatever the number of downstream subscribers, and its updates are relayed to each.
    pub async fn subscribe(
        &self,
        ctx: &RequestContext,
        uri: &str,
        peer: Peer<RoleServer>,
    ) -> Result<(), OfferError> {
        let resolved = self.resolve(ctx, OfferKind::Resource, uri)?;
        let Some(session) = ctx.session_id.clone() else {
            return Err(OfferError::InvalidParams(
                "Invalid params: subscriptions need an MCP session".into(),
            ));
        };
        let backend = resolved.reachable.map_err(OfferError::Backend)?;
        if !backend.offers.subscribe {
            return Err(OfferError::InvalidParams(format!(
                "Invalid params: server {} does not offer resource subscriptions",
                backend.upstream.name()
            )));
        }
        let Located {
            upstream,
            backend_name,
            ..
        } = resolved.located;
        let _changing = self.subscriptions.changing.lock().await;
        let subscriber = Subscriber {
            peer,
            principal: ctx.principal.clone(),
        };
        let first = self
            .subscriptions
            .add(upstream.name(), &backend_name, &session, subscriber);
        if first && let Err(error) = backend_subscribe(&backend, backend_name.clone()).await {
            self.subscriptions
                .remove(upstream.name(), &backend_name, &session);
            return Err(error);
        }
        Ok(())
    }

    /// `resources/unsubscribe`: the backend is unsubscribed when no session is left. Not
    /// authorized again: a caller may always stop what it started, also after a reload
    /// took the resource from it.
    pub async fn unsubscribe(&self, ctx: &RequestContext, uri: &str) -> Result<(), OfferError> {
        let Some(located) = self.locate(OfferKind::Resource, uri) else {
            return Ok(());
        };
        let Some(session) = ctx.session_id.as_deref() else {
            return Ok(());
        };
        let _changing = self.subscriptions.changing.lock().await;
        let last =
            self.subscriptions
                .remove(located.upstream.name(), &located.backend_name, session);
        if last && let Some(backend) = reachable(&located.upstream) {
            // The caller is unsubscribed whatever the backend says.
            if let Err(error) = backend_unsubscribe(&backend, located.backend_name).await {
                tracing::warn!(server = %backend.upstream.name(), %error, "resources/unsubscribe failed");
            }
        }
        Ok(())
    }

    /// Relay a backend's `notifications/resources/updated` to the sessions subscribed to it
    /// whose caller may still see the resource.
    pub(super) fn relay_resource_update(&self, server: &str, uri: &str) {
        let exposed = resource_uri(server, uri);
        let policy = &self.snapshot.load().policy;
        for subscriber in self.subscriptions.subscribers(server, uri) {
            if !policy.may_call(&subscriber.principal, &exposed) {
                continue;
            }
            let params = ResourceUpdatedNotificationParam::new(exposed.clone());
            tokio::spawn(async move {
                let _ = subscriber.peer.notify_resource_updated(params).await;
            });
        }
    }

    /// Forget the subscriptions of sessions that ended, and unsubscribe the backends from
    /// what nobody follows any more.
    pub fn prune_subscriptions(&self) {
        for (server, uri) in self.subscriptions.prune() {
            let Some(backend) = self.pool.get(&server).as_ref().and_then(reachable) else {
                continue;
            };
            tokio::spawn(async move {
                let _ = backend_unsubscribe(&backend, uri).await;
            });
        }
    }

    /// Subscribe a backend that just (re)connected to what sessions are subscribed to: its
    /// new session knows nothing of the old one's subscriptions.
    pub(super) fn resubscribe(&self, server: &str) {
        let uris = self.subscriptions.uris_of(server);
        if uris.is_empty() {
            return;
        }
        let Some(backend) = self
            .pool
            .get(server)
            .as_ref()
            .and_then(reachable)
            .filter(|b| b.offers.subscribe)
        else {
            return;
        };
        tokio::spawn(async move {
            for uri in uris {
                if let Err(error) = backend_subscribe(&backend, uri).await {
                    tracing::warn!(server = %backend.upstream.name(), %error, "subscribing again failed");
                }
            }
        });
    }
}

// `resources/subscribe` is how session-era backends are subscribed; a backend of the
// 2026-07-28 era is never offered it (see `Offers::of`), so the deprecation does not apply.
#[allow(deprecated)]
async fn backend_subscribe(backend: &Reachable, uri: String) -> Result<(), OfferError> {
    let request = backend.peer.subscribe(SubscribeRequestParams::new(uri));
    ask(backend, &CancellationToken::new(), request).await
}

#[allow(deprecated)]
async fn backend_unsubscribe(backend: &Reachable, uri: String) -> Result<(), OfferError> {
    let request = backend.peer.unsubscribe(UnsubscribeRequestParams::new(uri));
    ask(backend, &CancellationToken::new(), request).await
}
