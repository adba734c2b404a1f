//! The official MCP Python SDK as a test peer: clients that drive the gateway, and servers
//! (`MCPServer`, `mcp-server-time`) the gateway uses as backends. Installed by `make test-deps`
//! into `.venv` at the workspace root.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

use super::workspace_root;

/// The venv's interpreter; tests fail with a clear message when it is missing.
pub fn python() -> PathBuf {
    let path = workspace_root().join(".venv/bin/python");
    assert!(
        path.exists(),
        "{} is missing: run `make test-deps` (make test does)",
        path.display()
    );
    path
}

pub fn script(name: &str) -> PathBuf {
    workspace_root().join("server/tests/python").join(name)
}

/// A Python SDK server (`backend.py`) serving `transport` on `port`; killed on drop.
pub struct PythonBackend(Child);

impl Drop for PythonBackend {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start `backend.py` as the backend `name` over `transport` (`sse`, `streamable-http`).
pub fn python_backend(name: &str, transport: &str, port: u16) -> PythonBackend {
    let child = Command::new(python())
        .arg(script("backend.py"))
        .args([
            "--name",
            name,
            "--transport",
            transport,
            "--port",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start python backend");
    PythonBackend(child)
}

/// A config entry running `backend.py` as the stdio backend `name`, with `extra` arguments.
pub fn python_stdio_entry(name: &str, extra: &[&str]) -> String {
    let mut args = vec![
        script("backend.py").display().to_string(),
        "--name".to_owned(),
        name.to_owned(),
        "--transport".to_owned(),
        "stdio".to_owned(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    format!(
        "  {name}:\n    type: stdio\n    command: {}\n    args: {}\n",
        python().display(),
        serde_json::to_string(&args).expect("args")
    )
}

/// Run `client.py` with a plan and return its JSON report.
pub async fn run_client(plan: Value) -> Value {
    let plan = plan.to_string();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python())
            .arg(script("client.py"))
            .arg(plan)
            .output()
            .expect("run python client")
    })
    .await
    .expect("join python client");
    assert!(
        output.status.success(),
        "python client failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "python client printed no JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })
}
