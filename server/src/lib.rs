//! Secure MCP Gateway: one authenticated, audited MCP endpoint in front of many MCP servers.
//!
//! The binary in `main.rs` is a shim over [`app::run`]; everything else lives here so that the
//! CLI and the tests reuse the same code.

pub mod app;
pub mod audit;
pub mod authn;
pub mod authz;
pub mod catalog;
pub mod client_requests;
pub mod commands;
pub mod config;
pub mod error;
pub(crate) mod event_stream;
pub mod fanout;
pub mod gateway;
pub mod http;
pub mod keys;
pub mod llm;
pub mod metrics;
pub mod paging;
pub mod principal;
pub mod progress;
pub mod ratelimit;
pub mod reload;
pub mod result_shape;
pub mod scope;
pub mod serving;
pub mod sha256;
pub mod telemetry;
pub mod upstream;
