//! One entry of `servers:`: its name, transport and per-server settings.

use std::collections::BTreeMap;

use super::super::credentials::CredentialRef;
use super::super::model::{DEFAULT_SERVER_TIMEOUT, EnvValue, ServerConfig, TransportConfig};
use super::super::problems::{KeyPath, Problems};
use super::super::raw::{Field, RawList, RawMap, RawScalar, RawServer};
use super::{
    auth, optional, optional_text, positive_seconds, required_text, text_list, unknown_keys,
};

/// Why a server name is refused (SPEC §4, §13), or `None` when it is fine.
pub fn server_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("a server name must not be empty");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Some("a server name may contain only A-Z, a-z, 0-9, `_` and `-`");
    }
    if name.contains("__") {
        return Some(
            "a server name must not contain `__`, which separates server and tool in exposed names",
        );
    }
    if name.eq_ignore_ascii_case("broadcast") {
        return Some("`broadcast` is reserved for the broadcast tools");
    }
    None
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum TransportKind {
    Http,
    Sse,
    Stdio,
}

const TRANSPORT_KINDS: &[(&str, TransportKind)] = &[
    ("http", TransportKind::Http),
    ("sse", TransportKind::Sse),
    ("stdio", TransportKind::Stdio),
];

/// Validate one server; `None` when anything about it is wrong (every problem recorded).
pub(super) fn server(
    problems: &mut Problems,
    path: &KeyPath,
    name: String,
    raw: RawServer,
) -> Option<ServerConfig> {
    let before = problems.count();
    unknown_keys(problems, path, &raw.unknown);
    if let Some(message) = server_name_problem(&name) {
        problems.add(path, message);
    }

    let transport = transport(
        problems,
        path,
        TransportFields {
            kind: raw.transport,
            url: raw.url,
            command: raw.command,
            args: raw.args,
            env: raw.env,
        },
    );
    let timeout = positive_seconds(problems, &path.key("timeout"), raw.timeout)
        .unwrap_or(DEFAULT_SERVER_TIMEOUT);
    let enabled =
        optional(problems, &path.key("enabled"), raw.enabled, "true or false").unwrap_or(true);
    let description = optional(
        problems,
        &path.key("description"),
        raw.description,
        "a string",
    )
    .filter(|text| !text.trim().is_empty());
    let mut tags = Vec::new();
    for tag in text_list(problems, &path.key("tags"), raw.tags, "a list of tags") {
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    let forward_identity = optional(
        problems,
        &path.key("forward_identity"),
        raw.forward_identity,
        "true or false",
    )
    .unwrap_or(false);
    let auth = auth::auth(problems, &path.key("auth"), raw.auth);

    let transport = transport?;
    (problems.count() == before).then_some(ServerConfig {
        name,
        transport,
        timeout,
        enabled,
        description,
        tags,
        forward_identity,
        auth,
    })
}

struct TransportFields {
    kind: Field<String>,
    url: Field<String>,
    command: Field<String>,
    args: Field<RawList<RawScalar>>,
    env: Field<RawMap<RawScalar>>,
}

/// `type` with the keys that go with it. Every given key is checked even when `type` is
/// wrong or missing, so that one run shows everything.
fn transport(
    problems: &mut Problems,
    path: &KeyPath,
    raw: TransportFields,
) -> Option<TransportConfig> {
    let type_path = path.key("type");
    let kind = required_text(
        problems,
        &type_path,
        raw.kind,
        "is required: http, sse or stdio",
    )
    .and_then(|text| super::one_of(problems, &type_path, &text, TRANSPORT_KINDS));

    let url_given = raw.url.is_given();
    let command_given = raw.command.is_given();
    let stdio_keys_given = [
        ("command", command_given),
        ("args", raw.args.is_given()),
        ("env", raw.env.is_given()),
    ];

    let url = optional_text(problems, &path.key("url"), raw.url)
        .and_then(|url| checked_url(problems, &path.key("url"), &url));
    let command = optional_text(problems, &path.key("command"), raw.command);
    let args = args(problems, &path.key("args"), raw.args);
    let env = env(problems, &path.key("env"), raw.env);

    match kind? {
        kind @ (TransportKind::Http | TransportKind::Sse) => {
            for (key, given) in stdio_keys_given {
                if given {
                    problems.add(&path.key(key), "applies only to stdio servers");
                }
            }
            if !url_given {
                let type_name = if kind == TransportKind::Http {
                    "http"
                } else {
                    "sse"
                };
                problems.add(
                    &path.key("url"),
                    format!("is required for type {type_name}"),
                );
            }
            let url = url?;
            Some(if kind == TransportKind::Http {
                TransportConfig::Http { url }
            } else {
                TransportConfig::Sse { url }
            })
        }
        TransportKind::Stdio => {
            if url_given {
                problems.add(&path.key("url"), "applies only to http and sse servers");
            }
            if !command_given {
                problems.add(&path.key("command"), "is required for type stdio");
            }
            Some(TransportConfig::Stdio {
                command: command?,
                args,
                env,
            })
        }
    }
}

/// An `http://` or `https://` URL with a host. The URL is not quoted in problems: it may
/// carry a credential in its user-info or query.
pub(super) fn checked_url(problems: &mut Problems, path: &KeyPath, text: &str) -> Option<String> {
    let text = text.trim();
    match reqwest::Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
            Some(text.to_owned())
        }
        Ok(_) => {
            problems.add(path, "must be an http:// or https:// URL");
            None
        }
        Err(_) => {
            problems.add(
                path,
                "is not a valid URL (expected http://host/… or https://host/…)",
            );
            None
        }
    }
}

fn args(problems: &mut Problems, path: &KeyPath, field: Field<RawList<RawScalar>>) -> Vec<String> {
    let items = optional(problems, path, field, "a list of arguments").unwrap_or_default();
    let mut args = Vec::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        match item {
            Field::Present(RawScalar(text)) => args.push(text),
            Field::Absent | Field::Null => problems.add(
                &path.index(index),
                "must be a value (write \"\" for an empty argument)",
            ),
            Field::WrongType(kind) => problems.add(
                &path.index(index),
                format!("must be a string, found {}", kind.described()),
            ),
        }
    }
    args
}

fn env(
    problems: &mut Problems,
    path: &KeyPath,
    field: Field<RawMap<RawScalar>>,
) -> BTreeMap<String, EnvValue> {
    let entries = optional(
        problems,
        path,
        field,
        "a mapping of variable names to values",
    )
    .unwrap_or(RawMap(Vec::new()));
    let mut env = BTreeMap::new();
    for (name, value) in entries.0 {
        let entry_path = path.key(&name);
        if name.is_empty() || name.contains(['=', '\0']) {
            problems.add(&entry_path, "is not a valid environment variable name");
        }
        match value {
            Field::Present(RawScalar(text)) if CredentialRef::looks_like_ref(&text) => {
                match CredentialRef::parse(&text) {
                    Ok(reference) => {
                        env.insert(name, EnvValue::Ref(reference));
                    }
                    Err(message) => problems.add(&entry_path, message),
                }
            }
            Field::Present(RawScalar(text)) => {
                env.insert(name, EnvValue::Literal(text));
            }
            Field::Absent | Field::Null => {
                problems.add(&entry_path, "must be a value (write \"\" for an empty one)")
            }
            Field::WrongType(kind) => problems.add(
                &entry_path,
                format!("must be a string, found {}", kind.described()),
            ),
        }
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names() {
        for good in ["prod-elk-1", "a", "A_b-9", "_", "-", "x_y"] {
            assert_eq!(server_name_problem(good), None, "{good}");
        }
        for bad in [
            "",
            "a b",
            "a.b",
            "é",
            "a/b",
            "a__b",
            "__",
            "broadcast",
            "Broadcast",
            "a:b",
        ] {
            assert!(server_name_problem(bad).is_some(), "{bad}");
        }
        assert!(server_name_problem("broadcast-2").is_none());
    }
}
