//! `mcpgw`: command-line client of the Secure MCP Gateway (SPEC §10).
//!
//! A shim: parse the command line, run the command, exit with its code.

mod args;
mod audit;
mod callback;
mod calls;
mod client;
mod commands;
mod credentials;
mod doctor;
mod exit;
mod keys;
mod llm_key;
mod login;
mod oidc;
mod output;
mod read;
mod store;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            // `--help` and `--version` arrive here too, as "errors" printed on stdout.
            let _ = error.print();
            return ExitCode::from(if error.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            });
        }
    };
    let code = commands::run(
        cli,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    );
    ExitCode::from(code)
}
