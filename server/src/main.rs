//! `mcp-gateway`: parse arguments, initialise logging, run. The logic lives in the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mcp_gateway::config::{self, Settings, SettingsOverrides};

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
    if let Some(Command::CheckConfig { file }) = &args.command {
        return check_config(file);
    }
    if let Some(Command::Audit {
        command: AuditCommand::Verify(verify),
    }) = &args.command
    {
        return audit_verify(verify);
    }
    let overrides = SettingsOverrides {
        config_path: args.config,
        listen: args.listen,
    };
    let settings = match Settings::from_env(overrides) {
        Ok(settings) => settings,
        Err(problems) => {
            eprintln!("mcp-gateway: invalid environment:\n{problems}");
            return ExitCode::from(1);
        }
    };
    without_transparent_huge_pages();
    mcp_gateway::telemetry::init(&settings.log_level, settings.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("mcp-gateway: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(mcp_gateway::app::run(settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("mcp-gateway: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// The environment variable of mimalloc's "use transparent huge pages" option.
const MIMALLOC_THP: &str = "MIMALLOC_ALLOW_THP";

/// mimalloc advises the kernel to back its arenas with transparent huge pages, so every
/// 2 MiB of heap the gateway touches becomes resident: ~14 MiB of an idle gateway's 35 MiB,
/// for no measurable speed. The option is read from the environment at the first allocation,
/// before `main`, so the gateway sets it and re-executes itself once (same pid, same
/// arguments). An operator who sets the variable, to either value, keeps their choice.
fn without_transparent_huge_pages() {
    use std::os::unix::process::CommandExt as _;
    if std::env::var_os(MIMALLOC_THP).is_some() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_else(|| exe.clone().into_os_string());
    // `exec` returns only when it failed; the gateway then runs as it is.
    let error = std::process::Command::new(&exe)
        .arg0(arg0)
        .args(args)
        .env(MIMALLOC_THP, "0")
        .exec();
    eprintln!("mcp-gateway: could not re-execute without huge pages ({error}); continuing");
}

fn check_config(file: &std::path::Path) -> ExitCode {
    match config::load_file(file) {
        Ok(config) => {
            let names: Vec<_> = config.servers.iter().map(|s| s.name.as_str()).collect();
            println!(
                "{}: OK ({} servers: {})",
                file.display(),
                names.len(),
                names.join(", ")
            );
            ExitCode::SUCCESS
        }
        Err(problems) => {
            eprintln!("{problems}");
            ExitCode::from(1)
        }
    }
}

fn audit_verify(args: &VerifyArgs) -> ExitCode {
    use mcp_gateway::audit::chain::ChainStart;
    use mcp_gateway::audit::verify::{VerifySource, run_command};
    let source = match (&args.file, &args.database) {
        (Some(file), _) => VerifySource::File(file.clone()),
        (None, Some(url)) => VerifySource::Database(config::Secret::new(url.clone())),
        // clap requires one of the two.
        (None, None) => return ExitCode::from(2),
    };
    let start = if args.partial {
        ChainStart::Any
    } else {
        ChainStart::Genesis
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("mcp-gateway: cannot start the runtime: {e}");
            return ExitCode::from(2);
        }
    };
    ExitCode::from(runtime.block_on(run_command(&source, start)))
}
