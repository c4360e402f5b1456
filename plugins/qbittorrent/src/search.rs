//! Searching through qBittorrent's own search engine: its installed search plugins (Python
//! scripts, each querying one torrent index). A result is a torrent: its name is what the host
//! matches against the track, and the track's title travels as the file to choose inside it,
//! so a torrent of a whole album fetches the one track.

use serde::Deserialize;
use tributary_plugin_sdk::{Candidate, ProviderError, SearchProgress, Source, UriSource};

use crate::files;

/// Extensions the host ranks as audio, for a torrent name that ends with one.
const AUDIO: &[&str] = &["flac", "mp3", "m4a", "aac", "ogg", "opus", "wav", "alac"];

/// One result of `search/results`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Found {
    pub file_name: String,
    /// A magnet link or the URL of the .torrent.
    pub file_url: String,
    /// -1 when the index does not say.
    #[serde(default)]
    pub file_size: i64,
    #[serde(default)]
    pub nb_seeders: i64,
    /// The index the result comes from.
    #[serde(default)]
    pub site_url: String,
}

/// `search/results`: what is found so far, and whether the search still runs.
#[derive(Debug, Deserialize)]
pub struct Results {
    pub results: Vec<Found>,
    /// "Running" or "Stopped".
    pub status: String,
}

/// What a search's handle carries. A plugin keeps nothing between calls, so the host holds it:
/// qBittorrent keeps a search with the WebUI session that started it (another session's
/// `search/results` is a 404), and the title is the file to choose in each result.
#[derive(Debug, PartialEq)]
pub struct Handle {
    pub id: i64,
    /// The session's `SID`.
    pub sid: String,
    pub title: String,
}

impl Handle {
    pub fn encode(&self) -> String {
        format!(
            "{}-{}-{}",
            self.id,
            files::hex(&self.sid),
            files::hex(&self.title)
        )
    }

    pub fn parse(handle: &str) -> Option<Handle> {
        let mut parts = handle.splitn(3, '-');
        Some(Handle {
            id: parts.next()?.parse().ok()?,
            sid: files::unhex(parts.next()?)?,
            title: files::unhex(parts.next()?)?,
        })
    }
}

/// The audio format a torrent's name shows: its extension, or a word such as "FLAC".
fn format_of(name: &str) -> String {
    let lower = name.to_lowercase();
    if let Some((_, ext)) = lower.rsplit_once('.')
        && AUDIO.contains(&ext)
    {
        return ext.to_owned();
    }
    lower
        .split(|c: char| !c.is_alphanumeric())
        .find(|w| AUDIO.contains(w))
        .unwrap_or_default()
        .to_owned()
}

/// The index's host, as the peer that offers the torrent.
fn site(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest).to_owned()
}

/// The results as candidates, most seeded first (the host's ranking keeps that order between
/// otherwise equal torrents).
pub fn progress(results: Results, title: &str) -> SearchProgress {
    let mut found = results.results;
    found.sort_by_key(|f| std::cmp::Reverse(f.nb_seeders));
    let candidates = found
        .into_iter()
        .filter(|f| !f.file_url.is_empty())
        .map(|f| {
            let size = u64::try_from(f.file_size).ok().filter(|s| *s > 0);
            Candidate {
                source: Source::Uri(UriSource {
                    uri: f.file_url,
                    file: Some(title.to_owned()),
                    size: None,
                }),
                peer: site(&f.site_url),
                extension: format_of(&f.file_name),
                name: f.file_name,
                // The torrent's size, which for an album is more than the track's.
                size,
                bitrate_kbps: None,
                bit_depth: None,
                sample_rate_hz: None,
                duration_secs: None,
                free_slot: f.nb_seeders > 0,
                queue_length: 0,
                upload_speed: 0,
            }
        })
        .collect();
    SearchProgress {
        complete: results.status != "Running",
        candidates,
    }
}

/// What a 409 from `search/start` means: qBittorrent cannot search at all (no Python on its
/// machine), or it runs as many searches as it allows.
pub fn start_conflict(answer: &str) -> ProviderError {
    if answer.contains("concurrent") {
        ProviderError::RateLimited(format!("qBittorrent: {answer}"))
    } else {
        ProviderError::Unsupported(format!("qBittorrent cannot search: {answer}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(name: &str, seeds: i64, size: i64) -> Found {
        Found {
            file_name: name.into(),
            file_url: format!("magnet:?xt=urn:btih:{seeds}"),
            file_size: size,
            nb_seeders: seeds,
            site_url: "http://127.0.0.1:8099/".into(),
        }
    }

    #[test]
    fn results_become_candidates_most_seeded_first() {
        let p = progress(
            Results {
                results: vec![
                    found("Artist - Song.mp3", 1, 5_000_000),
                    found("Artist - Song [FLAC 24bit]", 9, -1),
                    found("Artist - Song", 0, 100),
                ],
                status: "Running".into(),
            },
            "Song",
        );
        assert!(!p.complete);
        let seen: Vec<_> = p
            .candidates
            .iter()
            .map(|c| (c.extension.as_str(), c.size, c.free_slot, c.peer.as_str()))
            .collect();
        assert_eq!(
            seen,
            [
                ("flac", None, true, "127.0.0.1:8099"),
                ("mp3", Some(5_000_000), true, "127.0.0.1:8099"),
                ("", Some(100), false, "127.0.0.1:8099"),
            ]
        );
        let Source::Uri(uri) = &p.candidates[0].source else {
            panic!("a torrent is a URI source");
        };
        assert_eq!(uri.file.as_deref(), Some("Song"));
        assert!(
            progress(
                Results {
                    results: vec![],
                    status: "Stopped".into()
                },
                "x"
            )
            .complete
        );
    }

    #[test]
    fn handles_carry_the_session_and_the_title() {
        let h = Handle {
            id: 241_386_679,
            sid: "aB3+/x-Y".into(),
            title: "Song - with, commas".into(),
        };
        assert_eq!(Handle::parse(&h.encode()), Some(h));
        assert_eq!(Handle::parse("nonsense"), None);
        assert_eq!(Handle::parse("12-zz-00"), None);
    }

    #[test]
    fn a_conflict_is_a_limit_or_no_python() {
        assert!(matches!(
            start_conflict("Unable to create more than 5 concurrent searches."),
            ProviderError::RateLimited(_)
        ));
        assert!(matches!(
            start_conflict("Python must be installed to use the Search Engine."),
            ProviderError::Unsupported(_)
        ));
    }
}
