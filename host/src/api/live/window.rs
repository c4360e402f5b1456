//! One window on the queue, as the live views show it: the downloads in motion and the first
//! waiting ones, up to a limit. Each build serialises every row once, compares it with the
//! previous build, and makes the frames all of the window's clients share: the full `update`
//! (and, on demand, a `snapshot` of the same JSON) and a `delta` with what changed. A bounded
//! ring keeps recent deltas for clients that reconnect with `Last-Event-ID`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::watch;
use uuid::Uuid;

use super::{HEARTBEAT, RETRY_MS};
use crate::engine::manager::{DownloadManager, EngineError};
use crate::view::dto::{QueueStatsDto, UnifiedDownload, timestamp};

/// Deltas kept for reconnecting clients: at one build per change burst (150 ms at the
/// fastest) or per heartbeat, this covers a reconnect after 3 s at least.
const RING: usize = 64;

/// One build of a window.
#[derive(Debug)]
pub struct Tick {
    pub id: u64,
    /// `{"downloads":[…],"stats":…,"timestamp":…}`: the spec's update payload.
    json: Bytes,
    update: Bytes,
    delta: Bytes,
    generation: u64,
    built: Instant,
}

impl Tick {
    fn empty() -> Tick {
        Tick {
            id: 0,
            json: Bytes::new(),
            update: Bytes::new(),
            delta: Bytes::new(),
            generation: 0,
            built: Instant::now(),
        }
    }

    /// The `update` event (the spec's event, bounded to the window).
    pub fn update(&self) -> Bytes {
        self.update.clone()
    }

    /// The `delta` event: rows changed or removed since the window's previous build.
    pub fn delta(&self) -> Bytes {
        self.delta.clone()
    }

    /// The `snapshot` event that starts a delta stream: the update's payload under its name.
    pub fn snapshot(&self) -> Bytes {
        frame(self.id, "snapshot", &self.json)
    }

    /// Whether the build still shows the engine as it is: built since the last change, and
    /// recently (progress is not announced as a change, so an old build has old bytes).
    pub fn is_current(&self, engine: &DownloadManager) -> bool {
        self.id != 0 && self.generation == engine.generation() && self.built.elapsed() < HEARTBEAT
    }
}

fn frame(id: u64, event: &str, json: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(json.len() + 48);
    out.extend_from_slice(
        format!("id: {id}\nevent: {event}\nretry: {RETRY_MS}\ndata: ").as_bytes(),
    );
    out.extend_from_slice(json);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// What a build compares against, and the recent deltas.
struct Memory {
    /// Each row's JSON as last sent.
    rows: HashMap<Uuid, String>,
    ring: VecDeque<(u64, Bytes)>,
}

pub struct Window {
    limit: usize,
    ticks: watch::Sender<Arc<Tick>>,
    /// Held for a whole build, so builds of one window never interleave.
    memory: Mutex<Memory>,
}

impl Window {
    pub fn new(limit: usize) -> Window {
        Window {
            limit,
            ticks: watch::Sender::new(Arc::new(Tick::empty())),
            memory: Mutex::new(Memory {
                rows: HashMap::new(),
                ring: VecDeque::new(),
            }),
        }
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    pub fn subscribe(&self) -> watch::Receiver<Arc<Tick>> {
        self.ticks.subscribe()
    }

    pub fn clients(&self) -> usize {
        self.ticks.receiver_count()
    }

    pub fn newest(&self) -> Arc<Tick> {
        self.ticks.borrow().clone()
    }

    fn memory(&self) -> MutexGuard<'_, Memory> {
        self.memory.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The newest build if it is current, otherwise a new one (many callers at once share
    /// one build).
    pub fn current(&self, engine: &DownloadManager, id: impl FnOnce() -> u64) -> Arc<Tick> {
        let tick = self.newest();
        if tick.is_current(engine) {
            return tick;
        }
        let memory = self.memory();
        let tick = self.newest();
        if tick.is_current(engine) {
            return tick;
        }
        self.build_locked(memory, engine, id())
    }

    /// Builds and publishes a new tick with this id.
    pub fn publish(&self, engine: &DownloadManager, id: u64) -> Arc<Tick> {
        let memory = self.memory();
        self.build_locked(memory, engine, id)
    }

    fn build_locked(
        &self,
        mut memory: MutexGuard<'_, Memory>,
        engine: &DownloadManager,
        id: u64,
    ) -> Arc<Tick> {
        match build(&mut memory, engine, self.limit, id) {
            Ok(tick) => {
                let tick = Arc::new(tick);
                memory.ring.push_back((tick.id, tick.delta.clone()));
                while memory.ring.len() > RING {
                    memory.ring.pop_front();
                }
                self.ticks.send_replace(tick.clone());
                tick
            }
            Err(e) => {
                tracing::error!("live view: {e}");
                self.newest()
            }
        }
    }

    /// The deltas a client that last saw event `seen` needs to catch up to the newest build,
    /// in order; `None` when the ring no longer reaches back that far (send a snapshot).
    pub fn deltas_after(&self, seen: u64) -> Option<(u64, Vec<Bytes>)> {
        let memory = self.memory();
        let at = memory.ring.iter().position(|(id, _)| *id == seen)?;
        let newest = memory.ring.back().map_or(seen, |(id, _)| *id);
        Some((
            newest,
            memory
                .ring
                .iter()
                .skip(at + 1)
                .map(|(_, d)| d.clone())
                .collect(),
        ))
    }
}

fn build(
    memory: &mut Memory,
    engine: &DownloadManager,
    limit: usize,
    id: u64,
) -> Result<Tick, EngineError> {
    // Read before building, so that a change during the build makes the tick stale.
    let generation = engine.generation();
    let built = Instant::now();
    let downloads = engine.active_window(limit)?;
    let stats = serde_json::to_string(&QueueStatsDto::from(engine.stats()?))
        .unwrap_or_else(|_| "{}".into());
    let timestamp =
        serde_json::to_string(&timestamp(chrono::Utc::now())).unwrap_or_else(|_| "\"\"".into());

    let mut rows = HashMap::with_capacity(downloads.len());
    let mut all = Vec::with_capacity(downloads.len());
    let mut changed = Vec::new();
    for d in &downloads {
        let row = serde_json::to_string(&UnifiedDownload::from(d)).unwrap_or_else(|_| "{}".into());
        if memory.rows.get(&d.id) != Some(&row) {
            changed.push(row.clone());
        }
        all.push(row.clone());
        rows.insert(d.id, row);
    }
    let removed: Vec<String> = memory
        .rows
        .keys()
        .filter(|id| !rows.contains_key(id))
        .map(|id| format!("\"{id}\""))
        .collect();
    memory.rows = rows;

    let json = format!(
        "{{\"downloads\":[{}],\"stats\":{stats},\"timestamp\":{timestamp}}}",
        all.join(",")
    );
    let delta = format!(
        "{{\"changed\":[{}],\"removed\":[{}],\"stats\":{stats},\"timestamp\":{timestamp}}}",
        changed.join(","),
        removed.join(",")
    );
    Ok(Tick {
        id,
        update: frame(id, "update", json.as_bytes()),
        delta: frame(id, "delta", delta.as_bytes()),
        json: Bytes::from(json),
        generation,
        built,
    })
}
