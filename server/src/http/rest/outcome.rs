//! From gateway outcomes to REST answers: the status and code of every way a call can fail
//! (SPEC §12, §13).

use crate::error::ApiError;
use crate::gateway::{CallError, ToolCallError};

/// The REST error of a call that produced no result. A tool that ran and failed is not an
/// error here: it is a 200 answer with `isError` / `success: false`.
pub fn api_error(error: ToolCallError) -> ApiError {
    match error {
        ToolCallError::UnknownTool(name) => ApiError::NotFound(format!("Unknown tool: {name}")),
        ToolCallError::InvalidParams(message) => ApiError::BadRequest(message),
        ToolCallError::NotFound(message) => ApiError::NotFound(message),
        ToolCallError::Denied(name) => {
            ApiError::Forbidden(format!("access to {name} is not allowed for your roles"))
        }
        ToolCallError::RateLimited(retry) => ApiError::RateLimited {
            retry_after_s: retry.whole_seconds(),
        },
        ToolCallError::Backend(error) => backend_error(error),
    }
}

/// Backend failures, by kind. Their display texts carry categories, never URLs.
fn backend_error(error: CallError) -> ApiError {
    let message = error.to_string();
    match error {
        CallError::Unavailable => ApiError::BackendUnavailable(message),
        CallError::Timeout(_) => ApiError::BackendTimeout(message),
        // Cancelled only once the caller is gone: nobody reads this answer.
        CallError::Cancelled | CallError::Rejected(_) | CallError::Transport(_) => {
            ApiError::BackendError(message)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn status_code_message(error: ToolCallError) -> (u16, &'static str, String) {
        let error = api_error(error);
        let (status, code) = error.status_and_code();
        (status.as_u16(), code, error.to_string())
    }

    #[test]
    fn routing_errors() {
        assert_eq!(
            status_code_message(ToolCallError::UnknownTool("x__y".into())),
            (404, "not_found", "Unknown tool: x__y".to_owned())
        );
        assert_eq!(
            status_code_message(ToolCallError::NotFound("unknown server: z".into())),
            (404, "not_found", "unknown server: z".to_owned())
        );
        assert_eq!(
            status_code_message(ToolCallError::InvalidParams("tool_name is required".into())),
            (400, "bad_request", "tool_name is required".to_owned())
        );
    }

    #[test]
    fn backend_errors() {
        assert_eq!(
            status_code_message(ToolCallError::Backend(CallError::Unavailable)),
            (503, "backend_unavailable", "backend unavailable".to_owned())
        );
        assert_eq!(
            status_code_message(ToolCallError::Backend(CallError::Timeout(
                Duration::from_millis(500)
            ))),
            (504, "backend_timeout", "timeout after 0.5 s".to_owned())
        );
        assert_eq!(
            status_code_message(ToolCallError::Backend(CallError::Transport(
                "connection closed"
            ))),
            (
                502,
                "backend_error",
                "backend error: connection closed".to_owned()
            )
        );
        assert_eq!(
            status_code_message(ToolCallError::Backend(CallError::Rejected(
                "invalid arguments".into()
            ))),
            (
                502,
                "backend_error",
                "backend error: invalid arguments".to_owned()
            )
        );
        assert_eq!(
            status_code_message(ToolCallError::Backend(CallError::Cancelled)).0,
            502
        );
    }
}
