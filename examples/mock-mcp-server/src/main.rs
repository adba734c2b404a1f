//! `mock-mcp-server`: a configurable MCP server for the demo, the integration tests and the
//! benchmark of the gateway. See `--help`; [`cli::RawArgs`] documents every flag.

mod cli;
mod handler;
mod serve;
mod tools;

use std::{io::IsTerminal, process::ExitCode};

use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::cli::{MockConfig, RawArgs};

// The benchmark runs hundreds of servers from one process; glibc malloc showed up at ~15 %
// of CPU there.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let raw = RawArgs::parse();
    // Logs go to stderr only: stdout carries the LISTENING lines, or the protocol in stdio
    // mode. rmcp logs every notification at INFO.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,rmcp=warn")),
        )
        .init();
    let config = match MockConfig::try_from(raw) {
        Ok(config) => config,
        Err(problems) => {
            for problem in problems {
                eprintln!("mock-mcp-server: {problem}");
            }
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("mock-mcp-server: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve::run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("mock-mcp-server: {error:#}");
            ExitCode::FAILURE
        }
    }
}
