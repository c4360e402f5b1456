//! The engine's front door: one [`DownloadManager`] owns the store, the providers and their
//! breakers, runs the dispatcher and one reconciler per provider, and carries out the
//! per-download actions. Every change is written durably, then announced.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::breaker::{Breaker, CircuitState};
use super::clock::Clock;
use super::download::{ChosenSource, Download, FailureCause, Status, TrackInfo};
use super::provider::Provider;
use super::settings::EngineSettings;
use super::transitions::{IllegalTransition, check};
use super::{dispatcher, reconciler};
use crate::store::{Inserted, StatusCounts, Store, StoreError, Updated};

const PAUSED_FLAG: &str = "dispatch_paused";

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("download {0} not found")]
    NotFound(Uuid),
    #[error(transparent)]
    Illegal(#[from] IllegalTransition),
    #[error("no provider {requested:?} is loaded (loaded: {loaded})")]
    UnknownProvider { requested: String, loaded: String },
    #[error("{0}")]
    Invalid(String),
    /// The record changed under a background task (a user acted first): nothing was written.
    #[error("download {0} changed meanwhile")]
    Stale(Uuid),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a client asks for.
#[derive(Debug, Clone, Default)]
pub struct NewDownload {
    pub title: String,
    pub artist: String,
    pub album: Option<String>,
    pub track_id: Option<String>,
    pub priority: Option<i32>,
    /// A provider id (`slskd`) or kind (`soulseek`); the first loaded provider when absent.
    pub provider: Option<String>,
    /// Fetch exactly this file instead of searching.
    pub source: Option<RequestedSource>,
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Clone)]
pub struct RequestedSource {
    pub peer: String,
    pub filename: String,
    pub size: u64,
}

/// The queue statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueStats {
    pub waiting: u64,
    pub pending: u64,
    pub queued: u64,
    pub downloading: u64,
    pub paused: u64,
    pub stalled: u64,
    pub completed_today: u64,
    pub failed_today: u64,
    /// Every non-terminal download.
    pub total_active: u64,
    /// pending + queued + downloading.
    pub total_in_progress: u64,
}

/// One provider's health, for the health endpoint.
#[derive(Debug, Clone)]
pub struct ProviderHealth {
    pub id: String,
    pub kind: String,
    pub display_name: String,
    pub circuit_state: CircuitState,
    pub consecutive_failures: u32,
    pub last_success: Option<OffsetDateTime>,
    pub last_error: Option<String>,
    pub until_trial: Option<Duration>,
}

/// Progress seen but not necessarily written yet, and per-download reconciler memory.
#[derive(Debug, Clone)]
pub(super) struct Live {
    pub bytes: u64,
    pub speed: f64,
    pub last_progress: OffsetDateTime,
    pub persisted_at: OffsetDateTime,
    pub missing_polls: u32,
    /// A failure the provider may still retry, and when it was first seen.
    pub pending_failure: Option<OffsetDateTime>,
}

pub(super) struct ProviderSlot {
    pub provider: Arc<dyn Provider>,
    pub breaker: Mutex<Breaker>,
}

impl ProviderSlot {
    pub fn breaker(&self) -> MutexGuard<'_, Breaker> {
        self.breaker.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub(super) struct Inner {
    pub store: Store,
    pub providers: BTreeMap<String, ProviderSlot>,
    pub clock: Arc<dyn Clock>,
    pub settings: EngineSettings,
    pub live: Mutex<HashMap<Uuid, Live>>,
    pub wake: Notify,
    changes: watch::Sender<u64>,
    paused: AtomicBool,
    stop: watch::Sender<bool>,
}

impl Inner {
    pub fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    pub fn live(&self) -> MutexGuard<'_, HashMap<Uuid, Live>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }

    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Tells listeners something changed, and the dispatcher to look again.
    pub fn announce(&self) {
        self.changes.send_modify(|generation| *generation += 1);
        self.wake.notify_one();
    }

    /// Edits one download in one durable write; `edit` sees the current record and the time.
    /// Nothing is written (or announced) when the edit changes nothing or returns an error.
    pub fn apply(
        &self,
        id: Uuid,
        edit: impl FnOnce(&mut Download, OffsetDateTime) -> Result<(), EngineError>,
    ) -> Result<Updated, EngineError> {
        let now = self.now();
        let result = self.store.update(id, |d| {
            let before = d.clone();
            edit(d, now)?;
            if *d != before {
                d.updated_at = now;
            }
            Ok::<(), EngineError>(())
        });
        let updated = match result {
            Err(StoreError::NotFound(id)) => return Err(EngineError::NotFound(id)),
            Err(e) => return Err(e.into()),
            Ok(inner) => inner?,
        };
        if updated.before != updated.after {
            // What was observed belongs to one transfer: a new (or no) transfer starts afresh,
            // so a fail-over never inherits the old bytes or the old stall clock.
            let transfer_changed = updated.after.external_id != updated.before.external_id;
            if transfer_changed
                || matches!(updated.after.status, Status::Paused | Status::Waiting)
                || updated.after.status.is_terminal()
            {
                self.live().remove(&id);
            }
            self.announce();
        }
        Ok(updated)
    }

    /// Cancels a transfer at its provider in the background; the record is already updated.
    pub fn cancel_at_provider(&self, d: &Download) {
        let (Some(external), Some(slot)) =
            (d.external_id.clone(), self.providers.get(&d.provider_id))
        else {
            return;
        };
        let provider = slot.provider.clone();
        let peer = d
            .source
            .as_ref()
            .map(|s| s.peer.clone())
            .unwrap_or_default();
        tokio::spawn(async move {
            if let Err(e) = provider.cancel(&external, &peer, true).await {
                tracing::warn!(provider = %provider.descriptor().id, "could not cancel transfer {external}: {e}");
            }
        });
    }
}

/// Moves a record to `to` (checked against the transition table), stamping the time.
pub(super) fn move_to(
    d: &mut Download,
    to: Status,
    now: OffsetDateTime,
) -> Result<(), IllegalTransition> {
    check(d.status, to)?;
    if d.status != to {
        d.status = to;
        d.status_since = now;
        if to == Status::Completed && d.completed_at.is_none() {
            d.completed_at = Some(now);
        }
    }
    Ok(())
}

/// The engine. Cheap to clone; every clone is the same engine.
#[derive(Clone)]
pub struct DownloadManager {
    inner: Arc<Inner>,
}

/// The engine's background tasks; [`Running::shutdown`] stops them.
pub struct Running {
    manager: DownloadManager,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops dispatching and polling, and waits (bounded) for the tasks to finish.
    pub async fn shutdown(self) {
        let _ = self.manager.inner.stop.send(true);
        for task in self.tasks {
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                tracing::warn!("an engine task did not stop within 5 s");
            }
        }
    }
}

const MAX_TEXT: usize = 500;

fn clean(field: &str, value: &str, required: bool) -> Result<Option<String>, EngineError> {
    let trimmed = value.trim();
    if trimmed.chars().any(char::is_control) {
        return Err(EngineError::Invalid(format!(
            "{field} contains control characters"
        )));
    }
    if trimmed.chars().count() > MAX_TEXT {
        return Err(EngineError::Invalid(format!(
            "{field} is longer than {MAX_TEXT} characters"
        )));
    }
    if trimmed.is_empty() {
        return if required {
            Err(EngineError::Invalid(format!("{field} must not be empty")))
        } else {
            Ok(None)
        };
    }
    Ok(Some(trimmed.to_owned()))
}

impl DownloadManager {
    /// Opens the engine over a store and the loaded providers. Nothing runs until [`start`].
    ///
    /// [`start`]: DownloadManager::start
    pub fn new(
        store: Store,
        providers: Vec<Arc<dyn Provider>>,
        settings: EngineSettings,
        clock: Arc<dyn Clock>,
    ) -> Result<DownloadManager, EngineError> {
        let mut slots = BTreeMap::new();
        for provider in providers {
            let id = provider.descriptor().id.clone();
            let breaker = store.breaker(&id)?.unwrap_or_default();
            slots.insert(
                id,
                ProviderSlot {
                    provider,
                    breaker: Mutex::new(breaker),
                },
            );
        }
        let paused = store.flag(PAUSED_FLAG)?;
        let (changes, _) = watch::channel(0);
        let (stop, _) = watch::channel(false);
        let inner = Inner {
            store,
            providers: slots,
            clock,
            settings,
            live: Mutex::new(HashMap::new()),
            wake: Notify::new(),
            changes,
            paused: AtomicBool::new(paused),
            stop,
        };
        Ok(DownloadManager {
            inner: Arc::new(inner),
        })
    }

    /// Recovers from the last run, then starts the dispatcher and one reconciler per provider.
    pub fn start(&self) -> Result<Running, EngineError> {
        self.recover()?;
        let mut tasks = vec![tokio::spawn(dispatcher::run(self.inner.clone()))];
        for id in self.inner.providers.keys() {
            tasks.push(tokio::spawn(reconciler::run(
                self.inner.clone(),
                id.clone(),
            )));
        }
        Ok(Running {
            manager: self.clone(),
            tasks,
        })
    }

    /// A search or hand-over cut short by a stop starts again; transfers already at a provider
    /// are reconciled on its first poll.
    fn recover(&self) -> Result<(), EngineError> {
        for d in self.inner.store.with_status(Status::Pending)? {
            if d.external_id.is_none() {
                self.inner.apply(d.id, |d, now| {
                    move_to(d, Status::Waiting, now)?;
                    d.status_message = Some("Interrupted by a restart; queued again".into());
                    Ok(())
                })?;
            }
        }
        Ok(())
    }

    /// A receiver that sees a new number after every change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.inner.changes.subscribe()
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub fn provider_ids(&self) -> Vec<String> {
        self.inner.providers.keys().cloned().collect()
    }

    /// Loaded providers' kinds (the API's `provider` values).
    pub fn provider_kinds(&self) -> Vec<String> {
        self.inner
            .providers
            .values()
            .map(|s| s.provider.descriptor().kind.clone())
            .collect()
    }

    /// (kind, display name) of each loaded provider.
    pub fn provider_choices(&self) -> Vec<(String, String)> {
        self.inner
            .providers
            .values()
            .map(|s| {
                (
                    s.provider.descriptor().kind.clone(),
                    s.provider.descriptor().display_name.clone(),
                )
            })
            .collect()
    }

    /// Finished downloads of one status, newest first.
    pub fn newest(&self, status: Status, limit: usize) -> Result<Vec<Download>, EngineError> {
        Ok(self.inner.store.terminal_newest(status, limit)?)
    }

    /// Loaded providers' display names.
    pub fn providers_available(&self) -> Vec<String> {
        self.inner
            .providers
            .values()
            .map(|s| s.provider.descriptor().display_name.clone())
            .collect()
    }

    fn resolve_provider(&self, requested: Option<&str>) -> Result<&ProviderSlot, EngineError> {
        let found = match requested {
            Some(name) => self.inner.providers.values().find(|s| {
                let d = s.provider.descriptor();
                d.id == name || d.kind == name
            }),
            None => self
                .inner
                .providers
                .values()
                .find(|s| s.provider.descriptor().capabilities.search)
                .or_else(|| self.inner.providers.values().next()),
        };
        found.ok_or_else(|| EngineError::UnknownProvider {
            requested: requested.unwrap_or("(any)").to_owned(),
            loaded: if self.inner.providers.is_empty() {
                "none".into()
            } else {
                self.provider_ids().join(", ")
            },
        })
    }

    /// Creates a download; returns it and whether it is new (an active download of the same
    /// track, or one made with the same idempotency key, is returned instead of a duplicate).
    pub fn create(&self, request: NewDownload) -> Result<(Download, bool), EngineError> {
        let title = clean("title", &request.title, true)?.unwrap_or_default();
        let artist = clean("artist", &request.artist, true)?.unwrap_or_default();
        let album = match &request.album {
            Some(a) => clean("album", a, false)?,
            None => None,
        };
        let track_id = match &request.track_id {
            Some(t) => clean("track_id", t, false)?,
            None => None,
        };
        let key = match &request.idempotency_key {
            Some(k) => clean("idempotency key", k, false)?,
            None => None,
        };
        let priority = request.priority.unwrap_or(0);
        if !(-1000..=1000).contains(&priority) {
            return Err(EngineError::Invalid(
                "priority must be between -1000 and 1000".into(),
            ));
        }
        let source = match &request.source {
            Some(s) => {
                let peer = clean("source.peer", &s.peer, true)?.unwrap_or_default();
                let filename = clean("source.filename", &s.filename, true)?.unwrap_or_default();
                if s.size == 0 {
                    return Err(EngineError::Invalid(
                        "source.size must be the file's size in bytes".into(),
                    ));
                }
                let format = filename
                    .rsplit_once('.')
                    .map(|(_, e)| e.to_ascii_lowercase())
                    .filter(|e| e.len() <= 5);
                Some(ChosenSource {
                    peer,
                    filename,
                    size: s.size,
                    format,
                    bitrate_kbps: None,
                })
            }
            None => None,
        };
        let slot = self.resolve_provider(request.provider.as_deref())?;
        let descriptor = slot.provider.descriptor();
        let now = self.inner.now();
        let id = Uuid::new_v4();
        let download = Download {
            id,
            track_id: track_id.unwrap_or_else(|| id.to_string()),
            track: TrackInfo {
                title,
                artist,
                album,
            },
            provider_id: descriptor.id.clone(),
            provider_kind: descriptor.kind.clone(),
            provider_name: descriptor.display_name.clone(),
            external_id: None,
            total_bytes: source.as_ref().map_or(0, |s| s.size),
            source_fixed: source.is_some(),
            source,
            status: Status::Waiting,
            status_message: None,
            error_message: None,
            failure_cause: None,
            bytes_downloaded: 0,
            speed_bytes_per_sec: 0.0,
            priority,
            created_at: now,
            started_at: None,
            completed_at: None,
            updated_at: now,
            status_since: now,
            retry_count: 0,
            max_retries: self.inner.settings.retry.max_retries,
            next_retry_at: None,
            tried_sources: Vec::new(),
            attempts: Vec::new(),
        };
        match self
            .inner
            .store
            .insert_unless_known(&download, key.as_deref())?
        {
            Inserted::Created => {
                self.inner.announce();
                Ok((download, true))
            }
            Inserted::Existing(existing) => Ok((*existing, false)),
        }
    }

    /// A download with its latest observed progress.
    pub fn get(&self, id: Uuid) -> Result<Download, EngineError> {
        let d = self.inner.store.get(id)?.ok_or(EngineError::NotFound(id))?;
        Ok(self.with_live(d))
    }

    /// Overlays progress observed since the last write.
    pub fn with_live(&self, mut d: Download) -> Download {
        if let Some(live) = self.inner.live().get(&d.id)
            && matches!(
                d.status,
                Status::Downloading | Status::Stalled | Status::Queued | Status::Pending
            )
        {
            d.bytes_downloaded = live.bytes;
            d.speed_bytes_per_sec = live.speed;
        }
        d
    }

    /// Every non-terminal download, with live progress: downloading first, then stalled,
    /// queued and pending, then waiting in dispatch order, then paused.
    pub fn active(&self) -> Result<Vec<Download>, EngineError> {
        let mut out = Vec::new();
        for status in [
            Status::Downloading,
            Status::Stalled,
            Status::Queued,
            Status::Pending,
        ] {
            let mut group = self.with_status(status)?;
            group.sort_by_key(|d| d.status_since);
            out.extend(group);
        }
        out.extend(self.inner.store.waiting_in_order(usize::MAX)?);
        out.extend(self.with_status(Status::Paused)?);
        Ok(out)
    }

    /// Every download in one status, with live progress.
    pub fn with_status(&self, status: Status) -> Result<Vec<Download>, EngineError> {
        Ok(self
            .inner
            .store
            .with_status(status)?
            .into_iter()
            .map(|d| self.with_live(d))
            .collect())
    }

    pub fn cancel(&self, id: Uuid) -> Result<Download, EngineError> {
        let updated = self.inner.apply(id, |d, now| {
            move_to(d, Status::Cancelled, now)?;
            d.status_message = Some("Cancelled".into());
            d.speed_bytes_per_sec = 0.0;
            d.next_retry_at = None;
            d.external_id = None;
            Ok(())
        })?;
        self.inner.cancel_at_provider(&updated.before);
        Ok(updated.after)
    }

    /// Holds a download back. An active transfer is cancelled at the provider (slskd cannot
    /// pause) and starts over on resume.
    pub fn pause(&self, id: Uuid) -> Result<Download, EngineError> {
        let updated = self.inner.apply(id, |d, now| {
            move_to(d, Status::Paused, now)?;
            d.status_message = Some("Paused".into());
            d.external_id = None;
            d.bytes_downloaded = 0;
            d.speed_bytes_per_sec = 0.0;
            Ok(())
        })?;
        self.inner.cancel_at_provider(&updated.before);
        Ok(updated.after)
    }

    pub fn resume(&self, id: Uuid) -> Result<Download, EngineError> {
        let updated = self.inner.apply(id, |d, now| {
            if d.status != Status::Paused {
                return Err(EngineError::Invalid(format!(
                    "only a paused download can be resumed; this one is {}",
                    d.status
                )));
            }
            move_to(d, Status::Waiting, now)?;
            d.status_message = None;
            Ok(())
        })?;
        Ok(updated.after)
    }

    /// Puts a failed or cancelled download back in the queue with a fresh retry budget. It
    /// never reuses the old provider transfer.
    pub fn retry(&self, id: Uuid) -> Result<Download, EngineError> {
        let updated = self.inner.apply(id, |d, now| {
            if !matches!(d.status, Status::Failed | Status::Cancelled) {
                return Err(EngineError::Invalid(format!(
                    "only a failed or cancelled download can be retried; this one is {}",
                    d.status
                )));
            }
            move_to(d, Status::Waiting, now)?;
            d.retry_count = 0;
            d.next_retry_at = None;
            d.error_message = None;
            d.failure_cause = None;
            d.status_message = Some("Queued again".into());
            d.external_id = None;
            d.bytes_downloaded = 0;
            d.speed_bytes_per_sec = 0.0;
            if let Some(s) = &d.source
                && d.has_tried(&s.peer, &s.filename)
            {
                d.source = None;
                d.source_fixed = false;
            }
            Ok(())
        })?;
        Ok(updated.after)
    }

    pub fn set_priority(&self, id: Uuid, priority: i32) -> Result<Download, EngineError> {
        if !(-1000..=1000).contains(&priority) {
            return Err(EngineError::Invalid(
                "priority must be between -1000 and 1000".into(),
            ));
        }
        let updated = self.inner.apply(id, |d, _| {
            if d.status.is_terminal() {
                return Err(EngineError::Invalid(format!(
                    "a {} download has no priority to change",
                    d.status
                )));
            }
            d.priority = priority;
            Ok(())
        })?;
        Ok(updated.after)
    }

    /// Holds or releases the whole queue (persisted): nothing new is dispatched while paused.
    pub fn set_paused(&self, paused: bool) -> Result<(), EngineError> {
        self.inner.store.set_flag(PAUSED_FLAG, paused)?;
        self.inner.paused.store(paused, Ordering::SeqCst);
        self.inner.announce();
        Ok(())
    }

    pub fn is_paused(&self) -> bool {
        self.inner.is_paused()
    }

    pub fn retry_all_failed(&self) -> Result<usize, EngineError> {
        let mut retried = 0;
        for d in self.inner.store.with_status(Status::Failed)? {
            match self.retry(d.id) {
                Ok(_) => retried += 1,
                Err(
                    EngineError::NotFound(_) | EngineError::Illegal(_) | EngineError::Invalid(_),
                ) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(retried)
    }

    pub fn clear_failed(&self) -> Result<usize, EngineError> {
        let ids: Vec<Uuid> = self
            .inner
            .store
            .with_status(Status::Failed)?
            .iter()
            .map(|d| d.id)
            .collect();
        let removed = self.inner.store.delete(&ids)?;
        self.inner.announce();
        Ok(removed)
    }

    /// Removes completed downloads that completed more than `days` days ago.
    pub fn clear_history(&self, days: u32) -> Result<usize, EngineError> {
        let cutoff = self.inner.now() - Duration::from_secs(u64::from(days) * 86_400);
        let ids: Vec<Uuid> = self
            .inner
            .store
            .terminal_before(Status::Completed, cutoff)?
            .iter()
            .map(|d| d.id)
            .collect();
        let removed = self.inner.store.delete(&ids)?;
        self.inner.announce();
        Ok(removed)
    }

    pub fn stats(&self) -> Result<QueueStats, EngineError> {
        let c: StatusCounts = self.inner.store.counts()?;
        let day_ago = self.inner.now() - Duration::from_secs(86_400);
        let g = |s| c.get(s);
        Ok(QueueStats {
            waiting: g(Status::Waiting),
            pending: g(Status::Pending),
            queued: g(Status::Queued),
            downloading: g(Status::Downloading),
            paused: g(Status::Paused),
            stalled: g(Status::Stalled),
            completed_today: self
                .inner
                .store
                .terminal_since(Status::Completed, day_ago)?,
            failed_today: self.inner.store.terminal_since(Status::Failed, day_ago)?,
            total_active: Status::ALL
                .iter()
                .filter(|s| !s.is_terminal())
                .map(|s| g(*s))
                .sum(),
            total_in_progress: g(Status::Pending) + g(Status::Queued) + g(Status::Downloading),
        })
    }

    pub fn health(&self) -> Vec<ProviderHealth> {
        let now = self.inner.now();
        self.inner
            .providers
            .values()
            .map(|slot| {
                let d = slot.provider.descriptor();
                let b = slot.breaker();
                ProviderHealth {
                    id: d.id.clone(),
                    kind: d.kind.clone(),
                    display_name: d.display_name.clone(),
                    circuit_state: b.state,
                    consecutive_failures: b.consecutive_failures,
                    last_success: b.last_success,
                    last_error: b.last_error.clone(),
                    until_trial: b.until_trial(&self.inner.settings.breaker, now),
                }
            })
            .collect()
    }

    /// The provider behind an id, for a direct health ping.
    pub fn provider(&self, id: &str) -> Option<Arc<dyn Provider>> {
        self.inner.providers.get(id).map(|s| s.provider.clone())
    }

    /// Records a failure on a download (used by the dispatcher and reconciler, and by tests).
    pub fn fail(
        &self,
        id: Uuid,
        cause: FailureCause,
        message: &str,
    ) -> Result<Download, EngineError> {
        Ok(dispatcher::fail(&self.inner, id, cause, message, None)?.after)
    }
}
