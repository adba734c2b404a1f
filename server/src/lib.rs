//! Secure MCP Gateway: one authenticated, audited MCP endpoint in front of many MCP servers.
//!
//! The binary in `main.rs` is a shim over [`app::run`]; everything else lives here so that the
//! CLI and the tests reuse the same code.

pub mod catalog;
pub mod config;
pub mod http;
pub mod upstream;
