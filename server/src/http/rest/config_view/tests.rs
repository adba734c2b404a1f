//! The `/config` view: shape, and that no secret survives.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;

use super::*;
use crate::config::{
    AuthMethod, AuthzRule, CredentialLocation, CredentialRef, DEFAULT_SERVER_TIMEOUT,
    OAuth2Settings,
};

fn http_server(name: &str, url: &str) -> ServerConfig {
    ServerConfig {
        name: name.to_owned(),
        transport: TransportConfig::Http {
            url: url.to_owned(),
        },
        timeout: DEFAULT_SERVER_TIMEOUT,
        enabled: true,
        description: Some("Production ELK".to_owned()),
        tags: vec!["logging".to_owned()],
        forward_identity: false,
        auth: None,
    }
}

fn stdio_server() -> ServerConfig {
    ServerConfig {
        name: "local".to_owned(),
        transport: TransportConfig::Stdio {
            command: "npx".to_owned(),
            args: vec![
                "-y".to_owned(),
                "server-x".to_owned(),
                "--api-key".to_owned(),
                "argsecret1".to_owned(),
            ],
            env: BTreeMap::from([
                (
                    "PLAIN".to_owned(),
                    EnvValue::Literal("literalsecret".to_owned()),
                ),
                (
                    "FROM_ENV".to_owned(),
                    EnvValue::Ref(CredentialRef::Env("GITHUB_TOKEN".to_owned())),
                ),
            ]),
        },
        timeout: Duration::from_millis(1500),
        enabled: false,
        description: None,
        tags: vec![],
        forward_identity: true,
        auth: None,
    }
}

fn oauth2_auth() -> OutboundAuth {
    OutboundAuth {
        method: AuthMethod::OAuth2,
        location: CredentialLocation::Header,
        name: "Authorization".to_owned(),
        format: CredentialFormat::Prefix("Bearer ".to_owned()),
        credential: None,
        oauth2: Some(OAuth2Settings {
            token_url: "https://idp.example.com/token?client_secret=qsecret".to_owned(),
            client_id: "gateway".to_owned(),
            client_secret: CredentialRef::File(PathBuf::from("/run/secrets/idp")),
            scope: Some("read".to_owned()),
        }),
    }
}

fn full_config() -> Config {
    let mut with_auth = http_server("elk", "https://user:pass@elk.example.com/mcp?token=qtoken");
    with_auth.auth = Some(OutboundAuth {
        method: AuthMethod::ApiKey,
        location: CredentialLocation::Query,
        name: "api_key".to_owned(),
        format: CredentialFormat::Raw,
        credential: Some(CredentialRef::Env("ELK_KEY".to_owned())),
        oauth2: None,
    });
    let mut with_oauth = http_server("idp", "http://127.0.0.1:9000/mcp");
    with_oauth.auth = Some(oauth2_auth());
    Config {
        llm: None,
        servers: vec![with_auth, with_oauth, stdio_server()],
        authorization: Some(AuthorizationConfig {
            default: Effect::Deny,
            rules: vec![AuthzRule {
                roles: vec!["user".to_owned()],
                allow: vec!["*__search_logs".to_owned()],
                deny: vec!["*__delete_*".to_owned()],
            }],
        }),
        rate_limits: Some(RateLimitsConfig {
            per_user: Some(Rate {
                requests_per_minute: 600,
                burst: 60,
            }),
            per_tool: vec![(
                "broadcast__*".to_owned(),
                Rate {
                    requests_per_minute: 30,
                    burst: 5,
                },
            )],
        }),
        limits: Limits::default(),
    }
}

#[test]
fn no_secret_survives() {
    let text = config_view(&full_config()).to_string();
    for secret in ["pass", "qtoken", "qsecret", "literalsecret", "argsecret1"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
}

#[test]
fn http_server_view() {
    let view = config_view(&full_config());
    assert_eq!(
        view["servers"]["elk"],
        json!({
            "type": "http",
            "url": "https://[REDACTED]@elk.example.com/mcp?token=[REDACTED]",
            "timeout": 30.0,
            "enabled": true,
            "description": "Production ELK",
            "tags": ["logging"],
            "forward_identity": false,
            "auth": {
                "method": "api_key",
                "location": "query",
                "name": "api_key",
                "format": "raw",
                "credential_ref": "env://ELK_KEY",
            },
        })
    );
}

#[test]
fn stdio_server_view() {
    let view = config_view(&full_config());
    assert_eq!(
        view["servers"]["local"],
        json!({
            "type": "stdio",
            "command": "npx",
            "args": ["-y", "server-x", "--api-key", "[REDACTED]"],
            "env": {"FROM_ENV": "env://GITHUB_TOKEN", "PLAIN": "[REDACTED]"},
            "timeout": 1.5,
            "enabled": false,
            "description": null,
            "tags": [],
            "forward_identity": true,
            "auth": null,
        })
    );
}

#[test]
fn oauth2_auth_view() {
    let view = config_view(&full_config());
    assert_eq!(
        view["servers"]["idp"]["auth"],
        json!({
            "method": "oauth2",
            "location": "header",
            "name": "Authorization",
            "format": "prefix",
            "prefix": "Bearer ",
            "credential_ref": null,
            "token_url": "https://idp.example.com/token?client_secret=[REDACTED]",
            "client_id": "gateway",
            "client_secret_ref": "file:///run/secrets/idp",
            "scope": "read",
        })
    );
}

#[test]
fn template_format_is_shown() {
    let mut auth = oauth2_auth();
    auth.format = CredentialFormat::Template("Token {credential}".to_owned());
    let view = auth_view(&auth);
    assert_eq!(view["format"], "template");
    assert_eq!(view["template"], "Token {credential}");
    assert!(view.get("prefix").is_none());
}

#[test]
fn policy_and_limits_views() {
    let view = config_view(&full_config());
    assert_eq!(
        view["authorization"],
        json!({"default": "deny", "rules": [
            {"roles": ["user"], "allow": ["*__search_logs"], "deny": ["*__delete_*"]}
        ]})
    );
    assert_eq!(
        view["rate_limits"],
        json!({
            "per_user": {"requests_per_minute": 600, "burst": 60},
            "per_tool": {"broadcast__*": {"requests_per_minute": 30, "burst": 5}},
        })
    );
    assert_eq!(
        view["limits"],
        json!({
            "max_request_bytes": 1_048_576,
            "max_response_bytes": 16_777_216,
            "broadcast_timeout": 30.0,
            "broadcast_concurrency": 64,
            "max_tool_name_length": 64,
        })
    );
}

#[test]
fn absent_sections_are_null() {
    let view = config_view(&Config::default());
    assert_eq!(view["servers"], json!({}));
    assert_eq!(view["authorization"], Value::Null);
    assert_eq!(view["rate_limits"], Value::Null);
    assert_eq!(view["llm"], Value::Null);
    let mut keys: Vec<_> = view
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    keys.sort();
    assert_eq!(
        keys,
        ["authorization", "limits", "llm", "rate_limits", "servers"]
    );
}

#[test]
fn secret_keys() {
    for key in [
        "password",
        "DB_PASSWORD",
        "passwd",
        "client-secret",
        "ACCESS_TOKEN",
        "api_key",
        "X-Api-Key",
        "apiKey",
        "Authorization",
        "credential_ref",
        "private_key",
        "AWS_ACCESS_KEY_ID",
        "Cookie",
        "--token",
    ] {
        assert!(is_secret_key(key), "{key}");
    }
    for key in [
        "query",
        "name",
        "url",
        "limit",
        "author",
        "-y",
        "--verbose",
        "PATH",
    ] {
        assert!(!is_secret_key(key), "{key}");
    }
}

#[test]
fn url_redaction() {
    let cases = [
        ("https://elk.example.com/mcp", "https://elk.example.com/mcp"),
        ("http://127.0.0.1:8001/mcp", "http://127.0.0.1:8001/mcp"),
        ("https://user:pass@host/mcp", "https://[REDACTED]@host/mcp"),
        ("https://user@host:8443", "https://[REDACTED]@host:8443"),
        ("https://u:p@ss@host/x", "https://[REDACTED]@host/x"),
        (
            "https://host/x?token=abc",
            "https://host/x?token=[REDACTED]",
        ),
        (
            "https://host/x?a=1&b=&c",
            "https://host/x?a=[REDACTED]&b=[REDACTED]&[REDACTED]",
        ),
        ("https://host/x?", "https://host/x?"),
        ("https://host?k=v", "https://host?k=[REDACTED]"),
        ("https://host/x#frag", "https://host/x#[REDACTED]"),
        (
            "https://host/x?k=v#f",
            "https://host/x?k=[REDACTED]#[REDACTED]",
        ),
        ("https://host/p@th", "https://host/p@th"),
        ("not a url", "[REDACTED]"),
    ];
    for (url, expected) in cases {
        assert_eq!(redact_url(url), expected, "{url}");
    }
}

#[test]
fn args_redaction() {
    let args: Vec<String> = [
        "-y",
        "@scope/server",
        "--token",
        "t0k3n",
        "--password=hunter2",
        "API_KEY=k3y",
        "--url",
        "https://u:p@host/?key=v",
        "--verbose",
        "--secret",
        "--next-flag",
        "plain",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(
        redact_args(&args),
        [
            "-y",
            "@scope/server",
            "--token",
            "[REDACTED]",
            "--password=[REDACTED]",
            "API_KEY=[REDACTED]",
            "--url",
            "https://[REDACTED]@host/?key=[REDACTED]",
            "--verbose",
            "--secret",
            "--next-flag",
            "plain",
        ]
    );
}

#[test]
fn a_url_argument_with_an_equals_sign_is_redacted_as_a_url() {
    let args = vec!["--endpoint=https://host/x?token=abc".to_owned()];
    assert_eq!(
        redact_args(&args),
        ["--endpoint=https://host/x?token=[REDACTED]"]
    );
}
