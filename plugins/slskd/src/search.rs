//! Searching: start, then poll `isComplete`, then read the responses (minding the race in which
//! a search is complete but its responses are not written yet).

use serde_json::json;
use tributary_plugin_sdk::http::{Client, path_segment};
use tributary_plugin_sdk::{
    Candidate, PeerFile, ProviderError, SearchProgress, Source, TrackQuery, clock, warn,
};

use crate::api::message_of;
use crate::model::{Search, SearchFile, SearchResponse, SlskdTransfer, UserTransfers};
use crate::states::SHUTDOWN_MESSAGE;
use crate::timefmt::timestamp_ms;

/// After `isComplete`, how long empty responses with `responseCount > 0` are taken for the race
/// rather than the truth (slskd's own UI waits 500 ms).
const RESPONSE_RACE_WINDOW_MS: i64 = 3_000;

/// The Soulseek query for a track: words of artist and title; single characters and leading
/// '-' (which Soulseek reads as "exclude") dropped.
pub fn search_text(query: &TrackQuery) -> String {
    format!("{} {}", query.artist, query.title)
        .split(|c: char| {
            c.is_whitespace() || matches!(c, '-' | '(' | ')' | '[' | ']' | '"' | '&' | ',' | '/')
        })
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()))
        .filter(|w| w.chars().count() > 1)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The search's handle for the host: slskd's id and the inactivity timeout it was started with
/// (`<id>@<ms>`). The plugin keeps no state between calls, and the timeout tells a search slskd
/// cut short (it restarted) from one that ran its course.
pub fn handle(id: &str, timeout_ms: u32) -> String {
    format!("{id}@{timeout_ms}")
}

/// slskd's id and the timeout back from a handle (a bare id has no known timeout).
pub fn parse_handle(handle: &str) -> (&str, Option<i64>) {
    match handle.rsplit_once('@') {
        Some((id, ms)) => (id, ms.parse().ok()),
        None => (handle, None),
    }
}

/// A search slskd says timed out, sooner than its timeout after it started and with nothing
/// found: slskd restarted meanwhile (it ends every running search that way at start-up).
pub fn cut_short(search: &Search, timeout_ms: Option<i64>) -> bool {
    let (Some(timeout), Some(started), Some(ended)) = (
        timeout_ms,
        search.started_at.as_deref().and_then(timestamp_ms),
        search.ended_at.as_deref().and_then(timestamp_ms),
    ) else {
        return false;
    };
    search.state.contains("TimedOut") && search.response_count == 0 && ended - started < timeout
}

/// Whether slskd restarted while this search ran: at start-up it ends running searches with
/// nothing found, and marks in-flight downloads `Application shut down` at the same moment.
/// Only asked of a search that found nothing, so it costs one list call in that case alone.
fn restarted_during(slskd: &Client, search: &Search) -> Result<bool, ProviderError> {
    let empty_timeout = search.state.contains("TimedOut") && search.response_count == 0;
    let Some(started) = search.started_at.as_deref().and_then(timestamp_ms) else {
        return Ok(false);
    };
    if !empty_timeout {
        return Ok(false);
    }
    let users: Vec<UserTransfers> = slskd.get("/api/v0/transfers/downloads").send()?.json()?;
    Ok(users
        .into_iter()
        .flat_map(|u| u.directories)
        .flat_map(|d| d.files)
        .filter_map(|v| serde_json::from_value::<SlskdTransfer>(v).ok())
        .any(|t| {
            t.exception.as_deref() == Some(SHUTDOWN_MESSAGE)
                && t.ended_at
                    .as_deref()
                    .and_then(timestamp_ms)
                    .is_some_and(|ended| ended >= started)
        }))
}

pub fn start(slskd: &Client, query: &TrackQuery) -> Result<String, ProviderError> {
    let text = search_text(query);
    if text.is_empty() {
        return Err(ProviderError::NotFound(format!(
            "nothing to search for in {:?} - {:?}",
            query.artist, query.title
        )));
    }
    let body = json!({
        "searchText": text,
        // Milliseconds, whatever slskd's doc comment says.
        "searchTimeout": query.search_timeout_ms.max(5),
        "filterResponses": true,
        "minimumResponseFileCount": 1,
    });
    let search: Search = slskd
        .post("/api/v0/searches")
        .json(&body)
        .map_status(|status, answer| {
            (status == 400).then(|| {
                let message = message_of(answer);
                ProviderError::NotFound(format!("slskd refused the search {text:?}: {message}"))
            })
        })
        .send()?
        .json()?;
    Ok(handle(&search.id, query.search_timeout_ms.max(5)))
}

pub fn poll(slskd: &Client, search_handle: &str) -> Result<SearchProgress, ProviderError> {
    let (search_id, timeout_ms) = parse_handle(search_handle);
    let id = path_segment(search_id);
    let search: Search = slskd
        .get(&format!("/api/v0/searches/{id}"))
        .send()?
        .json()?;
    if !search.is_complete {
        return Ok(SearchProgress {
            complete: false,
            candidates: Vec::new(),
        });
    }
    if cut_short(&search, timeout_ms) || restarted_during(slskd, &search)? {
        return Err(ProviderError::Unreachable(format!(
            "slskd restarted during search {search_id} and ended it with nothing ({}); search again",
            search.state
        )));
    }
    let responses: Vec<serde_json::Value> = slskd
        .get(&format!("/api/v0/searches/{id}/responses"))
        .send()?
        .json()?;
    if responses.is_empty() && search.response_count > 0 {
        let ended = search.ended_at.as_deref().and_then(timestamp_ms);
        let now = i64::try_from(clock::now_ms()).unwrap_or(i64::MAX);
        if ended.is_none_or(|ended| now - ended < RESPONSE_RACE_WINDOW_MS) {
            return Ok(SearchProgress {
                complete: false,
                candidates: Vec::new(),
            });
        }
    }
    let mut candidates = Vec::new();
    for raw in responses {
        match serde_json::from_value::<SearchResponse>(raw) {
            Ok(response) => candidates.extend(candidates_of(response)),
            Err(e) => warn!("skipping a search response slskd sent that we cannot read: {e}"),
        }
    }
    Ok(SearchProgress {
        complete: true,
        candidates,
    })
}

/// The host is done with the search: stop it (slskd keeps a running search going until its
/// inactivity timeout otherwise) and delete it, so none is left stored in slskd.
pub fn end(slskd: &Client, search_handle: &str) -> Result<(), ProviderError> {
    let (search_id, _) = parse_handle(search_handle);
    let path = format!("/api/v0/searches/{}", path_segment(search_id));
    // A search that already ended (or is unknown) answers 404 to the stop: nothing to stop.
    slskd.put(&path).accept_status(404).send()?;
    slskd.delete(&path).accept_status(404).send()?;
    Ok(())
}

fn candidates_of(response: SearchResponse) -> Vec<Candidate> {
    let mut out = Vec::new();
    // `lockedFiles` are not offered to us by the peer, so they are no candidates.
    for raw in response.files {
        let file = match serde_json::from_value::<SearchFile>(raw) {
            Ok(f) => f,
            Err(e) => {
                warn!(
                    "skipping a file from {} we cannot read: {e}",
                    response.username
                );
                continue;
            }
        };
        let extension = if file.extension.is_empty() {
            extension_of(&file.filename)
        } else {
            file.extension.to_ascii_lowercase()
        };
        let size = u64::try_from(file.size).unwrap_or(0);
        out.push(Candidate {
            source: Source::PeerFile(PeerFile {
                peer: response.username.clone(),
                filename: file.filename.clone(),
                size,
            }),
            peer: response.username.clone(),
            name: file.filename,
            size: Some(size),
            extension,
            bitrate_kbps: file.bit_rate,
            bit_depth: file.bit_depth,
            sample_rate_hz: file.sample_rate,
            duration_secs: file.length,
            free_slot: response.has_free_upload_slot,
            queue_length: u64::try_from(response.queue_length).unwrap_or(0),
            upload_speed: u64::try_from(response.upload_speed).unwrap_or(0),
        });
    }
    out
}

/// slskd's `extension` is often empty: take it from the name (after the last '\' or '/').
fn extension_of(filename: &str) -> String {
    let name = filename.rsplit(['\\', '/']).next().unwrap_or(filename);
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && !ext.is_empty() && ext.len() <= 5 => {
            ext.to_ascii_lowercase()
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(artist: &str, title: &str) -> TrackQuery {
        TrackQuery {
            artist: artist.into(),
            title: title.into(),
            album: None,
            duration_secs: None,
            search_timeout_ms: 1000,
        }
    }

    #[test]
    fn search_text_keeps_useful_words() {
        assert_eq!(
            search_text(&query("Boards of Canada", "Roygbiv")),
            "Boards of Canada Roygbiv"
        );
        assert_eq!(
            search_text(&query("A-ha", "Take On Me (Remastered)")),
            "ha Take On Me Remastered"
        );
        assert_eq!(search_text(&query("X", "-")), "");
    }

    #[test]
    fn a_handle_carries_the_timeout_and_tells_a_cut_search_from_a_finished_one() {
        let h = handle("8d0f0bb4-9c1e-4f55-a0a2-5d1b7e3c9f01", 15_000);
        assert_eq!(
            parse_handle(&h),
            ("8d0f0bb4-9c1e-4f55-a0a2-5d1b7e3c9f01", Some(15_000))
        );
        assert_eq!(parse_handle("bare"), ("bare", None));
        let search = |state: &str, ended: &str, responses: u64| Search {
            id: "x".into(),
            is_complete: true,
            state: state.into(),
            started_at: Some("2026-08-22T18:00:00Z".into()),
            ended_at: Some(ended.into()),
            response_count: responses,
        };
        let cut = search("Completed, TimedOut", "2026-08-22T18:00:04Z", 0);
        assert!(cut_short(&cut, Some(15_000)));
        assert!(!cut_short(&cut, None), "no known timeout: taken as it is");
        let ran = search("Completed, TimedOut", "2026-08-22T18:00:16Z", 0);
        assert!(!cut_short(&ran, Some(15_000)), "nothing found, honestly");
        let found = search("Completed, TimedOut", "2026-08-22T18:00:04Z", 3);
        assert!(!cut_short(&found, Some(15_000)));
        let limit = search("Completed, ResponseLimitReached", "2026-08-22T18:00:04Z", 0);
        assert!(!cut_short(&limit, Some(15_000)));
    }

    #[test]
    fn extensions_come_from_the_name_when_missing() {
        assert_eq!(
            extension_of("@@kzvbq\\Music\\A\\01 - Wildlife Analysis.FLAC"),
            "flac"
        );
        assert_eq!(extension_of("share/no_extension"), "");
        assert_eq!(extension_of("dir.v2\\track"), "");
    }
}
