//! `/api/llm/key` (SPEC §14): a user's own Anthropic key, used instead of the gateway's for
//! that user's requests through the proxy.
//!
//! - `PUT` `{"key": "…"}`: stored sealed (AES-256-GCM under `GATEWAY_ENCRYPTION_KEY`);
//!   refused (400) when that variable is unset or authentication is off.
//! - `GET`: `{"set": bool, "updated_at"}`: whether there is one, never the key.
//! - `DELETE`: forget it (the gateway's key serves again).
//!
//! Both changes are audited (`llm_key_set`, `llm_key_removed`) without the key.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{Value, json};

use super::extract::RawJsonBody;
use super::keys::database_down;
use crate::audit::{AuditEvent, AuditRecord, AuditStatus};
use crate::config::Secret;
use crate::error::ApiError;
use crate::gateway::Gateway;
use crate::http::caller::Caller;
use crate::keys::KeyStore;
use crate::keys::sealed::SealingKey;

/// The longest key accepted (Anthropic's are about 110 characters).
const MAX_KEY_CHARS: usize = 1024;

/// The store and the sealing key, or why users cannot keep keys here.
fn prerequisites(gateway: &Gateway) -> Result<(KeyStore, SealingKey), ApiError> {
    let settings = gateway.settings();
    if !settings.auth_enabled {
        return Err(ApiError::BadRequest(
            "a stored key belongs to a signed-in user: authentication is off (AUTH_ENABLED=false)"
                .into(),
        ));
    }
    let Some(sealing) = settings.encryption_key.clone() else {
        return Err(ApiError::BadRequest(
            "this gateway does not store keys: GATEWAY_ENCRYPTION_KEY is not set".into(),
        ));
    };
    Ok((super::keys::store(gateway)?, sealing))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutBody {
    key: String,
}

pub async fn put(
    State(gateway): State<Arc<Gateway>>,
    Caller(caller): Caller,
    RawJsonBody(raw): RawJsonBody,
) -> Result<Json<Value>, ApiError> {
    let (store, sealing) = prerequisites(&gateway)?;
    super::keys::signed_in(&caller)?;
    let body: PutBody = serde_json::from_value(raw.unwrap_or(Value::Null))
        .map_err(|_| ApiError::BadRequest("the body must be {\"key\": string}".into()))?;
    let key = body.key.trim();
    // It goes upstream as a header value: printable ASCII, nothing else.
    let sendable = key.bytes().all(|b| b.is_ascii_graphic());
    if key.is_empty() || key.len() > MAX_KEY_CHARS || !sendable {
        return Err(ApiError::BadRequest(format!(
            "key: 1 to {MAX_KEY_CHARS} printable ASCII characters, no spaces"
        )));
    }
    let owner = &caller.principal.user;
    let now = Utc::now();
    let sealed = sealing.seal(owner, &Secret::new(key));
    store
        .put_sealed(owner, &sealed, now)
        .await
        .map_err(database_down)?;
    gateway.audit().emit(AuditRecord::for_request(
        &caller,
        AuditEvent::LlmKeySet,
        AuditStatus::Success,
    ));
    Ok(Json(json!({"set": true, "updated_at": now})))
}

pub async fn show(
    State(gateway): State<Arc<Gateway>>,
    Caller(caller): Caller,
) -> Result<Json<Value>, ApiError> {
    let (store, _) = prerequisites(&gateway)?;
    let kept = store
        .sealed(&caller.principal.user)
        .await
        .map_err(database_down)?;
    Ok(Json(match kept {
        Some((_, updated_at)) => json!({"set": true, "updated_at": updated_at}),
        None => json!({"set": false, "updated_at": null}),
    }))
}

pub async fn remove(
    State(gateway): State<Arc<Gateway>>,
    Caller(caller): Caller,
) -> Result<Json<Value>, ApiError> {
    let (store, _) = prerequisites(&gateway)?;
    super::keys::signed_in(&caller)?;
    let removed = store
        .remove_sealed(&caller.principal.user)
        .await
        .map_err(database_down)?;
    if removed {
        gateway.audit().emit(AuditRecord::for_request(
            &caller,
            AuditEvent::LlmKeyRemoved,
            AuditStatus::Success,
        ));
    }
    Ok(Json(json!({"set": false, "updated_at": null})))
}
