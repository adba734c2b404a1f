//! Users' own upstream keys at rest (SPEC §14): sealed with AES-256-GCM under
//! `GATEWAY_ENCRYPTION_KEY` (aws-lc-rs, the gateway's one crypto backend), a fresh random
//! nonce per seal, and the owner's name as associated data, so that a sealed key copied to
//! another user's row does not open.
//!
//! Stored as base64 of `nonce ‖ ciphertext ‖ tag`.

use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;

use crate::config::Secret;

/// The key that seals; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct SealingKey([u8; 32]);

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealingKey([REDACTED])")
    }
}

/// Why a sealed value does not open: tampered, another owner's, or sealed under another key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the stored key cannot be opened (sealed under another GATEWAY_ENCRYPTION_KEY, or altered)"
)]
pub struct Unopenable;

impl SealingKey {
    /// 32 bytes as base64 (standard alphabet) or 64 hex digits. The message never quotes
    /// the value.
    pub fn parse(text: &str) -> Result<SealingKey, &'static str> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(text).ok()
        } else {
            STANDARD.decode(text).ok()
        };
        match bytes.map(<[u8; 32]>::try_from) {
            Some(Ok(key)) => Ok(SealingKey(key)),
            _ => Err("must be 32 bytes, as base64 or 64 hex digits (openssl rand -base64 32)"),
        }
    }

    fn aead(&self) -> LessSafeKey {
        // 32 bytes is AES-256's key length: this cannot fail.
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &self.0).expect("a 32-byte AES-256 key"))
    }

    /// `secret` sealed for `owner`.
    pub fn seal(&self, owner: &str, secret: &Secret) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let mut sealed = secret.expose().as_bytes().to_vec();
        self.aead()
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(owner.as_bytes()),
                &mut sealed,
            )
            .expect("sealing a short text cannot fail");
        let mut stored = nonce.to_vec();
        stored.extend_from_slice(&sealed);
        STANDARD.encode(stored)
    }

    /// What [`SealingKey::seal`] sealed for `owner`.
    pub fn open(&self, owner: &str, stored: &str) -> Result<Secret, Unopenable> {
        let bytes = STANDARD.decode(stored).map_err(|_| Unopenable)?;
        if bytes.len() < NONCE_LEN {
            return Err(Unopenable);
        }
        let (nonce, sealed) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| Unopenable)?;
        let mut sealed = sealed.to_vec();
        let plain = self
            .aead()
            .open_in_place(nonce, Aad::from(owner.as_bytes()), &mut sealed)
            .map_err(|_| Unopenable)?;
        String::from_utf8(plain.to_vec())
            .map(Secret::new)
            .map_err(|_| Unopenable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SealingKey {
        SealingKey([byte; 32])
    }

    #[test]
    fn a_sealed_key_opens_for_its_owner_only_and_under_its_key_only() {
        let secret = Secret::new("sk-ant-api03-user-secret");
        let sealed = key(1).seal("alice", &secret);
        assert!(!sealed.contains("sk-ant"));
        assert_eq!(key(1).open("alice", &sealed).unwrap(), secret);
        assert_eq!(key(1).open("bob", &sealed), Err(Unopenable));
        assert_eq!(key(2).open("alice", &sealed), Err(Unopenable));
        // Each seal has its own nonce.
        assert_ne!(key(1).seal("alice", &secret), sealed);
        // Tampering is caught.
        let mut bytes = STANDARD.decode(&sealed).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert_eq!(
            key(1).open("alice", &STANDARD.encode(bytes)),
            Err(Unopenable)
        );
        assert_eq!(key(1).open("alice", "not base64!"), Err(Unopenable));
        assert_eq!(key(1).open("alice", ""), Err(Unopenable));
    }

    #[test]
    fn the_key_is_read_from_base64_or_hex_and_never_shown() {
        let base64 = STANDARD.encode([7u8; 32]);
        assert_eq!(SealingKey::parse(&base64).unwrap(), key(7));
        assert_eq!(SealingKey::parse(&"07".repeat(32)).unwrap(), key(7));
        for bad in ["", "short", &STANDARD.encode([7u8; 16]), &"zz".repeat(32)] {
            assert!(SealingKey::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(format!("{:?}", key(7)), "SealingKey([REDACTED])");
    }
}
