//! The live views: one producer rebuilds each window on the queue after changes (coalesced)
//! and at least every 2 s, while someone listens to it. Every client of a window receives the
//! same bytes: a watch channel holds only the newest build, so a slow client skips ahead
//! (a delta client catches up from the window's ring, or gets a snapshot). Nothing here calls
//! a provider.

mod window;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

pub use window::{Tick, Window};

use crate::engine::manager::DownloadManager;

/// Longest quiet gap between two updates.
pub const HEARTBEAT: Duration = Duration::from_secs(2);
/// Changes closer together than this go out as one update.
pub const COALESCE: Duration = Duration::from_millis(150);
/// Browsers reconnect after this long.
pub const RETRY_MS: u64 = 3000;
/// The rows an event carries unless the client asks for another limit, and the most it may.
pub const DEFAULT_LIMIT: usize = 500;
pub const MAX_LIMIT: usize = 5000;
/// A window nobody listens to is kept this long, so a client that reconnects finds its ring.
const IDLE_KEEP: Duration = Duration::from_secs(60);
/// Distinct limits in use at once: each is a build per change, so their number is bounded.
pub const MAX_WINDOWS: usize = 16;

struct Kept {
    window: Arc<Window>,
    last_listened: Instant,
}

#[derive(Clone)]
pub struct LiveFeed {
    windows: Arc<Mutex<BTreeMap<usize, Kept>>>,
    /// Event ids increase across every window, so an id never means two builds.
    next_id: Arc<AtomicU64>,
}

impl LiveFeed {
    pub fn new() -> LiveFeed {
        LiveFeed {
            windows: Arc::new(Mutex::new(BTreeMap::new())),
            next_id: Arc::new(AtomicU64::new(1)),
        }
    }

    fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// The window of `limit` rows, made on first use; `None` when `MAX_WINDOWS` other limits
    /// are in use.
    pub fn window(&self, limit: usize) -> Option<Arc<Window>> {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if !windows.contains_key(&limit) && windows.len() >= MAX_WINDOWS {
            return None;
        }
        let kept = windows.entry(limit).or_insert_with(|| Kept {
            window: Arc::new(Window::new(limit)),
            last_listened: Instant::now(),
        });
        kept.last_listened = Instant::now();
        Some(kept.window.clone())
    }

    /// Connected SSE clients, over every window.
    pub fn clients(&self) -> usize {
        self.windows
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .map(|k| k.window.clients())
            .sum()
    }

    /// The window's newest build if it still shows the engine as it is; otherwise one built now
    /// (builds happen only while someone listens, so after an idle spell the last one is old).
    pub fn current(&self, engine: &DownloadManager, window: &Window) -> Arc<Tick> {
        window.current(engine, || self.next_id())
    }

    /// The windows someone listens to; forgets those nobody has listened to for a while.
    fn listened(&self) -> Vec<Arc<Window>> {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        for kept in windows.values_mut() {
            if kept.window.clients() > 0 {
                kept.last_listened = now;
            }
        }
        windows.retain(|_, k| now.duration_since(k.last_listened) < IDLE_KEEP);
        windows
            .values()
            .filter(|k| k.window.clients() > 0)
            .map(|k| k.window.clone())
            .collect()
    }

    /// Runs until `stop` fires: rebuilds on engine changes (coalesced) and every heartbeat.
    pub async fn run(self, engine: DownloadManager, mut stop: watch::Receiver<bool>) {
        let mut changes = engine.subscribe();
        loop {
            tokio::select! {
                changed = changes.changed() => {
                    if changed.is_err() { return; }
                    tokio::time::sleep(COALESCE).await;
                    changes.mark_unchanged();
                }
                _ = tokio::time::sleep(HEARTBEAT) => {}
                _ = stop.changed() => return,
            }
            for window in self.listened() {
                window.publish(&engine, self.next_id());
            }
        }
    }
}

impl Default for LiveFeed {
    fn default() -> Self {
        Self::new()
    }
}
