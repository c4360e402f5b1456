//! The dispatcher: takes waiting downloads in dispatch order and hands them to their provider
//! (search, rank, enqueue), within each provider's concurrency limit, circuit breaker and call
//! gates, unless the queue is paused. It also brings due automatic retries back to the queue.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use uuid::Uuid;

use super::breaker::CircuitState;
use super::call_gates::CallKind;
use super::core::{Core, ignore_stale, move_to};
use super::download::{ChosenSource, Download, FailureCause, Status};
use super::manager::EngineError;
use super::provider::{ProviderError, TransferRef};
use super::provider_slot::ProviderSlot;
use super::search::search;

/// How many waiting downloads one pass looks at.
const WAITING_WINDOW: usize = 500;

pub(super) async fn run(core: Arc<Core>) {
    let mut stop = core.stopping();
    loop {
        if let Err(e) = pass(&core) {
            tracing::error!("dispatcher: {e}");
        }
        tokio::select! {
            _ = core.woken_or(core.settings().dispatch_interval) => {}
            _ = stop.changed() => return,
        }
    }
}

/// What a provider's call gates and breaker allow a waiting download now.
fn may_dispatch(core: &Core, slot: &ProviderSlot, d: &Download) -> bool {
    if slot.provider().is_none() || slot.breaker().state != CircuitState::Closed {
        return false;
    }
    let kind = match &d.source {
        Some(s) if !d.has_tried(&s.peer, s.key()) => CallKind::Enqueue,
        _ => CallKind::Search,
    };
    let now = core.now();
    let gates = slot.gates();
    gates.open(kind, now) && gates.open(CallKind::Enqueue, now)
}

/// The file was enqueued before, and that transfer has not ended at the provider yet: slskd
/// refuses a second transfer of one file, and the old one must not be taken for the new.
fn previous_transfer_running(released: &[(String, crate::store::Released)], d: &Download) -> bool {
    let Some(s) = &d.source else {
        return false;
    };
    released
        .iter()
        .any(|(_, r)| !r.ended && r.peer == s.peer && r.filename == s.filename)
}

fn pass(core: &Arc<Core>) -> Result<(), EngineError> {
    let now = core.now();
    for d in core.store().retries_due(now, 100)? {
        let result = core.apply(d.id, |d, now| {
            if d.status != Status::Failed || d.next_retry_at.is_none_or(|at| at > now) {
                return Err(EngineError::Stale(d.id));
            }
            move_to(d, Status::Waiting, now)?;
            d.next_retry_at = None;
            d.status_message = Some(format!(
                "Searching again (retry {} of {})",
                d.retry_count, d.max_retries
            ));
            Ok(())
        });
        ignore_stale(result)?;
    }
    if core.is_paused() {
        return Ok(());
    }
    // Occupancy is bounded by the limits themselves, so counting it is cheap.
    let mut occupied: HashMap<String, usize> = HashMap::new();
    for status in [
        Status::Pending,
        Status::Queued,
        Status::Downloading,
        Status::Stalled,
    ] {
        for d in core.store().with_status(status)? {
            *occupied.entry(d.provider_id).or_default() += 1;
        }
    }
    let limit = core.settings().concurrency_per_provider;
    let mut released: HashMap<String, Vec<(String, crate::store::Released)>> = HashMap::new();
    for d in core.store().waiting_in_order(WAITING_WINDOW)? {
        let Some(slot) = core.slot(&d.provider_id) else {
            continue;
        };
        // While the breaker is not closed, the gates are shut or the plugin is away,
        // downloads wait: they do not fail.
        if !may_dispatch(core, &slot, &d) {
            continue;
        }
        let used = occupied.entry(d.provider_id.clone()).or_default();
        if *used >= limit {
            continue;
        }
        let earlier = match released.get(&d.provider_id) {
            Some(r) => r,
            None => released
                .entry(d.provider_id.clone())
                .or_insert(core.store().released(&d.provider_id)?),
        };
        if previous_transfer_running(earlier, &d) {
            let note = format!(
                "Waiting for {} to end the previous transfer of this file",
                d.provider_name
            );
            if d.status_message.as_deref() != Some(note.as_str()) {
                ignore_stale(core.apply(d.id, |d, _| {
                    d.status_message = Some(note);
                    Ok(())
                }))?;
            }
            continue;
        }
        let claimed = core.apply(d.id, |d, now| {
            if d.status != Status::Waiting {
                return Err(EngineError::Stale(d.id));
            }
            move_to(d, Status::Pending, now)?;
            d.status_message = Some(match &d.source {
                Some(s) if !d.has_tried(&s.peer, s.key()) => {
                    format!("Sending to {}", d.provider_name)
                }
                _ => "Searching for a source".into(),
            });
            Ok(())
        });
        if ignore_stale(claimed)?.is_some() {
            *used += 1;
            tokio::spawn(dispatch_one(core.clone(), d.id));
        }
    }
    Ok(())
}

async fn dispatch_one(core: Arc<Core>, id: Uuid) {
    if let Err(e) = hand_over(&core, id).await {
        tracing::error!(download = %id, "dispatch failed: {e}");
    }
}

async fn hand_over(core: &Arc<Core>, id: Uuid) -> Result<(), EngineError> {
    let Some(d) = core.store().get(id)? else {
        return Ok(());
    };
    if d.status != Status::Pending || d.external_id.is_some() {
        return Ok(());
    }
    let Some(slot) = core.slot(&d.provider_id) else {
        return Ok(());
    };
    let Some(provider) = slot.provider() else {
        return back_to_queue(core, id, &format!("{} is not loaded", d.provider_name));
    };
    let started = Instant::now();
    let chosen = match &d.source {
        Some(s) if !d.has_tried(&s.peer, s.key()) => s.clone(),
        _ if !provider.descriptor().capabilities.search => {
            let message = format!(
                "{} cannot search: give the download a source",
                d.provider_name
            );
            ignore_stale(core.fail(id, FailureCause::NotFound, &message, None))?;
            return Ok(());
        }
        _ => match search(core, &slot, provider.as_ref(), &d).await {
            Ok(ranked) => match ranked.first() {
                Some(c) => ChosenSource::from_candidate(c),
                None => {
                    let message =
                        format!("No source found for {} - {}", d.track.artist, d.track.title);
                    ignore_stale(core.fail(id, FailureCause::NotFound, &message, None))?;
                    return Ok(());
                }
            },
            Err(e) => return call_failed(core, id, None, e),
        },
    };
    let source = chosen.to_source();
    let enqueued = {
        // slskd takes two enqueues at once and answers 429 beyond: one at a time per provider.
        let _turn = slot.enqueue_turn().await;
        provider.enqueue(&source).await
    };
    match enqueued {
        Ok(enqueued) => {
            core.call_succeeded(&slot, CallKind::Enqueue);
            let external_id = enqueued.external_id.clone();
            // A provider may answer with a transfer it already has for this file (slskd does
            // for an active one): never one another download follows, nor one we let go of.
            if let Some(other) = core.store().by_external(slot.id(), &external_id)?
                && other.id != id
            {
                let message = format!(
                    "{} is already being fetched for {} - {}",
                    chosen.filename, other.track.artist, other.track.title
                );
                return ignore_stale(core.fail(
                    id,
                    FailureCause::Rejected,
                    &message,
                    Some(&chosen),
                ))
                .map(drop);
            }
            if core
                .store()
                .released(slot.id())?
                .iter()
                .any(|(released, _)| *released == external_id)
            {
                return back_to_queue(
                    core,
                    id,
                    "the previous transfer of this file has not ended yet",
                );
            }
            let result = core.apply(id, |d, _| {
                if d.status != Status::Pending || d.external_id.is_some() {
                    return Err(EngineError::Stale(d.id));
                }
                d.external_id = Some(enqueued.external_id);
                d.transfer_requested_at = enqueued.requested_at;
                if chosen.size > 0 {
                    d.total_bytes = chosen.size;
                }
                d.source = Some(chosen.clone());
                d.status_message = Some(format!("Sent to {}", d.provider_name));
                Ok(())
            });
            if ignore_stale(result)?.is_none() {
                // Cancelled or paused while we were busy: take the transfer back.
                core.withdraw(
                    &slot,
                    TransferRef {
                        external_id,
                        peer: chosen.peer.clone(),
                    },
                    &chosen.filename,
                );
            } else {
                tracing::debug!(download = %id, "handed over in {:?}", started.elapsed());
            }
            Ok(())
        }
        Err(e) => {
            core.call_failed(&slot, CallKind::Enqueue, &e);
            call_failed(core, id, Some(&chosen), e)
        }
    }
}

/// Back to waiting, no retry spent: the provider's trouble, not the download's.
fn back_to_queue(core: &Core, id: Uuid, why: &str) -> Result<(), EngineError> {
    let result = core.apply(id, |d, now| {
        if d.status != Status::Pending || d.external_id.is_some() {
            return Err(EngineError::Stale(d.id));
        }
        move_to(d, Status::Waiting, now)?;
        d.status_message = Some(format!("Waiting for {}: {why}", d.provider_name));
        Ok(())
    });
    ignore_stale(result).map(drop)
}

/// What a failed provider call means for the download: the peer's doing fails this source (and
/// the retry policy decides what next); anything else puts it back in the queue.
fn call_failed(
    core: &Core,
    id: Uuid,
    source: Option<&ChosenSource>,
    error: ProviderError,
) -> Result<(), EngineError> {
    let message = error.to_string();
    let cause = match &error {
        ProviderError::Rejected(_) => Some(FailureCause::Rejected),
        ProviderError::PeerOffline(_) => Some(FailureCause::PeerOffline),
        ProviderError::NotFound(_) => Some(FailureCause::NotFound),
        _ => None,
    };
    match cause {
        Some(cause) => ignore_stale(core.fail(id, cause, &message, source)).map(drop),
        None => back_to_queue(core, id, &message),
    }
}
