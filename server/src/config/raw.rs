//! The raw shapes of `mcp_servers.yaml`, as written, before any check.
//!
//! Every field is a [`Field`], whose deserialization never fails: a value of the wrong type
//! is recorded, not raised. serde alone stops at the first error; this way validation sees
//! the whole file and reports every problem at once. Keys the gateway does not know are
//! collected in `unknown` and reported by validation.
//!
//! These types are deliberately not `Debug`: they hold values as written, secrets included.

use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer};
use serde_yaml::{Mapping, Value};

/// One key of a raw mapping.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Field<T> {
    /// The key is not in the file.
    #[default]
    Absent,
    /// The key is there with no value (`key:` or `key: null`).
    Null,
    Present(T),
    /// The value has another type than the key takes; holds what was found.
    WrongType(ValueKind),
}

impl<T> Field<T> {
    /// Whether the key was written with a value (a null value counts as not written).
    pub fn is_given(&self) -> bool {
        matches!(self, Field::Present(_) | Field::WrongType(_))
    }
}

impl<T: DeserializeOwned> Field<T> {
    pub fn from_value(value: Value) -> Self {
        if value.is_null() {
            return Field::Null;
        }
        let kind = ValueKind::of(&value);
        T::deserialize(value).map_or(Field::WrongType(kind), Field::Present)
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Value::deserialize(deserializer).map(Field::from_value)
    }
}

/// The kind of a YAML value, to say what was found instead of what was expected (without
/// quoting the value, which may be a secret).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    Null,
    Bool,
    Number,
    String,
    List,
    Mapping,
    Tagged,
}

impl ValueKind {
    pub fn of(value: &Value) -> Self {
        match value {
            Value::Null => ValueKind::Null,
            Value::Bool(_) => ValueKind::Bool,
            Value::Number(_) => ValueKind::Number,
            Value::String(_) => ValueKind::String,
            Value::Sequence(_) => ValueKind::List,
            Value::Mapping(_) => ValueKind::Mapping,
            Value::Tagged(_) => ValueKind::Tagged,
        }
    }

    /// `a string`, `a list` …, for messages.
    pub fn described(self) -> &'static str {
        match self {
            ValueKind::Null => "nothing",
            ValueKind::Bool => "true/false",
            ValueKind::Number => "a number",
            ValueKind::String => "a string",
            ValueKind::List => "a list",
            ValueKind::Mapping => "a mapping",
            ValueKind::Tagged => "a tagged value",
        }
    }
}

/// A mapping whose keys the user chooses (server names, env names, tool patterns), in file
/// order, each value kept as a [`Field`] so that one bad entry does not hide the others.
pub struct RawMap<T>(pub Vec<(String, Field<T>)>);

impl<'de, T: DeserializeOwned> Deserialize<'de> for RawMap<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mapping = Mapping::deserialize(deserializer)?;
        Ok(RawMap(
            mapping
                .into_iter()
                // Keys were made strings before deserialization (see `normalize`).
                .map(|(key, value)| (key_text(&key), Field::from_value(value)))
                .collect(),
        ))
    }
}

/// A mapping key as text, for messages and paths.
pub fn key_text(key: &Value) -> String {
    match key {
        Value::String(text) => text.clone(),
        Value::Number(number) => number.to_string(),
        Value::Bool(flag) => flag.to_string(),
        Value::Null => "~".to_owned(),
        Value::Sequence(_) | Value::Mapping(_) | Value::Tagged(_) => "<complex key>".to_owned(),
    }
}

/// A scalar taken as text: `args` and `env` values may be written `8080` or `true` and are
/// passed to the process as the text they spell.
pub struct RawScalar(pub String);

impl<'de> Deserialize<'de> for RawScalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::String(text) => Ok(RawScalar(text)),
            Value::Number(number) => Ok(RawScalar(number.to_string())),
            Value::Bool(flag) => Ok(RawScalar(flag.to_string())),
            other => Err(serde::de::Error::custom(format_args!(
                "expected a scalar, found {}",
                ValueKind::of(&other).described()
            ))),
        }
    }
}

/// A list whose items are checked one by one.
pub type RawList<T> = Vec<Field<T>>;

/// The whole file.
#[derive(Default, Deserialize)]
#[serde(default)]
pub struct RawConfig {
    /// Backends by name. Missing or empty: a gateway with no backends.
    pub servers: Field<RawMap<RawServer>>,
    /// Tool authorization by role. Missing: every authenticated caller may call every tool.
    pub authorization: Field<RawAuthorization>,
    /// Token-bucket rate limits.
    pub rate_limits: Field<RawRateLimits>,
    /// Size, time and concurrency limits.
    pub limits: Field<RawLimits>,
    /// The Anthropic API proxy. Missing: no model is proxied.
    pub llm: Field<RawLlm>,
    #[serde(flatten)]
    pub unknown: Mapping,
}

/// One backend.
#[derive(Default, Deserialize)]
#[serde(default)]
pub struct RawServer {
    /// `http` (streamable HTTP), `sse` or `stdio`. Required.
    #[serde(rename = "type")]
    pub transport: Field<String>,
    /// Endpoint of an `http` or `sse` backend.
    pub url: Field<String>,
    /// Program of a `stdio` backend.
    pub command: Field<String>,
    /// Arguments of the `stdio` program.
    pub args: Field<RawList<RawScalar>>,
    /// Environment of the `stdio` program; values may be `env://` / `file://` references.
    pub env: Field<RawMap<RawScalar>>,
    /// Seconds per call (fractional allowed); default 30.
    pub timeout: Field<serde_yaml::Number>,
    /// Default true.
    pub enabled: Field<bool>,
    /// Free text shown in listings.
    pub description: Field<String>,
    /// Labels; servers sharing a tag get a `broadcast__by_tag__<tag>` tool.
    pub tags: Field<RawList<String>>,
    /// Send `X-User-ID` and `X-Request-ID` to this backend; default false.
    pub forward_identity: Field<bool>,
    /// How the gateway authenticates to this backend; null or missing = no credential.
    pub auth: Field<RawAuth>,
    #[serde(flatten)]
    pub unknown: Mapping,
}

/// The `auth:` block of a server.
#[derive(Default, Deserialize)]
#[serde(default)]
pub struct RawAuth {
    /// `api_key`, `bearer`, `basic`, `oauth2`, `custom` or `none`.
    pub method: Field<String>,
    /// `header`, `query` or `body`; default `header`.
    pub location: Field<String>,
    /// Header, query parameter or argument name; defaults depend on `method`.
    pub name: Field<String>,
    /// `raw`, `prefix` or `template`; defaults depend on `method`.
    pub format: Field<String>,
    /// Text put before the credential when `format` is `prefix`.
    pub prefix: Field<String>,
    /// Text containing `{credential}` when `format` is `template`.
    pub template: Field<String>,
    /// `env://VAR` or `file:///path`. Required except for `oauth2`.
    pub credential_ref: Field<String>,
    /// `oauth2`: the token endpoint.
    pub token_url: Field<String>,
    /// `oauth2`: the client id.
    pub client_id: Field<String>,
    /// `oauth2`: reference to the client secret.
    pub client_secret_ref: Field<String>,
    /// `oauth2`: space-separated scopes to request.
    pub scope: Field<String>,
    #[serde(flatten)]
    pub unknown: Mapping,
}

/// `authorization:`.
#[derive(Default, Deserialize)]
#[serde(default)]
pub struct RawAuthorization {
    /// `allow` or `deny` when no rule matches; default `deny`.
    pub default: Field<String>,
    /// Rules, all of which apply to a caller holding one of their roles.
    pub rules: Field<RawList<RawAuthzRule>>,
    #[serde(flatten)]
    pub unknown: Mapping,
}

/// One authorization rule.
#[derive(Default, Deserialize)]
#[serde(default)]
pub struct RawAuthzRule {
    /// Roles (or `scope:<value>`) the rule applies to; required, not empty.
    pub roles: Field<RawList<String>>,
    /// Exposed tool-name patterns (`*`, `?`) allowed.
    pub allow: Field<RawList<String>>,
    /// Exposed tool-name patterns denied; a deny wins over every allow.
    pub deny: Field<RawList<String>>,
    #[serde(flatten)]
    pub unknown: Mapping,
}

/// `rate_limits:`.
#[derive(Default, Deserialize)]
#[serde(default)]
pub struct RawRateLimits {
    /// One bucket per user.
    pub per_user: Field<RawRate>,
    /// One bucket per user and tool-name pattern.
    pub per_tool: Field<RawMap<RawRate>>,
    #[serde(flatten)]
    pub unknown: Mapping,
}

/// A token bucket.
#[derive(Default, Deserialize)]
#[serde(default)]
pub struct RawRate {
    /// Refill rate; a positive whole number.
    pub requests_per_minute: Field<serde_yaml::Number>,
    /// Bucket size; a positive whole number.
    pub burst: Field<serde_yaml::Number>,
    #[serde(flatten)]
    pub unknown: Mapping,
}

/// `limits:`.
#[derive(Default, Deserialize)]
#[serde(default)]
pub struct RawLimits {
    /// Largest request body accepted, in bytes.
    pub max_request_bytes: Field<serde_yaml::Number>,
    /// Largest backend result passed on, in bytes; longer ones are cut.
    pub max_response_bytes: Field<serde_yaml::Number>,
    /// Seconds for a whole broadcast (fractional allowed).
    pub broadcast_timeout: Field<serde_yaml::Number>,
    /// Targets of one broadcast called at the same time.
    pub broadcast_concurrency: Field<serde_yaml::Number>,
    /// Exposed tool names longer than this are shortened.
    pub max_tool_name_length: Field<serde_yaml::Number>,
    #[serde(flatten)]
    pub unknown: Mapping,
}

/// `llm:`.
#[derive(Default, Deserialize)]
#[serde(default)]
pub struct RawLlm {
    /// The upstream; required.
    pub anthropic: Field<RawAnthropic>,
    pub limits: Field<RawLlmLimits>,
    /// Regular expressions matched against a request's text.
    pub guards: Field<RawList<RawGuard>>,
    /// Keep `messages` and `system` in audit records; default false.
    pub log_prompts: Field<bool>,
    #[serde(flatten)]
    pub unknown: Mapping,
}

/// `llm.anthropic:`.
#[derive(Default, Deserialize)]
#[serde(default)]
pub struct RawAnthropic {
    /// Default `https://api.anthropic.com`.
    pub base_url: Field<String>,
    /// `env://VAR` or `file:///path`: the gateway's key, sent as `x-api-key`.
    pub api_key_ref: Field<String>,
    /// Seconds a request may take, streams included; default 600.
    pub timeout: Field<serde_yaml::Number>,
    /// Model-name patterns forwarded; default every model.
    pub models: Field<RawList<String>>,
    #[serde(flatten)]
    pub unknown: Mapping,
}

/// `llm.limits:`.
#[derive(Default, Deserialize)]
#[serde(default)]
pub struct RawLlmLimits {
    pub per_user: Field<RawLlmBudget>,
    #[serde(flatten)]
    pub unknown: Mapping,
}

/// `llm.limits.per_user:`; each budget positive and optional.
#[derive(Default, Deserialize)]
#[serde(default)]
pub struct RawLlmBudget {
    pub requests_per_minute: Field<serde_yaml::Number>,
    pub tokens_per_minute: Field<serde_yaml::Number>,
    pub tokens_per_day: Field<serde_yaml::Number>,
    #[serde(flatten)]
    pub unknown: Mapping,
}

/// One of `llm.guards`.
#[derive(Default, Deserialize)]
#[serde(default)]
pub struct RawGuard {
    /// A regular expression (Rust `regex` syntax); required.
    pub pattern: Field<String>,
    /// `reject` (the default).
    pub action: Field<String>,
    #[serde(flatten)]
    pub unknown: Mapping,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> RawConfig {
        serde_yaml::from_str(text).unwrap()
    }

    #[test]
    fn field_records_absent_null_present_and_wrong_type() {
        let config = raw("servers:\n  a:\n    timeout: 1.5\n    enabled:\n    url: [x]\n");
        let Field::Present(RawMap(servers)) = config.servers else {
            panic!("servers")
        };
        let (name, Field::Present(server)) = servers.into_iter().next().unwrap() else {
            panic!("server a")
        };
        assert_eq!(name, "a");
        assert!(matches!(server.timeout, Field::Present(n) if n.as_f64() == Some(1.5)));
        assert_eq!(server.enabled, Field::Null);
        assert_eq!(server.url, Field::WrongType(ValueKind::List));
        assert_eq!(server.command, Field::Absent);
    }

    #[test]
    fn unknown_keys_are_collected_not_refused() {
        let config = raw("servers: {}\nextra: 1\nmore: [a]\n");
        let keys: Vec<_> = config.unknown.keys().map(key_text).collect();
        assert_eq!(keys, ["extra", "more"]);
    }

    #[test]
    fn raw_map_keeps_file_order_and_bad_entries() {
        let config = raw("servers:\n  z: {}\n  a: [1]\n  m:\n");
        let Field::Present(RawMap(servers)) = config.servers else {
            panic!("servers")
        };
        let names: Vec<_> = servers.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["z", "a", "m"]);
        assert!(matches!(servers[1].1, Field::WrongType(ValueKind::List)));
        assert!(matches!(servers[2].1, Field::Null));
    }

    #[test]
    fn scalars_become_text() {
        let config = raw("servers:\n  a:\n    args: [x, 8080, true, 1.5, [nested]]\n");
        let Field::Present(RawMap(servers)) = config.servers else {
            panic!("servers")
        };
        let Field::Present(server) = &servers[0].1 else {
            panic!("server")
        };
        let Field::Present(args) = &server.args else {
            panic!("args")
        };
        let texts: Vec<_> = args
            .iter()
            .map(|arg| match arg {
                Field::Present(RawScalar(text)) => text.clone(),
                other => format!("{:?}", std::mem::discriminant(other)),
            })
            .collect();
        assert_eq!(texts[..4], ["x", "8080", "true", "1.5"]);
        assert!(matches!(args[4], Field::WrongType(ValueKind::List)));
    }

    #[test]
    fn a_whole_section_of_the_wrong_type() {
        let config = raw("servers: [a, b]\nlimits: 5\n");
        assert_eq!(config.servers.kind(), Some(ValueKind::List));
        assert_eq!(config.limits.kind(), Some(ValueKind::Number));
    }

    impl<T> Field<T> {
        fn kind(&self) -> Option<ValueKind> {
            match self {
                Field::WrongType(kind) => Some(*kind),
                _ => None,
            }
        }
    }

    #[test]
    fn key_texts() {
        assert_eq!(key_text(&Value::from("a")), "a");
        assert_eq!(key_text(&Value::from(3)), "3");
        assert_eq!(key_text(&Value::from(true)), "true");
        assert_eq!(key_text(&Value::Null), "~");
        assert_eq!(key_text(&Value::Sequence(vec![])), "<complex key>");
    }
}
