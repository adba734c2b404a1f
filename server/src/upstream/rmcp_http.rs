//! The HTTP client rmcp's streamable HTTP transport uses for a backend: reqwest, plus two
//! things every POST passes through — the `forward_identity` headers of a call
//! ([`super::identity`]) and the request template of the gateway's own `tools/call` client
//! ([`super::http_call`]), learnt from rmcp's own requests.

use std::collections::HashMap;
use std::sync::Arc;

use futures::stream::BoxStream;
use http::{HeaderName, HeaderValue};
use rmcp::model::ClientJsonRpcMessage;
use rmcp::transport::streamable_http_client::{
    SseError, StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
};
use sse_stream::Sse;

use super::http_call::HttpCaller;
use super::identity;

/// reqwest for rmcp's streamable HTTP transport, plus the identity headers of each call; its
/// `tools/*` requests teach [`HttpCaller`] its template.
#[derive(Clone)]
pub struct RmcpHttpClient {
    pub http: reqwest::Client,
    pub http_caller: Arc<HttpCaller>,
}

impl RmcpHttpClient {
    /// What every POST passes through before it leaves: the gateway's own call client learns from it (as
    /// rmcp built it), then a call's forwarded identity moves from `_meta` into headers.
    fn prepare(
        &self,
        uri: &str,
        session_id: Option<&str>,
        auth_header: Option<&str>,
        custom_headers: &mut HashMap<HeaderName, HeaderValue>,
        message: &mut ClientJsonRpcMessage,
    ) {
        self.http_caller
            .learn(uri, session_id, auth_header, custom_headers, message);
        if let Some(identity) = identity::detach(message) {
            custom_headers.extend(identity::headers(&identity));
        }
    }
}

impl StreamableHttpClient for RmcpHttpClient {
    type Error = reqwest::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        mut message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        mut custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        self.prepare(
            &uri,
            session_id.as_deref(),
            auth_header.as_deref(),
            &mut custom_headers,
            &mut message,
        );
        without_url(
            self.http
                .post_message(uri, message, session_id, auth_header, custom_headers)
                .await,
        )
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        mut message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        mut custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        self.prepare(
            &uri,
            session_id.as_deref(),
            auth_header.as_deref(),
            &mut custom_headers,
            &mut message,
        );
        without_url(
            self.http
                .post_message_with_max_sse_event_size(
                    uri,
                    message,
                    session_id,
                    auth_header,
                    custom_headers,
                    max_sse_event_size,
                )
                .await,
        )
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), StreamableHttpError<Self::Error>> {
        without_url(
            self.http
                .delete_session(uri, session_id, auth_header, custom_headers)
                .await,
        )
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<Self::Error>> {
        without_url(
            self.http
                .get_stream(uri, session_id, last_event_id, auth_header, custom_headers)
                .await,
        )
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<Self::Error>> {
        without_url(
            self.http
                .get_stream_with_max_sse_event_size(
                    uri,
                    session_id,
                    last_event_id,
                    auth_header,
                    custom_headers,
                    max_sse_event_size,
                )
                .await,
        )
    }
}

/// reqwest's errors carry the request's URL, and rmcp logs the errors of its transport: a
/// credential sent as a query parameter (`auth.location: query`) would reach the log. The
/// errors rmcp gets have no URL.
fn without_url<T>(
    result: Result<T, StreamableHttpError<reqwest::Error>>,
) -> Result<T, StreamableHttpError<reqwest::Error>> {
    result.map_err(|error| match error {
        StreamableHttpError::Client(error) => StreamableHttpError::Client(error.without_url()),
        other => other,
    })
}
