//! `/anthropic/v1/…`: the Anthropic API proxy's routes (SPEC §14). Point an Anthropic SDK —
//! Claude Code with `ANTHROPIC_BASE_URL=<gateway>/anthropic` — at the gateway and it serves
//! `POST /v1/messages` (JSON and streaming), `POST /v1/messages/count_tokens` and
//! `GET /v1/models`.
//!
//! The caller has authenticated by then (a JWT in `Authorization: Bearer` or `x-api-key`;
//! the refusal is in Anthropic's shape, see `http::auth`). The checks of a request, in order,
//! each audited when it refuses:
//! 1. the body is a Messages request (400);
//! 2. the gateway forwards the model (`llm.anthropic.models`, else 403);
//! 3. the caller may use it (an authorization rule allows `llm:<model>`, else 403);
//! 4. no guard matches its text (else 400 "request blocked by policy", `llm_guard`);
//! 5. the caller's budgets have room (else 429 with `retry-after`, `rate_limited`);
//! 6. the upstream key can be read: the caller's own, stored sealed (`/api/llm/key`), else
//!    the gateway's (else 502);
//!
//! then [`relay`] sends it and accounts for it. Counting tokens skips the guards and
//! budgets: it sends nothing to a model and uses no tokens.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};

use super::caller::request_context;
use crate::audit::{AuditEvent, AuditRecord, AuditStatus};
use crate::config::Secret;
use crate::gateway::{Gateway, Snapshot};
use crate::llm::policy::resource_name;
use crate::llm::relay::{Accounting, Endpoint, Exchange, relay};
use crate::llm::request::MessagesRequest;
use crate::llm::{LlmError, LlmPolicy};
use crate::principal::{RequestContext, Transport};

/// Where the proxy's routes live.
pub const PREFIX: &str = "/anthropic/";

/// The largest request body accepted: the Messages API's own limit (32 MB).
pub const MAX_REQUEST_BYTES: usize = 32 * 1000 * 1000;

pub fn routes(gateway: Arc<Gateway>) -> Router {
    Router::new()
        .route("/anthropic/v1/messages", post(messages))
        .route("/anthropic/v1/messages/count_tokens", post(count_tokens))
        .route("/anthropic/v1/models", get(models))
        .with_state(gateway)
}

async fn messages(State(gateway): State<Arc<Gateway>>, request: Request) -> Response {
    proxy(gateway, request, Endpoint::Messages).await
}

async fn count_tokens(State(gateway): State<Arc<Gateway>>, request: Request) -> Response {
    proxy(gateway, request, Endpoint::CountTokens).await
}

/// The proxy's section of `snapshot` (the one whose authorization rules the request is
/// checked against), or the 404 saying there is none.
fn policy_of(snapshot: &Snapshot) -> Result<Arc<LlmPolicy>, LlmError> {
    snapshot.llm.clone().ok_or_else(|| {
        LlmError::NotFound(
            "this gateway proxies no model (its config has no `llm:` section)".into(),
        )
    })
}

/// Whose key a request goes upstream with (the `llm_call` record's `details.upstream_key`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeySource {
    /// The caller's own, stored with `PUT /api/llm/key`.
    User,
    Gateway,
}

impl KeySource {
    fn as_str(self) -> &'static str {
        match self {
            KeySource::User => "user",
            KeySource::Gateway => "gateway",
        }
    }
}

/// The key for `user`'s requests: their own when they stored one (and the gateway can open
/// it), else the gateway's.
async fn upstream_key(
    gateway: &Gateway,
    policy: &LlmPolicy,
    user: &str,
) -> Result<(Secret, KeySource), LlmError> {
    let settings = gateway.settings();
    // Looked up whether or not the gateway can open it now: a user who stored a key must
    // never be served with the gateway's instead (GATEWAY_ENCRYPTION_KEY removed later).
    if let (true, Some(store)) = (
        settings.auth_enabled,
        crate::keys::KeyStore::of(gateway.audit()),
    ) {
        match store.sealed(user).await {
            Ok(Some((sealed, _))) => {
                let opened = settings
                    .encryption_key
                    .as_ref()
                    .ok_or(crate::keys::sealed::Unopenable)
                    .and_then(|sealing| sealing.open(user, &sealed));
                return opened.map(|key| (key, KeySource::User)).map_err(|error| {
                    tracing::warn!(%error, user, "a stored upstream key cannot be opened");
                    LlmError::Upstream(
                        "your stored Anthropic key cannot be read; store it again (mcpgw llm set-key)".into(),
                    )
                });
            }
            Ok(None) => {}
            Err(error) => {
                // Not the gateway's key instead: the user asked for theirs to be used.
                tracing::warn!(%error, "stored upstream keys cannot be read: the audit database is unavailable");
                return Err(LlmError::Unavailable(
                    "stored keys cannot be read now; retry shortly".into(),
                ));
            }
        }
    }
    gateway_key(policy).map(|key| (key, KeySource::Gateway))
}

/// The gateway's upstream key, read now (a rotated secret is picked up at once).
fn gateway_key(policy: &LlmPolicy) -> Result<Secret, LlmError> {
    let unavailable = || LlmError::Upstream("the gateway has no key for the upstream API".into());
    let Some(reference) = &policy.upstream.api_key else {
        tracing::warn!("llm.anthropic.api_key_ref is not set: no request can be sent upstream");
        return Err(unavailable());
    };
    reference.resolve().map_err(|error| {
        // Names the reference, never a value.
        tracing::warn!(%error, "the Anthropic upstream key cannot be read");
        unavailable()
    })
}

async fn proxy(gateway: Arc<Gateway>, request: Request, endpoint: Endpoint) -> Response {
    let (parts, body) = request.into_parts();
    let ctx = request_context(gateway.settings(), &parts, Transport::Rest);
    let snapshot = gateway.snapshot();
    let policy = match policy_of(&snapshot) {
        Ok(policy) => policy,
        Err(error) => return error.into_response(),
    };
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > MAX_REQUEST_BYTES) {
        return too_large().into_response();
    }
    let bytes = match axum::body::to_bytes(body, MAX_REQUEST_BYTES).await {
        Ok(bytes) => bytes,
        Err(error) if is_length_limit(&error) => return too_large().into_response(),
        Err(_) => {
            return LlmError::InvalidRequest("the request body could not be read".into())
                .into_response();
        }
    };
    let request = match MessagesRequest::parse(&bytes) {
        Ok(request) => request,
        Err(error) => return error.into_response(),
    };
    let model = request.model.as_str();
    let forwarded = policy.forwards(model);
    let refuse = |error: LlmError, record: AuditRecord| {
        gateway.audit().emit(record);
        gateway.metrics().record_llm_request(
            &policy.metric_label(model),
            error.status().as_u16(),
            &[],
        );
        error.into_response()
    };
    let resource = resource_name(model);
    let parameters = request.audit_parameters(policy.log_prompts);

    if !forwarded {
        let error = LlmError::Permission(format!("model {model} is not one this gateway forwards"));
        return refuse(
            error,
            AuditRecord::access_denied(&ctx, &resource, Some(&parameters)),
        );
    }
    if !snapshot.policy.may_call(&ctx.principal, &resource) {
        let error = LlmError::Permission(format!("you may not use model {model}"));
        return refuse(
            error,
            AuditRecord::access_denied(&ctx, &resource, Some(&parameters)),
        );
    }
    // Counting tokens sends the text upstream too: guards apply to both endpoints.
    if let Some(guard) = policy.rejecting_guard(&request.texts()) {
        let error = LlmError::InvalidRequest("request blocked by policy".into());
        return refuse(
            error,
            guard_record(&ctx, &resource, &parameters, model, guard),
        );
    }
    // Counting tokens uses none: no budget.
    if endpoint == Endpoint::Messages
        && let Some(budgets) = &policy.budgets
        && let Err(exhausted) = budgets.admit(&ctx.principal.user)
    {
        let retry = exhausted.retry_after();
        let error = LlmError::RateLimited(
            format!(
                "the {} budget is spent; retry after {} s",
                exhausted.budget(),
                retry.whole_seconds()
            ),
            retry,
        );
        let mut record = AuditRecord::rate_limited(&ctx, &resource, Some(&parameters), retry.0);
        record.details["budget"] = json!(exhausted.budget());
        return refuse(error, record);
    }

    let (key, source) = match upstream_key(&gateway, &policy, &ctx.principal.user).await {
        Ok(found) => found,
        Err(error) => {
            let mut record =
                AuditRecord::for_request(&ctx, AuditEvent::LlmCall, AuditStatus::Error)
                    .with_error(error.message());
            record.tool = Some(resource);
            record.parameters = parameters;
            return refuse(error, record);
        }
    };
    let accounting = Accounting::new(
        Arc::clone(&gateway),
        Arc::clone(&policy),
        &ctx,
        Exchange {
            model,
            endpoint,
            stream: request.stream,
            parameters,
            key_source: source.as_str(),
        },
    );
    relay(
        gateway.llm_client(),
        &key,
        &parts.headers,
        bytes,
        accounting,
    )
    .await
}

/// Whether reading a body failed for its size (rather than the caller going away).
fn is_length_limit(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = source {
        if error.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = error.source();
    }
    false
}

fn too_large() -> LlmError {
    LlmError::TooLarge(format!(
        "the request body is larger than {MAX_REQUEST_BYTES} bytes"
    ))
}

/// `event: llm_guard, status: denied`, naming the guard by its place in `llm.guards`.
fn guard_record(
    ctx: &RequestContext,
    resource: &str,
    parameters: &Value,
    model: &str,
    guard: usize,
) -> AuditRecord {
    let mut record = AuditRecord::for_request(ctx, AuditEvent::LlmGuard, AuditStatus::Denied)
        .with_error("request blocked by policy")
        .with_details(json!({"model": model, "guard": guard}));
    record.tool = Some(resource.to_owned());
    record.parameters = parameters.clone();
    record
}

/// `GET /v1/models`: the upstream's list, narrowed to the models the gateway forwards and
/// this caller may use.
async fn models(State(gateway): State<Arc<Gateway>>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    let ctx = request_context(gateway.settings(), &parts, Transport::Rest);
    let snapshot = gateway.snapshot();
    let policy = match policy_of(&snapshot) {
        Ok(policy) => policy,
        Err(error) => return error.into_response(),
    };
    let key = match upstream_key(&gateway, &policy, &ctx.principal.user).await {
        Ok((key, _)) => key,
        Err(error) => return error.into_response(),
    };
    let mut url = format!("{}/v1/models", policy.upstream.base_url);
    if let Some(query) = parts.uri.query() {
        url.push('?');
        url.push_str(query);
    }
    let mut request = gateway
        .llm_client()
        .get(url)
        .timeout(policy.upstream.timeout)
        .header(
            "anthropic-version",
            parts
                .headers
                .get("anthropic-version")
                .cloned()
                .unwrap_or(HeaderValue::from_static("2023-06-01")),
        );
    if let Ok(mut value) = HeaderValue::from_str(key.expose()) {
        value.set_sensitive(true);
        request = request.header("x-api-key", value);
    }
    let answer = match request.send().await {
        Ok(answer) => answer,
        Err(_) => {
            return LlmError::Upstream("the upstream API cannot be reached".into()).into_response();
        }
    };
    let status = answer.status();
    let Ok(bytes) = answer.bytes().await else {
        return LlmError::Upstream("the upstream's answer could not be read".into())
            .into_response();
    };
    let mut body = bytes;
    if status.is_success()
        && let Ok(mut list) = serde_json::from_slice::<Value>(&body)
    {
        if let Some(Value::Array(data)) = list.get_mut("data") {
            data.retain(|model| {
                model.get("id").and_then(Value::as_str).is_some_and(|id| {
                    policy.forwards(id)
                        && snapshot.policy.may_call(&ctx.principal, &resource_name(id))
                })
            });
        }
        body = Bytes::from(list.to_string());
    }
    let mut response = Response::new(Body::from(body));
    *response.status_mut() =
        StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
