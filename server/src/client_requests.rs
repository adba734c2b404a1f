//! Requests a backend sends to its client during a call — `sampling/createMessage`,
//! `elicitation/create`, `roots/list` — on their way to the downstream client that made the
//! call. Shared by the layer that receives them (`upstream`) and the layers that know the
//! caller (`http`, through the gateway), so neither imports the other.
//!
//! A [`Requester`] is the downstream client of one call: its rmcp peer (session era, legacy SSE)
//! and the id of its `tools/call`. [`Requester::ask`] checks that the client declared what is
//! asked, sends the request on the call's own stream (rmcp gives it the downstream session's
//! next id; the backend's id is answered on the backend session) and returns the client's
//! answer or error. Every refusal is an immediate JSON-RPC error, never a wait.

// Sampling and roots are deprecated by the 2026-07-28 revision (SEP-2577); backends of the
// session era still ask for them.
#![allow(deprecated)]

use std::future::Future;
use std::sync::Arc;

use rmcp::RoleServer;
use rmcp::model::{
    CancelledNotificationParam, ClientCapabilities, ClientInfo, ClientResult, ElicitRequestParams,
    ErrorCode, ErrorData, GetExtensions as _, ProtocolVersion, RequestId, ServerRequest,
};
use rmcp::service::{OriginatingRequestId, Peer, PeerRequestOptions, ServiceError};

/// The downstream client that made one call, as a backend's requests reach it.
#[derive(Clone)]
pub struct Requester {
    peer: Peer<RoleServer>,
    /// What the client declared in its handshake. rmcp keeps one per session: the same `Arc`
    /// is the same client session (see [`Requester::same_client`]).
    client: Arc<ClientInfo>,
    /// The downstream id of the call: relayed requests ride that request's stream.
    call_id: RequestId,
}

impl Requester {
    /// The client of a call served by rmcp, when it is one that can be asked: a session-era
    /// client (2026-07-28 forbids server-to-client requests; those clients have no session).
    pub fn of(peer: &Peer<RoleServer>, call_id: RequestId) -> Option<Self> {
        let client = peer.peer_info()?;
        if client.protocol_version >= ProtocolVersion::V_2026_07_28 {
            return None;
        }
        Some(Self {
            peer: peer.clone(),
            client,
            call_id,
        })
    }

    /// Whether both calls come from the same client session.
    pub fn same_client(&self, other: &Requester) -> bool {
        Arc::ptr_eq(&self.client, &other.client)
    }

    /// Relay `request` to the client and return its answer. `abandon` resolves when the call
    /// the request belongs to ended, or the backend withdrew the request: the client is then
    /// told to stop, and the backend gets an error.
    pub async fn ask(
        &self,
        request: ServerRequest,
        abandon: impl Future<Output = ()>,
    ) -> Result<ClientResult, ErrorData> {
        if let Some(refusal) = refusal(&request, &self.client.capabilities) {
            return Err(refusal);
        }
        let mut request = request;
        request
            .extensions_mut()
            .insert(OriginatingRequestId(self.call_id.clone()));
        // Sent from a task of its own: rmcp marks a request sent from inside a request handler
        // as belonging to that handler's request, which here would be the backend's, and so
        // overwrite the marker naming the downstream call.
        let peer = self.peer.clone();
        let sent = tokio::spawn(async move {
            peer.send_request_with_option(request, PeerRequestOptions::no_options())
                .await
                .map(|handle| (handle.id, handle.rx))
        })
        .await;
        let Ok(Ok((id, answer))) = sent else {
            return Err(client_gone());
        };
        tokio::select! {
            answer = answer => match answer {
                Ok(Ok(result)) => Ok(result),
                Ok(Err(ServiceError::McpError(error))) => Err(error),
                Ok(Err(_)) | Err(_) => Err(client_gone()),
            },
            () = abandon => {
                let peer = self.peer.clone();
                tokio::spawn(async move {
                    let reason = "the call this request belongs to ended".to_owned();
                    let _ = peer
                        .notify_cancelled(CancelledNotificationParam::new(Some(id), Some(reason)))
                        .await;
                });
                Err(call_ended())
            }
        }
    }
}

/// Whether a client that declared `capabilities` may be asked anything a backend may relay.
pub fn can_be_asked(capabilities: &ClientCapabilities) -> bool {
    capabilities.sampling.is_some()
        || capabilities.elicitation.is_some()
        || capabilities.roots.is_some()
}

/// The method name of a request, for messages.
pub fn method_of(request: &ServerRequest) -> &str {
    match request {
        ServerRequest::CreateMessageRequest(_) => "sampling/createMessage",
        ServerRequest::ElicitRequest(_) => "elicitation/create",
        ServerRequest::ListRootsRequest(_) => "roots/list",
        ServerRequest::PingRequest(_) => "ping",
        ServerRequest::CustomRequest(custom) => &custom.method,
        _ => "this request",
    }
}

/// Why a client that declared `capabilities` cannot be asked `request`; `None` when it can.
pub fn refusal(request: &ServerRequest, capabilities: &ClientCapabilities) -> Option<ErrorData> {
    match request {
        ServerRequest::CreateMessageRequest(request) => {
            let Some(sampling) = &capabilities.sampling else {
                return Some(unsupported("sampling"));
            };
            let with_tools = request.params.tools.is_some() || request.params.tool_choice.is_some();
            (with_tools && sampling.tools.is_none()).then(|| {
                ErrorData::invalid_params(
                    "the client that made this call does not support sampling with tools",
                    None,
                )
            })
        }
        ServerRequest::ElicitRequest(request) => {
            let Some(elicitation) = &capabilities.elicitation else {
                return Some(unsupported("elicitation"));
            };
            // A client that names no mode supports forms (MCP 2025-11-25).
            let form = elicitation.form.is_some() || elicitation.url.is_none();
            let url = elicitation.url.is_some();
            let (supported, mode) = match &request.params {
                ElicitRequestParams::FormElicitationParams { .. } => (form, "form"),
                ElicitRequestParams::UrlElicitationParams { .. } => (url, "url"),
                _ => (false, "this"),
            };
            (!supported).then(|| {
                ErrorData::invalid_params(
                    format!(
                        "the client that made this call does not support elicitation in {mode} mode"
                    ),
                    None,
                )
            })
        }
        ServerRequest::ListRootsRequest(_) => {
            capabilities.roots.is_none().then(|| unsupported("roots"))
        }
        other => Some(ErrorData::new(
            ErrorCode::METHOD_NOT_FOUND,
            format!("{} is not relayed to clients", method_of(other)),
            None,
        )),
    }
}

/// The client did not declare `capability`.
fn unsupported(capability: &str) -> ErrorData {
    ErrorData::new(
        ErrorCode::METHOD_NOT_FOUND,
        format!("the client that made this call does not support {capability}"),
        None,
    )
}

/// The call has no client that could be asked (a plain JSON-RPC or REST caller, a 2026-07-28
/// client, a session whose client declared nothing of the kind).
pub fn no_client(request: &ServerRequest) -> ErrorData {
    ErrorData::new(
        ErrorCode::METHOD_NOT_FOUND,
        format!(
            "the client that made this call does not support {}: it has no session that declared it",
            method_of(request)
        ),
        None,
    )
}

/// The request came outside any call the gateway could tie it to.
pub fn no_call(request: &ServerRequest) -> ErrorData {
    ErrorData::new(
        ErrorCode::INVALID_REQUEST,
        format!(
            "{} outside a tool call: the gateway relays it only to the client of a call in flight",
            method_of(request)
        ),
        None,
    )
}

/// The request could come from the calls of several clients; the gateway cannot tell whose.
pub fn ambiguous() -> ErrorData {
    ErrorData::new(
        ErrorCode::INTERNAL_ERROR,
        "several callers have calls in flight on this backend: the gateway cannot tell which \
         one this request is for (use streamable HTTP and send it on the call's stream)",
        None,
    )
}

pub fn call_ended() -> ErrorData {
    ErrorData::new(
        ErrorCode::INTERNAL_ERROR,
        "the call this request belongs to ended",
        None,
    )
}

fn client_gone() -> ErrorData {
    ErrorData::new(
        ErrorCode::INTERNAL_ERROR,
        "the client that made this call is gone",
        None,
    )
}

/// The request could not be read as one the gateway relays.
pub fn unreadable(method: &str) -> ErrorData {
    ErrorData::invalid_params(
        format!("the gateway could not read this {method} request"),
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::{
        CreateMessageRequest, CreateMessageRequestParams, ElicitRequest, ListRootsRequest,
    };
    use serde_json::json;

    fn sampling(with_tools: bool) -> ServerRequest {
        let mut params: CreateMessageRequestParams = serde_json::from_value(json!({
            "messages": [{"role": "user", "content": {"type": "text", "text": "hi"}}],
            "maxTokens": 10
        }))
        .expect("params");
        if with_tools {
            params.tools = Some(Vec::new());
        }
        ServerRequest::CreateMessageRequest(CreateMessageRequest::new(params))
    }

    fn elicitation(mode: &str) -> ServerRequest {
        let params = match mode {
            "url" => json!({"mode": "url", "message": "m", "url": "https://example.com/x",
                            "elicitationId": "e1"}),
            _ => json!({"mode": "form", "message": "m",
                        "requestedSchema": {"type": "object", "properties": {}}}),
        };
        let params: ElicitRequestParams = serde_json::from_value(params).expect("params");
        ServerRequest::ElicitRequest(ElicitRequest::new(params))
    }

    fn roots() -> ServerRequest {
        ServerRequest::ListRootsRequest(ListRootsRequest::default())
    }

    fn declared(value: serde_json::Value) -> ClientCapabilities {
        serde_json::from_value(value).expect("capabilities")
    }

    #[test]
    fn nothing_declared_refuses_everything_at_once() {
        let none = ClientCapabilities::default();
        assert!(!can_be_asked(&none));
        for request in [
            sampling(false),
            elicitation("form"),
            elicitation("url"),
            roots(),
        ] {
            let refusal = refusal(&request, &none).expect("refused");
            assert!(
                refusal.message.contains("does not support"),
                "{}",
                refusal.message
            );
        }
    }

    #[test]
    fn what_is_declared_may_be_asked() {
        let all = declared(
            json!({"sampling": {}, "elicitation": {"form": {}, "url": {}},
                                  "roots": {"listChanged": true}}),
        );
        assert!(can_be_asked(&all));
        for request in [
            sampling(false),
            elicitation("form"),
            elicitation("url"),
            roots(),
        ] {
            assert_eq!(refusal(&request, &all), None, "{}", method_of(&request));
        }
    }

    #[test]
    fn elicitation_modes_are_checked_one_by_one() {
        let form_only = declared(json!({"elicitation": {"form": {}}}));
        assert_eq!(refusal(&elicitation("form"), &form_only), None);
        let refused = refusal(&elicitation("url"), &form_only).expect("url refused");
        assert_eq!(refused.code, ErrorCode::INVALID_PARAMS);
        assert!(refused.message.contains("url mode"), "{}", refused.message);
        // No mode named: forms only (backward compatibility).
        let bare = declared(json!({"elicitation": {}}));
        assert_eq!(refusal(&elicitation("form"), &bare), None);
        assert!(refusal(&elicitation("url"), &bare).is_some());
        let url_only = declared(json!({"elicitation": {"url": {}}}));
        assert!(refusal(&elicitation("form"), &url_only).is_some());
        assert_eq!(refusal(&elicitation("url"), &url_only), None);
    }

    #[test]
    fn sampling_with_tools_needs_the_tools_capability() {
        let plain = declared(json!({"sampling": {}}));
        assert_eq!(refusal(&sampling(false), &plain), None);
        assert!(refusal(&sampling(true), &plain).is_some());
        let with_tools = declared(json!({"sampling": {"tools": {}}}));
        assert_eq!(refusal(&sampling(true), &with_tools), None);
        let roots_only = declared(json!({"roots": {}}));
        let refused = refusal(&sampling(false), &roots_only).expect("refused");
        assert_eq!(refused.code, ErrorCode::METHOD_NOT_FOUND);
        assert!(refused.message.contains("sampling"), "{}", refused.message);
    }
}
