//! `X-Request-ID`: every request gets one, every answer of the gateway carries it back.
//!
//! A caller's id is kept when it is usable (1 to 128 visible ASCII characters, one header);
//! otherwise the gateway makes a UUID v4. [`RequestIdLayer`], the outermost layer, puts the
//! id in the request's header and its extensions ([`RequestId`], where handlers and audit
//! read it with [`request_id_of`]) and on the response when the handler did not set one.
//! One layer does what tower-http's set and propagate layers and a filter in front of them
//! did (why one: `http::router`).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{HeaderMap, HeaderName, HeaderValue, Request, Response};
use tower::{Layer, Service};
use tower_http::request_id::RequestId;
use uuid::Uuid;

/// The header name, lower-case as HTTP/2 requires.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The longest caller-chosen id kept.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// Whether a caller's `X-Request-ID` value may be kept: 1 to [`MAX_REQUEST_ID_LEN`] visible
/// ASCII characters (no spaces, no control characters), so it is safe in logs and records.
pub fn is_usable_request_id(value: &[u8]) -> bool {
    !value.is_empty()
        && value.len() <= MAX_REQUEST_ID_LEN
        && value.iter().all(|byte| (0x21..=0x7e).contains(byte))
}

/// The caller's id, when it sent exactly one usable `X-Request-ID`.
fn callers_id(headers: &HeaderMap) -> Option<HeaderValue> {
    let mut values = headers.get_all(&REQUEST_ID_HEADER).iter();
    match (values.next(), values.next()) {
        (Some(only), None) if is_usable_request_id(only.as_bytes()) => Some(only.clone()),
        _ => None,
    }
}

/// A new id: a UUID v4, hyphenated, lower case.
fn new_id() -> HeaderValue {
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let text = Uuid::new_v4().hyphenated().encode_lower(&mut text);
    HeaderValue::from_str(text).expect("a UUID is a valid header value")
}

/// The request id of every request; see the module docs.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestIdLayer;

impl<S> Layer<S> for RequestIdLayer {
    type Service = WithRequestId<S>;

    fn layer(&self, inner: S) -> Self::Service {
        WithRequestId { inner }
    }
}

/// The service [`RequestIdLayer`] makes.
#[derive(Debug, Clone)]
pub struct WithRequestId<S> {
    inner: S,
}

impl<S, B, R> Service<Request<B>> for WithRequestId<S>
where
    S: Service<Request<B>, Response = Response<R>>,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = WithRequestIdFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let id = callers_id(request.headers()).unwrap_or_else(new_id);
        // Replaces a repeated or unusable caller header too.
        request.headers_mut().insert(REQUEST_ID_HEADER, id.clone());
        request.extensions_mut().insert(RequestId::new(id.clone()));
        WithRequestIdFuture {
            inner: self.inner.call(request),
            id: Some(id),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response of [`WithRequestId`], with the id put on it.
    pub struct WithRequestIdFuture<F> {
        #[pin]
        inner: F,
        id: Option<HeaderValue>,
    }
}

impl<F, R, E> Future for WithRequestIdFuture<F>
where
    F: Future<Output = Result<Response<R>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = std::task::ready!(this.inner.poll(cx))?;
        if let Some(id) = this.id.take() {
            response
                .headers_mut()
                .entry(REQUEST_ID_HEADER)
                .or_insert(id);
        }
        Poll::Ready(Ok(response))
    }
}

/// The request id set by the layer stack, if any (it is always set behind `http::router`).
pub fn request_id_of(extensions: &http::Extensions) -> Option<&str> {
    extensions
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::convert::Infallible;

    use tower::ServiceExt as _;

    #[test]
    fn usable_ids() {
        assert!(is_usable_request_id(b"abc-123"));
        assert!(is_usable_request_id(
            b"0f8e2c1a-7b3d-4e5f-9a0b-1c2d3e4f5a6b"
        ));
        assert!(is_usable_request_id(b"~!#$%&'*+.^_`|"));
        assert!(is_usable_request_id(&[b'a'; MAX_REQUEST_ID_LEN]));
    }

    #[test]
    fn unusable_ids() {
        assert!(!is_usable_request_id(b""));
        assert!(!is_usable_request_id(&[b'a'; MAX_REQUEST_ID_LEN + 1]));
        assert!(!is_usable_request_id(b"with space"));
        assert!(!is_usable_request_id(b"tab\there"));
        assert!(!is_usable_request_id(b"line\nbreak"));
        assert!(!is_usable_request_id(b"del\x7f"));
        assert!(!is_usable_request_id("caf\u{e9}".as_bytes()));
    }

    /// What the handler saw (header, extension) and the response's header, for a request
    /// with these `X-Request-ID` values; `answer` is the handler's own header, if any.
    async fn seen(values: &[&[u8]], answer: Option<&'static str>) -> [Option<String>; 3] {
        let mut request = Request::new(());
        for value in values {
            if let Ok(value) = HeaderValue::from_bytes(value) {
                request.headers_mut().append(REQUEST_ID_HEADER, value);
            }
        }
        let handler = tower::service_fn(move |request: Request<()>| async move {
            let text = |v: &HeaderValue| v.to_str().unwrap().to_owned();
            assert_eq!(
                request.headers().get_all(REQUEST_ID_HEADER).iter().count(),
                1
            );
            let header = request.headers().get(REQUEST_ID_HEADER).map(text);
            let extension = request_id_of(request.extensions()).map(str::to_owned);
            let mut response = Response::new(format!("{}|{}", header.unwrap(), extension.unwrap()));
            if let Some(own) = answer {
                response
                    .headers_mut()
                    .insert(REQUEST_ID_HEADER, HeaderValue::from_static(own));
            }
            Ok::<_, Infallible>(response)
        });
        let response = RequestIdLayer
            .layer(handler)
            .oneshot(request)
            .await
            .unwrap();
        let (header, extension) = response.body().split_once('|').unwrap();
        let returned = response
            .headers()
            .get(REQUEST_ID_HEADER)
            .map(|v| v.to_str().unwrap().to_owned());
        [
            Some(header.to_owned()),
            Some(extension.to_owned()),
            returned,
        ]
    }

    fn is_new_uuid(id: &str) -> bool {
        Uuid::parse_str(id).is_ok_and(|uuid| uuid.get_version_num() == 4) && id == id.to_lowercase()
    }

    #[tokio::test]
    async fn a_usable_id_is_kept_and_returned() {
        let [header, extension, returned] = seen(&[b"req-1"], None).await;
        assert_eq!(header.as_deref(), Some("req-1"));
        assert_eq!(extension, header);
        assert_eq!(returned, header);
    }

    #[tokio::test]
    async fn an_unusable_repeated_or_missing_id_is_replaced_by_a_new_one() {
        let long = [b'x'; MAX_REQUEST_ID_LEN + 1];
        let cases: [&[&[u8]]; 5] = [
            &[b"two words"],
            &[&long],
            &[b"\xfe\xff"],
            &[b"a", b"b"],
            &[],
        ];
        let mut ids = Vec::new();
        for values in cases {
            let [header, extension, returned] = seen(values, None).await;
            let header = header.unwrap();
            assert!(is_new_uuid(&header), "{header}");
            assert_eq!(extension.as_deref(), Some(&*header));
            assert_eq!(returned.as_deref(), Some(&*header));
            ids.push(header);
        }
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), 5, "every request gets its own id");
    }

    #[tokio::test]
    async fn a_handlers_own_response_id_is_left_alone() {
        let [_, _, returned] = seen(&[b"req-1"], Some("handler-set")).await;
        assert_eq!(returned.as_deref(), Some("handler-set"));
    }

    #[test]
    fn the_id_is_read_from_the_extensions() {
        let mut extensions = http::Extensions::new();
        assert_eq!(request_id_of(&extensions), None);
        extensions.insert(RequestId::new(HeaderValue::from_static("abc")));
        assert_eq!(request_id_of(&extensions), Some("abc"));
    }
}
