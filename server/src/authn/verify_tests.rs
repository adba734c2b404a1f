//! Unit tests of [`TokenVerifier`] with real signatures (the committed test keys).

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Value, json};

use super::*;
use crate::config::{Settings, SettingsOverrides};

const RSA_1: &[u8] = include_bytes!("../../tests/fixtures/rsa-1.pem");
const RSA_1_PUBLIC: &[u8] = include_bytes!("../../tests/fixtures/rsa-1.pub.pem");
const RSA_ATTACKER: &[u8] = include_bytes!("../../tests/fixtures/rsa-attacker.pem");
const EC_1: &[u8] = include_bytes!("../../tests/fixtures/ec-1.pem");
const ISSUER: &str = "http://localhost:8080/realms/mcp-gateway";

fn config(algorithms: &str) -> AuthnConfig {
    let vars: HashMap<&str, &str> = [("JWT_ALGORITHM", algorithms), ("JWT_LEEWAY_SECONDS", "30")]
        .into_iter()
        .collect();
    let settings = Settings::from_lookup(
        |k| vars.get(k).map(|v| v.to_string()),
        SettingsOverrides::default(),
    )
    .expect("settings");
    AuthnConfig::from_settings(&settings).expect("config")
}

fn rsa_key() -> EncodingKey {
    EncodingKey::from_rsa_pem(RSA_1).expect("rsa-1")
}

fn ec_key() -> EncodingKey {
    EncodingKey::from_ec_pem(EC_1).expect("ec-1")
}

/// The JWKS an issuer with rsa-1 (`kid` "rsa") and ec-1 (`kid` "ec") would publish.
fn keys() -> KeySet {
    let mut rsa =
        serde_json::to_value(Jwk::from_encoding_key(&rsa_key(), Algorithm::RS256).expect("jwk"))
            .expect("json");
    rsa["kid"] = json!("rsa");
    rsa.as_object_mut().expect("object").remove("alg");
    let mut ec =
        serde_json::to_value(Jwk::from_encoding_key(&ec_key(), Algorithm::ES256).expect("jwk"))
            .expect("json");
    ec["kid"] = json!("ec");
    KeySet::from_jwks_json(json!({"keys": [rsa, ec]}).to_string().as_bytes()).expect("keys")
}

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

fn good_claims() -> Value {
    let now = now();
    json!({
        "iss": ISSUER,
        "aud": ["mcp-gateway", "account"],
        "sub": "0b6c-subject",
        "preferred_username": "testuser",
        "exp": now + 300,
        "iat": now,
        "nbf": now,
        "realm_access": {"roles": ["user"]},
        "resource_access": {"mcp-gateway": {"roles": ["reader"]}},
        "scope": "openid profile admin"
    })
}

fn sign(algorithm: Algorithm, key: &EncodingKey, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(algorithm);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).expect("sign")
}

fn rs256(claims: &Value) -> String {
    sign(Algorithm::RS256, &rsa_key(), Some("rsa"), claims)
}

fn check(verifier: &TokenVerifier, token: &str) -> Result<Principal, AuthError> {
    let header = verifier.header(token)?;
    verifier.verify(token, &header, &keys(), now())
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn without(mut claims: Value, key: &str) -> Value {
    claims.as_object_mut().expect("object").remove(key);
    claims
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

#[test]
fn good_rs256_token_gives_the_principal() {
    let verifier = TokenVerifier::new(&config("RS256"));
    let principal = check(&verifier, &rs256(&good_claims())).expect("accepted");
    assert_eq!(principal.user, "testuser");
    assert_eq!(principal.subject, "0b6c-subject");
    assert_eq!(
        principal
            .roles
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        ["reader", "user"]
    );
    assert!(principal.scopes.contains("admin"));
    assert!(!principal.roles.contains("admin"));
}

#[test]
fn es256_and_ps256_when_allowed() {
    let verifier = TokenVerifier::new(&config("RS256,ES256,PS256"));
    let es = sign(Algorithm::ES256, &ec_key(), Some("ec"), &good_claims());
    assert!(check(&verifier, &es).is_ok());
    let ps = sign(Algorithm::PS256, &rsa_key(), Some("rsa"), &good_claims());
    assert!(check(&verifier, &ps).is_ok());
    assert!(check(&verifier, &rs256(&good_claims())).is_ok());
}

#[test]
fn algorithms_outside_the_list_are_refused_before_the_key() {
    let verifier = TokenVerifier::new(&config("RS256"));
    let es = sign(Algorithm::ES256, &ec_key(), Some("ec"), &good_claims());
    assert!(matches!(
        check(&verifier, &es),
        Err(AuthError::AlgorithmNotAllowed(alg)) if alg.as_str() == "ES256"
    ));
}

#[test]
fn algorithm_must_fit_the_key() {
    let verifier = TokenVerifier::new(&config("RS256,ES256"));
    // An RS256 signature presented under the EC key's kid.
    let token = sign(Algorithm::RS256, &rsa_key(), Some("ec"), &good_claims());
    assert!(matches!(
        check(&verifier, &token),
        Err(AuthError::KeyMismatch { alg: "RS256", .. })
    ));
}

#[test]
fn alg_none_is_malformed() {
    let verifier = TokenVerifier::new(&config("RS256"));
    for alg in ["none", "None", "NONE"] {
        let token = format!(
            "{}.{}.",
            b64(&json!({"alg": alg, "typ": "JWT", "kid": "rsa"})),
            b64(&good_claims())
        );
        assert_eq!(
            check(&verifier, &token),
            Err(AuthError::Malformed("header")),
            "{alg}"
        );
    }
}

#[test]
fn hs256_signed_with_the_public_key_is_refused() {
    let verifier = TokenVerifier::new(&config("RS256,ES256"));
    let token = sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(RSA_1_PUBLIC),
        Some("rsa"),
        &good_claims(),
    );
    assert!(matches!(
        check(&verifier, &token),
        Err(AuthError::AlgorithmNotAllowed(alg)) if alg.as_str() == "HS256"
    ));
}

#[test]
fn signature_by_another_key_is_refused() {
    let verifier = TokenVerifier::new(&config("RS256"));
    let attacker = EncodingKey::from_rsa_pem(RSA_ATTACKER).expect("attacker key");
    let token = sign(Algorithm::RS256, &attacker, Some("rsa"), &good_claims());
    assert_eq!(check(&verifier, &token), Err(AuthError::BadSignature));
}

#[test]
fn tampered_payload_is_refused() {
    let verifier = TokenVerifier::new(&config("RS256"));
    let token = rs256(&good_claims());
    let parts: Vec<&str> = token.split('.').collect();
    let promoted = with(good_claims(), "realm_access", json!({"roles": ["admin"]}));
    let forged = format!("{}.{}.{}", parts[0], b64(&promoted), parts[2]);
    assert_eq!(check(&verifier, &forged), Err(AuthError::BadSignature));
}

#[test]
fn kid_is_required_and_must_be_known() {
    let verifier = TokenVerifier::new(&config("RS256"));
    let token = sign(Algorithm::RS256, &rsa_key(), None, &good_claims());
    assert_eq!(check(&verifier, &token), Err(AuthError::MissingKeyId));
    let token = sign(
        Algorithm::RS256,
        &rsa_key(),
        Some("rotated-away"),
        &good_claims(),
    );
    assert!(matches!(
        check(&verifier, &token),
        Err(AuthError::UnknownKey(kid)) if kid.as_str() == "rotated-away"
    ));
}

#[test]
fn time_claims_with_leeway() {
    let verifier = TokenVerifier::new(&config("RS256"));
    let now = now();
    let expired = with(good_claims(), "exp", json!(now - 3600));
    assert_eq!(check(&verifier, &rs256(&expired)), Err(AuthError::Expired));
    let just_expired = with(good_claims(), "exp", json!(now - 5));
    assert!(
        check(&verifier, &rs256(&just_expired)).is_ok(),
        "within leeway"
    );
    let later = with(good_claims(), "nbf", json!(now + 3600));
    assert_eq!(
        check(&verifier, &rs256(&later)),
        Err(AuthError::NotYetValid)
    );
    let soon = with(good_claims(), "nbf", json!(now + 5));
    assert!(check(&verifier, &rs256(&soon)).is_ok(), "within leeway");
    let future = with(good_claims(), "iat", json!(now + 3600));
    assert_eq!(
        check(&verifier, &rs256(&future)),
        Err(AuthError::IssuedInFuture)
    );
}

#[test]
fn issuer_must_match_exactly() {
    let verifier = TokenVerifier::new(&config("RS256"));
    for iss in [
        "http://keycloak:8080/realms/mcp-gateway",
        "http://localhost:8080/realms/mcp-gateway/",
        "http://localhost:8080/realms/other",
    ] {
        let token = rs256(&with(good_claims(), "iss", json!(iss)));
        assert!(matches!(
            check(&verifier, &token),
            Err(AuthError::WrongIssuer { found }) if found.as_str() == iss
        ));
    }
}

#[test]
fn audience_is_the_client_or_the_mcp_resource() {
    let verifier = TokenVerifier::new(&config("RS256"));
    for aud in [
        json!("mcp-gateway"),
        json!(["account", "mcp-gateway"]),
        json!("http://localhost:8000/mcp"),
    ] {
        let token = rs256(&with(good_claims(), "aud", aud.clone()));
        assert!(check(&verifier, &token).is_ok(), "{aud}");
    }
    for aud in [
        json!("account"),
        json!(["account", "other"]),
        json!("http://localhost:8000"),
        json!([]),
    ] {
        let token = rs256(&with(good_claims(), "aud", aud.clone()));
        assert_eq!(
            check(&verifier, &token),
            Err(AuthError::WrongAudience),
            "{aud}"
        );
    }
}

#[test]
fn required_claims() {
    let verifier = TokenVerifier::new(&config("RS256"));
    for claim in ["exp", "iss", "aud", "sub"] {
        let token = rs256(&without(good_claims(), claim));
        assert_eq!(
            check(&verifier, &token),
            Err(AuthError::MissingClaim(claim_name(claim))),
            "{claim}"
        );
    }
    // jsonwebtoken reports an unreadable `exp` as missing; either way it is refused.
    let token = rs256(&with(good_claims(), "exp", json!("tomorrow")));
    assert!(matches!(
        check(&verifier, &token),
        Err(AuthError::MissingClaim("exp") | AuthError::InvalidClaim("exp"))
    ));
}

#[test]
fn garbage_is_malformed() {
    let verifier = TokenVerifier::new(&config("RS256"));
    for token in [
        "",
        "garbage",
        "a.b",
        "a.b.c.d",
        "not base64!.x.y",
        "eyJhbGciOiJSUzI1NiJ9.e30.c2ln extra",
        "....",
    ] {
        assert!(
            matches!(check(&verifier, token), Err(AuthError::Malformed(_))),
            "{token:?}"
        );
    }
    let huge = format!("{}.e30.sig", "a".repeat(MAX_TOKEN_BYTES));
    assert_eq!(
        check(&verifier, &huge),
        Err(AuthError::Malformed("too long"))
    );
}

/// Rough cost of one validation with a cached key (run with `--ignored --nocapture`).
#[test]
#[ignore = "prints a timing; not a pass/fail test"]
fn timing_of_cached_key_validation() {
    let verifier = TokenVerifier::new(&config("RS256,ES256"));
    let keys = keys();
    for (name, token) in [
        ("RS256", rs256(&good_claims())),
        (
            "ES256",
            sign(Algorithm::ES256, &ec_key(), Some("ec"), &good_claims()),
        ),
    ] {
        let rounds = 10_000u32;
        let started = std::time::Instant::now();
        for _ in 0..rounds {
            let header = verifier.header(&token).expect("header");
            let principal = verifier
                .verify(&token, &header, &keys, now())
                .expect("valid");
            std::hint::black_box(principal);
        }
        let per_op = started.elapsed() / rounds;
        println!("{name}: {per_op:?} per validation ({rounds} rounds)");
    }
}
