//! The download engine: plain Rust, no HTTP and no wasmtime.
//!
//! So far it holds the provider boundary and the ranking of search candidates; the queue,
//! state machine, dispatcher and reconciler build on them.

pub mod provider;
pub mod ranking;
pub mod breaker;
pub mod clock;
pub mod download;
pub mod retry;
pub mod transitions;
