//! Searching: start, then poll `isComplete`, then read the responses (minding the race in which
//! a search is complete but its responses are not written yet).

use serde_json::json;
use tributary_plugin_sdk::http::{Client, path_segment};
use tributary_plugin_sdk::{Candidate, ProviderError, SearchProgress, TrackQuery, clock, warn};

use crate::api::message_of;
use crate::model::{Search, SearchFile, SearchResponse};
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
    Ok(search.id)
}

pub fn poll(slskd: &Client, search_id: &str) -> Result<SearchProgress, ProviderError> {
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
    // Finished and read: the search is of no more use to slskd either.
    let deleted = slskd
        .delete(&format!("/api/v0/searches/{id}"))
        .accept_any_status()
        .send()?;
    if !deleted.is_success() {
        warn!(
            "could not delete search {search_id}: status {}",
            deleted.status()
        );
    }
    Ok(SearchProgress {
        complete: true,
        candidates,
    })
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
        out.push(Candidate {
            peer: response.username.clone(),
            filename: file.filename,
            size: u64::try_from(file.size).unwrap_or(0),
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
    fn extensions_come_from_the_name_when_missing() {
        assert_eq!(
            extension_of("@@kzvbq\\Music\\A\\01 - Wildlife Analysis.FLAC"),
            "flac"
        );
        assert_eq!(extension_of("share/no_extension"), "");
        assert_eq!(extension_of("dir.v2\\track"), "");
    }
}
