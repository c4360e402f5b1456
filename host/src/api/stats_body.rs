//! `/stats`'s answer, serialised once per change of the counters: integrations poll it, often
//! many at once, and between two commits (in the same minute) it cannot change.

use std::sync::{Arc, RwLock};

use bytes::Bytes;

use crate::engine::manager::{DownloadManager, EngineError, StatsKey};
use crate::view::dto::QueueStatsDto;

#[derive(Clone, Default)]
pub struct StatsBodies {
    cached: Arc<RwLock<Option<(StatsKey, Bytes)>>>,
}

impl StatsBodies {
    pub fn current(&self, engine: &DownloadManager) -> Result<Bytes, EngineError> {
        // The key first: statistics read after it are at least that new, so the body kept
        // under it is never older than the key says.
        let key = engine.stats_key();
        if let Some((k, body)) = &*self.cached.read().unwrap_or_else(|p| p.into_inner())
            && *k == key
        {
            return Ok(body.clone());
        }
        let stats = QueueStatsDto::from(engine.stats()?);
        // Plain data with string keys and whole numbers: it always serialises.
        let body = Bytes::from(serde_json::to_vec(&stats).unwrap_or_default());
        *self.cached.write().unwrap_or_else(|p| p.into_inner()) = Some((key, body.clone()));
        Ok(body)
    }
}
