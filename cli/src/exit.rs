//! Exit codes of `mcpgw` (SPEC §10). Codes 3 (401/403) and 4 (gateway unreachable) belong
//! to the commands that talk to the gateway.

/// Success (also `--help` and `--version`).
pub const OK: u8 = 0;
/// Any other failure: an invalid config file, a command this build lacks, a tool error.
pub const FAILURE: u8 = 1;
/// The command line itself is wrong.
pub const USAGE: u8 = 2;
