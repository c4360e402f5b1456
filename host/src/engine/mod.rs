//! The download engine: plain Rust, no HTTP and no wasmtime.
//!
//! [`manager::DownloadManager`] is the front door; `core` holds the state the workers share;
//! `dispatcher` hands waiting downloads to providers (searching through `search`) and one
//! `reconciler` per provider applies what it reports. Decisions live in pure modules the workers
//! call: `transitions` (the state machine), `observation` (what a transfer's state means),
//! `matching` (which transfer is whose), `tidy` (the provider's list), `call_gates` (rate limits),
//! `retry`, `breaker` and `ranking` (with `title_match`). `housekeeping` forgets what the store
//! need not keep (expired idempotency keys).

pub mod breaker;
pub mod call_gates;
pub mod clock;
mod core;
mod dispatcher;
pub mod download;
pub mod download_events;
mod grouped_creates;
mod housekeeping;
pub mod manager;
mod matching;
mod observation;
pub mod provider;
pub mod provider_slot;
pub mod ranking;
mod reconciler;
pub mod reputation;
pub mod retry;
mod search;
mod search_across;
pub mod settings;
mod tidy;
pub mod title_match;
pub mod transitions;
mod verification;
