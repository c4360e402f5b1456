//! One reconciler per provider: lists its transfers every poll interval and applies them to our
//! records through the transition table. Detects drift (a vanished transfer, one re-created under
//! a new id, one that ended while we were down) and stalls.

use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;

use super::dispatcher::{fail, record_failure, record_success};
use super::download::{Download, FailureCause, Status};
use super::manager::{EngineError, Inner, Live, ProviderSlot, move_to};
use super::provider::{FailureReason, Transfer, TransferState};

/// Weight of the newest speed sample in the smoothed speed.
const SPEED_SMOOTHING: f64 = 0.3;

pub(super) async fn run(inner: Arc<Inner>, provider_id: String) {
    let mut stop = inner.stopping();
    loop {
        if let Some(slot) = inner.providers.get(&provider_id)
            && let Err(e) = poll_once(&inner, slot).await
        {
            tracing::error!(provider = %provider_id, "reconciler: {e}");
        }
        tokio::select! {
            _ = tokio::time::sleep(inner.settings.poll_interval) => {}
            _ = stop.changed() => return,
        }
    }
}

/// One poll: list the provider's transfers (if its breaker lets us) and apply them.
pub(super) async fn poll_once(inner: &Arc<Inner>, slot: &ProviderSlot) -> Result<(), EngineError> {
    let allowed = slot.breaker().allow(&inner.settings.breaker, inner.now());
    if !allowed {
        return Ok(());
    }
    match slot.provider.list_transfers().await {
        Ok(transfers) => {
            record_success(inner, slot);
            apply_snapshot(inner, &slot.provider.descriptor().id, &transfers)
        }
        Err(e) => {
            if e.counts_against_provider() {
                record_failure(inner, slot, &e.to_string());
            } else {
                // Not the provider's health (e.g. rate limited): release a trial slot, if any.
                slot.breaker().trial_in_flight = false;
            }
            Ok(())
        }
    }
}

fn cause_of(reason: FailureReason) -> FailureCause {
    match reason {
        FailureReason::Rejected => FailureCause::Rejected,
        FailureReason::TimedOut => FailureCause::TimedOut,
        FailureReason::Errored => FailureCause::Errored,
        FailureReason::PeerOffline => FailureCause::PeerOffline,
        FailureReason::SizeMismatch => FailureCause::SizeMismatch,
        FailureReason::ProviderRestarted => FailureCause::Vanished,
    }
}

fn is_restart_casualty(t: &Transfer) -> bool {
    t.state == TransferState::Failed
        && t.failure
            .as_ref()
            .is_some_and(|f| f.reason == FailureReason::ProviderRestarted)
}

/// Applies one listing to every download of this provider that has a transfer.
pub(super) fn apply_snapshot(
    inner: &Arc<Inner>,
    provider_id: &str,
    transfers: &[Transfer],
) -> Result<(), EngineError> {
    let mut ours = Vec::new();
    for status in [
        Status::Pending,
        Status::Queued,
        Status::Downloading,
        Status::Stalled,
    ] {
        ours.extend(
            inner
                .store
                .with_status(status)?
                .into_iter()
                .filter(|d| d.provider_id == provider_id && d.external_id.is_some()),
        );
    }
    for d in ours {
        let external = d.external_id.clone().unwrap_or_default();
        let by_id = transfers.iter().find(|t| t.external_id == external);
        // A provider restart re-creates transfers under new ids: match by peer + filename too.
        let by_name = d.source.as_ref().and_then(|s| {
            // The newest such record: providers list in creation order.
            transfers.iter().rfind(|t| {
                t.external_id != external
                    && t.peer == s.peer
                    && t.filename == s.filename
                    && !is_restart_casualty(t)
            })
        });
        let chosen = match (by_id, by_name) {
            (Some(t), Some(newer)) if is_restart_casualty(t) => Some(newer),
            (Some(t), _) => Some(t),
            (None, newer) => newer,
        };
        let result = match chosen {
            Some(t) => observe(inner, &d, t),
            None => missing(inner, &d),
        };
        match result {
            Ok(()) | Err(EngineError::Stale(_) | EngineError::NotFound(_)) => {}
            Err(EngineError::Illegal(e)) => {
                tracing::warn!(download = %d.id, "ignored provider state: {e}")
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn missing(inner: &Arc<Inner>, d: &Download) -> Result<(), EngineError> {
    let polls = {
        let now = inner.now();
        let mut live = inner.live();
        let entry = live.entry(d.id).or_insert_with(|| fresh_live(d, now));
        entry.missing_polls += 1;
        entry.missing_polls
    };
    if polls >= inner.settings.vanish_after_polls {
        let message = format!("The transfer disappeared from {}", d.provider_name);
        fail(inner, d.id, FailureCause::Vanished, &message, None)?;
    }
    Ok(())
}

fn fresh_live(d: &Download, now: OffsetDateTime) -> Live {
    Live {
        bytes: d.bytes_downloaded,
        speed: d.speed_bytes_per_sec,
        last_progress: now,
        persisted_at: now,
        missing_polls: 0,
        pending_failure: None,
    }
}

fn elapsed(since: OffsetDateTime, now: OffsetDateTime) -> Duration {
    Duration::try_from(now - since).unwrap_or(Duration::ZERO)
}

fn observe(inner: &Arc<Inner>, d: &Download, t: &Transfer) -> Result<(), EngineError> {
    let now = inner.now();
    let settings = &inner.settings;
    // Update what we saw, in memory.
    let live = {
        let mut all = inner.live();
        let live = all.entry(d.id).or_insert_with(|| fresh_live(d, now));
        live.missing_polls = 0;
        if t.bytes_transferred > live.bytes {
            live.last_progress = now;
        }
        live.bytes = t.bytes_transferred;
        live.speed = if t.state == TransferState::InProgress {
            SPEED_SMOOTHING * t.speed_bytes_per_sec + (1.0 - SPEED_SMOOTHING) * live.speed
        } else {
            0.0
        };
        if t.state != TransferState::Failed {
            live.pending_failure = None;
        }
        live.clone()
    };

    let target = match t.state {
        TransferState::QueuedLocally | TransferState::Requested | TransferState::QueuedRemotely => {
            Status::Queued
        }
        TransferState::Initializing | TransferState::InProgress => Status::Downloading,
        TransferState::Succeeded => Status::Completed,
        TransferState::Cancelled => {
            let message = format!("Cancelled at {}", d.provider_name);
            fail(inner, d.id, FailureCause::CancelledRemotely, &message, None)?;
            return Ok(());
        }
        TransferState::Failed => {
            let failure = t.failure.clone();
            let (reason, message, may_retry) = match &failure {
                Some(f) => (f.reason, f.message.clone(), f.provider_may_retry),
                None => (
                    FailureReason::Errored,
                    "The transfer failed".to_owned(),
                    false,
                ),
            };
            if may_retry {
                // The provider may retry by itself: fail only once it has had its chance.
                let first_seen = {
                    let mut all = inner.live();
                    let live = all.entry(d.id).or_insert_with(|| fresh_live(d, now));
                    *live.pending_failure.get_or_insert(now)
                };
                let patience = if reason == FailureReason::ProviderRestarted {
                    settings.restart_grace
                } else {
                    settings.poll_interval * 2
                };
                if elapsed(first_seen, now) < patience {
                    let note = if reason == FailureReason::ProviderRestarted {
                        format!(
                            "{} restarted; waiting for it to queue the file again",
                            d.provider_name
                        )
                    } else {
                        format!("{message} ({} may retry)", d.provider_name)
                    };
                    inner.apply(d.id, |d, _| {
                        d.status_message = Some(note);
                        Ok(())
                    })?;
                    return Ok(());
                }
            }
            fail(inner, d.id, cause_of(reason), &message, None)?;
            return Ok(());
        }
    };

    // Stalls: no byte progress while downloading, or an endless remote queue.
    let mut target = target;
    let no_progress_for = elapsed(live.last_progress, now);
    if target == Status::Downloading
        && d.status != Status::Pending
        && no_progress_for >= settings.stall_timeout
    {
        target = Status::Stalled;
    }
    if target == Status::Queued
        && t.state == TransferState::QueuedRemotely
        && matches!(d.status, Status::Queued | Status::Stalled)
        && (d.status == Status::Stalled || elapsed(d.status_since, now) >= settings.queue_timeout)
    {
        target = Status::Stalled;
    }
    if target == Status::Stalled
        && d.status == Status::Stalled
        && elapsed(d.status_since, now) >= settings.stall_grace
    {
        let message = format!(
            "Stalled for {} s at {}",
            elapsed(d.status_since, now).as_secs(),
            t.peer
        );
        let updated = fail(inner, d.id, FailureCause::Stalled, &message, None)?;
        inner.cancel_at_provider(&updated.before);
        return Ok(());
    }

    let persist_progress =
        target != d.status || elapsed(live.persisted_at, now) >= settings.progress_persist_interval;
    let observed_status = d.status;
    let observed_external = d.external_id.clone();
    let updated = inner.apply(d.id, |d, now| {
        if d.status != observed_status || d.external_id != observed_external {
            return Err(EngineError::Stale(d.id));
        }
        move_to(d, target, now)?;
        if d.external_id.as_deref() != Some(t.external_id.as_str()) {
            tracing::info!(download = %d.id, "transfer re-created by the provider: {} -> {}", observed_external.as_deref().unwrap_or("-"), t.external_id);
            d.external_id = Some(t.external_id.clone());
        }
        if t.size > 0 {
            d.total_bytes = t.size;
        }
        match target {
            Status::Completed => {
                d.bytes_downloaded = d.total_bytes.max(t.bytes_transferred);
                d.speed_bytes_per_sec = 0.0;
                d.status_message = None;
                d.error_message = None;
                d.failure_cause = None;
            }
            Status::Downloading => {
                d.started_at.get_or_insert(now);
                d.status_message = None;
            }
            Status::Queued => {
                d.status_message = Some(match (t.state, t.queue_position) {
                    (TransferState::QueuedRemotely, Some(p)) => format!("Queued at {} (position {p})", t.peer),
                    (TransferState::QueuedRemotely, None) => format!("Queued at {}", t.peer),
                    _ => format!("Queued at {}", d.provider_name),
                });
            }
            Status::Stalled => {
                d.status_message = Some(if t.state == TransferState::QueuedRemotely {
                    format!("Queued at {} for too long", t.peer)
                } else {
                    format!("No progress for {} s", no_progress_for.as_secs())
                });
            }
            _ => {}
        }
        if persist_progress && target != Status::Completed {
            d.bytes_downloaded = t.bytes_transferred;
            d.speed_bytes_per_sec = live.speed;
        }
        Ok(())
    })?;
    if persist_progress && let Some(l) = inner.live().get_mut(&d.id) {
        l.persisted_at = now;
    }
    if updated.after.status == Status::Stalled && updated.before.status != Status::Stalled {
        tracing::info!(download = %d.id, "stalled: {}", updated.after.status_message.as_deref().unwrap_or(""));
    }
    Ok(())
}
