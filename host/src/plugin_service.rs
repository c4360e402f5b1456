//! The plugins in service: the registry of plugin folders, the engine it feeds, and what starts a
//! reload (the API, SIGHUP, a change in the plugins directory).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use notify::event::{AccessKind, AccessMode};
use notify::{Event, EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use tokio::sync::{mpsc, watch};

use crate::engine::manager::DownloadManager;
use crate::engine::provider::Provider;
use crate::engine::provider_slot::ProviderOptions;
use crate::plugins::{PluginEntry, PluginRegistry, ReloadReport};

/// File events closer together than this are one change: copying a wasm file writes it in
/// several steps.
const DEBOUNCE: Duration = Duration::from_millis(300);

/// Whether a file event changes what a plugin folder holds. Reading files (which a reload
/// itself does) is not a change; closing a file written to is.
fn changes_files(event: &Event) -> bool {
    match event.kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) | EventKind::Other => false,
        EventKind::Any | EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) => true,
    }
}

pub struct PluginService {
    registry: PluginRegistry,
    /// Reloads since start (the first load included).
    reloads: std::sync::atomic::AtomicU64,
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
            reloads: std::sync::atomic::AtomicU64::new(1),
            engine,
            options,
        }
    }

    /// Reloads the plugins directory and hands what changed to the engine. Calls in flight
    /// finish on the instance they started on; downloads keep their state, which lives here.
    pub async fn reload(&self) -> ReloadReport {
        let report = self.registry.reload().await;
        apply(&self.engine, &self.options, &report);
        self.reloads
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        report
    }

    /// Reloads since start, the first load included.
    pub fn reloads(&self) -> u64 {
        self.reloads.load(std::sync::atomic::Ordering::Relaxed)
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
        let (changed, mut changes) = mpsc::unbounded_channel::<()>();
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
                    Some(()) = changes.recv() => {
                        // Wait until the files have been quiet for a moment: one reload for
                        // a copy written in several steps.
                        while let Ok(Some(())) = tokio::time::timeout(DEBOUNCE, changes.recv()).await {}
                        "the plugins directory changed"
                    }
                    Some(()) = next_hangup(&mut hangup) => "SIGHUP",
                };
                tracing::info!("reloading plugins: {why}");
                let report = self.reload().await;
                log_report(&report);
            }
        })
    }

    fn watch_dir(&self, changed: mpsc::UnboundedSender<()>) -> Option<RecommendedWatcher> {
        let dir = self.registry.dir().to_path_buf();
        let watcher = notify::recommended_watcher(move |event: notify::Result<Event>| {
            if event.is_ok_and(|e| changes_files(&e)) {
                let _ = changed.send(());
            }
        });
        let mut watcher = match watcher {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(
                    "cannot watch the plugins directory: {e}; reload with SIGHUP or the API"
                );
                return None;
            }
        };
        if let Err(e) = watcher.watch(&dir, RecursiveMode::Recursive) {
            tracing::warn!(
                "cannot watch {}: {e}; reload with SIGHUP or the API",
                dir.display()
            );
            return None;
        }
        tracing::info!("watching {} for plugin changes", dir.display());
        Some(watcher)
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
