//! Legacy HTTP+SSE client transport (protocol 2024-11-05) for SSE backends.
