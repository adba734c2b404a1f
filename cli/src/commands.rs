//! Runs one parsed command and says how the process should exit.

use std::io::Write;

use crate::args::{Cli, Command, ConfigCommand, ServersCommand, ToolsCommand};
use crate::exit;

/// Run `cli`, writing results to `out` and problems to `err`; the exit code.
pub fn run(cli: Cli, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    match &cli.command {
        Command::Config(ConfigCommand::Validate { file }) => {
            mcp_gateway::config::check_file(file, out, err)
        }
        other => not_available(command_name(other), err),
    }
}

/// Commands that talk to the gateway are declared (so that `--help` shows the whole CLI)
/// but not built into this binary yet.
fn not_available(name: &str, err: &mut dyn Write) -> u8 {
    let _ = writeln!(
        err,
        "mcpgw: `{name}` is not available in this build; `mcpgw config validate FILE` is"
    );
    exit::FAILURE
}

fn command_name(command: &Command) -> &'static str {
    match command {
        Command::Login { .. } => "login",
        Command::Logout => "logout",
        Command::Whoami => "whoami",
        Command::Health => "health",
        Command::Servers(ServersCommand::List) => "servers list",
        Command::Servers(ServersCommand::Info { .. }) => "servers info",
        Command::Tools(ToolsCommand::List { .. }) => "tools list",
        Command::Invoke { .. } => "invoke",
        Command::Call { .. } => "call",
        Command::Broadcast { .. } => "broadcast",
        Command::Audit { .. } => "audit",
        Command::Config(ConfigCommand::Validate { .. }) => "config validate",
    }
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
    fn commands_of_a_later_build_say_so_in_one_line_and_exit_1() {
        let cases: [(&[&str], &str); 11] = [
            (&["login", "--username", "u"], "login"),
            (&["logout"], "logout"),
            (&["whoami"], "whoami"),
            (&["health"], "health"),
            (&["servers", "list"], "servers list"),
            (&["servers", "info", "s"], "servers info"),
            (&["tools", "list", "--server", "s"], "tools list"),
            (&["invoke", "s", "t", "--arg", "a=1"], "invoke"),
            (&["call", "s__t"], "call"),
            (&["broadcast", "t", "--tag", "x"], "broadcast"),
            (&["audit", "--since", "1h"], "audit"),
        ];
        for (args, name) in cases {
            let (code, out, err) = run_args(args);
            assert_eq!(code, exit::FAILURE, "{args:?}");
            assert!(out.is_empty());
            assert_eq!(err.lines().count(), 1, "{err}");
            assert!(
                err.starts_with(&format!("mcpgw: `{name}` is not available in this build")),
                "{err}"
            );
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
