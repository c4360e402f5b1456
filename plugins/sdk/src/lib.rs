//! Write Tributary download-provider plugins in Rust.
//!
//! A provider plugin is a WebAssembly component (`wasm32-wasip2`) that implements the
//! `tributary:provider` WIT contract. This crate carries that contract (its `wit/` folder), so a
//! plugin crate needs nothing but this dependency, and gives it a Rust shape:
//!
//! - [`Provider`]: the trait a plugin implements (required calls, plus optional capabilities
//!   that default to "not provided"), exported with [`export_provider!`];
//! - [`types`]: the contract's types ([`Candidate`], [`Transfer`], [`ProviderError`], …);
//! - [`http`]: requests through the host (query, headers, auth, cookies, JSON and form bodies)
//!   with one mapping from HTTP failures to [`ProviderError`];
//! - [`config`], [`log`] (and the [`info!`], [`warn!`], … macros) and [`clock`]: the host's other
//!   imports as plain functions.
//!
//! ```no_run
//! use tributary_plugin_sdk::{config, http, Capabilities, Enqueued, Health, PluginInfo,
//!     Provider, ProviderError, Source, Transfer, TransferRef};
//!
//! struct Example;
//!
//! impl Provider for Example {
//!     fn info() -> PluginInfo {
//!         PluginInfo {
//!             id: "example".into(),
//!             kind: "direct".into(),
//!             display_name: "Example".into(),
//!             version: env!("CARGO_PKG_VERSION").into(),
//!             capabilities: Capabilities::empty(),
//!             peer_files: false,
//!             uri_schemes: vec!["https".into()],
//!         }
//!     }
//!     fn ping() -> Result<Health, ProviderError> {
//!         http::get(config::require("url")?).send()?;
//!         Ok(Health { service_version: None, ready: true, detail: "up".into() })
//!     }
//!     // enqueue, list_transfers, cancel …
//! #   fn enqueue(_: Source) -> Result<Enqueued, ProviderError> { todo!() }
//! #   fn list_transfers() -> Result<Vec<Transfer>, ProviderError> { todo!() }
//! #   fn cancel(_: TransferRef) -> Result<(), ProviderError> { todo!() }
//! }
//!
//! tributary_plugin_sdk::export_provider!(Example);
//! ```
//!
//! See the crate's README for a whole provider, its `plugin.toml` and how to build and check it.

#![deny(missing_docs)]

pub mod clock;
pub mod config;
mod export;
pub mod http;
pub mod log;
mod provider;
pub mod wit;

pub use provider::{Provider, capability_name};

/// The `tributary:provider` version of the WIT this SDK carries: a plugin built with it puts
/// this in its `plugin.toml` as `api_version`.
pub const WIT_VERSION: &str = "0.2.0";

/// The contract's types, as generated from the WIT this SDK carries.
pub mod types {
    pub use crate::wit::tributary::provider::types::*;
}

pub use types::{
    Candidate, Capabilities, Enqueued, FailureReason, Health, PeerFile, PluginInfo, ProviderError,
    SearchProgress, Source, TrackQuery, Transfer, TransferFailure, TransferRef, TransferState,
    UriSource,
};

/// The README's provider compiles (`cargo test --doc`).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExample;

/// What [`export_provider!`] expands to; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::export::Exported;
}
