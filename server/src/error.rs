//! One error type for HTTP handlers, mapped in one place to status and code (SPEC §13).
//!
//! Messages are written for the caller: no internal error chains, no secrets, no URLs.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    /// No or invalid bearer token. The message is generic: the reason goes to the log only.
    #[error("{0}")]
    Unauthorized(String),
    /// The token issuer's keys are not loaded yet (Keycloak not reachable since start).
    #[error("{0}")]
    AuthUnavailable(String),
    #[error("{0}")]
    NotFound(String),
    /// The caller's roles do not allow this (REST; over MCP a denied tool looks unknown).
    #[error("{0}")]
    Forbidden(String),
    /// A rate limit refused the call; `Retry-After` carries the whole seconds to wait.
    #[error("rate limit exceeded, retry after {retry_after_s} s")]
    RateLimited { retry_after_s: u64 },
    #[error("{0}")]
    ForbiddenHost(String),
    #[error("{0}")]
    ForbiddenOrigin(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    BackendError(String),
    #[error("{0}")]
    BackendUnavailable(String),
    #[error("{0}")]
    BackendTimeout(String),
}

impl ApiError {
    /// The HTTP status and the `error.code` of SPEC §13. Exhaustive on purpose.
    pub fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::AuthUnavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "auth_unavailable"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::RateLimited { .. } => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::ForbiddenHost(_) => (StatusCode::FORBIDDEN, "forbidden_host"),
            ApiError::ForbiddenOrigin(_) => (StatusCode::FORBIDDEN, "forbidden_origin"),
            ApiError::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::BackendError(_) => (StatusCode::BAD_GATEWAY, "backend_error"),
            ApiError::BackendUnavailable(_) => {
                (StatusCode::SERVICE_UNAVAILABLE, "backend_unavailable")
            }
            ApiError::BackendTimeout(_) => (StatusCode::GATEWAY_TIMEOUT, "backend_timeout"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let body = json!({"error": {"code": code, "message": self.to_string()}});
        let mut response = (status, Json(body)).into_response();
        if let ApiError::RateLimited { retry_after_s } = self {
            response.headers_mut().insert(
                http::header::RETRY_AFTER,
                http::HeaderValue::from(retry_after_s),
            );
        }
        response
    }
}
