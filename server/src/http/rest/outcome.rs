//! From gateway outcomes to REST answers: how a REST call runs ([`run_call`]) and the status
//! and code of every way it can fail (SPEC §12, §13).

use std::future::Future;

use tokio_util::sync::CancellationToken;

use crate::error::ApiError;
use crate::gateway::ToolCallError;
use crate::upstream::{CallError, CallOptions};

/// Run one REST call (direct or broadcast) with the servers' own timeouts and no progress
/// relay (REST has no channel for it).
///
/// The call runs in its own task, and its cancellation fires when this future is dropped,
/// which is what hyper does when the caller disconnects. The gateway then tells the backends
/// (`notifications/cancelled`) instead of leaving them to work for nobody until the deadline.
pub async fn run_call<F, T>(call: impl FnOnce(CallOptions) -> F) -> Result<T, ToolCallError>
where
    F: Future<Output = Result<T, ToolCallError>> + Send + 'static,
    T: Send + 'static,
{
    let cancel = CancellationToken::new();
    let _cancel_when_the_caller_is_gone = cancel.clone().drop_guard();
    let options = CallOptions {
        progress: None,
        cancel,
        timeout: None,
        identity: None,
    };
    match tokio::spawn(call(options)).await {
        Ok(outcome) => outcome,
        // The task panicked or the runtime is shutting down: no result came back.
        Err(_) => Err(ToolCallError::Backend(CallError::Transport(
            "the call ended without a result",
        ))),
    }
}

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
        // Cancelled only once the caller is gone (see `run_call`): nobody reads this answer.
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

    #[tokio::test]
    async fn a_call_runs_with_the_server_timeout_and_no_progress() {
        let outcome = run_call(|options| async move {
            assert!(options.timeout.is_none());
            assert!(options.progress.is_none());
            Ok(options.cancel.is_cancelled())
        })
        .await;
        assert_eq!(outcome.ok(), Some(false));
    }

    #[tokio::test]
    async fn a_call_error_comes_back_as_is() {
        let outcome: Result<(), _> =
            run_call(|_| async { Err(ToolCallError::Backend(CallError::Unavailable)) }).await;
        assert_eq!(
            outcome.err().map(|e| api_error(e).status_and_code().1),
            Some("backend_unavailable")
        );
    }

    #[tokio::test]
    async fn dropping_the_caller_cancels_the_call() {
        let (started_tx, started_rx) = tokio::sync::oneshot::channel();
        let (cancelled_tx, cancelled_rx) = tokio::sync::oneshot::channel();
        let caller = run_call(|options| async move {
            let _ = started_tx.send(());
            options.cancel.cancelled().await;
            let _ = cancelled_tx.send(());
            Ok(())
        });
        // The caller waits for the call until the call has started, then goes away.
        tokio::select! {
            _ = caller => panic!("the call finished before it was cancelled"),
            started = started_rx => assert!(started.is_ok()),
        }
        assert!(
            cancelled_rx.await.is_ok(),
            "the call never saw the cancellation"
        );
    }

    #[tokio::test]
    async fn a_panicking_call_is_a_backend_error() {
        let outcome: Result<(), _> = run_call(|_| async { panic!("boom") }).await;
        assert_eq!(
            outcome.err().map(|e| api_error(e).status_and_code().1),
            Some("backend_error")
        );
    }
}
