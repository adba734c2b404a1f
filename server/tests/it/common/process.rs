//! The `mcp-gateway` binary as a child process on 127.0.0.1:<free port>, in a scratch
//! directory of its own (config, audit file, SQLite database); killed on drop. For suites
//! that drive other binaries against the real gateway binary.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{PATIENCE, free_port};

pub struct GatewayProcess {
    child: Child,
    /// `http://127.0.0.1:<port>`
    pub base: String,
    dir: tempfile::TempDir,
}

impl GatewayProcess {
    /// Start on `yaml` with `env` (over test defaults: auth off, audit to a file of its own),
    /// and wait until `/health` answers.
    pub async fn start(yaml: &str, env: &[(&str, String)]) -> GatewayProcess {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("mcp_servers.yaml");
        std::fs::write(&config, yaml).expect("write config");
        let port = free_port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_mcp-gateway"));
        command
            .current_dir(dir.path())
            .args(["--listen", &format!("127.0.0.1:{port}"), "--config"])
            .arg(&config)
            .env("AUTH_ENABLED", "false")
            .env("AUDIT_TO_STDOUT", "false")
            .env("AUDIT_LOG_FILE", dir.path().join("audit.json"))
            .env(
                "DATABASE_URL",
                format!("sqlite://{}", dir.path().join("gateway.db").display()),
            )
            // Where clients reach it (the default would say `localhost`).
            .env("GATEWAY_PUBLIC_URL", format!("http://127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.path().join("gateway.log")).expect("log file"),
            ));
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command.spawn().expect("start mcp-gateway");
        let gateway = GatewayProcess {
            child,
            base: format!("http://127.0.0.1:{port}"),
            dir,
        };
        let deadline = Instant::now() + PATIENCE;
        while reqwest::get(format!("{}/health", gateway.base))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "the gateway never answered");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        gateway
    }

    /// Wait until `healthy` backends are connected (they connect in the background).
    pub async fn wait_healthy(&self, healthy: u64) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let health: Value = reqwest::get(format!("{}/health", self.base))
                .await
                .expect("health")
                .json()
                .await
                .expect("health JSON");
            if health["servers"]["healthy"] == healthy {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "never {healthy} healthy: {health}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// What the gateway logged so far (its standard error).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("gateway.log")).unwrap_or_default()
    }

    /// The SQLite audit database (`DATABASE_URL`).
    pub fn database_path(&self) -> std::path::PathBuf {
        self.dir.path().join("gateway.db")
    }

    /// The JSON-lines audit file.
    pub fn audit_file(&self) -> std::path::PathBuf {
        self.dir.path().join("audit.json")
    }

    /// The audit records written so far, oldest first.
    pub fn audit_records(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join("audit.json"))
            .unwrap_or_default()
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }
}

impl Drop for GatewayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
