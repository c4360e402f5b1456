//! The dispatcher: takes waiting downloads in dispatch order and hands them to their provider
//! (search, rank, enqueue), within each provider's concurrency limit and circuit breaker, unless
//! the queue is paused. It also brings due automatic retries back to the queue.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::breaker::CircuitState;
use super::download::{Attempt, ChosenSource, Download, FailureCause, Status, TriedSource};
use super::manager::{EngineError, Inner, ProviderSlot, move_to};
use super::provider::{Candidate, ProviderError, Source, TrackQuery};
use super::ranking::Wanted;
use super::retry::RetryDecision;
use crate::store::Updated;

/// How many waiting downloads one pass looks at.
const WAITING_WINDOW: usize = 500;

pub(super) async fn run(inner: Arc<Inner>) {
    let mut stop = inner.stopping();
    loop {
        if let Err(e) = pass(&inner) {
            tracing::error!("dispatcher: {e}");
        }
        tokio::select! {
            _ = inner.wake.notified() => {}
            _ = tokio::time::sleep(inner.settings.dispatch_interval) => {}
            _ = stop.changed() => return,
        }
    }
}

fn pass(inner: &Arc<Inner>) -> Result<(), EngineError> {
    let now = inner.now();
    for d in inner.store.retries_due(now, 100)? {
        let result = inner.apply(d.id, |d, now| {
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
    if inner.is_paused() {
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
        for d in inner.store.with_status(status)? {
            *occupied.entry(d.provider_id).or_default() += 1;
        }
    }
    let limit = inner.settings.concurrency_per_provider;
    for d in inner.store.waiting_in_order(WAITING_WINDOW)? {
        let Some(slot) = inner.providers.get(&d.provider_id) else {
            continue;
        };
        // While the breaker is not closed, downloads wait: they do not fail.
        if slot.breaker().state != CircuitState::Closed {
            continue;
        }
        let used = occupied.entry(d.provider_id.clone()).or_default();
        if *used >= limit {
            continue;
        }
        let claimed = inner.apply(d.id, |d, now| {
            if d.status != Status::Waiting {
                return Err(EngineError::Stale(d.id));
            }
            move_to(d, Status::Pending, now)?;
            d.status_message = Some(match &d.source {
                Some(s) if !d.has_tried(&s.peer, &s.filename) => {
                    format!("Sending to {}", d.provider_name)
                }
                _ => "Searching for a source".into(),
            });
            Ok(())
        });
        if ignore_stale(claimed)?.is_some() {
            *used += 1;
            tokio::spawn(dispatch_one(inner.clone(), d.id));
        }
    }
    Ok(())
}

/// A stale record (a user acted first) is not an error for a background task.
fn ignore_stale(result: Result<Updated, EngineError>) -> Result<Option<Updated>, EngineError> {
    match result {
        Ok(u) => Ok(Some(u)),
        Err(EngineError::Stale(_) | EngineError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

async fn dispatch_one(inner: Arc<Inner>, id: Uuid) {
    if let Err(e) = hand_over(&inner, id).await {
        tracing::error!(download = %id, "dispatch failed: {e}");
    }
}

async fn hand_over(inner: &Arc<Inner>, id: Uuid) -> Result<(), EngineError> {
    let Some(d) = inner.store.get(id)? else {
        return Ok(());
    };
    if d.status != Status::Pending || d.external_id.is_some() {
        return Ok(());
    }
    let Some(slot) = inner.providers.get(&d.provider_id) else {
        return Ok(());
    };
    let started = Instant::now();
    let chosen = match &d.source {
        Some(s) if !d.has_tried(&s.peer, &s.filename) => s.clone(),
        _ => match search(inner, slot, &d).await {
            Ok(Some(c)) => ChosenSource {
                peer: c.peer.clone(),
                filename: c.filename.clone(),
                size: c.size,
                format: (!c.extension.is_empty()).then(|| c.extension.clone()),
                bitrate_kbps: c.bitrate_kbps,
            },
            Ok(None) => {
                let message = format!("No source found for {} - {}", d.track.artist, d.track.title);
                ignore_stale(fail(inner, id, FailureCause::NotFound, &message, None))?;
                return Ok(());
            }
            Err(e) => return call_failed(inner, slot, id, None, e),
        },
    };
    let source = Source {
        peer: chosen.peer.clone(),
        filename: chosen.filename.clone(),
        size: chosen.size,
    };
    match slot.provider.enqueue(&source).await {
        Ok(external_id) => {
            record_success(inner, slot);
            let result = inner.apply(id, |d, _| {
                if d.status != Status::Pending || d.external_id.is_some() {
                    return Err(EngineError::Stale(d.id));
                }
                d.external_id = Some(external_id.clone());
                d.total_bytes = chosen.size;
                d.source = Some(chosen.clone());
                d.status_message = Some(format!("Sent to {}", d.provider_name));
                Ok(())
            });
            if ignore_stale(result)?.is_none() {
                // Cancelled or paused while we were busy: take the transfer back.
                if let Err(e) = slot.provider.cancel(&external_id, &source.peer, true).await {
                    tracing::warn!(download = %id, "could not withdraw transfer {external_id}: {e}");
                }
            } else {
                tracing::debug!(download = %id, "handed over in {:?}", started.elapsed());
            }
            Ok(())
        }
        Err(e) => call_failed(inner, slot, id, Some(&chosen), e),
    }
}

/// Searches and ranks; `None` when nothing usable was found.
async fn search(
    inner: &Arc<Inner>,
    slot: &ProviderSlot,
    d: &Download,
) -> Result<Option<Candidate>, ProviderError> {
    let settings = &inner.settings;
    let query = TrackQuery {
        artist: d.track.artist.clone(),
        title: d.track.title.clone(),
        album: d.track.album.clone(),
        duration_secs: None,
        search_timeout_ms: u32::try_from(settings.search_timeout.as_millis()).unwrap_or(u32::MAX),
    };
    let search_id = slot.provider.start_search(&query).await?;
    // The provider's own timeout plus slack for it to report completion.
    let deadline = Instant::now() + settings.search_timeout + Duration::from_secs(5);
    let candidates = loop {
        let progress = slot.provider.poll_search(&search_id).await?;
        if progress.complete || Instant::now() >= deadline {
            break progress.candidates;
        }
        tokio::time::sleep(settings.search_poll).await;
    };
    record_success(inner, slot);
    let wanted = Wanted {
        title: &d.track.title,
        duration_secs: None,
    };
    let tried: Vec<Source> = d
        .tried_sources
        .iter()
        .map(|t| Source {
            peer: t.peer.clone(),
            filename: t.filename.clone(),
            size: 0,
        })
        .collect();
    Ok(settings
        .ranking
        .rank(&candidates, &wanted, &tried)
        .first()
        .map(|c| (*c).clone()))
}

/// A provider call failed: the breaker hears of provider-level failures; the download either
/// waits (provider trouble, not its fault) or fails with a cause (the peer's doing).
fn call_failed(
    inner: &Arc<Inner>,
    slot: &ProviderSlot,
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
    if error.counts_against_provider() {
        record_failure(inner, slot, &message);
    }
    match cause {
        Some(cause) => {
            ignore_stale(fail(inner, id, cause, &message, source))?;
        }
        None => {
            // Not the download's fault: back to the queue, no retry spent.
            let result = inner.apply(id, |d, now| {
                if d.status != Status::Pending || d.external_id.is_some() {
                    return Err(EngineError::Stale(d.id));
                }
                move_to(d, Status::Waiting, now)?;
                d.status_message = Some(format!("Waiting for {}: {message}", d.provider_name));
                Ok(())
            });
            ignore_stale(result)?;
        }
    }
    Ok(())
}

pub(super) fn record_success(inner: &Inner, slot: &ProviderSlot) {
    let now = inner.now();
    let snapshot = {
        let mut b = slot.breaker();
        let was = b.clone();
        b.record_success(now);
        // Only the state matters for persistence; last_success moves on every poll.
        (was.state != b.state || was.consecutive_failures != 0).then(|| b.clone())
    };
    if let Some(b) = snapshot {
        persist_breaker(inner, slot, &b);
    }
}

pub(super) fn record_failure(inner: &Inner, slot: &ProviderSlot, error: &str) {
    let now = inner.now();
    let b = {
        let mut b = slot.breaker();
        b.record_failure(&inner.settings.breaker, now, error);
        b.clone()
    };
    if b.state != CircuitState::Closed {
        tracing::warn!(provider = %slot.provider.descriptor().id, "circuit {}: {error}", b.state.as_str());
    }
    persist_breaker(inner, slot, &b);
}

fn persist_breaker(inner: &Inner, slot: &ProviderSlot, b: &super::breaker::Breaker) {
    if let Err(e) = inner.store.save_breaker(&slot.provider.descriptor().id, b) {
        tracing::error!("cannot save circuit breaker state: {e}");
    }
    inner.announce();
}

/// Records a failure and applies the retry policy: another source now, the same search later,
/// or give up.
/// `source` is the file that failed when it is not (yet) the record's own `source`.
pub(super) fn fail(
    inner: &Inner,
    id: Uuid,
    cause: FailureCause,
    message: &str,
    source: Option<&ChosenSource>,
) -> Result<Updated, EngineError> {
    let policy = inner.settings.retry.clone();
    inner.apply(id, |d, now| {
        if d.status.is_terminal() || d.status == Status::Paused {
            return Err(EngineError::Stale(d.id));
        }
        let tried = source.or(d.source.as_ref()).map(|s| TriedSource {
            peer: s.peer.clone(),
            filename: s.filename.clone(),
        });
        if let Some(t) = &tried
            && cause != FailureCause::NotFound
            && !d.has_tried(&t.peer, &t.filename)
        {
            d.tried_sources.push(t.clone());
        }
        d.attempts.push(Attempt {
            source: tried,
            cause,
            message: message.to_owned(),
            at: now,
        });
        d.external_id = None;
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
                d.status_message = Some(format!("Gave up after {} attempts", d.attempts.len()));
            }
        }
        Ok(())
    })
}
