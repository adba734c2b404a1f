//! Exit codes of `mcpgw` (SPEC §10). Codes 3 (401/403) and 4 (gateway unreachable) belong
//! to the commands that talk to the gateway.

/// Success (also `--help` and `--version`).
pub const OK: u8 = 0;
/// Any other failure: an invalid config file, a command this build lacks, a tool error.
pub const FAILURE: u8 = 1;
/// The command line itself is wrong.
pub const USAGE: u8 = 2;
/// The gateway refused the caller: 401 or 403.
pub const AUTH: u8 = 3;
/// The gateway could not be reached.
pub const UNREACHABLE: u8 = 4;
