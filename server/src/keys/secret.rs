//! The text of an API key and what is kept of it: `mcpgw_` + 32 random bytes in base62
//! (the prefix tells scanners and the gateway what it is; base62 survives shells, URLs and
//! headers unquoted), and its SHA-256 digest, the only form stored.

use rand::RngCore;

/// Every key starts so; the gateway recognises a key by it (a JWT never does).
pub const PREFIX: &str = "mcpgw_";

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// 62^43 > 2^256: 43 digits hold any 32 bytes.
const DIGITS: usize = 43;

/// A new key (shown once, to its creator).
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{PREFIX}{}", base62(&bytes))
}

/// Whether a credential is meant as an API key (judged by its prefix only).
pub fn looks_like_key(credential: &str) -> bool {
    credential.starts_with(PREFIX)
}

/// Whether a key has the shape of the ones [`generate`] makes: anything else is refused
/// without asking the database.
pub fn well_formed(key: &str) -> bool {
    key.strip_prefix(PREFIX)
        .is_some_and(|body| body.len() == DIGITS && body.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// The stored form of a key: SHA-256, lower-case hex.
pub fn digest(key: &str) -> String {
    hex::encode(crate::sha256::digest(key.as_bytes()))
}

/// `bytes` as a big-endian number in base 62, always [`DIGITS`] digits long.
fn base62(bytes: &[u8; 32]) -> String {
    let mut number = bytes.to_vec();
    let mut digits = Vec::with_capacity(DIGITS);
    for _ in 0..DIGITS {
        // Divide the whole number by 62, keeping the remainder: the next digit.
        let mut remainder = 0u32;
        for byte in number.iter_mut() {
            let value = (remainder << 8) | u32::from(*byte);
            *byte = (value / 62) as u8;
            remainder = value % 62;
        }
        digits.push(ALPHABET[remainder as usize]);
    }
    digits.reverse();
    String::from_utf8(digits).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_prefixed_base62_of_fixed_length_and_never_repeat() {
        let a = generate();
        let b = generate();
        assert_ne!(a, b);
        for key in [&a, &b] {
            assert!(looks_like_key(key) && well_formed(key));
            let body = &key[PREFIX.len()..];
            assert_eq!(body.len(), DIGITS);
            assert!(body.bytes().all(|c| c.is_ascii_alphanumeric()), "{key}");
        }
    }

    #[test]
    fn base62_is_the_number_in_62_digits() {
        let mut one = [0u8; 32];
        one[31] = 1;
        assert_eq!(base62(&one), format!("{}1", "0".repeat(DIGITS - 1)));
        let mut sixty_two = [0u8; 32];
        sixty_two[31] = 62;
        assert_eq!(base62(&sixty_two), format!("{}10", "0".repeat(DIGITS - 2)));
        // 2^256 - 1 still fits (62^43 > 2^256).
        assert_eq!(base62(&[255; 32]).len(), DIGITS);
        assert_ne!(base62(&[255; 32]), base62(&[254; 32]));
    }

    #[test]
    fn the_digest_is_sha256_hex() {
        assert_eq!(
            digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(!looks_like_key("eyJhbGciOi.x.y"));
        assert!(!well_formed("mcpgw_short"));
        assert!(!well_formed(&format!("mcpgw_{}", "-".repeat(DIGITS))));
    }
}
