//! Integration tests of the gateway through real sockets, real backend processes and real
//! MCP clients.

mod common;

mod accounted;
mod audit;
mod auth;
mod binary;
mod broadcast;
mod credentials;
mod direct;
mod fast_call;
mod inspector;
mod interop;
mod mcp;
mod plain;
mod policy;
mod reload;
mod rest;
mod serving;
