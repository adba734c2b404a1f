//! `GET /audit` (SPEC §7, §12): audit records from the database, newest first, filtered and
//! paginated; `GET /audit/verify`: whether the database's hash chain is intact, and where it
//! breaks. Admin role only.
//!
//! Order of checks: the caller's role first (a non-admin learns nothing, not even that a
//! filter is malformed), then the query, then the database.

use axum::Json;
use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;
use serde_json::json;

use crate::audit::{AuditFilter, AuditReader, RawAuditQuery};
use crate::config::Settings;
use crate::error::ApiError;
use crate::principal::Principal;

/// `/audit` answering from `reader`.
pub fn routes(reader: AuditReader) -> Router {
    Router::new()
        .route("/audit", get(list_audit))
        .route("/audit/verify", get(verify_audit))
        .with_state(Some(reader))
}

/// `/audit` on its own lazily connecting pool to `DATABASE_URL`; when that URL cannot be
/// used, `/audit` answers 503.
pub fn routes_from_settings(settings: &Settings) -> Router {
    let reader = match AuditReader::connect_lazy(&settings.database_url) {
        Ok(reader) => Some(reader),
        Err(e) => {
            tracing::error!("GET /audit is unavailable: {e}");
            None
        }
    };
    Router::new()
        .route("/audit", get(list_audit))
        .route("/audit/verify", get(verify_audit))
        .with_state(reader)
}

fn forbidden() -> Response {
    let body = json!({"error": {"code": "forbidden", "message": "the admin role is required to read the audit log"}});
    (StatusCode::FORBIDDEN, Json(body)).into_response()
}

/// No principal means nobody vouched for the caller: anonymous without roles.
fn is_admin(request: &Request) -> bool {
    request
        .extensions()
        .get::<Principal>()
        .is_some_and(Principal::is_admin)
}

fn no_database() -> Response {
    ApiError::BackendUnavailable("the audit database is not configured".into()).into_response()
}

fn database_down(route: &str, e: impl std::fmt::Display) -> Response {
    tracing::warn!("{route}: {e}");
    ApiError::BackendUnavailable("the audit database is unavailable".into()).into_response()
}

async fn list_audit(State(reader): State<Option<AuditReader>>, request: Request) -> Response {
    if !is_admin(&request) {
        return forbidden();
    }
    let raw = match Query::<RawAuditQuery>::try_from_uri(request.uri()) {
        Ok(Query(raw)) => raw,
        Err(_) => {
            return ApiError::BadRequest(
                "the query string is malformed (each filter at most once)".into(),
            )
            .into_response();
        }
    };
    let filter = match AuditFilter::parse(raw, Utc::now()) {
        Ok(filter) => filter,
        Err(message) => return ApiError::BadRequest(message).into_response(),
    };
    let Some(reader) = reader else {
        return no_database();
    };
    match reader.query(&filter).await {
        Ok(page) => Json(json!({
            "records": page.records,
            "next_cursor": page.next_cursor.map(|c| c.encode()),
        }))
        .into_response(),
        Err(e) => database_down("GET /audit", e),
    }
}

/// `GET /audit/verify`: the database's chain checked from its first record, as
/// `mcp-gateway audit verify` does it. Reads every record: an admin's occasional question,
/// not something to poll.
async fn verify_audit(State(reader): State<Option<AuditReader>>, request: Request) -> Response {
    if !is_admin(&request) {
        return forbidden();
    }
    let Some(reader) = reader else {
        return no_database();
    };
    match reader.verify().await {
        Ok(report) => Json(json!({
            "intact": report.intact(),
            "checked": report.checked,
            "source": report.sources.join(", "),
            "broken": report.broken.map(|broken| json!({
                "position": broken.position,
                "id": broken.id,
                "location": broken.location,
                "reason": broken.kind.to_string(),
            })),
        }))
        .into_response(),
        Err(e) => database_down("GET /audit/verify", e),
    }
}
