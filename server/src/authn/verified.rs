//! A cache of tokens already verified, so that a client sending the same bearer token on every
//! request pays one signature check per token, not one per request.
//!
//! Keyed by the SHA-256 of the token (the token itself is never kept). An entry is used only
//! until the token's `exp` (plus leeway, as verification allows) and only with the same key
//! set it was verified with: a JWKS refresh (rotation, a key withdrawn) empties it in effect.
//! Bounded: when full, it is cleared and refills from live traffic.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine as _;

use crate::principal::Principal;

/// Entries kept at most; each is well under 1 KiB.
const CAPACITY: usize = 10_000;

struct Entry {
    principal: Principal,
    /// Usable while `now <= until` (unix seconds).
    until: u64,
    /// Identity of the key set the token was verified with.
    keys: usize,
}

#[derive(Default)]
pub struct VerifiedTokens {
    entries: Mutex<HashMap<[u8; 32], Entry>>,
}

pub type TokenDigest = crate::sha256::Digest;

pub fn digest(token: &str) -> TokenDigest {
    crate::sha256::digest(token.as_bytes())
}

impl VerifiedTokens {
    pub fn get(&self, digest: &TokenDigest, keys: usize, now: u64) -> Option<Principal> {
        let entries = self.entries.lock().ok()?;
        let entry = entries.get(digest)?;
        (entry.keys == keys && now <= entry.until).then(|| entry.principal.clone())
    }

    /// Remember a verified token until its `exp` + `leeway`; tokens without a readable `exp`
    /// are not cached.
    pub fn insert(
        &self,
        digest: TokenDigest,
        token: &str,
        principal: &Principal,
        keys: usize,
        leeway: u64,
    ) {
        let Some(exp) = expiry(token) else { return };
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= CAPACITY {
            entries.clear();
        }
        entries.insert(
            digest,
            Entry {
                principal: principal.clone(),
                until: exp.saturating_add(leeway),
                keys,
            },
        );
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The `exp` claim of an already verified token.
fn expiry(token: &str) -> Option<u64> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    #[derive(serde::Deserialize)]
    struct Exp {
        exp: u64,
    }
    serde_json::from_slice::<Exp>(&bytes).ok().map(|e| e.exp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(exp: u64) -> String {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(format!(r#"{{"sub":"s","exp":{exp}}}"#));
        format!("eyJhbGciOiJSUzI1NiJ9.{payload}.sig")
    }

    #[test]
    fn entries_last_until_expiry_plus_leeway_and_only_for_the_same_keys() {
        let cache = VerifiedTokens::default();
        let principal = Principal::anonymous(&["user".to_owned()]);
        let t = token(1_000);
        let d = digest(&t);
        cache.insert(d, &t, &principal, 7, 30);
        assert_eq!(cache.get(&d, 7, 1_000), Some(principal.clone()));
        assert_eq!(cache.get(&d, 7, 1_030), Some(principal.clone()));
        assert_eq!(cache.get(&d, 7, 1_031), None, "expired");
        assert_eq!(cache.get(&d, 8, 1_000), None, "keys changed");
        assert_eq!(cache.get(&digest("other"), 7, 1_000), None);
    }

    #[test]
    fn tokens_without_exp_are_not_cached_and_the_cache_is_bounded() {
        let cache = VerifiedTokens::default();
        let principal = Principal::anonymous(&[]);
        cache.insert(digest("a.b.c"), "a.b.c", &principal, 1, 0);
        assert!(cache.is_empty());
        for i in 0..(CAPACITY + 5) {
            let t = token(10_000 + i as u64);
            cache.insert(digest(&t), &t, &principal, 1, 0);
        }
        assert!(cache.len() <= CAPACITY);
    }

    /// Cost of the cached path per request (digest + lookup + principal clone). Not a test of
    /// speed: prints a figure. `cargo test --release -p mcp-gateway --lib authn::verified -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn timing_of_a_cached_verification() {
        let cache = VerifiedTokens::default();
        let principal = Principal::from(crate::principal::Identity {
            user: "testuser".into(),
            subject: "7c1e4f7a-1f0b-4d3e-9a55-000000000001".into(),
            roles: ["user".to_owned(), "offline_access".to_owned()].into(),
            scopes: ["openid".to_owned(), "profile".to_owned()].into(),
            credential: crate::principal::Credential::Jwt,
        });
        // A Keycloak access token is typically 800–1,500 bytes.
        let t = format!("{}{}", token(u64::MAX / 2), "x".repeat(900));
        let d = digest(&t);
        cache.insert(d, &t, &principal, 1, 0);
        let rounds = 100_000u32;
        let started = std::time::Instant::now();
        for _ in 0..rounds {
            let d = digest(std::hint::black_box(&t));
            assert!(cache.get(&d, 1, 1_000).is_some());
        }
        let per = started.elapsed() / rounds;
        println!(
            "cached verification: {per:?} per request ({} byte token)",
            t.len()
        );
    }
}
