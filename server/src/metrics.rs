//! Prometheus metrics, served at `GET /metrics` (open, like `/health`).
//!
//! Labels are servers and outcomes only — never users (SPEC §13): a per-user label would leak
//! who uses the gateway to anyone who can scrape it, and grow without bound.

use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// How a backend call ended.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)] // label values are snake_case on the wire
pub enum Outcome {
    success,
    tool_error,
    unavailable,
    timeout,
    backend_error,
    cancelled,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    server: String,
    outcome: Outcome,
}

/// Why a call was refused before any backend was asked.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)] // label values are snake_case on the wire
pub enum Refused {
    denied,
    rate_limited,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusedLabels {
    reason: Refused,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AuthFailureLabels {
    /// [`crate::authn::AuthError::reason`]: a bounded set.
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ToolLabels {
    server: String,
    tool: String,
    outcome: Outcome,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    /// One of [`route_of`]'s templates: a bounded set.
    route: &'static str,
    status: u16,
}

/// The route template of `path`, a label of bounded cardinality (names in paths are folded).
pub fn route_of(path: &str) -> &'static str {
    match path {
        "/" => "/",
        "/mcp" => "/mcp",
        "/sse" => "/sse",
        "/messages" => "/messages",
        "/health" => "/health",
        "/metrics" => "/metrics",
        "/tools" => "/tools",
        "/mcp/servers" => "/mcp/servers",
        "/mcp/list-tools" => "/mcp/list-tools",
        "/mcp/invoke" => "/mcp/invoke",
        "/mcp/invoke-broadcast" => "/mcp/invoke-broadcast",
        "/audit" => "/audit",
        "/audit/verify" => "/audit/verify",
        "/config" => "/config",
        "/whoami" => "/whoami",
        "/api/keys" => "/api/keys",
        "/api/llm/key" => "/api/llm/key",
        _ if path.starts_with("/api/keys/") => "/api/keys/{id}",
        _ if path.starts_with("/tools/") && path.ends_with("/invoke") => {
            "/tools/{tool_name}/invoke"
        }
        _ if path.starts_with("/mcp/server/") && path.ends_with("/info") => {
            "/mcp/server/{name}/info"
        }
        _ if path.starts_with("/mcp/tag/") => "/mcp/tag/{tag}",
        _ if path.starts_with("/mcp/server/") => "/mcp/server/{name}",
        _ if path.starts_with("/.well-known/") => "/.well-known/*",
        _ if path == "/ui" || path.starts_with("/ui/") => "/ui/*",
        "/anthropic/v1/messages" => "/anthropic/v1/messages",
        "/anthropic/v1/messages/count_tokens" => "/anthropic/v1/messages/count_tokens",
        "/anthropic/v1/models" => "/anthropic/v1/models",
        _ => "other",
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServerLabels {
    server: String,
}

/// The outcome label of a finished backend call.
pub fn outcome_of(
    outcome: &Result<rmcp::model::CallToolResult, crate::upstream::CallError>,
) -> Outcome {
    use crate::upstream::CallError;
    match outcome {
        Ok(result) if result.is_error == Some(true) => Outcome::tool_error,
        Ok(_) => Outcome::success,
        Err(CallError::Unavailable) => Outcome::unavailable,
        Err(CallError::Timeout(_)) => Outcome::timeout,
        Err(CallError::Cancelled) => Outcome::cancelled,
        Err(CallError::Rejected(_) | CallError::Transport(_)) => Outcome::backend_error,
    }
}

/// Every metric of the gateway.
pub struct Metrics {
    registry: Registry,
    calls: Family<CallLabels, Counter>,
    tool_calls: Family<ToolLabels, Counter>,
    call_seconds: Family<ServerLabels, Histogram>,
    request_seconds: Family<RequestLabels, Histogram>,
    backend_up: Family<ServerLabels, Gauge>,
    broadcasts: Counter,
    refused: Family<RefusedLabels, Counter>,
    auth_failures: Family<AuthFailureLabels, Counter>,
    listed_tools: Gauge,
    /// Audit records waiting for the database (set by the audit layer).
    pub audit_pending: Gauge,
    llm_tokens: Family<TokenLabels, Counter>,
    llm_requests: Family<ModelStatusLabels, Counter>,
}

/// `gen_ai_client_token_usage_total`: tokens of proxied model requests, by kind and model.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TokenLabels {
    token_type: &'static str,
    model: String,
}

/// `gen_ai_requests_total`: proxied model requests by model and HTTP status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelStatusLabels {
    model: String,
    status: u16,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        // The gateway's own metrics are `mcp_gateway_*`; the model proxy's follow the
        // OpenTelemetry GenAI names (`gen_ai_*`, SPEC §14), without that prefix.
        let mut root = Registry::default();
        let registry = root.sub_registry_with_prefix("mcp_gateway");
        let calls = Family::<CallLabels, Counter>::default();
        let call_seconds = Family::<ServerLabels, Histogram>::new_with_constructor(|| {
            // 1 ms … ~65 s
            Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
                0.001, 2.0, 17,
            ))
        });
        let tool_calls = Family::<ToolLabels, Counter>::default();
        let request_seconds = Family::<RequestLabels, Histogram>::new_with_constructor(|| {
            // 0.1 ms … ~6.5 s
            Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
                0.0001, 2.0, 17,
            ))
        });
        let backend_up = Family::<ServerLabels, Gauge>::default();
        let broadcasts = Counter::default();
        let refused = Family::<RefusedLabels, Counter>::default();
        let auth_failures = Family::<AuthFailureLabels, Counter>::default();
        let listed_tools = Gauge::default();
        let audit_pending = Gauge::default();
        registry.register(
            "backend_calls",
            "Tool calls sent to backends, by server and outcome",
            calls.clone(),
        );
        registry.register(
            "backend_call_duration_seconds",
            "Duration of tool calls to backends",
            call_seconds.clone(),
        );
        registry.register(
            "tool_calls",
            "Tool calls sent to backends, by server, tool and outcome",
            tool_calls.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Duration of HTTP requests (an MCP stream: until its response starts), by route and status",
            request_seconds.clone(),
        );
        registry.register(
            "backend_up",
            "1 while the backend is connected and its tools are known",
            backend_up.clone(),
        );
        registry.register("broadcasts", "Broadcast fan-outs run", broadcasts.clone());
        registry.register(
            "refused_calls",
            "Calls (and broadcast targets) refused before a backend was asked, by reason",
            refused.clone(),
        );
        registry.register(
            "auth_failures",
            "Requests refused for their bearer token (401), by reason",
            auth_failures.clone(),
        );
        registry.register(
            "catalog_listed_tools",
            "Tools the catalog lists (before per-caller filtering)",
            listed_tools.clone(),
        );
        registry.register(
            "audit_pending_records",
            "Audit records queued for the database",
            audit_pending.clone(),
        );
        let llm_tokens = Family::<TokenLabels, Counter>::default();
        let llm_requests = Family::<ModelStatusLabels, Counter>::default();
        root.register(
            "gen_ai_client_token_usage",
            "Tokens of model requests through the Anthropic proxy, by token type and model",
            llm_tokens.clone(),
        );
        root.register(
            "gen_ai_requests",
            "Model requests through the Anthropic proxy, by model and HTTP status",
            llm_requests.clone(),
        );
        Metrics {
            registry: root,
            calls,
            tool_calls,
            call_seconds,
            request_seconds,
            backend_up,
            broadcasts,
            refused,
            auth_failures,
            listed_tools,
            audit_pending,
            llm_tokens,
            llm_requests,
        }
    }

    /// One request through the Anthropic proxy, answered with `status`, and the tokens it
    /// used (`[(token_type, count)]`, counts of 0 left out).
    pub fn record_llm_request(&self, model: &str, status: u16, tokens: &[(&'static str, u64)]) {
        self.llm_requests
            .get_or_create(&ModelStatusLabels {
                model: model.to_owned(),
                status,
            })
            .inc();
        for &(token_type, count) in tokens {
            if count > 0 {
                self.llm_tokens
                    .get_or_create(&TokenLabels {
                        token_type,
                        model: model.to_owned(),
                    })
                    .inc_by(count);
            }
        }
    }

    pub fn record_call(&self, server: &str, tool: &str, outcome: Outcome, duration: Duration) {
        self.tool_calls
            .get_or_create(&ToolLabels {
                server: server.to_owned(),
                tool: tool.to_owned(),
                outcome,
            })
            .inc();
        self.calls
            .get_or_create(&CallLabels {
                server: server.to_owned(),
                outcome,
            })
            .inc();
        self.call_seconds
            .get_or_create(&ServerLabels {
                server: server.to_owned(),
            })
            .observe(duration.as_secs_f64());
    }

    /// One answered HTTP request (`route` from [`route_of`]).
    pub fn record_request(&self, route: &'static str, status: u16, duration: Duration) {
        self.request_seconds
            .get_or_create(&RequestLabels { route, status })
            .observe(duration.as_secs_f64());
    }

    pub fn record_broadcast(&self) {
        self.broadcasts.inc();
    }

    pub fn record_refused(&self, reason: Refused) {
        self.refused.get_or_create(&RefusedLabels { reason }).inc();
    }

    pub fn record_auth_failure(&self, reason: &'static str) {
        self.auth_failures
            .get_or_create(&AuthFailureLabels { reason })
            .inc();
    }

    /// Set the backend and catalog gauges (after every catalog rebuild).
    pub fn set_backends<'a>(&self, states: impl Iterator<Item = (&'a str, bool)>, listed: usize) {
        self.backend_up.clear();
        for (server, up) in states {
            self.backend_up
                .get_or_create(&ServerLabels {
                    server: server.to_owned(),
                })
                .set(i64::from(up));
        }
        self.listed_tools.set(listed as i64);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_templates_with_names_folded() {
        assert_eq!(route_of("/mcp"), "/mcp");
        assert_eq!(route_of("/tools/a__b/invoke"), "/tools/{tool_name}/invoke");
        assert_eq!(
            route_of("/mcp/server/prod-elk-1/info"),
            "/mcp/server/{name}/info"
        );
        assert_eq!(route_of("/mcp/server/prod-elk-1"), "/mcp/server/{name}");
        assert_eq!(route_of("/mcp/tag/elk"), "/mcp/tag/{tag}");
        assert_eq!(
            route_of("/.well-known/oauth-protected-resource/mcp"),
            "/.well-known/*"
        );
        assert_eq!(route_of("/etc/passwd"), "other");
    }

    #[test]
    fn renders_calls_backends_and_no_user_labels() {
        let m = Metrics::new();
        m.record_call("alpha", "echo", Outcome::success, Duration::from_millis(3));
        m.record_call("alpha", "echo", Outcome::timeout, Duration::from_secs(1));
        m.record_request(
            route_of("/tools/alpha__echo/invoke"),
            200,
            Duration::from_millis(2),
        );
        m.set_backends([("alpha", true), ("beta", false)].into_iter(), 7);
        m.audit_pending.set(12);
        m.record_refused(Refused::rate_limited);
        m.record_auth_failure("expired");
        let text = m.render();
        assert!(
            text.contains(r#"mcp_gateway_refused_calls_total{reason="rate_limited"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"mcp_gateway_auth_failures_total{reason="expired"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(r#"mcp_gateway_backend_calls_total{server="alpha",outcome="success"} 1"#),
            "{text}"
        );
        assert!(
            text.contains(
                r#"mcp_gateway_tool_calls_total{server="alpha",tool="echo",outcome="timeout"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"mcp_gateway_http_request_duration_seconds_count{route="/tools/{tool_name}/invoke",status="200"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"mcp_gateway_backend_up{server="beta"} 0"#),
            "{text}"
        );
        assert!(
            text.contains("mcp_gateway_catalog_listed_tools 7"),
            "{text}"
        );
        assert!(
            text.contains("mcp_gateway_audit_pending_records 12"),
            "{text}"
        );
        assert!(!text.contains("user"), "{text}");
    }
}
