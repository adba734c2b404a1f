//! Who is calling: the identity every policy decision and audit record is about.

use std::collections::BTreeSet;
use std::ops::Deref;
use std::sync::Arc;

/// The caller, after authentication (or `anonymous` when auth is off): an [`Identity`]
/// shared by every holder, since each request hands it on several times (request extensions,
/// request context, audit) and a deep copy is two strings and two sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal(Arc<Identity>);

/// What is known of a caller.
#[derive(Debug, PartialEq, Eq)]
pub struct Identity {
    /// `preferred_username`, else `sub` (SPEC §8); `anonymous` when auth is off.
    pub user: String,
    /// The token's `sub`; `anonymous` when auth is off.
    pub subject: String,
    /// Realm roles and client roles of `JWT_AUDIENCE` (never scopes, SPEC §13).
    pub roles: BTreeSet<String>,
    /// The token's `scope` values; they count only for rules naming `scope:<value>`.
    pub scopes: BTreeSet<String>,
    /// How the caller proved who they are (the audit record's `auth` and `key_id`).
    pub credential: Credential,
}

/// What a caller authenticated with (SPEC §14: `auth: "jwt" | "api_key" | "none"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// Authentication is off.
    None,
    /// An access token of the issuer.
    Jwt,
    /// One of the gateway's API keys, by its id.
    ApiKey(String),
}

impl Credential {
    /// The audit record's `key_id`.
    pub fn key_id(&self) -> Option<&str> {
        match self {
            Credential::ApiKey(id) => Some(id),
            Credential::None | Credential::Jwt => None,
        }
    }
}

impl From<Identity> for Principal {
    fn from(identity: Identity) -> Self {
        Principal(Arc::new(identity))
    }
}

impl Deref for Principal {
    type Target = Identity;

    fn deref(&self) -> &Identity {
        &self.0
    }
}

impl Principal {
    /// The caller when authentication is off: `anonymous` with `ANONYMOUS_ROLES`.
    pub fn anonymous(roles: &[String]) -> Self {
        Principal::from(Identity {
            user: "anonymous".to_owned(),
            subject: "anonymous".to_owned(),
            roles: roles.iter().cloned().collect(),
            scopes: BTreeSet::new(),
            credential: Credential::None,
        })
    }

    pub fn has_role(&self, role: &str) -> bool {
        self.roles.contains(role)
    }

    pub fn is_admin(&self) -> bool {
        self.has_role("admin")
    }
}

/// How a request reached the gateway (the audit record's `transport`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    Mcp,
    Rest,
    Cli,
}

/// Everything about one request that policy and audit need besides the tool and arguments.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub principal: Principal,
    /// The caller's `X-Request-ID`, or a new UUID.
    pub request_id: String,
    /// The MCP session, when there is one.
    pub session_id: Option<String>,
    pub client_ip: Option<String>,
    pub transport: Transport,
    /// The MCP endpoint (scope and view) the request came by; `/mcp` for everything else.
    pub endpoint: crate::scope::Endpoint,
    /// The request's trace span (disabled when traces are off): the parent of the spans of
    /// its backend calls, whichever task runs them.
    pub span: tracing::Span,
}
