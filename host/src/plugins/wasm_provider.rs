//! A loaded plugin as an engine [`Provider`]: every call gets a fresh instance in a fresh
//! store, so a trap or a timeout never leaves a broken instance behind.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use wasmtime::Store;

use super::bindings::latest::tributary::provider::types::ProviderError as WitProviderError;
use super::bindings::latest::{Provider as Bindings, ProviderPre};
use super::quarantine::Quarantine;
use super::sandbox::{CallState, PluginContext, new_store};
use super::untrusted::Cleaner;
use crate::engine::provider::{
    Health, Provider, ProviderDescriptor, ProviderError, SearchProgress, Source, TrackQuery,
    Transfer, TrapKind,
};

/// Slack on top of the call deadline for the outer timeout, which only fires when the guest is
/// stuck in a host import (the epoch deadline cannot interrupt host code).
const OUTER_TIMEOUT_SLACK: Duration = Duration::from_millis(250);

pub struct WasmProvider {
    descriptor: ProviderDescriptor,
    pre: ProviderPre<CallState>,
    context: Arc<PluginContext>,
    quarantine: Quarantine,
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
        pre: ProviderPre<CallState>,
        context: Arc<PluginContext>,
    ) -> Self {
        Self {
            descriptor,
            pre,
            context,
            quarantine: Quarantine::default(),
        }
    }

    pub(super) fn set_capabilities(&mut self, capabilities: crate::engine::provider::Capabilities) {
        self.descriptor.capabilities = capabilities;
    }

    /// A fresh store and instance for one call.
    async fn begin(&self) -> Result<(Store<CallState>, Bindings), ProviderError> {
        self.quarantine
            .check()
            .map_err(ProviderError::PluginUnavailable)?;
        let mut store = new_store(self.pre.engine(), self.context.clone());
        let instantiated = self.pre.instantiate_async(&mut store).await;
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
        let (mut store, $b) = $self.begin().await?;
        let result = {
            let $s = &mut store;
            let fut = $call;
            // The call borrows the store mutably; classification reads its stderr afterwards.
            let limit = $self.context.limits.call_timeout + OUTER_TIMEOUT_SLACK;
            tokio::time::timeout(limit, fut).await
        };
        $self.conclude(&store, $op, result)
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
    /// error's message, which came from the plugin.
    fn settle<T>(
        &self,
        outcome: Result<Result<T, WitProviderError>, ProviderError>,
    ) -> Result<T, ProviderError> {
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(self.cleaner().error(e.into())),
            Err(e) => Err(self.cleaner().error(e)),
        }
    }

    /// Asks the plugin who it is (used once at load).
    pub(super) async fn info(
        &self,
    ) -> Result<super::bindings::latest::tributary::provider::types::PluginInfo, ProviderError>
    {
        call_export!(self, "info", |b, s| b.call_info(s))
    }
}

#[async_trait]
impl Provider for WasmProvider {
    fn descriptor(&self) -> &ProviderDescriptor {
        &self.descriptor
    }

    async fn ping(&self) -> Result<Health, ProviderError> {
        let health = self.settle(call_export!(self, "ping", |b, s| b.call_ping(s)))?;
        Ok(self.cleaner().health(health.into()))
    }

    async fn start_search(&self, query: &TrackQuery) -> Result<String, ProviderError> {
        let query = query.into();
        let id =
            self.settle(call_export!(self, "start-search", |b, s| b.call_start_search(s, &query)))?;
        self.cleaner().id(id, "search")
    }

    async fn poll_search(&self, search_id: &str) -> Result<SearchProgress, ProviderError> {
        let progress = self
            .settle(call_export!(self, "poll-search", |b, s| b.call_poll_search(s, search_id)))?;
        Ok(self.cleaner().search_progress(progress.into()))
    }

    async fn enqueue(&self, source: &Source) -> Result<String, ProviderError> {
        let source = source.into();
        let id = self.settle(call_export!(self, "enqueue", |b, s| b.call_enqueue(s, &source)))?;
        self.cleaner().id(id, "transfer")
    }

    async fn list_transfers(&self) -> Result<Vec<Transfer>, ProviderError> {
        let transfers =
            self.settle(call_export!(self, "list-transfers", |b, s| b.call_list_transfers(s)))?;
        Ok(self
            .cleaner()
            .transfers(transfers.into_iter().map(Into::into).collect()))
    }

    async fn cancel(
        &self,
        external_id: &str,
        peer: &str,
        remove: bool,
    ) -> Result<(), ProviderError> {
        self.settle(call_export!(self, "cancel", |b, s| b.call_cancel(
            s,
            external_id,
            peer,
            remove
        )))
    }

    async fn clear_finished(&self) -> Result<(), ProviderError> {
        self.settle(call_export!(self, "clear-finished", |b, s| b.call_clear_finished(s)))
    }
}
