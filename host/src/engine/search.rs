//! Searching one provider for a download: start, poll until the provider says the search is
//! complete (slskd's timeout is one of inactivity, so a popular query runs long) under the
//! operator's ceiling, take a good-enough candidate early when one shows up, and always end
//! the search at the provider so none is left stored there.

use std::time::{Duration, Instant};

use super::call_gates::CallKind;
use super::core::Core;
use super::download::Download;
use super::provider::{Candidate, Provider, ProviderError, TrackQuery};
use super::provider_slot::ProviderSlot;
use super::ranking::Wanted;

/// Why a search stopped being polled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SearchEnd {
    /// The provider said no more candidates will come.
    Complete,
    /// A candidate good enough not to wait for more.
    GoodEnough,
    /// The operator's ceiling (`engine.search_max_secs`).
    Ceiling,
}

/// Whether to stop polling now.
pub(super) fn search_end(
    complete: bool,
    good_enough_found: bool,
    elapsed: Duration,
    ceiling: Duration,
) -> Option<SearchEnd> {
    if complete {
        Some(SearchEnd::Complete)
    } else if good_enough_found {
        Some(SearchEnd::GoodEnough)
    } else if elapsed >= ceiling {
        Some(SearchEnd::Ceiling)
    } else {
        None
    }
}

/// The wanted track as the ranking reads it.
pub(super) fn wanted(d: &Download) -> Wanted<'_> {
    Wanted {
        artist: &d.track.artist,
        title: &d.track.title,
        album: d.track.album.as_deref(),
        duration_secs: d.duration_secs,
    }
}

/// Searches one provider; the candidates worth trying, best first (tried sources left out).
pub(super) async fn search(
    core: &Core,
    slot: &ProviderSlot,
    provider: &dyn Provider,
    d: &Download,
) -> Result<Vec<Candidate>, ProviderError> {
    let settings = core.settings();
    let query = TrackQuery {
        artist: d.track.artist.clone(),
        title: d.track.title.clone(),
        album: d.track.album.clone(),
        duration_secs: d.duration_secs,
        search_timeout_ms: u32::try_from(settings.search_timeout.as_millis()).unwrap_or(u32::MAX),
    };
    let search_id = {
        // One search start at a time per provider (slskd answers 429 to a second one).
        let _turn = slot.search_turn().await;
        provider.start_search(&query).await
    };
    let search_id = match search_id {
        Ok(id) => id,
        Err(e) => {
            core.call_failed(slot, CallKind::Search, &e);
            return Err(e);
        }
    };
    core.call_succeeded(slot, CallKind::Search);
    let started = Instant::now();
    let want = wanted(d);
    let outcome = loop {
        match provider.poll_search(&search_id).await {
            Ok(progress) => {
                let ranked = settings
                    .ranking
                    .rank(&progress.candidates, &want, &d.tried_sources);
                let good = ranked
                    .first()
                    .is_some_and(|c| settings.ranking.good_enough(c, &want));
                if let Some(end) = search_end(
                    progress.complete,
                    good,
                    started.elapsed(),
                    settings.search_max,
                ) {
                    tracing::debug!(download = %d.id, ?end, candidates = progress.candidates.len(), "search over after {:?}", started.elapsed());
                    break Ok(ranked.into_iter().cloned().collect::<Vec<_>>());
                }
            }
            Err(e) => break Err(e),
        }
        tokio::time::sleep(settings.search_poll).await;
    };
    // Read or abandoned, the search is deleted at the provider.
    if let Err(e) = provider.end_search(&search_id).await {
        tracing::warn!(provider = %slot.id(), "could not end search {search_id}: {e}");
    }
    match &outcome {
        Ok(_) => core.call_succeeded(slot, CallKind::Search),
        Err(e) => core.call_failed(slot, CallKind::Search, e),
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn polling_stops_when_the_provider_is_done_or_a_good_file_is_there_or_at_the_ceiling() {
        let ceiling = Duration::from_secs(120);
        let s = Duration::from_secs;
        let cases = [
            (false, false, s(20), None),
            (false, false, s(119), None),
            (true, false, s(1), Some(SearchEnd::Complete)),
            (true, true, s(1), Some(SearchEnd::Complete)),
            (false, true, s(3), Some(SearchEnd::GoodEnough)),
            (false, false, s(120), Some(SearchEnd::Ceiling)),
        ];
        for (complete, good, elapsed, want) in cases {
            assert_eq!(
                search_end(complete, good, elapsed, ceiling),
                want,
                "complete {complete}, good {good}, after {elapsed:?}"
            );
        }
    }
}
