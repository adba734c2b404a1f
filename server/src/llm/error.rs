//! The proxy's own errors, in the Anthropic API's shape (SPEC §14): clients of the
//! Anthropic SDKs (Claude Code among them) read `{"type":"error","error":{"type","message"}}`
//! and decide on retries by its status. Errors of the upstream pass through unchanged and
//! never come here.

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde_json::json;

use crate::ratelimit::RetryAfter;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LlmError {
    /// 401: no credential, or one that is not valid.
    Authentication(String),
    /// 403: the model is not one the gateway forwards, or not one this caller may use.
    Permission(String),
    /// 400: a body that is not a Messages request, or one a guard refuses.
    InvalidRequest(String),
    /// 413
    TooLarge(String),
    /// 429, with `retry-after`.
    RateLimited(String, RetryAfter),
    /// 502: the upstream could not be reached or answered nothing usable.
    Upstream(String),
    /// 504: the upstream did not answer within the configured timeout.
    Timeout(String),
    /// 503: the proxy cannot serve now (authentication keys not loaded, no upstream key).
    Unavailable(String),
    /// 404: the proxy is not configured (no `llm:` section).
    NotFound(String),
}

impl LlmError {
    pub fn status(&self) -> StatusCode {
        match self {
            LlmError::Authentication(_) => StatusCode::UNAUTHORIZED,
            LlmError::Permission(_) => StatusCode::FORBIDDEN,
            LlmError::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            LlmError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            LlmError::RateLimited(..) => StatusCode::TOO_MANY_REQUESTS,
            LlmError::Upstream(_) => StatusCode::BAD_GATEWAY,
            LlmError::Timeout(_) => StatusCode::GATEWAY_TIMEOUT,
            LlmError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            LlmError::NotFound(_) => StatusCode::NOT_FOUND,
        }
    }

    /// The `error.type` Anthropic uses for the status.
    pub fn kind(&self) -> &'static str {
        match self {
            LlmError::Authentication(_) => "authentication_error",
            LlmError::Permission(_) => "permission_error",
            LlmError::InvalidRequest(_) => "invalid_request_error",
            LlmError::TooLarge(_) => "request_too_large",
            LlmError::RateLimited(..) => "rate_limit_error",
            LlmError::NotFound(_) => "not_found_error",
            LlmError::Upstream(_) | LlmError::Timeout(_) | LlmError::Unavailable(_) => "api_error",
        }
    }

    pub fn message(&self) -> &str {
        match self {
            LlmError::Authentication(m)
            | LlmError::Permission(m)
            | LlmError::InvalidRequest(m)
            | LlmError::TooLarge(m)
            | LlmError::RateLimited(m, _)
            | LlmError::Upstream(m)
            | LlmError::Timeout(m)
            | LlmError::Unavailable(m)
            | LlmError::NotFound(m) => m,
        }
    }

    /// The error object as a stream's `error` event carries it.
    pub fn body(&self) -> serde_json::Value {
        json!({"type": "error", "error": {"type": self.kind(), "message": self.message()}})
    }
}

impl IntoResponse for LlmError {
    fn into_response(self) -> Response {
        let mut response = (self.status(), Json(self.body())).into_response();
        if let LlmError::RateLimited(_, retry) = &self {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry.whole_seconds()),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::body::to_bytes;

    use super::*;

    #[tokio::test]
    async fn errors_have_anthropics_shape_and_statuses() {
        let cases = [
            (
                LlmError::Authentication("a".into()),
                401,
                "authentication_error",
            ),
            (LlmError::Permission("p".into()), 403, "permission_error"),
            (
                LlmError::InvalidRequest("i".into()),
                400,
                "invalid_request_error",
            ),
            (LlmError::TooLarge("t".into()), 413, "request_too_large"),
            (LlmError::Upstream("u".into()), 502, "api_error"),
            (LlmError::Timeout("t".into()), 504, "api_error"),
        ];
        for (error, status, kind) in cases {
            let message = error.message().to_owned();
            let response = error.into_response();
            assert_eq!(response.status().as_u16(), status);
            let body: serde_json::Value =
                serde_json::from_slice(&to_bytes(response.into_body(), 1 << 16).await.unwrap())
                    .unwrap();
            assert_eq!(
                body,
                json!({"type": "error", "error": {"type": kind, "message": message}})
            );
        }
    }

    #[test]
    fn a_rate_limit_says_when_to_retry() {
        let response =
            LlmError::RateLimited("slow down".into(), RetryAfter(Duration::from_millis(1500)))
                .into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
    }
}
