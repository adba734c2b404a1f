//! The `mcp-gateway` binary itself: `check-config`, refusing a bad config or environment at
//! start with every problem named, and serving with a good one.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::common::*;

/// The gateway binary, run in a scratch directory of its own under the target dir, so that
/// the default `audit.json` and `data/gateway.db` land there and not in the source tree.
fn gateway_command() -> Command {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("binary-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let mut command = Command::new(env!("CARGO_BIN_EXE_mcp-gateway"));
    command.current_dir(dir);
    command
}

const BAD_CONFIG: &str = "\
servers:
  good:
    type: http
    url: http://127.0.0.1:1/mcp
  prod-elk-1:
    type: http
    url: not-a-url
    timeout: -3
    colour: blue
  bad__name:
    type: stdio
    command: echo
";

#[test]
fn check_config_lists_every_problem_with_server_and_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("mcp_servers.yaml");
    std::fs::write(&path, BAD_CONFIG).expect("write");
    let output = gateway_command()
        .arg("check-config")
        .arg(&path)
        .output()
        .expect("run check-config");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for expected in ["prod-elk-1", "url", "timeout", "colour", "bad__name"] {
        assert!(
            stderr.contains(expected),
            "{expected:?} not named in:\n{stderr}"
        );
    }
    assert!(
        stderr.lines().count() >= 4,
        "one line per problem:\n{stderr}"
    );
}

#[test]
fn check_config_accepts_the_examples() {
    for example in [
        "examples/mcp_servers.yaml",
        "examples/mcp_servers_complete.yaml",
    ] {
        let output = gateway_command()
            .arg("check-config")
            .arg(workspace_root().join(example))
            .output()
            .expect("run check-config");
        assert!(
            output.status.success(),
            "{example}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(String::from_utf8_lossy(&output.stdout).contains("OK"));
    }
}

#[test]
fn a_bad_config_stops_the_start_with_exit_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, BAD_CONFIG).expect("write");
    let output = gateway_command()
        .args(["--listen", "127.0.0.1:0", "--config"])
        .arg(&path)
        .env("AUTH_ENABLED", "false")
        .output()
        .expect("run gateway");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("prod-elk-1"), "{stderr}");
}

/// Start the gateway with an empty valid config and `vars`; it must refuse to start (exit 1).
/// Returns its stderr.
fn refused_start_with(vars: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ok.yaml");
    std::fs::write(&path, "servers: {}\n").expect("write");
    let output = gateway_command()
        .args(["--listen", "127.0.0.1:0", "--config"])
        .arg(&path)
        .envs(vars.iter().copied())
        .output()
        .expect("run gateway");
    assert_eq!(output.status.code(), Some(1));
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_forbidden_jwt_algorithm_stops_the_start() {
    let stderr = refused_start_with(&[("JWT_ALGORITHM", "RS256,HS256")]);
    assert!(stderr.contains("JWT_ALGORITHM"), "{stderr}");
}

#[test]
fn a_missing_config_file_is_named() {
    let output = gateway_command()
        .args([
            "--listen",
            "127.0.0.1:0",
            "--config",
            "/nonexistent/servers.yaml",
        ])
        .env("AUTH_ENABLED", "false")
        .output()
        .expect("run gateway");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("/nonexistent/servers.yaml"), "{stderr}");
}

#[test]
fn a_bad_worker_thread_count_stops_the_start() {
    let stderr = refused_start_with(&[("AUTH_ENABLED", "false"), ("GATEWAY_WORKER_THREADS", "0")]);
    assert!(stderr.contains("GATEWAY_WORKER_THREADS"), "{stderr}");
}

/// The threads of process `pid` named as serving threads (`gateway-http-N`).
fn serving_threads(pid: u32) -> usize {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("/proc of the gateway");
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("gateway-http-"))
        .count()
}

#[tokio::test]
async fn the_binary_serves_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("mcp_servers.yaml");
    std::fs::write(
        &path,
        format!("servers:\n{}", stdio_mock_entry("beta", &[])),
    )
    .expect("write");
    let port = free_port();
    let mut child = gateway_command()
        .args(["--listen", &format!("127.0.0.1:{port}"), "--config"])
        .arg(&path)
        .env("AUTH_ENABLED", "false")
        .env("AUDIT_TO_STDOUT", "false")
        .env("LOG_FORMAT", "json")
        .env("GATEWAY_WORKER_THREADS", "3")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start gateway");
    let stderr = child.stderr.take().expect("stderr");
    let log_lines = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });
    let base = format!("http://127.0.0.1:{port}");
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        if let Ok(response) = reqwest::get(format!("{base}/health")).await {
            let health: serde_json::Value = response.json().await.expect("json");
            if health["servers"]["healthy"] == 1 {
                break;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "gateway never became healthy"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        serving_threads(child.id()),
        3,
        "GATEWAY_WORKER_THREADS sets the serving threads"
    );
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let exit = child.wait().expect("wait");
    assert!(exit.success(), "clean exit on SIGTERM, got {exit:?}");
    let lines = log_lines.join().expect("log lines");
    assert!(
        lines
            .iter()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()),
        "LOG_FORMAT=json writes JSON lines: {lines:?}"
    );
}

/// A backend credential configured as a query parameter is part of every request URL to that
/// backend; when the backend cannot be reached, the transport's errors (logged at ERROR by
/// rmcp) must not carry it.
#[test]
fn a_credential_in_a_backend_url_never_reaches_the_log() {
    const SECRET: &str = "query-secret-7f3a9c";
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("mcp_servers.yaml");
    let dead = free_port();
    std::fs::write(
        &path,
        format!(
            "servers:\n  leaky:\n    type: http\n    url: http://127.0.0.1:{dead}/mcp\n    \
             auth:\n      method: api_key\n      location: query\n      name: api_key\n      \
             credential_ref: env://LEAKY_KEY\n"
        ),
    )
    .expect("write");
    let mut child = gateway_command()
        .args([
            "--listen",
            &format!("127.0.0.1:{}", free_port()),
            "--config",
        ])
        .arg(&path)
        .env("AUTH_ENABLED", "false")
        .env("AUDIT_TO_STDOUT", "false")
        .env("LOG_LEVEL", "debug")
        .env("LEAKY_KEY", SECRET)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start gateway");
    // Read the log until the second failed connection attempt has been reported.
    let stderr = child.stderr.take().expect("stderr");
    let (lines, received) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let mut log = Vec::new();
    let mut failures = 0;
    while failures < 2 {
        let Ok(line) = received.recv_timeout(PATIENCE) else {
            break;
        };
        if line.contains("backend unavailable") && line.contains("leaky") {
            failures += 1;
        }
        log.push(line);
    }
    let _ = child.kill();
    let _ = child.wait();
    let log = log.join("\n");
    assert_eq!(
        failures, 2,
        "the backend's failures were not logged:\n{log}"
    );
    assert!(
        log.contains("rmcp"),
        "the transport's own errors were not logged:\n{log}"
    );
    assert!(
        !log.contains(SECRET),
        "the credential reached the log:\n{log}"
    );
}

/// `.env.example` lists every variable with its default, generated from the one table the
/// code reads (`config::env_reference`), then the compose section (checked in `stack.rs`).
/// Regenerate the first part with `UPDATE_ENV_EXAMPLE=1`.
#[test]
fn env_example_is_generated_from_the_settings_table() {
    const COMPOSE_SECTION: &str = "\n# --- docker compose";
    let path = workspace_root().join(".env.example");
    let expected = mcp_gateway::config::env_example();
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
    let compose = actual
        .find(COMPOSE_SECTION)
        .map(|at| &actual[at..])
        .unwrap_or_default();
    if std::env::var_os("UPDATE_ENV_EXAMPLE").is_some() {
        std::fs::write(&path, format!("{expected}{compose}")).expect("write .env.example");
        return;
    }
    assert_eq!(
        actual.strip_suffix(compose).unwrap_or(&actual),
        expected,
        ".env.example is stale: run UPDATE_ENV_EXAMPLE=1 cargo nextest run -p mcp-gateway --test it env_example"
    );
    assert!(!compose.is_empty(), ".env.example has no compose section");
}
