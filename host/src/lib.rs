//! Tributary: a self-hosted download manager for music libraries.
//!
//! `config` reads the operator's settings; `engine` is the download logic in plain Rust;
//! `plugins` runs the sandboxed WebAssembly providers and `plugin_service` keeps them in service
//! (reloads); `store` persists; `verify` proves a finished file plays; `library` imports it; `webhooks` tells other programs; `metrics` defines what Prometheus scrapes; `api` and `view` are
//! the HTTP surface; `app` assembles them; `demo` runs it all against the slskd emulator.

pub mod api;
pub mod app;
pub mod config;
pub mod demo;
pub mod engine;
pub mod library;
pub mod metrics;
pub mod plugin_service;
pub mod plugins;
pub mod store;
pub mod verify;
pub mod view;
pub mod webhooks;
