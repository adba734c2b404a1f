//! RFC 8785 (JCS) canonical JSON, the input of every audit hash: object keys sorted by their
//! UTF-16 code units, no whitespace, ECMAScript number formatting, JSON.stringify escaping.
//!
//! Every audit record is hashed once per sink before its answer is sent, so this sits on the
//! request path. A general JCS serializer allocates a UTF-16 copy of every key to sort it;
//! here keys are compared as UTF-16 only when they are not ASCII, integers are written
//! directly, and only non-integer numbers take the ECMAScript formatter. The tests hold the
//! output byte for byte against `serde_jcs`.

use std::cmp::Ordering;

use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::record::{AuditRecord, format_timestamp, transport_str};

/// JCS bytes of an audit record: the same bytes as [`of_value`] of its JSON, written field
/// by field in key order without building a JSON tree first (this runs for every record).
pub fn of_record(record: &AuditRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(768);
    write_record(
        &mut out,
        record,
        record.hash.as_deref(),
        record.prev_hash.as_deref(),
    );
    out
}

/// JCS bytes of a record without its chain fields, and where `prev_hash` goes among its keys.
///
/// Both sinks hash the same record, each after its own `prev_hash`; the bytes are written
/// once and reused by the database's chain (see [`UnlinkedCache`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unlinked {
    bytes: Vec<u8>,
    /// Offset of the `prev_hash` member: after `parameters`, before `request_id`.
    prev_hash_at: usize,
}

impl Unlinked {
    /// Of `record`, whatever its `prev_hash` and `hash` hold.
    pub fn of(record: &AuditRecord) -> Unlinked {
        let mut bytes = Vec::with_capacity(768);
        let prev_hash_at = write_record(&mut bytes, record, None, None);
        Unlinked {
            bytes,
            prev_hash_at,
        }
    }

    /// Hand `feed` the JCS bytes of the record with `prev_hash` set (and no `hash`), in
    /// pieces: what `of_record` returns for it.
    pub fn with_prev_hash(&self, prev_hash: &str, mut feed: impl FnMut(&[u8])) {
        let mut member = Vec::with_capacity(16 + prev_hash.len());
        member.extend_from_slice(b",\"prev_hash\":");
        write_string(&mut member, prev_hash);
        let (before, after) = self.bytes.split_at(self.prev_hash_at);
        feed(before);
        feed(&member);
        feed(after);
    }
}

/// A record's [`Unlinked`] bytes, kept from the audit file's chain for the database's, so
/// that a record is canonicalised once. Set only once the record is final (sealed); never
/// serialized, and ignored by `==` (it is derived from the record).
#[derive(Clone, Default)]
pub struct UnlinkedCache(Option<Unlinked>);

impl std::fmt::Debug for UnlinkedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            Some(unlinked) => write!(f, "UnlinkedCache({} bytes)", unlinked.bytes.len()),
            None => f.write_str("UnlinkedCache(None)"),
        }
    }
}

impl UnlinkedCache {
    pub fn of(record: &AuditRecord) -> UnlinkedCache {
        UnlinkedCache(Some(Unlinked::of(record)))
    }

    /// The kept bytes, if any. They must still be the record's: checked in debug builds.
    pub fn get(&self, record: &AuditRecord) -> Option<&Unlinked> {
        let unlinked = self.0.as_ref()?;
        debug_assert_eq!(
            *unlinked,
            Unlinked::of(record),
            "a record changed after its canonical bytes were kept"
        );
        Some(unlinked)
    }

    /// Move the kept bytes out, leaving none.
    pub fn take(&mut self) -> Option<Unlinked> {
        self.0.take()
    }
}

impl From<Unlinked> for UnlinkedCache {
    fn from(unlinked: Unlinked) -> Self {
        UnlinkedCache(Some(unlinked))
    }
}

impl PartialEq for UnlinkedCache {
    fn eq(&self, _: &UnlinkedCache) -> bool {
        true
    }
}

/// Write `record` with the given chain fields; returns the offset of the `prev_hash` member
/// (where it is, or would be).
fn write_record(
    out: &mut Vec<u8>,
    record: &AuditRecord,
    hash: Option<&str>,
    prev_hash: Option<&str>,
) -> usize {
    fn text(out: &mut Vec<u8>, value: Option<&str>) {
        match value {
            Some(value) => write_string(out, value),
            None => out.extend_from_slice(b"null"),
        }
    }
    fn uuid(out: &mut Vec<u8>, value: Option<&Uuid>) {
        let mut buffer = Uuid::encode_buffer();
        text(
            out,
            value.map(|id| &*id.hyphenated().encode_lower(&mut buffer)),
        );
    }
    fn plain<T: Serialize>(out: &mut Vec<u8>, value: &T) {
        // Enums as their names, integers: already canonical. A Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, value);
    }
    let r = record;
    // Keys in UTF-16 (here: ASCII) order; `auth`, `key_id`, `prev_hash` and `hash` only
    // when set, as serde skips them.
    out.push(b'{');
    if let Some(auth) = r.auth {
        out.extend_from_slice(b"\"auth\":");
        write_string(out, auth.as_str());
        out.push(b',');
    }
    out.extend_from_slice(b"\"backend_tool\":");
    text(out, r.backend_tool.as_deref());
    out.extend_from_slice(b",\"broadcast_id\":");
    uuid(out, r.broadcast_id.as_ref());
    out.extend_from_slice(b",\"client_ip\":");
    text(out, r.client_ip.as_deref());
    out.extend_from_slice(b",\"details\":");
    write_value(out, &r.details);
    out.extend_from_slice(b",\"duration_ms\":");
    match r.duration_ms {
        Some(ms) => write_number(out, &ms.into()),
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"error\":");
    text(out, r.error.as_deref());
    out.extend_from_slice(b",\"event\":");
    plain(out, &r.event);
    if let Some(hash) = hash {
        out.extend_from_slice(b",\"hash\":");
        write_string(out, hash);
    }
    out.extend_from_slice(b",\"id\":");
    uuid(out, Some(&r.id));
    if let Some(key_id) = &r.key_id {
        out.extend_from_slice(b",\"key_id\":");
        write_string(out, key_id);
    }
    out.extend_from_slice(b",\"mcp_server\":");
    text(out, r.mcp_server.as_deref());
    out.extend_from_slice(b",\"parameters\":");
    write_value(out, &r.parameters);
    let prev_hash_at = out.len();
    if let Some(prev_hash) = prev_hash {
        out.extend_from_slice(b",\"prev_hash\":");
        write_string(out, prev_hash);
    }
    out.extend_from_slice(b",\"request_id\":");
    text(out, r.request_id.as_deref());
    out.extend_from_slice(b",\"roles\":[");
    for (i, role) in r.roles.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(out, role);
    }
    out.extend_from_slice(b"],\"session_id\":");
    text(out, r.session_id.as_deref());
    out.extend_from_slice(b",\"status\":");
    plain(out, &r.status);
    out.extend_from_slice(b",\"subject\":");
    text(out, r.subject.as_deref());
    out.extend_from_slice(b",\"timestamp\":");
    write_string(out, &format_timestamp(&r.timestamp));
    out.extend_from_slice(b",\"tool\":");
    text(out, r.tool.as_deref());
    out.extend_from_slice(b",\"transport\":");
    text(out, r.transport.map(transport_str));
    out.extend_from_slice(b",\"truncated\":");
    plain(out, &r.truncated);
    out.extend_from_slice(b",\"user\":");
    text(out, r.user.as_deref());
    out.push(b'}');
    prev_hash_at
}

/// JCS bytes of a JSON value.
pub fn of_value(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(512);
    write_value(&mut out, value);
    out
}

fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(number) => write_number(out, number),
        Value::String(text) => write_string(out, text),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| utf16_order(a.0, b.0));
            out.push(b'{');
            for (i, (key, item)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(out, key);
                out.push(b':');
                write_value(out, item);
            }
            out.push(b'}');
        }
    }
}

/// JCS orders keys by UTF-16 code units. For ASCII (nearly every key) that is byte order.
fn utf16_order(a: &str, b: &str) -> Ordering {
    if a.is_ascii() && b.is_ascii() {
        a.as_bytes().cmp(b.as_bytes())
    } else {
        a.encode_utf16().cmp(b.encode_utf16())
    }
}

fn write_number(out: &mut Vec<u8>, number: &serde_json::Number) {
    // JCS numbers are IEEE doubles: integers up to 2^53 print as they are; everything else
    // (fractions, exponents, larger integers, which round) takes ECMAScript's Number-to-String.
    const EXACT: u64 = 1 << 53;
    let exact = number.as_u64().is_some_and(|u| u <= EXACT)
        || number.as_i64().is_some_and(|i| i.unsigned_abs() <= EXACT);
    if exact {
        // Writing to a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, number);
    } else {
        match serde_jcs::to_vec(number) {
            Ok(bytes) => out.extend_from_slice(&bytes),
            Err(_) => out.extend_from_slice(b"null"),
        }
    }
}

/// JSON.stringify's escaping, which serde_json's compact writer shares: `"`, `\`, the five
/// short control escapes and `\u00xx` (lowercase) for the other control characters;
/// everything else verbatim.
fn write_string(out: &mut Vec<u8>, text: &str) {
    // Writing to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, text);
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn same_as_serde_jcs(value: &Value) {
        let expected = serde_jcs::to_vec(value).expect("jcs");
        let ours = of_value(value);
        assert_eq!(
            String::from_utf8_lossy(&ours),
            String::from_utf8_lossy(&expected),
            "for {value}"
        );
    }

    #[test]
    fn matches_the_reference_on_records_and_odd_values() {
        let all_controls: String = (0u8..0x20).map(char::from).collect();
        for value in [
            json!(null),
            json!({}),
            json!([]),
            json!({"b": 1, "a": [true, false, null], "c": {"z": "y", "A": -3}}),
            json!({"text": all_controls, "quote": "\"\\/", "unicode": "é€😀\u{2028}\u{7f}"}),
            json!({"n": [0, -0.0, 1.5, 0.1, 1e21, 1e-7, 123456789012345680000.0, -1e300,
                         u64::MAX, i64::MIN, 5e-324, 0.000001,
                         9007199254740992_u64, 9007199254740993_u64, -9007199254740993_i64]}),
            // Keys whose UTF-16 order differs from their UTF-8 order.
            json!({"\u{ff61}": 1, "\u{1f600}": 2, "a": 3, "\u{e000}": 4, "é": 5}),
            json!({"nested": [{"k2": {"b": [1, {"y": 2, "x": 1}]}, "k1": "v"}]}),
        ] {
            same_as_serde_jcs(&value);
        }
    }

    #[test]
    fn records_written_field_by_field_match_the_reference() {
        use std::time::Duration;

        use crate::audit::record::AuditStatus;
        use crate::principal::{Principal, RequestContext, Transport};

        let ctx = RequestContext {
            endpoint: Default::default(),
            principal: Principal::from(crate::principal::Identity {
                user: "ålice \"q\"".into(),
                subject: "sub-1".into(),
                roles: ["b".to_owned(), "a\u{1}".to_owned()].into(),
                scopes: Default::default(),
                credential: crate::principal::Credential::ApiKey("key-1".into()),
            }),
            request_id: "req-1".into(),
            session_id: Some("s-1".into()),
            client_ip: Some("127.0.0.1".into()),
            transport: Transport::Mcp,
            span: tracing::Span::none(),
        };
        let parameters =
            json!({"q": "x", "n": 1.5, "big": u64::MAX, "\u{1f600}": {"z": 1, "a": null}});
        let mut full = AuditRecord::tool_call(&ctx, "a__b", "a", "b", Some(&parameters)).finished(
            AuditStatus::Error,
            Duration::from_millis(45),
            Some("boom".into()),
        );
        full.broadcast_id = Some(Uuid::now_v7());
        full.truncated = true;
        full.details = json!({"state": "up", "list": [1, 2.25]});
        let mut bare = AuditRecord::tool_call(&ctx, "a__b", "a", "b", None);
        bare.transport = None;
        bare.duration_ms = Some(u64::MAX);
        for record in [&full, &bare] {
            let mut record = record.clone();
            assert_eq!(
                String::from_utf8_lossy(&of_record(&record)),
                String::from_utf8_lossy(&serde_jcs::to_vec(&record).expect("jcs"))
            );
            record.prev_hash = Some("0".repeat(64));
            record.hash = Some("f".repeat(64));
            assert_eq!(of_record(&record), serde_jcs::to_vec(&record).expect("jcs"));
        }
    }

    fn sample_record() -> AuditRecord {
        use crate::audit::record::{AuditEvent, AuditStatus};
        let mut record = AuditRecord::new(AuditEvent::ToolCall, AuditStatus::Success);
        record.user = Some("ålice".into());
        record.roles = vec!["user".into()];
        record.parameters = json!({"q": "x", "n": [1, 2.5]});
        record
    }

    #[test]
    fn unlinked_bytes_with_a_prev_hash_are_the_record_linked() {
        let mut record = sample_record();
        let unlinked = Unlinked::of(&record);
        for prev_hash in ["0".repeat(64), "odd \"prev\"\n".to_owned()] {
            let mut pieces = Vec::new();
            unlinked.with_prev_hash(&prev_hash, |bytes| pieces.extend_from_slice(bytes));
            record.prev_hash = Some(prev_hash);
            record.hash = None;
            assert_eq!(
                String::from_utf8_lossy(&pieces),
                String::from_utf8_lossy(&of_record(&record))
            );
            // The chain fields a record holds do not change its unlinked bytes.
            record.hash = Some("f".repeat(64));
            assert_eq!(Unlinked::of(&record), unlinked);
        }
    }

    #[test]
    fn kept_bytes_are_returned_and_do_not_count_for_equality() {
        let record = sample_record();
        let mut kept = record.clone();
        kept.unlinked = UnlinkedCache::of(&kept);
        assert_eq!(kept.unlinked.get(&kept), Some(&Unlinked::of(&record)));
        assert_eq!(record.unlinked.get(&record), None);
        assert_eq!(kept, record);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "changed after its canonical bytes were kept")]
    fn kept_bytes_of_a_changed_record_are_caught_in_debug_builds() {
        let mut record = sample_record();
        record.unlinked = UnlinkedCache::of(&record);
        record.user = Some("mallory".into());
        let _ = record.unlinked.get(&record);
    }

    /// JCS bytes of any serializable value, through its JSON.
    fn to_vec<T: Serialize>(value: &T) -> Vec<u8> {
        of_value(&serde_json::to_value(value).expect("JSON"))
    }

    #[test]
    fn serializable_values_go_through_their_json() {
        #[derive(Serialize)]
        struct Sample {
            zeta: u8,
            alpha: Option<String>,
            beta: f64,
        }
        let sample = Sample {
            zeta: 1,
            alpha: Some("x".into()),
            beta: 2.5,
        };
        assert_eq!(
            to_vec(&sample),
            serde_jcs::to_vec(&sample).expect("jcs"),
            "struct fields are sorted like any keys"
        );
    }
}
