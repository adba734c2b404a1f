//! Why a bearer token was not accepted.
//!
//! The reason is for the gateway's log (and the audit hook), never for the caller: the HTTP
//! answer only says that the token is missing or invalid, so that a probing client learns
//! nothing about which check failed. Values copied from a token (a `kid`, an `iss`) are cut
//! short and printed with `{:?}` so that a hostile token cannot forge log lines.

use std::fmt;

/// A token value quoted in a reason: at most [`QuotedValue::MAX_CHARS`] characters, printed
/// escaped.
#[derive(Clone, PartialEq, Eq)]
pub struct QuotedValue(String);

impl QuotedValue {
    pub const MAX_CHARS: usize = 80;

    pub fn new(value: &str) -> Self {
        QuotedValue(value.chars().take(Self::MAX_CHARS).collect())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for QuotedValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for QuotedValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// Why authentication failed. [`AuthError::KeysUnavailable`] is the one case that is not the
/// caller's fault (503 `auth_unavailable`); every other variant is a 401.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no bearer token")]
    MissingToken,
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    #[error("algorithm {0} is not accepted (JWT_ALGORITHM)")]
    AlgorithmNotAllowed(QuotedValue),
    #[error("token header has no kid")]
    MissingKeyId,
    #[error("no signing key with kid {0}")]
    UnknownKey(QuotedValue),
    #[error("algorithm {alg} does not fit signing key {kid}")]
    KeyMismatch { alg: &'static str, kid: QuotedValue },
    #[error("bad signature")]
    BadSignature,
    #[error("token expired")]
    Expired,
    #[error("token not valid yet (nbf)")]
    NotYetValid,
    #[error("token issued in the future (iat)")]
    IssuedInFuture,
    #[error("wrong issuer {found}")]
    WrongIssuer { found: QuotedValue },
    #[error("audience does not include the gateway")]
    WrongAudience,
    #[error("missing claim {0}")]
    MissingClaim(&'static str),
    #[error("invalid claim {0}")]
    InvalidClaim(&'static str),
    #[error("signing keys are not loaded yet")]
    KeysUnavailable,
    #[error("unknown API key")]
    UnknownApiKey,
    #[error("revoked API key")]
    RevokedApiKey,
    #[error("expired API key")]
    ExpiredApiKey,
    #[error("API keys cannot be checked: the audit database is unavailable")]
    ApiKeysUnavailable,
}

impl AuthError {
    /// Not the caller's fault: answer 503 `auth_unavailable`, not 401 (which would send MCP
    /// clients into an OAuth flow against an issuer that is down).
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            AuthError::KeysUnavailable | AuthError::ApiKeysUnavailable
        )
    }

    /// A short, bounded name of the reason: a metric label (never the token or a claim).
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::MissingToken => "missing_token",
            AuthError::Malformed(_) => "malformed",
            AuthError::AlgorithmNotAllowed(_) => "algorithm_not_allowed",
            AuthError::MissingKeyId | AuthError::UnknownKey(_) | AuthError::KeyMismatch { .. } => {
                "unknown_key"
            }
            AuthError::BadSignature => "bad_signature",
            AuthError::Expired => "expired",
            AuthError::NotYetValid | AuthError::IssuedInFuture => "not_yet_valid",
            AuthError::WrongIssuer { .. } => "wrong_issuer",
            AuthError::WrongAudience => "wrong_audience",
            AuthError::MissingClaim(_) | AuthError::InvalidClaim(_) => "bad_claims",
            AuthError::KeysUnavailable => "keys_unavailable",
            AuthError::UnknownApiKey => "unknown_api_key",
            AuthError::RevokedApiKey => "revoked_api_key",
            AuthError::ExpiredApiKey => "expired_api_key",
            AuthError::ApiKeysUnavailable => "api_keys_unavailable",
        }
    }

    /// Whether a token was presented at all (RFC 6750: `error="invalid_token"` only then).
    pub fn token_was_sent(&self) -> bool {
        !matches!(self, AuthError::MissingToken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_values_are_short_and_escaped() {
        let long = "k".repeat(500);
        assert_eq!(
            QuotedValue::new(&long).as_str().chars().count(),
            QuotedValue::MAX_CHARS
        );
        let forged = AuthError::UnknownKey(QuotedValue::new("x\nlevel=ERROR forged"));
        let text = forged.to_string();
        assert!(!text.contains('\n'), "{text}");
        assert!(text.contains("\\n"), "{text}");
    }

    #[test]
    fn reasons_are_short_labels() {
        let forged = AuthError::WrongIssuer {
            found: QuotedValue::new("https://evil.example"),
        };
        assert_eq!(forged.reason(), "wrong_issuer");
        assert_eq!(AuthError::Expired.reason(), "expired");
    }

    #[test]
    fn only_missing_keys_are_unavailable() {
        assert!(AuthError::KeysUnavailable.is_unavailable());
        assert!(!AuthError::Expired.is_unavailable());
        assert!(!AuthError::MissingToken.token_was_sent());
        assert!(AuthError::BadSignature.token_was_sent());
    }
}
