use std::cell::RefCell;
use std::collections::HashMap;

use super::*;
use crate::config::env_reference;

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn settings(pairs: &[(&str, &str)]) -> Result<Settings, ConfigErrors> {
    settings_with(pairs, SettingsOverrides::default())
}

fn settings_with(
    pairs: &[(&str, &str)],
    overrides: SettingsOverrides,
) -> Result<Settings, ConfigErrors> {
    let vars = env(pairs);
    Settings::from_lookup(|name| vars.get(name).cloned(), overrides)
}

fn problems(pairs: &[(&str, &str)]) -> Vec<ConfigProblem> {
    settings(pairs).unwrap_err().0
}

fn keys(problems: &[ConfigProblem]) -> Vec<&str> {
    problems.iter().map(|p| p.key.as_str()).collect()
}

#[test]
fn defaults() {
    let s = settings(&[]).unwrap();
    assert_eq!(s.host, "127.0.0.1");
    assert_eq!(s.port, 8000);
    assert_eq!(s.public_url, "http://localhost:8000");
    assert_eq!(s.allowed_hosts, ["localhost", "127.0.0.1", "::1"]);
    assert_eq!(
        s.allowed_origins,
        [
            "http://localhost:8000",
            "http://localhost:*",
            "http://127.0.0.1:*",
            "http://[::1]:*"
        ]
    );
    assert_eq!(s.config_path, PathBuf::from("mcp_servers.yaml"));
    assert!(s.auth_enabled);
    assert_eq!(s.keycloak_url, "http://localhost:8080");
    assert_eq!(s.keycloak_realm, "mcp-gateway");
    assert_eq!(s.jwt_issuer, None);
    assert_eq!(s.jwks_url, None);
    assert_eq!(s.issuer(), "http://localhost:8080/realms/mcp-gateway");
    assert_eq!(s.jwt_audience, "mcp-gateway");
    assert!(!s.allow_insecure);
    assert_eq!(s.anonymous_roles, ["admin"]);
    assert_eq!(s.jwt_algorithms, [JwtAlgorithm::Rs256]);
    assert_eq!(s.jwt_leeway, Duration::from_secs(30));
    assert_eq!(s.database_url.expose(), "sqlite://data/gateway.db");
    assert_eq!(s.audit_log_file, PathBuf::from("audit.json"));
    assert!(s.audit_to_stdout);
    assert_eq!(s.log_level, "info");
    assert_eq!(s.log_format, LogFormat::Pretty);
    assert_eq!(s.worker_threads, default_worker_threads());
    assert_eq!(s.upstream_client, UpstreamClient::Auto);
    assert!(s.worker_threads >= 1);
    assert!(s.is_loopback_listen());
    assert_eq!(s.listen_addr(), "127.0.0.1:8000");
}

#[test]
fn every_variable_read_is_in_the_reference_table() {
    let asked = RefCell::new(Vec::new());
    let lookup = |name: &str| {
        asked.borrow_mut().push(name.to_owned());
        None
    };
    Settings::from_lookup(lookup, SettingsOverrides::default()).unwrap();
    let table: Vec<_> = env_reference().iter().map(|(name, _, _)| *name).collect();
    for name in asked.borrow().iter() {
        assert!(
            table.contains(&name.as_str()),
            "{name} is read but not in env_reference()"
        );
    }
    for name in &table {
        assert!(
            asked.borrow().iter().any(|n| n == name),
            "{name} is in the table but never read"
        );
    }
}

#[test]
fn flags_win_over_environment_which_wins_over_defaults() {
    let vars = [
        ("MCP_SERVERS_CONFIG", "from-env.yaml"),
        ("GATEWAY_HOST", "127.0.0.2"),
        ("GATEWAY_PORT", "9000"),
    ];
    let from_env = settings(&vars).unwrap();
    assert_eq!(from_env.config_path, PathBuf::from("from-env.yaml"));
    assert_eq!((from_env.host.as_str(), from_env.port), ("127.0.0.2", 9000));

    let overrides = SettingsOverrides {
        config_path: Some("from-flag.yaml".into()),
        listen: Some("127.0.0.3:9100".into()),
    };
    let from_flags = settings_with(&vars, overrides).unwrap();
    assert_eq!(from_flags.config_path, PathBuf::from("from-flag.yaml"));
    assert_eq!(
        (from_flags.host.as_str(), from_flags.port),
        ("127.0.0.3", 9100)
    );
}

#[test]
fn listen_flag_replaces_host_and_port_even_when_they_are_bad() {
    let overrides = SettingsOverrides {
        listen: Some("[::1]:8001".into()),
        ..SettingsOverrides::default()
    };
    let s = settings_with(&[("GATEWAY_PORT", "not a port")], overrides).unwrap();
    assert_eq!((s.host.as_str(), s.port), ("::1", 8001));
    assert_eq!(s.listen_addr(), "[::1]:8001");
    assert!(s.is_loopback_listen());
}

#[test]
fn bad_listen_flags() {
    for listen in [
        "8000",
        "::1:8000",
        ":8000",
        "host:",
        "host:70000",
        "a b:1",
        "[::1]8000",
    ] {
        let overrides = SettingsOverrides {
            listen: Some(listen.into()),
            ..SettingsOverrides::default()
        };
        let found = settings_with(&[], overrides).unwrap_err().0;
        assert_eq!(keys(&found), ["--listen"], "{listen}");
    }
}

#[test]
fn empty_values_count_as_unset() {
    let s = settings(&[
        ("GATEWAY_PORT", ""),
        ("JWT_ISSUER", "  "),
        ("LOG_LEVEL", ""),
    ])
    .unwrap();
    assert_eq!(s.port, 8000);
    assert_eq!(s.jwt_issuer, None);
    assert_eq!(s.log_level, "info");
}

#[test]
fn public_url_is_derived_from_the_port_and_loses_its_trailing_slash() {
    assert_eq!(
        settings(&[("GATEWAY_PORT", "9001")]).unwrap().public_url,
        "http://localhost:9001"
    );
    let s = settings(&[("GATEWAY_PUBLIC_URL", "https://gw.example.com/")]).unwrap();
    assert_eq!(s.public_url, "https://gw.example.com");
    assert_eq!(s.allowed_hosts[0], "gw.example.com");
    assert_eq!(s.allowed_origins[0], "https://gw.example.com:443");
}

#[test]
fn allowed_hosts_include_a_specific_listen_host_but_not_every_interface() {
    let s = settings(&[
        ("GATEWAY_HOST", "10.0.0.5"),
        ("GATEWAY_PUBLIC_URL", "http://[::1]:8000"),
    ])
    .unwrap();
    assert_eq!(
        s.allowed_hosts,
        ["::1", "localhost", "127.0.0.1", "10.0.0.5"]
    );
    assert_eq!(s.allowed_origins[0], "http://[::1]:8000");
    let s = settings(&[("GATEWAY_HOST", "0.0.0.0")]).unwrap();
    assert_eq!(s.allowed_hosts, ["localhost", "127.0.0.1", "::1"]);
}

#[test]
fn allowed_lists_from_the_environment_replace_the_defaults() {
    let s = settings(&[
        (
            "GATEWAY_ALLOWED_HOSTS",
            "gw.example.com, gw.example.com:8443 ,",
        ),
        (
            "GATEWAY_ALLOWED_ORIGINS",
            "https://app.example.com:443,null",
        ),
    ])
    .unwrap();
    assert_eq!(s.allowed_hosts, ["gw.example.com", "gw.example.com:8443"]);
    assert_eq!(s.allowed_origins, ["https://app.example.com:443", "null"]);
    assert_eq!(
        keys(&problems(&[("GATEWAY_ALLOWED_ORIGINS", "app.example.com")])),
        ["GATEWAY_ALLOWED_ORIGINS"]
    );
}

#[test]
fn loopback_hosts() {
    for host in [
        "127.0.0.1",
        "127.1.2.3",
        "::1",
        "localhost",
        "LOCALHOST",
        "::ffff:127.0.0.1",
    ] {
        assert!(is_loopback_host(host), "{host}");
    }
    for host in [
        "0.0.0.0",
        "::",
        "10.0.0.1",
        "example.com",
        "localhost.example.com",
        "",
    ] {
        assert!(!is_loopback_host(host), "{host}");
    }
}

#[test]
fn anonymous_roles_depend_on_the_listen_address() {
    let public = settings(&[("GATEWAY_HOST", "0.0.0.0")]).unwrap();
    assert!(public.anonymous_roles.is_empty());
    assert!(!public.is_loopback_listen());
    let chosen = settings(&[("ANONYMOUS_ROLES", "user, auditor")]).unwrap();
    assert_eq!(chosen.anonymous_roles, ["user", "auditor"]);
    let none = settings(&[("ANONYMOUS_ROLES", "")]).unwrap();
    assert!(none.anonymous_roles.is_empty());
}

#[test]
fn auth_off_is_refused_on_a_public_address_unless_insecure_is_allowed() {
    let found = problems(&[("AUTH_ENABLED", "false"), ("GATEWAY_HOST", "0.0.0.0")]);
    assert_eq!(keys(&found), ["AUTH_ENABLED"]);
    assert!(
        found[0].message.contains("ALLOW_INSECURE=true"),
        "{}",
        found[0].message
    );
    assert_eq!(found[0].file, "environment");

    let allowed = settings(&[
        ("AUTH_ENABLED", "false"),
        ("GATEWAY_HOST", "0.0.0.0"),
        ("ALLOW_INSECURE", "true"),
    ]);
    assert!(!allowed.unwrap().auth_enabled);
    let loopback = settings(&[("AUTH_ENABLED", "no")]).unwrap();
    assert!(!loopback.auth_enabled);

    let flag = SettingsOverrides {
        listen: Some("0.0.0.0:8000".into()),
        ..SettingsOverrides::default()
    };
    assert!(settings_with(&[("AUTH_ENABLED", "0")], flag).is_err());
}

#[test]
fn booleans() {
    for (text, expected) in [
        ("true", true),
        ("TRUE", true),
        ("1", true),
        ("Yes", true),
        ("false", false),
        ("0", false),
        ("NO", false),
    ] {
        assert_eq!(
            settings(&[("AUDIT_TO_STDOUT", text)])
                .unwrap()
                .audit_to_stdout,
            expected,
            "{text}"
        );
    }
    for text in ["on", "2", "truthy", "y"] {
        let found = problems(&[("AUDIT_TO_STDOUT", text)]);
        assert_eq!(keys(&found), ["AUDIT_TO_STDOUT"], "{text}");
    }
    let found = problems(&[("AUTH_ENABLED", "s3cr3t-value")]);
    assert!(!found[0].to_string().contains("s3cr3t-value"));
}

#[test]
fn jwt_algorithms() {
    let s = settings(&[("JWT_ALGORITHM", "RS256, es256,EdDSA,RS256")]).unwrap();
    assert_eq!(
        s.jwt_algorithms,
        [
            JwtAlgorithm::Rs256,
            JwtAlgorithm::Es256,
            JwtAlgorithm::EdDsa
        ]
    );
    for algorithm in JwtAlgorithm::ALL {
        assert_eq!(JwtAlgorithm::parse(algorithm.as_str()), Ok(algorithm));
    }
}

#[test]
fn hmac_and_none_stop_the_start_saying_why() {
    let found = problems(&[("JWT_ALGORITHM", "RS256,HS256")]);
    assert_eq!(keys(&found), ["JWT_ALGORITHM"]);
    assert!(
        found[0].message.contains("HS256") && found[0].message.contains("shared secret"),
        "{}",
        found[0].message
    );

    let found = problems(&[("JWT_ALGORITHM", "none")]);
    assert!(
        found[0].message.contains("unsigned"),
        "{}",
        found[0].message
    );

    let found = problems(&[("JWT_ALGORITHM", "hs512,None,XYZ")]);
    assert_eq!(found.len(), 3);
    assert!(found[2].message.contains("unknown algorithm `XYZ`"));
    assert!(found[2].message.contains("PS512"));
}

#[test]
fn an_empty_algorithm_list_is_refused() {
    assert_eq!(
        keys(&problems(&[("JWT_ALGORITHM", ", ,")])),
        ["JWT_ALGORITHM"]
    );
}

#[test]
fn numbers() {
    assert_eq!(
        settings(&[("JWT_LEEWAY_SECONDS", "0")]).unwrap().jwt_leeway,
        Duration::ZERO
    );
    assert_eq!(settings(&[("GATEWAY_PORT", "0")]).unwrap().port, 0);
    for threads in ["1", "3", " 16 ", "1024"] {
        assert_eq!(
            settings(&[("GATEWAY_WORKER_THREADS", threads)])
                .unwrap()
                .worker_threads,
            threads.trim().parse::<usize>().unwrap()
        );
    }
    for (name, bad) in [
        ("GATEWAY_WORKER_THREADS", "0"),
        ("GATEWAY_WORKER_THREADS", "1025"),
        ("GATEWAY_WORKER_THREADS", "two"),
        ("GATEWAY_PORT", "65536"),
        ("GATEWAY_PORT", "-1"),
        ("JWT_LEEWAY_SECONDS", "1.5"),
        ("JWT_LEEWAY_SECONDS", "x"),
    ] {
        assert_eq!(keys(&problems(&[(name, bad)])), [name], "{name}={bad}");
    }
}

#[test]
fn urls_are_checked_and_not_echoed() {
    for name in [
        "GATEWAY_PUBLIC_URL",
        "KEYCLOAK_URL",
        "JWT_ISSUER",
        "JWKS_URL",
    ] {
        let found = problems(&[(name, "ftp://user:hunter2@host")]);
        assert_eq!(keys(&found), [name]);
        assert!(!found[0].to_string().contains("hunter2"));
    }
    let s = settings(&[
        ("JWT_ISSUER", "http://localhost:8080/realms/mcp-gateway"),
        (
            "JWKS_URL",
            "http://keycloak:8080/realms/mcp-gateway/protocol/openid-connect/certs",
        ),
    ])
    .unwrap();
    assert_eq!(s.issuer(), "http://localhost:8080/realms/mcp-gateway");
    assert!(s.jwks_url.is_some());
}

#[test]
fn database_url_is_checked_never_shown() {
    let found = problems(&[("DATABASE_URL", "mysql://root:hunter2@db/x")]);
    assert_eq!(keys(&found), ["DATABASE_URL"]);
    assert!(!found[0].to_string().contains("hunter2"));

    let s = settings(&[(
        "DATABASE_URL",
        "postgresql://mcp_user:mcp_password@localhost:5432/mcp",
    )])
    .unwrap();
    assert!(!format!("{s:?}").contains("mcp_password"));
    assert_eq!(
        s.database_url.expose(),
        "postgresql://mcp_user:mcp_password@localhost:5432/mcp"
    );
}

#[test]
fn log_format() {
    assert_eq!(
        settings(&[("LOG_FORMAT", "JSON")]).unwrap().log_format,
        LogFormat::Json
    );
    assert_eq!(keys(&problems(&[("LOG_FORMAT", "xml")])), ["LOG_FORMAT"]);
}

#[test]
fn every_problem_at_once() {
    let found = problems(&[
        ("GATEWAY_PORT", "x"),
        ("AUTH_ENABLED", "maybe"),
        ("JWT_ALGORITHM", "HS256"),
        ("LOG_FORMAT", "xml"),
        ("DATABASE_URL", "mysql://x"),
    ]);
    assert_eq!(
        keys(&found),
        [
            "GATEWAY_PORT",
            "AUTH_ENABLED",
            "JWT_ALGORITHM",
            "DATABASE_URL",
            "LOG_FORMAT"
        ]
    );
    assert!(
        found[0]
            .to_string()
            .starts_with("environment: GATEWAY_PORT: ")
    );
}

#[test]
fn host_names_and_brackets() {
    let s = settings(&[("GATEWAY_HOST", "[::1]")]).unwrap();
    assert_eq!(s.host, "::1");
    assert_eq!(
        keys(&problems(&[("GATEWAY_HOST", "a b")])),
        ["GATEWAY_HOST"]
    );
}

#[test]
fn traces_are_on_with_an_endpoint_unless_disabled_and_grpc_is_refused() {
    let with = |vars: &[(&str, &str)]| {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(
            move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()),
            SettingsOverrides::default(),
        )
    };
    assert_eq!(with(&[]).unwrap().traces, None);
    let on = with(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318")]).unwrap();
    assert_eq!(
        on.traces,
        Some(TraceExport {
            service_name: "mcp-gateway".into()
        })
    );
    let named = with(&[
        (
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "http://collector:4318/v1/traces",
        ),
        ("OTEL_SERVICE_NAME", "edge-gateway"),
    ])
    .unwrap();
    assert_eq!(named.traces.unwrap().service_name, "edge-gateway");
    let disabled = with(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
        ("OTEL_SDK_DISABLED", "true"),
    ])
    .unwrap();
    assert_eq!(disabled.traces, None);
    let grpc = with(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]).unwrap_err();
    assert!(
        grpc.to_string().contains("OTEL_EXPORTER_OTLP_PROTOCOL"),
        "{grpc}"
    );
}
