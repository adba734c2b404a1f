//! Reading REST input: JSON bodies within `limits.max_request_bytes`, query strings and path
//! segments. Every failure is an [`ApiError`] (`400 bad_request` or `413 payload_too_large`)
//! whose message says what is wrong without repeating the input: axum's own rejections answer
//! in plain text, and serde's messages may quote the values a caller sent.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use bytes::{Bytes, BytesMut};
use futures::StreamExt as _;
use http::HeaderMap;
use http::request::Parts;
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::error::Category;

use crate::error::ApiError;
use crate::gateway::Gateway;

/// A request body as JSON, not yet checked for shape; `None` when the body is empty (or only
/// whitespace). Read with the limit of the config in force when the request arrives, so a
/// reloaded `max_request_bytes` applies at once. Any content type is read as JSON: `curl -d`
/// sends a form type, and cross-site posts are stopped by the `Origin` guard.
#[derive(Debug, Clone, PartialEq)]
pub struct RawJsonBody(pub Option<Value>);

impl FromRequest<Arc<Gateway>> for RawJsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, gateway: &Arc<Gateway>) -> Result<Self, ApiError> {
        let limit = gateway.config().limits.max_request_bytes;
        let (parts, body) = request.into_parts();
        let bytes = read_limited(&parts.headers, body, limit).await?;
        parse_json(&bytes).map(RawJsonBody)
    }
}

/// The whole body, or 413 as soon as it is known to exceed `limit` bytes (from
/// `Content-Length` before reading, else while reading).
pub async fn read_limited(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<Bytes, ApiError> {
    if declared_length(headers).is_some_and(|length| length > limit) {
        return Err(too_large(limit));
    }
    let mut stream = body.into_data_stream();
    let mut buffer = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|_| ApiError::BadRequest("the request body could not be read".to_owned()))?;
        if buffer.len().saturating_add(chunk.len()) > limit {
            return Err(too_large(limit));
        }
        buffer.extend_from_slice(&chunk);
    }
    Ok(buffer.freeze())
}

fn declared_length(headers: &HeaderMap) -> Option<usize> {
    headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn too_large(limit: usize) -> ApiError {
    ApiError::PayloadTooLarge(format!(
        "request body is larger than {limit} bytes (limits.max_request_bytes)"
    ))
}

/// Parse a body as JSON; an empty or whitespace-only body is `None`.
pub fn parse_json(bytes: &[u8]) -> Result<Option<Value>, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(bytes)
        .map(Some)
        .map_err(|error| ApiError::BadRequest(json_error_message(&error)))
}

/// Where the JSON is broken, never what it contains.
fn json_error_message(error: &serde_json::Error) -> String {
    match error.classify() {
        Category::Eof => "the body is not valid JSON: it ends too early".to_owned(),
        Category::Syntax | Category::Data | Category::Io => format!(
            "the body is not valid JSON: syntax error at line {} column {}",
            error.line(),
            error.column()
        ),
    }
}

/// A query string deserialized into `T`, or 400 with serde's message (which names fields).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| ApiQuery(value))
            .map_err(|rejection| ApiError::BadRequest(rejection.body_text()))
    }
}

/// Path parameters deserialized into `T`, or 400.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| ApiPath(value))
            .map_err(|_| {
                ApiError::BadRequest(
                    "the URL path could not be decoded (percent-encoding or UTF-8)".to_owned(),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use serde_json::json;

    fn message(error: ApiError) -> (u16, String) {
        (error.status_and_code().0.as_u16(), error.to_string())
    }

    #[test]
    fn empty_and_blank_bodies_are_none() {
        assert_eq!(parse_json(b"").ok(), Some(None));
        assert_eq!(parse_json(b"  \n\t ").ok(), Some(None));
    }

    #[test]
    fn json_bodies_parse() {
        assert_eq!(parse_json(br#"{"a":1}"#).ok(), Some(Some(json!({"a": 1}))));
        assert_eq!(parse_json(b" [1,2] ").ok(), Some(Some(json!([1, 2]))));
        assert_eq!(parse_json(b"null").ok(), Some(Some(Value::Null)));
    }

    #[test]
    fn broken_json_is_400_with_a_position() {
        let error = parse_json(br#"{"a": secret-value}"#).err().map(message);
        let Some((status, text)) = error else {
            panic!("broken JSON accepted");
        };
        assert_eq!(status, 400);
        assert!(text.contains("line 1 column"), "{text}");
        assert!(!text.contains("secret-value"), "{text}");
    }

    #[test]
    fn truncated_json_says_it_ends_early() {
        let error = parse_json(br#"{"a": [1, 2"#).err().map(message);
        assert_eq!(
            error,
            Some((
                400,
                "the body is not valid JSON: it ends too early".to_owned()
            ))
        );
    }

    #[test]
    fn invalid_utf8_is_400() {
        let error = parse_json(b"\"\xff\xfe\"").err().map(message);
        assert_eq!(error.map(|(status, _)| status), Some(400));
    }

    fn headers_with_length(length: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Ok(value) = http::HeaderValue::from_str(length) {
            headers.insert(http::header::CONTENT_LENGTH, value);
        }
        headers
    }

    #[tokio::test]
    async fn a_body_within_the_limit_is_read() {
        let bytes = read_limited(&HeaderMap::new(), Body::from("12345"), 5).await;
        assert_eq!(bytes.ok(), Some(Bytes::from_static(b"12345")));
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_413() {
        let error = read_limited(&HeaderMap::new(), Body::from("123456"), 5)
            .await
            .err()
            .map(message);
        assert_eq!(error.map(|(status, _)| status), Some(413));
    }

    #[tokio::test]
    async fn a_declared_length_over_the_limit_is_413_before_reading() {
        let error = read_limited(&headers_with_length("6"), Body::from("1"), 5)
            .await
            .err()
            .map(message);
        let Some((status, text)) = error else {
            panic!("declared length ignored");
        };
        assert_eq!(status, 413);
        assert!(text.contains("5 bytes"), "{text}");
    }

    #[tokio::test]
    async fn a_streamed_body_over_the_limit_is_413() {
        let chunks = futures::stream::iter(
            ["abc", "def"]
                .map(|chunk| Ok::<_, std::io::Error>(Bytes::from_static(chunk.as_bytes()))),
        );
        let error = read_limited(&HeaderMap::new(), Body::from_stream(chunks), 4)
            .await
            .err()
            .map(message);
        assert_eq!(error.map(|(status, _)| status), Some(413));
    }

    #[test]
    fn declared_length_parsing() {
        assert_eq!(declared_length(&headers_with_length("42")), Some(42));
        assert_eq!(declared_length(&headers_with_length("x")), None);
        assert_eq!(declared_length(&HeaderMap::new()), None);
    }
}
