//! The audit record of SPEC §9 and §13: one JSON object per operation, the same in the file,
//! on stdout and as a row of `audit_log`.
//!
//! Call sites build records with the constructors below (one line each) and hand them to the
//! [`Auditor`](super::Auditor); redaction and the hash chain are applied there, so no call
//! site can forget them.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use super::canonical::UnlinkedCache;
use crate::principal::{Credential, RequestContext, Transport};

/// What happened (the record's `event`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditEvent {
    ToolCall,
    Broadcast,
    ListTools,
    AuthFailure,
    AccessDenied,
    RateLimited,
    ServerHealth,
    ConfigReload,
    /// A request through the Anthropic proxy (SPEC §14).
    LlmCall,
    /// A proxied request refused by a guard.
    LlmGuard,
    /// An API key was made (SPEC §14).
    ApiKeyCreated,
    /// An API key was revoked.
    ApiKeyRevoked,
    /// A user stored their own upstream (Anthropic) key.
    LlmKeySet,
    /// A user removed it.
    LlmKeyRemoved,
    /// `prompts/get` of a backend's prompt (SPEC §14).
    PromptGet,
    /// `resources/read` of a backend's resource.
    ResourceRead,
}

impl AuditEvent {
    pub const ALL: [AuditEvent; 16] = [
        AuditEvent::ToolCall,
        AuditEvent::Broadcast,
        AuditEvent::ListTools,
        AuditEvent::AuthFailure,
        AuditEvent::AccessDenied,
        AuditEvent::RateLimited,
        AuditEvent::ServerHealth,
        AuditEvent::ConfigReload,
        AuditEvent::LlmCall,
        AuditEvent::LlmGuard,
        AuditEvent::ApiKeyCreated,
        AuditEvent::ApiKeyRevoked,
        AuditEvent::LlmKeySet,
        AuditEvent::LlmKeyRemoved,
        AuditEvent::PromptGet,
        AuditEvent::ResourceRead,
    ];

    /// The JSON and database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditEvent::ToolCall => "tool_call",
            AuditEvent::Broadcast => "broadcast",
            AuditEvent::ListTools => "list_tools",
            AuditEvent::AuthFailure => "auth_failure",
            AuditEvent::AccessDenied => "access_denied",
            AuditEvent::RateLimited => "rate_limited",
            AuditEvent::ServerHealth => "server_health",
            AuditEvent::ConfigReload => "config_reload",
            AuditEvent::LlmCall => "llm_call",
            AuditEvent::LlmGuard => "llm_guard",
            AuditEvent::ApiKeyCreated => "api_key_created",
            AuditEvent::ApiKeyRevoked => "api_key_revoked",
            AuditEvent::LlmKeySet => "llm_key_set",
            AuditEvent::LlmKeyRemoved => "llm_key_removed",
            AuditEvent::PromptGet => "prompt_get",
            AuditEvent::ResourceRead => "resource_read",
        }
    }

    pub fn parse(text: &str) -> Option<AuditEvent> {
        Self::ALL.into_iter().find(|e| e.as_str() == text)
    }
}

/// How it ended (the record's `status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditStatus {
    Success,
    Error,
    Denied,
    RateLimited,
    Timeout,
    /// The caller went away or cancelled before the answer (SPEC §14).
    Cancelled,
}

impl AuditStatus {
    pub const ALL: [AuditStatus; 6] = [
        AuditStatus::Success,
        AuditStatus::Error,
        AuditStatus::Denied,
        AuditStatus::RateLimited,
        AuditStatus::Timeout,
        AuditStatus::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuditStatus::Success => "success",
            AuditStatus::Error => "error",
            AuditStatus::Denied => "denied",
            AuditStatus::RateLimited => "rate_limited",
            AuditStatus::Timeout => "timeout",
            AuditStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<AuditStatus> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// The record's `auth` (SPEC §14).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthKind {
    None,
    Jwt,
    ApiKey,
}

impl AuthKind {
    pub fn of(credential: &Credential) -> AuthKind {
        match credential {
            Credential::None => AuthKind::None,
            Credential::Jwt => AuthKind::Jwt,
            Credential::ApiKey(_) => AuthKind::ApiKey,
        }
    }

    /// The JSON and database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthKind::None => "none",
            AuthKind::Jwt => "jwt",
            AuthKind::ApiKey => "api_key",
        }
    }
}

/// One audit record. Field names are the JSON keys and the `audit_log` column names.
///
/// `prev_hash` and `hash` belong to a sink's chain: they are `None` on a record being built
/// and are filled in by each sink as it writes (the file and the database keep separate
/// chains, see `docs/audit.md`).
///
/// A new field must also be written by `canonical::of_record` (its test compares the two).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// UUID v7: time-ordered.
    pub id: Uuid,
    /// UTC, microsecond precision (what PostgreSQL keeps), written as
    /// `2026-11-21T16:19:00.123456Z`.
    #[serde(with = "timestamp_format")]
    pub timestamp: DateTime<Utc>,
    pub event: AuditEvent,
    /// The caller's `X-Request-ID` or a new UUID; `None` for events no request caused.
    pub request_id: Option<String>,
    /// The MCP session; `None` outside MCP sessions.
    pub session_id: Option<String>,
    /// `preferred_username`, else `sub`; `None` when the caller is unknown (auth failures,
    /// events of the gateway itself).
    pub user: Option<String>,
    pub subject: Option<String>,
    pub roles: Vec<String>,
    /// How the caller authenticated: `jwt`, `api_key` or `none` (auth off); absent when the
    /// caller is unknown (auth failures, events of the gateway itself), and in records
    /// written before the field existed (their hashes stay as they were).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthKind>,
    /// The API key the caller used; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    pub client_ip: Option<String>,
    #[serde(with = "transport_format")]
    pub transport: Option<Transport>,
    /// The called name: `<server>__<tool>`, a `broadcast__*` name, …
    pub tool: Option<String>,
    pub mcp_server: Option<String>,
    /// The backend's own tool name.
    pub backend_tool: Option<String>,
    /// The call's arguments, secrets redacted (by the auditor, whatever the caller passes).
    pub parameters: Value,
    pub status: AuditStatus,
    pub duration_ms: Option<u64>,
    pub error: Option<String>,
    /// The parent broadcast: equal to `id` on the parent, the parent's `id` on its children.
    pub broadcast_id: Option<Uuid>,
    /// The backend's result was cut to `limits.max_response_bytes`.
    pub truncated: bool,
    /// Event-specific extras (`state` of `server_health`, what a reload changed, …); an
    /// empty object when there are none. Redacted like `parameters`.
    pub details: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prev_hash: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    /// The canonical bytes both chains hash, kept once the record is final (see
    /// [`UnlinkedCache`]); not part of the record's JSON.
    #[serde(skip)]
    pub unlinked: UnlinkedCache,
}

/// The current time at the precision records keep.
pub fn now_micros() -> DateTime<Utc> {
    truncate_to_micros(Utc::now())
}

pub fn truncate_to_micros(time: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(time.timestamp_micros()).unwrap_or(time)
}

/// The one text form of a record timestamp (fixed width, so it also sorts as text).
pub fn format_timestamp(time: &DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

fn null_if_absent(parameters: Option<&Value>) -> Value {
    parameters.cloned().unwrap_or(Value::Null)
}

impl AuditRecord {
    /// A record of `event` with nothing else known: the base of every constructor.
    pub fn new(event: AuditEvent, status: AuditStatus) -> AuditRecord {
        AuditRecord {
            id: Uuid::now_v7(),
            timestamp: now_micros(),
            event,
            request_id: None,
            session_id: None,
            user: None,
            subject: None,
            roles: Vec::new(),
            auth: None,
            key_id: None,
            client_ip: None,
            transport: None,
            tool: None,
            mcp_server: None,
            backend_tool: None,
            parameters: Value::Null,
            status,
            duration_ms: None,
            error: None,
            broadcast_id: None,
            truncated: false,
            details: empty_object(),
            prev_hash: None,
            hash: None,
            unlinked: UnlinkedCache::default(),
        }
    }

    /// A record about a request: who, from where, by which door.
    pub fn for_request(ctx: &RequestContext, event: AuditEvent, status: AuditStatus) -> Self {
        let mut record = AuditRecord::new(event, status);
        record.request_id = Some(ctx.request_id.clone());
        record.session_id = ctx.session_id.clone();
        record.user = Some(ctx.principal.user.clone());
        record.subject = Some(ctx.principal.subject.clone());
        record.roles = ctx.principal.roles.iter().cloned().collect();
        record.auth = Some(AuthKind::of(&ctx.principal.credential));
        record.key_id = ctx.principal.credential.key_id().map(str::to_owned);
        record.client_ip = ctx.client_ip.clone();
        record.transport = Some(ctx.transport);
        record
    }

    /// A call of one backend tool (`status: success`; set the outcome with
    /// [`AuditRecord::finished`] or the `with_*` methods).
    pub fn tool_call(
        ctx: &RequestContext,
        exposed_name: &str,
        server: &str,
        backend_tool: &str,
        parameters: Option<&Value>,
    ) -> Self {
        let mut record = Self::for_request(ctx, AuditEvent::ToolCall, AuditStatus::Success);
        record.tool = Some(exposed_name.to_owned());
        record.mcp_server = Some(server.to_owned());
        record.backend_tool = Some(backend_tool.to_owned());
        record.parameters = null_if_absent(parameters);
        record
    }

    /// A `prompts/get` or `resources/read` (`event`) of one backend: `tool` is the exposed
    /// prompt name or resource URI (what authorization matched), `backend_tool` the backend's
    /// own name or URI.
    pub fn backend_request(
        ctx: &RequestContext,
        event: AuditEvent,
        exposed: &str,
        server: &str,
        backend_name: &str,
        parameters: Option<&Value>,
    ) -> Self {
        let mut record = Self::for_request(ctx, event, AuditStatus::Success);
        record.tool = Some(exposed.to_owned());
        record.mcp_server = Some(server.to_owned());
        record.backend_tool = Some(backend_name.to_owned());
        record.parameters = null_if_absent(parameters);
        record
    }

    /// The parent record of a broadcast: `id = broadcast_id`. `tool` is the called name
    /// (`broadcast__search_logs`, `broadcast__by_tag__elk`), `backend_tool` the tool the
    /// targets run.
    pub fn broadcast(
        ctx: &RequestContext,
        called_name: &str,
        backend_tool: &str,
        parameters: Option<&Value>,
    ) -> Self {
        let mut record = Self::for_request(ctx, AuditEvent::Broadcast, AuditStatus::Success);
        record.broadcast_id = Some(record.id);
        record.tool = Some(called_name.to_owned());
        record.backend_tool = Some(backend_tool.to_owned());
        record.parameters = null_if_absent(parameters);
        record
    }

    /// One target of the broadcast `parent`: a `tool_call` carrying the parent's
    /// `broadcast_id`, named `<server>__<tool>` (the name authorization rules match).
    pub fn broadcast_target(parent: &AuditRecord, server: &str) -> Self {
        let backend_tool = parent.backend_tool.clone().unwrap_or_default();
        let mut record = parent.clone();
        record.id = Uuid::now_v7();
        record.timestamp = now_micros();
        record.event = AuditEvent::ToolCall;
        record.status = AuditStatus::Success;
        record.tool = Some(format!("{server}__{backend_tool}"));
        record.mcp_server = Some(server.to_owned());
        record.backend_tool = Some(backend_tool);
        record.broadcast_id = Some(parent.id);
        record.duration_ms = None;
        record.error = None;
        record.truncated = false;
        record.details = empty_object();
        record.prev_hash = None;
        record.hash = None;
        record
    }

    /// `tools/list` or `GET /tools`: `details.count` tools were listed.
    pub fn list_tools(ctx: &RequestContext, count: usize, server: Option<&str>) -> Self {
        let mut record = Self::for_request(ctx, AuditEvent::ListTools, AuditStatus::Success);
        record.mcp_server = server.map(str::to_owned);
        record.details = json!({ "count": count });
        record
    }

    /// A request refused by authentication. `reason` must not quote the token.
    pub fn auth_failure(
        request_id: &str,
        client_ip: Option<&str>,
        transport: Transport,
        reason: &str,
    ) -> Self {
        let mut record = AuditRecord::new(AuditEvent::AuthFailure, AuditStatus::Denied);
        record.request_id = Some(request_id.to_owned());
        record.client_ip = client_ip.map(str::to_owned);
        record.transport = Some(transport);
        record.error = Some(reason.to_owned());
        record
    }

    /// A call refused by authorization (`event: access_denied, status: denied`).
    pub fn access_denied(ctx: &RequestContext, tool: &str, parameters: Option<&Value>) -> Self {
        let mut record = Self::for_request(ctx, AuditEvent::AccessDenied, AuditStatus::Denied);
        record.tool = Some(tool.to_owned());
        record.parameters = null_if_absent(parameters);
        record.error = Some("access denied".to_owned());
        record
    }

    /// A call refused by a rate limit (`event: rate_limited, status: rate_limited`).
    pub fn rate_limited(
        ctx: &RequestContext,
        tool: &str,
        parameters: Option<&Value>,
        retry_after: Duration,
    ) -> Self {
        let mut record = Self::for_request(ctx, AuditEvent::RateLimited, AuditStatus::RateLimited);
        record.tool = Some(tool.to_owned());
        record.parameters = null_if_absent(parameters);
        record.error = Some("rate limit exceeded".to_owned());
        record.details = json!({ "retry_after_s": retry_after.as_secs().max(1) });
        record
    }

    /// A backend went up (`status: success`) or down (`status: error`); `details.state` is
    /// `up` or `down`. `error` must be a category, never a URL.
    pub fn server_health(server: &str, up: bool, error: Option<&str>) -> Self {
        let status = if up {
            AuditStatus::Success
        } else {
            AuditStatus::Error
        };
        let mut record = AuditRecord::new(AuditEvent::ServerHealth, status);
        record.mcp_server = Some(server.to_owned());
        record.error = error.map(str::to_owned);
        record.details = json!({ "state": if up { "up" } else { "down" } });
        record
    }

    /// A config reload: applied (`Ok(changes)`, e.g. `{"added":[…],"removed":[…]}`) or
    /// refused (`Err(why)`, `status: error`).
    pub fn config_reload(outcome: Result<Value, &str>) -> Self {
        match outcome {
            Ok(changes) => {
                let mut record = AuditRecord::new(AuditEvent::ConfigReload, AuditStatus::Success);
                record.details = changes;
                record
            }
            Err(why) => {
                let mut record = AuditRecord::new(AuditEvent::ConfigReload, AuditStatus::Error);
                record.error = Some(why.to_owned());
                record
            }
        }
    }

    /// Set the outcome of a call in one go.
    pub fn finished(
        mut self,
        status: AuditStatus,
        duration: Duration,
        error: Option<String>,
    ) -> Self {
        self.status = status;
        self.duration_ms = Some(duration_ms(duration));
        self.error = error;
        self
    }

    pub fn with_status(mut self, status: AuditStatus) -> Self {
        self.status = status;
        self
    }

    pub fn with_duration(mut self, duration: Duration) -> Self {
        self.duration_ms = Some(duration_ms(duration));
        self
    }

    pub fn with_error(mut self, error: impl Into<String>) -> Self {
        self.error = Some(error.into());
        self
    }

    pub fn with_truncated(mut self, truncated: bool) -> Self {
        self.truncated = truncated;
        self
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    pub fn with_timestamp(mut self, timestamp: DateTime<Utc>) -> Self {
        self.timestamp = truncate_to_micros(timestamp);
        self
    }
}

fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// Timestamps as fixed-width RFC 3339 with microseconds, so that text forms compare like
/// times and survive PostgreSQL's `TIMESTAMPTZ` unchanged.
mod timestamp_format {
    use chrono::{DateTime, NaiveDateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(time: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_timestamp(time))
    }

    /// What `format_timestamp` writes: RFC 3339, and for a year RFC 3339 cannot hold (before
    /// 0 or after 9999: a broken clock, a constructed record) the same layout with a signed
    /// year, so that every record written reads back.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .or_else(|e| {
                text.strip_suffix('Z')
                    .and_then(|t| NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.f").ok())
                    .map(|t| t.and_utc())
                    .ok_or(e)
            })
            .map_err(serde::de::Error::custom)
    }
}

/// `principal::Transport` is shared with the rest of the gateway and only serializes; the
/// audit record also reads itself back (spool, verification).
mod transport_format {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::principal::Transport;

    pub fn serialize<S: Serializer>(t: &Option<Transport>, s: S) -> Result<S::Ok, S::Error> {
        t.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Transport>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(text) => super::parse_transport(&text)
                .map(Some)
                .ok_or_else(|| serde::de::Error::custom("transport must be mcp, rest or cli")),
        }
    }
}

pub fn transport_str(transport: Transport) -> &'static str {
    match transport {
        Transport::Mcp => "mcp",
        Transport::Rest => "rest",
        Transport::Cli => "cli",
    }
}

pub fn parse_transport(text: &str) -> Option<Transport> {
    match text {
        "mcp" => Some(Transport::Mcp),
        "rest" => Some(Transport::Rest),
        "cli" => Some(Transport::Cli),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::principal::Principal;

    fn ctx() -> RequestContext {
        RequestContext {
            endpoint: Default::default(),
            principal: Principal::from(crate::principal::Identity {
                user: "testuser".into(),
                subject: "sub-1".into(),
                roles: BTreeSet::from(["user".to_owned(), "auditor".to_owned()]),
                scopes: BTreeSet::new(),
                credential: crate::principal::Credential::Jwt,
            }),
            request_id: "req-1".into(),
            session_id: Some("sess-1".into()),
            client_ip: Some("127.0.0.1".into()),
            transport: Transport::Mcp,
            span: tracing::Span::none(),
        }
    }

    #[test]
    fn every_timestamp_written_reads_back_years_beyond_rfc_3339_included() {
        use chrono::TimeZone;
        for year in [-5000, 0, 1970, 2026, 9999, 10000, 262_000] {
            let time = Utc.with_ymd_and_hms(year, 7, 1, 12, 30, 5).unwrap()
                + chrono::Duration::microseconds(123_456);
            let record =
                AuditRecord::new(AuditEvent::ToolCall, AuditStatus::Success).with_timestamp(time);
            let line = serde_json::to_string(&record).unwrap();
            let back: AuditRecord = serde_json::from_str(&line).expect(&line);
            assert_eq!(back.timestamp, time, "{line}");
        }
        let mut value =
            serde_json::to_value(AuditRecord::new(AuditEvent::ToolCall, AuditStatus::Success))
                .unwrap();
        value["timestamp"] = json!("yesterday");
        assert!(serde_json::from_value::<AuditRecord>(value).is_err());
    }

    #[test]
    fn json_keys_are_the_spec_keys() {
        let record = AuditRecord::tool_call(
            &ctx(),
            "prod-elk-1__search_logs",
            "prod-elk-1",
            "search_logs",
            Some(&json!({"q": "x"})),
        );
        let value = serde_json::to_value(&record).unwrap();
        let keys: BTreeSet<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let expected = BTreeSet::from([
            "id",
            "timestamp",
            "event",
            "request_id",
            "session_id",
            "user",
            "subject",
            "roles",
            "client_ip",
            "transport",
            "tool",
            "mcp_server",
            "backend_tool",
            "parameters",
            "status",
            "duration_ms",
            "error",
            "broadcast_id",
            "truncated",
            "details",
            "auth",
        ]);
        assert_eq!(keys, expected);
        assert_eq!(value["auth"], "jwt");
        assert_eq!(value["event"], "tool_call");
        assert_eq!(value["status"], "success");
        assert_eq!(value["transport"], "mcp");
        assert_eq!(value["user"], "testuser");
        assert_eq!(value["roles"], json!(["auditor", "user"]));
        assert_eq!(value["broadcast_id"], Value::Null);
        assert_eq!(value["truncated"], false);
    }

    #[test]
    fn timestamp_is_fixed_width_utc_micros() {
        let t = DateTime::parse_from_rfc3339("2026-11-21T16:19:00.5+02:00")
            .unwrap()
            .with_timezone(&Utc);
        let record =
            AuditRecord::new(AuditEvent::ListTools, AuditStatus::Success).with_timestamp(t);
        let value = serde_json::to_value(&record).unwrap();
        assert_eq!(value["timestamp"], "2026-11-21T14:19:00.500000Z");
        assert_eq!(now_micros().timestamp_subsec_nanos() % 1000, 0);
    }

    #[test]
    fn record_round_trips_through_json() {
        let record = AuditRecord::tool_call(&ctx(), "a__b", "a", "b", Some(&json!({"n": 1.5})))
            .finished(
                AuditStatus::Timeout,
                Duration::from_millis(45),
                Some("timeout after 30 s".into()),
            )
            .with_truncated(true);
        let text = serde_json::to_string(&record).unwrap();
        let back: AuditRecord = serde_json::from_str(&text).unwrap();
        assert_eq!(back, record);
    }

    #[test]
    fn broadcast_parent_and_targets_share_the_broadcast_id() {
        let parent = AuditRecord::broadcast(
            &ctx(),
            "broadcast__search_logs",
            "search_logs",
            Some(&json!({"q": 1})),
        );
        assert_eq!(parent.event, AuditEvent::Broadcast);
        assert_eq!(parent.broadcast_id, Some(parent.id));
        let child = AuditRecord::broadcast_target(&parent, "prod-elk-1").finished(
            AuditStatus::Error,
            Duration::from_millis(3),
            Some("x".into()),
        );
        assert_eq!(child.event, AuditEvent::ToolCall);
        assert_eq!(child.broadcast_id, Some(parent.id));
        assert_ne!(child.id, parent.id);
        assert_eq!(child.tool.as_deref(), Some("prod-elk-1__search_logs"));
        assert_eq!(child.mcp_server.as_deref(), Some("prod-elk-1"));
        assert_eq!(child.backend_tool.as_deref(), Some("search_logs"));
        assert_eq!(child.user.as_deref(), Some("testuser"));
        assert_eq!(child.request_id.as_deref(), Some("req-1"));
        assert_eq!(child.parameters, json!({"q": 1}));
    }

    #[test]
    fn refusals_have_their_event_and_status() {
        let denied = AuditRecord::access_denied(&ctx(), "a__delete_all", None);
        assert_eq!(
            (denied.event, denied.status),
            (AuditEvent::AccessDenied, AuditStatus::Denied)
        );
        let limited = AuditRecord::rate_limited(&ctx(), "a__b", None, Duration::from_secs(7));
        assert_eq!(
            (limited.event, limited.status),
            (AuditEvent::RateLimited, AuditStatus::RateLimited)
        );
        assert_eq!(limited.details["retry_after_s"], 7);
        let failure = AuditRecord::auth_failure("r", Some("10.0.0.1"), Transport::Rest, "expired");
        assert_eq!(failure.event, AuditEvent::AuthFailure);
        assert_eq!(failure.user, None);
        assert_eq!(failure.transport, Some(Transport::Rest));
    }

    #[test]
    fn server_health_and_reload_records() {
        let up = AuditRecord::server_health("db", true, None);
        assert_eq!(up.status, AuditStatus::Success);
        assert_eq!(up.details["state"], "up");
        let down = AuditRecord::server_health("db", false, Some("connection refused"));
        assert_eq!(down.status, AuditStatus::Error);
        assert_eq!(down.details["state"], "down");
        let refused = AuditRecord::config_reload(Err("servers.x.url: not a URL"));
        assert_eq!(refused.event, AuditEvent::ConfigReload);
        assert_eq!(refused.status, AuditStatus::Error);
        let applied = AuditRecord::config_reload(Ok(json!({"added": ["x"]})));
        assert_eq!(applied.status, AuditStatus::Success);
        assert_eq!(applied.details["added"], json!(["x"]));
    }

    #[test]
    fn event_and_status_names_parse_back() {
        for event in AuditEvent::ALL {
            assert_eq!(AuditEvent::parse(event.as_str()), Some(event));
            assert_eq!(serde_json::to_value(event).unwrap(), event.as_str());
        }
        for status in AuditStatus::ALL {
            assert_eq!(AuditStatus::parse(status.as_str()), Some(status));
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
        assert_eq!(AuditStatus::parse("SUCCESS"), None);
        assert_eq!(parse_transport("cli"), Some(Transport::Cli));
        assert_eq!(parse_transport("ftp"), None);
    }

    #[test]
    fn bad_transport_or_timestamp_is_an_error_not_a_panic() {
        let mut value = serde_json::to_value(AuditRecord::new(
            AuditEvent::ListTools,
            AuditStatus::Success,
        ))
        .unwrap();
        value["transport"] = json!("ftp");
        assert!(serde_json::from_value::<AuditRecord>(value.clone()).is_err());
        value["transport"] = Value::Null;
        value["timestamp"] = json!("yesterday");
        assert!(serde_json::from_value::<AuditRecord>(value).is_err());
    }
}
