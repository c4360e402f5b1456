//! The state the engine's workers share, in one place: the store, the providers, what was seen
//! of transfers since it was last written, and the signals. The dispatcher, the reconcilers and
//! the manager act through the methods here, never on each other.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use chrono::{DateTime, Utc};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::breaker::CircuitState;
use super::call_gates::CallKind;
use super::clock::Clock;
use super::download::{Attempt, ChosenSource, Download, FailureCause, Status, TriedSource};
use super::manager::EngineError;
use super::provider::{ProviderError, TransferRef};
use super::provider_slot::ProviderSlot;
use super::reputation::{self, PeerEvent};
use super::retry::RetryDecision;
use super::settings::EngineSettings;
use super::transitions::{IllegalTransition, check};
use crate::metrics::Metrics;
use crate::store::{Released, Store, StoreError, Updated};

/// What was seen of one download's transfer and not necessarily written yet, and the
/// reconciler's memory of it.
#[derive(Debug, Clone)]
pub(super) struct Live {
    pub bytes: u64,
    pub speed: f64,
    pub last_progress: DateTime<Utc>,
    pub persisted_at: DateTime<Utc>,
    pub missing_polls: u32,
    /// A failure the provider may still retry, and when it was first seen.
    pub pending_failure: Option<DateTime<Utc>>,
    /// The last place in the peer's queue, when it was last asked, and when it last fell.
    pub queue_position: Option<u32>,
    pub position_asked_at: Option<DateTime<Utc>>,
    pub queue_moved_at: Option<DateTime<Utc>>,
    /// The unknown provider state last logged, so it is logged once.
    pub unknown_state: Option<String>,
}

impl Live {
    pub fn fresh(d: &Download, now: DateTime<Utc>) -> Live {
        Live {
            bytes: d.bytes_downloaded,
            speed: d.speed_bytes_per_sec,
            last_progress: now,
            persisted_at: now,
            missing_polls: 0,
            pending_failure: None,
            queue_position: d.queue_position,
            position_asked_at: None,
            queue_moved_at: None,
            unknown_state: None,
        }
    }
}

pub(super) struct Core {
    store: Store,
    providers: RwLock<BTreeMap<String, Arc<ProviderSlot>>>,
    clock: Arc<dyn Clock>,
    settings: EngineSettings,
    live: Mutex<HashMap<Uuid, Live>>,
    wake: Notify,
    changes: watch::Sender<u64>,
    paused: AtomicBool,
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Counters of what the engine commits (transitions, failures, bytes).
    metrics: Metrics,
    /// Downloads whose finished file is being checked, and the turns the checks take.
    verifying: Mutex<HashSet<Uuid>>,
    verify_turns: Arc<Semaphore>,
}

/// Moves a record to `to` (checked against the transition table), stamping the time.
pub(super) fn move_to(
    d: &mut Download,
    to: Status,
    now: DateTime<Utc>,
) -> Result<(), IllegalTransition> {
    check(d.status, to)?;
    if d.status != to {
        d.status = to;
        d.status_since = now;
        if to == Status::Completed && d.completed_at.is_none() {
            d.completed_at = Some(now);
        }
        if to != Status::Queued {
            d.queue_position = None;
        }
    }
    Ok(())
}

impl Core {
    pub fn new(
        store: Store,
        slots: Vec<ProviderSlot>,
        settings: EngineSettings,
        clock: Arc<dyn Clock>,
        paused: bool,
    ) -> Core {
        let (changes, _) = watch::channel(0);
        let (stop, _) = watch::channel(false);
        Core {
            store,
            providers: RwLock::new(
                slots
                    .into_iter()
                    .map(|s| (s.id().to_owned(), Arc::new(s)))
                    .collect(),
            ),
            clock,
            live: Mutex::new(HashMap::new()),
            wake: Notify::new(),
            changes,
            paused: AtomicBool::new(paused),
            stop,
            tasks: Mutex::new(Vec::new()),
            verify_turns: Arc::new(Semaphore::new(settings.verify.parallel.max(1))),
            settings,
            verifying: Mutex::new(HashSet::new()),
            metrics: Metrics::new(),
        }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn settings(&self) -> &EngineSettings {
        &self.settings
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn slot(&self, id: &str) -> Option<Arc<ProviderSlot>> {
        self.providers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    /// Every provider slot, in id order.
    pub fn slots(&self) -> Vec<Arc<ProviderSlot>> {
        self.providers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// Adds a provider slot; `false` when one with its id exists.
    pub fn add_slot(&self, slot: ProviderSlot) -> bool {
        let mut all = self.providers.write().unwrap_or_else(|p| p.into_inner());
        if all.contains_key(slot.id()) {
            return false;
        }
        all.insert(slot.id().to_owned(), Arc::new(slot));
        true
    }

    pub fn live(&self) -> MutexGuard<'_, HashMap<Uuid, Live>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }

    pub fn set_paused(&self, paused: bool) {
        self.paused.store(paused, Ordering::SeqCst);
    }

    /// Says when the engine stops. A task that first runs after `stop` (spawned, then never
    /// polled before the shutdown) would wait for a change it will never see: its receiver is
    /// then marked changed from the start.
    pub fn stopping(&self) -> watch::Receiver<bool> {
        let mut stop = self.stop.subscribe();
        if *stop.borrow() {
            stop.mark_changed();
        }
        stop
    }

    pub fn stop(&self) {
        // `send` stores nothing while no task has subscribed yet (none has run): the flag
        // must stand for the tasks that run later.
        self.stop.send_replace(true);
    }

    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// How many changes were announced so far.
    pub fn generation(&self) -> u64 {
        *self.changes.borrow()
    }

    /// Waits for a change or `timeout`, whichever comes first (the dispatcher's nap).
    pub async fn woken_or(&self, timeout: std::time::Duration) {
        tokio::select! {
            _ = self.wake.notified() => {}
            _ = tokio::time::sleep(timeout) => {}
        }
    }

    /// Keeps a background task to be awaited at shutdown (the finished ones are let go).
    pub fn keep_task(&self, task: JoinHandle<()>) {
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        tasks.retain(|t| !t.is_finished());
        tasks.push(task);
    }

    /// Claims the check of a download's file; `false` when one already runs.
    pub fn begin_verifying(&self, id: Uuid) -> bool {
        self.verifying
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id)
    }

    pub fn end_verifying(&self, id: Uuid) {
        self.verifying
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
    }

    pub fn is_verifying(&self, id: Uuid) -> bool {
        self.verifying
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&id)
    }

    /// Waits for one of the few turns file checks share.
    pub async fn verify_turn(&self) -> Option<OwnedSemaphorePermit> {
        self.verify_turns.clone().acquire_owned().await.ok()
    }

    pub fn take_tasks(&self) -> Vec<JoinHandle<()>> {
        std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|p| p.into_inner()))
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
        edit: impl FnOnce(&mut Download, DateTime<Utc>) -> Result<(), EngineError>,
    ) -> Result<Updated, EngineError> {
        let now = self.now();
        let result = self
            .store
            .update(id, |d| stamped(d, now, |d| edit(d, now)))
            .map_err(from_store);
        self.settle(result.and_then(|inner| inner))
    }

    /// `apply` to many downloads in one durable write (a batch action): each gets its own
    /// verdict, a refused one writes nothing, and each change has its effects as in `apply`.
    /// Fails as a whole only when the store does.
    pub fn apply_many(
        &self,
        ids: &[Uuid],
        mut edit: impl FnMut(&mut Download, DateTime<Utc>) -> Result<(), EngineError>,
    ) -> Result<Vec<Result<Updated, EngineError>>, EngineError> {
        let now = self.now();
        let verdicts = self
            .store
            .update_many(ids, |d| stamped(d, now, |d| edit(d, now)))?;
        Ok(verdicts
            .into_iter()
            .map(|v| self.settle(v.map_err(from_store).and_then(|inner| inner)))
            .collect())
    }

    /// What follows a committed edit: what was observed of an old transfer is dropped, a
    /// status change is logged, listeners are told.
    fn settle(&self, result: Result<Updated, EngineError>) -> Result<Updated, EngineError> {
        let updated = result?;
        if updated.before != updated.after {
            let id = updated.after.id;
            // What was observed belongs to one transfer: a new (or no) transfer starts afresh,
            // so a fail-over never inherits the old bytes or the old stall clock.
            let transfer_changed = updated.after.external_id != updated.before.external_id;
            if transfer_changed
                || matches!(updated.after.status, Status::Paused | Status::Waiting)
                || updated.after.status.is_terminal()
            {
                self.live().remove(&id);
            }
            if updated.after.status == Status::Completed
                && updated.before.status != Status::Completed
            {
                self.note_delivery(&updated.after);
            }
            if updated.before.status != updated.after.status {
                let a = &updated.after;
                // Counted here, after the commit: every status change passes through `apply`.
                self.metrics.transition(
                    &a.provider_id,
                    updated.before.status.as_str(),
                    a.status.as_str(),
                );
                tracing::info!(
                    download = %a.id, from = %updated.before.status, to = %a.status,
                    provider = %a.provider_id,
                    "{} - {}: {}", a.track.artist, a.track.title,
                    a.status_message.as_deref().or(a.error_message.as_deref()).unwrap_or("")
                );
            }
            self.announce();
        }
        Ok(updated)
    }

    /// Stops, at its provider, the transfer a download no longer follows (the record, written
    /// first, released it; the reconciler removes it once it has ended).
    pub fn cancel_released(&self, before: &Download) {
        let (Some(external), Some(slot)) =
            (before.external_id.clone(), self.slot(&before.provider_id))
        else {
            return;
        };
        let Some(provider) = slot.provider() else {
            return;
        };
        let transfer = TransferRef {
            external_id: external,
            peer: before
                .source
                .as_ref()
                .map(|s| s.peer.clone())
                .unwrap_or_default(),
        };
        tokio::spawn(async move {
            if let Err(e) = provider.cancel(&transfer).await {
                tracing::warn!(provider = %provider.descriptor().id, "could not cancel transfer {}: {e}", transfer.external_id);
            }
        });
    }

    /// Pauses (`hold`) or resumes, at its provider, the transfer a paused download keeps. A
    /// failure is logged: the reconciler sees the transfer as it is on its next poll.
    pub fn hold_transfer(&self, d: &Download, hold: bool) {
        let (Some(external), Some(provider)) = (
            d.external_id.clone(),
            self.slot(&d.provider_id).and_then(|s| s.provider()),
        ) else {
            return;
        };
        let transfer = TransferRef {
            external_id: external,
            peer: d
                .source
                .as_ref()
                .map(|s| s.peer.clone())
                .unwrap_or_default(),
        };
        tokio::spawn(async move {
            let result = if hold {
                provider.pause(&transfer).await
            } else {
                provider.resume(&transfer).await
            };
            if let Err(e) = result {
                tracing::warn!(provider = %provider.descriptor().id, "could not {} transfer {}: {e}", if hold { "pause" } else { "resume" }, transfer.external_id);
            }
        });
    }

    /// Records a transfer that was enqueued for a download that changed meanwhile, and stops it.
    pub fn withdraw(&self, slot: &ProviderSlot, transfer: TransferRef, filename: &str) {
        let entry = Released {
            peer: transfer.peer.clone(),
            filename: filename.to_owned(),
            since_ms: millis(self.now()),
            ended: false,
            missing_polls: 0,
            cancelled_at_ms: Some(millis(self.now())),
        };
        if let Err(e) = self.store.release(slot.id(), &transfer.external_id, &entry) {
            tracing::error!("cannot record a withdrawn transfer: {e}");
        }
        let Some(provider) = slot.provider() else {
            return;
        };
        tokio::spawn(async move {
            if let Err(e) = provider.cancel(&transfer).await {
                tracing::warn!(provider = %provider.descriptor().id, "could not withdraw transfer {}: {e}", transfer.external_id);
            }
        });
    }

    /// A call went through: the breaker closes, the gate's streak ends, a configuration
    /// problem is over.
    pub fn call_succeeded(&self, slot: &ProviderSlot, kind: CallKind) {
        slot.gates().succeeded(kind);
        slot.set_config_problem(None);
        let now = self.now();
        let snapshot = {
            let mut b = slot.breaker();
            let was = b.clone();
            b.record_success(now);
            // Only the state matters for persistence; last_success moves on every poll.
            (was.state != b.state || was.consecutive_failures != 0).then(|| b.clone())
        };
        if let Some(b) = snapshot {
            self.persist_breaker(slot, &b);
        }
    }

    /// A call failed: the breaker hears of what is the provider's fault; a "slow down" shuts
    /// the call's gate for a while; our own configuration's refusal shuts them all and says
    /// what to change. Returns nothing: what it means for a download is the caller's decision.
    pub fn call_failed(&self, slot: &ProviderSlot, kind: CallKind, error: &ProviderError) {
        let now = self.now();
        match error {
            // "Slow down", or "that file is still in a transfer": this kind of call waits.
            ProviderError::RateLimited(_) | ProviderError::Busy(_) => {
                let wait = slot.gates().rate_limited(kind, now, fastrand::f64());
                tracing::info!(provider = %slot.id(), ?kind, "{error}; next such call in {wait:?}");
                slot.breaker().trial_in_flight = false;
            }
            ProviderError::Misconfigured(problem) => {
                slot.gates().misconfigured(now);
                if slot.config_problem().as_deref() != Some(problem.as_str()) {
                    tracing::error!(provider = %slot.id(), "{problem}");
                }
                slot.set_config_problem(Some(problem.clone()));
                slot.breaker().trial_in_flight = false;
                self.announce();
            }
            e if e.counts_against_provider() => {
                let message = e.to_string();
                let b = {
                    let mut b = slot.breaker();
                    b.record_failure(&self.settings.breaker, now, &message);
                    b.clone()
                };
                if b.state != CircuitState::Closed {
                    tracing::warn!(provider = %slot.id(), "circuit {}: {message}", b.state.as_str());
                }
                self.persist_breaker(slot, &b);
            }
            _ => {
                // About one item or peer, not the provider: release a trial slot, if any.
                slot.breaker().trial_in_flight = false;
            }
        }
    }

    pub fn persist_breaker(&self, slot: &ProviderSlot, b: &super::breaker::Breaker) {
        if let Err(e) = self.store.save_breaker(slot.id(), b) {
            tracing::error!("cannot save circuit breaker state: {e}");
        }
        self.announce();
    }

    /// Records a failure and applies the retry policy: another source now, the same search
    /// later, or give up. `source` is the file that failed when it is not (yet) the record's.
    pub fn fail(
        &self,
        id: Uuid,
        cause: FailureCause,
        message: &str,
        source: Option<&ChosenSource>,
    ) -> Result<Updated, EngineError> {
        let policy = self.settings.retry.clone();
        let max_attempts_kept = self.settings.max_attempts_kept;
        let updated = self.apply(id, |d, now| {
            if d.status.is_terminal() || d.status == Status::Paused {
                return Err(EngineError::Stale(d.id));
            }
            let tried = source.or(d.source.as_ref()).map(|s| TriedSource {
                peer: s.peer.clone(),
                filename: s.key().to_owned(),
            });
            if let Some(t) = &tried
                && cause != FailureCause::NotFound
                && !d.has_tried(&t.peer, &t.filename)
            {
                d.tried_sources.push(t.clone());
            }
            d.record_attempt(
                Attempt {
                    source: tried,
                    cause,
                    message: message.to_owned(),
                    at: now,
                },
                max_attempts_kept,
            );
            d.external_id = None;
            d.transfer_requested_at = None;
            d.speed_bytes_per_sec = 0.0;
            d.error_message = Some(message.to_owned());
            match policy.decide(cause, d.retry_count, d.max_retries) {
                RetryDecision::AnotherSourceNow => {
                    d.retry_count += 1;
                    move_to(d, Status::Waiting, now)?;
                    d.source = None;
                    d.source_fixed = false;
                    d.bytes_downloaded = 0;
                    d.failure_cause = Some(cause);
                    d.status_message = Some(format!(
                        "Trying another source (attempt {} of {})",
                        d.retry_count + 1,
                        d.max_retries + 1
                    ));
                }
                RetryDecision::SearchAgainLater(delay) => {
                    d.retry_count += 1;
                    move_to(d, Status::Failed, now)?;
                    d.source = None;
                    d.source_fixed = false;
                    d.failure_cause = Some(cause);
                    d.next_retry_at = Some(now + delay);
                    d.status_message = Some(format!("Will search again in {} s", delay.as_secs()));
                }
                RetryDecision::GiveUp => {
                    move_to(d, Status::Failed, now)?;
                    d.failure_cause = Some(cause);
                    d.next_retry_at = None;
                    d.status_message =
                        Some(format!("Gave up after {} attempts", d.retry_count + 1));
                }
            }
            Ok(())
        })?;
        self.metrics
            .failure(&updated.before.provider_id, cause.as_str());
        if let Some(s) = source.or(updated.before.source.as_ref()) {
            self.note_peer(
                &updated.before.provider_id,
                &s.peer,
                PeerEvent::Failed(cause),
            );
        }
        Ok(updated)
    }

    /// A finished download tells of its peer: how soon the first byte came and how fast.
    fn note_delivery(&self, d: &Download) {
        let Some(source) = &d.source else { return };
        let span = |from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>| {
            from.zip(to)
                .and_then(|(from, to)| (to - from).to_std().ok())
                .filter(|s| !s.is_zero())
        };
        let first_byte = span(d.transfer_requested_at, d.started_at);
        let bytes_per_sec =
            span(d.started_at, d.completed_at).map(|s| d.total_bytes as f64 / s.as_secs_f64());
        self.note_peer(
            &d.provider_id,
            &source.peer,
            PeerEvent::Finished {
                first_byte,
                bytes_per_sec,
            },
        );
    }

    /// Adds one event to a peer's reputation. A failure to write it is logged: it is a
    /// statistic, and the download's own record is already safe.
    fn note_peer(&self, provider_id: &str, peer: &str, event: PeerEvent) {
        if peer.is_empty() || !reputation::counts(&event) {
            return;
        }
        let now = self.now();
        if let Err(e) = self
            .store
            .update_peer(provider_id, peer, |r| r.with(event, now))
        {
            tracing::error!(provider = %provider_id, %peer, "cannot record the peer's reputation: {e}");
        }
    }
}

/// A store's refusal as the engine says it.
fn from_store(e: StoreError) -> EngineError {
    match e {
        StoreError::NotFound(id) => EngineError::NotFound(id),
        StoreError::TrackBusy { track, holder } => EngineError::TrackBusy { track, holder },
        e => e.into(),
    }
}

/// Runs an edit and stamps `updated_at` when it changed something.
fn stamped(
    d: &mut Download,
    now: DateTime<Utc>,
    edit: impl FnOnce(&mut Download) -> Result<(), EngineError>,
) -> Result<(), EngineError> {
    let before = d.clone();
    edit(d)?;
    if *d != before {
        d.updated_at = now;
    }
    Ok(())
}

pub(super) fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// A stale record (a user acted first) is not an error for a background task.
pub(super) fn ignore_stale(
    result: Result<Updated, EngineError>,
) -> Result<Option<Updated>, EngineError> {
    match result {
        Ok(u) => Ok(Some(u)),
        Err(EngineError::Stale(_) | EngineError::NotFound(_) | EngineError::TrackBusy { .. }) => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}
