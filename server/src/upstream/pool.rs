//! The set of backends the gateway is connected to, swapped whole on reload.
//!
//! Applying a config diffs it against what runs: new servers start, removed ones stop,
//! changed ones restart, unchanged ones keep their session (and their callers).

use std::collections::BTreeMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::sync::{Notify, broadcast};

use super::clients::HttpClients;
use super::{BackendNotice, Upstream};
use crate::config::{ServerConfig, UpstreamClient};

/// What a config change did to the running backends.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PoolChanges {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub restarted: Vec<String>,
}

impl PoolChanges {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.restarted.is_empty()
    }
}

/// All enabled backends, by name.
pub struct Pool {
    upstreams: ArcSwap<BTreeMap<String, Arc<Upstream>>>,
    http: HttpClients,
    client: UpstreamClient,
    changed: Arc<Notify>,
    notices: broadcast::Sender<BackendNotice>,
}

/// Notices waiting for a slow listener; one that falls further behind misses some (a list
/// change is re-read whole anyway).
const NOTICE_BACKLOG: usize = 256;

impl Pool {
    /// `client`: which client every backend's calls go through.
    pub fn new(http: HttpClients, client: UpstreamClient) -> Self {
        Self {
            upstreams: Default::default(),
            http,
            client,
            changed: Arc::new(Notify::new()),
            notices: broadcast::channel(NOTICE_BACKLOG).0,
        }
    }

    /// What backends say about their prompts and resources, from every backend.
    pub fn notices(&self) -> broadcast::Receiver<BackendNotice> {
        self.notices.subscribe()
    }

    /// Woken whenever a backend's state changes (up, down, new tools) or the set changes.
    pub fn changed(&self) -> Arc<Notify> {
        Arc::clone(&self.changed)
    }

    /// The running backends, sorted by name.
    pub fn upstreams(&self) -> Arc<BTreeMap<String, Arc<Upstream>>> {
        self.upstreams.load_full()
    }

    pub fn get(&self, name: &str) -> Option<Arc<Upstream>> {
        self.upstreams.load().get(name).cloned()
    }

    /// Make the running set match `servers` (disabled servers are not run).
    pub fn apply(&self, servers: &[ServerConfig]) -> PoolChanges {
        let current = self.upstreams.load_full();
        let mut next = BTreeMap::new();
        let mut changes = PoolChanges::default();
        for server in servers.iter().filter(|s| s.enabled) {
            match current.get(&server.name) {
                Some(running) if **running.config() == *server => {
                    next.insert(server.name.clone(), Arc::clone(running));
                }
                existing => {
                    if existing.is_some() {
                        changes.restarted.push(server.name.clone());
                    } else {
                        changes.added.push(server.name.clone());
                    }
                    let upstream = Upstream::spawn(
                        Arc::new(server.clone()),
                        self.http.clone(),
                        self.client,
                        Arc::clone(&self.changed),
                        self.notices.clone(),
                    );
                    next.insert(server.name.clone(), upstream);
                }
            }
        }
        for (name, running) in current.iter() {
            let replaced = next
                .get(name)
                .is_some_and(|kept| Arc::ptr_eq(kept, running));
            if !replaced {
                running.shut_down();
                if !next.contains_key(name) {
                    changes.removed.push(name.clone());
                }
            }
        }
        self.upstreams.store(Arc::new(next));
        self.changed.notify_one();
        changes
    }

    /// Stop every backend (gateway shutdown).
    pub fn shut_down_all(&self) {
        for upstream in self.upstreams.load().values() {
            upstream.shut_down();
        }
    }
}
