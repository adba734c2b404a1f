//! The HTTP surface of the gateway.

pub mod legacy_sse;
