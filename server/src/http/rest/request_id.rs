//! `X-Request-ID`: every request gets one, every answer of the gateway carries it back.
//!
//! A caller's id is kept when it is usable (1 to 128 visible ASCII characters, one header);
//! anything else is dropped here so that tower-http's `SetRequestIdLayer`, the next layer in,
//! generates a UUID v4 in its place. That layer also puts the id into the request extensions
//! ([`RequestId`]), where handlers (and audit) read it with [`request_id_of`].

use axum::extract::Request;
use http::HeaderName;
use tower_http::request_id::RequestId;

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

/// Middleware (`axum::middleware::map_request`): removes an `X-Request-ID` that is not
/// usable, or that is sent more than once, so that a fresh id replaces it.
pub async fn drop_unusable_request_id(mut request: Request) -> Request {
    let headers = request.headers_mut();
    let mut values = headers.get_all(&REQUEST_ID_HEADER).iter();
    let keep = match (values.next(), values.next()) {
        (Some(only), None) => is_usable_request_id(only.as_bytes()),
        _ => false,
    };
    if !keep {
        headers.remove(&REQUEST_ID_HEADER);
    }
    request
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

    use axum::body::Body;
    use http::HeaderValue;

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

    fn request_with(values: &[&[u8]]) -> Request {
        let mut request = Request::new(Body::empty());
        for value in values {
            if let Ok(value) = HeaderValue::from_bytes(value) {
                request.headers_mut().append(REQUEST_ID_HEADER, value);
            }
        }
        request
    }

    #[tokio::test]
    async fn a_usable_id_is_kept() {
        let request = drop_unusable_request_id(request_with(&[b"req-1"])).await;
        assert_eq!(
            request.headers().get(REQUEST_ID_HEADER),
            Some(&HeaderValue::from_static("req-1"))
        );
    }

    #[tokio::test]
    async fn an_unusable_id_is_dropped() {
        let long = [b'x'; MAX_REQUEST_ID_LEN + 1];
        for value in [&b"two words"[..], &long[..], &b"\xfe\xff"[..]] {
            let request = drop_unusable_request_id(request_with(&[value])).await;
            assert!(request.headers().get(REQUEST_ID_HEADER).is_none());
        }
    }

    #[tokio::test]
    async fn a_repeated_header_is_dropped() {
        let request = drop_unusable_request_id(request_with(&[b"a", b"b"])).await;
        assert!(request.headers().get(REQUEST_ID_HEADER).is_none());
    }

    #[tokio::test]
    async fn no_header_stays_no_header() {
        let request = drop_unusable_request_id(request_with(&[])).await;
        assert!(request.headers().get(REQUEST_ID_HEADER).is_none());
    }

    #[test]
    fn the_id_is_read_from_the_extensions() {
        let mut extensions = http::Extensions::new();
        assert_eq!(request_id_of(&extensions), None);
        extensions.insert(RequestId::new(HeaderValue::from_static("abc")));
        assert_eq!(request_id_of(&extensions), Some("abc"));
    }
}
