//! One provider as the engine holds it: the plugin (which a reload may swap, or a removal take
//! away), its circuit breaker, its call gates, and the turns that serialise its searches and
//! enqueues. The slot outlives the plugin in it, so downloads and health keep their provider.

use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use tokio::sync::{Semaphore, SemaphorePermit};

use super::breaker::Breaker;
use super::call_gates::CallGates;
use super::provider::{Provider, ProviderDescriptor};

/// What the operator set for one provider, beside the plugin's own config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderOptions {
    /// Remove a transfer from the provider's list once its download has recorded how it ended
    /// (like Lidarr's "remove completed downloads").
    pub remove_finished: bool,
    /// Searches and enqueues in flight at this provider at once (slskd allows one search and
    /// two enqueues; more get 429).
    pub search_turns: usize,
    pub enqueue_turns: usize,
    /// A digest of the grant and config the provider was loaded with: a breaker persisted under
    /// another one describes another setup and is reset at start.
    pub config_fingerprint: String,
    /// How the provider's paths read on this machine: (its prefix, ours), first match wins.
    pub path_map: Vec<(String, String)>,
}

impl Default for ProviderOptions {
    fn default() -> Self {
        ProviderOptions {
            remove_finished: true,
            search_turns: 1,
            enqueue_turns: 1,
            config_fingerprint: String::new(),
            path_map: Vec::new(),
        }
    }
}

pub(super) struct ProviderSlot {
    id: String,
    plugin: RwLock<Option<Arc<dyn Provider>>>,
    /// The last descriptor seen, kept when the plugin is gone (health still names it).
    descriptor: RwLock<ProviderDescriptor>,
    options: RwLock<ProviderOptions>,
    breaker: Mutex<Breaker>,
    gates: Mutex<CallGates>,
    /// Why our own configuration refuses this provider's calls, until a call succeeds.
    config_problem: Mutex<Option<String>>,
    search_turns: Semaphore,
    enqueue_turns: Semaphore,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ProviderSlot {
    pub fn new(provider: Arc<dyn Provider>, options: ProviderOptions, breaker: Breaker) -> Self {
        let descriptor = provider.descriptor().clone();
        ProviderSlot {
            id: descriptor.id.clone(),
            search_turns: Semaphore::new(options.search_turns.max(1)),
            enqueue_turns: Semaphore::new(options.enqueue_turns.max(1)),
            plugin: RwLock::new(Some(provider)),
            descriptor: RwLock::new(descriptor),
            options: RwLock::new(options),
            breaker: Mutex::new(breaker),
            gates: Mutex::new(CallGates::default()),
            config_problem: Mutex::new(None),
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The plugin serving this provider now; `None` while it is not loaded.
    pub fn provider(&self) -> Option<Arc<dyn Provider>> {
        self.plugin
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn descriptor(&self) -> ProviderDescriptor {
        self.descriptor
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn options(&self) -> ProviderOptions {
        self.options
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Puts a (new version of the) plugin in; calls in flight finish on the old one.
    pub fn install(&self, provider: Arc<dyn Provider>, options: ProviderOptions) {
        *self.descriptor.write().unwrap_or_else(|p| p.into_inner()) = provider.descriptor().clone();
        *self.options.write().unwrap_or_else(|p| p.into_inner()) = options;
        *self.plugin.write().unwrap_or_else(|p| p.into_inner()) = Some(provider);
        self.gates().reset();
        *lock(&self.config_problem) = None;
    }

    /// Takes the plugin out: its downloads wait until one is installed again.
    pub fn uninstall(&self) {
        *self.plugin.write().unwrap_or_else(|p| p.into_inner()) = None;
    }

    pub fn breaker(&self) -> MutexGuard<'_, Breaker> {
        lock(&self.breaker)
    }

    pub fn gates(&self) -> MutexGuard<'_, CallGates> {
        lock(&self.gates)
    }

    pub fn config_problem(&self) -> Option<String> {
        lock(&self.config_problem).clone()
    }

    pub fn set_config_problem(&self, problem: Option<String>) {
        *lock(&self.config_problem) = problem;
    }

    /// Waits for this provider's turn to search (bounded by its search turns).
    pub async fn search_turn(&self) -> Option<SemaphorePermit<'_>> {
        self.search_turns.acquire().await.ok()
    }

    /// Waits for this provider's turn to enqueue.
    pub async fn enqueue_turn(&self) -> Option<SemaphorePermit<'_>> {
        self.enqueue_turns.acquire().await.ok()
    }
}
