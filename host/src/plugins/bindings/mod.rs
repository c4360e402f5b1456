//! The WIT contract versions this host loads: one frozen module per released version of
//! `tributary:provider`, each with its generated bindings, its version constant, its import
//! adapters and its conversions to the host's own types. Past this module nothing sees a
//! version: a plugin is a [`Contract`] whose [`Exports`] speak the engine's types.
//!
//! A new version is a new module and one more entry in [`CONTRACTS`]; the supported range is
//! read from there.

pub(super) mod v0_1_0;
pub(super) mod v0_2_0;

use async_trait::async_trait;
use wasmtime::Store;
use wasmtime::component::{Component, InstancePre, Linker};

use super::sandbox::CallState;
use crate::engine::provider::{
    Accepts, Capabilities, Enqueued, Health, ProviderError, SearchProgress, Source, TrackQuery,
    Transfer, TransferRef,
};

/// The WIT package this host implements.
pub const WIT_PACKAGE: &str = "tributary:provider";

/// What one supported version offers the runtime.
pub(super) struct ContractVersion {
    pub version: &'static str,
    /// Adds the version's host imports to the shared linker.
    pub link: fn(&mut Linker<CallState>) -> wasmtime::Result<()>,
    /// Checks a component against the version's world and prepares its instances.
    pub prepare: fn(InstancePre<CallState>) -> wasmtime::Result<Box<dyn Contract>>,
}

/// Every version this host loads, oldest first.
pub(super) const CONTRACTS: &[ContractVersion] = &[v0_1_0::CONTRACT, v0_2_0::CONTRACT];

/// The `tributary:provider` versions this host can load.
pub fn supported_versions() -> Vec<&'static str> {
    CONTRACTS.iter().map(|c| c.version).collect()
}

pub(super) fn contract_for(version: &str) -> Option<&'static ContractVersion> {
    CONTRACTS.iter().find(|c| c.version == version)
}

/// Links every supported version's imports (their instance names differ by version).
pub(super) fn link_all(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    CONTRACTS.iter().try_for_each(|c| (c.link)(linker))
}

/// Prepares a compiled component for the version its manifest names.
pub(super) fn prepare(
    contract: &ContractVersion,
    linker: &Linker<CallState>,
    component: &Component,
) -> wasmtime::Result<Box<dyn Contract>> {
    (contract.prepare)(linker.instantiate_pre(component)?)
}

/// Who a plugin says it is, in the host's terms.
#[derive(Debug, Clone)]
pub struct PluginInfo {
    pub id: String,
    pub kind: String,
    pub display_name: String,
    pub version: String,
    pub capabilities: Capabilities,
    pub accepts: Accepts,
}

/// A plugin linked for its version: makes fresh instances.
#[async_trait]
pub(super) trait Contract: Send + Sync {
    fn version(&self) -> &'static str;
    fn engine(&self) -> &wasmtime::Engine;
    async fn instantiate(&self, store: &mut Store<CallState>)
    -> wasmtime::Result<Box<dyn Exports>>;
}

/// The result of one export call: a trap (`Err`), or the plugin's answer.
pub(super) type Answer<T> = wasmtime::Result<Result<T, ProviderError>>;

/// One instance's exports, in the host's types. A call the version has no export for answers
/// what that version's plugins would mean by it, or `unsupported`.
#[async_trait]
pub(super) trait Exports: Send + Sync {
    async fn info(&self, store: &mut Store<CallState>) -> wasmtime::Result<PluginInfo>;
    async fn ping(&self, store: &mut Store<CallState>) -> Answer<Health>;
    async fn start_search(
        &self,
        store: &mut Store<CallState>,
        query: &TrackQuery,
    ) -> Answer<String>;
    async fn poll_search(&self, store: &mut Store<CallState>, id: &str) -> Answer<SearchProgress>;
    async fn end_search(&self, store: &mut Store<CallState>, id: &str) -> Answer<()>;
    async fn enqueue(&self, store: &mut Store<CallState>, source: &Source) -> Answer<Enqueued>;
    async fn list_transfers(&self, store: &mut Store<CallState>) -> Answer<Vec<Transfer>>;
    async fn cancel(&self, store: &mut Store<CallState>, transfer: &TransferRef) -> Answer<()>;
    async fn remove(&self, store: &mut Store<CallState>, transfer: &TransferRef) -> Answer<()>;
    async fn pause(&self, store: &mut Store<CallState>, transfer: &TransferRef) -> Answer<()>;
    async fn resume(&self, store: &mut Store<CallState>, transfer: &TransferRef) -> Answer<()>;
    async fn queue_position(
        &self,
        store: &mut Store<CallState>,
        transfer: &TransferRef,
    ) -> Answer<Option<u32>>;
}

/// Implements a version's `http`, `config`, `log` and `clock` imports over `imports`: the
/// generated types have the same shape in every version, only their paths differ.
macro_rules! host_imports {
    ($v:ident) => {
        impl $v::tributary::provider::types::Host for CallState {}

        impl $v::tributary::provider::http::Host for CallState {
            async fn send(
                &mut self,
                req: $v::tributary::provider::http::Request,
            ) -> wasmtime::Result<
                Result<
                    $v::tributary::provider::http::Response,
                    $v::tributary::provider::http::HttpError,
                >,
            > {
                use $crate::plugins::imports::{self, HttpError as E};
                use $v::tributary::provider::http as wit;
                let req = imports::HttpRequest {
                    method: req.method,
                    url: req.url,
                    headers: req.headers,
                    body: req.body,
                    timeout_ms: req.timeout_ms,
                };
                Ok(match imports::send(self, req).await? {
                    Ok(r) => Ok(wit::Response {
                        status: r.status,
                        headers: r.headers,
                        body: r.body,
                    }),
                    Err(E::Denied(m)) => Err(wit::HttpError::Denied(m)),
                    Err(E::InvalidRequest(m)) => Err(wit::HttpError::InvalidRequest(m)),
                    Err(E::Unreachable(m)) => Err(wit::HttpError::Unreachable(m)),
                    Err(E::TimedOut(m)) => Err(wit::HttpError::TimedOut(m)),
                    Err(E::TooLarge(n)) => Err(wit::HttpError::TooLarge(n)),
                })
            }
        }

        impl $v::tributary::provider::config::Host for CallState {
            fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
                Ok($crate::plugins::imports::config_get(self, &key))
            }
        }

        impl $v::tributary::provider::log::Host for CallState {
            fn log(
                &mut self,
                level: $v::tributary::provider::log::Level,
                message: String,
            ) -> wasmtime::Result<()> {
                use $crate::plugins::imports::LogLevel as L;
                use $v::tributary::provider::log::Level;
                let level = match level {
                    Level::Trace => L::Trace,
                    Level::Debug => L::Debug,
                    Level::Info => L::Info,
                    Level::Warn => L::Warn,
                    Level::Error => L::Error,
                };
                $crate::plugins::imports::log(self, level, &message);
                Ok(())
            }
        }

        impl $v::tributary::provider::clock::Host for CallState {
            fn now_ms(&mut self) -> wasmtime::Result<u64> {
                Ok($crate::plugins::imports::now_ms())
            }
        }
    };
}
pub(super) use host_imports;

/// A speed a plugin reports, made safe to store and average.
pub(super) fn finite_speed(speed: f64) -> f64 {
    if speed.is_finite() {
        speed.max(0.0)
    } else {
        0.0
    }
}

/// A provider timestamp (ms since the epoch), when it is one.
/// Years past 9999 are no timestamp, as with the `time` crate before: RFC 3339 has four-digit
/// years, and chrono would write `+10000-…`.
pub(super) fn time_from_ms(ms: u64) -> Option<chrono::DateTime<chrono::Utc>> {
    use chrono::Datelike;
    let t = chrono::DateTime::from_timestamp_millis(i64::try_from(ms).ok()?)?;
    (t.year() <= 9999).then_some(t)
}
