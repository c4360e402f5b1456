//! `/active`'s answer, built once per state of the queue: many clients asking at once (and the
//! Download Center's queue) share one read of the store and one serialisation. A change
//! invalidates it, so a client that has just written reads its own write.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;

use crate::engine::manager::{DownloadManager, EngineError};
use crate::view::dto::{QueueStatsDto, UnifiedDownload};

/// Progress is not announced as a change, so a list is rebuilt at least this often while asked.
const MAX_AGE: Duration = Duration::from_secs(1);

/// Every active download at one generation of the engine.
pub struct ActiveList {
    generation: u64,
    built: Instant,
    pub downloads: Vec<UnifiedDownload>,
    pub stats: QueueStatsDto,
    providers_available: Vec<String>,
    /// The whole answer, serialised on first use.
    full: OnceLock<Bytes>,
}

#[derive(Serialize)]
struct Body<'a> {
    downloads: &'a [UnifiedDownload],
    stats: &'a QueueStatsDto,
    providers_available: &'a [String],
}

impl ActiveList {
    fn is_current(&self, engine: &DownloadManager) -> bool {
        self.generation == engine.generation() && self.built.elapsed() < MAX_AGE
    }

    /// The JSON answer with the rows from `offset`, at most `limit` of them (all by default).
    pub fn body(&self, offset: usize, limit: Option<usize>) -> Bytes {
        if offset == 0 && limit.is_none_or(|l| l >= self.downloads.len()) {
            return self
                .full
                .get_or_init(|| self.serialise(&self.downloads))
                .clone();
        }
        let from = offset.min(self.downloads.len());
        let to = limit.map_or(self.downloads.len(), |l| {
            from.saturating_add(l).min(self.downloads.len())
        });
        self.serialise(&self.downloads[from..to])
    }

    fn serialise(&self, rows: &[UnifiedDownload]) -> Bytes {
        let body = Body {
            downloads: rows,
            stats: &self.stats,
            providers_available: &self.providers_available,
        };
        // Plain data with string keys and finite numbers: it always serialises.
        Bytes::from(serde_json::to_vec(&body).unwrap_or_default())
    }
}

#[derive(Clone, Default)]
pub struct ActiveLists {
    cached: Arc<Mutex<Option<Arc<ActiveList>>>>,
    /// One build at a time: callers arriving meanwhile wait for it and share it.
    building: Arc<Mutex<()>>,
}

impl ActiveLists {
    pub fn current(&self, engine: &DownloadManager) -> Result<Arc<ActiveList>, EngineError> {
        if let Some(list) = self.cached(engine) {
            return Ok(list);
        }
        let _turn = self.building.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(list) = self.cached(engine) {
            return Ok(list);
        }
        // Read before building, so that a change during the build makes the list stale.
        let generation = engine.generation();
        let built = Instant::now();
        let list = Arc::new(ActiveList {
            generation,
            built,
            downloads: engine.active()?.iter().map(UnifiedDownload::from).collect(),
            stats: engine.stats()?.into(),
            providers_available: engine.providers_available(),
            full: OnceLock::new(),
        });
        *self.cached.lock().unwrap_or_else(|p| p.into_inner()) = Some(list.clone());
        Ok(list)
    }

    fn cached(&self, engine: &DownloadManager) -> Option<Arc<ActiveList>> {
        let cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        cached.clone().filter(|l| l.is_current(engine))
    }
}
