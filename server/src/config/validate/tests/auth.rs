//! The `auth:` block of a server.

use super::*;

// ---- outbound auth ----

fn auth_of(block: &str) -> Option<OutboundAuth> {
    ok(&with_server(&format!("{HTTP}    auth:\n{block}"))).servers[0]
        .auth
        .clone()
}

fn auth_problem(block: &str, key_suffix: &str, message_part: &str) {
    let text = with_server(&format!("{HTTP}    auth:\n{block}"));
    let (line, server, key, message) = only(&text);
    assert_eq!(key, format!("servers.s1.auth.{key_suffix}"), "{message}");
    assert_eq!(server.as_deref(), Some("s1"));
    assert!(line.is_some_and(|l| l >= 5), "{line:?}");
    assert!(
        message.contains(message_part),
        "{message:?} lacks {message_part:?}"
    );
}

#[test]
fn no_auth() {
    assert_eq!(auth_of("      method: none\n"), None);
    assert_eq!(auth_of("      method:\n"), None);
    assert_eq!(
        ok(&with_server(&format!("{HTTP}    auth: null\n"))).servers[0].auth,
        None
    );
    assert_eq!(
        ok(&with_server(&format!("{HTTP}    auth:\n"))).servers[0].auth,
        None
    );
}

#[test]
fn bearer_defaults() {
    let auth =
        auth_of("      method: bearer\n      credential_ref: env://ELK_API_TOKEN\n").unwrap();
    assert_eq!(
        auth,
        OutboundAuth {
            method: AuthMethod::Bearer,
            location: CredentialLocation::Header,
            name: "Authorization".into(),
            format: CredentialFormat::Prefix("Bearer ".into()),
            credential: Some(CredentialRef::Env("ELK_API_TOKEN".into())),
            oauth2: None,
        }
    );
}

#[test]
fn api_key_basic_and_custom_defaults() {
    let api_key = auth_of("      method: api_key\n      credential_ref: file:///run/k\n").unwrap();
    assert_eq!(
        (api_key.name.as_str(), &api_key.format),
        ("X-API-Key", &CredentialFormat::Raw)
    );
    let basic = auth_of("      method: basic\n      credential_ref: env://USER_PASS\n").unwrap();
    assert_eq!(
        (basic.name.as_str(), &basic.format),
        ("Authorization", &CredentialFormat::Prefix("Basic ".into()))
    );
    let custom =
        auth_of("      method: custom\n      name: X-Token\n      credential_ref: env://T\n")
            .unwrap();
    assert_eq!(
        (custom.location, custom.format),
        (CredentialLocation::Header, CredentialFormat::Raw)
    );
    auth_problem(
        "      method: custom\n      credential_ref: env://T\n",
        "name",
        "required for method custom",
    );
}

#[test]
fn formats() {
    let prefix =
        auth_of("      method: api_key\n      prefix: 'Token '\n      credential_ref: env://T\n")
            .unwrap();
    assert_eq!(prefix.format, CredentialFormat::Prefix("Token ".into()));
    let template = auth_of("      method: custom\n      name: X-Auth\n      template: 'CustomToken {credential}'\n      credential_ref: env://T\n").unwrap();
    assert_eq!(
        template.format,
        CredentialFormat::Template("CustomToken {credential}".into())
    );
    let raw = auth_of("      method: bearer\n      format: raw\n      credential_ref: env://T\n")
        .unwrap();
    assert_eq!(raw.format, CredentialFormat::Raw);
    let explicit =
        auth_of("      method: bearer\n      format: prefix\n      credential_ref: env://T\n")
            .unwrap();
    assert_eq!(explicit.format, CredentialFormat::Prefix("Bearer ".into()));
}

#[test]
fn format_problems() {
    auth_problem(
        "      method: custom\n      name: X\n      format: template\n      template: 'Token'\n      credential_ref: env://T\n",
        "template",
        "must contain {credential}",
    );
    auth_problem(
        "      method: custom\n      name: X\n      format: template\n      credential_ref: env://T\n",
        "template",
        "is required for format template",
    );
    auth_problem(
        "      method: api_key\n      format: prefix\n      credential_ref: env://T\n",
        "prefix",
        "is required for format prefix",
    );
    auth_problem(
        "      method: bearer\n      format: fancy\n      credential_ref: env://T\n",
        "format",
        "one of: raw, prefix, template",
    );
    auth_problem(
        "      method: bearer\n      format: raw\n      prefix: 'X '\n      credential_ref: env://T\n",
        "prefix",
        "applies only to format prefix",
    );
    auth_problem(
        "      method: bearer\n      prefix: 'X '\n      template: 'a {credential}'\n      credential_ref: env://T\n",
        "format",
        "both prefix and template",
    );
}

#[test]
fn method_location_and_name_problems() {
    auth_problem(
        "      method: kerberos\n      credential_ref: env://T\n",
        "method",
        "one of: api_key, bearer, basic, oauth2, custom, none",
    );
    auth_problem("      credential_ref: env://T\n", "method", "is required");
    auth_problem(
        "      method: bearer\n      location: cookie\n      credential_ref: env://T\n",
        "location",
        "one of: header, query, body",
    );
    auth_problem(
        "      method: api_key\n      location: query\n      credential_ref: env://T\n",
        "name",
        "is required when location is query",
    );
    auth_problem(
        "      method: api_key\n      name: 'Bad Header'\n      credential_ref: env://T\n",
        "name",
        "not a valid HTTP header name",
    );
    let query = auth_of("      method: api_key\n      location: query\n      name: api_key\n      credential_ref: env://T\n").unwrap();
    assert_eq!(
        (query.location, query.name.as_str()),
        (CredentialLocation::Query, "api_key")
    );
    let body = auth_of("      method: bearer\n      location: body\n      name: token\n      credential_ref: env://T\n").unwrap();
    assert_eq!(body.location, CredentialLocation::Body);
}

#[test]
fn credential_ref_problems() {
    auth_problem("      method: bearer\n", "credential_ref", "is required");
    auth_problem(
        "      method: bearer\n      credential_ref: env://1X\n",
        "credential_ref",
        "variable name",
    );
    auth_problem(
        "      method: bearer\n      credential_ref: file://etc/x\n",
        "credential_ref",
        "absolute path",
    );
    auth_problem(
        "      method: bearer\n      credential_ref: 123\n",
        "credential_ref",
        "found a number",
    );
    auth_problem(
        "      method: bearer\n      credential_ref: env://T\n      token_url: http://x\n",
        "token_url",
        "applies only to method oauth2",
    );
}

#[test]
fn oauth2() {
    let auth = auth_of("      method: oauth2\n      token_url: https://idp.example.com/token\n      client_id: gw\n      client_secret_ref: env://CLIENT_SECRET\n      scope: read write\n").unwrap();
    assert_eq!(auth.credential, None);
    assert_eq!(auth.format, CredentialFormat::Prefix("Bearer ".into()));
    assert_eq!(
        auth.oauth2,
        Some(OAuth2Settings {
            token_url: "https://idp.example.com/token".into(),
            client_id: "gw".into(),
            client_secret: CredentialRef::Env("CLIENT_SECRET".into()),
            scope: Some("read write".into()),
        })
    );
}

#[test]
fn oauth2_problems() {
    let text = with_server(&format!(
        "{HTTP}    auth:\n      method: oauth2\n      credential_ref: env://T\n      token_url: ftp://x\n      client_secret_ref: secret-value\n"
    ));
    let found = problems(&text);
    let keys: Vec<_> = found.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            // Missing: on the line of `auth`.
            "servers.s1.auth.client_id",
            "servers.s1.auth.credential_ref",
            "servers.s1.auth.token_url",
            "servers.s1.auth.client_secret_ref",
        ]
    );
    assert!(
        found
            .iter()
            .all(|p| !p.to_string().contains("secret-value"))
    );
}
