//! Token verification against a [`KeySet`]: no I/O, no locks.
//!
//! The order of checks is the order of cost and of trust: the token's shape, then its header
//! (an algorithm outside `JWT_ALGORITHM` is refused before any key is looked at, which is what
//! defeats `alg: none` and HS256-with-the-public-key tokens), then the key by `kid` and its
//! fitness for that algorithm, then the signature, and only then the claims.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};

use super::claims::TokenClaims;
use super::config::AuthnConfig;
use super::error::{AuthError, QuotedValue};
use super::keys::KeySet;
use crate::principal::Principal;

/// Longer tokens are refused unread (Keycloak tokens with many roles stay well below).
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// What the header says, once checked against the allowed algorithms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenHeader {
    pub algorithm: Algorithm,
    pub kid: String,
}

/// Verifies tokens for one [`AuthnConfig`]. The jsonwebtoken [`Validation`] of every allowed
/// algorithm is built once, so the hot path allocates nothing for it.
#[derive(Debug, Clone)]
pub struct TokenVerifier {
    /// One validation per allowed algorithm: jsonwebtoken requires every algorithm of a
    /// validation to belong to the key's family, so one list for RS256 and ES256 would refuse
    /// both.
    validations: Vec<(Algorithm, Validation)>,
    client_id: String,
    leeway_seconds: u64,
}

impl TokenVerifier {
    pub fn new(config: &AuthnConfig) -> TokenVerifier {
        let validations = config
            .algorithms
            .iter()
            .map(|&algorithm| {
                let mut validation = Validation::new(algorithm);
                validation.leeway = config.leeway_seconds;
                validation.validate_exp = true;
                validation.validate_nbf = true;
                validation.validate_aud = true;
                validation.set_audience(&config.audiences);
                validation.set_issuer(&[&config.issuer]);
                validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
                (algorithm, validation)
            })
            .collect();
        TokenVerifier {
            validations,
            client_id: config.client_id.clone(),
            leeway_seconds: config.leeway_seconds,
        }
    }

    /// Read and check the header: shape, algorithm allowed, `kid` present.
    pub fn header(&self, token: &str) -> Result<TokenHeader, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Malformed("too long"));
        }
        if token.bytes().filter(|b| *b == b'.').count() != 2
            || !token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(AuthError::Malformed("not a compact JWS"));
        }
        // `alg: none` and unknown algorithms do not even parse as a jsonwebtoken header.
        let header =
            jsonwebtoken::decode_header(token).map_err(|_| AuthError::Malformed("header"))?;
        if self.validation(header.alg).is_none() {
            return Err(AuthError::AlgorithmNotAllowed(QuotedValue::new(
                algorithm_name(header.alg),
            )));
        }
        let kid = header.kid.ok_or(AuthError::MissingKeyId)?;
        Ok(TokenHeader {
            algorithm: header.alg,
            kid,
        })
    }

    /// Verify `token` (whose header is `header`) with the key its `kid` names in `keys`.
    /// `now` is seconds since the epoch, for `iat`; `exp` and `nbf` use jsonwebtoken's clock.
    pub fn verify(
        &self,
        token: &str,
        header: &TokenHeader,
        keys: &KeySet,
        now: u64,
    ) -> Result<Principal, AuthError> {
        let key = keys
            .get(&header.kid)
            .ok_or_else(|| AuthError::UnknownKey(QuotedValue::new(&header.kid)))?;
        if !key.accepts(header.algorithm) {
            return Err(AuthError::KeyMismatch {
                alg: algorithm_name(header.algorithm),
                kid: QuotedValue::new(&header.kid),
            });
        }
        let validation = self
            .validation(header.algorithm)
            .ok_or_else(|| AuthError::AlgorithmNotAllowed(QuotedValue::new("?")))?;
        let data = jsonwebtoken::decode::<TokenClaims>(token, key.decoding_key(), validation)
            .map_err(|error| Self::explain(error.kind(), token, header))?;
        data.claims.check_issued_at(now, self.leeway_seconds)?;
        data.claims.into_principal(&self.client_id)
    }

    fn validation(&self, algorithm: Algorithm) -> Option<&Validation> {
        self.validations
            .iter()
            .find(|(allowed, _)| *allowed == algorithm)
            .map(|(_, validation)| validation)
    }

    /// jsonwebtoken's verdict as a reason for the log.
    fn explain(kind: &ErrorKind, token: &str, header: &TokenHeader) -> AuthError {
        match kind {
            ErrorKind::InvalidSignature => AuthError::BadSignature,
            ErrorKind::ExpiredSignature => AuthError::Expired,
            ErrorKind::ImmatureSignature => AuthError::NotYetValid,
            ErrorKind::InvalidAudience => AuthError::WrongAudience,
            ErrorKind::InvalidIssuer => AuthError::WrongIssuer {
                found: issuer_of(token),
            },
            ErrorKind::MissingRequiredClaim(claim) => {
                AuthError::MissingClaim(claim_name(claim.as_str()))
            }
            ErrorKind::InvalidClaimFormat(claim) => {
                AuthError::InvalidClaim(claim_name(claim.as_str()))
            }
            ErrorKind::InvalidAlgorithm | ErrorKind::InvalidKeyFormat => AuthError::KeyMismatch {
                alg: algorithm_name(header.algorithm),
                kid: QuotedValue::new(&header.kid),
            },
            ErrorKind::Json(_) => AuthError::InvalidClaim("payload"),
            _ => AuthError::Malformed("payload"),
        }
    }
}

/// The `iss` of a token that failed the issuer check: the most common misconfiguration
/// (Keycloak reached under another host name) is obvious from it. Read only on failure.
fn issuer_of(token: &str) -> QuotedValue {
    #[derive(serde::Deserialize)]
    struct Iss {
        iss: Option<serde_json::Value>,
    }
    let found = jsonwebtoken::dangerous::insecure_decode_claims::<Iss>(token)
        .ok()
        .and_then(|claims| claims.iss)
        .map(|iss| match iss {
            serde_json::Value::String(text) => text,
            other => other.to_string(),
        })
        .unwrap_or_default();
    QuotedValue::new(&found)
}

fn claim_name(claim: &str) -> &'static str {
    match claim {
        "exp" => "exp",
        "nbf" => "nbf",
        "iss" => "iss",
        "aud" => "aud",
        "sub" => "sub",
        _ => "registered claim",
    }
}

/// The JOSE name of an algorithm.
pub fn algorithm_name(algorithm: Algorithm) -> &'static str {
    match algorithm {
        Algorithm::HS256 => "HS256",
        Algorithm::HS384 => "HS384",
        Algorithm::HS512 => "HS512",
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        Algorithm::EdDSA => "EdDSA",
        _ => "unknown",
    }
}

#[cfg(test)]
#[path = "verify_tests.rs"]
mod tests;
