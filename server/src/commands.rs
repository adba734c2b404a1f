//! What the `mcp-gateway` binary does, one function per command, each giving its exit code:
//! serving (the default), `check-config` and `audit verify`. `main.rs` parses the arguments
//! and calls one of these.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::audit::chain::ChainStart;
use crate::audit::verify::{VerifySource, run_command};
use crate::config::{self, Settings, SettingsOverrides};

/// Serve until Ctrl-C or SIGTERM: settings from the environment (and `overrides`), logging,
/// the runtime, then [`crate::app::run`].
pub fn serve(overrides: SettingsOverrides) -> ExitCode {
    let settings = match Settings::from_env(overrides) {
        Ok(settings) => settings,
        Err(problems) => {
            eprintln!("mcp-gateway: invalid environment:\n{problems}");
            return ExitCode::from(1);
        }
    };
    without_transparent_huge_pages();
    // Kept to the end: dropping it flushes the traces still queued.
    let _telemetry = crate::telemetry::init(
        &settings.log_level,
        settings.log_format,
        settings.traces.as_ref(),
    );
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
    match runtime.block_on(crate::app::run(settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("mcp-gateway: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// `check-config FILE`: exit 0, or 1 with every problem listed (as `mcpgw config validate`).
pub fn check_config(file: &Path) -> ExitCode {
    ExitCode::from(config::check_file(
        file,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    ))
}

/// Where `audit verify` reads the chain from.
pub enum VerifyFrom {
    File(PathBuf),
    /// `postgres://…`, `postgresql://…` or `sqlite://…`.
    Database(String),
}

/// `audit verify`: exit 0 intact, 1 broken, 2 could not be checked. `partial` accepts a
/// chain whose first record follows records no longer present (old rotated files removed).
pub fn audit_verify(from: VerifyFrom, partial: bool) -> ExitCode {
    let source = match from {
        VerifyFrom::File(file) => VerifySource::File(file),
        VerifyFrom::Database(url) => VerifySource::Database(config::Secret::new(url)),
    };
    let start = if partial {
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
