//! Runs one parsed command and says how the process should exit.

use std::io::Write;

use crate::args::{
    Cli, Command, ConfigCommand, KeysCommand, LlmCommand, ServersCommand, ToolArguments,
    ToolsCommand,
};
use crate::client::{Failure, Gateway};
use crate::credentials::Credentials;
use crate::store::Store;
use crate::{audit, calls, doctor, exit, keys, llm_key, login, output, read};

/// Run `cli`, writing results to `out` and problems to `err`; the exit code.
pub fn run(cli: Cli, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    // The offline commands.
    match &cli.command {
        Command::Config(ConfigCommand::Validate { file }) => {
            return mcp_gateway::config::check_file(file, out, err);
        }
        Command::Completion { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(*shell, &mut command, "mcpgw", out);
            return exit::OK;
        }
        _ => {}
    }
    let format = output::format(cli.output);
    let store = Store::of_user();
    let credentials = Credentials::choose(cli.token.clone(), store.clone(), &cli.url);
    let mut gateway = match Gateway::new(&cli.url, credentials) {
        Ok(gateway) => gateway,
        Err(failure) => return report(&failure, err),
    };
    let done = match &cli.command {
        Command::Login {
            browser,
            username,
            password_stdin,
            issuer,
        } => {
            let request = login::LoginRequest {
                browser: *browser,
                username: username.as_deref(),
                password_stdin: *password_stdin,
                issuer: issuer.as_deref(),
            };
            login::login(&mut gateway, store, &request, err)
        }
        Command::Logout => login::logout(&gateway, store, err),
        Command::Token => login::token(&gateway, out),
        Command::Doctor => return doctor::run(&gateway, format, out),
        Command::Health => read::health(&gateway, format, out),
        Command::Whoami => read::whoami(&gateway, format, out),
        Command::Servers(ServersCommand::List) => read::servers_list(&gateway, format, out),
        Command::Keys(KeysCommand::Create {
            name,
            roles,
            expires,
        }) => keys::create(&gateway, name, roles, expires.as_deref(), format, out),
        Command::Keys(KeysCommand::List) => keys::list_keys(&gateway, format, out),
        Command::Llm(LlmCommand::SetKey) => llm_key::set_llm_key(&gateway, format, out),
        Command::Llm(LlmCommand::Key) => llm_key::llm_key(&gateway, format, out),
        Command::Llm(LlmCommand::RemoveKey) => llm_key::remove_llm_key(&gateway, format, out),
        Command::Keys(KeysCommand::Revoke { id }) => keys::revoke(&gateway, id, format, out),
        Command::Servers(ServersCommand::Info { name }) => {
            read::servers_info(&gateway, name, format, out)
        }
        Command::Tools(ToolsCommand::List { server, filter }) => {
            read::tools_list(&gateway, server.as_deref(), filter.as_deref(), format, out)
        }
        Command::Call {
            exposed_tool_name,
            arguments,
        } => {
            return with_arguments(arguments, err, |arguments| {
                calls::call(&gateway, exposed_tool_name, arguments, format, out)
            });
        }
        Command::Invoke {
            server,
            tool,
            arguments,
        } => {
            return with_arguments(arguments, err, |arguments| {
                calls::invoke(&gateway, server, tool, arguments, format, out)
            });
        }
        Command::Broadcast {
            tool,
            tags,
            servers,
            arguments,
        } => {
            return with_arguments(arguments, err, |arguments| {
                calls::broadcast(&gateway, tool, tags, servers, arguments, format, out)
            });
        }
        Command::Audit {
            user,
            tool,
            status,
            since,
            limit,
            follow,
        } => {
            let query = audit::Query {
                user: user.as_deref(),
                tool: tool.as_deref(),
                status: status.as_deref(),
                since: since.as_deref(),
                limit: *limit,
            };
            audit::run(&gateway, &query, *follow, format, out)
        }
        Command::Config(_) | Command::Completion { .. } => unreachable!("offline, above"),
    };
    match done {
        Ok(()) => exit::OK,
        Err(failure) => report(&failure, err),
    }
}

/// A call command: its arguments read (unusable ones are one line and exit 2), then `call`
/// with them; its exit code.
fn with_arguments(
    given: &ToolArguments,
    err: &mut dyn Write,
    call: impl FnOnce(serde_json::Map<String, serde_json::Value>) -> Result<u8, Failure>,
) -> u8 {
    match calls::arguments(given) {
        Ok(arguments) => call(arguments).unwrap_or_else(|failure| report(&failure, err)),
        Err(bad) => {
            let _ = writeln!(err, "mcpgw: {}", bad.0);
            exit::USAGE
        }
    }
}

/// One line on stderr; the failure's exit code.
fn report(failure: &Failure, err: &mut dyn Write) -> u8 {
    let _ = writeln!(err, "{}", failure.line());
    failure.exit_code()
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn run_args(args: &[&str]) -> (u8, String, String) {
        let cli =
            Cli::try_parse_from(std::iter::once("mcpgw").chain(args.iter().copied())).unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = run(cli, &mut out, &mut err);
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    #[test]
    fn a_gateway_that_is_not_there_is_exit_4_with_a_hint() {
        // A port nothing listens on (bound, then released).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let url = format!("http://127.0.0.1:{port}");
        for args in [&["health"][..], &["servers", "list"], &["tools", "list"]] {
            let mut all = vec!["--url", url.as_str()];
            all.extend_from_slice(args);
            let (code, out, err) = run_args(&all);
            assert_eq!(code, exit::UNREACHABLE, "{args:?}");
            assert!(out.is_empty());
            assert_eq!(err.lines().count(), 1, "{err}");
            assert!(
                err.contains(&url) && err.contains("is it running?"),
                "{err}"
            );
        }
    }

    #[test]
    fn bad_json_arguments_are_exit_2_before_the_gateway_is_asked() {
        let (code, out, err) = run_args(&[
            "--url",
            "http://unreachable.invalid:1",
            "call",
            "a__b",
            "--json",
            "{nope",
        ]);
        assert_eq!(code, exit::USAGE);
        assert!(out.is_empty());
        assert!(err.starts_with("mcpgw: --json: not JSON"), "{err}");
    }

    #[test]
    fn completion_scripts_are_printed_for_every_shell() {
        for (shell, marker) in [
            ("bash", "complete -F"),
            ("zsh", "#compdef mcpgw"),
            ("fish", "complete -c mcpgw"),
            ("powershell", "Register-ArgumentCompleter"),
        ] {
            let (code, out, err) = run_args(&["completion", shell]);
            assert_eq!(code, exit::OK, "{shell}: {err}");
            assert!(out.contains(marker), "{shell}");
            assert!(out.contains("servers"), "{shell}");
        }
    }

    #[test]
    fn config_validate_runs_offline() {
        let (code, out, _) = run_args(&[
            "--url",
            "http://unreachable.invalid:1",
            "config",
            "validate",
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../examples/mcp_servers_complete.yaml"
            ),
        ]);
        assert_eq!(code, exit::OK);
        assert!(out.contains(": OK ("));
    }
}
