//! One `tools/call` on a backend: deadline, progress relay and cancellation, over the direct
//! path of streamable HTTP backends ([`super::direct`]) or rmcp's client.

use std::time::Duration;

use std::sync::Arc;

use rmcp::RoleClient;
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResult, CancelledNotification,
    CancelledNotificationParam, ClientNotification, ClientRequest, JsonObject, NumberOrString,
    ProgressToken, RequestId, ResultType, ServerResult,
};
use rmcp::service::{Peer, PeerRequestOptions, ServiceError};
use tokio_util::sync::CancellationToken;

use super::Upstream;
use super::direct::{DirectCall, DirectError, DirectHttp, RequestTemplate};
use super::identity::{self, ForwardedIdentity};
use crate::config::TransportConfig;
use crate::progress::ProgressTarget;

/// How one call should run.
pub struct CallOptions {
    /// Downstream progress to relay the backend's progress notifications to.
    pub progress: Option<ProgressTarget>,
    /// Cancelled when the caller cancels or goes away.
    pub cancel: CancellationToken,
    /// Overrides the server's `timeout` (a broadcast's remaining budget may be shorter).
    pub timeout: Option<Duration>,
    /// Sent as `X-User-ID` / `X-Request-ID` to backends with `forward_identity: true`.
    pub identity: Option<ForwardedIdentity>,
}

/// Why a call produced no backend result. Display texts are safe to show to callers.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    #[error("backend unavailable")]
    Unavailable,
    #[error("timeout after {} s", format_seconds(*.0))]
    Timeout(Duration),
    /// The caller cancelled or went away.
    #[error("cancelled by the caller")]
    Cancelled,
    /// The backend answered with a JSON-RPC error (it may be useful to the caller).
    #[error("backend error: {0}")]
    Rejected(String),
    /// The connection broke during the call (the backend died or the network failed).
    #[error("backend error: {0}")]
    Transport(&'static str),
}

fn format_seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{}", s as u64)
    } else {
        format!("{s}")
    }
}

impl Upstream {
    /// Call `tool` on this backend with the server's timeout, relaying progress and
    /// cancellation. The tool's own failures come back as `Ok` with `is_error`.
    pub async fn call_tool(
        &self,
        tool: &str,
        arguments: Option<JsonObject>,
        options: CallOptions,
    ) -> Result<CallToolResult, CallError> {
        let state = self.state.load();
        let live = state.live.as_ref().ok_or(CallError::Unavailable)?;
        let peer = live.peer.clone();
        let mut arguments = arguments;
        if let Some((name, value)) = &live.body_argument {
            arguments
                .get_or_insert_with(JsonObject::new)
                .insert(name.clone(), value.clone().into());
        }
        let direct = live
            .direct
            .clone()
            .filter(|_| !state.param_header_tools.iter().any(|t| t == tool));
        drop(state);

        if let Some(direct) = direct
            && let Some(template) = direct.template()
        {
            let outcome = self
                .call_direct(
                    &direct,
                    &template,
                    &peer,
                    tool,
                    arguments.as_ref(),
                    &options,
                )
                .await;
            match outcome {
                Err(DirectError::SessionExpired) => {
                    tracing::debug!(server = %self.config.name, "backend session expired; the call goes through rmcp, which opens a new one");
                }
                Err(DirectError::Failed(error)) => return Err(error),
                Ok(result) => return Ok(result),
            }
        }

        let mut params = CallToolRequestParams::new(tool.to_owned());
        if let Some(arguments) = arguments {
            params = params.with_arguments(arguments);
        }
        // Only HTTP transports carry headers; stdio backends get nothing.
        if self.config.forward_identity
            && !matches!(self.config.transport, TransportConfig::Stdio { .. })
            && let Some(identity) = &options.identity
        {
            identity::attach(&mut params, identity);
        }
        let request = ClientRequest::CallToolRequest(CallToolRequest::new(params));
        let handle = peer
            .send_request_with_option(request, PeerRequestOptions::no_options())
            .await
            .map_err(|_| CallError::Unavailable)?;
        let request_id = handle.id.clone();
        let progress_token = handle.progress_token.clone();
        // rmcp chose the backend-side progress token; map it to the caller's.
        let _relay = options.progress.map(|target| {
            self.events
                .register_progress(progress_token.clone(), target);
            RelayGuard {
                events: &self.events,
                token: progress_token,
            }
        });

        let timeout = options.timeout.unwrap_or(self.config.timeout);
        let outcome = tokio::select! {
            response = handle.rx => response.map_err(|_| {
                self.events.suspect.notify_one();
                CallError::Transport("connection closed during the call")
            }),
            _ = tokio::time::sleep(timeout) => Err(CallError::Timeout(timeout)),
            _ = options.cancel.cancelled() => Err(CallError::Cancelled),
        };
        let response = match outcome {
            Ok(response) => response,
            Err(error) => {
                if matches!(error, CallError::Timeout(_) | CallError::Cancelled) {
                    send_cancelled(&peer, request_id, &error).await;
                }
                return Err(error);
            }
        };
        match response {
            Ok(ServerResult::CallToolResult(mut result)) => {
                // Older backends send no resultType; newer clients require it (rmcp strips
                // it again for older clients).
                result.result_type.get_or_insert(ResultType::COMPLETE);
                Ok(result)
            }
            Ok(_) => Err(CallError::Transport("unexpected answer to tools/call")),
            Err(ServiceError::McpError(error)) => Err(CallError::Rejected(error.message.into())),
            Err(other) => {
                self.events.suspect.notify_one();
                Err(CallError::Transport(service_error_category(&other)))
            }
        }
    }
}

impl Upstream {
    /// The call on the direct path ([`super::direct`]), with the same deadline, cancellation and
    /// progress relay as rmcp's.
    async fn call_direct(
        &self,
        direct: &DirectHttp,
        template: &RequestTemplate,
        peer: &Peer<RoleClient>,
        tool: &str,
        arguments: Option<&JsonObject>,
        options: &CallOptions,
    ) -> Result<CallToolResult, DirectError> {
        let id = direct.next_request_id();
        // The backend may send progress on the session's own stream rather than the call's;
        // rmcp's handler relays it from there.
        let _relay = options.progress.clone().map(|target| {
            let token = ProgressToken(NumberOrString::String(Arc::clone(&id)));
            self.events.register_progress(token.clone(), target);
            RelayGuard {
                events: &self.events,
                token,
            }
        });
        let call = DirectCall {
            id: &id,
            tool,
            arguments,
            progress: options.progress.as_ref(),
            identity: options
                .identity
                .as_ref()
                .filter(|_| self.config.forward_identity),
        };
        let timeout = options.timeout.unwrap_or(self.config.timeout);
        let outcome = tokio::select! {
            outcome = direct.call(template, call, &self.events) => outcome,
            _ = tokio::time::sleep(timeout) => Err(DirectError::Failed(CallError::Timeout(timeout))),
            _ = options.cancel.cancelled() => Err(DirectError::Failed(CallError::Cancelled)),
        };
        if let Err(DirectError::Failed(error @ (CallError::Timeout(_) | CallError::Cancelled))) =
            &outcome
        {
            send_cancelled(peer, RequestId::String(id), error).await;
        }
        outcome.map(|mut result| {
            result.result_type.get_or_insert(ResultType::COMPLETE);
            result
        })
    }
}

/// Tell the backend to stop a call. Best effort: the backend may already be gone.
async fn send_cancelled(peer: &Peer<RoleClient>, request_id: RequestId, reason: &CallError) {
    let notification = ClientNotification::CancelledNotification(CancelledNotification::new(
        CancelledNotificationParam::new(Some(request_id), Some(reason.to_string())),
    ));
    let _ = peer.send_notification(notification).await;
}

/// Removes a progress mapping when the call ends, however it ends.
struct RelayGuard<'a> {
    events: &'a super::client::LinkEvents,
    token: rmcp::model::ProgressToken,
}

impl Drop for RelayGuard<'_> {
    fn drop(&mut self) {
        self.events.unregister_progress(&self.token);
    }
}

/// A category for rmcp service errors, which may quote transport errors (and URLs).
pub fn service_error_category(error: &ServiceError) -> &'static str {
    match error {
        ServiceError::McpError(_) => "the backend answered with an error",
        ServiceError::TransportSend(_) => "could not send to the backend",
        ServiceError::TransportClosed => "connection closed",
        ServiceError::Timeout { .. } => "timed out",
        ServiceError::Cancelled { .. } => "cancelled",
        _ => "unexpected answer",
    }
}
