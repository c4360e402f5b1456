//! The live view: one producer builds `{downloads, stats, timestamp}` after changes (coalesced)
//! and at least every 2 s, serialises it once into an SSE frame, and every client receives the
//! same bytes. A watch channel holds only the newest frame, so a slow client skips ahead
//! instead of queueing old ones. Nothing here calls a provider.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;
use tokio::sync::watch;

use crate::engine::manager::DownloadManager;
use crate::view::dto::{QueueStatsDto, UnifiedDownload, timestamp};

/// Longest quiet gap between two updates.
pub const HEARTBEAT: Duration = Duration::from_secs(2);
/// Changes closer together than this go out as one update.
pub const COALESCE: Duration = Duration::from_millis(150);
/// Browsers reconnect after this long.
pub const RETRY_MS: u64 = 3000;

#[derive(Debug, Clone)]
pub struct Frame {
    pub id: u64,
    pub bytes: Bytes,
    /// The engine's change generation the frame shows, and when it was built: a frame built
    /// before a change, or before an idle spell, is not handed to a new client.
    generation: u64,
    built: Instant,
}

impl Frame {
    fn is_current(&self, engine: &DownloadManager) -> bool {
        self.id != 0 && self.generation == engine.generation() && self.built.elapsed() < HEARTBEAT
    }
}

#[derive(Serialize)]
struct Update<'a> {
    downloads: &'a [UnifiedDownload],
    stats: QueueStatsDto,
    timestamp: String,
}

#[derive(Clone)]
pub struct LiveFeed {
    frames: watch::Sender<Arc<Frame>>,
    /// One rebuild at a time: many clients arriving together share it.
    building: Arc<Mutex<()>>,
}

impl LiveFeed {
    pub fn new() -> LiveFeed {
        let (frames, _) = watch::channel(Arc::new(Frame {
            id: 0,
            bytes: Bytes::new(),
            generation: 0,
            built: Instant::now(),
        }));
        LiveFeed {
            frames,
            building: Arc::new(Mutex::new(())),
        }
    }

    pub fn subscribe(&self) -> watch::Receiver<Arc<Frame>> {
        self.frames.subscribe()
    }

    /// Connected SSE clients.
    pub fn clients(&self) -> usize {
        self.frames.receiver_count()
    }

    /// The newest frame if it still shows the engine as it is; otherwise one built now (frames
    /// are only built while someone listens, so after an idle spell the last one is old).
    pub fn current(&self, engine: &DownloadManager) -> Arc<Frame> {
        let frame = self.frames.borrow().clone();
        if frame.is_current(engine) {
            return frame;
        }
        let _turn = self.building.lock().unwrap_or_else(|e| e.into_inner());
        let frame = self.frames.borrow().clone();
        if frame.is_current(engine) {
            frame
        } else {
            self.publish(engine)
        }
    }

    fn publish(&self, engine: &DownloadManager) -> Arc<Frame> {
        let id = self.frames.borrow().id + 1;
        // Read before building, so that a change during the build makes the frame stale.
        let generation = engine.generation();
        let built = Instant::now();
        let frame = match build(engine, id) {
            Ok(bytes) => Arc::new(Frame {
                id,
                bytes,
                generation,
                built,
            }),
            Err(e) => {
                tracing::error!("live view: {e}");
                return self.frames.borrow().clone();
            }
        };
        self.frames.send_replace(frame.clone());
        frame
    }

    /// Runs until `stop` fires: rebuilds on engine changes (coalesced) and every heartbeat,
    /// only while someone listens.
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
            if self.clients() > 0 {
                self.publish(&engine);
            }
        }
    }
}

impl Default for LiveFeed {
    fn default() -> Self {
        Self::new()
    }
}

fn build(engine: &DownloadManager, id: u64) -> Result<Bytes, crate::engine::manager::EngineError> {
    let downloads: Vec<UnifiedDownload> =
        engine.active()?.iter().map(UnifiedDownload::from).collect();
    let update = Update {
        downloads: &downloads,
        stats: engine.stats()?.into(),
        timestamp: timestamp(chrono::Utc::now()),
    };
    let json = serde_json::to_string(&update).unwrap_or_else(|_| "{}".into());
    Ok(Bytes::from(format!(
        "id: {id}\nevent: update\nretry: {RETRY_MS}\ndata: {json}\n\n"
    )))
}
