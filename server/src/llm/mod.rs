//! The Anthropic API proxy (SPEC §14): Claude Code and other Anthropic SDK clients send their
//! model traffic to `/anthropic/v1/…` with their gateway credential; the gateway checks who
//! may use which model, applies guards and per-user budgets, sends the request upstream with
//! its own key, relays the answer as it arrives, and accounts for every request (an
//! `llm_call` audit record, token metrics, the budget charge).
//!
//! - [`policy`]: the compiled `llm:` section (models, guards, budgets, upstream);
//! - [`request`]: what the proxy reads of a request (model, stream, texts, audit view);
//! - [`relay`]: the upstream exchange and its accounting;
//! - [`usage`]: token counts from a JSON answer or a stream's events;
//! - [`budget`]: requests and tokens per user per minute and per day;
//! - [`error`]: the proxy's own errors in Anthropic's shape.
//!
//! The HTTP routes are `http::anthropic`.

pub mod budget;
pub mod error;
pub mod policy;
pub mod relay;
pub mod request;
pub mod usage;

pub use error::LlmError;
pub use policy::LlmPolicy;
