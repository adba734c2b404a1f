//! The issuer's signing keys, decoded once per JWKS fetch and looked up by `kid`.
//!
//! Keys are parsed one by one, so that one entry this gateway cannot use (an encryption key,
//! an unknown key type) does not hide the others. Symmetric (`oct`) keys are never taken from
//! a JWKS: a key published for everyone to read cannot be an HMAC secret.

use std::collections::HashMap;

use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, KeyOperations, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};

/// One signing key, ready to verify.
#[derive(Clone)]
pub struct VerificationKey {
    key: DecodingKey,
    /// The key's curve (EC and OKP keys), which pins the algorithm further.
    curve: Option<EllipticCurve>,
    /// The JWK's `alg`, when it names one.
    algorithm: Option<Algorithm>,
}

impl std::fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerificationKey")
            .field("family", &self.key.family())
            .field("curve", &self.curve)
            .field("algorithm", &self.algorithm)
            .finish()
    }
}

impl VerificationKey {
    pub fn decoding_key(&self) -> &DecodingKey {
        &self.key
    }

    /// Whether a token signed with `algorithm` may be checked with this key: same family,
    /// the JWK's own `alg` when it has one, and the curve that algorithm is defined on.
    pub fn accepts(&self, algorithm: Algorithm) -> bool {
        if self.key.family() != algorithm.family() {
            return false;
        }
        if self.algorithm.is_some_and(|own| own != algorithm) {
            return false;
        }
        match (algorithm, &self.curve) {
            (Algorithm::ES256, Some(curve)) => *curve == EllipticCurve::P256,
            (Algorithm::ES384, Some(curve)) => *curve == EllipticCurve::P384,
            (Algorithm::EdDSA, Some(curve)) => *curve == EllipticCurve::Ed25519,
            _ => true,
        }
    }
}

/// The usable signing keys of one JWKS document, by `kid`.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: HashMap<String, VerificationKey>,
}

/// Why a JWKS document gave no keys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeySetError {
    #[error("not a JWKS document (expected {{\"keys\": [...]}})")]
    NotAJwks,
    #[error("no usable signing key among {0} keys")]
    NoUsableKey(usize),
}

#[derive(serde::Deserialize)]
struct RawJwks {
    keys: Vec<serde_json::Value>,
}

impl KeySet {
    /// Parse a JWKS document. Fails when it holds no usable signing key, so that a broken
    /// answer never replaces keys that work.
    pub fn from_jwks_json(bytes: &[u8]) -> Result<KeySet, KeySetError> {
        let raw: RawJwks = serde_json::from_slice(bytes).map_err(|_| KeySetError::NotAJwks)?;
        let total = raw.keys.len();
        let mut keys = HashMap::new();
        for value in raw.keys {
            let Ok(jwk) = serde_json::from_value::<Jwk>(value) else {
                continue;
            };
            if let Some((kid, key)) = usable_key(&jwk) {
                // A duplicated kid is ambiguous; the first entry wins, as in most verifiers.
                keys.entry(kid).or_insert(key);
            }
        }
        if keys.is_empty() {
            return Err(KeySetError::NoUsableKey(total));
        }
        Ok(KeySet { keys })
    }

    pub fn get(&self, kid: &str) -> Option<&VerificationKey> {
        self.keys.get(kid)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key ids, sorted (for logs).
    pub fn kids(&self) -> Vec<&str> {
        let mut kids: Vec<&str> = self.keys.keys().map(String::as_str).collect();
        kids.sort_unstable();
        kids
    }
}

/// The `kid` and key of a JWK that may verify signatures, or `None`.
fn usable_key(jwk: &Jwk) -> Option<(String, VerificationKey)> {
    let kid = jwk.common.key_id.as_ref().filter(|kid| !kid.is_empty())?;
    if jwk
        .common
        .public_key_use
        .as_ref()
        .is_some_and(|usage| *usage != PublicKeyUse::Signature)
    {
        return None;
    }
    if jwk
        .common
        .key_operations
        .as_ref()
        .is_some_and(|ops| !ops.contains(&KeyOperations::Verify))
    {
        return None;
    }
    let algorithm = match jwk.common.key_algorithm {
        None => None,
        // An `alg` that is not a signature algorithm (RSA-OAEP…) marks an encryption key.
        Some(named) => Some(signature_algorithm(named)?),
    };
    let curve = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => None,
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 | EllipticCurve::P384 => Some(ec.curve.clone()),
            _ => return None,
        },
        AlgorithmParameters::OctetKeyPair(okp) => match okp.curve {
            EllipticCurve::Ed25519 => Some(okp.curve.clone()),
            _ => return None,
        },
        // Symmetric and unknown key types are never trusted from a JWKS.
        _ => return None,
    };
    let key = DecodingKey::from_jwk(jwk).ok()?;
    if key.family() == AlgorithmFamily::Hmac {
        return None;
    }
    if algorithm.is_some_and(|a| a.family() != key.family()) {
        return None;
    }
    Some((
        kid.clone(),
        VerificationKey {
            key,
            curve,
            algorithm,
        },
    ))
}

/// A JWK `alg` as a JWS signature algorithm (never HMAC).
fn signature_algorithm(named: KeyAlgorithm) -> Option<Algorithm> {
    let algorithm = Algorithm::try_from(named).ok()?;
    (algorithm.family() != AlgorithmFamily::Hmac).then_some(algorithm)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A real public key (the fixtures' rsa-1), as Keycloak publishes it.
    pub(crate) fn rsa_jwk(kid: &str) -> serde_json::Value {
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(include_bytes!(
            "../../tests/fixtures/rsa-1.pem"
        ))
        .expect("fixture key");
        let mut jwk =
            serde_json::to_value(Jwk::from_encoding_key(&key, Algorithm::RS256).expect("jwk"))
                .expect("jwk json");
        jwk["kid"] = json!(kid);
        jwk["use"] = json!("sig");
        jwk
    }

    fn ec_jwk(kid: &str) -> serde_json::Value {
        let key =
            jsonwebtoken::EncodingKey::from_ec_pem(include_bytes!("../../tests/fixtures/ec-1.pem"))
                .expect("fixture key");
        let mut jwk =
            serde_json::to_value(Jwk::from_encoding_key(&key, Algorithm::ES256).expect("jwk"))
                .expect("jwk json");
        jwk["kid"] = json!(kid);
        jwk
    }

    fn parse(keys: serde_json::Value) -> Result<KeySet, KeySetError> {
        KeySet::from_jwks_json(json!({ "keys": keys }).to_string().as_bytes())
    }

    #[test]
    fn keycloak_style_document() {
        let mut enc = rsa_jwk("enc-key");
        enc["use"] = json!("enc");
        enc["alg"] = json!("RSA-OAEP");
        let set = parse(json!([rsa_jwk("sig-key"), enc, ec_jwk("ec-key")])).expect("keys");
        assert_eq!(set.kids(), ["ec-key", "sig-key"]);
        assert_eq!(set.len(), 2);
    }

    #[test]
    fn rsa_key_accepts_rsa_algorithms_only() {
        let mut jwk = rsa_jwk("k");
        jwk.as_object_mut().expect("object").remove("alg");
        let set = parse(json!([jwk])).expect("keys");
        let key = set.get("k").expect("k");
        assert!(key.accepts(Algorithm::RS256));
        assert!(key.accepts(Algorithm::PS256));
        assert!(!key.accepts(Algorithm::ES256));
        assert!(!key.accepts(Algorithm::HS256));
        assert!(!key.accepts(Algorithm::EdDSA));
    }

    #[test]
    fn jwk_alg_pins_the_algorithm() {
        let mut jwk = rsa_jwk("k");
        jwk["alg"] = json!("PS256");
        let set = parse(json!([jwk])).expect("keys");
        let key = set.get("k").expect("k");
        assert!(key.accepts(Algorithm::PS256));
        assert!(!key.accepts(Algorithm::RS256));
    }

    #[test]
    fn ec_key_is_pinned_to_its_curve() {
        let set = parse(json!([ec_jwk("e")])).expect("keys");
        let key = set.get("e").expect("e");
        assert!(key.accepts(Algorithm::ES256));
        assert!(!key.accepts(Algorithm::ES384));
        assert!(!key.accepts(Algorithm::RS256));
    }

    #[test]
    fn symmetric_keys_are_never_taken() {
        let oct = json!({"kty": "oct", "kid": "h", "k": "c2VjcmV0", "alg": "HS256"});
        assert_eq!(
            parse(json!([oct])).unwrap_err(),
            KeySetError::NoUsableKey(1)
        );
        // Even an RSA key labelled HS256 is refused.
        let mut jwk = rsa_jwk("r");
        jwk["alg"] = json!("HS256");
        assert_eq!(
            parse(json!([jwk])).unwrap_err(),
            KeySetError::NoUsableKey(1)
        );
    }

    #[test]
    fn keys_without_kid_or_for_other_uses_are_skipped() {
        let mut no_kid = rsa_jwk("x");
        no_kid.as_object_mut().expect("object").remove("kid");
        let mut encrypt_only = rsa_jwk("ops");
        encrypt_only["key_ops"] = json!(["encrypt"]);
        encrypt_only.as_object_mut().expect("object").remove("use");
        let mut verify = rsa_jwk("verify");
        verify["key_ops"] = json!(["verify"]);
        verify.as_object_mut().expect("object").remove("use");
        let set = parse(json!([no_kid, encrypt_only, verify])).expect("keys");
        assert_eq!(set.kids(), ["verify"]);
    }

    #[test]
    fn unknown_entries_do_not_hide_good_ones() {
        let set = parse(json!([
            {"kty": "XYZ", "kid": "weird"},
            {"kid": "broken", "kty": "RSA", "n": 5},
            rsa_jwk("good"),
        ]))
        .expect("keys");
        assert_eq!(set.kids(), ["good"]);
    }

    #[test]
    fn broken_documents_are_errors() {
        assert_eq!(
            KeySet::from_jwks_json(b"<html>").unwrap_err(),
            KeySetError::NotAJwks
        );
        assert_eq!(
            KeySet::from_jwks_json(b"{\"keys\": 3}").unwrap_err(),
            KeySetError::NotAJwks
        );
        assert_eq!(parse(json!([])).unwrap_err(), KeySetError::NoUsableKey(0));
    }

    #[test]
    fn first_of_duplicate_kids_wins() {
        let mut second = ec_jwk("same");
        second["kid"] = json!("same");
        let set = parse(json!([rsa_jwk("same"), second])).expect("keys");
        assert_eq!(set.len(), 1);
        assert!(set.get("same").expect("same").accepts(Algorithm::RS256));
    }

    #[test]
    fn debug_shows_no_key_material() {
        let set = parse(json!([rsa_jwk("k")])).expect("keys");
        let text = format!("{set:?}");
        assert!(text.contains("Rsa"), "{text}");
        assert!(!text.contains("RsaModulusExponent"), "{text}");
    }
}
