//! Whole-file tests: text in, `Config` or problems out.

mod auth;
mod llm;
mod policy;

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::{
    AuthMethod, Config, ConfigProblem, CredentialFormat, CredentialLocation, CredentialRef, Effect,
    EnvValue, Limits, OAuth2Settings, OutboundAuth, Rate, TransportConfig, parse_str,
};

fn ok(text: &str) -> Config {
    parse_str(text, "mcp_servers.yaml").unwrap_or_else(|errors| panic!("{errors}"))
}

fn problems(text: &str) -> Vec<ConfigProblem> {
    match parse_str(text, "mcp_servers.yaml") {
        Ok(_) => panic!("expected problems in:\n{text}"),
        Err(errors) => errors.0,
    }
}

/// The one problem of `text`, as (line, server, key, message).
fn only(text: &str) -> (Option<usize>, Option<String>, String, String) {
    let found = problems(text);
    assert_eq!(found.len(), 1, "{found:#?}");
    let p = found.into_iter().next().unwrap();
    (p.line, p.server, p.key, p.message)
}

fn assert_problem(text: &str, line: usize, server: Option<&str>, key: &str, message_part: &str) {
    let (found_line, found_server, found_key, message) = only(text);
    assert_eq!(found_key, key, "{message}");
    assert_eq!(found_server.as_deref(), server, "{key}");
    assert_eq!(found_line, Some(line), "{key}: {message}");
    assert!(
        message.contains(message_part),
        "{key}: {message:?} lacks {message_part:?}"
    );
}

const HTTP: &str = "    type: http\n    url: https://x.example.com/mcp\n";

fn with_server(body: &str) -> String {
    format!("servers:\n  s1:\n{body}")
}

// ---- valid files and defaults ----

#[test]
fn empty_or_missing_servers_is_a_gateway_without_backends() {
    for text in ["servers:\n", "servers: {}\n", "limits: {}\n", "{}\n"] {
        let config = ok(text);
        assert!(config.servers.is_empty(), "{text}");
        assert_eq!(config.authorization, None);
        assert_eq!(config.rate_limits, None);
        assert_eq!(config.limits, Limits::default());
    }
}

#[test]
fn defaults_are_applied() {
    let config = ok(&with_server(HTTP));
    let server = &config.servers[0];
    assert_eq!(server.name, "s1");
    assert_eq!(
        server.transport,
        TransportConfig::Http {
            url: "https://x.example.com/mcp".into()
        }
    );
    assert_eq!(server.timeout, Duration::from_secs(30));
    assert!(server.enabled);
    assert_eq!(server.description, None);
    assert!(server.tags.is_empty());
    assert!(!server.forward_identity);
    assert_eq!(server.auth, None);
}

#[test]
fn every_server_setting() {
    let config = ok(&with_server(&format!(
        "{HTTP}    timeout: 2.5\n    enabled: false\n    description: ELK\n    tags: [logs, prod, logs]\n    forward_identity: true\n"
    )));
    let server = &config.servers[0];
    assert_eq!(server.timeout, Duration::from_millis(2500));
    assert!(!server.enabled);
    assert_eq!(server.description.as_deref(), Some("ELK"));
    assert_eq!(server.tags, ["logs", "prod"]);
    assert!(server.forward_identity);
}

#[test]
fn fractional_and_integer_timeouts() {
    for (text, expected) in [("0.25", 250), ("1", 1000), ("90", 90_000), ("0.001", 1)] {
        let config = ok(&with_server(&format!("{HTTP}    timeout: {text}\n")));
        assert_eq!(
            config.servers[0].timeout,
            Duration::from_millis(expected),
            "{text}"
        );
    }
}

#[test]
fn servers_are_sorted_by_name() {
    let config = ok(
        "servers:\n  zeta: {type: sse, url: 'http://z'}\n  alpha: {type: http, url: 'http://a'}\n  mid: {type: stdio, command: x}\n",
    );
    let names: Vec<_> = config.servers.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["alpha", "mid", "zeta"]);
    assert_eq!(
        config.servers[2].transport,
        TransportConfig::Sse {
            url: "http://z".into()
        }
    );
}

#[test]
fn stdio_server_with_args_and_env() {
    let config = ok(
        "servers:\n  local:\n    type: stdio\n    command: npx\n    args: [\"-y\", pkg, 8080]\n    env:\n      TOKEN: env://LOCAL_TOKEN\n      KEY_FILE: file:///run/secrets/key\n      MODE: fast\n      PORT: 9000\n",
    );
    let TransportConfig::Stdio { command, args, env } = &config.servers[0].transport else {
        panic!("stdio")
    };
    assert_eq!(command, "npx");
    assert_eq!(args, &["-y", "pkg", "8080"]);
    let expected = BTreeMap::from([
        (
            "TOKEN".to_owned(),
            EnvValue::Ref(CredentialRef::Env("LOCAL_TOKEN".into())),
        ),
        (
            "KEY_FILE".to_owned(),
            EnvValue::Ref(CredentialRef::File("/run/secrets/key".into())),
        ),
        ("MODE".to_owned(), EnvValue::Literal("fast".into())),
        ("PORT".to_owned(), EnvValue::Literal("9000".into())),
    ]);
    assert_eq!(env, &expected);
}

// ---- names ----

#[test]
fn bad_server_names() {
    for name in ["bad.name", "a__b", "'has space'", "'é'"] {
        let text = format!("servers:\n  {name}:\n{HTTP}");
        let shown = name.trim_matches('\'');
        assert_problem(
            &text,
            2,
            Some(shown),
            &format!("servers.{shown}"),
            "server name",
        );
    }
    assert_problem(
        &format!("servers:\n  broadcast:\n{HTTP}"),
        2,
        Some("broadcast"),
        "servers.broadcast",
        "reserved",
    );
}

#[test]
fn numeric_server_names_are_text() {
    let config = ok(&format!("servers:\n  42:\n{HTTP}"));
    assert_eq!(config.servers[0].name, "42");
}

// ---- unknown keys, types, applicability ----

#[test]
fn unknown_keys_at_every_level() {
    let text = "\
servers:
  s1:
    type: http
    url: http://x
    colour: blue
    auth:
      method: bearer
      credential_ref: env://T
      extra: 1
authorization:
  rules:
    - roles: [admin]
      allow: ['*']
      also: x
  mode: strict
rate_limits:
  per_user: {requests_per_minute: 1, burst: 1, window: 5}
  global: {}
limits:
  max_things: 5
top: 1
";
    let found = problems(text);
    let summary: Vec<_> = found
        .iter()
        .map(|p| (p.line, p.key.as_str(), p.message.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            (Some(5), "servers.s1.colour", "unknown key"),
            (Some(9), "servers.s1.auth.extra", "unknown key"),
            (Some(14), "authorization.rules[0].also", "unknown key"),
            (Some(15), "authorization.mode", "unknown key"),
            (Some(17), "rate_limits.per_user.window", "unknown key"),
            (Some(18), "rate_limits.global", "unknown key"),
            (Some(20), "limits.max_things", "unknown key"),
            (Some(21), "top", "unknown key"),
        ]
    );
    assert_eq!(found[0].server.as_deref(), Some("s1"));
    assert_eq!(found[2].server, None);
}

#[test]
fn wrong_types() {
    assert_problem(
        &with_server(&format!("{HTTP}    timeout: soon\n")),
        5,
        Some("s1"),
        "servers.s1.timeout",
        "must be a positive number of seconds, found a string",
    );
    assert_problem(
        &with_server(&format!("{HTTP}    enabled: yes\n")),
        5,
        Some("s1"),
        "servers.s1.enabled",
        "true or false",
    );
    assert_problem(
        &with_server(&format!("{HTTP}    tags: logs\n")),
        5,
        Some("s1"),
        "servers.s1.tags",
        "a list of tags, found a string",
    );
    assert_problem(
        &with_server(&format!("{HTTP}    tags: [a, [b]]\n")),
        5,
        Some("s1"),
        "servers.s1.tags[1]",
        "found a list",
    );
    assert_problem(
        &with_server(&format!("{HTTP}    description: [a]\n")),
        5,
        Some("s1"),
        "servers.s1.description",
        "a string",
    );
    assert_problem(
        &with_server(&format!("{HTTP}    forward_identity: 1\n")),
        5,
        Some("s1"),
        "servers.s1.forward_identity",
        "true or false",
    );
    assert_problem(
        &with_server(&format!("{HTTP}    auth: bearer\n")),
        5,
        Some("s1"),
        "servers.s1.auth",
        "a mapping",
    );
    assert_problem(
        "servers: [a, b]\n",
        1,
        None,
        "servers",
        "a mapping of servers, found a list",
    );
    assert_problem(
        "servers:\n  s1: http://x\n",
        2,
        Some("s1"),
        "servers.s1",
        "found a string",
    );
    assert_problem("servers:\n  s1:\n", 2, Some("s1"), "servers.s1", "is empty");
    assert_problem("limits: 5\n", 1, None, "limits", "a mapping");
}

#[test]
fn type_is_required_and_known() {
    assert_problem(
        "servers:\n  s1:\n    url: http://x\n",
        2,
        Some("s1"),
        "servers.s1.type",
        "is required",
    );
    assert_problem(
        "servers:\n  s1:\n    type: ftp\n    url: http://x\n",
        3,
        Some("s1"),
        "servers.s1.type",
        "one of: http, sse, stdio",
    );
}

#[test]
fn required_keys_per_type() {
    assert_problem(
        "servers:\n  s1:\n    type: http\n",
        2,
        Some("s1"),
        "servers.s1.url",
        "is required for type http",
    );
    assert_problem(
        "servers:\n  s1:\n    type: sse\n",
        2,
        Some("s1"),
        "servers.s1.url",
        "is required for type sse",
    );
    assert_problem(
        "servers:\n  s1:\n    type: stdio\n",
        2,
        Some("s1"),
        "servers.s1.command",
        "is required for type stdio",
    );
    assert_problem(
        "servers:\n  s1:\n    type: stdio\n    command: ''\n",
        4,
        Some("s1"),
        "servers.s1.command",
        "must not be empty",
    );
}

#[test]
fn keys_that_do_not_apply_to_the_type() {
    let found = problems(
        "servers:\n  s1:\n    type: http\n    url: http://x\n    command: npx\n    args: [a]\n    env: {A: b}\n",
    );
    let keys: Vec<_> = found.iter().map(|p| (p.line, p.key.as_str())).collect();
    assert_eq!(
        keys,
        [
            (Some(5), "servers.s1.command"),
            (Some(6), "servers.s1.args"),
            (Some(7), "servers.s1.env")
        ]
    );
    assert!(
        found
            .iter()
            .all(|p| p.message == "applies only to stdio servers")
    );
    assert_problem(
        "servers:\n  s1:\n    type: stdio\n    command: x\n    url: http://x\n",
        5,
        Some("s1"),
        "servers.s1.url",
        "applies only to http and sse",
    );
}

#[test]
fn urls() {
    for bad in [
        "not a url",
        "ftp://x.example.com",
        "file:///etc/passwd",
        "http://:80",
        "x.example.com/mcp",
        "mailto:a@b",
    ] {
        let text = format!("servers:\n  s1:\n    type: http\n    url: '{bad}'\n");
        let (line, _, key, message) = only(&text);
        assert_eq!((line, key.as_str()), (Some(4), "servers.s1.url"), "{bad}");
        assert!(
            message.contains("http://") && !message.contains(bad),
            "{bad}: {message}"
        );
    }
    for good in [
        "http://localhost:3000/mcp",
        "https://x.example.com",
        "http://10.0.0.1:8080/sse?x=1",
        "http://[::1]:9/",
    ] {
        ok(&format!(
            "servers:\n  s1:\n    type: http\n    url: '{good}'\n"
        ));
    }
}

#[test]
fn non_positive_numbers() {
    for bad in ["0", "-1", "-0.5", ".inf", ".nan", "1e400"] {
        assert_problem(
            &with_server(&format!("{HTTP}    timeout: {bad}\n")),
            5,
            Some("s1"),
            "servers.s1.timeout",
            "must be a positive number of seconds",
        );
    }
    for key in [
        "max_request_bytes",
        "max_response_bytes",
        "broadcast_concurrency",
        "max_tool_name_length",
    ] {
        for bad in ["0", "-5", "1.5"] {
            assert_problem(
                &format!("limits:\n  {key}: {bad}\n"),
                2,
                None,
                &format!("limits.{key}"),
                "positive whole number",
            );
        }
    }
    assert_problem(
        "limits:\n  broadcast_timeout: 0\n",
        2,
        None,
        "limits.broadcast_timeout",
        "positive number of seconds",
    );
}

#[test]
fn limits_are_read() {
    let config = ok(
        "limits:\n  max_request_bytes: 2048\n  max_response_bytes: 1e6\n  broadcast_timeout: 7.5\n  broadcast_concurrency: 4\n  max_tool_name_length: 40\n",
    );
    assert_eq!(
        config.limits,
        Limits {
            max_request_bytes: 2048,
            max_response_bytes: 1_000_000,
            broadcast_timeout: Duration::from_millis(7500),
            broadcast_concurrency: 4,
            max_tool_name_length: 40,
        }
    );
    assert_problem(
        "limits:\n  max_tool_name_length: 8\n",
        2,
        None,
        "limits.max_tool_name_length",
        "at least 16",
    );
}

// ---- env and args of stdio servers ----

#[test]
fn env_problems() {
    let text = "servers:\n  s1:\n    type: stdio\n    command: x\n    env:\n      A: env://\n      B: file://relative\n      C: [x]\n      D:\n      'E=F': v\n";
    let found = problems(text);
    let summary: Vec<_> = found.iter().map(|p| (p.line, p.key.as_str())).collect();
    assert_eq!(
        summary,
        [
            (Some(6), "servers.s1.env.A"),
            (Some(7), "servers.s1.env.B"),
            (Some(8), "servers.s1.env.C"),
            (Some(9), "servers.s1.env.D"),
            (Some(10), "servers.s1.env.E=F"),
        ]
    );
}

#[test]
fn bad_args() {
    assert_problem(
        "servers:\n  s1:\n    type: stdio\n    command: x\n    args: -y\n",
        5,
        Some("s1"),
        "servers.s1.args",
        "a list of arguments",
    );
    assert_problem(
        "servers:\n  s1:\n    type: stdio\n    command: x\n    args:\n      - a\n      - {k: v}\n",
        7,
        Some("s1"),
        "servers.s1.args[1]",
        "found a mapping",
    );
}

// ---- many problems, secrets ----

#[test]
fn every_problem_of_a_file_is_reported() {
    let text = "\
servers:
  good:
    type: http
    url: http://good
  a__b:
    type: http
    url: http://x
  no-url:
    type: sse
  bad-timeout:
    type: stdio
    command: x
    timeout: -3
  bad-auth:
    type: http
    url: http://y
    auth:
      method: bearer
      credential_ref: oops
authorization:
  default: perhaps
limits:
  broadcast_concurrency: 0
";
    let found = problems(text);
    let summary: Vec<_> = found
        .iter()
        .map(|p| (p.line, p.server.as_deref(), p.key.as_str()))
        .collect();
    assert_eq!(
        summary,
        [
            (Some(5), Some("a__b"), "servers.a__b"),
            (Some(8), Some("no-url"), "servers.no-url.url"),
            (Some(13), Some("bad-timeout"), "servers.bad-timeout.timeout"),
            (
                Some(19),
                Some("bad-auth"),
                "servers.bad-auth.auth.credential_ref"
            ),
            (Some(21), None, "authorization.default"),
            (Some(23), None, "limits.broadcast_concurrency"),
        ]
    );
    let rendered = crate::config::ConfigErrors(found).to_string();
    assert_eq!(rendered.lines().count(), 6);
    assert!(rendered.contains("mcp_servers.yaml:13: server 'bad-timeout': servers.bad-timeout.timeout: must be a positive number of seconds"));
}

#[test]
fn secrets_are_never_echoed() {
    let secret = "ghp_SeCrEt0123456789abcdef";
    let text = format!(
        "\
servers:
  s1:
    type: stdio
    command: x
    env:
      GITHUB_TOKEN: {secret}
      BAD: [{secret}]
    timeout: {secret}
    auth:
      method: {secret}
      credential_ref: {secret}
      format: {secret}
      location: {secret}
      {secret}: {secret}
  s2:
    type: {secret}
    url: 'https://user:{secret}@x.example.com/?token={secret}'
  s3:
    type: http
    url: 'ftp://user:{secret}@x'
authorization:
  default: {secret}
"
    );
    let found = problems(&text);
    assert!(found.len() >= 9, "{found:#?}");
    for problem in &found {
        assert!(!problem.message.contains(secret), "{problem}");
    }
    // The one place it shows is the key path of a key named like a secret.
    let leaked: Vec<_> = found
        .iter()
        .filter(|p| p.to_string().contains(secret))
        .collect();
    assert_eq!(leaked.len(), 1, "{leaked:#?}");
    assert!(leaked[0].message == "unknown key");
}

#[test]
fn literal_env_values_do_not_appear_in_config_debug() {
    let config = ok(
        "servers:\n  s1:\n    type: stdio\n    command: x\n    env:\n      TOKEN: sk-live-0123456789\n",
    );
    assert!(!format!("{config:?}").contains("sk-live-0123456789"));
}
