//! Tamper evidence: every record carries `prev_hash` (the `hash` of the record before it in
//! the same sink) and `hash = SHA-256 hex( prev_hash ‖ canonical JSON of the record without
//! its hash field )`. Canonical JSON is RFC 8785 (JCS): keys sorted by UTF-16 code units, no
//! whitespace, ECMAScript number formatting — so a record read back from the file or
//! rebuilt from a database row hashes the same as when it was written.
//!
//! Editing a record breaks its `hash`; deleting or inserting one breaks the `prev_hash` of the
//! record after it. Cutting records off the end is not detectable from the records alone.

use serde_json::Value;

use super::canonical::Unlinked;
use super::record::AuditRecord;
use crate::sha256;

/// `prev_hash` of the first record of a chain.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// RFC 8785 bytes of `value`.
pub fn canonical_json(value: &Value) -> Vec<u8> {
    super::canonical::of_value(value)
}

/// The hash of a record given as JSON without its `hash` key (its `prev_hash` included).
pub fn hash_of(prev_hash: &str, record_without_hash: &Value) -> String {
    let digest = sha256::Hasher::new()
        .chain(prev_hash.as_bytes())
        .chain(&canonical_json(record_without_hash))
        .finish();
    lower_hex(&digest)
}

/// A SHA-256 digest as 64 lower-case hex digits. `hex::encode` builds its string a character
/// at a time; at two hashes per audited call that was 1 % of the gateway's instructions.
fn lower_hex(digest: &[u8; 32]) -> String {
    let mut digits = [0u8; 64];
    // Cannot fail: 64 bytes hold 32 bytes in hex.
    let _ = hex::encode_to_slice(digest, &mut digits);
    std::str::from_utf8(&digits).map_or_else(|_| String::new(), str::to_owned)
}

/// Link `record` after `prev_hash`: sets its `prev_hash` and `hash`, returns the hash.
pub fn link(record: &mut AuditRecord, prev_hash: &str) -> String {
    let hash = hash_after(record, prev_hash);
    record.prev_hash = Some(prev_hash.to_owned());
    record.hash = Some(hash.clone());
    hash
}

/// The `hash` `record` gets when linked after `prev_hash` (whatever its chain fields hold).
pub fn hash_after(record: &AuditRecord, prev_hash: &str) -> String {
    // The record's JSON, canonicalised: the same bytes as canonicalising its JSON read back
    // from the file or rebuilt from a database row. Kept bytes when the record has them.
    let fresh;
    let unlinked = match record.unlinked.get(record) {
        Some(kept) => kept,
        None => {
            fresh = Unlinked::of(record);
            &fresh
        }
    };
    let mut hasher = sha256::Hasher::new();
    hasher.update(prev_hash.as_bytes());
    unlinked.with_prev_hash(prev_hash, |bytes| hasher.update(bytes));
    lower_hex(&hasher.finish())
}

/// How a chain may begin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainStart {
    /// The first record must have `prev_hash = GENESIS` (a database chain).
    Genesis,
    /// The first record may continue records no longer present (rotated files removed by
    /// retention); its `prev_hash` is reported.
    Any,
}

/// Why a record breaks the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BreakKind {
    /// Not a JSON object, or no string `hash` / `prev_hash`.
    Unreadable(String),
    /// `prev_hash` is not the hash of the record before it: a record was deleted or
    /// inserted before this one (or this one was moved).
    Linkage { expected: String, found: String },
    /// The content does not match `hash`: this record was edited.
    Content { stored: String, computed: String },
}

impl std::fmt::Display for BreakKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BreakKind::Unreadable(why) => write!(f, "unreadable record: {why}"),
            BreakKind::Linkage { expected, found } => write!(
                f,
                "prev_hash {found} is not the hash of the record before it ({expected}): a record was deleted or inserted before this one"
            ),
            BreakKind::Content { stored, computed } => write!(
                f,
                "content does not match its hash (stored {stored}, computed {computed}): the record was edited"
            ),
        }
    }
}

/// Checks records one by one, in chain order.
#[derive(Debug)]
pub struct ChainVerifier {
    start: ChainStart,
    /// The hash the next record's `prev_hash` must equal; `None` before the first record.
    head: Option<String>,
    checked: u64,
    first_prev_hash: Option<String>,
}

impl ChainVerifier {
    pub fn new(start: ChainStart) -> Self {
        ChainVerifier {
            start,
            head: None,
            checked: 0,
            first_prev_hash: None,
        }
    }

    /// Check the next record. On success the record becomes the head.
    pub fn check(&mut self, record: &Value) -> Result<(), BreakKind> {
        let object = record
            .as_object()
            .ok_or_else(|| BreakKind::Unreadable("not a JSON object".into()))?;
        let stored = object
            .get("hash")
            .and_then(Value::as_str)
            .ok_or_else(|| BreakKind::Unreadable("no hash".into()))?;
        let prev = object
            .get("prev_hash")
            .and_then(Value::as_str)
            .ok_or_else(|| BreakKind::Unreadable("no prev_hash".into()))?;
        let expected = match (&self.head, self.start) {
            (Some(head), _) => Some(head.as_str()),
            (None, ChainStart::Genesis) => Some(GENESIS),
            (None, ChainStart::Any) => None,
        };
        if let Some(expected) = expected
            && expected != prev
        {
            return Err(BreakKind::Linkage {
                expected: expected.to_owned(),
                found: prev.to_owned(),
            });
        }
        let mut without_hash = object.clone();
        without_hash.remove("hash");
        let computed = hash_of(prev, &Value::Object(without_hash));
        if computed != stored {
            return Err(BreakKind::Content {
                stored: stored.to_owned(),
                computed,
            });
        }
        if self.head.is_none() {
            self.first_prev_hash = Some(prev.to_owned());
        }
        self.head = Some(computed);
        self.checked += 1;
        Ok(())
    }

    /// Records checked so far (all intact).
    pub fn checked(&self) -> u64 {
        self.checked
    }

    /// The hash of the last intact record.
    pub fn head(&self) -> Option<&str> {
        self.head.as_deref()
    }

    /// `prev_hash` of the first record, when it is not [`GENESIS`] (the chain continues
    /// records that are not present).
    pub fn continues_from(&self) -> Option<&str> {
        self.first_prev_hash.as_deref().filter(|h| *h != GENESIS)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::audit::record::{AuditEvent, AuditStatus};

    fn chain(n: usize) -> Vec<Value> {
        let mut prev = GENESIS.to_owned();
        (0..n)
            .map(|i| {
                let mut record = AuditRecord::new(AuditEvent::ToolCall, AuditStatus::Success);
                record.parameters = json!({"i": i, "f": 1.5, "nested": {"b": 1, "a": [true]}});
                prev = link(&mut record, &prev);
                serde_json::to_value(&record).unwrap()
            })
            .collect()
    }

    fn verify(records: &[Value], start: ChainStart) -> Result<u64, (usize, BreakKind)> {
        let mut verifier = ChainVerifier::new(start);
        for (i, record) in records.iter().enumerate() {
            verifier.check(record).map_err(|kind| (i, kind))?;
        }
        Ok(verifier.checked())
    }

    #[test]
    fn a_record_hashes_the_same_with_kept_bytes_and_verifies() {
        let mut record = AuditRecord::new(AuditEvent::ToolCall, AuditStatus::Success);
        record.parameters = json!({"token": "[REDACTED]", "n": 1.5});
        let fresh = hash_after(&record, GENESIS);
        record.unlinked = crate::audit::canonical::UnlinkedCache::of(&record);
        assert_eq!(hash_after(&record, GENESIS), fresh);
        assert_eq!(link(&mut record, GENESIS), fresh);
        let mut verifier = ChainVerifier::new(ChainStart::Genesis);
        verifier
            .check(&serde_json::to_value(&record).unwrap())
            .unwrap();
        // Linked again after another head, as the database's chain does.
        let other = hash_after(&record, &fresh);
        assert_ne!(other, fresh);
        record.unlinked = Default::default();
        assert_eq!(hash_after(&record, &fresh), other);
    }

    #[test]
    fn digests_are_lower_case_hex() {
        for input in ["", "a", "audit"] {
            let digest = sha256::digest(input.as_bytes());
            assert_eq!(lower_hex(&digest), hex::encode(digest), "{input}");
        }
        assert_eq!(lower_hex(&[0xab; 32]), "ab".repeat(32));
    }

    #[test]
    fn canonical_json_sorts_keys_and_formats_numbers() {
        let value: Value =
            serde_json::from_str(r#"{"b": 1.0, "a": {"z": [1e2, "é"], "y": null}, "c": 1e21}"#)
                .unwrap();
        let bytes = canonical_json(&value);
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            r#"{"a":{"y":null,"z":[100,"é"]},"b":1,"c":1e+21}"#
        );
    }

    #[test]
    fn hash_is_sha256_of_prev_and_canonical_json() {
        let value = json!({"b": 2, "a": 1, "prev_hash": GENESIS});
        let canonical = format!(r#"{{"a":1,"b":2,"prev_hash":"{GENESIS}"}}"#);
        // sha2: an implementation independent of the one the chain uses.
        let expected = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
            format!("{GENESIS}{canonical}").as_bytes(),
        ));
        assert_eq!(hash_of(GENESIS, &value), expected);
    }

    #[test]
    fn an_intact_chain_verifies_and_survives_a_text_round_trip() {
        let records = chain(5);
        let reparsed: Vec<Value> = records
            .iter()
            .map(|r| serde_json::from_str(&serde_json::to_string_pretty(r).unwrap()).unwrap())
            .collect();
        assert_eq!(verify(&reparsed, ChainStart::Genesis), Ok(5));
    }

    #[test]
    fn linking_a_record_hashes_what_its_json_hashes() {
        let mut record = AuditRecord::new(AuditEvent::ToolCall, AuditStatus::Success);
        record.parameters =
            json!({"big": u64::MAX, "neg": -3, "f": 0.1, "e": 1e300, "s": "é\u{1F600}"});
        record.roles = vec!["b".into(), "a".into()];
        let hash = link(&mut record, GENESIS);
        let mut value = serde_json::to_value(&record).unwrap();
        value.as_object_mut().unwrap().remove("hash");
        assert_eq!(hash, hash_of(GENESIS, &value));
    }

    #[test]
    fn an_edited_record_is_named() {
        let mut records = chain(5);
        records[2]["parameters"]["i"] = json!(99);
        let (at, kind) = verify(&records, ChainStart::Genesis).unwrap_err();
        assert_eq!(at, 2);
        assert!(matches!(kind, BreakKind::Content { .. }), "{kind}");
    }

    #[test]
    fn a_recomputed_hash_is_caught_by_the_next_record() {
        let mut records = chain(5);
        records[2]["status"] = json!("error");
        let prev = records[2]["prev_hash"].as_str().unwrap().to_owned();
        let mut body = records[2].as_object().unwrap().clone();
        body.remove("hash");
        records[2]["hash"] = json!(hash_of(&prev, &Value::Object(body)));
        let (at, kind) = verify(&records, ChainStart::Genesis).unwrap_err();
        assert_eq!(at, 3);
        assert!(matches!(kind, BreakKind::Linkage { .. }));
    }

    #[test]
    fn a_deleted_record_breaks_the_link_of_the_next() {
        let mut records = chain(5);
        records.remove(1);
        let (at, kind) = verify(&records, ChainStart::Genesis).unwrap_err();
        assert_eq!(at, 1);
        assert!(matches!(kind, BreakKind::Linkage { .. }));
    }

    #[test]
    fn an_inserted_record_breaks_the_link_of_the_one_after_it() {
        let mut records = chain(4);
        // A well-formed forgery linked after record 1.
        let mut forged = AuditRecord::new(AuditEvent::ToolCall, AuditStatus::Success);
        link(&mut forged, records[1]["hash"].as_str().unwrap());
        records.insert(2, serde_json::to_value(&forged).unwrap());
        let (at, kind) = verify(&records, ChainStart::Genesis).unwrap_err();
        assert_eq!(at, 3);
        assert!(matches!(kind, BreakKind::Linkage { .. }));
    }

    #[test]
    fn deleting_the_first_record_is_caught_only_from_genesis() {
        let mut records = chain(3);
        records.remove(0);
        assert!(matches!(
            verify(&records, ChainStart::Genesis),
            Err((0, BreakKind::Linkage { .. }))
        ));
        let mut verifier = ChainVerifier::new(ChainStart::Any);
        for record in &records {
            verifier.check(record).unwrap();
        }
        assert!(verifier.continues_from().is_some());
        assert_eq!(verifier.head(), records[1]["hash"].as_str());
    }

    #[test]
    fn records_without_hash_fields_are_unreadable() {
        let mut verifier = ChainVerifier::new(ChainStart::Any);
        assert!(matches!(
            verifier.check(&json!([1])),
            Err(BreakKind::Unreadable(_))
        ));
        assert!(matches!(
            verifier.check(&json!({"prev_hash": GENESIS})),
            Err(BreakKind::Unreadable(_))
        ));
        assert!(matches!(
            verifier.check(&json!({"hash": "x"})),
            Err(BreakKind::Unreadable(_))
        ));
    }
}
