//! One `tools/call` on a backend: deadline, progress relay and cancellation, through the
//! gateway's own HTTP client for streamable HTTP backends ([`super::http_call`]) or rmcp's
//! client, behind one function ([`Upstream::call_tool`]).

use std::sync::Arc;
use std::time::Duration;

use futures::future::Either;
use rmcp::RoleClient;
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResult, CancelledNotification,
    CancelledNotificationParam, ClientNotification, ClientRequest, JsonObject, NumberOrString,
    ProgressToken, RequestId, ResultType, ServerResult,
};
use rmcp::service::{Peer, PeerRequestOptions, ServiceError};
use tokio_util::sync::CancellationToken;

use super::Upstream;
use super::http_call::{HttpCallError, HttpCaller, RequestTemplate, ToolCall};
use super::identity::{self, ForwardedIdentity};
use crate::client_requests::Requester;
use crate::config::{TransportConfig, UpstreamClient};
use crate::progress::ProgressTarget;
use crate::telemetry;

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
    /// The request's trace span, parent of this call's (disabled when traces are off).
    pub trace_parent: tracing::Span,
    /// The downstream client that made the call, asked what the backend asks its client
    /// during it (sampling, elicitation, roots); `None` when there is no client to ask.
    pub requester: Option<Requester>,
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

/// How a call reaches its backend: the two implementations of "call this tool" behind
/// [`Upstream::call_tool`]. Everything else about a call — the deadline, cancellation and
/// telling the backend, progress relay, the body credential, identity forwarding, `resultType`
/// — is the same for both and written once, in [`Upstream::call_with`].
enum Client<'a> {
    Http {
        caller: &'a HttpCaller,
        template: &'a RequestTemplate,
    },
    Rmcp,
}

/// Why one attempt gave no outcome.
enum Attempt {
    Failed(CallError),
    /// The backend no longer knows the session; nothing ran, rmcp's client may try.
    SessionExpired,
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
        // The call's trace span (disabled when traces are off). It is not entered: wrapping
        // this future in another would copy it whole on every call; the HTTP request gets
        // its context explicitly instead.
        let span = telemetry::backend_call_span(&options.trace_parent, &self.config.name, tool);
        let outcome = 'call: {
            let state = self.state.load();
            let Some(live) = state.live.as_ref() else {
                break 'call Err(CallError::Unavailable);
            };
            let peer = live.peer.clone();
            let mut arguments = arguments;
            if let Some((name, value)) = &live.body_argument {
                arguments
                    .get_or_insert_with(JsonObject::new)
                    .insert(name.clone(), value.clone().into());
            }
            // Tools whose schema asks for `Mcp-Param-*` headers: only rmcp's client sends those.
            let caller = live
                .http_caller
                .clone()
                .filter(|_| self.client == UpstreamClient::Auto)
                .filter(|_| !state.param_header_tools.iter().any(|t| t == tool));
            drop(state);
            let request = Request {
                tool,
                arguments: arguments.as_ref(),
                options: &options,
                span: &span,
            };
            if let Some(caller) = &caller
                && let Some(template) = caller.template()
            {
                let client = Client::Http {
                    caller,
                    template: &template,
                };
                match self.call_with(client, &peer, &request).await {
                    Err(Attempt::SessionExpired) => {
                        tracing::debug!(server = %self.config.name, "backend session expired; the call goes through rmcp, which opens a new one");
                    }
                    Err(Attempt::Failed(error)) => break 'call Err(error),
                    Ok(result) => break 'call Ok(result),
                }
            }
            match self.call_with(Client::Rmcp, &peer, &request).await {
                Ok(result) => Ok(result),
                Err(Attempt::Failed(error)) => Err(error),
                // rmcp's client re-initialises an expired session itself.
                Err(Attempt::SessionExpired) => Err(CallError::Transport("session expired")),
            }
        };
        telemetry::finish_backend_call(&span, &outcome);
        outcome
    }

    /// One attempt through `client`: what both clients share (see [`Client`]).
    async fn call_with(
        &self,
        client: Client<'_>,
        peer: &Peer<RoleClient>,
        request: &Request<'_>,
    ) -> Result<CallToolResult, Attempt> {
        let options = request.options;
        let identity = self.forwarded_identity(options);
        // In flight from before it is sent: the backend may ask its client at once.
        let in_flight = self.events.calls.register(options.requester.clone());
        let (request_id, progress_token, answer) = match client {
            Client::Http { caller, template } => {
                let id = caller.next_request_id();
                let token = ProgressToken(NumberOrString::String(Arc::clone(&id)));
                let request_id = RequestId::String(Arc::clone(&id));
                let events = &self.events;
                let answer = async move {
                    let call = ToolCall {
                        id: &id,
                        tool: request.tool,
                        arguments: request.arguments,
                        progress: options.progress.as_ref(),
                        identity,
                        trace: request.span,
                    };
                    match caller.call(template, call, events).await {
                        Ok(result) => Ok(result),
                        Err(HttpCallError::SessionExpired) => Err(Attempt::SessionExpired),
                        Err(HttpCallError::Failed(error)) => Err(Attempt::Failed(error)),
                    }
                };
                (request_id, token, Either::Left(answer))
            }
            Client::Rmcp => {
                let mut params = CallToolRequestParams::new(request.tool.to_owned());
                if let Some(arguments) = request.arguments {
                    params = params.with_arguments(arguments.clone());
                }
                if let Some(identity) = identity {
                    identity::attach(&mut params, identity);
                }
                let handle = peer
                    .send_request_with_option(
                        ClientRequest::CallToolRequest(CallToolRequest::new(params)),
                        PeerRequestOptions::no_options(),
                    )
                    .await
                    .map_err(|_| Attempt::Failed(CallError::Unavailable))?;
                let events = &self.events;
                let answer = async move {
                    match handle.rx.await {
                        Err(_) => {
                            events.suspect.notify_one();
                            Err(CallError::Transport("connection closed during the call"))
                        }
                        Ok(Ok(ServerResult::CallToolResult(result))) => Ok(result),
                        Ok(Ok(_)) => Err(CallError::Transport("unexpected answer to tools/call")),
                        Ok(Err(ServiceError::McpError(error))) => {
                            Err(CallError::Rejected(error.message.into()))
                        }
                        Ok(Err(other)) => {
                            events.suspect.notify_one();
                            Err(CallError::Transport(service_error_category(&other)))
                        }
                    }
                    .map_err(Attempt::Failed)
                };
                (handle.id, handle.progress_token, Either::Right(answer))
            }
        };
        in_flight.set_backend_id(&request_id);
        // The backend's progress for this call reaches the caller (the gateway's own client
        // also relays what comes on the call's own stream).
        let _relay = options.progress.clone().map(|target| {
            self.events
                .register_progress(progress_token.clone(), target);
            RelayGuard {
                events: &self.events,
                token: progress_token,
            }
        });
        // A caller that goes away drops this future before the answer: the backend is told.
        let mut unanswered = CancelOnDrop {
            peer,
            request_id: Some(request_id),
        };
        let timeout = options.timeout.unwrap_or(self.config.timeout);
        let outcome = tokio::select! {
            outcome = answer => outcome,
            _ = tokio::time::sleep(timeout) => Err(Attempt::Failed(CallError::Timeout(timeout))),
            _ = options.cancel.cancelled() => Err(Attempt::Failed(CallError::Cancelled)),
        };
        let request_id = unanswered.request_id.take();
        if let (
            Err(Attempt::Failed(error @ (CallError::Timeout(_) | CallError::Cancelled))),
            Some(request_id),
        ) = (&outcome, request_id)
        {
            send_cancelled(peer, request_id, error);
        }
        outcome.map(|mut result| {
            // Older backends send no resultType; newer clients require it (it is stripped
            // again for older clients downstream).
            result.result_type.get_or_insert(ResultType::COMPLETE);
            result
        })
    }

    /// The identity a call forwards: only to backends with `forward_identity: true`, and only
    /// over HTTP (stdio has no headers to carry it).
    fn forwarded_identity<'a>(&self, options: &'a CallOptions) -> Option<&'a ForwardedIdentity> {
        let carries_headers = !matches!(self.config.transport, TransportConfig::Stdio { .. });
        options
            .identity
            .as_ref()
            .filter(|_| self.config.forward_identity && carries_headers)
    }
}

/// One call, as both clients take it.
struct Request<'a> {
    tool: &'a str,
    arguments: Option<&'a JsonObject>,
    options: &'a CallOptions,
    /// The call's trace span.
    span: &'a tracing::Span,
}

/// Tells the backend to stop a call whose future is dropped before its answer (the caller
/// went away); disarmed by taking `request_id`.
struct CancelOnDrop<'a> {
    peer: &'a Peer<RoleClient>,
    request_id: Option<RequestId>,
}

impl Drop for CancelOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(request_id) = self.request_id.take() {
            send_cancelled(self.peer, request_id, &CallError::Cancelled);
        }
    }
}

/// How long telling a backend to stop a call may take before it is given up.
const CANCEL_NOTICE_TIMEOUT: Duration = Duration::from_secs(5);

/// Tell the backend to stop a call, in the background: best effort (the backend may already be
/// gone, or hang — often why the call timed out), and the call's outcome and audit record do
/// not wait for it.
fn send_cancelled(peer: &Peer<RoleClient>, request_id: RequestId, reason: &CallError) {
    let notification = ClientNotification::CancelledNotification(CancelledNotification::new(
        CancelledNotificationParam::new(Some(request_id), Some(reason.to_string())),
    ));
    // Outside a runtime (it is shutting down) there is no one left to tell.
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let peer = peer.clone();
    runtime.spawn(async move {
        let sent = peer.send_notification(notification);
        let _ = tokio::time::timeout(CANCEL_NOTICE_TIMEOUT, sent).await;
    });
}

/// Removes a progress mapping when the call ends, however it ends.
struct RelayGuard<'a> {
    events: &'a super::handler::LinkEvents,
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
