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

/// JCS bytes of any serializable value.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    match serde_json::to_value(value) {
        Ok(value) => of_value(&value),
        // Not representable as JSON (a map with non-string keys): nothing of ours.
        Err(_) => Vec::new(),
    }
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
