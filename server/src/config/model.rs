//! The validated configuration: what the rest of the gateway reads.
//!
//! A value of these types has passed every check of `mcp_servers.yaml` (SPEC §4, §12, §13),
//! so code that holds one never re-validates. None of them holds a secret: credentials are
//! [`CredentialRef`]s, resolved when a backend connects.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use super::credentials::CredentialRef;

/// A backend's `timeout` when the file gives none.
pub const DEFAULT_SERVER_TIMEOUT: Duration = Duration::from_secs(30);

/// The whole `mcp_servers.yaml`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    /// Every configured server, disabled ones too, sorted by name.
    pub servers: Vec<ServerConfig>,
    /// `None` when the file has no `authorization:` section: every authenticated caller may
    /// call every tool.
    pub authorization: Option<AuthorizationConfig>,
    pub rate_limits: Option<RateLimitsConfig>,
    pub limits: Limits,
    /// `None` when the file has no `llm:` section: no model is proxied.
    pub llm: Option<LlmConfig>,
}

impl Config {
    /// The server with this name.
    pub fn server(&self, name: &str) -> Option<&ServerConfig> {
        self.servers
            .binary_search_by(|server| server.name.as_str().cmp(name))
            .ok()
            .and_then(|index| self.servers.get(index))
    }

    /// The servers that are `enabled`, in name order.
    pub fn enabled_servers(&self) -> impl Iterator<Item = &ServerConfig> {
        self.servers.iter().filter(|server| server.enabled)
    }
}

/// One entry of `servers:`.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// `[A-Za-z0-9_-]+`, without `__`, not `broadcast`.
    pub name: String,
    pub transport: TransportConfig,
    /// Deadline of one call to this backend (> 0; fractional seconds allowed).
    pub timeout: Duration,
    pub enabled: bool,
    pub description: Option<String>,
    /// In file order, without repeats.
    pub tags: Vec<String>,
    /// Send `X-User-ID` and `X-Request-ID` to this backend.
    pub forward_identity: bool,
    /// How the gateway authenticates to this backend; `None` = no credential.
    pub auth: Option<OutboundAuth>,
}

impl ServerConfig {
    /// `http`, `sse` or `stdio`: the `type` key as written.
    pub fn transport_type(&self) -> &'static str {
        self.transport.type_name()
    }
}

/// How the gateway reaches a backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransportConfig {
    /// Streamable HTTP; `url` is `http://` or `https://`.
    Http { url: String },
    /// The legacy HTTP+SSE transport; `url` is `http://` or `https://`.
    Sse { url: String },
    /// A child process speaking MCP on stdin/stdout.
    Stdio {
        command: String,
        args: Vec<String>,
        env: BTreeMap<String, EnvValue>,
    },
}

impl TransportConfig {
    pub fn type_name(&self) -> &'static str {
        match self {
            TransportConfig::Http { .. } => "http",
            TransportConfig::Sse { .. } => "sse",
            TransportConfig::Stdio { .. } => "stdio",
        }
    }
}

/// One value of a stdio server's `env:`.
#[derive(Clone, PartialEq, Eq)]
pub enum EnvValue {
    /// Given in the file. Treated as a secret all the same: `Debug` does not print it.
    Literal(String),
    /// `env://VAR` or `file:///path`, read when the process starts.
    Ref(CredentialRef),
}

impl fmt::Debug for EnvValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EnvValue::Literal(_) => f.write_str("Literal([REDACTED])"),
            EnvValue::Ref(reference) => write!(f, "Ref({reference})"),
        }
    }
}

/// The `auth:` block of a server, with every default applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundAuth {
    pub method: AuthMethod,
    pub location: CredentialLocation,
    /// Header name, query parameter or tool argument that carries the credential.
    pub name: String,
    pub format: CredentialFormat,
    /// Where the credential is read from; `None` only for `oauth2`, whose credential is the
    /// token fetched with [`OAuth2Settings`].
    pub credential: Option<CredentialRef>,
    /// Set exactly when `method` is `oauth2`.
    pub oauth2: Option<OAuth2Settings>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    ApiKey,
    Bearer,
    /// The credential is `user:password`, sent base64-encoded (SPEC §13).
    Basic,
    /// Client-credentials grant; the fetched access token is the credential.
    OAuth2,
    /// Location, name and format all as the file says.
    Custom,
}

impl AuthMethod {
    /// The name used in `mcp_servers.yaml`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ApiKey => "api_key",
            AuthMethod::Bearer => "bearer",
            AuthMethod::Basic => "basic",
            AuthMethod::OAuth2 => "oauth2",
            AuthMethod::Custom => "custom",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialLocation {
    Header,
    Query,
    /// `params.arguments[<name>]` of `tools/call`.
    Body,
}

impl CredentialLocation {
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialLocation::Header => "header",
            CredentialLocation::Query => "query",
            CredentialLocation::Body => "body",
        }
    }
}

/// How the credential is written into its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialFormat {
    /// The credential as is.
    Raw,
    /// The prefix, then the credential (`Bearer <token>`).
    Prefix(String),
    /// The template with `{credential}` replaced; always contains `{credential}`.
    Template(String),
}

/// The marker a `template` must contain.
pub const TEMPLATE_MARKER: &str = "{credential}";

/// `oauth2` settings (client-credentials grant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuth2Settings {
    /// `http://` or `https://`.
    pub token_url: String,
    pub client_id: String,
    pub client_secret: CredentialRef,
    pub scope: Option<String>,
}

/// `llm:`: the Anthropic API proxy (SPEC §14).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlmConfig {
    pub anthropic: AnthropicConfig,
    /// `limits.per_user`; `None`: no budget.
    pub budget: Option<LlmBudget>,
    /// In file order; the first that matches decides.
    pub guards: Vec<GuardConfig>,
    /// Keep the conversation (`messages`, `system`) in audit records.
    pub log_prompts: bool,
}

/// `llm.anthropic`: where requests go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnthropicConfig {
    /// Without a trailing `/`.
    pub base_url: String,
    /// The gateway's own key; `None`: only users' own keys can be used.
    pub api_key: Option<CredentialRef>,
    /// For a whole request, a stream until its end included.
    pub timeout: Duration,
    /// Model-name patterns forwarded (`*` for every model).
    pub models: Vec<String>,
}

/// `llm.limits.per_user`: each budget is optional.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LlmBudget {
    pub requests_per_minute: Option<u64>,
    pub tokens_per_minute: Option<u64>,
    pub tokens_per_day: Option<u64>,
}

/// One of `llm.guards`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardConfig {
    /// A valid regular expression.
    pub pattern: String,
    pub action: GuardAction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuardAction {
    /// Refuse the request (400, audited as `llm_guard`).
    Reject,
}

/// Defaults of `llm.anthropic`.
pub mod default_llm {
    use std::time::Duration;

    pub const BASE_URL: &str = "https://api.anthropic.com";
    pub const TIMEOUT: Duration = Duration::from_secs(600);
}

/// Defaults of `limits:`.
pub mod default_limits {
    use std::time::Duration;

    pub const MAX_REQUEST_BYTES: usize = 1024 * 1024;
    pub const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;
    pub const BROADCAST_TIMEOUT: Duration = Duration::from_secs(30);
    pub const BROADCAST_CONCURRENCY: usize = 64;
    pub const MAX_TOOL_NAME_LENGTH: usize = 64;
    /// The shortening of SPEC §13 keeps `max - 9` characters before `_<8 hex>`; below this a
    /// shortened name would keep too little of the original to be recognisable.
    pub const MIN_TOOL_NAME_LENGTH: usize = 16;
}

/// `limits:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub max_request_bytes: usize,
    pub max_response_bytes: usize,
    /// Deadline of a whole broadcast fan-out.
    pub broadcast_timeout: Duration,
    /// Targets of one broadcast called at the same time.
    pub broadcast_concurrency: usize,
    /// Exposed tool names longer than this are shortened (SPEC §13).
    pub max_tool_name_length: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request_bytes: default_limits::MAX_REQUEST_BYTES,
            max_response_bytes: default_limits::MAX_RESPONSE_BYTES,
            broadcast_timeout: default_limits::BROADCAST_TIMEOUT,
            broadcast_concurrency: default_limits::BROADCAST_CONCURRENCY,
            max_tool_name_length: default_limits::MAX_TOOL_NAME_LENGTH,
        }
    }
}

/// `authorization:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationConfig {
    /// What happens when no rule matches; `Deny` when the section omits `default`.
    pub default: Effect,
    /// In file order.
    pub rules: Vec<AuthzRule>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// One rule: for callers holding any of `roles`, the tools matching `allow` are allowed and
/// those matching `deny` denied (deny wins). Patterns use `*` and `?`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthzRule {
    /// Never empty. `scope:<value>` names an OAuth scope (SPEC §13).
    pub roles: Vec<String>,
    pub allow: Vec<String>,
    pub deny: Vec<String>,
}

/// `rate_limits:`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitsConfig {
    pub per_user: Option<Rate>,
    /// Tool-name pattern and its rate, in file order.
    pub per_tool: Vec<(String, Rate)>,
}

/// A token bucket: refilled at `requests_per_minute`, holding at most `burst`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// > 0
    pub requests_per_minute: u32,
    /// > 0
    pub burst: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(name: &str, enabled: bool) -> ServerConfig {
        ServerConfig {
            name: name.into(),
            transport: TransportConfig::Http {
                url: "http://localhost:1".into(),
            },
            timeout: DEFAULT_SERVER_TIMEOUT,
            enabled,
            description: None,
            tags: vec![],
            forward_identity: false,
            auth: None,
        }
    }

    #[test]
    fn server_lookup_by_name() {
        let config = Config {
            servers: vec![server("a", true), server("b", false), server("c", true)],
            ..Config::default()
        };
        assert_eq!(config.server("b").map(|s| s.enabled), Some(false));
        assert!(config.server("d").is_none());
        let enabled: Vec<_> = config.enabled_servers().map(|s| s.name.as_str()).collect();
        assert_eq!(enabled, ["a", "c"]);
    }

    #[test]
    fn env_literal_is_not_printed_by_debug() {
        let value = EnvValue::Literal("ghp_secretvalue".into());
        assert_eq!(format!("{value:?}"), "Literal([REDACTED])");
        let reference = EnvValue::Ref(CredentialRef::Env("TOKEN".into()));
        assert_eq!(format!("{reference:?}"), "Ref(env://TOKEN)");
    }

    #[test]
    fn stdio_server_debug_hides_env_values() {
        let mut config = server("s", true);
        config.transport = TransportConfig::Stdio {
            command: "npx".into(),
            args: vec![],
            env: BTreeMap::from([("TOKEN".into(), EnvValue::Literal("topsecret".into()))]),
        };
        let debug = format!("{config:?}");
        assert!(debug.contains("TOKEN"));
        assert!(!debug.contains("topsecret"));
        assert_eq!(config.transport_type(), "stdio");
    }

    #[test]
    fn limits_defaults() {
        let limits = Limits::default();
        assert_eq!(limits.max_request_bytes, 1_048_576);
        assert_eq!(limits.max_response_bytes, 16_777_216);
        assert_eq!(limits.broadcast_timeout, Duration::from_secs(30));
        assert_eq!(limits.broadcast_concurrency, 64);
        assert_eq!(limits.max_tool_name_length, 64);
    }

    #[test]
    fn names_as_written_in_the_file() {
        assert_eq!(AuthMethod::ApiKey.as_str(), "api_key");
        assert_eq!(AuthMethod::OAuth2.as_str(), "oauth2");
        assert_eq!(CredentialLocation::Body.as_str(), "body");
        assert_eq!(server("x", true).transport_type(), "http");
    }
}
