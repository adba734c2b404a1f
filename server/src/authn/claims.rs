//! The claims of a verified access token and the [`Principal`] they make (SPEC §8, §13).
//!
//! Roles come from `realm_access.roles` and `resource_access.<JWT_AUDIENCE>.roles` only:
//! roles are granted by the realm's admins. `scope` values are chosen by clients, so they are
//! kept apart as scopes and never become roles.

use std::collections::{BTreeSet, HashMap};

use serde::Deserialize;

use super::error::AuthError;
use crate::principal::{Credential, Identity, Principal};

/// The claims the gateway reads beyond those jsonwebtoken validates (`exp`, `nbf`, `iss`,
/// `aud`). Every field is optional here so that a missing one is reported by name.
#[derive(Debug, Default, Deserialize)]
pub struct TokenClaims {
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    preferred_username: Option<String>,
    /// Seconds since the epoch; some issuers write fractions.
    #[serde(default)]
    iat: Option<f64>,
    #[serde(default)]
    realm_access: Option<RoleClaim>,
    #[serde(default)]
    resource_access: Option<HashMap<String, RoleClaim>>,
    /// Space-separated (RFC 8693 §4.2).
    #[serde(default)]
    scope: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct RoleClaim {
    #[serde(default)]
    roles: Vec<String>,
}

impl TokenClaims {
    /// `iat`, when present, must not lie further in the future than the leeway: a token
    /// "issued" later than now comes from a badly set clock or was forged ahead of time.
    pub fn check_issued_at(&self, now: u64, leeway_seconds: u64) -> Result<(), AuthError> {
        match self.iat {
            None => Ok(()),
            Some(iat) if !iat.is_finite() || iat < 0.0 => Err(AuthError::InvalidClaim("iat")),
            Some(iat) if iat > now.saturating_add(leeway_seconds) as f64 => {
                Err(AuthError::IssuedInFuture)
            }
            Some(_) => Ok(()),
        }
    }

    /// The caller: user = `preferred_username`, else `sub`; roles = realm roles ∪ the roles
    /// of client `client_id`; scopes = `scope` split on spaces.
    pub fn into_principal(self, client_id: &str) -> Result<Principal, AuthError> {
        let subject = self
            .sub
            .filter(|sub| !sub.is_empty())
            .ok_or(AuthError::MissingClaim("sub"))?;
        let user = self
            .preferred_username
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| subject.clone());
        let mut roles: BTreeSet<String> = self
            .realm_access
            .map(|access| access.roles)
            .unwrap_or_default()
            .into_iter()
            .collect();
        if let Some(mut clients) = self.resource_access
            && let Some(client) = clients.remove(client_id)
        {
            roles.extend(client.roles);
        }
        roles.retain(|role| !role.is_empty());
        let scopes = self
            .scope
            .as_deref()
            .unwrap_or_default()
            .split(' ')
            .filter(|scope| !scope.is_empty())
            .map(str::to_owned)
            .collect();
        Ok(Principal::from(Identity {
            user,
            subject,
            roles,
            scopes,
            credential: Credential::Jwt,
        }))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn claims(value: serde_json::Value) -> TokenClaims {
        serde_json::from_value(value).expect("claims")
    }

    fn set(items: &[&str]) -> BTreeSet<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn keycloak_token_becomes_a_principal() {
        let principal = claims(json!({
            "sub": "f3c1-uuid",
            "preferred_username": "testuser",
            "realm_access": {"roles": ["user", "offline_access"]},
            "resource_access": {
                "mcp-gateway": {"roles": ["operator"]},
                "account": {"roles": ["manage-account"]}
            },
            "scope": "openid profile  email"
        }))
        .into_principal("mcp-gateway")
        .expect("principal");
        assert_eq!(principal.user, "testuser");
        assert_eq!(principal.subject, "f3c1-uuid");
        assert_eq!(
            principal.roles,
            set(&["offline_access", "operator", "user"])
        );
        assert_eq!(principal.scopes, set(&["email", "openid", "profile"]));
    }

    #[test]
    fn scopes_never_become_roles() {
        let principal = claims(json!({"sub": "s", "scope": "admin openid"}))
            .into_principal("mcp-gateway")
            .expect("principal");
        assert!(principal.roles.is_empty());
        assert!(!principal.is_admin());
        assert_eq!(principal.scopes, set(&["admin", "openid"]));
    }

    #[test]
    fn other_clients_roles_do_not_count() {
        let principal = claims(json!({
            "sub": "s",
            "resource_access": {"other-app": {"roles": ["admin"]}}
        }))
        .into_principal("mcp-gateway")
        .expect("principal");
        assert!(principal.roles.is_empty());
    }

    #[test]
    fn user_falls_back_to_subject() {
        for value in [
            json!({"sub": "abc"}),
            json!({"sub": "abc", "preferred_username": ""}),
        ] {
            let principal = claims(value).into_principal("c").expect("principal");
            assert_eq!(principal.user, "abc");
        }
    }

    #[test]
    fn subject_is_required() {
        for value in [json!({}), json!({"sub": "", "preferred_username": "x"})] {
            assert_eq!(
                claims(value).into_principal("c"),
                Err(AuthError::MissingClaim("sub"))
            );
        }
    }

    #[test]
    fn malformed_role_claims_do_not_parse() {
        for value in [
            json!({"sub": "s", "realm_access": {"roles": "admin"}}),
            json!({"sub": "s", "realm_access": {"roles": [1]}}),
            json!({"sub": 5}),
            json!({"sub": "s", "iat": "yesterday"}),
        ] {
            assert!(serde_json::from_value::<TokenClaims>(value).is_err());
        }
    }

    #[test]
    fn issued_at_in_the_future_beyond_leeway_is_refused() {
        let now = 1_000_000;
        let at = |iat: serde_json::Value| claims(json!({"sub": "s", "iat": iat}));
        assert_eq!(at(json!(now)).check_issued_at(now, 30), Ok(()));
        assert_eq!(at(json!(now + 30)).check_issued_at(now, 30), Ok(()));
        assert_eq!(at(json!(now - 3600)).check_issued_at(now, 30), Ok(()));
        assert_eq!(at(json!(999_999.5)).check_issued_at(now, 0), Ok(()));
        assert_eq!(
            at(json!(now + 31)).check_issued_at(now, 30),
            Err(AuthError::IssuedInFuture)
        );
        assert_eq!(
            at(json!(-5)).check_issued_at(now, 30),
            Err(AuthError::InvalidClaim("iat"))
        );
        assert_eq!(claims(json!({"sub": "s"})).check_issued_at(now, 0), Ok(()));
    }
}
