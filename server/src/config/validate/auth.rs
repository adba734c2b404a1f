//! A server's `auth:` block: how the gateway authenticates to that backend.
//!
//! Defaults where SPEC §4 gives none (also in docs/configuration.md):
//! `bearer` and `oauth2` → header `Authorization`, prefix `Bearer `; `basic` → header
//! `Authorization`, prefix `Basic ` (the credential `user:password` is base64-encoded first);
//! `api_key` → header `X-API-Key`, raw; `custom` → header, raw, `name` required.
//! With `location: query` or `body`, `name` is always required.

use super::super::credentials::CredentialRef;
use super::super::model::{
    AuthMethod, CredentialFormat, CredentialLocation, OAuth2Settings, OutboundAuth, TEMPLATE_MARKER,
};
use super::super::problems::{KeyPath, Problems};
use super::super::raw::{Field, RawAuth};
use super::server::checked_url;
use super::{one_of, optional, optional_text, required_text, unknown_keys};

const METHODS: &[(&str, Option<AuthMethod>)] = &[
    ("api_key", Some(AuthMethod::ApiKey)),
    ("bearer", Some(AuthMethod::Bearer)),
    ("basic", Some(AuthMethod::Basic)),
    ("oauth2", Some(AuthMethod::OAuth2)),
    ("custom", Some(AuthMethod::Custom)),
    ("none", None),
];

const LOCATIONS: &[(&str, CredentialLocation)] = &[
    ("header", CredentialLocation::Header),
    ("query", CredentialLocation::Query),
    ("body", CredentialLocation::Body),
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum FormatKind {
    Raw,
    Prefix,
    Template,
}

const FORMATS: &[(&str, FormatKind)] = &[
    ("raw", FormatKind::Raw),
    ("prefix", FormatKind::Prefix),
    ("template", FormatKind::Template),
];

/// The header name a method uses when the file names none and the location is `header`.
fn default_header(method: AuthMethod) -> Option<&'static str> {
    match method {
        AuthMethod::ApiKey => Some("X-API-Key"),
        AuthMethod::Bearer | AuthMethod::OAuth2 | AuthMethod::Basic => Some("Authorization"),
        AuthMethod::Custom => None,
    }
}

/// The format a method uses when the file gives none.
fn default_format(method: AuthMethod) -> CredentialFormat {
    match method {
        AuthMethod::Bearer | AuthMethod::OAuth2 => CredentialFormat::Prefix("Bearer ".to_owned()),
        AuthMethod::Basic => CredentialFormat::Prefix("Basic ".to_owned()),
        AuthMethod::ApiKey | AuthMethod::Custom => CredentialFormat::Raw,
    }
}

/// `None` for no credential (`auth` null or absent, `method: none`) and for a block with
/// problems (recorded).
pub(super) fn auth(
    problems: &mut Problems,
    path: &KeyPath,
    field: Field<RawAuth>,
) -> Option<OutboundAuth> {
    let raw = optional(
        problems,
        path,
        field,
        "a mapping (or null for no credential)",
    )?;
    let before = problems.count();
    unknown_keys(problems, path, &raw.unknown);

    let method_path = path.key("method");
    let method = match raw.method {
        // `method:` with no value reads as "no method": like `none`.
        Field::Null => return None,
        other => {
            let text = required_text(
                problems,
                &method_path,
                other,
                "is required: api_key, bearer, basic, oauth2, custom or none",
            );
            match text.and_then(|text| one_of(problems, &method_path, &text, METHODS)) {
                Some(None) => return None,
                Some(Some(method)) => Some(method),
                None => None,
            }
        }
    };

    let location = optional_text(problems, &path.key("location"), raw.location)
        .and_then(|text| one_of(problems, &path.key("location"), &text, LOCATIONS))
        .unwrap_or(CredentialLocation::Header);
    let name = optional_text(problems, &path.key("name"), raw.name);
    let format = format(problems, path, method, raw.format, raw.prefix, raw.template);

    let oauth2_given = [
        ("token_url", raw.token_url.is_given()),
        ("client_id", raw.client_id.is_given()),
        ("client_secret_ref", raw.client_secret_ref.is_given()),
        ("scope", raw.scope.is_given()),
    ];
    let (credential, oauth2) = if method == Some(AuthMethod::OAuth2) {
        if raw.credential_ref.is_given() {
            problems.add(
                &path.key("credential_ref"),
                "does not apply to method oauth2 (use client_secret_ref)",
            );
        }
        let settings = oauth2_settings(
            problems,
            path,
            raw.token_url,
            raw.client_id,
            raw.client_secret_ref,
            raw.scope,
        );
        (None, settings)
    } else {
        if method.is_some() {
            for (key, given) in oauth2_given {
                if given {
                    problems.add(&path.key(key), "applies only to method oauth2");
                }
            }
        }
        let credential_path = path.key("credential_ref");
        let credential = match raw.credential_ref {
            Field::Absent | Field::Null if method.is_none() => None,
            other => required_text(
                problems,
                &credential_path,
                other,
                "is required: env://VARIABLE or file:///path",
            )
            .and_then(|text| credential_ref(problems, &credential_path, &text)),
        };
        (credential, None)
    };

    let method = method?;
    let name = match (name, location) {
        (Some(name), _) => name,
        (None, CredentialLocation::Header) => match default_header(method) {
            Some(header) => header.to_owned(),
            None => {
                problems.add(&path.key("name"), "is required for method custom");
                return None;
            }
        },
        (None, location) => {
            problems.add(
                &path.key("name"),
                format!("is required when location is {}", location.as_str()),
            );
            return None;
        }
    };
    if location == CredentialLocation::Header && http::HeaderName::try_from(name.as_str()).is_err()
    {
        problems.add(&path.key("name"), "is not a valid HTTP header name");
    }

    let format = format?;
    (problems.count() == before).then_some(OutboundAuth {
        method,
        location,
        name,
        format,
        credential,
        oauth2,
    })
}

fn format(
    problems: &mut Problems,
    path: &KeyPath,
    method: Option<AuthMethod>,
    format: Field<String>,
    prefix: Field<String>,
    template: Field<String>,
) -> Option<CredentialFormat> {
    let format_path = path.key("format");
    let format_given = format.is_given();
    let kind = optional_text(problems, &format_path, format)
        .and_then(|text| one_of(problems, &format_path, &text, FORMATS));
    let prefix_given = prefix.is_given();
    let template_given = template.is_given();
    // An empty prefix is allowed (same as raw), an empty template is not.
    let prefix = optional(problems, &path.key("prefix"), prefix, "a string");
    let template = optional_text(problems, &path.key("template"), template);
    if let Some(template) = &template
        && !template.contains(TEMPLATE_MARKER)
    {
        problems.add(
            &path.key("template"),
            format!("must contain {TEMPLATE_MARKER}"),
        );
    }
    if format_given && kind.is_none() {
        return None;
    }

    let kind = match kind {
        Some(kind) => kind,
        // Without `format`, a lone `prefix` or `template` says which is meant.
        None => match (prefix_given, template_given) {
            (true, false) => FormatKind::Prefix,
            (false, true) => FormatKind::Template,
            (true, true) => {
                problems.add(
                    &format_path,
                    "is required when both prefix and template are given",
                );
                return None;
            }
            (false, false) => return method.map(default_format),
        },
    };
    if prefix_given && kind != FormatKind::Prefix {
        problems.add(&path.key("prefix"), "applies only to format prefix");
    }
    if template_given && kind != FormatKind::Template {
        problems.add(&path.key("template"), "applies only to format template");
    }
    match kind {
        FormatKind::Raw => Some(CredentialFormat::Raw),
        FormatKind::Prefix => match (prefix, method.map(default_format)) {
            (Some(prefix), _) => Some(CredentialFormat::Prefix(prefix)),
            (None, Some(CredentialFormat::Prefix(default))) => {
                Some(CredentialFormat::Prefix(default))
            }
            (None, _) => {
                if !prefix_given {
                    problems.add(&path.key("prefix"), "is required for format prefix");
                }
                None
            }
        },
        FormatKind::Template => {
            if !template_given {
                problems.add(
                    &path.key("template"),
                    format!("is required for format template (text containing {TEMPLATE_MARKER})"),
                );
            }
            template
                .filter(|template| template.contains(TEMPLATE_MARKER))
                .map(CredentialFormat::Template)
        }
    }
}

fn oauth2_settings(
    problems: &mut Problems,
    path: &KeyPath,
    token_url: Field<String>,
    client_id: Field<String>,
    client_secret_ref: Field<String>,
    scope: Field<String>,
) -> Option<OAuth2Settings> {
    let token_url = required_text(
        problems,
        &path.key("token_url"),
        token_url,
        "is required for method oauth2",
    )
    .and_then(|url| checked_url(problems, &path.key("token_url"), &url));
    let client_id = required_text(
        problems,
        &path.key("client_id"),
        client_id,
        "is required for method oauth2",
    );
    let secret_path = path.key("client_secret_ref");
    let client_secret = required_text(
        problems,
        &secret_path,
        client_secret_ref,
        "is required for method oauth2",
    )
    .and_then(|text| credential_ref(problems, &secret_path, &text));
    let scope = optional_text(problems, &path.key("scope"), scope);
    Some(OAuth2Settings {
        token_url: token_url?,
        client_id: client_id?,
        client_secret: client_secret?,
        scope,
    })
}

fn credential_ref(problems: &mut Problems, path: &KeyPath, text: &str) -> Option<CredentialRef> {
    CredentialRef::parse(text.trim())
        .map_err(|message| problems.add(path, message))
        .ok()
}
