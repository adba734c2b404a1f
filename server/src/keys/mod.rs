//! API keys (SPEC §14), for scripts, CI and clients that cannot run OAuth: `mcpgw_…`
//! credentials accepted wherever a JWT is, standing for the user who made them with a
//! subset of that user's roles.
//!
//! - [`secret`]: the key's text and its digest (the only form kept);
//! - [`store`]: `api_keys` in the audit database;
//! - here: the rules of making a key ([`NewKey`]) and of accepting one ([`KeyStore::authenticate`]).
//!
//! The REST routes are `http::rest::keys`; authentication calls [`KeyStore::authenticate`]
//! for a credential that [`secret::looks_like_key`].

pub mod sealed;
pub mod secret;
pub mod store;

use std::collections::BTreeSet;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::authn::AuthError;
use crate::principal::{Credential, Identity, Principal};
pub use store::KeyStore;

/// A key as stored and listed (never its text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    /// The user who made it (the caller it stands for).
    pub owner: String,
    /// That user's token subject.
    pub subject: String,
    pub roles: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Whether a key may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    Active,
    Expired,
    Revoked,
}

impl KeyState {
    /// As listings show it.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyState::Active => "active",
            KeyState::Expired => "expired",
            KeyState::Revoked => "revoked",
        }
    }
}

impl ApiKey {
    /// The key's state at `now` (a revoked key is revoked, expired or not).
    pub fn state(&self, now: DateTime<Utc>) -> KeyState {
        if self.revoked_at.is_some() {
            KeyState::Revoked
        } else if self.expires_at.is_some_and(|at| at <= now) {
            KeyState::Expired
        } else {
            KeyState::Active
        }
    }
}

/// The longest name a key may have.
pub const MAX_NAME_CHARS: usize = 100;

/// What `POST /api/keys` asks for, checked against its caller.
#[derive(Debug)]
pub struct NewKey {
    pub name: String,
    pub roles: Vec<String>,
    pub expires_in: Option<Duration>,
}

/// Why a key cannot be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRefusal {
    /// 400
    BadRequest(String),
    /// 403: more roles than the caller holds.
    Forbidden(String),
}

impl NewKey {
    /// The key `caller` may have: a name, roles among the caller's own (all of them when
    /// none are asked for), and an expiry.
    pub fn check(
        name: &str,
        roles: Option<Vec<String>>,
        expires_in: Option<Duration>,
        caller: &Principal,
    ) -> Result<NewKey, KeyRefusal> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
            return Err(KeyRefusal::BadRequest(format!(
                "name: 1 to {MAX_NAME_CHARS} characters"
            )));
        }
        let roles = match roles {
            None => caller.roles.iter().cloned().collect(),
            Some(asked) => {
                let asked: BTreeSet<String> = asked.into_iter().collect();
                if let Some(extra) = asked.iter().find(|role| !caller.has_role(role)) {
                    return Err(KeyRefusal::Forbidden(format!(
                        "a key's roles must be yours: you do not have the role {extra}"
                    )));
                }
                asked.into_iter().collect()
            }
        };
        if expires_in.is_some_and(|d| d.is_zero()) {
            return Err(KeyRefusal::BadRequest("expires_in must be positive".into()));
        }
        Ok(NewKey {
            name: name.to_owned(),
            roles,
            expires_in,
        })
    }

    /// The stored key and its text, made now for `caller`; `None` when its expiry is beyond
    /// what a date can hold.
    pub fn issue(self, caller: &Principal, now: DateTime<Utc>) -> Option<(ApiKey, String)> {
        // Microseconds, as the database keeps them: the answer shows what a listing will.
        let now = crate::audit::record::truncate_to_micros(now);
        let expires_at = match self.expires_in {
            None => None,
            Some(lifetime) => {
                Some(now.checked_add_signed(chrono::Duration::from_std(lifetime).ok()?)?)
            }
        };
        let key = ApiKey {
            id: uuid::Uuid::now_v7().to_string(),
            name: self.name,
            owner: caller.user.clone(),
            subject: caller.subject.clone(),
            roles: self.roles,
            created_at: now,
            expires_at,
            revoked_at: None,
        };
        Some((key, secret::generate()))
    }
}

impl KeyStore {
    /// The caller a key stands for: its owner, with the key's roles. Unknown, revoked and
    /// expired keys are 401s; a database that cannot be asked is a 503.
    pub async fn authenticate(&self, credential: &str) -> Result<Principal, AuthError> {
        if !secret::well_formed(credential) {
            return Err(AuthError::UnknownApiKey);
        }
        let key = match self.by_digest(&secret::digest(credential)).await {
            Ok(Some(key)) => key,
            Ok(None) => return Err(AuthError::UnknownApiKey),
            Err(error) => {
                tracing::warn!(%error, "API keys cannot be checked: the audit database is unavailable");
                return Err(AuthError::ApiKeysUnavailable);
            }
        };
        match key.state(Utc::now()) {
            KeyState::Revoked => return Err(AuthError::RevokedApiKey),
            KeyState::Expired => return Err(AuthError::ExpiredApiKey),
            KeyState::Active => {}
        }
        Ok(Principal::from(Identity {
            user: key.owner,
            subject: key.subject,
            roles: key.roles.into_iter().collect(),
            scopes: BTreeSet::new(),
            credential: Credential::ApiKey(key.id),
        }))
    }
}

/// `30d`, `12h`, `90m`, `45s`, or a number of seconds.
pub fn parse_lifetime(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().last()? {
        (i, c) if c.is_ascii_alphabetic() => (&text[..i], c),
        _ => (text, 's'),
    };
    let count: u64 = number.parse().ok()?;
    let seconds = match unit {
        's' => count,
        'm' => count.checked_mul(60)?,
        'h' => count.checked_mul(3600)?,
        'd' => count.checked_mul(86_400)?,
        _ => return None,
    };
    Some(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn caller(roles: &[&str]) -> Principal {
        Principal::from(Identity {
            user: "alice".into(),
            subject: "sub-alice".into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            scopes: BTreeSet::new(),
            credential: Credential::Jwt,
        })
    }

    #[test]
    fn a_key_gets_the_callers_roles_or_a_subset_never_more() {
        let alice = caller(&["user", "auditor"]);
        let all = NewKey::check("ci", None, None, &alice).unwrap();
        assert_eq!(all.roles, ["auditor", "user"]);
        let some = NewKey::check("ci", Some(vec!["user".into()]), None, &alice).unwrap();
        assert_eq!(some.roles, ["user"]);
        let none = NewKey::check("ci", Some(vec![]), None, &alice).unwrap();
        assert!(none.roles.is_empty());
        assert_eq!(
            NewKey::check("ci", Some(vec!["admin".into()]), None, &alice).unwrap_err(),
            KeyRefusal::Forbidden(
                "a key's roles must be yours: you do not have the role admin".into()
            )
        );
    }

    #[test]
    fn names_and_lifetimes_are_checked() {
        let alice = caller(&["user"]);
        for bad in ["", "   ", &"x".repeat(MAX_NAME_CHARS + 1)] {
            assert!(matches!(
                NewKey::check(bad, None, None, &alice),
                Err(KeyRefusal::BadRequest(_))
            ));
        }
        assert!(NewKey::check("ci", None, Some(Duration::ZERO), &alice).is_err());
        assert_eq!(
            parse_lifetime("30d"),
            Some(Duration::from_secs(30 * 86_400))
        );
        assert_eq!(parse_lifetime("12h"), Some(Duration::from_secs(12 * 3600)));
        assert_eq!(parse_lifetime("90m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_lifetime("45s"), Some(Duration::from_secs(45)));
        assert_eq!(parse_lifetime("3600"), Some(Duration::from_secs(3600)));
        for bad in ["", "d", "1w", "-1d", "1.5h", "x30d"] {
            assert_eq!(parse_lifetime(bad), None, "{bad}");
        }
    }

    #[test]
    fn an_issued_key_belongs_to_its_caller_and_expires_when_asked() {
        let alice = caller(&["user"]);
        let now = Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap();
        let (key, text) = NewKey::check("ci", None, Some(Duration::from_secs(86_400)), &alice)
            .unwrap()
            .issue(&alice, now)
            .unwrap();
        assert!(secret::looks_like_key(&text));
        assert_eq!(key.owner, "alice");
        assert_eq!(key.subject, "sub-alice");
        assert_eq!(key.expires_at, Some(now + chrono::Duration::days(1)));
        assert_eq!(key.state(now), KeyState::Active);
        assert_eq!(
            key.state(now + chrono::Duration::days(1)),
            KeyState::Expired
        );
        let revoked = ApiKey {
            revoked_at: Some(now),
            ..key
        };
        assert_eq!(revoked.state(now), KeyState::Revoked);
    }
}
