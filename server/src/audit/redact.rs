//! Secrets out of audit records (SPEC §9, §13): a value whose key names a secret becomes
//! `"[REDACTED]"`, at every depth.
//!
//! A key names a secret when, lower-cased and with `-` and `_` dropped, it contains one of
//! [`SECRET_MARKERS`]: `X_Auth_Token`, `api-key`, `DB_PASSWORD` and `clientSecret` all do.
//! One exception: a whole number under one of [`TOKEN_COUNTS`] (`max_tokens`,
//! `input_tokens`, …) counts a model's tokens, not a credential, and stays.
//!
//! The same pass replaces NUL characters with U+FFFD: PostgreSQL stores neither a NUL in
//! `TEXT` nor `\u0000` in `JSONB`, and a record the database refuses forever would block the
//! queue behind it.

use serde_json::Value;

/// What a redacted value is written as.
pub const REDACTED: &str = "[REDACTED]";

/// Substrings of a normalised key that mark its value as secret.
pub const SECRET_MARKERS: [&str; 10] = [
    "password",
    "passwd",
    "secret",
    "token",
    "apikey",
    "authorization",
    "credential",
    "privatekey",
    "accesskey",
    "cookie",
];

/// Whether the value under `key` must be redacted.
pub fn is_secret_key(key: &str) -> bool {
    let normalized: String = key
        .chars()
        // NUL (and the U+FFFD it becomes) cannot hide a marker either.
        .filter(|c| !matches!(c, '-' | '_' | '\0' | '\u{FFFD}'))
        .flat_map(char::to_lowercase)
        .collect();
    SECRET_MARKERS
        .iter()
        .any(|marker| normalized.contains(marker))
}

/// Keys of the Anthropic API and of the gateway's `llm_call` records that count tokens.
pub const TOKEN_COUNTS: [&str; 7] = [
    "max_tokens",
    "budget_tokens",
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "counted_input_tokens",
];

/// `max_tokens: 1024`, `output_tokens: 5`: a number of model tokens, which no credential is.
fn is_token_count(key: &str, value: &Value) -> bool {
    value.is_u64() && TOKEN_COUNTS.contains(&key)
}

/// A copy of `value` with every secret redacted and every NUL replaced.
pub fn redact(value: &Value) -> Value {
    let mut copy = value.clone();
    redact_in_place(&mut copy);
    copy
}

/// [`redact`] without the copy.
pub fn redact_in_place(value: &mut Value) {
    match value {
        Value::Object(map) => {
            // Keys with a NUL are renamed, which needs a rebuild of the map; rare enough.
            if map.keys().any(|k| k.contains('\0')) {
                let entries = std::mem::take(map);
                for (key, item) in entries {
                    map.insert(replace_nul(&key), item);
                }
            }
            for (key, item) in map.iter_mut() {
                if is_secret_key(key) && !is_token_count(key, item) {
                    *item = Value::String(REDACTED.to_owned());
                } else {
                    redact_in_place(item);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_in_place),
        Value::String(text) => {
            if text.contains('\0') {
                *text = replace_nul(text);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// `text` with NUL characters replaced by U+FFFD.
pub fn replace_nul(text: &str) -> String {
    text.replace('\0', "\u{FFFD}")
}

/// Replace NULs in an optional text field, in place.
pub fn clean_text(field: &mut Option<String>) {
    if let Some(text) = field
        && text.contains('\0')
    {
        *text = replace_nul(text);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_marker_and_spelling_is_secret() {
        for key in [
            "password",
            "PASSWORD",
            "db_password",
            "passwd",
            "clientSecret",
            "client-secret",
            "token",
            "X_Auth_Token",
            "x-auth-token",
            "access_token",
            "api_key",
            "api-key",
            "API_KEY",
            "ApiKey",
            "Authorization",
            "proxy-authorization",
            "credential",
            "credentials",
            "private_key",
            "PrivateKey",
            "aws_access_key_id",
            "AccessKey",
            "cookie",
            "Set-Cookie",
        ] {
            assert!(is_secret_key(key), "{key} should be secret");
        }
    }

    #[test]
    fn ordinary_keys_are_kept() {
        for key in [
            "query", "index", "api", "key", "user", "username", "author", "tok", "pass", "keys", "",
        ] {
            assert!(!is_secret_key(key), "{key} should not be secret");
        }
    }

    #[test]
    fn redacts_at_every_depth() {
        let input = json!({
            "query": "error",
            "api-key": "k1",
            "nested": {
                "X_Auth_Token": "t1",
                "list": [{"Password": "p1", "keep": 1}, "plain", [{"cookie": "c"}]],
                "deeper": {"ok": true, "Client_Secret": {"any": "shape"}}
            },
            "tokens": ["a", "b"]
        });
        let output = redact(&input);
        assert_eq!(
            output,
            json!({
                "query": "error",
                "api-key": REDACTED,
                "nested": {
                    "X_Auth_Token": REDACTED,
                    "list": [{"Password": REDACTED, "keep": 1}, "plain", [{"cookie": REDACTED}]],
                    "deeper": {"ok": true, "Client_Secret": REDACTED}
                },
                "tokens": REDACTED
            })
        );
        // The input is untouched.
        assert_eq!(input["api-key"], "k1");
    }

    #[test]
    fn counts_of_model_tokens_stay_and_token_values_do_not() {
        let record = json!({
            "max_tokens": 1024, "input_tokens": 11, "cache_read_input_tokens": 0,
            "tokens": "abc", "refresh_tokens": ["r1"], "access_token": 12345,
            "max_tokens_text": 5, "output_tokens": -1, "recovery_tokens": 12345678,
        });
        assert_eq!(
            redact(&record),
            json!({
                "max_tokens": 1024, "input_tokens": 11, "cache_read_input_tokens": 0,
                "tokens": REDACTED, "refresh_tokens": REDACTED, "access_token": REDACTED,
                "max_tokens_text": REDACTED, "output_tokens": REDACTED,
                "recovery_tokens": REDACTED,
            })
        );
    }

    #[test]
    fn scalars_and_null_pass_through() {
        for value in [
            json!(null),
            json!(1),
            json!("token"),
            json!([1, "password"]),
        ] {
            assert_eq!(redact(&value), value);
        }
    }

    #[test]
    fn nul_characters_are_replaced_in_values_and_keys() {
        let output = redact(&json!({"a\u{0}b": ["x\u{0}"], "s": "\u{0}"}));
        assert_eq!(
            output,
            json!({"a\u{FFFD}b": ["x\u{FFFD}"], "s": "\u{FFFD}"})
        );
        let mut field = Some("e\u{0}".to_owned());
        clean_text(&mut field);
        assert_eq!(field.as_deref(), Some("e\u{FFFD}"));
    }

    #[test]
    fn a_secret_key_containing_nul_is_still_redacted() {
        let output = redact(&json!({"pass\u{0}word": "p", "to\u{0}ken": {"x": 1}}));
        assert_eq!(output["pass\u{FFFD}word"], REDACTED);
        assert_eq!(output["to\u{FFFD}ken"], REDACTED);
    }
}
