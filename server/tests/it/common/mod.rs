//! Shared test harness: real backend processes, an in-process gateway on 127.0.0.1:0, and
//! real MCP clients (rmcp here; the official Python SDK through [`python`]).

#![allow(dead_code)] // each suite uses a different part of the harness

pub mod anthropic;
pub mod cli;
pub mod keycloak;
pub mod node;
pub mod oidc;
pub mod process;
pub mod python;
pub mod raw;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mcp_gateway::config::{Settings, SettingsOverrides};
use mcp_gateway::gateway::Gateway;
use rmcp::RoleClient;
use rmcp::ServiceExt as _;
use rmcp::model::{CallToolRequestParams, CallToolResult, JsonObject};
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

/// How long a test waits for something that should happen within a second or two (a
/// backend connecting, a reload applying). Not a performance threshold: only a bound so that
/// a broken build fails instead of hanging.
pub const PATIENCE: Duration = Duration::from_secs(30);

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("server/ has a parent")
        .to_path_buf()
}

/// The directory of the test binary's sibling executables (target/debug).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    // target/debug/deps/it-<hash> -> target/debug
    exe.parent()
        .and_then(Path::parent)
        .expect("test binary lives in target/<profile>/deps")
        .to_path_buf()
}

/// The mock MCP server binary, built by `cargo build --workspace` / `make test`.
pub fn mock_bin() -> PathBuf {
    let path = target_dir().join("mock-mcp-server");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p mock-mcp-server` (make test does)",
        path.display()
    );
    path
}

/// The `mcpgw` binary, built by `cargo build --workspace` / `make test`.
pub fn mcpgw_bin() -> PathBuf {
    let path = target_dir().join("mcpgw");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p mcpgw` (make test does)",
        path.display()
    );
    path
}

/// A mock MCP server process serving HTTP or SSE; killed on drop.
pub struct MockServer {
    child: Child,
    pub urls: Vec<String>,
}

impl MockServer {
    /// Start `mock-mcp-server --transport <transport> --name <name> --test-tools <extra…>`
    /// and read the `LISTENING <url>` lines it prints.
    pub fn start(transport: &str, name: &str, extra: &[&str]) -> MockServer {
        let mut child = Command::new(mock_bin())
            .args(["--transport", transport, "--name", name, "--test-tools"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn mock-mcp-server");
        let count = extra
            .iter()
            .position(|a| *a == "--count")
            .and_then(|i| extra.get(i + 1))
            .and_then(|n| n.parse().ok())
            .unwrap_or(1usize);
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut urls = Vec::new();
        while urls.len() < count {
            let line = lines
                .next()
                .expect("mock-mcp-server exited before listening")
                .expect("read mock stdout");
            if let Some(url) = line.strip_prefix("LISTENING ") {
                urls.push(url.trim().to_owned());
            }
        }
        // Keep draining stdout so the mock never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        MockServer { child, urls }
    }

    pub fn url(&self) -> &str {
        &self.urls[0]
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A gateway over three mocks, one per backend transport: `alpha` (streamable HTTP), `gamma`
/// (SSE) and `beta` (stdio), all healthy. The HTTP and SSE mocks live as long as the array
/// returned with it (dropping one kills its process).
pub async fn gateway_over_every_transport() -> ([MockServer; 2], TestGateway) {
    let http = MockServer::start("http", "alpha", &[]);
    let sse = MockServer::start("sse", "gamma", &[]);
    let yaml = format!(
        "servers:\n{}{}{}",
        url_entry("alpha", "http", http.url()),
        url_entry("gamma", "sse", sse.url()),
        stdio_mock_entry("beta", &[])
    );
    let gateway = TestGateway::start(&yaml).await;
    gateway.wait_healthy(3).await;
    ([http, sse], gateway)
}

/// A free TCP port on 127.0.0.1 (bound then released; fine for tests on one machine).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A gateway running in this process on 127.0.0.1:<random>, with auth off.
pub struct TestGateway {
    pub base: String,
    pub gateway: Arc<Gateway>,
    pub config_path: PathBuf,
    shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

impl TestGateway {
    /// Write `yaml` to a temp config file and start a gateway on it.
    pub async fn start(yaml: &str) -> TestGateway {
        Self::start_with_env(yaml, &[]).await
    }

    pub async fn start_with_env(yaml: &str, env: &[(&str, &str)]) -> TestGateway {
        let dir = tempfile::tempdir().expect("tempdir");
        let config_path = dir.path().join("mcp_servers.yaml");
        std::fs::write(&config_path, yaml).expect("write config");
        // Audit to files of this test only: a SQLite database and a JSON-lines file in the
        // temp dir (a test may override DATABASE_URL with a Postgres one).
        let audit_file = dir.path().join("audit.json");
        let database = format!("sqlite://{}", dir.path().join("gateway.db").display());
        let mut vars: HashMap<String, String> = [
            ("AUTH_ENABLED", "false"),
            ("AUDIT_TO_STDOUT", "false"),
            ("GATEWAY_HOST", "127.0.0.1"),
            ("GATEWAY_PORT", "0"),
            (
                "AUDIT_LOG_FILE",
                audit_file.to_str().unwrap_or("audit.json"),
            ),
            ("DATABASE_URL", database.as_str()),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        // `make test` runs the suite a second time with every call through rmcp's client.
        if let Ok(client) = std::env::var("GATEWAY_UPSTREAM_CLIENT") {
            vars.insert("GATEWAY_UPSTREAM_CLIENT".to_owned(), client);
        }
        for (k, v) in env {
            vars.insert(k.to_string(), v.to_string());
        }
        let overrides = SettingsOverrides {
            config_path: Some(config_path.clone()),
            listen: None,
        };
        let settings =
            Settings::from_lookup(|k| vars.get(k).cloned(), overrides).expect("valid settings");
        let bound = mcp_gateway::app::bind(settings)
            .await
            .expect("gateway binds");
        let addr = bound.listener.local_addr().expect("local addr");
        let gateway = Arc::clone(&bound.gateway);
        let shutdown = bound.shutdown.clone();
        tokio::spawn(async move {
            let _ = mcp_gateway::app::serve(bound).await;
        });
        TestGateway {
            base: format!("http://{addr}"),
            gateway,
            config_path,
            shutdown,
            _dir: dir,
        }
    }

    /// The JSON-lines audit file of this gateway.
    pub fn audit_file(&self) -> PathBuf {
        self.gateway.audit().audit_file()
    }

    /// The audit records written so far (file sink), oldest first.
    pub fn audit_records(&self) -> Vec<Value> {
        std::fs::read_to_string(self.audit_file())
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }

    /// Wait until an audit record matching `predicate` is on file (records handed to the
    /// background writer land a moment after the answer).
    pub async fn wait_for_audit(&self, what: &str, predicate: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(record) = self.audit_records().into_iter().find(|r| predicate(r)) {
                return record;
            }
            assert!(Instant::now() < deadline, "no audit record: {what}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn mcp_url(&self) -> String {
        format!("{}/mcp", self.base)
    }

    /// `GET /health` as JSON.
    pub async fn health(&self) -> Value {
        reqwest::get(format!("{}/health", self.base))
            .await
            .expect("GET /health")
            .json()
            .await
            .expect("health JSON")
    }

    /// Wait until `/health` reports `healthy` healthy servers.
    pub async fn wait_healthy(&self, healthy: u64) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let health = self.health().await;
            if health["servers"]["healthy"] == healthy {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "gateway never reached {healthy} healthy servers: {health}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Wait until the gateway lists (or stops listing) a tool.
    pub async fn wait_for_tool(&self, name: &str, present: bool) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let listed = self.gateway.catalog().listed().any(|t| t.name == name);
            if listed == present {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "tool {name} never became {}",
                if present { "listed" } else { "unlisted" }
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Rewrite the config file (the gateway reloads on change).
    pub fn rewrite_config(&self, yaml: &str) {
        // Write then rename, as editors and config management do.
        let tmp = self.config_path.with_extension("yaml.tmp");
        std::fs::write(&tmp, yaml).expect("write config");
        std::fs::rename(&tmp, &self.config_path).expect("replace config");
    }
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        self.shutdown.cancel();
        self.gateway.shut_down();
    }
}

pub type McpClient = RunningService<RoleClient, ()>;

/// An rmcp streamable HTTP client session to `url`.
pub async fn rmcp_client(url: &str) -> McpClient {
    let transport = StreamableHttpClientTransport::from_uri(url.to_owned());
    ().serve(transport)
        .await
        .expect("MCP handshake with the gateway")
}

/// Call a tool with JSON arguments.
pub async fn call<H: rmcp::ClientHandler>(
    client: &RunningService<RoleClient, H>,
    tool: &str,
    arguments: Value,
) -> Result<CallToolResult, rmcp::ServiceError> {
    let mut params = CallToolRequestParams::new(tool.to_owned());
    if let Value::Object(map) = arguments {
        params = params.with_arguments(map as JsonObject);
    }
    client.peer().call_tool(params).await
}

/// The text items of a result, joined.
pub fn text_of(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A YAML server entry for a mock over stdio.
pub fn stdio_mock_entry(name: &str, extra_args: &[&str]) -> String {
    let mut args = vec![
        "--transport".to_owned(),
        "stdio".to_owned(),
        "--name".to_owned(),
        name.to_owned(),
        "--test-tools".to_owned(),
    ];
    args.extend(extra_args.iter().map(|s| s.to_string()));
    format!(
        "  {name}:\n    type: stdio\n    command: {}\n    args: {}\n",
        mock_bin().display(),
        serde_json::to_string(&args).expect("args JSON")
    )
}

/// A YAML server entry for a backend reached over `type` (`http` or `sse`) at `url`.
pub fn url_entry(name: &str, kind: &str, url: &str) -> String {
    format!("  {name}:\n    type: {kind}\n    url: {url}\n")
}
