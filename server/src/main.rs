//! `mcp-gateway`: a shim that parses the arguments and runs the command; what each command
//! does lives in the library ([`mcp_gateway::commands`]).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mcp_gateway::commands::{self, VerifyFrom};
use mcp_gateway::config::SettingsOverrides;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Secure MCP Gateway: one authenticated, audited MCP endpoint in front of many MCP servers.
#[derive(Parser)]
#[command(name = "mcp-gateway", version, about)]
struct Args {
    /// Backend config file (overrides MCP_SERVERS_CONFIG).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Listen address HOST:PORT (overrides GATEWAY_HOST and GATEWAY_PORT).
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Validate a config file offline: exit 0, or 1 with every problem listed.
    CheckConfig {
        /// The mcp_servers.yaml to check.
        file: PathBuf,
    },
    /// Audit log tools.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chain of an audit file or database and name the first broken record:
    /// exit 0 intact, 1 broken, 2 could not be checked.
    Verify(VerifyArgs),
}

#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["file", "database"])))]
struct VerifyArgs {
    /// An audit file; for the active file, its rotated days (FILE.YYYY-MM-DD) come first.
    #[arg(long, value_name = "FILE")]
    file: Option<PathBuf>,
    /// An audit database (postgres://…, postgresql://…, sqlite://…).
    #[arg(long, value_name = "URL")]
    database: Option<String>,
    /// Accept a chain whose first record follows records no longer present (old rotated
    /// files removed).
    #[arg(long)]
    partial: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match args.command {
        None => commands::serve(SettingsOverrides {
            config_path: args.config,
            listen: args.listen,
        }),
        Some(Command::CheckConfig { file }) => commands::check_config(&file),
        Some(Command::Audit {
            command: AuditCommand::Verify(verify),
        }) => {
            let from = match (verify.file, verify.database) {
                (Some(file), _) => VerifyFrom::File(file),
                (None, Some(url)) => VerifyFrom::Database(url),
                // clap requires one of the two.
                (None, None) => return ExitCode::from(2),
            };
            commands::audit_verify(from, verify.partial)
        }
    }
}
