//! `mcp-bench`: the load generator of `make bench`. It sends the same MCP calls through the
//! gateway and directly to a backend, reads the CPU and memory the gateway spends doing so,
//! times session opening, and prints the comparison table with the project's targets. For
//! the runs with authentication on it also plays the OIDC issuer (`issuer`). For the
//! Anthropic proxy it plays the upstream API (`anthropic-upstream`) and times streamed
//! messages through the gateway and directly (`llm`).
//! `scripts/bench.sh` (and `scripts/bench-llm.sh`) start the processes and call the
//! subcommands in order.

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use mimalloc::MiMalloc;
use reqwest::Url;

mod anthropic_upstream;
mod calls;
mod cli;
mod fanout;
mod health;
mod issuer;
mod llm;
mod paired;
mod procfs;
mod raw;
mod relay;
mod report;
mod results;
mod session;
mod sessions;
mod stats;

use cli::{RawCli, RawCommand};
use results::{MachineLoadResult, Record, RssResult};

// The gateway and the mock use mimalloc too: the client's allocator should not be what differs.
#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

fn main() -> ExitCode {
    let cli = RawCli::parse();
    let runtime = match build_runtime(cli.threads) {
        Ok(runtime) => runtime,
        Err(error) => return fail(&error),
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&error),
    }
}

fn fail(error: &anyhow::Error) -> ExitCode {
    eprintln!("mcp-bench: {error:#}");
    ExitCode::FAILURE
}

/// One thread keeps the client cheapest at low concurrency; more let it keep up at high
/// concurrency. Both paths of a comparison use the same setting.
fn build_runtime(threads: usize) -> Result<tokio::runtime::Runtime> {
    let mut builder = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(threads);
        builder
    };
    builder
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Problems found while validating flags, as one error.
fn invalid(problems: Vec<String>) -> anyhow::Error {
    anyhow::anyhow!("invalid flags:\n  {}", problems.join("\n  "))
}

async fn run(command: RawCommand) -> Result<()> {
    match command {
        RawCommand::Calls(raw) => {
            let plan = calls::CallsPlan::try_from(raw).map_err(invalid)?;
            let result = calls::run(plan).await?;
            println!("{}", Record::Calls(result).to_json_line());
        }
        RawCommand::Paired(raw) => {
            let plan = paired::PairedPlan::try_from(raw).map_err(invalid)?;
            for result in paired::run(plan).await? {
                println!("{}", Record::Calls(result).to_json_line());
            }
        }
        RawCommand::Sessions(raw) => {
            let plan = sessions::SessionsPlan::try_from(raw).map_err(invalid)?;
            let result = sessions::run(plan).await?;
            println!("{}", Record::Sessions(result).to_json_line());
        }
        RawCommand::Fanout(raw) => {
            let plan = fanout::FanoutPlan::try_from(raw).map_err(invalid)?;
            let result = fanout::run(plan).await?;
            println!("{}", Record::Fanout(result).to_json_line());
        }
        RawCommand::Rss { pid, label } => {
            let mut problems = Vec::new();
            cli::check_label(&label, &mut problems);
            if !problems.is_empty() {
                return Err(invalid(problems));
            }
            let rss_kib = procfs::read_rss_kib(procfs::ProcId::Pid(pid))?;
            println!(
                "{}",
                Record::Rss(RssResult {
                    label,
                    pid,
                    rss_kib
                })
                .to_json_line()
            );
        }
        RawCommand::MachineLoad { secs, label } => {
            let mut problems = Vec::new();
            cli::check_label(&label, &mut problems);
            let interval = cli::check_seconds("--secs", secs, &mut problems);
            let (Some(interval), true) = (interval, problems.is_empty()) else {
                return Err(invalid(problems));
            };
            let started = std::time::Instant::now();
            let before = procfs::read_machine();
            tokio::time::sleep(interval).await;
            let after = procfs::read_machine();
            let elapsed = started.elapsed();
            let load = procfs::machine_load(&before, &after, elapsed);
            println!(
                "{}",
                Record::MachineLoad(MachineLoadResult {
                    label,
                    elapsed_s: elapsed.as_secs_f64(),
                    busy_pct: load.busy_pct,
                    steal_pct: load.steal_pct,
                    pressure_pct: load.pressure_pct,
                })
                .to_json_line()
            );
        }
        RawCommand::WaitHealth {
            url,
            expect,
            pid,
            timeout_secs,
            bearer_token_file,
        } => {
            let mut problems = Vec::new();
            let timeout = cli::check_seconds("--timeout-secs", timeout_secs, &mut problems);
            let url = Url::parse(&url)
                .map_err(|error| problems.push(format!("--url: {error}")))
                .ok();
            let bearer = bearer_token_file.and_then(|path| {
                cli::read_bearer(&path)
                    .map_err(|problem| problems.push(problem))
                    .ok()
            });
            let (Some(url), Some(timeout), true) = (url, timeout, problems.is_empty()) else {
                return Err(invalid(problems));
            };
            let started = std::time::Instant::now();
            let counts = health::wait_until_healthy(&url, expect, timeout, pid).await?;
            eprintln!("healthy: {} of {} backends", counts.healthy, counts.total);
            if let Some(bearer) = bearer {
                let left = timeout.saturating_sub(started.elapsed());
                health::wait_until_authenticated(&url, &bearer, left, pid).await?;
                eprintln!("authenticated: /whoami accepts the token");
            }
        }
        RawCommand::Issuer(raw) => {
            let plan = issuer::IssuerPlan::try_from(raw).map_err(invalid)?;
            issuer::run(plan).await?;
        }
        RawCommand::AnthropicUpstream(raw) => {
            let plan = anthropic_upstream::UpstreamPlan::try_from(raw).map_err(invalid)?;
            anthropic_upstream::run(plan).await?;
        }
        RawCommand::Llm(raw) => {
            let plan = llm::LlmPlan::try_from(raw).map_err(invalid)?;
            for result in llm::run(plan).await? {
                println!("{}", Record::Llm(result).to_json_line());
            }
        }
        RawCommand::Relay { listen, to } => relay::run(&listen, &to).await?,
        RawCommand::FreePort => println!("{}", health::free_port()?),
        RawCommand::Report { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let (records, unreadable) = report::parse_records(&text);
            print!(
                "{}",
                report::render(&report::Figures::from_records(records), unreadable)
            );
        }
    }
    Ok(())
}
