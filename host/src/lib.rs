//! Tributary: a self-hosted download manager for music libraries.
//!
//! `config` reads the operator's settings; `engine` is the download logic in plain Rust;
//! `plugins` runs the sandboxed WebAssembly providers; `demo` shows them working together.

pub mod config;
pub mod demo;
pub mod engine;
pub mod plugins;
pub mod store;
