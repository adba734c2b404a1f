//! The full stack's files, checked without a Docker engine: the compose file (by
//! docker-compose 1.29's own validation, then its services, healthchecks, ports and the
//! gateway's issuer settings), `.env.example` against the compose variables, the Dockerfile,
//! the Prometheus config (promtool), the dashboard's metrics against a
//! running gateway, and `make test-auth`'s script against the npm issuer and a gateway binary.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::common::keycloak::KeycloakLike;
use crate::common::process::GatewayProcess;
use crate::common::*;

fn read(path: &str) -> String {
    std::fs::read_to_string(workspace_root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A tool from Debian's packages that `.ci/run` installs.
fn debian_tool(name: &str, package: &str) -> Command {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "{name} is missing: apt-get install {package} (.ci/run does)"
    );
    let mut command = Command::new(name);
    command.current_dir(workspace_root());
    command
}

/// The compose file as docker-compose resolves it (anchors merged, variables substituted with
/// their defaults), after its own schema validation.
fn resolved_compose() -> serde_yaml::Value {
    let output = debian_tool("docker-compose", "docker-compose")
        .args([
            "--project-directory",
            ".",
            "-f",
            "docker-compose.yml",
            "--profile",
        ])
        .args(["observability", "config"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .output()
        .expect("docker-compose config");
    assert!(
        output.status.success(),
        "docker-compose config refused docker-compose.yml:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_yaml::from_slice(&output.stdout).expect("resolved compose YAML")
}

#[test]
fn the_compose_file_is_valid_healthchecked_and_published_on_loopback_only() {
    let compose = resolved_compose();
    let services = compose["services"].as_mapping().expect("services");
    let names: BTreeSet<&str> = services.keys().filter_map(|k| k.as_str()).collect();
    for expected in [
        "postgres",
        "keycloak",
        "gateway",
        "prod-elk-1",
        "prod-elk-2",
        "staging-elk",
        "prod-db-primary",
        "prod-db-replica",
        "prometheus",
        "grafana",
        "jaeger",
    ] {
        assert!(names.contains(expected), "no service {expected}: {names:?}");
    }
    for (name, service) in services {
        let name = name.as_str().unwrap_or_default();
        // The one-shot image build is the only service without a healthcheck.
        if name != "gateway-image" {
            assert!(
                service["healthcheck"]["test"].is_sequence(),
                "{name} has no healthcheck"
            );
        }
        for port in service["ports"].as_sequence().into_iter().flatten() {
            let on_loopback = match port {
                serde_yaml::Value::String(text) => text.starts_with("127.0.0.1:"),
                mapping => mapping["host_ip"].as_str() == Some("127.0.0.1"),
            };
            assert!(on_loopback, "{name} publishes {port:?} beyond 127.0.0.1");
        }
    }
    for observability in ["prometheus", "grafana", "jaeger"] {
        assert_eq!(
            services[observability]["profiles"][0].as_str(),
            Some("observability"),
            "{observability} is in the observability profile"
        );
    }

    // SPEC §11, §13: the images, the credentials, and the two addresses of the issuer.
    assert!(
        services["postgres"]["image"]
            .as_str()
            .unwrap()
            .starts_with("postgres:16")
    );
    assert!(
        services["keycloak"]["image"]
            .as_str()
            .unwrap()
            .contains("keycloak:26")
    );
    let env = |service: &str, key: &str| {
        services[service]["environment"][key]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("{service}: no {key}"))
    };
    assert_eq!(env("postgres", "POSTGRES_USER"), "mcp_user");
    assert_eq!(env("postgres", "POSTGRES_PASSWORD"), "mcp_password");
    assert_eq!(env("postgres", "POSTGRES_DB"), "mcp_gateway");
    assert_eq!(env("keycloak", "KC_HOSTNAME"), "http://localhost:8080");
    assert_eq!(env("keycloak", "KC_BOOTSTRAP_ADMIN_USERNAME"), "admin");
    assert_eq!(
        env("gateway", "JWT_ISSUER"),
        "http://localhost:8080/realms/mcp-gateway"
    );
    assert_eq!(
        env("gateway", "JWKS_URL"),
        "http://keycloak:8080/realms/mcp-gateway/protocol/openid-connect/certs"
    );
    assert_eq!(env("gateway", "LOG_FORMAT"), "json");
    assert!(
        env("gateway", "DATABASE_URL").starts_with("postgres://mcp_user:mcp_password@postgres")
    );
    let command = services["keycloak"]["command"].as_sequence().unwrap();
    assert_eq!(command[0].as_str(), Some("start-dev"));
    assert_eq!(command[1].as_str(), Some("--import-realm"));
}

#[test]
fn the_mounted_files_exist_and_the_stack_config_is_valid() {
    let compose = resolved_compose();
    for (name, service) in compose["services"].as_mapping().unwrap() {
        for volume in service["volumes"].as_sequence().into_iter().flatten() {
            // Long syntax after `config`: a bind mount names its host path as `source`.
            if volume["type"].as_str() == Some("bind") {
                let source = volume["source"].as_str().unwrap();
                assert!(
                    Path::new(source).exists(),
                    "{name:?} mounts {source}, which is missing"
                );
            }
        }
    }
    let output = Command::new(env!("CARGO_BIN_EXE_mcp-gateway"))
        .arg("check-config")
        .arg(workspace_root().join("deploy/mcp_servers.yaml"))
        .output()
        .expect("check-config");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}

#[test]
fn env_example_names_every_compose_variable_with_its_default() {
    let compose = read("docker-compose.yml");
    let example = read(".env.example");
    let mut variables = 0;
    let mut rest = compose.as_str();
    while let Some(start) = rest.find("${") {
        let end = rest[start..].find('}').expect("closed ${…}") + start;
        let inner = &rest[start + 2..end];
        let escaped = rest[..start].ends_with('$'); // `$${X}`: the container's own variable
        rest = &rest[end..];
        if escaped {
            continue;
        }
        let (name, default) = inner.split_once(":-").unwrap_or((inner, ""));
        let line = format!("{name}={default}");
        assert!(
            example.lines().any(|l| l == line),
            ".env.example has no line `{line}`"
        );
        variables += 1;
    }
    assert!(variables > 10, "only {variables} compose variables found");
}

#[test]
fn the_dockerfile_names_its_stages_runs_unprivileged_and_copies_what_exists() {
    let dockerfile = read("Dockerfile");
    // One logical line per instruction (continuations joined).
    let joined = dockerfile.replace("\\\n", " ");
    let instructions: Vec<&str> = joined
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let stages: Vec<&str> = instructions
        .iter()
        .filter(|l| l.starts_with("FROM "))
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(words.get(2).copied(), Some("AS"), "unnamed stage: {l}");
            words[3]
        })
        .collect();
    assert_eq!(stages, ["deps", "build", "runtime"]);
    let last_user = instructions
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("a USER instruction");
    let user = last_user.split(':').next().unwrap();
    assert!(user != "root" && user != "0", "runs as {last_user}");
    assert!(instructions.iter().any(|l| l.starts_with("HEALTHCHECK ")));
    for copy in instructions.iter().filter_map(|l| l.strip_prefix("COPY ")) {
        if copy.starts_with("--from") {
            continue;
        }
        let words: Vec<&str> = copy.split_whitespace().collect();
        for source in &words[..words.len() - 1] {
            assert!(
                workspace_root().join(source).exists(),
                "COPY {source}: not in the repository"
            );
            assert!(
                !read(".dockerignore").lines().any(|l| l.trim() == *source),
                "COPY {source}: left out by .dockerignore"
            );
        }
    }
}

#[test]
fn the_prometheus_config_passes_promtool() {
    let output = debian_tool("promtool", "prometheus")
        .args(["check", "config", "deploy/prometheus/prometheus.yml"])
        .output()
        .expect("promtool");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Every `mcp_gateway_*` metric the dashboard's queries name.
fn dashboard_metrics() -> BTreeSet<String> {
    let dashboard: Value =
        serde_json::from_str(&read("deploy/grafana/dashboards/gateway.json")).expect("dashboard");
    let mut metrics = BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            let mut rest = expr;
            while let Some(start) = rest.find("mcp_gateway_") {
                let name: String = rest[start..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                rest = &rest[start + name.len()..];
                metrics.insert(name);
            }
        }
    }
    metrics
}

#[tokio::test]
async fn every_metric_the_dashboard_queries_exists_in_a_running_gateway() {
    let wanted = dashboard_metrics();
    assert!(wanted.len() >= 8, "{wanted:?}");
    let issuer = KeycloakLike::start();
    let alpha = MockServer::start("http", "alpha", &[]);
    let beta = MockServer::start("http", "beta", &[]);
    let yaml = format!(
        "servers:\n{}{}\
         authorization:\n  rules:\n    - roles: [user]\n      allow: [\"alpha__search_logs\", \"broadcast__search_logs\"]\n\
         rate_limits:\n  per_tool:\n    \"alpha__search_logs\": {{requests_per_minute: 1, burst: 1}}\n",
        url_entry("alpha", "http", alpha.url()),
        url_entry("beta", "http", beta.url())
    );
    let env: Vec<(&str, String)> = issuer.gateway_env();
    let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let gateway = TestGateway::start_with_env(&yaml, &pairs).await;
    gateway.wait_healthy(2).await;
    issuer.wait_trusted_by(&gateway.base).await;
    let token = issuer.password_token("testuser", "testpass").await;
    let http = reqwest::Client::new();
    let invoke = |tool: &str, bearer: &str| {
        http.post(format!("{}/tools/{tool}/invoke", gateway.base))
            .bearer_auth(bearer)
            .json(&json!({"query": "q"}))
            .send()
    };
    // A call, a broadcast, a rate-limited call, a denied call, a refused token.
    assert_eq!(
        invoke("alpha__search_logs", &token).await.unwrap().status(),
        200
    );
    assert_eq!(
        invoke("broadcast__search_logs", &token)
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        invoke("alpha__search_logs", &token).await.unwrap().status(),
        429
    );
    assert_eq!(invoke("alpha__echo", &token).await.unwrap().status(), 403);
    assert_eq!(
        invoke("alpha__search_logs", "not-a-jwt")
            .await
            .unwrap()
            .status(),
        401
    );

    let metrics = reqwest::get(format!("{}/metrics", gateway.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in &wanted {
        assert!(
            metrics
                .lines()
                .any(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} "))),
            "the dashboard queries {name}, which /metrics does not have:\n{metrics}"
        );
    }
    for (line, what) in [
        (
            "mcp_gateway_refused_calls_total{reason=\"denied\"} ",
            "the denial",
        ),
        (
            "mcp_gateway_refused_calls_total{reason=\"rate_limited\"} ",
            "the rate limit",
        ),
        (
            "mcp_gateway_auth_failures_total{reason=\"malformed\"} 1",
            "the refused token",
        ),
    ] {
        assert!(metrics.contains(line), "{what}: no `{line}` in\n{metrics}");
    }
}

/// `deploy/mcp_servers.yaml` with each server's compose URL replaced by a local mock's.
fn stack_config_on(mocks: &[(&str, MockServer)]) -> String {
    let mut yaml = read("deploy/mcp_servers.yaml");
    for (name, mock) in mocks {
        yaml = yaml.replace(&format!("http://{name}:8101/mcp"), mock.url());
    }
    assert!(
        !yaml.contains(":8101/mcp"),
        "a server left unreplaced:\n{yaml}"
    );
    yaml
}

#[tokio::test]
async fn make_test_auth_passes_against_the_npm_issuer_and_the_stack_config() {
    let issuer = KeycloakLike::start();
    let mocks: Vec<(&str, MockServer)> = [
        ("prod-elk-1", "search_logs,check_health"),
        ("prod-elk-2", "search_logs,check_health"),
        ("staging-elk", "search_logs,check_health"),
        ("prod-db-primary", "query,check_health"),
        ("prod-db-replica", "query,check_health"),
    ]
    .into_iter()
    .map(|(name, tools)| (name, MockServer::start("http", name, &["--tools", tools])))
    .collect();
    let gateway = GatewayProcess::start(&stack_config_on(&mocks), &issuer.gateway_env()).await;
    // The script needs every backend, and the issuer's keys.
    gateway.wait_healthy(5).await;
    issuer.wait_trusted_by(&gateway.base).await;

    let (code, out) = test_auth(&gateway.base, &issuer.url, "testpass").await;
    assert_eq!(code, Some(0), "{out}");
    for step in [
        "token for testuser from Keycloak",
        "no token: 401 with WWW-Authenticate",
        "whoami as admin",
        "broadcast__search_logs as testuser",
        "a tool only admin may call, as testuser: 403",
    ] {
        assert!(
            out.lines()
                .any(|l| l.starts_with(step) && l.trim_end().contains(" ok")),
            "no passing step `{step}`:\n{out}"
        );
    }
    assert!(out.contains("3 servers answered"), "{out}");
    assert!(
        out.ends_with("All authentication checks passed.\n"),
        "{out}"
    );

    // The first failure stops it, with a line that says what failed.
    let (code, out) = test_auth(&gateway.base, &issuer.url, "wrong").await;
    assert_eq!(code, Some(1), "{out}");
    let last = out.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("token for testuser from Keycloak") && last.contains("FAILED: HTTP 401"),
        "{out}"
    );
}

/// `scripts/test-auth.sh` against `gateway_url` and the issuer at `keycloak_url`, with
/// testuser's password `password`: its exit code and output.
async fn test_auth(gateway_url: &str, keycloak_url: &str, password: &str) -> (Option<i32>, String) {
    let output = tokio::process::Command::new("bash")
        .arg(workspace_root().join("scripts/test-auth.sh"))
        .env("GATEWAY_URL", gateway_url)
        .env("KEYCLOAK_URL", keycloak_url)
        .env("USER_PASSWORD", password)
        .output()
        .await
        .expect("test-auth.sh");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

#[test]
fn keycloak_setup_says_plainly_when_keycloak_is_not_there() {
    let url = format!("http://127.0.0.1:{}", free_port());
    let output = Command::new("python3")
        .arg(workspace_root().join("scripts/keycloak-setup.py"))
        .env("KEYCLOAK_URL", &url)
        .output()
        .expect("python3 keycloak-setup.py");
    assert_eq!(output.status.code(), Some(1));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.starts_with(&format!("keycloak-setup: cannot reach Keycloak at {url}")),
        "{err}"
    );
}

#[test]
fn make_without_docker_compose_says_what_to_run_instead() {
    let output = Command::new("bash")
        .arg(workspace_root().join("scripts/stack.sh"))
        .arg("up")
        .env("COMPOSE", "no-such-compose-command")
        .output()
        .expect("stack.sh");
    assert_eq!(output.status.code(), Some(1));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("needs Docker with Compose") && err.contains("'make run'"),
        "{err}"
    );
}
