//! Legacy HTTP+SSE client transport (protocol 2024-11-05) for SSE backends.
//!
//! rmcp ships no SSE client, so this module implements rmcp's [`Transport`] over it:
//! [`connect`] opens `GET <url>` (`Accept: text/event-stream`), waits for the `endpoint`
//! event, resolves the endpoint against the SSE URL and refuses one on another origin (a
//! hostile backend must not redirect our credentials). Each outgoing message is then POSTed to
//! the endpoint; each `event: message` on the stream is an incoming one. The stream ending or
//! failing ends the transport (`receive` gives `None`), so rmcp closes the service and the
//! caller reconnects.
//!
//! Error texts never carry a URL or a header value (a credential in the query would leak
//! through logs): [`SseError`] only names a category.

#[cfg(test)]
mod tests;

use std::{fmt, sync::Arc, time::Duration};

use bytes::Bytes;
use futures::{StreamExt, stream::BoxStream};
use http::{HeaderMap, HeaderValue, header};
use reqwest::Url;
use rmcp::{
    RoleClient,
    model::{ClientJsonRpcMessage, ServerJsonRpcMessage},
    transport::Transport,
};

use crate::event_stream::{SseEvent, SseParser};

/// The largest event (one JSON-RPC message) accepted from a backend.
const MAX_EVENT_BYTES: usize = 32 * 1024 * 1024;
/// How much of a POST's answer body is read so that the connection can be reused; the
/// answer of the 2024-11-05 transport carries nothing (`202 Accepted`).
const POST_ANSWER_DRAIN_LIMIT: usize = 64 * 1024;

/// Where an SSE backend is and how to authenticate to it.
#[derive(Clone)]
pub struct SseTarget {
    /// The URL of the event stream (`https://host/sse`).
    pub url: String,
    /// Sent on the GET and on every POST.
    pub headers: HeaderMap,
    /// Appended to the GET URL and to the endpoint URL of every POST.
    pub query: Vec<(String, String)>,
}

// Header and query values may be credentials: Debug shows their names only.
impl fmt::Debug for SseTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = Url::parse(&self.url)
            .map(|url| {
                format!(
                    "{}://{}{}",
                    url.scheme(),
                    url.host_str().unwrap_or(""),
                    url.port().map(|p| format!(":{p}")).unwrap_or_default()
                )
            })
            .unwrap_or_else(|_| "<invalid url>".to_owned());
        f.debug_struct("SseTarget")
            .field("origin", &url)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field(
                "query",
                &self.query.iter().map(|(name, _)| name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// What went wrong with an SSE backend, as a category without URL or header values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SseError {
    #[error("invalid url")]
    InvalidUrl,
    #[error("connect failed")]
    ConnectFailed,
    #[error("connect timed out")]
    ConnectTimeout,
    #[error("http status {0}")]
    HttpStatus(u16),
    #[error("redirected to another origin")]
    RedirectedToOtherOrigin,
    #[error("not an event stream")]
    NotEventStream,
    #[error("no endpoint event")]
    NoEndpoint,
    #[error("invalid endpoint")]
    InvalidEndpoint,
    #[error("endpoint on another origin")]
    EndpointOtherOrigin,
    #[error("stream closed")]
    StreamClosed,
    #[error("stream error")]
    StreamError,
    #[error("event too large")]
    EventTooLarge,
    #[error("request failed")]
    RequestFailed,
    #[error("request timed out")]
    RequestTimeout,
    #[error("message does not serialize")]
    InvalidMessage,
}

/// A redirect policy that follows redirects only within the origin of the first request.
/// Build the `reqwest::Client` given to [`connect`] with it (or with `Policy::none()`):
/// reqwest's default follows redirects to any host, taking custom credential headers along.
pub fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let same_origin = attempt
            .previous()
            .first()
            .is_some_and(|first| first.origin() == attempt.url().origin());
        if same_origin && attempt.previous().len() < 10 {
            attempt.follow()
        } else {
            attempt.stop()
        }
    })
}

/// Opens the event stream of `target` and waits for its endpoint, all within
/// `connect_timeout`, which also bounds each later POST.
pub async fn connect(
    client: reqwest::Client,
    target: SseTarget,
    connect_timeout: Duration,
) -> Result<SseClientTransport, SseError> {
    let sse_url = with_query(
        parse_http_url(&target.url).ok_or(SseError::InvalidUrl)?,
        &target.query,
    );
    tokio::time::timeout(
        connect_timeout,
        open(client, target, sse_url, connect_timeout),
    )
    .await
    .map_err(|_| SseError::ConnectTimeout)?
}

async fn open(
    client: reqwest::Client,
    target: SseTarget,
    sse_url: Url,
    post_timeout: Duration,
) -> Result<SseClientTransport, SseError> {
    let response = client
        .get(sse_url.clone())
        .headers(target.headers.clone())
        .header(header::ACCEPT, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .send()
        .await
        .map_err(|error| classify(&error, SseError::ConnectFailed, SseError::ConnectTimeout))?;
    if !response.status().is_success() {
        return Err(SseError::HttpStatus(response.status().as_u16()));
    }
    if response.url().origin() != sse_url.origin() {
        return Err(SseError::RedirectedToOtherOrigin);
    }
    if !is_event_stream(response.headers().get(header::CONTENT_TYPE)) {
        return Err(SseError::NotEventStream);
    }
    let mut events = EventSource {
        body: response.bytes_stream().boxed(),
        parser: SseParser::new(MAX_EVENT_BYTES),
    };
    let endpoint = loop {
        match events.next_event().await? {
            Some(event) if event.event == "endpoint" => {
                break resolve_endpoint(&sse_url, &event.data, &target.query)?;
            }
            // Nothing is due before the endpoint: the server cannot answer a request that
            // could not be sent yet.
            Some(_) => continue,
            None => return Err(SseError::NoEndpoint),
        }
    };
    Ok(SseClientTransport {
        events: Some(events),
        poster: Arc::new(Poster {
            client,
            endpoint,
            headers: target.headers,
            timeout: post_timeout,
        }),
    })
}

/// Parses an `http` or `https` URL; other schemes have no origin to compare.
fn parse_http_url(url: &str) -> Option<Url> {
    let url = Url::parse(url.trim()).ok()?;
    matches!(url.scheme(), "http" | "https").then_some(url)
}

fn with_query(mut url: Url, query: &[(String, String)]) -> Url {
    if !query.is_empty() {
        let mut pairs = url.query_pairs_mut();
        for (name, value) in query {
            pairs.append_pair(name, value);
        }
    }
    url
}

/// The endpoint of an `endpoint` event, resolved against the SSE URL (it is usually
/// relative) and refused unless it has the same scheme, host and port.
fn resolve_endpoint(
    sse_url: &Url,
    data: &str,
    query: &[(String, String)],
) -> Result<Url, SseError> {
    let endpoint = sse_url
        .join(data.trim())
        .map_err(|_| SseError::InvalidEndpoint)?;
    if endpoint.origin() != sse_url.origin() {
        return Err(SseError::EndpointOtherOrigin);
    }
    Ok(with_query(endpoint, query))
}

fn is_event_stream(content_type: Option<&HeaderValue>) -> bool {
    content_type
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("text/event-stream"))
}

/// Maps a reqwest error to a category; its own text names the URL and is never kept.
fn classify(error: &reqwest::Error, failed: SseError, timed_out: SseError) -> SseError {
    if error.is_timeout() {
        timed_out
    } else {
        failed
    }
}

/// The event stream of a connected backend.
struct EventSource {
    body: BoxStream<'static, reqwest::Result<Bytes>>,
    parser: SseParser,
}

impl EventSource {
    /// The next event, `None` when the stream ended. Cancel-safe: every state change happens
    /// between awaits, so a dropped call loses nothing.
    async fn next_event(&mut self) -> Result<Option<SseEvent>, SseError> {
        loop {
            if let Some(event) = self.parser.next_event() {
                return Ok(Some(event));
            }
            match self.body.next().await {
                Some(Ok(chunk)) => self
                    .parser
                    .push(&chunk)
                    .map_err(|_| SseError::EventTooLarge)?,
                Some(Err(_)) => return Err(SseError::StreamError),
                None => return Ok(None),
            }
        }
    }
}

/// Sends messages to the endpoint of a connected backend.
struct Poster {
    client: reqwest::Client,
    endpoint: Url,
    headers: HeaderMap,
    timeout: Duration,
}

impl Poster {
    async fn post(&self, mut message: ClientJsonRpcMessage) -> Result<(), SseError> {
        // `forward_identity`: this call's user and request id go out as headers of this POST.
        let mut headers = self.headers.clone();
        if let Some(identity) = super::identity::detach(&mut message) {
            headers.extend(super::identity::headers(&identity));
        }
        let body = serde_json::to_vec(&message).map_err(|_| SseError::InvalidMessage)?;
        let mut response = self
            .client
            .post(self.endpoint.clone())
            .headers(headers)
            .header(header::CONTENT_TYPE, "application/json")
            .timeout(self.timeout)
            .body(body)
            .send()
            .await
            .map_err(|error| classify(&error, SseError::RequestFailed, SseError::RequestTimeout))?;
        let status = response.status();
        let mut drained = 0;
        while drained < POST_ANSWER_DRAIN_LIMIT {
            match response.chunk().await {
                Ok(Some(chunk)) => drained += chunk.len(),
                Ok(None) | Err(_) => break,
            }
        }
        // 202 is the protocol's answer; some servers say 200 or 204.
        if status.is_success() {
            Ok(())
        } else {
            Err(SseError::HttpStatus(status.as_u16()))
        }
    }
}

/// An rmcp client transport over a backend's legacy HTTP+SSE endpoint; made by [`connect`].
pub struct SseClientTransport {
    /// `None` once the stream ended or the transport was closed.
    events: Option<EventSource>,
    poster: Arc<Poster>,
}

impl fmt::Debug for SseClientTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SseClientTransport")
            .field("open", &self.events.is_some())
            .finish_non_exhaustive()
    }
}

impl Transport<RoleClient> for SseClientTransport {
    type Error = SseError;

    fn send(
        &mut self,
        item: ClientJsonRpcMessage,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let poster = self.events.as_ref().map(|_| Arc::clone(&self.poster));
        async move {
            match poster {
                Some(poster) => poster.post(item).await,
                None => Err(SseError::StreamClosed),
            }
        }
    }

    async fn receive(&mut self) -> Option<ServerJsonRpcMessage> {
        let events = self.events.as_mut()?;
        loop {
            match events.next_event().await {
                Ok(Some(event)) if event.event == "message" => {
                    if event.data.is_empty() {
                        continue;
                    }
                    match serde_json::from_str::<ServerJsonRpcMessage>(&event.data) {
                        Ok(message) => return Some(message),
                        // One bad message must not end a session that otherwise works;
                        // the request it answered runs into its own timeout.
                        Err(_) => tracing::warn!(
                            bytes = event.data.len(),
                            "ignoring an unparseable message from an SSE backend"
                        ),
                    }
                }
                // A second `endpoint` or an unknown event type: nothing to act on.
                Ok(Some(_)) => {}
                Ok(None) => {
                    tracing::debug!("SSE backend closed its event stream");
                    self.events = None;
                    return None;
                }
                Err(error) => {
                    tracing::debug!(%error, "SSE backend event stream failed");
                    self.events = None;
                    return None;
                }
            }
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        // Dropping the body closes the GET, which ends the session on the server.
        self.events = None;
        Ok(())
    }
}
