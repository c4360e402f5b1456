//! The dispatcher: takes waiting downloads in dispatch order and hands them to a provider
//! (search, rank, enqueue), within each provider's concurrency limit, circuit breaker and call
//! gates, unless the queue is paused. A download whose client named no provider is searched
//! for at every provider that can search and is up, and goes where the best source is (waiting
//! there when that provider is full); providers that are down are left out. It also brings due automatic
//! retries back to the queue.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use uuid::Uuid;

use super::breaker::CircuitState;
use super::call_gates::CallKind;
use super::core::{Core, ignore_stale, move_to};
use super::download::{ChosenSource, Download, FailureCause, Status};
use super::manager::EngineError;
use super::provider::{Candidate, ProviderDescriptor, ProviderError, TransferRef};
use super::provider_slot::ProviderSlot;
use super::reputation::Standing;
use super::search_across::{Verdict, search_across, verdict};

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

/// The providers a waiting download may go to now, each loaded, with its breaker closed and
/// its gates open. A download that roams goes to every provider that can search and is up
/// (one that is down is left out: the download goes on at the others), as long as one of them
/// has room under its concurrency limit: searching takes no place at a provider, and a source
/// found at a full one waits there for room. Any other download goes to its own provider when
/// that has room (also a roaming one when no provider can search: it is told why).
fn targets(
    core: &Core,
    d: &Download,
    occupied: &HashMap<String, usize>,
    limit: usize,
) -> Vec<Arc<ProviderSlot>> {
    let has_room = |s: &Arc<ProviderSlot>| occupied.get(s.id()).is_none_or(|n| *n < limit);
    let searching: Vec<_> = core
        .slots()
        .into_iter()
        .filter(|s| s.descriptor().capabilities.search)
        .collect();
    if !d.roams() || searching.is_empty() {
        return core
            .slot(&d.provider_id)
            .into_iter()
            .filter(|s| may_dispatch(core, s, d) && has_room(s))
            .collect();
    }
    let up: Vec<_> = searching
        .into_iter()
        .filter(|s| may_dispatch(core, s, d))
        .collect();
    if up.iter().any(has_room) {
        up
    } else {
        Vec::new()
    }
}

/// How many other downloads are at (or being handed to) a provider.
fn occupancy(core: &Core, provider_id: &str, besides: Uuid) -> Result<usize, EngineError> {
    let mut n = 0;
    for status in [
        Status::Pending,
        Status::Queued,
        Status::Downloading,
        Status::Stalled,
    ] {
        n += core
            .store()
            .with_status(status)?
            .iter()
            .filter(|d| d.provider_id == provider_id && d.id != besides)
            .count();
    }
    Ok(n)
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
        // While breakers are not closed, gates are shut or plugins are away, downloads wait:
        // they do not fail.
        let targets = targets(core, &d, &occupied, limit);
        if targets.is_empty() {
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
                _ => format!(
                    "Searching {}",
                    targets
                        .iter()
                        .map(|s| s.descriptor().display_name)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            });
            Ok(())
        });
        if ignore_stale(claimed)?.is_some() {
            // Held at each provider it may go to until the next pass counts where it went.
            for t in &targets {
                *occupied.entry(t.id().to_owned()).or_default() += 1;
            }
            tokio::spawn(dispatch_one(core.clone(), d.id, targets));
        }
    }
    Ok(())
}

async fn dispatch_one(core: Arc<Core>, id: Uuid, targets: Vec<Arc<ProviderSlot>>) {
    if let Err(e) = hand_over(&core, id, targets).await {
        tracing::error!(download = %id, "dispatch failed: {e}");
    }
}

/// Chooses the source (the download's own, or the best any target's search found), moves the
/// download to the provider that has it, and enqueues it there.
async fn hand_over(
    core: &Arc<Core>,
    id: Uuid,
    targets: Vec<Arc<ProviderSlot>>,
) -> Result<(), EngineError> {
    let Some(d) = core.store().get(id)? else {
        return Ok(());
    };
    if d.status != Status::Pending || d.external_id.is_some() {
        return Ok(());
    }
    let started = Instant::now();
    let (slot, chosen) = match &d.source {
        Some(s) if !d.has_tried(&s.peer, s.key()) => match core.slot(&d.provider_id) {
            Some(own) => (own, s.clone()),
            None => return Ok(()),
        },
        _ => {
            let searching: Vec<_> = targets
                .into_iter()
                .filter(|s| s.descriptor().capabilities.search)
                .collect();
            if searching.is_empty() {
                let message = format!(
                    "{} cannot search: give the download a source",
                    d.provider_name
                );
                ignore_stale(core.fail(id, FailureCause::NotFound, &message, None))?;
                return Ok(());
            }
            let outcomes = search_across(core, &searching, &d).await;
            let now = core.now();
            let standing = |i: usize, c: &Candidate| {
                core.store()
                    .peer(searching[i].id(), &c.peer)
                    .ok()
                    .flatten()
                    .map_or(Standing::Good, |r| r.standing(now))
            };
            match verdict(outcomes, &core.settings().ranking, &d, &standing) {
                Verdict::Take {
                    provider,
                    candidate,
                } => (
                    searching[provider].clone(),
                    ChosenSource::from_candidate(&candidate),
                ),
                Verdict::NothingFound(message) => {
                    ignore_stale(core.fail(id, FailureCause::NotFound, &message, None))?;
                    return Ok(());
                }
                Verdict::NoAnswer(e) => return call_failed(core, id, None, e),
            }
        }
    };
    if slot.id() != d.provider_id || d.roams() {
        if occupancy(core, slot.id(), id)? >= core.settings().concurrency_per_provider {
            return wait_for_room(core, id, &slot, chosen);
        }
        if slot.id() != d.provider_id && !move_to_provider(core, id, &slot)? {
            return Ok(());
        }
    }
    let Some(provider) = slot.provider() else {
        return back_to_queue(core, id, &format!("{} is not loaded", d.provider_name));
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

/// The download goes to the provider whose source was chosen. False when it was cancelled or
/// paused meanwhile.
fn move_to_provider(core: &Core, id: Uuid, slot: &ProviderSlot) -> Result<bool, EngineError> {
    let to = slot.descriptor();
    let result = core.apply(id, |d, _| {
        if d.status != Status::Pending || d.external_id.is_some() {
            return Err(EngineError::Stale(d.id));
        }
        tracing::info!(download = %d.id, from = %d.provider_id, to = %to.id, "found at another provider");
        belong_to(d, &to);
        d.status_message = Some(format!("Found at {}", to.display_name));
        Ok(())
    });
    Ok(ignore_stale(result)?.is_some())
}

fn belong_to(d: &mut Download, to: &ProviderDescriptor) {
    d.provider_id = to.id.clone();
    d.provider_kind = to.kind.clone();
    d.provider_name = to.display_name.clone();
}

/// A source found at a provider that is full: the download waits there with it, and is sent
/// when the provider has room.
fn wait_for_room(
    core: &Core,
    id: Uuid,
    slot: &ProviderSlot,
    chosen: ChosenSource,
) -> Result<(), EngineError> {
    let to = slot.descriptor();
    let result = core.apply(id, |d, now| {
        if d.status != Status::Pending || d.external_id.is_some() {
            return Err(EngineError::Stale(d.id));
        }
        move_to(d, Status::Waiting, now)?;
        belong_to(d, &to);
        d.source = Some(chosen);
        d.status_message = Some(format!(
            "Found at {}; waiting for a free place there",
            to.display_name
        ));
        Ok(())
    });
    ignore_stale(result).map(drop)
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

/// What a failed provider call means for the download: the peer's doing, or a call the
/// provider cannot make, fails this source (and the retry policy decides what next); anything
/// else puts it back in the queue.
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
        // The provider cannot do this at all (qBittorrent without Python cannot search):
        // waiting would ask again forever, so the download fails with the reason.
        ProviderError::Unsupported(_) => Some(FailureCause::ProviderError),
        _ => None,
    };
    match cause {
        Some(cause) => ignore_stale(core.fail(id, cause, &message, source)).map(drop),
        None => back_to_queue(core, id, &message),
    }
}
