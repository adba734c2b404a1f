//! Integration tests of the gateway through real sockets, real backend processes and real
//! MCP clients.

mod common;

mod accounted;
mod anthropic;
mod api_keys;
mod audit;
mod auth;
mod bad_bodies;
mod binary;
mod broadcast;
mod cli;
mod cli_login;
mod client_requests;
mod console;
mod credentials;
mod endpoints;
mod http_call;
mod inspector;
mod interop;
mod mcp;
mod offers;
mod plain;
mod policy;
mod reload;
mod rest;
mod serving;
mod session_calls;
mod stack;
mod traces;
mod upstream_clients;
