//! SHA-256, through aws-lc-rs (already the crypto backend of TLS and JWT validation here).
//!
//! Its assembly picks SHA extensions, else AVX (Intel) or SSSE3, at run time; sha2's portable
//! code, which servers without SHA extensions get, took three times as long for an audit
//! record (1.8 µs against 5.5 µs for 624 bytes on a Xeon without them). Each audit chain
//! hashes every audited call, and every authenticated request hashes its bearer token (the
//! key of the verified-token cache), so the difference is paid per request.

use aws_lc_rs::digest::{self, SHA256};

/// A SHA-256 digest.
pub type Digest = [u8; 32];

/// The digest of `bytes`.
pub fn digest(bytes: &[u8]) -> Digest {
    to_array(&digest::digest(&SHA256, bytes))
}

fn to_array(digest: &digest::Digest) -> Digest {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// A digest computed over several pieces, as if they were one.
pub struct Hasher(digest::Context);

impl Hasher {
    pub fn new() -> Self {
        Self(digest::Context::new(&SHA256))
    }

    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    #[must_use]
    pub fn chain(mut self, bytes: &[u8]) -> Self {
        self.update(bytes);
        self
    }

    #[must_use]
    pub fn finish(self) -> Digest {
        to_array(&self.0.finish())
    }
}

impl Default for Hasher {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use sha2::Digest as _;

    use super::*;

    /// Held to an independent implementation, across block boundaries and in pieces.
    #[test]
    fn agrees_with_sha2_whole_and_in_pieces() {
        let data: Vec<u8> = (0..1500u32).map(|i| (i * 7 % 256) as u8).collect();
        for len in [0, 1, 55, 56, 63, 64, 65, 127, 128, 624, 1500] {
            let input = &data[..len];
            let expected: Digest = sha2::Sha256::digest(input).into();
            assert_eq!(digest(input), expected, "{len} bytes");
            let (head, tail) = input.split_at(len / 3);
            assert_eq!(Hasher::new().chain(head).chain(tail).finish(), expected);
        }
    }

    #[test]
    fn known_answer() {
        assert_eq!(
            hex::encode(digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
