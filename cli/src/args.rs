//! The command line of `mcpgw` (SPEC §10), as clap types.

use std::convert::Infallible;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use mcp_gateway::config::Secret;

#[derive(Debug, Parser)]
#[command(
    name = "mcpgw",
    version,
    about = "Command-line client of the Secure MCP Gateway",
    propagate_version = true
)]
pub struct Cli {
    /// Gateway URL
    #[arg(
        long,
        global = true,
        env = "MCP_GATEWAY_URL",
        default_value = "http://localhost:8000"
    )]
    pub url: String,

    /// Bearer token (otherwise the one stored by `mcpgw login`)
    #[arg(
        long,
        global = true,
        env = "MCP_GATEWAY_TOKEN",
        hide_env_values = true,
        value_parser = parse_secret
    )]
    pub token: Option<Secret>,

    /// Output format [default: table on a terminal, json otherwise]
    #[arg(long, global = true, value_enum)]
    pub output: Option<OutputFormat>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Log in to the gateway's issuer (client mcp-cli) and keep the tokens for this gateway
    ///
    /// On a terminal without --username: in the browser (authorization code + PKCE on a
    /// loopback redirect). With --username: the password grant, the password from a hidden
    /// prompt or, with --password-stdin, from stdin.
    Login {
        /// Sign in in the browser (the default on a terminal without --username)
        #[arg(long, conflicts_with_all = ["username", "password_stdin"])]
        browser: bool,
        /// Log in as this user with the password grant
        #[arg(long)]
        username: Option<String>,
        /// Read the password from stdin instead of prompting
        #[arg(long, requires = "username")]
        password_stdin: bool,
        /// Issuer URL [default: KEYCLOAK_URL/realms/KEYCLOAK_REALM when KEYCLOAK_URL is set,
        /// else the one the gateway's protected resource metadata names]
        #[arg(long)]
        issuer: Option<String>,
    },
    /// Forget the tokens kept for this gateway (and revoke the refresh token)
    Logout,
    /// Print a valid access token and a newline (refreshed when needed), for scripts
    Token,
    /// Check what an MCP client will meet at this gateway, one line per check
    Doctor,
    /// Show who the gateway thinks you are
    Whoami,
    /// Show the gateway's health
    Health,
    /// Backend servers
    #[command(subcommand)]
    Servers(ServersCommand),
    /// Tools you may call
    #[command(subcommand)]
    Tools(ToolsCommand),
    /// Call TOOL on SERVER
    Invoke {
        server: String,
        tool: String,
        #[command(flatten)]
        arguments: ToolArguments,
    },
    /// Call a tool by its exposed name (`server__tool`, `broadcast__tool`)
    Call {
        exposed_tool_name: String,
        #[command(flatten)]
        arguments: ToolArguments,
    },
    /// Call TOOL on every server offering it
    Broadcast {
        tool: String,
        /// Only servers with this tag (repeatable)
        #[arg(long = "tag", value_name = "TAG")]
        tags: Vec<String>,
        /// Only this server (repeatable)
        #[arg(long = "server", value_name = "SERVER")]
        servers: Vec<String>,
        #[command(flatten)]
        arguments: ToolArguments,
    },
    /// Read audit records (admin role)
    Audit {
        #[arg(long)]
        user: Option<String>,
        #[arg(long)]
        tool: Option<String>,
        #[arg(long)]
        status: Option<String>,
        /// RFC 3339 time, or a duration back from now (90s, 15m, 1h, 7d)
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        limit: Option<u32>,
        /// Keep printing new records
        #[arg(long)]
        follow: bool,
    },
    /// API keys, for scripts and clients that cannot log in (they stand for you)
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Your own Anthropic key, used for your requests through the gateway's proxy
    #[command(subcommand)]
    Llm(LlmCommand),
    /// Configuration files
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print a shell completion script (e.g. `source <(mcpgw completion bash)`)
    Completion {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
pub enum ServersCommand {
    /// List every configured server
    List,
    /// One server, with its tools
    Info { name: String },
}

#[derive(Debug, Subcommand)]
pub enum ToolsCommand {
    /// List the tools you may call
    List {
        /// Only this server's tools
        #[arg(long)]
        server: Option<String>,
        /// Only tools whose name or description contains TEXT
        #[arg(long)]
        filter: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Make a key; it is printed once, and kept by the gateway only as a digest
    Create {
        /// What the key is for (shown in listings)
        name: String,
        /// A role the key carries (repeatable; one of yours) [default: all your roles]
        #[arg(long = "role", value_name = "ROLE")]
        roles: Vec<String>,
        /// How long it is valid: 30d, 12h, 90m, 45s [default: until revoked]
        #[arg(long, value_name = "DURATION")]
        expires: Option<String>,
    },
    /// Your keys (an admin sees every key)
    List,
    /// Revoke a key at once
    Revoke { id: String },
}

#[derive(Debug, Subcommand)]
pub enum LlmCommand {
    /// Store your Anthropic key (read from stdin), encrypted by the gateway
    SetKey,
    /// Whether you have stored one, and when (never the key)
    Key,
    /// Forget your key: the gateway's own serves your requests again
    RemoveKey,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Check an mcp_servers.yaml offline: every problem, with line, server and key
    Validate { file: PathBuf },
}

/// A tool's arguments, from `--arg` pairs and/or `--json`.
#[derive(Debug, Args)]
pub struct ToolArguments {
    /// One argument; VALUE is parsed as JSON when it is valid JSON, else taken as a string
    #[arg(long = "arg", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub args: Vec<(String, String)>,
    /// All arguments as a JSON object, or @FILE to read it from a file
    #[arg(long, value_name = "JSON|@FILE")]
    pub json: Option<String>,
}

fn parse_secret(text: &str) -> Result<Secret, Infallible> {
    Ok(Secret::new(text))
}

fn parse_key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err("expected KEY=VALUE".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("mcpgw").chain(args.iter().copied()))
    }

    #[test]
    fn the_command_model_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_go_anywhere() {
        let cli = parse(&[
            "config",
            "validate",
            "f.yaml",
            "--output",
            "json",
            "--url",
            "http://gw:1",
        ])
        .unwrap();
        assert_eq!(cli.output, Some(OutputFormat::Json));
        assert_eq!(cli.url, "http://gw:1");
        let Command::Config(ConfigCommand::Validate { file }) = cli.command else {
            panic!("config validate")
        };
        assert_eq!(file, PathBuf::from("f.yaml"));
    }

    #[test]
    fn token_is_a_secret() {
        let cli = parse(&["--token", "eyJsecret", "health"]).unwrap();
        assert_eq!(cli.token.as_ref().map(Secret::expose), Some("eyJsecret"));
        assert!(!format!("{cli:?}").contains("eyJsecret"));
    }

    #[test]
    fn help_never_shows_the_token_from_the_environment() {
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("MCP_GATEWAY_TOKEN"));
        assert!(
            Cli::command()
                .get_arguments()
                .find(|arg| arg.get_id() == "token")
                .is_some_and(|arg| arg.is_hide_env_values_set())
        );
    }

    #[test]
    fn tool_arguments() {
        let cli = parse(&[
            "invoke",
            "prod-elk-1",
            "search_logs",
            "--arg",
            "q=error",
            "--arg",
            "n=5",
            "--json",
            "@a.json",
        ])
        .unwrap();
        let Command::Invoke {
            server,
            tool,
            arguments,
        } = cli.command
        else {
            panic!("invoke")
        };
        assert_eq!(
            (server.as_str(), tool.as_str()),
            ("prod-elk-1", "search_logs")
        );
        assert_eq!(
            arguments.args,
            [("q".into(), "error".into()), ("n".into(), "5".into())]
        );
        assert_eq!(arguments.json.as_deref(), Some("@a.json"));
    }

    #[test]
    fn values_may_contain_equals_signs() {
        assert_eq!(parse_key_value("q=a=b"), Ok(("q".into(), "a=b".into())));
        assert_eq!(
            parse_key_value("empty="),
            Ok(("empty".into(), String::new()))
        );
        assert!(parse_key_value("novalue").is_err());
        assert!(parse_key_value("=x").is_err());
    }

    #[test]
    fn usage_errors_are_exit_code_2() {
        for args in [
            &["invoke", "s", "t", "--arg", "bad"][..],
            &["config", "validate"],
            &["--output", "yaml", "health"],
            &["nonsense"],
            &[],
        ] {
            let error = parse(args).unwrap_err();
            assert_eq!(error.exit_code(), 2, "{args:?}");
        }
    }

    #[test]
    fn broadcast_filters_repeat() {
        let cli = parse(&[
            "broadcast",
            "search_logs",
            "--tag",
            "a",
            "--tag",
            "b",
            "--server",
            "s",
        ])
        .unwrap();
        let Command::Broadcast { tags, servers, .. } = cli.command else {
            panic!("broadcast")
        };
        assert_eq!((tags.len(), servers.len()), (2, 1));
    }
}
