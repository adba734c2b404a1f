//! MCP sessions belong to the subject that opened them (SPEC §13).
//!
//! rmcp's session manager knows nothing of callers, so the `/mcp` endpoint records the owner
//! of every session it sees created (the `Mcp-Session-Id` of an answer to a request that had
//! none) and refuses a request with another subject's session id exactly as an unknown session
//! (404), so a stolen id reveals nothing. Entries of sessions rmcp has dropped are pruned.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::transport::streamable_http_server::session::SessionManager as _;

use super::sessions::McpSessions;
use crate::principal::Principal;

const PRUNE_INTERVAL: Duration = Duration::from_secs(60);

/// Session id -> subject.
#[derive(Default)]
pub struct SessionOwners {
    owners: Mutex<HashMap<String, String>>,
}

/// Whether a request may use the session it names.
#[derive(Debug, PartialEq, Eq)]
pub enum Ownership {
    /// No session named, or one we did not see created (rmcp decides).
    Unclaimed,
    Owner,
    /// Someone else's: answer as for an unknown session.
    Foreign,
}

impl SessionOwners {
    pub fn check(&self, session_id: &str, subject: &str) -> Ownership {
        let Ok(owners) = self.owners.lock() else {
            return Ownership::Foreign;
        };
        match owners.get(session_id) {
            None => Ownership::Unclaimed,
            Some(owner) if owner == subject => Ownership::Owner,
            Some(_) => Ownership::Foreign,
        }
    }

    pub fn claim(&self, session_id: &str, subject: &str) {
        if let Ok(mut owners) = self.owners.lock() {
            owners
                .entry(session_id.to_owned())
                .or_insert_with(|| subject.to_owned());
        }
    }

    pub fn release(&self, session_id: &str) {
        if let Ok(mut owners) = self.owners.lock() {
            owners.remove(session_id);
        }
    }

    pub fn len(&self) -> usize {
        self.owners.lock().map(|o| o.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forget sessions rmcp no longer has (closed, or expired after idling).
    pub fn spawn_pruner(
        self: &Arc<Self>,
        manager: Arc<McpSessions>,
        shutdown: tokio_util::sync::CancellationToken,
    ) {
        let owners = Arc::clone(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(PRUNE_INTERVAL);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tick.tick() => {}
                }
                let ids: Vec<String> = match owners.owners.lock() {
                    Ok(map) => map.keys().cloned().collect(),
                    Err(_) => break,
                };
                for id in ids {
                    let alive = manager
                        .has_session(&Arc::<str>::from(id.as_str()))
                        .await
                        .unwrap_or(false);
                    if !alive {
                        owners.release(&id);
                    }
                }
                manager.prune().await;
            }
        });
    }
}

/// The subject of a request: the authenticated principal's, or `anonymous`.
pub fn subject_of(extensions: &http::Extensions) -> &str {
    extensions
        .get::<Principal>()
        .map(|p| p.subject.as_str())
        .unwrap_or("anonymous")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_are_recorded_and_checked() {
        let owners = SessionOwners::default();
        assert_eq!(owners.check("s1", "alice"), Ownership::Unclaimed);
        owners.claim("s1", "alice");
        assert_eq!(owners.check("s1", "alice"), Ownership::Owner);
        assert_eq!(owners.check("s1", "mallory"), Ownership::Foreign);
        // A second claim never changes the owner.
        owners.claim("s1", "mallory");
        assert_eq!(owners.check("s1", "alice"), Ownership::Owner);
        owners.release("s1");
        assert_eq!(owners.check("s1", "mallory"), Ownership::Unclaimed);
        assert!(owners.is_empty());
    }
}
