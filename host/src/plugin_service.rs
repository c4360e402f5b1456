//! The plugins in service: the registry of plugin folders, the engine it feeds, and what starts a
//! reload (the API, SIGHUP, a change in the plugins directory).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use notify_debouncer_mini::notify::RecursiveMode;
use notify_debouncer_mini::{DebounceEventResult, new_debouncer};
use tokio::sync::{mpsc, watch};

use crate::engine::manager::DownloadManager;
use crate::engine::provider::Provider;
use crate::engine::provider_slot::ProviderOptions;
use crate::plugins::{PluginEntry, PluginRegistry, ReloadReport};

/// File events closer together than this are one change: copying a wasm file writes it in
/// several steps.
const DEBOUNCE: Duration = Duration::from_millis(300);

pub struct PluginService {
    registry: PluginRegistry,
    engine: DownloadManager,
    options: BTreeMap<String, ProviderOptions>,
}

impl PluginService {
    pub fn new(
        registry: PluginRegistry,
        engine: DownloadManager,
        options: BTreeMap<String, ProviderOptions>,
    ) -> Self {
        Self {
            registry,
            engine,
            options,
        }
    }

    /// Reloads the plugins directory and hands what changed to the engine. Calls in flight
    /// finish on the instance they started on; downloads keep their state, which lives here.
    pub async fn reload(&self) -> ReloadReport {
        let report = self.registry.reload().await;
        apply(&self.engine, &self.options, &report);
        report
    }

    /// The plugins directory.
    pub fn dir(&self) -> &std::path::Path {
        self.registry.dir()
    }

    pub fn list(&self) -> Vec<PluginEntry> {
        self.registry.list()
    }

    pub fn get(&self, id: &str) -> Option<PluginEntry> {
        self.registry.get(id)
    }

    /// Reloads on SIGHUP and, when `watch_dir` is set, on changes in the plugins directory,
    /// until `stop` fires.
    pub fn spawn_triggers(
        self: Arc<Self>,
        watch_dir: bool,
        mut stop: watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let (changed, mut changes) = mpsc::channel::<()>(1);
        // The watcher lives as long as this task; dropping it stops watching.
        let watcher = if watch_dir {
            self.watch_dir(changed.clone())
        } else {
            None
        };
        tokio::spawn(async move {
            let _watcher = watcher;
            let mut hangup = hangup_signals();
            loop {
                let why = tokio::select! {
                    _ = stop.changed() => return,
                    Some(()) = changes.recv() => "the plugins directory changed",
                    Some(()) = next_hangup(&mut hangup) => "SIGHUP",
                };
                tracing::info!("reloading plugins: {why}");
                let report = self.reload().await;
                log_report(&report);
            }
        })
    }

    fn watch_dir(
        &self,
        changed: mpsc::Sender<()>,
    ) -> Option<notify_debouncer_mini::Debouncer<notify_debouncer_mini::notify::RecommendedWatcher>>
    {
        let dir = self.registry.dir().to_path_buf();
        let debouncer = new_debouncer(DEBOUNCE, move |events: DebounceEventResult| {
            if events.is_ok_and(|e| !e.is_empty()) {
                // A full channel already holds a pending reload, which will see this change.
                let _ = changed.try_send(());
            }
        });
        let mut debouncer = match debouncer {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(
                    "cannot watch the plugins directory: {e}; reload with SIGHUP or the API"
                );
                return None;
            }
        };
        if let Err(e) = debouncer.watcher().watch(&dir, RecursiveMode::Recursive) {
            tracing::warn!(
                "cannot watch {}: {e}; reload with SIGHUP or the API",
                dir.display()
            );
            return None;
        }
        tracing::info!("watching {} for plugin changes", dir.display());
        Some(debouncer)
    }
}

/// Hands a reload's changes to the engine.
pub fn apply(
    engine: &DownloadManager,
    options: &BTreeMap<String, ProviderOptions>,
    report: &ReloadReport,
) {
    for provider in &report.installed {
        let id = provider.descriptor().id.clone();
        let options = options.get(&id).cloned().unwrap_or_default();
        if let Err(e) = engine.install_provider(provider.clone() as Arc<dyn Provider>, options) {
            tracing::error!(plugin = %id, "the engine could not take the plugin: {e}");
        }
    }
    for id in &report.removed {
        engine.uninstall_provider(id);
    }
}

fn log_report(report: &ReloadReport) {
    for (id, (ms, cache)) in &report.load_ms {
        tracing::info!(plugin = %id, "serving after {ms:.1} ms ({cache:?})");
    }
    for (id, reason) in &report.refused {
        tracing::warn!(plugin = %id, "refused: {reason}");
    }
    tracing::info!(
        "plugins reloaded in {:.1} ms: {} swapped in, {} removed, {} refused, {} unchanged",
        report.took_ms,
        report.installed.len(),
        report.removed.len(),
        report.refused.len(),
        report.unchanged.len()
    );
}

#[cfg(unix)]
type Hangup = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangup = Option<()>;

fn hangup_signals() -> Hangup {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        signal(SignalKind::hangup())
            .inspect_err(|e| tracing::warn!("cannot listen for SIGHUP: {e}"))
            .ok()
    }
    #[cfg(not(unix))]
    {
        None
    }
}

async fn next_hangup(hangup: &mut Hangup) -> Option<()> {
    #[cfg(unix)]
    if let Some(signal) = hangup {
        return signal.recv().await;
    }
    let _ = hangup;
    std::future::pending().await
}
