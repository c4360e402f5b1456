//! One reconciler per provider: lists its transfers every poll interval and applies them to our
//! records (matching, then the pure verdicts of `observation`), asks sparingly for remote queue
//! positions, and tidies the transfers no download follows any more (`tidy`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::call_gates::CallKind;
use super::core::{Core, Live, ignore_stale, millis, move_to};
use super::download::{Download, FailureCause, Status};
use super::manager::EngineError;
use super::matching::transfer_for;
use super::observation::{Verdict, judge, note, note_position, time_to_ask_position};
use super::provider::{Provider, Transfer, TransferRef};
use super::provider_slot::ProviderSlot;
use super::tidy::{TidyStep, over, tidy_step};
use super::verification::{self, Finish, VERIFYING};

pub(super) async fn run(core: Arc<Core>, provider_id: String) {
    let mut stop = core.stopping();
    loop {
        if let Some(slot) = core.slot(&provider_id)
            && let Err(e) = poll_once(&core, &slot).await
        {
            tracing::error!(provider = %provider_id, "reconciler: {e}");
        }
        tokio::select! {
            _ = tokio::time::sleep(core.settings().poll_interval) => {}
            _ = stop.changed() => return,
        }
    }
}

/// One poll: list the provider's transfers (if its breaker and gates let us) and apply them.
pub(super) async fn poll_once(core: &Arc<Core>, slot: &ProviderSlot) -> Result<(), EngineError> {
    let Some(provider) = slot.provider() else {
        return Ok(());
    };
    let now = core.now();
    if !slot.gates().open(CallKind::List, now) {
        return Ok(());
    }
    if !slot.breaker().allow(&core.settings().breaker, now) {
        return Ok(());
    }
    match provider.list_transfers().await {
        Ok(transfers) => {
            core.call_succeeded(slot, CallKind::List);
            apply_snapshot(core, slot, &transfers)?;
            ask_positions(core, slot, provider.as_ref(), &transfers).await?;
            tidy(core, slot, provider.as_ref(), &transfers).await
        }
        Err(e) => {
            core.call_failed(slot, CallKind::List, &e);
            Ok(())
        }
    }
}

/// The downloads of this provider that follow a transfer.
fn followed(core: &Core, provider_id: &str) -> Result<Vec<Download>, EngineError> {
    let mut ours = Vec::new();
    for status in [
        Status::Pending,
        Status::Queued,
        Status::Downloading,
        Status::Stalled,
    ] {
        ours.extend(
            core.store()
                .with_status(status)?
                .into_iter()
                .filter(|d| d.provider_id == provider_id && d.external_id.is_some()),
        );
    }
    Ok(ours)
}

/// Applies one listing to every download of this provider that has a transfer.
pub(super) fn apply_snapshot(
    core: &Arc<Core>,
    slot: &ProviderSlot,
    transfers: &[Transfer],
) -> Result<(), EngineError> {
    let released_entries = core.store().released(slot.id())?;
    let released: HashSet<&str> = released_entries.iter().map(|(id, _)| id.as_str()).collect();
    for d in followed(core, slot.id())? {
        let result = match transfer_for(&d, transfers, &released) {
            Some(t) => observe(core, slot, &d, t),
            // A file being checked no longer needs its transfer listed.
            None if core.is_verifying(d.id) => Ok(()),
            None => missing(core, &d),
        };
        match result {
            Ok(())
            | Err(
                EngineError::Stale(_) | EngineError::NotFound(_) | EngineError::TrackBusy { .. },
            ) => {}
            Err(EngineError::Illegal(e)) => {
                tracing::warn!(download = %d.id, "ignored provider state: {e}")
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn missing(core: &Core, d: &Download) -> Result<(), EngineError> {
    let polls = {
        let now = core.now();
        let mut live = core.live();
        let entry = live.entry(d.id).or_insert_with(|| Live::fresh(d, now));
        entry.missing_polls += 1;
        entry.missing_polls
    };
    if polls >= core.settings().vanish_after_polls {
        let message = format!("The transfer disappeared from {}", d.provider_name);
        core.fail(d.id, FailureCause::Vanished, &message, None)?;
    }
    Ok(())
}

fn observe(
    core: &Arc<Core>,
    slot: &ProviderSlot,
    d: &Download,
    t: &Transfer,
) -> Result<(), EngineError> {
    let now = core.now();
    let (live, grown) = {
        let mut all = core.live();
        let live = all.entry(d.id).or_insert_with(|| Live::fresh(d, now));
        let before = live.bytes;
        note(live, t, now);
        (live.clone(), live.bytes.saturating_sub(before))
    };
    // Bytes count as they are seen to arrive, failed or not; a transfer restarted from zero
    // counts again only past what it had (a fresh record starts from the stored progress).
    core.metrics().downloaded(&d.provider_id, grown);
    let observed_status = d.status;
    let observed_external = d.external_id.clone();
    // Only the record we judged may be changed: a user's action in between wins.
    let unchanged = move |d: &Download| {
        if d.status != observed_status || d.external_id != observed_external {
            Err(EngineError::Stale(d.id))
        } else {
            Ok(())
        }
    };
    match judge(d, &live, t, core.settings(), now) {
        Verdict::KeepUnknown { detail } => {
            let first_time = {
                let mut all = core.live();
                let entry = all.entry(d.id).or_insert_with(|| Live::fresh(d, now));
                let first = entry.unknown_state.as_deref() != Some(detail.as_str());
                entry.unknown_state = Some(detail.clone());
                first
            };
            if first_time {
                tracing::warn!(download = %d.id, provider = %d.provider_id, "the provider reports a state it does not know ({detail}); keeping the download as {}", d.status);
            }
        }
        Verdict::AwaitProviderRetry { note } => {
            core.apply(d.id, |d, _| {
                unchanged(d)?;
                d.status_message = Some(note);
                Ok(())
            })?;
        }
        Verdict::Fail {
            cause,
            message,
            cancel,
        } => {
            let updated = core.fail(d.id, cause, &message, None)?;
            if cancel {
                core.cancel_released(&updated.before);
            }
        }
        Verdict::Complete => {
            let finish =
                verification::plan(d, t, &core.settings().verify, &slot.options().path_map);
            // Checked first: the download stays downloading, all its bytes there.
            let (status, note) = match &finish {
                Finish::Verify { .. } => (Status::Downloading, Some(VERIFYING.to_owned())),
                Finish::Unchecked { note } => (Status::Completed, note.clone()),
            };
            let updated = core.apply(d.id, |d, now| {
                unchanged(d)?;
                move_to(d, status, now)?;
                adopt_transfer(d, t);
                d.started_at.get_or_insert(now);
                d.local_path = t.local_path.clone();
                d.bytes_downloaded = d.total_bytes.max(t.bytes_transferred);
                d.speed_bytes_per_sec = 0.0;
                d.status_message = note;
                d.error_message = None;
                d.failure_cause = None;
                Ok(())
            })?;
            if let Finish::Verify { path, expectation } = finish {
                verification::start(core, &updated.after, t, path, expectation);
            }
        }
        Verdict::Progress {
            status,
            message,
            persist_progress,
        } => {
            let updated = core.apply(d.id, |d, now| {
                unchanged(d)?;
                move_to(d, status, now)?;
                adopt_transfer(d, t);
                if status == Status::Downloading {
                    d.started_at.get_or_insert(now);
                }
                d.status_message = message;
                d.queue_position = if status == Status::Queued {
                    live.queue_position
                } else {
                    None
                };
                if persist_progress {
                    d.bytes_downloaded = t.bytes_transferred;
                    d.speed_bytes_per_sec = live.speed;
                }
                Ok(())
            })?;
            if persist_progress && let Some(l) = core.live().get_mut(&d.id) {
                l.persisted_at = now;
            }
            if updated.after.status == Status::Stalled && updated.before.status != Status::Stalled {
                tracing::info!(download = %d.id, "stalled: {}", updated.after.status_message.as_deref().unwrap_or(""));
            }
        }
    }
    Ok(())
}

/// What a download takes from the transfer it follows: a re-created transfer's id and time,
/// and its size once the provider knows it.
fn adopt_transfer(d: &mut Download, t: &Transfer) {
    if d.external_id.as_deref() != Some(t.external_id.as_str()) {
        tracing::info!(download = %d.id, "transfer re-created by the provider: {} -> {}", d.external_id.as_deref().unwrap_or("-"), t.external_id);
        d.external_id = Some(t.external_id.clone());
        d.transfer_requested_at = t.requested_at;
    }
    if d.transfer_requested_at.is_none() {
        d.transfer_requested_at = t.requested_at;
    }
    if let Some(size) = t.size.filter(|s| *s > 0) {
        d.total_bytes = size;
    }
}

/// Asks peers where our queued transfers stand, at most once per transfer per interval and a
/// few per poll: each is a round trip to a peer.
async fn ask_positions(
    core: &Core,
    slot: &ProviderSlot,
    provider: &dyn Provider,
    transfers: &[Transfer],
) -> Result<(), EngineError> {
    let settings = core.settings();
    let can_ask = provider.descriptor().capabilities.queue_position;
    if !can_ask {
        return Ok(());
    }
    let by_id: HashMap<&str, &Transfer> = transfers
        .iter()
        .map(|t| (t.external_id.as_str(), t))
        .collect();
    let mut asked = 0;
    let queued = core.store().with_status(Status::Queued)?;
    let stalled = core.store().with_status(Status::Stalled)?;
    for d in queued.into_iter().chain(stalled) {
        if asked >= settings.queue_positions_per_poll {
            break;
        }
        if d.provider_id != slot.id() {
            continue;
        }
        let Some(t) = d.external_id.as_deref().and_then(|id| by_id.get(id)) else {
            continue;
        };
        let now = core.now();
        let due = core.live().get(&d.id).is_some_and(|l| {
            time_to_ask_position(l, t, can_ask, settings.queue_position_interval, now)
        });
        if !due || !slot.gates().open(CallKind::Control, now) {
            continue;
        }
        asked += 1;
        if let Some(l) = core.live().get_mut(&d.id) {
            l.position_asked_at = Some(now);
        }
        match provider.queue_position(&t.reference()).await {
            Ok(Some(position)) => {
                core.call_succeeded(slot, CallKind::Control);
                let message = format!(
                    "Queued at {}: position {position} in the peer's queue",
                    t.peer
                );
                if let Some(l) = core.live().get_mut(&d.id) {
                    note_position(l, position, now);
                }
                let result = core.apply(d.id, |r, _| {
                    if r.status != d.status || r.external_id != d.external_id {
                        return Err(EngineError::Stale(r.id));
                    }
                    r.queue_position = Some(position);
                    r.status_message = Some(message);
                    Ok(())
                });
                ignore_stale(result)?;
            }
            Ok(None) => core.call_succeeded(slot, CallKind::Control),
            Err(e) => {
                // A peer that does not answer says nothing about the provider's health.
                tracing::debug!(download = %d.id, "queue position not known: {e}");
                core.call_failed(slot, CallKind::Control, &e);
            }
        }
    }
    Ok(())
}

/// Cancels released transfers until they end, then removes them from the provider's list.
async fn tidy(
    core: &Core,
    slot: &ProviderSlot,
    provider: &dyn Provider,
    transfers: &[Transfer],
) -> Result<(), EngineError> {
    let settings = core.settings();
    let options = slot.options();
    let remove = options.remove_finished && provider.descriptor().capabilities.remove;
    for (external_id, mut entry) in core.store().released(slot.id())? {
        let listed = transfers.iter().find(|t| t.external_id == external_id);
        let now_ms = millis(core.now());
        let step = tidy_step(&entry, listed, remove, settings.recancel_after, now_ms);
        let reference = TransferRef {
            external_id: external_id.clone(),
            peer: listed.map_or_else(|| entry.peer.clone(), |t| t.peer.clone()),
        };
        let ended = listed.is_none_or(over);
        let forget = match step {
            TidyStep::Forget => true,
            TidyStep::Remove => match provider.remove(&reference).await {
                Ok(()) => {
                    core.call_succeeded(slot, CallKind::Control);
                    true
                }
                Err(e) => {
                    tracing::warn!(provider = %slot.id(), "could not remove ended transfer {external_id}: {e}");
                    core.call_failed(slot, CallKind::Control, &e);
                    false
                }
            },
            TidyStep::Cancel => {
                entry.cancelled_at_ms = Some(now_ms);
                if let Err(e) = provider.cancel(&reference).await {
                    tracing::warn!(provider = %slot.id(), "could not cancel released transfer {external_id}: {e}");
                    core.call_failed(slot, CallKind::Control, &e);
                }
                false
            }
            TidyStep::Missing => {
                entry.missing_polls += 1;
                false
            }
            TidyStep::Wait => false,
        };
        if forget {
            core.store().set_released(slot.id(), &external_id, None)?;
            continue;
        }
        let changed = entry.ended != ended || !matches!(step, TidyStep::Wait);
        entry.ended = ended;
        if changed {
            core.store()
                .set_released(slot.id(), &external_id, Some(&entry))?;
        }
    }
    Ok(())
}
