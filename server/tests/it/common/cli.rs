//! The real `mcpgw` binary, run with a config directory of its own (so that no test sees a
//! developer's login, nor another test's) and none of the caller's gateway settings.

use std::path::PathBuf;
use std::process::Stdio;

use serde_json::Value;
use tokio::io::AsyncWriteExt as _;

use super::mcpgw_bin;

/// What one run of `mcpgw` gave.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub out: String,
    pub err: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.out).unwrap_or_else(|e| panic!("{e}: {}", self.out))
    }
}

/// One user of `mcpgw` against one gateway: the user's config directory lives as long as it.
pub struct Mcpgw {
    pub url: String,
    home: tempfile::TempDir,
}

impl Mcpgw {
    pub fn new(url: &str) -> Mcpgw {
        Mcpgw {
            url: url.to_owned(),
            home: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// `~/.config/mcpgw/credentials.json` of this user.
    pub fn credentials_file(&self) -> PathBuf {
        self.home.path().join("config/mcpgw/credentials.json")
    }

    /// `mcpgw --url <url> args…`, not started yet. Async (tokio's process), so that an
    /// in-process gateway keeps serving while it runs. `BROWSER=true`: `login` "opens" the
    /// browser with `true`, and the test plays the browser.
    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(mcpgw_bin());
        command.arg("--url").arg(&self.url).args(args);
        self.environment(&mut command);
        command
    }

    /// The same, on a terminal of its own: util-linux's `script` runs it on a new pty, whose
    /// input is this command's stdin and whose output (stdout and stderr together) is this
    /// command's stdout.
    pub fn command_on_terminal(&self, args: &[&str]) -> tokio::process::Command {
        let quote = |word: &str| format!("'{}'", word.replace('\'', "'\\''"));
        let mut line = format!(
            "{} --url {}",
            quote(&mcpgw_bin().display().to_string()),
            quote(&self.url)
        );
        for arg in args {
            line.push(' ');
            line.push_str(&quote(arg));
        }
        let mut command = tokio::process::Command::new("script");
        command.args(["--quiet", "--return", "--command", &line, "/dev/null"]);
        self.environment(&mut command);
        command
    }

    fn environment(&self, command: &mut tokio::process::Command) {
        command
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.home.path().join("config"))
            .env("BROWSER", "true")
            .env_remove("MCP_GATEWAY_TOKEN")
            .env_remove("MCP_GATEWAY_URL")
            .env_remove("KEYCLOAK_URL")
            .env_remove("KEYCLOAK_REALM")
            .kill_on_drop(true);
    }

    pub async fn run(&self, args: &[&str]) -> Run {
        self.run_with_stdin(args, "").await
    }

    /// With `stdin` on its standard input (then closed).
    pub async fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Run {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run mcpgw");
        let mut input = child.stdin.take().expect("stdin");
        input
            .write_all(stdin.as_bytes())
            .await
            .expect("write stdin");
        drop(input);
        let output = child.wait_with_output().await.expect("mcpgw ends");
        Run {
            code: output.status.code().unwrap_or(-1),
            out: String::from_utf8_lossy(&output.stdout).into_owned(),
            err: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}
