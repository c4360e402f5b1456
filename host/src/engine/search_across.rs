//! Searching for a download at every provider it may use, all at once, and choosing among all
//! their candidates with one ranking. Each provider's search keeps its own ceiling
//! (`engine.search_max_secs`), so that ceiling is the deadline of the whole.

use std::sync::Arc;

use super::core::Core;
use super::download::Download;
use super::provider::{Candidate, ProviderError};
use super::provider_slot::ProviderSlot;
use super::ranking::RankingPolicy;
use super::reputation::Standing;
use super::search::{search, wanted};

/// What one provider's search came to.
#[derive(Debug)]
pub(super) struct Outcome {
    /// The provider's display name, for messages.
    pub provider: String,
    /// Its candidates worth trying, or why it could not search.
    pub result: Result<Vec<Candidate>, ProviderError>,
}

/// What to do after searching.
#[derive(Debug, PartialEq)]
pub(super) enum Verdict {
    /// Fetch this candidate from the provider at this position of the outcomes.
    Take {
        provider: usize,
        candidate: Box<Candidate>,
    },
    /// Every provider that answered has nothing: the download failed to find a source. The
    /// message names what the others answered, so their trouble reaches the user.
    NothingFound(String),
    /// No provider answered: the error of the first decides, as for any failed call.
    NoAnswer(ProviderError),
}

/// One ranking over every provider's candidates; between equals, the provider listed first.
/// `standing` judges a candidate's peer at the provider of the outcome at that position.
pub(super) fn verdict(
    outcomes: Vec<Outcome>,
    ranking: &RankingPolicy,
    d: &Download,
    standing: &dyn Fn(usize, &Candidate) -> Standing,
) -> Verdict {
    let mut pool = Vec::new();
    let mut owner = Vec::new();
    let mut troubles = Vec::new();
    let mut first_error = None;
    let mut answered = false;
    for (i, outcome) in outcomes.into_iter().enumerate() {
        match outcome.result {
            Ok(candidates) => {
                answered = true;
                owner.extend(std::iter::repeat_n(i, candidates.len()));
                pool.extend(candidates);
            }
            Err(e) => {
                troubles.push(format!("{}: {e}", outcome.provider));
                first_error.get_or_insert(e);
            }
        }
    }
    // Judged once each: the sort compares each candidate many times.
    let standings: Vec<Standing> = pool
        .iter()
        .enumerate()
        .map(|(i, c)| standing(owner[i], c))
        .collect();
    let best = ranking
        .rank_positions_by(&pool, &wanted(d), &d.tried_sources, |i| standings[i])
        .first()
        .copied();
    match (best, first_error) {
        (Some(best), _) => Verdict::Take {
            provider: owner[best],
            candidate: Box::new(pool.swap_remove(best)),
        },
        (None, Some(e)) if !answered => Verdict::NoAnswer(e),
        (None, _) => {
            let mut message = format!("No source found for {} - {}", d.track.artist, d.track.title);
            if !troubles.is_empty() {
                message = format!("{message} ({})", troubles.join("; "));
            }
            Verdict::NothingFound(message)
        }
    }
}

/// Searches every slot at once; the outcomes in the slots' order.
pub(super) async fn search_across(
    core: &Core,
    slots: &[Arc<ProviderSlot>],
    d: &Download,
) -> Vec<Outcome> {
    let searches = slots.iter().map(|slot| async move {
        let result = match slot.provider() {
            Some(provider) => search(core, slot, provider.as_ref(), d).await,
            None => Err(ProviderError::Unreachable(
                "its plugin is not loaded".into(),
            )),
        };
        Outcome {
            provider: slot.descriptor().display_name,
            result,
        }
    });
    futures_util::future::join_all(searches).await
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;
    use uuid::Uuid;

    use super::*;
    use crate::engine::download::{TrackInfo, TriedSource};
    use crate::engine::provider::Source;

    fn download() -> Download {
        Download::waiting(
            Uuid::nil(),
            "t".into(),
            TrackInfo {
                title: "Song".into(),
                artist: "Artist".into(),
                album: None,
            },
            DateTime::UNIX_EPOCH,
        )
    }

    fn peer_file(peer: &str, name: &str, ext: &str) -> Candidate {
        Candidate {
            source: Source::PeerFile {
                peer: peer.into(),
                filename: name.into(),
                size: 1000,
            },
            peer: peer.into(),
            name: name.into(),
            size: Some(1000),
            extension: ext.into(),
            bitrate_kbps: Some(320),
            bit_depth: None,
            sample_rate_hz: None,
            duration_secs: None,
            free_slot: true,
            queue_length: 0,
            upload_speed: 0,
        }
    }

    fn torrent(name: &str, ext: &str) -> Candidate {
        Candidate {
            source: Source::Uri {
                uri: format!("magnet:?xt=urn:btih:{name}"),
                file: Some("Song".into()),
                size: None,
            },
            peer: "index".into(),
            size: None,
            ..peer_file("index", name, ext)
        }
    }

    fn found(provider: &str, candidates: Vec<Candidate>) -> Outcome {
        Outcome {
            provider: provider.into(),
            result: Ok(candidates),
        }
    }

    fn failed(provider: &str, e: ProviderError) -> Outcome {
        Outcome {
            provider: provider.into(),
            result: Err(e),
        }
    }

    /// The provider and peer taken, or the not-found message.
    type Expected = Result<(usize, &'static str), &'static str>;

    /// (outcomes, tried sources) → what is taken from which provider, or the message.
    #[test]
    fn one_ranking_across_providers_and_every_trouble_named() {
        let ranking = RankingPolicy::default();
        let down = || ProviderError::Unreachable("connection refused".into());
        let cases: Vec<(Vec<Outcome>, Vec<TriedSource>, Expected)> = vec![
            // The better format wins whichever provider has it.
            (
                vec![
                    found(
                        "slskd",
                        vec![peer_file("mp3peer", "A\\Artist - Song.mp3", "mp3")],
                    ),
                    found("qBittorrent", vec![torrent("Artist - Song [FLAC]", "flac")]),
                ],
                vec![],
                Ok((1, "index")),
            ),
            // Equals: the provider listed first.
            (
                vec![
                    found(
                        "slskd",
                        vec![peer_file("p", "A\\Artist - Song.flac", "flac")],
                    ),
                    found("qBittorrent", vec![torrent("Artist - Song.flac", "flac")]),
                ],
                vec![],
                Ok((0, "p")),
            ),
            // One provider down, the other has it.
            (
                vec![
                    failed("slskd", down()),
                    found("qBittorrent", vec![torrent("Artist - Song", "flac")]),
                ],
                vec![],
                Ok((1, "index")),
            ),
            // A tried source is passed over: the other provider's comes next.
            (
                vec![
                    found(
                        "slskd",
                        vec![peer_file("p", "A\\Artist - Song.flac", "flac")],
                    ),
                    found("qBittorrent", vec![torrent("Artist - Song", "mp3")]),
                ],
                vec![TriedSource {
                    peer: "p".into(),
                    filename: "A\\Artist - Song.flac".into(),
                }],
                Ok((1, "index")),
            ),
            // Nothing anywhere, one provider down: not found, and why the other said nothing.
            (
                vec![
                    found("slskd", vec![peer_file("p", "A\\Other.flac", "flac")]),
                    failed("qBittorrent", down()),
                ],
                vec![],
                Err(
                    "No source found for Artist - Song (qBittorrent: provider unreachable: connection refused)",
                ),
            ),
            (
                vec![found("slskd", vec![])],
                vec![],
                Err("No source found for Artist - Song"),
            ),
        ];
        for (n, (outcomes, tried, want)) in cases.into_iter().enumerate() {
            let mut d = download();
            d.tried_sources = tried;
            let got = match verdict(outcomes, &ranking, &d, &|_, _| Standing::Good) {
                Verdict::Take {
                    provider,
                    candidate,
                } => Ok((provider, candidate.peer.clone())),
                Verdict::NothingFound(m) => Err(m),
                Verdict::NoAnswer(e) => panic!("case {n}: no answer {e}"),
            };
            let want = want
                .map(|(p, peer)| (p, peer.to_owned()))
                .map_err(str::to_owned);
            assert_eq!(got, want, "case {n}");
        }
    }

    #[test]
    fn a_peer_in_bad_standing_sinks_below_its_equals_not_below_a_worse_format() {
        let outcomes = || {
            vec![
                found(
                    "slskd",
                    vec![
                        peer_file("corrupter", "Artist\\Song.flac", "flac"),
                        peer_file("steady", "Artist\\Song.flac", "flac"),
                        peer_file("mp3peer", "Artist\\Song.mp3", "mp3"),
                    ],
                ),
                found(
                    "other",
                    vec![peer_file("corrupter", "Artist\\Song.flac", "flac")],
                ),
            ]
        };
        let take = |standing: &dyn Fn(usize, &Candidate) -> Standing| match verdict(
            outcomes(),
            &RankingPolicy::default(),
            &download(),
            standing,
        ) {
            Verdict::Take {
                provider,
                candidate,
            } => (provider, candidate.peer.clone()),
            other => panic!("{other:?}"),
        };
        assert_eq!(take(&|_, _| Standing::Good), (0, "corrupter".to_owned()));
        // The standing is per provider: the same name elsewhere is another peer.
        let bad_at_slskd = |i: usize, c: &Candidate| {
            if i == 0 && c.peer == "corrupter" {
                Standing::BadFiles
            } else {
                Standing::Good
            }
        };
        assert_eq!(take(&bad_at_slskd), (0, "steady".to_owned()));
        let all_flac_bad = |_: usize, c: &Candidate| {
            if c.extension == "flac" {
                Standing::Unreliable
            } else {
                Standing::Good
            }
        };
        assert_eq!(
            take(&all_flac_bad),
            (0, "corrupter".to_owned()),
            "format first"
        );
    }

    #[test]
    fn when_no_provider_answers_the_first_error_decides() {
        let outcomes = vec![
            failed("slskd", ProviderError::RateLimited("429".into())),
            failed("qBittorrent", ProviderError::Unreachable("refused".into())),
        ];
        assert_eq!(
            verdict(outcomes, &RankingPolicy::default(), &download(), &|_, _| {
                Standing::Good
            }),
            Verdict::NoAnswer(ProviderError::RateLimited("429".into()))
        );
    }
}
