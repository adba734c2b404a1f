//! From gateway outcomes to REST answers: the status and code of every way a call can fail
//! (SPEC §12, §13), and the options REST calls run with.

use tokio_util::sync::CancellationToken;

use crate::error::ApiError;
use crate::gateway::ToolCallError;
use crate::upstream::{CallError, CallOptions};

/// How a REST call runs: no progress relay (REST has no channel for it), the server's own
/// timeout, and a cancellation nobody triggers (the call ends when the backend answers or
/// its deadline passes).
pub fn rest_call_options() -> CallOptions {
    CallOptions {
        progress: None,
        cancel: CancellationToken::new(),
        timeout: None,
    }
}

/// The REST error of a call that produced no result. A tool that ran and failed is not an
/// error here: it is a 200 answer with `isError` / `success: false`.
pub fn api_error(error: ToolCallError) -> ApiError {
    match error {
        ToolCallError::UnknownTool(name) => ApiError::NotFound(format!("Unknown tool: {name}")),
        ToolCallError::InvalidParams(message) => ApiError::BadRequest(message),
        ToolCallError::NotFound(message) => ApiError::NotFound(message),
        ToolCallError::Backend(error) => backend_error(error),
    }
}

/// Backend failures, by kind. Their display texts carry categories, never URLs.
fn backend_error(error: CallError) -> ApiError {
    let message = error.to_string();
    match error {
        CallError::Unavailable => ApiError::BackendUnavailable(message),
        CallError::Timeout(_) => ApiError::BackendTimeout(message),
        // A REST caller cannot cancel (see `rest_call_options`); should it happen all the
        // same, the backend gave no result, which is a backend failure to the caller.
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

    #[test]
    fn rest_calls_use_the_server_timeout() {
        let options = rest_call_options();
        assert!(options.timeout.is_none());
        assert!(options.progress.is_none());
        assert!(!options.cancel.is_cancelled());
    }
}
