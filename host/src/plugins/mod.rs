//! Provider plugins: WebAssembly components loaded through wasmtime. The only module that
//! touches wasmtime; what leaves it is an engine [`crate::engine::provider::Provider`].

mod bindings;
mod call_stats;
pub mod check;
pub mod compile_cache;
pub mod conformance;
pub(crate) mod dns;
pub mod egress;
mod imports;
pub mod manifest;
mod quarantine;
mod registry;
mod runtime;
mod sandbox;
pub mod scaffold;
mod untrusted;
mod wasm_provider;

pub use bindings::supported_versions;
pub use call_stats::ExportSummary;
pub use compile_cache::CacheOutcome;
pub use registry::{ManifestFacts, PluginEntry, PluginRegistry, PluginState, ReloadReport};
pub use runtime::{LoadError, LoadReport, LoadStats, PluginRuntime, RuntimeError};
pub use wasm_provider::WasmProvider;
