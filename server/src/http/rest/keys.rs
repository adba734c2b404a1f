//! `/api/keys` (SPEC §14): make, list and revoke API keys.
//!
//! - `POST /api/keys` `{"name", "roles"?, "expires_in"?}` → 201 with the key's text, shown
//!   this once. Roles default to the caller's own and may only narrow them (403 otherwise);
//!   `expires_in` is seconds or `30d` / `12h` / `90m` / `45s`.
//! - `GET /api/keys`: the caller's keys; an admin sees every key, or one user's with
//!   `?user=`. Never a key's text or digest.
//! - `DELETE /api/keys/{id}`: revoke, by its owner or an admin; effective at once. Another
//!   user's key is 404 to a non-admin, as if it did not exist.
//!
//! Keys stand for a signed-in user, so with authentication off there are none (400). Both
//! changes are audited (`api_key_created`, `api_key_revoked`).

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::RawJsonBody;
use crate::audit::{AuditEvent, AuditRecord, AuditStatus};
use crate::error::ApiError;
use crate::gateway::Gateway;
use crate::http::caller::Caller;
use crate::keys::{ApiKey, KeyRefusal, KeyStore, NewKey, parse_lifetime};
use crate::principal::{Credential, RequestContext};

/// The keys of the gateway's audit database (API keys and users' stored keys), or 503
/// without one.
pub(super) fn store(gateway: &Gateway) -> Result<KeyStore, ApiError> {
    KeyStore::of(gateway.audit()).ok_or_else(|| {
        ApiError::BackendUnavailable("keys need the audit database (DATABASE_URL)".into())
    })
}

/// Credentials are managed by a signed-in user, never with an API key: a key (narrow, or
/// about to expire) must not mint keys that outlive it, revoke its owner's other keys, or
/// change the owner's upstream key.
pub(super) fn signed_in(caller: &RequestContext) -> Result<(), ApiError> {
    match caller.principal.credential {
        Credential::ApiKey(_) => Err(ApiError::Forbidden(
            "keys are managed signed in (mcpgw login), not with an API key".into(),
        )),
        Credential::Jwt | Credential::None => Ok(()),
    }
}

pub(super) fn database_down(error: impl std::fmt::Display) -> ApiError {
    tracing::warn!(%error, "keys: the audit database is unavailable");
    ApiError::BackendUnavailable("the audit database is unavailable".into())
}

/// A key as listings show it.
fn view(key: &ApiKey) -> Value {
    json!({
        "id": key.id,
        "name": key.name,
        "user": key.owner,
        "roles": key.roles,
        "created_at": key.created_at,
        "expires_at": key.expires_at,
        "revoked_at": key.revoked_at,
        "state": key.state(Utc::now()).as_str(),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
    roles: Option<Vec<String>>,
    expires_in: Option<Lifetime>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Lifetime {
    Seconds(u64),
    Text(String),
}

pub async fn create(
    State(gateway): State<Arc<Gateway>>,
    Caller(caller): Caller,
    RawJsonBody(raw): RawJsonBody,
) -> Result<Response, ApiError> {
    if !gateway.settings().auth_enabled {
        return Err(ApiError::BadRequest(
            "API keys stand for a signed-in user: authentication is off (AUTH_ENABLED=false)"
                .into(),
        ));
    }
    signed_in(&caller)?;
    let body: CreateBody = serde_json::from_value(raw.unwrap_or(Value::Null)).map_err(|_| {
        ApiError::BadRequest(
            "the body must be {\"name\": string, \"roles\"?: [string], \"expires_in\"?: seconds or \"30d\"}".into(),
        )
    })?;
    let expires_in = match body.expires_in {
        None => None,
        Some(Lifetime::Seconds(seconds)) => Some(std::time::Duration::from_secs(seconds)),
        Some(Lifetime::Text(text)) => Some(parse_lifetime(&text).ok_or_else(|| {
            ApiError::BadRequest("expires_in: seconds, or a number with s, m, h or d".into())
        })?),
    };
    let new = NewKey::check(&body.name, body.roles, expires_in, &caller.principal).map_err(
        |refusal| match refusal {
            KeyRefusal::BadRequest(message) => ApiError::BadRequest(message),
            KeyRefusal::Forbidden(message) => ApiError::Forbidden(message),
        },
    )?;
    let keys = store(&gateway)?;
    let (key, text) = new
        .issue(&caller.principal, Utc::now())
        .ok_or_else(|| ApiError::BadRequest("expires_in is too far in the future".into()))?;
    keys.insert(&key, &crate::keys::secret::digest(&text))
        .await
        .map_err(database_down)?;
    gateway
        .audit()
        .emit(key_record(&caller, AuditEvent::ApiKeyCreated, &key));
    let mut answer = view(&key);
    answer["key"] = json!(text);
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}

/// `api_key_created` / `api_key_revoked`: the key by id, name, owner and roles (never its
/// text), under `details.key` (a key named like `api_key` would be redacted).
fn key_record(caller: &RequestContext, event: AuditEvent, key: &ApiKey) -> AuditRecord {
    AuditRecord::for_request(caller, event, AuditStatus::Success).with_details(json!({
        "key": {
            "id": key.id,
            "name": key.name,
            "user": key.owner,
            "roles": key.roles,
            "expires_at": key.expires_at,
        }
    }))
}

#[derive(Deserialize)]
pub struct ListQuery {
    user: Option<String>,
}

pub async fn list(
    State(gateway): State<Arc<Gateway>>,
    Caller(caller): Caller,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let principal = &caller.principal;
    let owner = match (principal.is_admin(), query.user) {
        (true, user) => user,
        (false, Some(user)) if user != principal.user => {
            return Err(ApiError::Forbidden(
                "the admin role is required to list another user's keys".into(),
            ));
        }
        (false, _) => Some(principal.user.clone()),
    };
    let keys = store(&gateway)?
        .list(owner.as_deref())
        .await
        .map_err(database_down)?;
    Ok(Json(
        json!({"keys": keys.iter().map(view).collect::<Vec<_>>()}),
    ))
}

pub async fn revoke(
    State(gateway): State<Arc<Gateway>>,
    Caller(caller): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    signed_in(&caller)?;
    let keys = store(&gateway)?;
    let not_found = || ApiError::NotFound(format!("no API key {id}"));
    let key = keys
        .by_id(&id)
        .await
        .map_err(database_down)?
        .ok_or_else(not_found)?;
    let principal = &caller.principal;
    if key.owner != principal.user && !principal.is_admin() {
        return Err(not_found());
    }
    let (revoked, now_revoked) = keys
        .revoke(&id, Utc::now())
        .await
        .map_err(database_down)?
        .ok_or_else(not_found)?;
    // Only the request that revoked it records it (two at once: one record).
    if now_revoked {
        gateway
            .audit()
            .emit(key_record(&caller, AuditEvent::ApiKeyRevoked, &revoked));
    }
    Ok(Json(view(&revoked)))
}
