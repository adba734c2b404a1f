//! `GET /config`: the loaded configuration as JSON, with every secret removed (SPEC §13).
//!
//! The view is built here from the validated [`Config`], field by field, so that a field
//! added to the config later shows up only once someone decides how to show it. The shape
//! follows `mcp_servers.yaml`. Removed: every stdio `env` value given in the file, URL
//! user-info, query values and fragments, and command-line arguments that look like
//! credentials. Credential references (`env://VAR`, `file:///path`) name a place, not a
//! value, and are shown as written.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use serde_json::{Map, Value, json};

use crate::config::{
    AuthorizationConfig, Config, CredentialFormat, Effect, EnvValue, GuardAction, Limits,
    LlmConfig, OutboundAuth, Rate, RateLimitsConfig, ServerConfig, TransportConfig,
};
use crate::error::ApiError;
use crate::gateway::Gateway;
use crate::http::caller::Caller;

/// One rule for what is secret, shared with audit redaction (SPEC §13).
pub use crate::audit::redact::{REDACTED, is_secret_key};

/// `GET /config`: admin only (SPEC §12).
pub async fn show(
    State(gateway): State<Arc<Gateway>>,
    Caller(caller): Caller,
) -> Result<Json<Value>, ApiError> {
    if !caller.principal.is_admin() {
        return Err(ApiError::Forbidden("the admin role is required".to_owned()));
    }
    Ok(Json(config_view(&gateway.config())))
}

/// The whole config, redacted.
pub fn config_view(config: &Config) -> Value {
    let servers: Map<String, Value> = config
        .servers
        .iter()
        .map(|server| (server.name.clone(), server_view(server)))
        .collect();
    json!({
        "servers": servers,
        "authorization": config.authorization.as_ref().map(authorization_view),
        "rate_limits": config.rate_limits.as_ref().map(rate_limits_view),
        "limits": limits_view(&config.limits),
        "llm": config.llm.as_ref().map(llm_view),
    })
}

/// `llm:`: the upstream key shown as its reference (a place, not a value).
fn llm_view(llm: &LlmConfig) -> Value {
    let upstream = &llm.anthropic;
    json!({
        "anthropic": {
            "base_url": redact_url(&upstream.base_url),
            "api_key_ref": upstream.api_key.as_ref().map(ToString::to_string),
            "timeout": upstream.timeout.as_secs_f64(),
            "models": upstream.models,
        },
        "limits": llm.budget.map(|budget| json!({"per_user": {
            "requests_per_minute": budget.requests_per_minute,
            "tokens_per_minute": budget.tokens_per_minute,
            "tokens_per_day": budget.tokens_per_day,
        }})),
        "guards": llm.guards.iter().map(|guard| json!({
            "pattern": guard.pattern,
            "action": match guard.action { GuardAction::Reject => "reject" },
        })).collect::<Vec<_>>(),
        "log_prompts": llm.log_prompts,
    })
}

fn server_view(server: &ServerConfig) -> Value {
    let mut view = Map::new();
    view.insert("type".into(), json!(server.transport_type()));
    match &server.transport {
        TransportConfig::Http { url } | TransportConfig::Sse { url } => {
            view.insert("url".into(), json!(redact_url(url)));
        }
        TransportConfig::Stdio { command, args, env } => {
            view.insert("command".into(), json!(command));
            view.insert("args".into(), json!(redact_args(args)));
            let env: Map<String, Value> = env
                .iter()
                .map(|(name, value)| (name.clone(), json!(env_value_view(value))))
                .collect();
            view.insert("env".into(), Value::Object(env));
        }
    }
    view.insert("timeout".into(), json!(server.timeout.as_secs_f64()));
    view.insert("enabled".into(), json!(server.enabled));
    view.insert("description".into(), json!(server.description));
    view.insert("tags".into(), json!(server.tags));
    view.insert("forward_identity".into(), json!(server.forward_identity));
    view.insert(
        "auth".into(),
        server.auth.as_ref().map_or(Value::Null, auth_view),
    );
    Value::Object(view)
}

/// A literal value is hidden whatever its name: any of them may be a secret.
fn env_value_view(value: &EnvValue) -> String {
    match value {
        EnvValue::Literal(_) => REDACTED.to_owned(),
        EnvValue::Ref(reference) => reference.to_string(),
    }
}

fn auth_view(auth: &OutboundAuth) -> Value {
    let mut view = Map::new();
    view.insert("method".into(), json!(auth.method.as_str()));
    view.insert("location".into(), json!(auth.location.as_str()));
    view.insert("name".into(), json!(auth.name));
    match &auth.format {
        CredentialFormat::Raw => {
            view.insert("format".into(), json!("raw"));
        }
        CredentialFormat::Prefix(prefix) => {
            view.insert("format".into(), json!("prefix"));
            view.insert("prefix".into(), json!(prefix));
        }
        CredentialFormat::Template(template) => {
            view.insert("format".into(), json!("template"));
            view.insert("template".into(), json!(template));
        }
    }
    view.insert(
        "credential_ref".into(),
        json!(auth.credential.as_ref().map(ToString::to_string)),
    );
    if let Some(oauth2) = &auth.oauth2 {
        view.insert("token_url".into(), json!(redact_url(&oauth2.token_url)));
        view.insert("client_id".into(), json!(oauth2.client_id));
        view.insert(
            "client_secret_ref".into(),
            json!(oauth2.client_secret.to_string()),
        );
        view.insert("scope".into(), json!(oauth2.scope));
    }
    Value::Object(view)
}

fn authorization_view(authorization: &AuthorizationConfig) -> Value {
    let rules: Vec<Value> = authorization
        .rules
        .iter()
        .map(|rule| json!({"roles": rule.roles, "allow": rule.allow, "deny": rule.deny}))
        .collect();
    let default = match authorization.default {
        Effect::Allow => "allow",
        Effect::Deny => "deny",
    };
    json!({"default": default, "rules": rules})
}

fn rate_view(rate: &Rate) -> Value {
    json!({"requests_per_minute": rate.requests_per_minute, "burst": rate.burst})
}

fn rate_limits_view(limits: &RateLimitsConfig) -> Value {
    let per_tool: Map<String, Value> = limits
        .per_tool
        .iter()
        .map(|(pattern, rate)| (pattern.clone(), rate_view(rate)))
        .collect();
    json!({
        "per_user": limits.per_user.as_ref().map(rate_view),
        "per_tool": per_tool,
    })
}

fn limits_view(limits: &Limits) -> Value {
    json!({
        "max_request_bytes": limits.max_request_bytes,
        "max_response_bytes": limits.max_response_bytes,
        "broadcast_timeout": limits.broadcast_timeout.as_secs_f64(),
        "broadcast_concurrency": limits.broadcast_concurrency,
        "max_tool_name_length": limits.max_tool_name_length,
    })
}

/// A URL without user-info, query values or fragment:
/// `https://u:p@host/x?token=t&a` -> `https://[REDACTED]@host/x?token=[REDACTED]&[REDACTED]`.
/// The authority ends at the first `/`, `?`, `#` or `\`, as for the URL parser that validated
/// the config; text without `://` is not a URL and is hidden whole.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return REDACTED.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#', '\\']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let host = match authority.rsplit_once('@') {
        Some((_, host)) => format!("{REDACTED}@{host}"),
        None => authority.to_owned(),
    };
    let (before_fragment, fragment) = match tail.split_once('#') {
        Some((before, fragment)) => (before, Some(fragment)),
        None => (tail, None),
    };
    let mut redacted = format!("{scheme}://{host}");
    match before_fragment.split_once('?') {
        Some((path, query)) => {
            redacted.push_str(path);
            redacted.push('?');
            redacted.push_str(&redact_query(query));
        }
        None => redacted.push_str(before_fragment),
    }
    if fragment.is_some_and(|f| !f.is_empty()) {
        redacted.push('#');
        redacted.push_str(REDACTED);
    }
    redacted
}

/// Every value of a query string hidden, names kept; a bare item may be a token itself.
fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) => format!("{name}={REDACTED}"),
            None if pair.is_empty() => String::new(),
            None => REDACTED.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Command-line arguments with likely credentials hidden: the value of a flag named like a
/// secret (`--api-key X`, `--token=X`, `PASSWORD=X`), and the secret parts of URLs.
pub fn redact_args(args: &[String]) -> Vec<String> {
    let mut redacted = Vec::with_capacity(args.len());
    let mut previous_names_a_secret = false;
    for arg in args {
        let shown = if previous_names_a_secret && !arg.starts_with('-') {
            REDACTED.to_owned()
        } else if let Some((name, _)) = arg.split_once('=')
            && !name.contains("://")
            && is_secret_key(name)
        {
            format!("{name}={REDACTED}")
        } else if arg.contains("://") {
            redact_url(arg)
        } else {
            arg.clone()
        };
        previous_names_a_secret = arg.starts_with('-') && !arg.contains('=') && is_secret_key(arg);
        redacted.push(shown);
    }
    redacted
}

#[cfg(test)]
mod tests;
