//! Raw shapes → validated [`Config`]: every check of SPEC §4, §12 and §13, every problem
//! recorded with its key path. Pure: no I/O, no environment.
//!
//! Messages never quote a configured value (it may be a secret written in the wrong place);
//! they name the key and say what is expected.

mod auth;
mod llm;
mod policy;
mod server;
#[cfg(test)]
mod tests;

use std::time::Duration;

use serde_yaml::{Mapping, Number};

use super::model::{Config, Limits, default_limits};
use super::problems::{KeyPath, Problems};
use super::raw::{Field, RawConfig, RawLimits, RawList, key_text};

pub use server::server_name_problem;

/// Validate a whole file. The result is meaningful only when no problem was recorded.
pub(crate) fn config(raw: RawConfig, problems: &mut Problems) -> Config {
    let root = KeyPath::root();
    unknown_keys(problems, &root, &raw.unknown);

    let servers_path = root.key("servers");
    let mut servers = Vec::new();
    if let Some(entries) = optional(problems, &servers_path, raw.servers, "a mapping of servers") {
        for (name, entry) in entries.0 {
            let path = servers_path.key(&name);
            match entry {
                Field::Present(raw_server) => {
                    if let Some(server) = server::server(problems, &path, name, raw_server) {
                        servers.push(server);
                    }
                }
                Field::Null | Field::Absent => problems.add(
                    &path,
                    "is empty: a server needs at least `type` and `url` or `command`",
                ),
                Field::WrongType(kind) => problems.add(
                    &path,
                    format!("must be a mapping of settings, found {}", kind.described()),
                ),
            }
        }
    }
    servers.sort_by(|a, b| a.name.cmp(&b.name));

    let authorization =
        policy::authorization(problems, &root.key("authorization"), raw.authorization);
    let rate_limits = optional(
        problems,
        &root.key("rate_limits"),
        raw.rate_limits,
        "a mapping",
    )
    .map(|raw| policy::rate_limits(problems, &root.key("rate_limits"), raw));
    let limits = optional(problems, &root.key("limits"), raw.limits, "a mapping")
        .map(|raw| limits(problems, &root.key("limits"), raw))
        .unwrap_or_default();
    let llm = llm::llm(problems, &root.key("llm"), raw.llm);

    Config {
        servers,
        authorization,
        rate_limits,
        limits,
        llm,
    }
}

fn limits(problems: &mut Problems, path: &KeyPath, raw: RawLimits) -> Limits {
    unknown_keys(problems, path, &raw.unknown);
    let defaults = Limits::default();
    let max_tool_name_length = positive_whole(
        problems,
        &path.key("max_tool_name_length"),
        raw.max_tool_name_length,
    )
    .unwrap_or(defaults.max_tool_name_length);
    if max_tool_name_length < default_limits::MIN_TOOL_NAME_LENGTH {
        problems.add(
            &path.key("max_tool_name_length"),
            format!(
                "must be at least {}: shortened names keep `max - 9` characters",
                default_limits::MIN_TOOL_NAME_LENGTH
            ),
        );
    }
    Limits {
        max_request_bytes: positive_whole(
            problems,
            &path.key("max_request_bytes"),
            raw.max_request_bytes,
        )
        .unwrap_or(defaults.max_request_bytes),
        max_response_bytes: positive_whole(
            problems,
            &path.key("max_response_bytes"),
            raw.max_response_bytes,
        )
        .unwrap_or(defaults.max_response_bytes),
        broadcast_timeout: positive_seconds(
            problems,
            &path.key("broadcast_timeout"),
            raw.broadcast_timeout,
        )
        .unwrap_or(defaults.broadcast_timeout),
        broadcast_concurrency: positive_whole(
            problems,
            &path.key("broadcast_concurrency"),
            raw.broadcast_concurrency,
        )
        .unwrap_or(defaults.broadcast_concurrency),
        max_tool_name_length,
    }
}

/// Every key of `unknown` is a problem.
fn unknown_keys(problems: &mut Problems, path: &KeyPath, unknown: &Mapping) {
    for key in unknown.keys() {
        problems.add(&path.key(&key_text(key)), "unknown key");
    }
}

/// The value of an optional key (absent and null alike give `None`); a value of another type
/// is a problem.
fn optional<T>(
    problems: &mut Problems,
    path: &KeyPath,
    field: Field<T>,
    expected: &str,
) -> Option<T> {
    match field {
        Field::Absent | Field::Null => None,
        Field::Present(value) => Some(value),
        Field::WrongType(kind) => {
            problems.add(
                path,
                format!("must be {expected}, found {}", kind.described()),
            );
            None
        }
    }
}

/// The value of a required key; absent, null or of another type is a problem.
fn required<T>(
    problems: &mut Problems,
    path: &KeyPath,
    field: Field<T>,
    expected: &str,
    missing: &str,
) -> Option<T> {
    match field {
        Field::Absent | Field::Null => {
            problems.add(path, missing);
            None
        }
        other => optional(problems, path, other, expected),
    }
}

/// A required, non-empty string.
fn required_text(
    problems: &mut Problems,
    path: &KeyPath,
    field: Field<String>,
    missing: &str,
) -> Option<String> {
    let text = required(problems, path, field, "a string", missing)?;
    non_empty(problems, path, text)
}

/// An optional string that, when given, is not empty.
fn optional_text(problems: &mut Problems, path: &KeyPath, field: Field<String>) -> Option<String> {
    let text = optional(problems, path, field, "a string")?;
    non_empty(problems, path, text)
}

fn non_empty(problems: &mut Problems, path: &KeyPath, text: String) -> Option<String> {
    if text.trim().is_empty() {
        problems.add(path, "must not be empty");
        return None;
    }
    Some(text)
}

/// A list of non-empty strings (an absent or null list is empty).
fn text_list(
    problems: &mut Problems,
    path: &KeyPath,
    field: Field<RawList<String>>,
    expected: &str,
) -> Vec<String> {
    let items = optional(problems, path, field, expected).unwrap_or_default();
    let mut texts = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let item_path = path.index(index);
        if let Some(text) = required_text(
            problems,
            &item_path,
            item,
            "must be a string, found nothing",
        ) {
            texts.push(text);
        }
    }
    texts
}

/// Seconds, fractional allowed, > 0. `None` when absent or wrong (the wrong case recorded).
fn positive_seconds(
    problems: &mut Problems,
    path: &KeyPath,
    field: Field<Number>,
) -> Option<Duration> {
    const EXPECTED: &str = "a positive number of seconds";
    let number = optional(problems, path, field, EXPECTED)?;
    let seconds = number.as_f64().filter(|s| s.is_finite() && *s > 0.0);
    match seconds.and_then(|s| Duration::try_from_secs_f64(s).ok()) {
        Some(duration) if !duration.is_zero() => Some(duration),
        _ => {
            problems.add(path, format!("must be {EXPECTED}"));
            None
        }
    }
}

/// A whole number > 0 that fits `T`. `None` when absent or wrong (the wrong case recorded).
fn positive_whole<T: TryFrom<u64>>(
    problems: &mut Problems,
    path: &KeyPath,
    field: Field<Number>,
) -> Option<T> {
    const EXPECTED: &str = "a positive whole number";
    let number = optional(problems, path, field, EXPECTED)?;
    let whole = number.as_u64().or_else(|| {
        // `1e6` parses as a float; accept it when it is whole.
        number
            .as_f64()
            .filter(|f| f.is_finite() && f.fract() == 0.0 && *f >= 0.0 && *f < u64::MAX as f64)
            .map(|f| f as u64)
    });
    match whole {
        Some(0) | None => {
            problems.add(path, format!("must be {EXPECTED}"));
            None
        }
        Some(value) => match T::try_from(value) {
            Ok(value) => Some(value),
            Err(_) => {
                problems.add(path, "is too large");
                None
            }
        },
    }
}

/// One of `allowed` (exactly as written). The value itself is not quoted in the problem.
fn one_of<T: Copy>(
    problems: &mut Problems,
    path: &KeyPath,
    text: &str,
    allowed: &[(&str, T)],
) -> Option<T> {
    if let Some((_, value)) = allowed.iter().find(|(name, _)| *name == text) {
        return Some(*value);
    }
    let names: Vec<_> = allowed.iter().map(|(name, _)| *name).collect();
    problems.add(path, format!("must be one of: {}", names.join(", ")));
    None
}
