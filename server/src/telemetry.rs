//! Logging: `LOG_LEVEL` (an env-filter directive) and `LOG_FORMAT` (`pretty` or `json`).
//!
//! Logs go to stderr so that stdout stays free for audit records (`AUDIT_TO_STDOUT`).
//! rmcp logs every notification at INFO, so it is held at WARN unless asked otherwise.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

pub fn init(level: &str, format: LogFormat) {
    let directives = if level.contains("rmcp") {
        level.to_owned()
    } else {
        format!("{level},rmcp=warn")
    };
    let filter =
        EnvFilter::try_new(&directives).unwrap_or_else(|_| EnvFilter::new("info,rmcp=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.compact().try_init(),
    };
    // Already initialised (tests start several gateways in one process): keep the first.
    let _ = result;
}
