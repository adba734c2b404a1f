//! Command-line flags ([`RawArgs`]) and their validated form ([`MockConfig`]).

use std::{net::SocketAddr, time::Duration};

use clap::{Parser, ValueEnum};
use http::{HeaderName, HeaderValue};

use crate::tools::ToolName;

/// The most servers one process may run (`--count`).
const MAX_COUNT: u16 = 1000;

/// A configurable MCP server for demos, tests and benchmarks of the gateway.
///
/// Each http/sse listener prints one line `LISTENING <url>` to stdout once bound; logs go to
/// stderr.
#[derive(Debug, Parser)]
#[command(name = "mock-mcp-server", disable_version_flag = true)]
pub struct RawArgs {
    /// Server info name, and the prefix of tool outputs.
    #[arg(long, default_value = "mock")]
    pub name: String,
    /// Tags, shown in the server's instructions (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub tags: Vec<String>,
    /// Version in the server info.
    #[arg(long = "version", default_value = env!("CARGO_PKG_VERSION"))]
    pub server_version: String,
    /// How clients connect.
    #[arg(long, value_enum, default_value_t = TransportKind::Http)]
    pub transport: TransportKind,
    /// Address to listen on (http, sse). Port 0 picks a free port for each server.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Path of the streamable HTTP endpoint (http). The sse transport always serves `/sse`
    /// and `/messages`.
    #[arg(long, default_value = "/mcp")]
    pub path: String,
    /// Another path that answers every request with a redirect (307) to `--path` (http).
    #[arg(long, value_name = "PATH")]
    pub redirect_from: Option<String>,
    /// Number of independent servers, each on its own listener, named NAME-0 … NAME-{N-1}.
    #[arg(long, default_value_t = 1)]
    pub count: u16,
    /// Delay added to every tool call, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Serve only these tools (comma-separated; default: every demo tool, and every test
    /// tool with --test-tools).
    #[arg(long, value_delimiter = ',')]
    pub tools: Vec<String>,
    /// Also offer the tools tests use: fail, crash, get_env, headers, sleeps.
    #[arg(long)]
    pub test_tools: bool,
    /// Also offer a prompt (`incident_summary`) and a resource (`mock://runbook`), for demos
    /// of prompts and resources.
    #[arg(long)]
    pub prompts: bool,
    /// Streamable HTTP without sessions, answering with JSON bodies.
    #[arg(long)]
    pub stateless: bool,
    /// `Name: value` every http/sse request must carry, else 401 (repeatable).
    #[arg(long = "require-header")]
    pub require_headers: Vec<String>,
    /// `name=value` every http/sse request must carry in its query, else 401 (repeatable).
    #[arg(long = "require-query")]
    pub require_queries: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TransportKind {
    Http,
    Sse,
    Stdio,
}

/// What every http/sse request must carry.
#[derive(Debug, Clone, Default)]
pub struct Requirements {
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub query: Vec<(String, String)>,
}

impl Requirements {
    pub fn is_empty(&self) -> bool {
        self.headers.is_empty() && self.query.is_empty()
    }
}

/// Validated flags.
#[derive(Debug, Clone)]
pub struct MockConfig {
    pub name: String,
    pub tags: Vec<String>,
    pub server_version: String,
    pub transport: TransportKind,
    pub listen: SocketAddr,
    pub path: String,
    pub redirect_from: Option<String>,
    pub count: u16,
    pub latency: Duration,
    /// The tools offered.
    pub tools: Vec<ToolName>,
    pub stateless: bool,
    pub requirements: Requirements,
    /// Offer a prompt and a resource besides the tools.
    pub prompts: bool,
}

impl TryFrom<RawArgs> for MockConfig {
    type Error = Vec<String>;

    /// Checks every flag and reports every problem at once.
    fn try_from(raw: RawArgs) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        let name = raw.name.trim().to_owned();
        if name.is_empty() {
            problems.push("--name: must not be empty".to_owned());
        }
        if raw.count == 0 || raw.count > MAX_COUNT {
            problems.push(format!("--count: must be between 1 and {MAX_COUNT}"));
        }
        if raw.transport == TransportKind::Stdio && raw.count > 1 {
            problems.push("--count: stdio serves exactly one server".to_owned());
        }
        let port = raw.listen.port();
        if port != 0 && u32::from(port) + u32::from(raw.count) - 1 > u32::from(u16::MAX) {
            problems.push("--count: the consecutive ports run past 65535".to_owned());
        }
        let path = if raw.path.starts_with('/') {
            raw.path.clone()
        } else {
            format!("/{}", raw.path)
        };
        if path.contains(['{', '}', '*', '?', '#']) || path == "/" {
            problems.push("--path: must be a plain path such as /mcp".to_owned());
        }
        let redirect_from = raw.redirect_from.as_deref().map(|from| {
            if from.starts_with('/') {
                from.to_owned()
            } else {
                format!("/{from}")
            }
        });
        if let Some(from) = &redirect_from
            && (from.contains(['{', '}', '*', '?', '#']) || *from == path || from == "/")
        {
            problems.push("--redirect-from: must be a plain path other than --path".to_owned());
        }
        let tools = if raw.tools.is_empty() {
            ToolName::defaults(raw.test_tools)
        } else {
            let mut chosen = Vec::new();
            for tool in raw.tools.iter().map(|t| t.trim()).filter(|t| !t.is_empty()) {
                match ToolName::parse(tool) {
                    Some(tool) if tool.is_test_only() && !raw.test_tools => problems.push(format!(
                        "--tools: {tool:?} is a test tool: add --test-tools",
                        tool = tool.as_str()
                    )),
                    Some(tool) => chosen.push(tool),
                    None => problems.push(format!(
                        "--tools: unknown tool {tool:?} (known: {})",
                        ToolName::ALL.map(ToolName::as_str).join(", ")
                    )),
                }
            }
            chosen
        };
        let mut requirements = Requirements::default();
        for header in &raw.require_headers {
            match parse_header(header) {
                Some(pair) => requirements.headers.push(pair),
                None => problems.push(format!(
                    "--require-header: expected 'Name: value', got {header:?}"
                )),
            }
        }
        for pair in &raw.require_queries {
            match pair.split_once('=') {
                Some((name, value)) if !name.is_empty() => {
                    requirements.query.push((name.to_owned(), value.to_owned()))
                }
                _ => problems.push(format!(
                    "--require-query: expected 'name=value', got {pair:?}"
                )),
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Self {
            name,
            tags: raw
                .tags
                .iter()
                .map(|t| t.trim().to_owned())
                .filter(|t| !t.is_empty())
                .collect(),
            server_version: raw.server_version,
            transport: raw.transport,
            listen: raw.listen,
            path,
            redirect_from,
            count: raw.count,
            latency: Duration::from_millis(raw.latency_ms),
            prompts: raw.prompts,
            tools,
            stateless: raw.stateless,
            requirements,
        })
    }
}

fn parse_header(text: &str) -> Option<(HeaderName, HeaderValue)> {
    let (name, value) = text.split_once(':')?;
    let name = HeaderName::from_bytes(name.trim().as_bytes()).ok()?;
    let value = HeaderValue::from_str(value.trim()).ok()?;
    Some((name, value))
}

impl MockConfig {
    /// The name of server `index` of `count`: `NAME` alone, `NAME-<index>` among several.
    pub fn server_name(&self, index: u16) -> String {
        if self.count > 1 {
            format!("{}-{index}", self.name)
        } else {
            self.name.clone()
        }
    }

    /// The address of server `index`: consecutive ports from a fixed one, else port 0 each.
    pub fn listen_address(&self, index: u16) -> SocketAddr {
        let mut address = self.listen;
        if address.port() != 0 {
            address.set_port(address.port().saturating_add(index));
        }
        address
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<MockConfig, Vec<String>> {
        let raw =
            RawArgs::try_parse_from(std::iter::once("mock-mcp-server").chain(args.iter().copied()))
                .map_err(|e| vec![e.to_string()])?;
        MockConfig::try_from(raw)
    }

    #[test]
    fn redirect_from_is_a_plain_path_other_than_the_endpoint() {
        let config = parse(&["--redirect-from", "old"]).expect("valid");
        assert_eq!(config.redirect_from.as_deref(), Some("/old"));
        assert!(parse(&[]).expect("valid").redirect_from.is_none());
        for bad in ["/mcp", "/", "/a/{id}"] {
            let problems = parse(&["--redirect-from", bad]).expect_err(bad);
            assert!(problems[0].contains("--redirect-from"), "{problems:?}");
        }
    }

    #[test]
    fn defaults() {
        let config = parse(&[]).expect("valid");
        assert_eq!(config.name, "mock");
        assert_eq!(config.transport, TransportKind::Http);
        assert_eq!(config.path, "/mcp");
        assert_eq!(config.count, 1);
        assert_eq!(config.latency, Duration::ZERO);
        assert_eq!(
            config.tools,
            [
                ToolName::SearchLogs,
                ToolName::CheckHealth,
                ToolName::Query,
                ToolName::Echo,
                ToolName::Sleep
            ],
            "the demo tools only"
        );
        assert_eq!(
            parse(&["--test-tools"]).expect("valid").tools,
            ToolName::ALL
        );
        assert!(!config.stateless);
        assert!(config.requirements.is_empty());
        assert_eq!(config.server_name(0), "mock");
        assert_eq!(config.listen_address(0).to_string(), "127.0.0.1:0");
    }

    #[test]
    fn every_flag() {
        let config = parse(&[
            "--name",
            "elk",
            "--tags",
            "logging, prod",
            "--version",
            "9.9.9",
            "--transport",
            "sse",
            "--listen",
            "127.0.0.1:7000",
            "--count",
            "3",
            "--latency-ms",
            "25",
            "--tools",
            "echo,fail",
            "--test-tools",
            "--stateless",
            "--require-header",
            "X-Api-Key: k 1",
            "--require-header",
            "authorization:Bearer t",
            "--require-query",
            "token=a=b",
        ])
        .expect("valid");
        assert_eq!(config.tags, ["logging", "prod"]);
        assert_eq!(config.server_version, "9.9.9");
        assert_eq!(config.transport, TransportKind::Sse);
        assert_eq!(config.latency, Duration::from_millis(25));
        assert_eq!(config.tools, [ToolName::Echo, ToolName::Fail]);
        assert!(config.stateless);
        let headers = &config.requirements.headers;
        assert_eq!(headers[0].0.as_str(), "x-api-key");
        assert_eq!(headers[0].1, "k 1");
        assert_eq!(headers[1].0.as_str(), "authorization");
        assert_eq!(headers[1].1, "Bearer t");
        assert_eq!(
            config.requirements.query,
            [("token".to_owned(), "a=b".to_owned())]
        );
        assert_eq!(config.server_name(2), "elk-2");
        assert_eq!(config.listen_address(2).to_string(), "127.0.0.1:7002");
    }

    #[test]
    fn test_tools_are_offered_only_when_asked_for() {
        let problems = parse(&["--tools", "echo,crash"]).expect_err("crash without --test-tools");
        assert_eq!(
            problems,
            ["--tools: \"crash\" is a test tool: add --test-tools"]
        );
        for tool in ["fail", "crash", "get_env", "headers", "sleeps"] {
            assert!(ToolName::parse(tool).unwrap().is_test_only(), "{tool}");
        }
    }

    #[test]
    fn port_zero_stays_zero_for_every_server() {
        let config = parse(&["--count", "4"]).expect("valid");
        assert_eq!(config.listen_address(3).port(), 0);
        assert_eq!(config.server_name(0), "mock-0");
    }

    #[test]
    fn every_problem_is_reported() {
        let problems = parse(&[
            "--name",
            " ",
            "--tools",
            "echo,nope",
            "--require-header",
            "no-colon",
            "--require-query",
            "=x",
            "--path",
            "/a/{b}",
        ])
        .expect_err("invalid");
        assert_eq!(problems.len(), 5, "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("\"nope\"")));
    }

    #[test]
    fn count_limits() {
        assert!(parse(&["--count", "0"]).is_err());
        assert!(parse(&["--transport", "stdio", "--count", "2"]).is_err());
        assert!(parse(&["--listen", "127.0.0.1:65535", "--count", "2"]).is_err());
        assert!(parse(&["--listen", "127.0.0.1:65534", "--count", "2"]).is_ok());
    }

    #[test]
    fn path_gets_its_leading_slash() {
        assert_eq!(parse(&["--path", "rpc"]).expect("valid").path, "/rpc");
    }
}
