//! Connections to backend MCP servers.

pub mod sse;
