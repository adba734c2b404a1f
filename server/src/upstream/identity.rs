//! `forward_identity: true` (SPEC §8): the caller's user and request id reach the backend as
//! `X-User-ID` and `X-Request-ID` headers — never the caller's token.
//!
//! Every caller shares one backend session, so headers cannot be set per connection. The
//! call carries the identity in a private `_meta` entry of its `tools/call`; the HTTP client
//! of that backend ([`RmcpHttpClient`](super::rmcp_http::RmcpHttpClient) for
//! streamable HTTP, the SSE transport for SSE) takes the entry out of the message and turns it into headers of that one POST. The
//! backend never sees the entry.

use http::{HeaderName, HeaderValue};
use rmcp::model::{CallToolRequestParams, ClientJsonRpcMessage, ClientRequest, JsonRpcMessage};
use serde_json::{Value, json};

/// The private `_meta` key; removed before the message leaves the gateway.
pub const IDENTITY_META_KEY: &str = "io.secure-mcp-gateway/forwarded-identity";

pub const USER_HEADER: HeaderName = HeaderName::from_static("x-user-id");
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Who a call is for, as forwarded to a backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardedIdentity {
    pub user: String,
    pub request_id: String,
}

/// Put the identity into a `tools/call` about to be sent.
pub fn attach(params: &mut CallToolRequestParams, identity: &ForwardedIdentity) {
    params.meta.get_or_insert_with(Default::default).insert(
        IDENTITY_META_KEY.to_owned(),
        json!({"user": identity.user, "request_id": identity.request_id}),
    );
}

/// Take the identity out of an outgoing message, if it carries one.
pub fn detach(message: &mut ClientJsonRpcMessage) -> Option<ForwardedIdentity> {
    let JsonRpcMessage::Request(request) = message else {
        return None;
    };
    let ClientRequest::CallToolRequest(call) = &mut request.request else {
        return None;
    };
    let meta = call.params.meta.as_mut()?;
    let entry = meta.remove(IDENTITY_META_KEY)?;
    if meta.is_empty() {
        call.params.meta = None;
    }
    Some(ForwardedIdentity {
        user: entry.get("user").and_then(Value::as_str)?.to_owned(),
        request_id: entry.get("request_id").and_then(Value::as_str)?.to_owned(),
    })
}

/// The identity as headers; values that are not valid header values are left out.
pub fn headers(identity: &ForwardedIdentity) -> Vec<(HeaderName, HeaderValue)> {
    [
        (USER_HEADER, identity.user.as_str()),
        (REQUEST_ID_HEADER, identity.request_id.as_str()),
    ]
    .into_iter()
    .filter_map(|(name, value)| HeaderValue::from_str(value).ok().map(|v| (name, v)))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmcp::model::{CallToolRequest, RequestId};

    fn message(params: CallToolRequestParams) -> ClientJsonRpcMessage {
        ClientJsonRpcMessage::request(
            ClientRequest::CallToolRequest(CallToolRequest::new(params)),
            RequestId::Number(1),
        )
    }

    #[test]
    fn the_identity_travels_in_meta_and_is_removed_before_sending() {
        let identity = ForwardedIdentity {
            user: "alice".into(),
            request_id: "req-1".into(),
        };
        let mut params = CallToolRequestParams::new("echo");
        attach(&mut params, &identity);
        let mut message = message(params);
        assert_eq!(detach(&mut message), Some(identity.clone()));
        let wire = serde_json::to_string(&message).unwrap_or_default();
        assert!(!wire.contains(IDENTITY_META_KEY), "{wire}");
        assert!(!wire.contains("alice"), "{wire}");
        assert_eq!(detach(&mut message), None);
        let headers = headers(&identity);
        assert_eq!(headers.len(), 2);
        assert_eq!(headers[0].1, "alice");
    }

    #[test]
    fn other_meta_entries_stay() {
        let mut params = CallToolRequestParams::new("echo");
        params
            .meta
            .get_or_insert_with(Default::default)
            .insert("keep".into(), json!(1));
        attach(
            &mut params,
            &ForwardedIdentity {
                user: "u".into(),
                request_id: "r".into(),
            },
        );
        let mut message = message(params);
        assert!(detach(&mut message).is_some());
        let wire = serde_json::to_value(&message).unwrap_or_default();
        assert_eq!(wire["params"]["_meta"]["keep"], 1);
    }

    #[test]
    fn unusable_header_values_are_left_out() {
        let identity = ForwardedIdentity {
            user: "bad\nuser".into(),
            request_id: "ok".into(),
        };
        assert_eq!(headers(&identity).len(), 1);
    }
}
