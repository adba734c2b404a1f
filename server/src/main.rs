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
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(Command::CheckConfig { file }) = &args.command {
        return check_config(file);
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
