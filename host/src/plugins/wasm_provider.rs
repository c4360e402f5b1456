//! A loaded plugin as an engine [`Provider`]: every call gets a fresh instance in a fresh
//! store, so a trap or a timeout never leaves a broken instance behind.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use wasmtime::Store;

use super::bindings::{Contract, Exports, PluginInfo};
use super::call_stats::{CallStats, ExportSummary};
use super::quarantine::Quarantine;
use super::sandbox::{CallState, PluginContext, new_store};
use super::untrusted::Cleaner;
use crate::engine::provider::{
    Enqueued, Health, Provider, ProviderDescriptor, ProviderError, SearchProgress, Source,
    TrackQuery, Transfer, TransferRef, TrapKind,
};

/// Slack on top of the call deadline for the outer timeout, which only fires when the guest is
/// stuck in a host import (the epoch deadline cannot interrupt host code).
const OUTER_TIMEOUT_SLACK: Duration = Duration::from_millis(250);

pub struct WasmProvider {
    descriptor: ProviderDescriptor,
    contract: Box<dyn Contract>,
    context: Arc<PluginContext>,
    quarantine: Quarantine,
    stats: CallStats,
}

impl std::fmt::Debug for WasmProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WasmProvider")
            .field("descriptor", &self.descriptor)
            .finish_non_exhaustive()
    }
}

impl WasmProvider {
    pub(super) fn new(
        descriptor: ProviderDescriptor,
        contract: Box<dyn Contract>,
        context: Arc<PluginContext>,
    ) -> Self {
        Self {
            descriptor,
            contract,
            context,
            quarantine: Quarantine::default(),
            stats: CallStats::default(),
        }
    }

    /// What the plugin said of itself at load: its capabilities and the sources it takes.
    pub(super) fn adopt(&mut self, info: &PluginInfo) {
        self.descriptor.capabilities = info.capabilities;
        self.descriptor.accepts = info.accepts.clone();
    }

    /// Calls, errors and durations per export since the plugin was loaded.
    pub fn call_stats(&self) -> Vec<ExportSummary> {
        self.stats.summary()
    }

    /// `Some(why)` while crash-loop protection keeps the plugin from being called.
    pub fn quarantined(&self) -> Option<String> {
        self.quarantine.check().err()
    }

    /// The `tributary:provider` version the plugin was built against.
    pub fn api_version(&self) -> &'static str {
        self.contract.version()
    }

    /// A fresh store and instance for one call.
    async fn begin(&self) -> Result<(Store<CallState>, Box<dyn Exports>), ProviderError> {
        self.quarantine
            .check()
            .map_err(ProviderError::PluginUnavailable)?;
        let mut store = new_store(self.contract.engine(), self.context.clone());
        let instantiated = self.contract.instantiate(&mut store).await;
        match instantiated {
            Ok(bindings) => Ok((store, bindings)),
            Err(e) => {
                self.quarantine.record(true);
                Err(self.classify(&store, "instantiate", &e))
            }
        }
    }

    fn classify(
        &self,
        store: &Store<CallState>,
        op: &str,
        error: &wasmtime::Error,
    ) -> ProviderError {
        let stderr = String::from_utf8_lossy(&store.data().stderr.contents())
            .trim()
            .to_owned();
        let chain = format!("{error:#}");
        let kind = match error.downcast_ref::<wasmtime::Trap>() {
            Some(wasmtime::Trap::Interrupt) => TrapKind::Deadline,
            _ if chain.contains("forcing trap when growing memory")
                || stderr.contains("memory allocation of") =>
            {
                TrapKind::MemoryLimit
            }
            _ => TrapKind::Crash,
        };
        // The root cause is the trap itself ("wasm `unreachable` instruction executed"); the
        // outer layers only hold a wasm backtrace.
        let cause = error.root_cause().to_string();
        let detail = match guest_message(&stderr) {
            Some(said) => format!(
                "{op}: {}; plugin said: {}",
                first_line(&cause),
                super::imports::sanitize_log_line(&said, &self.context.secrets)
            ),
            None => format!("{op}: {}", first_line(&cause)),
        };
        tracing::warn!(plugin = %self.descriptor.id, kind = %kind, "plugin trapped: {detail}");
        if !stderr.is_empty() {
            tracing::debug!(plugin = %self.descriptor.id, "plugin stderr: {}", super::imports::sanitize_log_line(&stderr, &self.context.secrets));
        }
        ProviderError::Trapped {
            kind,
            message: detail,
        }
    }
}

/// What a Rust guest printed when it died: its panic line and the message after it (std puts
/// the message on the next line), or else the last line it wrote.
fn guest_message(stderr: &str) -> Option<String> {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    match lines.iter().position(|l| l.contains("panicked at")) {
        Some(i) => Some(
            lines[i..]
                .iter()
                .take(2)
                .copied()
                .collect::<Vec<_>>()
                .join(" "),
        ),
        None => lines.last().map(|l| (*l).to_owned()),
    }
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or(text)
}

/// Calls one export: fresh instance, deadline, typed errors.
macro_rules! call_export {
    ($self:ident, $op:literal, |$b:ident, $s:ident| $call:expr) => {{
        let started = std::time::Instant::now();
        let outcome = async {
            let (mut store, $b) = $self.begin().await?;
            let result = {
                let $s = &mut store;
                let fut = $call;
                // The call borrows the store mutably; classification reads its stderr afterwards.
                let limit = $self.context.limits.call_timeout + OUTER_TIMEOUT_SLACK;
                tokio::time::timeout(limit, fut).await
            };
            $self.conclude(&store, $op, result)
        }
        .await;
        $self.stats.record($op, started.elapsed(), &outcome);
        outcome
    }};
}

/// Calls one export that answers `result<T, provider-error>`: our configuration's refusal
/// during the call, the sandbox's verdict and the plugin's answer, in that order.
macro_rules! call_provider {
    ($self:ident, $op:literal, |$b:ident, $s:ident| $call:expr) => {{
        let started = std::time::Instant::now();
        let outcome = async {
            let (mut store, $b) = $self.begin().await?;
            let result = {
                let $s = &mut store;
                let fut = $call;
                let limit = $self.context.limits.call_timeout + OUTER_TIMEOUT_SLACK;
                tokio::time::timeout(limit, fut).await
            };
            let denied = store.data().denied.clone();
            let outcome = $self.conclude(&store, $op, result);
            $self.settle(denied, outcome)
        }
        .await;
        $self.stats.record($op, started.elapsed(), &outcome);
        outcome
    }};
}

impl WasmProvider {
    fn conclude<R>(
        &self,
        store: &Store<CallState>,
        op: &'static str,
        result: Result<wasmtime::Result<R>, tokio::time::error::Elapsed>,
    ) -> Result<R, ProviderError> {
        self.quarantine.record(!matches!(result, Ok(Ok(_))));
        match result {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(self.classify(store, op, &e)),
            Err(_) => {
                let message = format!(
                    "{op} did not return within {:?}",
                    self.context.limits.call_timeout
                );
                tracing::warn!(plugin = %self.descriptor.id, "{message}");
                Err(ProviderError::Trapped {
                    kind: TrapKind::Deadline,
                    message,
                })
            }
        }
    }

    /// Everything the plugin says passes through this before the engine sees it.
    fn cleaner(&self) -> Cleaner<'_> {
        Cleaner::new(&self.descriptor.id, &self.context.secrets)
    }

    /// Flattens a call's outcome (the host's verdict, then the plugin's answer) and cleans the
    /// error's message, which came from the plugin. When the host refused one of the call's
    /// requests because the operator has not granted its origin, the failure is ours, not the
    /// provider's, whatever the plugin made of it.
    fn settle<T>(
        &self,
        denied: Option<String>,
        outcome: Result<Result<T, ProviderError>, ProviderError>,
    ) -> Result<T, ProviderError> {
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(_)) if denied.is_some() => Err(ProviderError::Misconfigured(
                self.cleaner().message(denied.unwrap_or_default()),
            )),
            Ok(Err(e)) | Err(e) => Err(self.cleaner().error(e)),
        }
    }

    /// Asks the plugin who it is (used once at load).
    pub(super) async fn info(&self) -> Result<PluginInfo, ProviderError> {
        call_export!(self, "info", |b, s| b.info(s))
    }
}

#[async_trait]
impl Provider for WasmProvider {
    fn descriptor(&self) -> &ProviderDescriptor {
        &self.descriptor
    }

    async fn ping(&self) -> Result<Health, ProviderError> {
        let health = call_provider!(self, "ping", |b, s| b.ping(s))?;
        Ok(self.cleaner().health(health))
    }

    async fn start_search(&self, query: &TrackQuery) -> Result<String, ProviderError> {
        let id = call_provider!(self, "start-search", |b, s| b.start_search(s, query))?;
        self.cleaner().id(id, "search")
    }

    async fn poll_search(&self, search_id: &str) -> Result<SearchProgress, ProviderError> {
        let progress = call_provider!(self, "poll-search", |b, s| b.poll_search(s, search_id))?;
        Ok(self.cleaner().search_progress(progress))
    }

    async fn end_search(&self, search_id: &str) -> Result<(), ProviderError> {
        call_provider!(self, "end-search", |b, s| b.end_search(s, search_id))
    }

    async fn enqueue(&self, source: &Source) -> Result<Enqueued, ProviderError> {
        let mut enqueued = call_provider!(self, "enqueue", |b, s| b.enqueue(s, source))?;
        enqueued.external_id = self.cleaner().id(enqueued.external_id, "transfer")?;
        Ok(enqueued)
    }

    async fn list_transfers(&self) -> Result<Vec<Transfer>, ProviderError> {
        let transfers = call_provider!(self, "list-transfers", |b, s| b.list_transfers(s))?;
        Ok(self.cleaner().transfers(transfers))
    }

    async fn cancel(&self, transfer: &TransferRef) -> Result<(), ProviderError> {
        call_provider!(self, "cancel", |b, s| b.cancel(s, transfer))
    }

    async fn remove(&self, transfer: &TransferRef) -> Result<(), ProviderError> {
        call_provider!(self, "remove-transfer", |b, s| b.remove(s, transfer))
    }

    async fn pause(&self, transfer: &TransferRef) -> Result<(), ProviderError> {
        call_provider!(self, "pause-transfer", |b, s| b.pause(s, transfer))
    }

    async fn resume(&self, transfer: &TransferRef) -> Result<(), ProviderError> {
        call_provider!(self, "resume-transfer", |b, s| b.resume(s, transfer))
    }

    async fn queue_position(&self, transfer: &TransferRef) -> Result<Option<u32>, ProviderError> {
        call_provider!(self, "queue-position", |b, s| b.queue_position(s, transfer))
    }
}
