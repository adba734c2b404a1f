//! Command-line flags as typed (`Raw*`) and their validated forms (the `*Plan`s the runs take).
//! Every problem with a set of flags is reported at once.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use clap::{Args, Parser, Subcommand};
use reqwest::{Url, header::HeaderValue};
use rmcp::model::JsonObject;
use serde_json::Value;

use crate::{
    anthropic_upstream::UpstreamPlan,
    calls::CallsPlan,
    fanout::FanoutPlan,
    issuer::IssuerPlan,
    llm::{LlmPlan, LlmSide},
    paired::{PairedPlan, Side},
    procfs::WatchedProcess,
    results::{ClientKind, Connections},
    session::PreparedCall,
    sessions::SessionsPlan,
};

/// Most sessions one `calls` run opens.
const MAX_CONCURRENCY: usize = 4096;

/// Load generator for the MCP gateway: the same calls through the gateway and directly
/// against a backend. Measuring subcommands print one JSON line on stdout.
#[derive(Debug, Parser)]
#[command(name = "mcp-bench", version)]
pub struct RawCli {
    /// Worker threads of the load generator (1: a single-threaded runtime).
    #[arg(long, global = true, default_value_t = 2)]
    pub threads: usize,
    #[command(subcommand)]
    pub command: RawCommand,
}

#[derive(Debug, Subcommand)]
pub enum RawCommand {
    /// Many `tools/call` at a fixed concurrency, one MCP session per concurrent worker.
    Calls(RawCallsArgs),
    /// `tools/call` on two servers in turn, one call at a time (A B, B A, …), to compare them
    /// over the same seconds. Prints one result line per server.
    Paired(RawPairedArgs),
    /// Time from `initialize` to the first `tools/list` answer, over many new sessions.
    Sessions(RawSessionsArgs),
    /// Wall time of single calls (a broadcast over many backends) on one session.
    Fanout(RawFanoutArgs),
    /// Resident memory (VmRSS) of a process now.
    Rss {
        #[arg(long)]
        pid: u32,
        /// Name of the figure in the report (`gateway_idle`).
        #[arg(long)]
        label: String,
    },
    /// How busy the machine is while the benchmark is idle: its CPUs' busy and stolen shares
    /// (`/proc/stat`) and CPU pressure (PSI `some`), over an interval.
    MachineLoad {
        /// How long to watch.
        #[arg(long, default_value_t = 2.0)]
        secs: f64,
        /// Name of the figure in the report (`before`, `after`).
        #[arg(long)]
        label: String,
    },
    /// Wait until a gateway's `/health` reports every backend healthy.
    WaitHealth {
        /// The `/health` URL.
        #[arg(long)]
        url: String,
        /// Also wait until at least this many backends are configured (default 1; 0 for a
        /// gateway without backends).
        #[arg(long)]
        expect: Option<u64>,
        /// Stop waiting as soon as this process (the gateway) has exited.
        #[arg(long)]
        pid: Option<u32>,
        #[arg(long, default_value_t = 60.0)]
        timeout_secs: f64,
        /// Then also wait until `/whoami` accepts this bearer token (auth on: the gateway has
        /// loaded the issuer's keys).
        #[arg(long)]
        bearer_token_file: Option<PathBuf>,
    },
    /// Serve an OIDC issuer's discovery document and JWKS (Keycloak's paths) on loopback and
    /// mint one long-lived RS256 token with the benchmark key. Prints `LISTENING <url>` (the
    /// gateway's KEYCLOAK_URL) and, without --token-file, `TOKEN <jwt>`; runs until stopped.
    Issuer(RawIssuerArgs),
    /// Relay TCP connections from `--listen` to `--to`, copying bytes both ways: the floor
    /// of any proxy on this machine. Prints `LISTENING http://<address>`; runs until stopped.
    Relay {
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: String,
        /// The backend's address, `HOST:PORT`.
        #[arg(long)]
        to: String,
    },
    /// An Anthropic-compatible upstream for the proxy benchmark: `POST /v1/messages` answers
    /// a streamed message (the API's event sequence, each event written as soon as it is
    /// due) or, without `"stream": true`, a JSON one. Prints `LISTENING http://<address>`;
    /// runs until stopped.
    AnthropicUpstream(RawUpstreamArgs),
    /// Streamed `POST <url>/v1/messages` requests on keep-alive connections: time to the
    /// first bytes of each answer's body and to the end of its stream, at a fixed concurrency,
    /// or interleaved one by one with a second path (`--url-b`). Prints one result line per
    /// path.
    Llm(RawLlmArgs),
    /// Print a free TCP port on 127.0.0.1.
    FreePort,
    /// Print the comparison table, with targets, from a file of result lines.
    Report {
        /// The JSON lines the measuring subcommands printed.
        file: PathBuf,
    },
}

/// Flags shared by the subcommands that talk MCP.
#[derive(Debug, Args)]
pub struct RawTarget {
    /// Streamable HTTP endpoint (`http://127.0.0.1:PORT/mcp`).
    #[arg(long)]
    pub url: String,
    /// Name of this measurement in the report (`direct`, `gateway`).
    #[arg(long, default_value = "run")]
    pub label: String,
    /// Use the minimal hand-written JSON-RPC client instead of the rmcp client.
    #[arg(long)]
    pub raw: bool,
    /// A new TCP connection per request instead of keep-alive (what rmcp's default client does).
    #[arg(long)]
    pub fresh_connections: bool,
    /// Give up on one call (or one session open) after this long.
    #[arg(long, default_value_t = 30.0)]
    pub timeout_secs: f64,
    /// Send `Authorization: Bearer <token>` on every request, the token read from this file.
    #[arg(long)]
    pub bearer_token_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RawIssuerArgs {
    /// Address to listen on (loopback).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: String,
    /// The realm: the gateway's KEYCLOAK_REALM.
    #[arg(long, default_value = "mcp-gateway")]
    pub realm: String,
    /// The token's audience: the gateway's JWT_AUDIENCE.
    #[arg(long, default_value = "mcp-gateway")]
    pub audience: String,
    /// The token's `preferred_username`.
    #[arg(long, default_value = "bench")]
    pub user: String,
    /// The token's realm roles (comma-separated).
    #[arg(long, default_value = "user", value_delimiter = ',')]
    pub roles: Vec<String>,
    /// How long the token is valid.
    #[arg(long, default_value_t = 12.0)]
    pub valid_hours: f64,
    /// Write the token to this file instead of printing it.
    #[arg(long)]
    pub token_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RawCallsArgs {
    #[command(flatten)]
    pub target: RawTarget,
    /// Tool to call (`echo` directly, `bench__echo` through the gateway).
    #[arg(long, default_value = "echo")]
    pub tool: String,
    /// Arguments of every call, a JSON object.
    #[arg(long, default_value = r#"{"message":"hello"}"#)]
    pub args: String,
    /// Concurrent workers, each with its own MCP session.
    #[arg(long, default_value_t = 1)]
    pub concurrency: usize,
    /// Calls in the measured phase [default: 5000 at concurrency 1, else 20000].
    #[arg(long)]
    pub calls: Option<usize>,
    /// Unmeasured calls per session before the measured phase.
    #[arg(long, default_value_t = 200)]
    pub warmup: usize,
    /// Stop the measured phase after this many seconds even if fewer calls were made.
    #[arg(long)]
    pub max_secs: Option<f64>,
    /// Process whose CPU time and memory are read around the measured phase (as `gateway`).
    #[arg(long)]
    pub pid: Option<u32>,
    /// More processes to read, as NAME=PID (repeatable).
    #[arg(long = "watch")]
    pub watch: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RawPairedArgs {
    /// The first server (A): `--url`, `--label`, and the client flags both sides use.
    #[command(flatten)]
    pub target: RawTarget,
    /// The second server's endpoint (B).
    #[arg(long)]
    pub url_b: String,
    /// Name of B's measurement in the report.
    #[arg(long, default_value = "run_b")]
    pub label_b: String,
    /// Tool to call on both.
    #[arg(long, default_value = "echo")]
    pub tool: String,
    /// Arguments of every call, a JSON object.
    #[arg(long, default_value = r#"{"message":"hello"}"#)]
    pub args: String,
    /// Measured calls per server.
    #[arg(long, default_value_t = 10000)]
    pub calls: usize,
    /// Unmeasured calls per server first.
    #[arg(long, default_value_t = 200)]
    pub warmup: usize,
    /// Stop the measured phase after this many seconds even if fewer calls were made.
    #[arg(long)]
    pub max_secs: Option<f64>,
    /// A's process, whose CPU time and memory are read (as `gateway`).
    #[arg(long)]
    pub pid: Option<u32>,
    /// B's process, read the same way.
    #[arg(long)]
    pub pid_b: Option<u32>,
}

#[derive(Debug, Args)]
pub struct RawSessionsArgs {
    #[command(flatten)]
    pub target: RawTarget,
    /// Sessions to open, one after the other.
    #[arg(long, default_value_t = 50)]
    pub count: usize,
    /// Unmeasured sessions first.
    #[arg(long, default_value_t = 3)]
    pub warmup: usize,
}

#[derive(Debug, Args)]
pub struct RawFanoutArgs {
    #[command(flatten)]
    pub target: RawTarget,
    /// Tool to call (`broadcast__echo`).
    #[arg(long)]
    pub tool: String,
    /// Arguments of the call, a JSON object.
    #[arg(long, default_value = "{}")]
    pub args: String,
    /// Calls to time, one after the other.
    #[arg(long, default_value_t = 1)]
    pub calls: usize,
    /// Unmeasured calls first.
    #[arg(long, default_value_t = 0)]
    pub warmup: usize,
}

#[derive(Debug, Args)]
pub struct RawUpstreamArgs {
    /// Address to listen on (loopback).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: String,
    /// `content_block_delta` events per streamed message.
    #[arg(long, default_value_t = 20)]
    pub deltas: usize,
    /// Milliseconds before each event after the first (0: each event written as soon as the
    /// previous one is out).
    #[arg(long, default_value_t = 0.0)]
    pub gap_ms: f64,
    /// Refuse (401) requests whose `x-api-key` is not the value of this environment variable.
    #[arg(long)]
    pub api_key_env: Option<String>,
}

#[derive(Debug, Args)]
pub struct RawLlmArgs {
    /// The API's base URL: the upstream (`http://127.0.0.1:PORT`) or the gateway's proxy
    /// (`http://127.0.0.1:PORT/anthropic`); requests go to `<url>/v1/messages`.
    #[arg(long)]
    pub url: String,
    /// Name of this path in the report.
    #[arg(long, default_value = "direct")]
    pub label: String,
    /// This path's own server (the gateway, a relay): its CPU per request of this path is
    /// read under the path's label.
    #[arg(long)]
    pub pid: Option<u32>,
    /// Send `x-api-key` with the value of this environment variable.
    #[arg(long)]
    pub api_key_env: Option<String>,
    /// A second path, its requests interleaved one by one with the first (concurrency 1).
    #[arg(long)]
    pub url_b: Option<String>,
    #[arg(long, default_value = "gateway")]
    pub label_b: String,
    #[arg(long)]
    pub pid_b: Option<u32>,
    #[arg(long)]
    pub api_key_env_b: Option<String>,
    /// Concurrent workers sharing the requests (one path only).
    #[arg(long, default_value_t = 1)]
    pub concurrency: usize,
    /// Measured requests per path.
    #[arg(long, default_value_t = 1000)]
    pub requests: usize,
    /// Unmeasured requests per worker (per path when interleaved) first.
    #[arg(long, default_value_t = 100)]
    pub warmup: usize,
    /// Stop the measured phase after this many seconds even if fewer requests were made.
    #[arg(long)]
    pub max_secs: Option<f64>,
    /// Give up on one request (its whole stream) after this long.
    #[arg(long, default_value_t = 30.0)]
    pub timeout_secs: f64,
    /// More processes to read, as NAME=PID (repeatable; charged per request of every path).
    #[arg(long = "watch")]
    pub watch: Vec<String>,
    /// The request's model.
    #[arg(long, default_value = "claude-bench")]
    pub model: String,
    #[arg(long, default_value_t = 256)]
    pub max_tokens: u64,
    /// The user message.
    #[arg(long, default_value = "Say hello in a few words.")]
    pub prompt: String,
}

/// The value of environment variable `name`, for `flag`: set, not empty, and usable as a
/// header value (marked sensitive, so it never shows in debug output).
fn api_key_from_env(flag: &str, name: &str, problems: &mut Vec<String>) -> Option<HeaderValue> {
    let value = match std::env::var(name) {
        Ok(value) if !value.is_empty() => value,
        _ => {
            problems.push(format!("{flag}: {name} is not set"));
            return None;
        }
    };
    match HeaderValue::from_str(&value) {
        Ok(mut value) => {
            value.set_sensitive(true);
            Some(value)
        }
        Err(_) => {
            problems.push(format!("{flag}: {name} is not usable as a header value"));
            None
        }
    }
}

impl TryFrom<RawUpstreamArgs> for UpstreamPlan {
    type Error = Vec<String>;

    fn try_from(raw: RawUpstreamArgs) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        let listen = raw
            .listen
            .parse::<SocketAddr>()
            .map_err(|_| problems.push("--listen: must be IP:PORT (127.0.0.1:0)".to_owned()))
            .ok();
        if raw.deltas > 100_000 {
            problems.push("--deltas: at most 100000".to_owned());
        }
        let gap = if raw.gap_ms == 0.0 {
            Some(Duration::ZERO)
        } else {
            check_seconds("--gap-ms", raw.gap_ms / 1000.0, &mut problems)
        };
        let api_key = raw.api_key_env.as_deref().and_then(|name| {
            api_key_from_env("--api-key-env", name, &mut problems)
                .and_then(|value| value.to_str().ok().map(str::to_owned))
        });
        match (listen, gap) {
            (Some(listen), Some(gap)) if problems.is_empty() => Ok(UpstreamPlan {
                listen,
                deltas: raw.deltas,
                gap,
                api_key,
            }),
            _ => Err(problems),
        }
    }
}

impl TryFrom<RawLlmArgs> for LlmPlan {
    type Error = Vec<String>;

    fn try_from(raw: RawLlmArgs) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        let side = |flags: [&str; 4],
                    url: &str,
                    label: &str,
                    pid: Option<u32>,
                    key_env: Option<&str>,
                    problems: &mut Vec<String>| {
            let [url_flag, label_flag, pid_flag, key_flag] = flags;
            let url = check_url(url_flag, url, problems).and_then(|base| {
                crate::llm::messages_url(&base)
                    .map_err(|problem| problems.push(format!("{url_flag}: {problem}")))
                    .ok()
            });
            let mut label_problems = Vec::new();
            check_label(label, &mut label_problems);
            problems.extend(
                label_problems
                    .into_iter()
                    .map(|problem| problem.replacen("--label", label_flag, 1)),
            );
            if pid == Some(0) {
                problems.push(format!("{pid_flag}: must be a positive number"));
            }
            let api_key = key_env.and_then(|name| api_key_from_env(key_flag, name, problems));
            Some(LlmSide {
                url: url?,
                label: label.to_owned(),
                pid,
                api_key,
            })
        };
        let a = side(
            ["--url", "--label", "--pid", "--api-key-env"],
            &raw.url,
            &raw.label,
            raw.pid,
            raw.api_key_env.as_deref(),
            &mut problems,
        );
        let b = match &raw.url_b {
            Some(url) => {
                if raw.label_b == raw.label {
                    problems.push("--label-b: must differ from --label".to_owned());
                }
                if raw.concurrency != 1 {
                    problems.push(
                        "--url-b: requests are interleaved one at a time: only with --concurrency 1"
                            .to_owned(),
                    );
                }
                side(
                    ["--url-b", "--label-b", "--pid-b", "--api-key-env-b"],
                    url,
                    &raw.label_b,
                    raw.pid_b,
                    raw.api_key_env_b.as_deref(),
                    &mut problems,
                )
                .map(Some)
            }
            None => {
                if raw.pid_b.is_some() || raw.api_key_env_b.is_some() {
                    problems.push("--pid-b and --api-key-env-b need --url-b".to_owned());
                }
                Some(None)
            }
        };
        if raw.concurrency == 0 || raw.concurrency > MAX_CONCURRENCY {
            problems.push(format!(
                "--concurrency: must be between 1 and {MAX_CONCURRENCY}"
            ));
        }
        if raw.requests == 0 {
            problems.push("--requests: must be at least 1".to_owned());
        }
        let time_cap = raw
            .max_secs
            .and_then(|seconds| check_seconds("--max-secs", seconds, &mut problems));
        let request_timeout = check_seconds("--timeout-secs", raw.timeout_secs, &mut problems);
        let mut watched: Vec<WatchedProcess> = Vec::new();
        for text in &raw.watch {
            match text.parse::<WatchedProcess>() {
                Ok(process)
                    if process.name == raw.label
                        || (raw.url_b.is_some() && process.name == raw.label_b) =>
                {
                    problems.push(format!(
                        "--watch: {} is a path's own process (--pid, --pid-b)",
                        process.name
                    ));
                }
                Ok(process) if watched.iter().any(|known| known.name == process.name) => {
                    problems.push(format!("--watch: {} is watched twice", process.name));
                }
                Ok(process) => watched.push(process),
                Err(problem) => problems.push(format!("--watch: {problem}")),
            }
        }
        if raw.model.trim().is_empty() {
            problems.push("--model: must not be empty".to_owned());
        }
        if raw.max_tokens == 0 {
            problems.push("--max-tokens: must be at least 1".to_owned());
        }
        match (a, b, request_timeout) {
            (Some(a), Some(b), Some(request_timeout)) if problems.is_empty() => Ok(LlmPlan {
                a,
                b,
                concurrency: raw.concurrency,
                requests: raw.requests,
                warmup: raw.warmup,
                request_timeout,
                time_cap,
                watched,
                body: crate::llm::request_body(raw.model.trim(), raw.max_tokens, &raw.prompt),
            }),
            _ => Err(problems),
        }
    }
}

/// The validated target of an MCP run.
struct Target {
    url: Url,
    label: String,
    client: ClientKind,
    connections: Connections,
    timeout: Duration,
    bearer: Option<HeaderValue>,
}

fn check_url(flag: &str, text: &str, problems: &mut Vec<String>) -> Option<Url> {
    match Url::parse(text) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => Some(url),
        Ok(_) => {
            problems.push(format!(
                "{flag}: must be an http:// or https:// URL with a host"
            ));
            None
        }
        Err(error) => {
            problems.push(format!("{flag}: {error}"));
            None
        }
    }
}

fn check_target(raw: &RawTarget, problems: &mut Vec<String>) -> Option<Target> {
    let url = check_url("--url", &raw.url, problems);
    check_label(&raw.label, problems);
    let timeout = check_seconds("--timeout-secs", raw.timeout_secs, problems);
    let bearer = match &raw.bearer_token_file {
        Some(path) => Some(
            read_bearer(path)
                .map_err(|problem| problems.push(problem))
                .ok()?,
        ),
        None => None,
    };
    Some(Target {
        url: url?,
        label: raw.label.clone(),
        client: if raw.raw {
            ClientKind::Raw
        } else {
            ClientKind::Rmcp
        },
        connections: if raw.fresh_connections {
            Connections::Fresh
        } else {
            Connections::KeepAlive
        },
        timeout: timeout?,
        bearer,
    })
}

/// `Bearer <token>` from a file holding the token (surrounding whitespace ignored), marked
/// sensitive so it never shows in debug output.
pub fn read_bearer(path: &Path) -> Result<HeaderValue, String> {
    let flag = "--bearer-token-file";
    let text = std::fs::read_to_string(path)
        .map_err(|error| format!("{flag}: cannot read {}: {error}", path.display()))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(format!("{flag}: {} is empty", path.display()));
    }
    if token.contains(char::is_whitespace) {
        return Err(format!(
            "{flag}: {} holds more than one token",
            path.display()
        ));
    }
    let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| format!("{flag}: {} does not hold a usable token", path.display()))?;
    value.set_sensitive(true);
    Ok(value)
}

pub fn check_label(label: &str, problems: &mut Vec<String>) {
    let valid = !label.is_empty()
        && label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if !valid {
        problems.push(format!("--label: must be [A-Za-z0-9_.-]+, got {label:?}"));
    }
}

/// A positive, finite number of seconds.
pub fn check_seconds(flag: &str, seconds: f64, problems: &mut Vec<String>) -> Option<Duration> {
    match Duration::try_from_secs_f64(seconds) {
        Ok(duration) if !duration.is_zero() => Some(duration),
        _ => {
            problems.push(format!("{flag}: must be a positive number of seconds"));
            None
        }
    }
}

fn check_tool_call(tool: &str, args: &str, problems: &mut Vec<String>) -> Option<PreparedCall> {
    if tool.trim().is_empty() {
        problems.push("--tool: must not be empty".to_owned());
    }
    let arguments = match serde_json::from_str::<Value>(args) {
        Ok(Value::Object(arguments)) => Some(arguments),
        Ok(_) => {
            problems.push("--args: must be a JSON object".to_owned());
            None
        }
        Err(error) => {
            problems.push(format!("--args: not JSON: {error}"));
            None
        }
    };
    let arguments: JsonObject = arguments?;
    if tool.trim().is_empty() {
        return None;
    }
    Some(PreparedCall::new(tool.trim(), arguments))
}

impl TryFrom<RawCallsArgs> for CallsPlan {
    type Error = Vec<String>;

    fn try_from(raw: RawCallsArgs) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        let target = check_target(&raw.target, &mut problems);
        let call = check_tool_call(&raw.tool, &raw.args, &mut problems);
        if raw.concurrency == 0 || raw.concurrency > MAX_CONCURRENCY {
            problems.push(format!(
                "--concurrency: must be between 1 and {MAX_CONCURRENCY}"
            ));
        }
        let calls = raw
            .calls
            .unwrap_or(if raw.concurrency <= 1 { 5000 } else { 20000 });
        if calls == 0 {
            problems.push("--calls: must be at least 1".to_owned());
        }
        let time_cap = raw
            .max_secs
            .and_then(|seconds| check_seconds("--max-secs", seconds, &mut problems));
        let mut watched: Vec<WatchedProcess> = raw
            .pid
            .map(|pid| WatchedProcess {
                name: "gateway".to_owned(),
                pid,
            })
            .into_iter()
            .collect();
        if raw.pid == Some(0) {
            problems.push("--pid: must be a positive number".to_owned());
        }
        for text in &raw.watch {
            match text.parse::<WatchedProcess>() {
                Ok(process) if watched.iter().any(|known| known.name == process.name) => {
                    problems.push(format!("--watch: {} is watched twice", process.name));
                }
                Ok(process) => watched.push(process),
                Err(problem) => problems.push(format!("--watch: {problem}")),
            }
        }
        match (target, call) {
            (Some(target), Some(call)) if problems.is_empty() => Ok(CallsPlan {
                url: target.url,
                label: target.label,
                call,
                client: target.client,
                connections: target.connections,
                bearer: target.bearer,
                concurrency: raw.concurrency,
                calls,
                warmup_per_session: raw.warmup,
                call_timeout: target.timeout,
                time_cap,
                watched,
            }),
            _ => Err(problems),
        }
    }
}

impl TryFrom<RawPairedArgs> for PairedPlan {
    type Error = Vec<String>;

    fn try_from(raw: RawPairedArgs) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        let target = check_target(&raw.target, &mut problems);
        let url_b = check_url("--url-b", &raw.url_b, &mut problems);
        let mut label_problems = Vec::new();
        check_label(&raw.label_b, &mut label_problems);
        problems.extend(
            label_problems
                .into_iter()
                .map(|problem| problem.replacen("--label", "--label-b", 1)),
        );
        if raw.label_b == raw.target.label {
            problems.push("--label-b: must differ from --label".to_owned());
        }
        let call = check_tool_call(&raw.tool, &raw.args, &mut problems);
        if raw.calls == 0 {
            problems.push("--calls: must be at least 1".to_owned());
        }
        let time_cap = raw
            .max_secs
            .and_then(|seconds| check_seconds("--max-secs", seconds, &mut problems));
        for (flag, pid) in [("--pid", raw.pid), ("--pid-b", raw.pid_b)] {
            if pid == Some(0) {
                problems.push(format!("{flag}: must be a positive number"));
            }
        }
        match (target, url_b, call) {
            (Some(target), Some(url_b), Some(call)) if problems.is_empty() => Ok(PairedPlan {
                a: Side {
                    url: target.url,
                    label: target.label,
                    pid: raw.pid,
                },
                b: Side {
                    url: url_b,
                    label: raw.label_b,
                    pid: raw.pid_b,
                },
                call,
                client: target.client,
                connections: target.connections,
                bearer: target.bearer,
                calls: raw.calls,
                warmup: raw.warmup,
                call_timeout: target.timeout,
                time_cap,
            }),
            _ => Err(problems),
        }
    }
}

impl TryFrom<RawSessionsArgs> for SessionsPlan {
    type Error = Vec<String>;

    fn try_from(raw: RawSessionsArgs) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        let target = check_target(&raw.target, &mut problems);
        if raw.count == 0 {
            problems.push("--count: must be at least 1".to_owned());
        }
        match target {
            Some(target) if problems.is_empty() => Ok(SessionsPlan {
                url: target.url,
                label: target.label,
                client: target.client,
                connections: target.connections,
                bearer: target.bearer,
                sessions: raw.count,
                warmup: raw.warmup,
                timeout: target.timeout,
            }),
            _ => Err(problems),
        }
    }
}

impl TryFrom<RawFanoutArgs> for FanoutPlan {
    type Error = Vec<String>;

    fn try_from(raw: RawFanoutArgs) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        let target = check_target(&raw.target, &mut problems);
        let call = check_tool_call(&raw.tool, &raw.args, &mut problems);
        if raw.calls == 0 {
            problems.push("--calls: must be at least 1".to_owned());
        }
        match (target, call) {
            (Some(target), Some(call)) if problems.is_empty() => Ok(FanoutPlan {
                url: target.url,
                label: target.label,
                call,
                client: target.client,
                connections: target.connections,
                bearer: target.bearer,
                calls: raw.calls,
                warmup: raw.warmup,
                call_timeout: target.timeout,
            }),
            _ => Err(problems),
        }
    }
}

impl TryFrom<RawIssuerArgs> for IssuerPlan {
    type Error = Vec<String>;

    fn try_from(raw: RawIssuerArgs) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        let listen = raw
            .listen
            .parse::<SocketAddr>()
            .map_err(|_| problems.push("--listen: must be IP:PORT (127.0.0.1:0)".to_owned()))
            .ok();
        let path_safe = |text: &str| {
            !text.is_empty()
                && text
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        };
        if !path_safe(&raw.realm) {
            problems.push("--realm: must be [A-Za-z0-9_.-]+".to_owned());
        }
        if raw.audience.is_empty() || raw.audience.contains(char::is_whitespace) {
            problems.push("--audience: must be one client id without spaces".to_owned());
        }
        if raw.user.trim().is_empty() {
            problems.push("--user: must not be empty".to_owned());
        }
        let roles: Vec<String> = raw
            .roles
            .iter()
            .map(|role| role.trim().to_owned())
            .filter(|role| !role.is_empty())
            .collect();
        let valid_for = check_seconds("--valid-hours", raw.valid_hours * 3600.0, &mut problems);
        match (listen, valid_for) {
            (Some(listen), Some(valid_for)) if problems.is_empty() => Ok(IssuerPlan {
                listen,
                realm: raw.realm,
                audience: raw.audience,
                user: raw.user.trim().to_owned(),
                realm_roles: roles,
                valid_for,
                token_file: raw.token_file,
            }),
            _ => Err(problems),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> RawCommand {
        RawCli::try_parse_from(std::iter::once("mcp-bench").chain(args.iter().copied()))
            .expect("flags parse")
            .command
    }

    fn calls(args: &[&str]) -> Result<CallsPlan, Vec<String>> {
        let mut full = vec!["calls"];
        full.extend_from_slice(args);
        match parse(&full) {
            RawCommand::Calls(raw) => CallsPlan::try_from(raw),
            other => panic!("not calls: {other:?}"),
        }
    }

    #[test]
    fn calls_defaults() {
        let plan = calls(&["--url", "http://127.0.0.1:9/mcp"]).expect("valid");
        assert_eq!(plan.concurrency, 1);
        assert_eq!(plan.calls, 5000);
        assert_eq!(plan.warmup_per_session, 200);
        assert_eq!(plan.client, ClientKind::Rmcp);
        assert_eq!(plan.connections, Connections::KeepAlive);
        assert_eq!(plan.call.tool, "echo");
        assert_eq!(
            plan.call.arguments.get("message"),
            Some(&Value::from("hello"))
        );
        assert_eq!(plan.call_timeout, Duration::from_secs(30));
        assert!(plan.watched.is_empty());
        assert_eq!(plan.time_cap, None);
        assert_eq!(plan.label, "run");
    }

    #[test]
    fn calls_default_count_grows_with_concurrency() {
        let plan =
            calls(&["--url", "http://127.0.0.1:9/mcp", "--concurrency", "16"]).expect("valid");
        assert_eq!(plan.calls, 20000);
        let plan = calls(&[
            "--url",
            "http://h/mcp",
            "--concurrency",
            "16",
            "--calls",
            "7",
        ])
        .expect("valid");
        assert_eq!(plan.calls, 7);
    }

    #[test]
    fn calls_every_flag() {
        let plan = calls(&[
            "--url",
            "http://127.0.0.1:9/mcp",
            "--label",
            "gateway",
            "--raw",
            "--fresh-connections",
            "--tool",
            "bench__echo",
            "--args",
            r#"{"n":1}"#,
            "--warmup",
            "5",
            "--timeout-secs",
            "0.5",
            "--max-secs",
            "20",
            "--pid",
            "12",
            "--watch",
            "backend=13",
        ])
        .expect("valid");
        assert_eq!(plan.client, ClientKind::Raw);
        assert_eq!(plan.connections, Connections::Fresh);
        assert_eq!(plan.call.tool, "bench__echo");
        assert_eq!(plan.warmup_per_session, 5);
        assert_eq!(plan.call_timeout, Duration::from_millis(500));
        assert_eq!(plan.time_cap, Some(Duration::from_secs(20)));
        let names: Vec<_> = plan
            .watched
            .iter()
            .map(|p| (p.name.as_str(), p.pid))
            .collect();
        assert_eq!(names, [("gateway", 12), ("backend", 13)]);
    }

    #[test]
    fn calls_report_every_problem() {
        let problems = calls(&[
            "--url",
            "ftp://x/",
            "--label",
            "a b",
            "--tool",
            " ",
            "--args",
            "[1]",
            "--concurrency",
            "0",
            "--calls",
            "0",
            "--timeout-secs=-1",
            "--max-secs=0",
            "--pid",
            "0",
            "--watch",
            "gateway=5",
            "--watch",
            "nope",
        ])
        .expect_err("invalid");
        assert_eq!(problems.len(), 11, "{problems:#?}");
    }

    #[test]
    fn calls_refuse_bad_json_and_urls() {
        let problems = calls(&["--url", "not a url", "--args", "{"]).expect_err("invalid");
        assert_eq!(problems.len(), 2, "{problems:#?}");
        assert!(problems[0].starts_with("--url"));
        assert!(problems[1].starts_with("--args: not JSON"));
    }

    #[test]
    fn sessions_defaults_and_problems() {
        let RawCommand::Sessions(raw) = parse(&["sessions", "--url", "http://127.0.0.1:1/mcp"])
        else {
            panic!("not sessions");
        };
        let plan = SessionsPlan::try_from(raw).expect("valid");
        assert_eq!((plan.sessions, plan.warmup), (50, 3));
        let RawCommand::Sessions(raw) = parse(&[
            "sessions",
            "--url",
            "http://127.0.0.1:1/mcp",
            "--count",
            "0",
            "--timeout-secs",
            "inf",
        ]) else {
            panic!("not sessions");
        };
        assert_eq!(SessionsPlan::try_from(raw).expect_err("invalid").len(), 2);
    }

    #[test]
    fn fanout_needs_a_tool_and_calls() {
        let RawCommand::Fanout(raw) = parse(&[
            "fanout",
            "--url",
            "http://127.0.0.1:1/mcp",
            "--tool",
            "broadcast__echo",
        ]) else {
            panic!("not fanout");
        };
        let plan = FanoutPlan::try_from(raw).expect("valid");
        assert_eq!((plan.calls, plan.warmup), (1, 0));
        assert!(plan.call.arguments.is_empty());
        let RawCommand::Fanout(raw) = parse(&[
            "fanout",
            "--url",
            "http://127.0.0.1:1/mcp",
            "--tool",
            "x",
            "--calls",
            "0",
        ]) else {
            panic!("not fanout");
        };
        assert!(FanoutPlan::try_from(raw).is_err());
    }

    fn issuer(args: &[&str]) -> Result<IssuerPlan, Vec<String>> {
        let mut full = vec!["issuer"];
        full.extend_from_slice(args);
        match parse(&full) {
            RawCommand::Issuer(raw) => IssuerPlan::try_from(raw),
            other => panic!("not issuer: {other:?}"),
        }
    }

    #[test]
    fn issuer_defaults_match_the_gateway_defaults() {
        let plan = issuer(&[]).expect("valid");
        assert_eq!(plan.listen.to_string(), "127.0.0.1:0");
        assert_eq!(plan.realm, "mcp-gateway");
        assert_eq!(plan.audience, "mcp-gateway");
        assert_eq!(plan.realm_roles, ["user"]);
        assert_eq!(plan.valid_for, Duration::from_secs(12 * 3600));
        assert_eq!(plan.token_file, None);
        let plan = issuer(&["--roles", "user, admin,", "--token-file", "/tmp/t"]).expect("valid");
        assert_eq!(plan.realm_roles, ["user", "admin"]);
        assert_eq!(plan.token_file, Some(PathBuf::from("/tmp/t")));
    }

    #[test]
    fn issuer_reports_every_problem() {
        let problems = issuer(&[
            "--listen",
            "localhost",
            "--realm",
            "a/b",
            "--audience",
            "a b",
            "--user",
            " ",
            "--valid-hours",
            "0",
        ])
        .expect_err("invalid");
        assert_eq!(problems.len(), 5, "{problems:#?}");
    }

    /// A file of the temp dir that is removed when dropped.
    struct TempFile(PathBuf);

    impl TempFile {
        fn with(name: &str, text: &str) -> TempFile {
            let path =
                std::env::temp_dir().join(format!("mcp-bench-{}-{name}", std::process::id()));
            std::fs::write(&path, text).expect("write");
            TempFile(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    #[test]
    fn bearer_token_file_is_read_trimmed_and_kept_secret() {
        let file = TempFile::with("token", "  abc.def.ghi\n");
        let value = read_bearer(&file.0).expect("token");
        assert_eq!(value, "Bearer abc.def.ghi");
        assert!(value.is_sensitive());
        let plan = calls(&[
            "--url",
            "http://127.0.0.1:9/mcp",
            "--bearer-token-file",
            file.0.to_str().expect("utf-8"),
        ])
        .expect("valid");
        assert_eq!(plan.bearer, Some(value));
        assert_eq!(
            calls(&["--url", "http://127.0.0.1:9/mcp"])
                .expect("valid")
                .bearer,
            None
        );
    }

    #[test]
    fn unusable_bearer_token_files_are_refused() {
        let empty = TempFile::with("empty", " \n");
        let two = TempFile::with("two", "a b");
        let control = TempFile::with("control", "a\u{7}b");
        for path in [
            &empty.0,
            &two.0,
            &control.0,
            &PathBuf::from("/nonexistent/t"),
        ] {
            let problem = read_bearer(path).expect_err("refused");
            assert!(problem.starts_with("--bearer-token-file"), "{problem}");
        }
        let problems = calls(&[
            "--url",
            "http://127.0.0.1:9/mcp",
            "--bearer-token-file",
            "/nonexistent/t",
        ])
        .expect_err("invalid");
        assert_eq!(problems.len(), 1, "{problems:#?}");
    }

    fn paired(args: &[&str]) -> Result<PairedPlan, Vec<String>> {
        let mut full = vec!["paired"];
        full.extend_from_slice(args);
        match parse(&full) {
            RawCommand::Paired(raw) => PairedPlan::try_from(raw),
            other => panic!("not paired: {other:?}"),
        }
    }

    #[test]
    fn paired_takes_two_servers() {
        let plan = paired(&[
            "--url",
            "http://127.0.0.1:1/mcp",
            "--label",
            "auth_off",
            "--pid",
            "3",
            "--url-b",
            "http://127.0.0.1:2/mcp",
            "--label-b",
            "auth_on",
            "--pid-b",
            "4",
            "--tool",
            "bench__echo",
            "--raw",
        ])
        .expect("valid");
        assert_eq!(
            (plan.a.label.as_str(), plan.a.pid, plan.a.url.port()),
            ("auth_off", Some(3), Some(1))
        );
        assert_eq!(
            (plan.b.label.as_str(), plan.b.pid, plan.b.url.port()),
            ("auth_on", Some(4), Some(2))
        );
        assert_eq!((plan.calls, plan.warmup), (10000, 200));
        assert_eq!(plan.client, ClientKind::Raw);
        assert_eq!(plan.call.tool, "bench__echo");
    }

    #[test]
    fn paired_reports_every_problem() {
        let problems = paired(&[
            "--url",
            "http://127.0.0.1:1/mcp",
            "--url-b",
            "ftp://x",
            "--label-b",
            "run",
            "--calls",
            "0",
            "--pid-b",
            "0",
        ])
        .expect_err("invalid");
        assert_eq!(problems.len(), 4, "{problems:#?}");
        assert!(problems[0].starts_with("--url-b"), "{problems:#?}");
        let problems = paired(&[
            "--url",
            "http://h/mcp",
            "--url-b",
            "http://h/mcp",
            "--label-b",
            "a b",
        ])
        .expect_err("invalid");
        assert_eq!(
            problems,
            ["--label-b: must be [A-Za-z0-9_.-]+, got \"a b\""]
        );
    }

    fn llm(args: &[&str]) -> Result<LlmPlan, Vec<String>> {
        let mut full = vec!["llm"];
        full.extend_from_slice(args);
        match parse(&full) {
            RawCommand::Llm(raw) => LlmPlan::try_from(raw),
            other => panic!("not llm: {other:?}"),
        }
    }

    #[test]
    fn llm_defaults_stream_one_path() {
        let plan = llm(&["--url", "http://127.0.0.1:9"]).expect("valid");
        assert_eq!(plan.a.url.as_str(), "http://127.0.0.1:9/v1/messages");
        assert_eq!(plan.a.label, "direct");
        assert!(plan.a.api_key.is_none() && plan.b.is_none());
        assert_eq!(
            (plan.concurrency, plan.requests, plan.warmup),
            (1, 1000, 100)
        );
        assert_eq!(plan.request_timeout, Duration::from_secs(30));
        let body: Value = serde_json::from_slice(&plan.body).expect("json");
        assert_eq!(body["model"], "claude-bench");
        assert_eq!(body["stream"], true);
    }

    #[test]
    fn llm_interleaves_two_paths_with_their_keys() {
        // Setting a variable needs `unsafe` (forbidden here); cargo and nextest run tests
        // with the package's name in the environment.
        let name = "CARGO_PKG_NAME";
        let plan = llm(&[
            "--url",
            "http://127.0.0.1:1",
            "--api-key-env",
            name,
            "--url-b",
            "http://127.0.0.1:2/anthropic",
            "--pid-b",
            "7",
            "--api-key-env-b",
            name,
            "--watch",
            "upstream=8",
            "--max-secs",
            "5",
        ])
        .expect("valid");
        let b = plan.b.expect("second path");
        assert_eq!(b.url.as_str(), "http://127.0.0.1:2/anthropic/v1/messages");
        assert_eq!((b.label.as_str(), b.pid), ("gateway", Some(7)));
        let key = b.api_key.expect("key");
        assert!(key.is_sensitive());
        assert_eq!(key, env!("CARGO_PKG_NAME"));
        assert_eq!(plan.watched[0].name, "upstream");
        assert_eq!(plan.time_cap, Some(Duration::from_secs(5)));
    }

    #[test]
    fn llm_reports_every_problem() {
        let problems = llm(&[
            "--url",
            "ftp://x",
            "--label",
            "a b",
            "--url-b",
            "http://h",
            "--label-b",
            "a b",
            "--concurrency",
            "2",
            "--requests",
            "0",
            "--api-key-env",
            "MCP_BENCH_NOT_SET_ANYWHERE",
            "--watch",
            "upstream=0",
            "--max-tokens",
            "0",
        ])
        .expect_err("invalid");
        assert_eq!(problems.len(), 9, "{problems:#?}");
        let problems = llm(&["--url", "http://h", "--pid-b", "3"]).expect_err("invalid");
        assert_eq!(problems, ["--pid-b and --api-key-env-b need --url-b"]);
        let problems = llm(&[
            "--url",
            "http://h",
            "--url-b",
            "http://h",
            "--watch",
            "gateway=3",
        ])
        .expect_err("invalid");
        assert_eq!(
            problems,
            ["--watch: gateway is a path's own process (--pid, --pid-b)"]
        );
    }

    #[test]
    fn upstream_flags() {
        let RawCommand::AnthropicUpstream(raw) = parse(&["anthropic-upstream"]) else {
            panic!("not anthropic-upstream");
        };
        let plan = UpstreamPlan::try_from(raw).expect("valid");
        assert_eq!(plan.listen.to_string(), "127.0.0.1:0");
        assert_eq!((plan.deltas, plan.gap), (20, Duration::ZERO));
        assert_eq!(plan.api_key, None);
        let RawCommand::AnthropicUpstream(raw) =
            parse(&["anthropic-upstream", "--deltas", "5", "--gap-ms", "2.5"])
        else {
            panic!("not anthropic-upstream");
        };
        let plan = UpstreamPlan::try_from(raw).expect("valid");
        assert_eq!(plan.gap, Duration::from_micros(2500));
        let RawCommand::AnthropicUpstream(raw) = parse(&[
            "anthropic-upstream",
            "--listen",
            "localhost",
            "--gap-ms=-1",
            "--api-key-env",
            "MCP_BENCH_NOT_SET_ANYWHERE",
        ]) else {
            panic!("not anthropic-upstream");
        };
        assert_eq!(UpstreamPlan::try_from(raw).expect_err("invalid").len(), 3);
    }

    #[test]
    fn seconds_must_be_positive_and_finite() {
        let mut problems = Vec::new();
        assert_eq!(
            check_seconds("--t", 1.5, &mut problems),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(check_seconds("--t", 0.0, &mut problems), None);
        assert_eq!(check_seconds("--t", f64::NAN, &mut problems), None);
        assert_eq!(check_seconds("--t", f64::INFINITY, &mut problems), None);
        assert_eq!(problems.len(), 3);
    }
}
