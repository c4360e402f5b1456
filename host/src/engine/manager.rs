//! The engine's front door: one [`DownloadManager`] owns the store, the providers and their
//! breakers, runs the dispatcher and one reconciler per provider, and carries out the
//! per-download actions. Every change is written durably, then announced.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;
use uuid::Uuid;

use super::breaker::{Breaker, CircuitState};
use super::call_gates::CallKind;
use super::clock::Clock;
use super::core::{Core, move_to};
use super::download::{ChosenSource, Download, Status, TrackInfo};
use super::grouped_creates::GroupedCreates;
use super::provider::{Provider, ProviderError, Source, uri_scheme};
use super::provider_slot::{ProviderOptions, ProviderSlot};
use super::settings::EngineSettings;
use super::transitions::IllegalTransition;
use super::{dispatcher, housekeeping, reconciler};
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
    /// No plugin is loaded at all: nothing can take a new download.
    #[error(
        "no provider plugin is loaded, so the download was not created; put one in the plugins folder (it is loaded at once) and send it again"
    )]
    NoProviderLoaded,
    #[error("{0}")]
    Invalid(String),
    /// The record changed under a background task (a user acted first): nothing was written.
    #[error("download {0} changed meanwhile")]
    Stale(Uuid),
    /// Another active download already fetches this track.
    #[error("track {track} already has an active download ({holder}); cancel it first")]
    TrackBusy { track: String, holder: Uuid },
    /// An action that the download's state does not allow.
    #[error("{0}")]
    WrongState(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One peer's reputation at a provider.
#[derive(Debug, Clone)]
pub struct PeerReport {
    pub peer: String,
    pub standing: super::reputation::Standing,
    pub record: super::reputation::PeerRecord,
}

/// What a client asks for.
#[derive(Debug, Clone, Default)]
pub struct NewDownload {
    pub title: String,
    pub artist: String,
    pub album: Option<String>,
    pub track_id: Option<String>,
    pub priority: Option<i32>,
    /// The track's length, when known: candidates of a clearly different length rank lower.
    pub duration_secs: Option<u32>,
    /// A provider id (`slskd`) or kind (`soulseek`), which the download then stays with. When
    /// absent: the provider that takes the source, or without one every provider that can
    /// search (the download starts at the first).
    pub provider: Option<String>,
    /// Fetch exactly this file instead of searching.
    pub source: Option<RequestedSource>,
    pub idempotency_key: Option<String>,
}

/// A file the client names itself.
#[derive(Debug, Clone)]
pub enum RequestedSource {
    /// A file a peer holds (slskd).
    PeerFile {
        peer: String,
        filename: String,
        size: u64,
    },
    /// A magnet link, a .torrent URL, or the URL of the file itself.
    Uri {
        uri: String,
        file: Option<String>,
        size: Option<u64>,
    },
}

/// What the statistics depend on: the store's counters (which move only at a commit) and the
/// minute (the day's window moves with it). Equal keys, equal statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatsKey {
    commits: u64,
    minute: i64,
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
    pub last_success: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub until_trial: Option<Duration>,
    /// A plugin serves the provider now (a removed plugin's downloads wait).
    pub loaded: bool,
    /// What in our own configuration refuses the provider's calls, and how to fix it.
    pub config_problem: Option<String>,
}

/// The engine. Cheap to clone; every clone is the same engine.
#[derive(Clone)]
pub struct DownloadManager {
    core: Arc<Core>,
    /// Creates from [`create_together`](DownloadManager::create_together), written in groups.
    creates: Arc<GroupedCreates>,
}

/// The engine's background tasks; [`Running::shutdown`] stops them.
pub struct Running {
    manager: DownloadManager,
}

impl Running {
    /// Stops dispatching and polling, and waits (bounded) for the tasks to finish; returns how
    /// many did not stop within 5 s (and were left).
    pub async fn shutdown(self) -> usize {
        self.manager.core.stop();
        let mut left = 0;
        for task in self.manager.core.take_tasks() {
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                tracing::warn!("an engine task did not stop within 5 s");
                left += 1;
            }
        }
        left
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

/// A URI longer than this is refused (magnet links with many trackers run to a few KB).
const MAX_URI: usize = 8192;

/// Checks a client's source and turns it into the one the download records.
fn checked_source(s: &RequestedSource) -> Result<ChosenSource, EngineError> {
    match s {
        RequestedSource::PeerFile {
            peer,
            filename,
            size,
        } => {
            let peer = clean("source.peer", peer, true)?.unwrap_or_default();
            let filename = clean("source.filename", filename, true)?.unwrap_or_default();
            if *size == 0 {
                return Err(EngineError::Invalid(
                    "source.size must be the file's size in bytes".into(),
                ));
            }
            let format = filename
                .rsplit_once('.')
                .map(|(_, e)| e.to_ascii_lowercase())
                .filter(|e| e.len() <= 5);
            Ok(ChosenSource {
                peer,
                filename,
                size: *size,
                format,
                bitrate_kbps: None,
                uri: None,
                file: None,
            })
        }
        RequestedSource::Uri { uri, file, size } => {
            let uri = uri.trim();
            if uri.is_empty() || uri.len() > MAX_URI || uri.chars().any(char::is_control) {
                return Err(EngineError::Invalid(format!(
                    "source.uri must be a URI of at most {MAX_URI} characters"
                )));
            }
            if uri_scheme(uri).is_none() {
                return Err(EngineError::Invalid(
                    "source.uri is not a URI (like magnet:?xt=… or https://…)".into(),
                ));
            }
            let file = match file {
                Some(f) => clean("source.file", f, false)?,
                None => None,
            };
            let source = Source::Uri {
                uri: uri.to_owned(),
                file: file.clone(),
                size: *size,
            };
            let name = source.name();
            let format = file
                .as_deref()
                .unwrap_or(&name)
                .rsplit_once('.')
                .map(|(_, e)| e.to_ascii_lowercase())
                .filter(|e| e.len() <= 5 && e.chars().all(|c| c.is_ascii_alphanumeric()));
            Ok(ChosenSource {
                peer: source.peer(),
                filename: name,
                size: size.unwrap_or(0),
                format,
                bitrate_kbps: None,
                uri: Some(uri.to_owned()),
                file,
            })
        }
    }
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
        Self::with_options(
            store,
            providers
                .into_iter()
                .map(|p| (p, ProviderOptions::default()))
                .collect(),
            settings,
            clock,
        )
    }

    /// As [`DownloadManager::new`], with the operator's options for each provider.
    pub fn with_options(
        store: Store,
        providers: Vec<(Arc<dyn Provider>, ProviderOptions)>,
        settings: EngineSettings,
        clock: Arc<dyn Clock>,
    ) -> Result<DownloadManager, EngineError> {
        let mut slots = Vec::new();
        for (provider, options) in providers {
            let breaker = stored_breaker(&store, &provider.descriptor().id, &options)?;
            slots.push(ProviderSlot::new(provider, options, breaker));
        }
        let paused = store.flag(PAUSED_FLAG)?;
        Ok(DownloadManager {
            core: Arc::new(Core::new(store, slots, settings, clock, paused)),
            creates: Arc::default(),
        })
    }

    /// Recovers from the last run, then starts the dispatcher and one reconciler per provider.
    pub fn start(&self) -> Result<Running, EngineError> {
        self.recover()?;
        self.core
            .keep_task(tokio::spawn(dispatcher::run(self.core.clone())));
        self.core
            .keep_task(tokio::spawn(housekeeping::run(self.core.clone())));
        for slot in self.core.slots() {
            self.core.keep_task(tokio::spawn(reconciler::run(
                self.core.clone(),
                slot.id().to_owned(),
            )));
        }
        Ok(Running {
            manager: self.clone(),
        })
    }

    /// Puts a provider in service: a new one gets a slot and a reconciler; a known one (a
    /// reloaded plugin) is swapped in, keeping its breaker and its downloads.
    pub fn install_provider(
        &self,
        provider: Arc<dyn Provider>,
        options: ProviderOptions,
    ) -> Result<(), EngineError> {
        let id = provider.descriptor().id.clone();
        match self.core.slot(&id) {
            Some(slot) => slot.install(provider, options),
            None => {
                let breaker = stored_breaker(self.core.store(), &id, &options)?;
                if self
                    .core
                    .add_slot(ProviderSlot::new(provider, options, breaker))
                {
                    self.core
                        .keep_task(tokio::spawn(reconciler::run(self.core.clone(), id)));
                }
            }
        }
        self.core.announce();
        Ok(())
    }

    /// Takes a provider's plugin out of service: its downloads wait, its health says so.
    pub fn uninstall_provider(&self, id: &str) {
        if let Some(slot) = self.core.slot(id) {
            slot.uninstall();
            self.core.announce();
        }
    }

    /// A search or hand-over cut short by a stop starts again; transfers already at a provider
    /// are reconciled on its first poll.
    fn recover(&self) -> Result<(), EngineError> {
        for d in self.core.store().with_status(Status::Pending)? {
            if d.external_id.is_none() {
                self.core.apply(d.id, |d, now| {
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
        self.core.subscribe()
    }

    /// Counts changes: equal generations mean nothing was announced in between.
    pub fn generation(&self) -> u64 {
        self.core.generation()
    }

    pub fn store(&self) -> &Store {
        self.core.store()
    }

    /// Every provider the engine knows (loaded or not), by plugin id.
    pub fn provider_ids(&self) -> Vec<String> {
        self.core
            .slots()
            .iter()
            .map(|s| s.id().to_owned())
            .collect()
    }

    /// Known providers' kinds (the API's `provider` values).
    pub fn provider_kinds(&self) -> Vec<String> {
        let mut kinds: Vec<String> = self
            .core
            .slots()
            .iter()
            .map(|s| s.descriptor().kind)
            .collect();
        kinds.dedup();
        kinds
    }

    /// (kind, display name) of each known provider.
    pub fn provider_choices(&self) -> Vec<(String, String)> {
        self.core
            .slots()
            .iter()
            .map(|s| {
                let d = s.descriptor();
                (d.kind, d.display_name)
            })
            .collect()
    }

    /// Finished downloads of one status, newest first.
    pub fn newest(&self, status: Status, limit: usize) -> Result<Vec<Download>, EngineError> {
        Ok(self.core.store().terminal_newest(status, limit)?)
    }

    /// A page of what reached `status` since `since`, newest first, and the total.
    pub fn newest_since(
        &self,
        status: Status,
        since: DateTime<Utc>,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<Download>, usize), EngineError> {
        Ok(self
            .core
            .store()
            .terminal_page_since(status, since, offset, limit)?)
    }

    /// Loaded providers' display names.
    pub fn providers_available(&self) -> Vec<String> {
        self.core
            .slots()
            .iter()
            .filter(|s| s.provider().is_some())
            .map(|s| s.descriptor().display_name)
            .collect()
    }

    /// The provider a new download goes to: the one named (by id or kind), else one that takes
    /// the source, else the first that can search.
    fn route(
        &self,
        requested: Option<&str>,
        source: Option<&ChosenSource>,
    ) -> Result<Arc<ProviderSlot>, EngineError> {
        let slots = self.core.slots();
        // No provider known at all: nothing could ever take it. (A known provider whose plugin
        // left service still takes downloads: they wait for it, as its stored ones do.)
        if requested.is_none() && slots.is_empty() {
            return Err(EngineError::NoProviderLoaded);
        }
        let takes = |slot: &ProviderSlot| {
            source.is_none_or(|s| slot.descriptor().accepts.takes(&s.to_source()))
        };
        let found = match requested {
            Some(name) => slots.iter().find(|s| {
                let d = s.descriptor();
                d.id == name || d.kind == name
            }),
            None => match source {
                Some(_) => slots.iter().find(|s| takes(s)),
                None => slots
                    .iter()
                    .find(|s| s.descriptor().capabilities.search)
                    .or_else(|| slots.first()),
            },
        };
        let slot = found.cloned().ok_or_else(|| EngineError::UnknownProvider {
            requested: requested.unwrap_or("(any)").to_owned(),
            loaded: if slots.is_empty() {
                "none".into()
            } else {
                self.provider_ids().join(", ")
            },
        })?;
        if !takes(&slot) {
            return Err(EngineError::Invalid(format!(
                "provider {} does not take this kind of source",
                slot.id()
            )));
        }
        Ok(slot)
    }

    /// Creates a download; returns it and whether it is new (an active download of the same
    /// track, or one made with the same idempotency key, is returned instead of a duplicate).
    pub fn create(&self, request: NewDownload) -> Result<(Download, bool), EngineError> {
        let (download, key) = self.new_download(request)?;
        let inserted = self.core.store().insert_unless_known(
            &download,
            key.as_deref(),
            self.core.now() - self.core.settings().idempotency_key_ttl,
        )?;
        Ok(self.created(download, inserted))
    }

    /// As [`create`](Self::create), written in one store operation with the other creates
    /// waiting at the same time (the API's path: many clients creating at once).
    pub async fn create_together(
        &self,
        request: NewDownload,
    ) -> Result<(Download, bool), EngineError> {
        let (download, key) = self.new_download(request)?;
        let (download, inserted) = self.creates.insert(&self.core, download, key).await?;
        Ok(self.created(download, inserted))
    }

    /// The download a request asks for, checked and routed, and its idempotency key.
    fn new_download(
        &self,
        request: NewDownload,
    ) -> Result<(Download, Option<String>), EngineError> {
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
        if request.duration_secs.is_some_and(|d| d == 0 || d > 86_400) {
            return Err(EngineError::Invalid(
                "duration_secs must be between 1 and 86400".into(),
            ));
        }
        let source = request.source.as_ref().map(checked_source).transpose()?;
        let slot = self.route(request.provider.as_deref(), source.as_ref())?;
        let descriptor = slot.descriptor();
        let now = self.core.now();
        // Time-ordered ids: new records append at the end of the store's id-keyed trees, and
        // downloads created together sit together, so a batch over them writes a few pages
        // instead of one per download.
        let id = Uuid::now_v7();
        let download = Download {
            provider_id: descriptor.id.clone(),
            provider_kind: descriptor.kind.clone(),
            provider_name: descriptor.display_name.clone(),
            total_bytes: source.as_ref().map_or(0, |s| s.size),
            source_fixed: source.is_some(),
            provider_pinned: request.provider.is_some(),
            source,
            priority,
            max_retries: self.core.settings().retry.max_retries,
            duration_secs: request.duration_secs,
            ..Download::waiting(
                id,
                track_id.unwrap_or_else(|| id.to_string()),
                TrackInfo {
                    title,
                    artist,
                    album,
                },
                now,
            )
        };
        Ok((download, key))
    }

    /// What the store did with a new download, for the caller.
    fn created(&self, download: Download, inserted: Inserted) -> (Download, bool) {
        match inserted {
            Inserted::Created => {
                self.core.metrics().created(&download.provider_id);
                tracing::info!(
                    download = %download.id,
                    provider = %download.provider_id,
                    "download created"
                );
                self.core.announce();
                (download, true)
            }
            Inserted::Existing(existing) => (*existing, false),
        }
    }

    /// A download with its latest observed progress.
    pub fn get(&self, id: Uuid) -> Result<Download, EngineError> {
        let d = self
            .core
            .store()
            .get(id)?
            .ok_or(EngineError::NotFound(id))?;
        Ok(self.with_live(d))
    }

    /// Overlays progress observed since the last write.
    pub fn with_live(&self, mut d: Download) -> Download {
        if let Some(live) = self.core.live().get(&d.id)
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
        self.active_window(usize::MAX)
    }

    /// The live views' window on the queue, in `active`'s order: every download in motion
    /// (any active status but waiting), then the first waiting ones in dispatch order while the
    /// whole list stays within `limit`. Reads only as many waiting records as it shows.
    pub fn active_window(&self, limit: usize) -> Result<Vec<Download>, EngineError> {
        let mut moving = Vec::new();
        for status in [
            Status::Downloading,
            Status::Stalled,
            Status::Queued,
            Status::Pending,
        ] {
            let mut group = self.with_status(status)?;
            group.sort_by_key(|d| d.status_since);
            moving.extend(group);
        }
        let paused = self.with_status(Status::Paused)?;
        let room = limit.saturating_sub(moving.len() + paused.len());
        let mut out = moving;
        if room > 0 {
            out.extend(self.core.store().waiting_in_order(room)?);
        }
        out.extend(paused);
        Ok(out)
    }

    /// Every download in one status, with live progress.
    pub fn with_status(&self, status: Status) -> Result<Vec<Download>, EngineError> {
        Ok(self
            .core
            .store()
            .with_status(status)?
            .into_iter()
            .map(|d| self.with_live(d))
            .collect())
    }

    pub fn cancel(&self, id: Uuid) -> Result<Download, EngineError> {
        self.act_on(id, Edit::Cancel)
    }

    /// Holds a download back. A provider that can pause holds its transfer, which carries on
    /// at resume; any other transfer is cancelled at the provider (slskd cannot pause) and
    /// starts over on resume.
    pub fn pause(&self, id: Uuid) -> Result<Download, EngineError> {
        self.act_on(id, Edit::Pause)
    }

    pub fn resume(&self, id: Uuid) -> Result<Download, EngineError> {
        self.act_on(id, Edit::Resume)
    }

    /// Puts a failed or cancelled download back in the queue with a fresh retry budget. It
    /// never reuses the old provider transfer, and it is refused while another download of
    /// the same track is active.
    pub fn retry(&self, id: Uuid) -> Result<Download, EngineError> {
        self.act_on(id, Edit::Retry)
    }

    pub fn set_priority(&self, id: Uuid, priority: i32) -> Result<Download, EngineError> {
        self.act_on(id, Edit::Priority(priority))
    }

    fn act_on(&self, id: Uuid, edit: Edit) -> Result<Download, EngineError> {
        self.act_on_many(&[id], edit)?
            .pop()
            .unwrap_or(Err(EngineError::NotFound(id)))
    }

    /// One user action on many downloads, written in one durable transaction. Each id gets
    /// its own verdict (a refused one is left as it was); fails as a whole only when the
    /// store does.
    pub fn act_on_many(
        &self,
        ids: &[Uuid],
        edit: Edit,
    ) -> Result<Vec<Result<Download, EngineError>>, EngineError> {
        if let Edit::Priority(p) = edit
            && !(-1000..=1000).contains(&p)
        {
            return Ok(ids
                .iter()
                .map(|_| {
                    Err(EngineError::Invalid(
                        "priority must be between -1000 and 1000".into(),
                    ))
                })
                .collect());
        }
        let verdicts = self
            .core
            .apply_many(ids, |d, now| edit_record(&self.core, edit, d, now))?;
        Ok(verdicts
            .into_iter()
            .map(|v| v.map(|updated| self.after_edit(edit, updated)))
            .collect())
    }

    /// What an edit asks of the provider once it is written.
    fn after_edit(&self, edit: Edit, updated: Updated) -> Download {
        match edit {
            Edit::Cancel => self.core.cancel_released(&updated.before),
            Edit::Pause if updated.after.external_id.is_some() => {
                self.core.hold_transfer(&updated.after, true);
            }
            Edit::Pause => self.core.cancel_released(&updated.before),
            Edit::Resume if updated.after.external_id.is_some() => {
                self.core.hold_transfer(&updated.after, false);
            }
            Edit::Resume | Edit::Retry | Edit::Priority(_) => {}
        }
        updated.after
    }

    /// Holds or releases the whole queue (persisted): nothing new is dispatched while paused.
    pub fn set_paused(&self, paused: bool) -> Result<(), EngineError> {
        self.core.store().set_flag(PAUSED_FLAG, paused)?;
        self.core.set_paused(paused);
        self.core.announce();
        Ok(())
    }

    pub fn is_paused(&self) -> bool {
        self.core.is_paused()
    }

    fn failed_ids(&self) -> Result<Vec<Uuid>, EngineError> {
        Ok(self
            .core
            .store()
            .with_status(Status::Failed)?
            .iter()
            .map(|d| d.id)
            .collect())
    }

    /// Retries every failed download, in one transaction.
    pub fn retry_all_failed(&self) -> Result<usize, EngineError> {
        let ids = self.failed_ids()?;
        let mut retried = 0;
        for verdict in self.act_on_many(&ids, Edit::Retry)? {
            match verdict {
                Ok(_) => retried += 1,
                Err(
                    EngineError::NotFound(_)
                    | EngineError::Illegal(_)
                    | EngineError::WrongState(_)
                    | EngineError::TrackBusy { .. },
                ) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(retried)
    }

    pub fn clear_failed(&self) -> Result<usize, EngineError> {
        let ids = self.failed_ids()?;
        let removed = self.core.store().delete(&ids)?;
        self.core.announce();
        Ok(removed)
    }

    /// Removes completed downloads that completed more than `days` days ago.
    pub fn clear_history(&self, days: u32) -> Result<usize, EngineError> {
        let cutoff = self.core.now() - Duration::from_secs(u64::from(days) * 86_400);
        let ids: Vec<Uuid> = self
            .core
            .store()
            .terminal_before(Status::Completed, cutoff)?
            .iter()
            .map(|d| d.id)
            .collect();
        let removed = self.core.store().delete(&ids)?;
        self.core.announce();
        Ok(removed)
    }

    /// Read it before [`stats`](Self::stats): statistics read after it are at least as new as
    /// the key says, so a copy kept under the key is never older than it.
    pub fn stats_key(&self) -> StatsKey {
        StatsKey {
            commits: self.core.store().commits(),
            minute: self.core.now().timestamp().div_euclid(60),
        }
    }

    pub fn stats(&self) -> Result<QueueStats, EngineError> {
        let store = self.core.store();
        let c: StatusCounts = store.counts()?;
        let day_ago = self.core.now() - Duration::from_secs(86_400);
        let g = |s| c.get(s);
        Ok(QueueStats {
            waiting: g(Status::Waiting),
            pending: g(Status::Pending),
            queued: g(Status::Queued),
            downloading: g(Status::Downloading),
            paused: g(Status::Paused),
            stalled: g(Status::Stalled),
            completed_today: store.terminal_since(Status::Completed, day_ago)?,
            failed_today: store.terminal_since(Status::Failed, day_ago)?,
            total_active: Status::ALL
                .iter()
                .filter(|s| !s.is_terminal())
                .map(|s| g(*s))
                .sum(),
            total_in_progress: g(Status::Pending) + g(Status::Queued) + g(Status::Downloading),
        })
    }

    /// The counters the engine feeds, to be exposed with the rest of the host's metrics.
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        self.core.metrics()
    }

    /// Every stored download by status: the store's counters, no record read.
    pub fn status_counts(&self) -> Result<Vec<(Status, u64)>, EngineError> {
        let c = self.core.store().counts()?;
        Ok(Status::ALL.iter().map(|s| (*s, c.get(*s))).collect())
    }

    /// Downloads in each non-terminal status, per provider, read from the store's by-status
    /// index: bounded by the queue, unlike the history.
    pub fn active_by_provider(&self) -> Result<BTreeMap<(Status, String), u64>, EngineError> {
        let mut out = BTreeMap::new();
        for status in Status::ALL.iter().filter(|s| !s.is_terminal()) {
            for d in self.core.store().with_status(*status)? {
                *out.entry((*status, d.provider_id)).or_default() += 1;
            }
        }
        Ok(out)
    }

    pub fn health(&self) -> Vec<ProviderHealth> {
        let now = self.core.now();
        self.core
            .slots()
            .iter()
            .map(|slot| {
                let d = slot.descriptor();
                let b = slot.breaker().clone();
                ProviderHealth {
                    id: d.id.clone(),
                    kind: d.kind.clone(),
                    display_name: d.display_name.clone(),
                    circuit_state: b.state,
                    consecutive_failures: b.consecutive_failures,
                    last_success: b.last_success,
                    last_error: b.last_error.clone(),
                    until_trial: b.until_trial(&self.core.settings().breaker, now),
                    loaded: slot.provider().is_some(),
                    config_problem: slot.config_problem(),
                }
            })
            .collect()
    }

    /// The plugin serving a provider now, for a direct health ping.
    pub fn provider(&self, id: &str) -> Option<Arc<dyn Provider>> {
        self.core.slot(id).and_then(|s| s.provider())
    }

    /// What each peer of a provider has done for us, as of now (counts decayed), best
    /// standing first, then most delivered. `None` when no such provider is configured.
    pub fn peers(&self, id: &str) -> Result<Option<Vec<PeerReport>>, EngineError> {
        if self.core.slot(id).is_none() {
            return Ok(None);
        }
        let now = self.core.now();
        let mut peers: Vec<PeerReport> = self
            .core
            .store()
            .peers(id)?
            .into_iter()
            .map(|(peer, record)| PeerReport {
                standing: record.standing(now),
                record: record.decayed(now),
                peer,
            })
            .collect();
        peers.sort_by(|a, b| {
            a.standing
                .cmp(&b.standing)
                .then(b.record.finished.total_cmp(&a.record.finished))
                .then_with(|| a.peer.cmp(&b.peer))
        });
        Ok(Some(peers))
    }

    /// Tries a provider again at once (the operator fixed something): its gates open and a
    /// ping runs as the breaker's trial; the breaker closes on success and opens again on
    /// failure. Returns the provider's health after the trial.
    pub async fn reconnect(&self, id: &str) -> Result<ProviderHealth, EngineError> {
        let slot = self
            .core
            .slot(id)
            .ok_or_else(|| EngineError::UnknownProvider {
                requested: id.to_owned(),
                loaded: self.provider_ids().join(", "),
            })?;
        let provider = slot.provider().ok_or_else(|| {
            EngineError::WrongState(format!("provider {id} has no plugin loaded"))
        })?;
        slot.gates().reset();
        {
            let mut b = slot.breaker();
            if b.state != CircuitState::Closed {
                b.state = CircuitState::HalfOpen;
                b.trial_in_flight = true;
            }
        }
        match provider.ping().await {
            Ok(health) if health.ready => self.core.call_succeeded(&slot, CallKind::Control),
            Ok(health) => self.core.call_failed(
                &slot,
                CallKind::Control,
                &ProviderError::Unreachable(health.detail),
            ),
            Err(e) => self.core.call_failed(&slot, CallKind::Control, &e),
        }
        self.core.announce();
        self.health()
            .into_iter()
            .find(|h| h.id == id)
            .ok_or_else(|| EngineError::Invalid(format!("provider {id} vanished")))
    }
}

/// A provider's persisted breaker, unless it was recorded under another configuration (then
/// it describes another setup: a fixed URL or key must not wait out the old one's failures).
/// Whether pausing `d` keeps its transfer at the provider (which must be able to pause it).
/// A user action on one download (alone or in a batch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edit {
    Cancel,
    Pause,
    Resume,
    Retry,
    Priority(i32),
}

/// Applies a user action to a record, or refuses it.
fn edit_record(
    core: &Core,
    edit: Edit,
    d: &mut Download,
    now: DateTime<Utc>,
) -> Result<(), EngineError> {
    match edit {
        Edit::Cancel => {
            move_to(d, Status::Cancelled, now)?;
            d.status_message = Some("Cancelled".into());
            d.speed_bytes_per_sec = 0.0;
            d.next_retry_at = None;
            d.external_id = None;
        }
        Edit::Pause => {
            let can_pause = core
                .slot(&d.provider_id)
                .and_then(|s| s.provider())
                .is_some_and(|p| p.descriptor().capabilities.pause);
            let held = keeps_transfer_when_paused(d, can_pause);
            move_to(d, Status::Paused, now)?;
            d.speed_bytes_per_sec = 0.0;
            if held {
                d.status_message = Some(format!("Paused at {}", d.provider_name));
            } else {
                d.status_message = Some("Paused".into());
                d.external_id = None;
                d.transfer_requested_at = None;
                d.bytes_downloaded = 0;
            }
        }
        Edit::Resume => {
            if d.status != Status::Paused {
                return Err(EngineError::WrongState(format!(
                    "only a paused download can be resumed; this one is {}",
                    d.status
                )));
            }
            if d.external_id.is_some() {
                // The provider held the transfer: it carries on where it stopped.
                move_to(d, Status::Queued, now)?;
                d.status_message = Some(format!("Resuming at {}", d.provider_name));
            } else {
                move_to(d, Status::Waiting, now)?;
                d.status_message = None;
            }
        }
        Edit::Retry => {
            if !matches!(d.status, Status::Failed | Status::Cancelled) {
                return Err(EngineError::WrongState(format!(
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
            d.transfer_requested_at = None;
            d.bytes_downloaded = 0;
            d.speed_bytes_per_sec = 0.0;
            if let Some(s) = &d.source
                && d.has_tried(&s.peer, s.key())
            {
                d.source = None;
                d.source_fixed = false;
            }
        }
        Edit::Priority(priority) => {
            if d.status.is_terminal() {
                return Err(EngineError::WrongState(format!(
                    "a {} download has no priority to change",
                    d.status
                )));
            }
            d.priority = priority;
        }
    }
    Ok(())
}

fn keeps_transfer_when_paused(d: &Download, provider_can_pause: bool) -> bool {
    provider_can_pause
        && d.external_id.is_some()
        && matches!(
            d.status,
            Status::Queued | Status::Downloading | Status::Stalled
        )
}

fn stored_breaker(
    store: &Store,
    id: &str,
    options: &ProviderOptions,
) -> Result<Breaker, EngineError> {
    let stored = store.breaker(id)?.unwrap_or_default();
    if stored.config_fingerprint == options.config_fingerprint {
        return Ok(stored);
    }
    if stored.state != CircuitState::Closed || stored.consecutive_failures > 0 {
        tracing::info!(provider = %id, "the provider's configuration changed: its circuit breaker starts closed");
    }
    let fresh = Breaker {
        config_fingerprint: options.config_fingerprint.clone(),
        ..Breaker::default()
    };
    store.save_breaker(id, &fresh)?;
    Ok(fresh)
}
