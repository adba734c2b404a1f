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
    #[error("{0}")]
    NotFound(String),
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
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
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
        (status, Json(body)).into_response()
    }
}
