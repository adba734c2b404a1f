//! The HTTP clients the gateway reaches its backends with: reqwest for everything, and
//! hyper's pooled HTTP/1.1 client for the gateway's own `tools/call` client
//! ([`super::http_call`]) to `http://` backends.
//!
//! reqwest wraps that same hyper client in layers a call does not need: a redirect policy
//! and a retry policy that print and re-parse the URL of every request, proxy matching, and a
//! response type that parses the URL once more — a tenth of the gateway's CPU per call. The
//! hyper client is used only where it behaves as reqwest would:
//! - `http://` URLs only (TLS stays with reqwest);
//! - no proxy in the environment (`HTTP_PROXY`, `ALL_PROXY`, lower or upper case), which
//!   reqwest would honour;
//! - no redirects: a backend that answers a call with a redirect gets the call again through
//!   reqwest, which follows it within the origin, and keeps reqwest from then on
//!   ([`super::http_call`] decides that).
//!
//! The hyper client keeps one connection pool per thread: a call served on one of the
//! [`crate::serving`] threads sends on a backend connection driven by that same thread, so
//! no other thread is woken along the way.
//!
//! Both answer with the same [`Response`] type, so the code reading answers is shared.

use std::time::Duration;

use bytes::Bytes;
use http::header::USER_AGENT;
use http::{HeaderMap, HeaderValue, Method};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

/// What reading a response body can fail with.
pub type BodyError = Box<dyn std::error::Error + Send + Sync>;
/// A response body from either client.
pub type Body = UnsyncBoxBody<Bytes, BodyError>;
/// A response from either client.
pub type Response = http::Response<Body>;

/// Idle connections kept per backend host, as for reqwest.
const MAX_IDLE_PER_HOST: usize = 64;
/// How long an idle pooled connection is kept (reqwest's default).
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Environment variables through which reqwest picks up a proxy for `http://` URLs.
const PROXY_VARIABLES: [&str; 4] = ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"];

/// reqwest and, where it may be used, the hyper client. Cheap to clone (both are handles to
/// shared pools).
#[derive(Clone)]
pub struct HttpClients {
    pub reqwest: reqwest::Client,
    hyper: Option<HyperClient>,
}

/// hyper's pooled HTTP/1.1 client, for `http://` only.
#[derive(Clone)]
pub struct HyperClient {
    user_agent: HeaderValue,
}

type PooledClient = Client<HttpConnector, Full<Bytes>>;

thread_local! {
    /// This thread's pool of backend connections, shared by every [`HyperClient`] (they
    /// differ only in the User-Agent, which is set per request). A connection's task runs on
    /// the runtime of the thread that opened it.
    static THREAD_POOL: PooledClient = pooled_client();
}

/// A pooled client with reqwest's pool settings.
fn pooled_client() -> PooledClient {
    let mut connector = HttpConnector::new();
    // As reqwest does: requests are small and answered at once.
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(MAX_IDLE_PER_HOST)
        .pool_idle_timeout(IDLE_TIMEOUT)
        .pool_timer(TokioTimer::new())
        .build(connector)
}

impl HyperClient {
    /// Send a request; `Err` on a transport error. `uri` is the URL [`HttpClients::hyper_for`]
    /// was asked about.
    pub async fn send(
        &self,
        method: Method,
        uri: &http::Uri,
        mut headers: HeaderMap,
        body: Bytes,
    ) -> Result<Response, ()> {
        headers
            .entry(USER_AGENT)
            .or_insert_with(|| self.user_agent.clone());
        let mut request = http::Request::new(Full::new(body));
        *request.method_mut() = method;
        *request.uri_mut() = uri.clone();
        *request.headers_mut() = headers;
        let client = THREAD_POOL.with(PooledClient::clone);
        let response = client.request(request).await.map_err(|_| ())?;
        Ok(response.map(|body| body.map_err(BodyError::from).boxed_unsync()))
    }
}

impl HttpClients {
    /// Both clients; the hyper one only when no proxy is configured in the environment.
    pub fn new(reqwest: reqwest::Client, user_agent: &'static str) -> Self {
        let proxied = PROXY_VARIABLES
            .iter()
            .any(|name| std::env::var_os(name).is_some_and(|value| !value.is_empty()));
        let hyper = (!proxied).then(|| HyperClient {
            user_agent: HeaderValue::from_static(user_agent),
        });
        Self { reqwest, hyper }
    }

    /// reqwest only (tests).
    pub fn reqwest_only(reqwest: reqwest::Client) -> Self {
        Self {
            reqwest,
            hyper: None,
        }
    }

    /// The hyper client, when it may serve `url`.
    pub fn hyper_for(&self, url: &reqwest::Url) -> Option<&HyperClient> {
        self.hyper.as_ref().filter(|_| url.scheme() == "http")
    }

    /// Send through reqwest; `Err` on a transport error.
    pub async fn send_reqwest(
        &self,
        method: Method,
        url: &reqwest::Url,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<Response, ()> {
        let mut request = self.reqwest.request(method, url.clone()).headers(headers);
        if !body.is_empty() {
            request = request.body(body);
        }
        let response = request.send().await.map_err(|_| ())?;
        Ok(http::Response::from(response).map(|body| body.map_err(BodyError::from).boxed_unsync()))
    }
}

/// The next data chunk of a body: `Ok(None)` at its end, `Err` when the connection failed.
pub async fn next_chunk(body: &mut Body) -> Result<Option<Bytes>, ()> {
    loop {
        match body.frame().await {
            None => return Ok(None),
            Some(Err(_)) => return Err(()),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    return Ok(Some(data));
                }
            }
        }
    }
}
