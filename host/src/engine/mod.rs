//! The download engine: plain Rust, no HTTP and no wasmtime.
//!
//! [`manager::DownloadManager`] is the front door; `dispatcher` hands waiting downloads to
//! providers, `reconciler` applies what providers report, both through the transition table in
//! `transitions`.

pub mod breaker;
pub mod clock;
mod dispatcher;
pub mod download;
pub mod manager;
pub mod provider;
pub mod ranking;
mod reconciler;
pub mod retry;
pub mod settings;
pub mod transitions;
