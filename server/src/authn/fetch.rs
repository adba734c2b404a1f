//! The two documents fetched from the issuer: OIDC discovery metadata and the JWKS.
//!
//! Bodies are read with a size cap (a misbehaving endpoint cannot fill memory), and errors
//! name what went wrong without the response body.

use bytes::{Bytes, BytesMut};
use futures::StreamExt as _;
use serde_json::Value;

/// Far above any real JWKS or metadata document.
pub const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

/// Why a document could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("request failed: {0}")]
    Transport(String),
    #[error("answered HTTP {0}")]
    Status(u16),
    #[error("answer larger than {MAX_DOCUMENT_BYTES} bytes")]
    TooLarge,
    #[error("not a usable document: {0}")]
    Invalid(String),
}

/// The issuer's OIDC discovery document: the parts the gateway uses, and the whole document
/// as received, to mirror at `/.well-known/oauth-authorization-server`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderMetadata {
    pub issuer: String,
    pub jwks_uri: String,
    /// The document as JSON bytes, unchanged.
    pub document: Bytes,
}

impl ProviderMetadata {
    /// Parse a discovery document; its `issuer` must be `expected_issuer` exactly (OpenID
    /// Connect Discovery §4.3), else tokens would name an issuer the gateway refuses.
    pub fn parse(bytes: Bytes, expected_issuer: &str) -> Result<ProviderMetadata, FetchError> {
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|_| FetchError::Invalid("not JSON".to_owned()))?;
        let field = |name: &str| value.get(name).and_then(Value::as_str).map(str::to_owned);
        let issuer =
            field("issuer").ok_or_else(|| FetchError::Invalid("no `issuer`".to_owned()))?;
        if issuer != expected_issuer {
            return Err(FetchError::Invalid(format!(
                "it names issuer {issuer:?}, expected {expected_issuer:?} (set JWT_ISSUER to the issuer tokens carry)"
            )));
        }
        let jwks_uri =
            field("jwks_uri").ok_or_else(|| FetchError::Invalid("no `jwks_uri`".to_owned()))?;
        let valid_uri = reqwest::Url::parse(&jwks_uri)
            .is_ok_and(|url| matches!(url.scheme(), "http" | "https"));
        if !valid_uri {
            return Err(FetchError::Invalid(
                "`jwks_uri` is not an http(s) URL".to_owned(),
            ));
        }
        Ok(ProviderMetadata {
            issuer,
            jwks_uri,
            document: bytes,
        })
    }
}

/// GET `url` expecting JSON; the body, capped at [`MAX_DOCUMENT_BYTES`].
pub async fn get_document(http: &reqwest::Client, url: &str) -> Result<Bytes, FetchError> {
    let response = http
        .get(url)
        .header(http::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|error| FetchError::Transport(error.without_url().to_string()))?;
    let status = response.status();
    if !status.is_success() {
        return Err(FetchError::Status(status.as_u16()));
    }
    if response
        .content_length()
        .is_some_and(|length| length > MAX_DOCUMENT_BYTES as u64)
    {
        return Err(FetchError::TooLarge);
    }
    let mut body = BytesMut::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk =
            chunk.map_err(|error| FetchError::Transport(error.without_url().to_string()))?;
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(FetchError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ISSUER: &str = "http://localhost:8080/realms/mcp-gateway";

    fn doc(value: Value) -> Bytes {
        Bytes::from(value.to_string())
    }

    #[test]
    fn keycloak_metadata_parses_and_is_kept_whole() {
        let document = doc(json!({
            "issuer": ISSUER,
            "jwks_uri": format!("{ISSUER}/protocol/openid-connect/certs"),
            "token_endpoint": format!("{ISSUER}/protocol/openid-connect/token"),
            "code_challenge_methods_supported": ["S256"]
        }));
        let metadata = ProviderMetadata::parse(document.clone(), ISSUER).expect("metadata");
        assert_eq!(metadata.issuer, ISSUER);
        assert_eq!(
            metadata.jwks_uri,
            format!("{ISSUER}/protocol/openid-connect/certs")
        );
        assert_eq!(metadata.document, document);
    }

    #[test]
    fn issuer_must_be_the_expected_one() {
        let document = doc(json!({
            "issuer": "http://keycloak:8080/realms/mcp-gateway",
            "jwks_uri": "http://keycloak:8080/certs"
        }));
        let error = ProviderMetadata::parse(document, ISSUER).unwrap_err();
        assert!(matches!(&error, FetchError::Invalid(why) if why.contains("JWT_ISSUER")));
    }

    #[test]
    fn broken_documents() {
        for (value, why) in [
            (json!({"jwks_uri": "http://x/certs"}), "issuer"),
            (json!({"issuer": ISSUER}), "jwks_uri"),
            (
                json!({"issuer": ISSUER, "jwks_uri": "file:///etc/passwd"}),
                "http",
            ),
        ] {
            let error = ProviderMetadata::parse(doc(value), ISSUER).unwrap_err();
            assert!(
                matches!(&error, FetchError::Invalid(text) if text.contains(why)),
                "{error}"
            );
        }
        assert_eq!(
            ProviderMetadata::parse(Bytes::from_static(b"<html>"), ISSUER).unwrap_err(),
            FetchError::Invalid("not JSON".to_owned())
        );
    }
}
