//! Downloads: enqueue, list, cancel, remove, queue position.

use serde_json::json;
use tributary_plugin_sdk::http::{Client, Response, path_segment};
use tributary_plugin_sdk::{
    Enqueued, PeerFile, ProviderError, Transfer, TransferRef, TransferState, config, warn,
};

use crate::api::message_of;
use crate::model::{EnqueueResult, SlskdTransfer, UserTransfers};
use crate::states::{Flags, SLSKD_DEFAULT_ATTEMPTS, neutral_state};
use crate::timefmt::timestamp_ms;

/// What the operator told the plugin about this slskd, beside where it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Setup {
    /// slskd's downloads directory, as Tributary sees it.
    pub downloads_dir: Option<String>,
    /// slskd's `transfers.download.retry.attempts`.
    pub retry_attempts: u32,
}

impl Setup {
    pub fn from_config() -> Setup {
        Setup {
            downloads_dir: config::get("downloads_dir"),
            retry_attempts: config::get("retry_attempts")
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(SLSKD_DEFAULT_ATTEMPTS),
        }
    }
}

/// Enqueues one file; returns slskd's transfer id and when slskd created it.
pub fn enqueue(slskd: &Client, file: &PeerFile) -> Result<Enqueued, ProviderError> {
    let user = path_segment(&file.peer);
    // `size` must be the exact size the peer reported, or slskd ends the transfer Aborted.
    let body = json!([{ "filename": file.filename, "size": file.size }]);
    let answer = slskd
        .post(&format!("/api/v0/transfers/downloads/{user}"))
        .json(&body)
        .map_status(|status, answer| enqueue_refused(file, status, answer))
        .send()?;
    // 0.24+: `{enqueued, failed}`; up to 0.23: an empty 201.
    if !answer.is_body_blank() {
        let result: EnqueueResult = answer.json()?;
        let ours = result
            .enqueued
            .into_iter()
            .filter_map(|v| serde_json::from_value::<SlskdTransfer>(v).ok())
            .find(|t| t.filename == file.filename);
        if let Some(transfer) = ours {
            return Ok(enqueued(&transfer));
        }
        if result.failed.is_empty() {
            return Err(ProviderError::Protocol(format!(
                "slskd accepted the enqueue of {} but did not list it",
                file.filename
            )));
        }
        // "Skipped: already in progress" lands in `failed`: the active record is the one that
        // fetches the file (the host tells its own older transfers from it).
    }
    find_newest(slskd, &file.peer, &file.filename)?
        .map(|t| enqueued(&t))
        .ok_or_else(|| {
            ProviderError::Rejected(format!(
                "slskd did not enqueue {} from {}",
                file.filename, file.peer
            ))
        })
}

fn enqueued(t: &SlskdTransfer) -> Enqueued {
    Enqueued {
        external_id: t.id.clone(),
        requested_at_ms: requested_at_ms(t),
    }
}

fn requested_at_ms(t: &SlskdTransfer) -> Option<u64> {
    t.requested_at
        .as_deref()
        .and_then(timestamp_ms)
        .and_then(|ms| u64::try_from(ms).ok())
}

/// What an enqueue refusal says about the peer, the file or slskd (`None`: the usual meaning).
fn enqueue_refused(file: &PeerFile, status: u16, answer: &Response) -> Option<ProviderError> {
    let message = message_of(answer);
    let text = format!(
        "enqueue {} from {}: slskd answered {status}: {message}",
        file.filename, file.peer
    );
    Some(match status {
        400 => ProviderError::Rejected(text),
        404 => ProviderError::PeerOffline(text),
        500 if message.contains("offline") => ProviderError::PeerOffline(text),
        500 if message.contains("connected") || message.contains("logged in") => {
            ProviderError::Unreachable(text)
        }
        500 if message.contains("rejected") || message.contains("duplicated") => {
            ProviderError::Rejected(text)
        }
        // Lidarr's slskd plugin reads any other enqueue 500 as "peer unreachable" too.
        500 => ProviderError::PeerOffline(text),
        _ => return None,
    })
}

/// The newest non-removed record of this user for this file (ids change when slskd restarts).
fn find_newest(
    slskd: &Client,
    peer: &str,
    filename: &str,
) -> Result<Option<SlskdTransfer>, ProviderError> {
    let user = path_segment(peer);
    let answer = slskd
        .get(&format!("/api/v0/transfers/downloads/{user}"))
        .accept_status(404)
        .send()?;
    if answer.status() == 404 {
        return Ok(None);
    }
    let listing: UserTransfers = answer.json()?;
    Ok(listing
        .directories
        .into_iter()
        .flat_map(|d| d.files)
        .filter_map(|v| serde_json::from_value::<SlskdTransfer>(v).ok())
        .filter(|t| t.filename == filename && !t.removed)
        .max_by_key(|t| requested_at_ms(t).unwrap_or(0)))
}

/// Every download slskd knows of. One record we cannot read is skipped and logged.
pub fn list(slskd: &Client, setup: &Setup) -> Result<Vec<Transfer>, ProviderError> {
    let users: Vec<UserTransfers> = slskd.get("/api/v0/transfers/downloads").send()?.json()?;
    let mut out = Vec::new();
    for file in users
        .into_iter()
        .flat_map(|u| u.directories)
        .flat_map(|d| d.files)
    {
        match serde_json::from_value::<SlskdTransfer>(file) {
            Ok(t) => out.push(to_neutral(&t, setup)),
            Err(e) => warn!("skipping a transfer record we cannot read: {e}"),
        }
    }
    Ok(out)
}

/// Where slskd puts a finished download: `<downloads>/<remote parent folder>/<file name>` (its
/// default `${SOURCE_DIRECTORY}` destination).
pub fn local_path(downloads_dir: &str, remote: &str) -> Option<String> {
    let mut parts = remote.rsplit(['\\', '/']).filter(|p| !p.is_empty());
    let name = parts.next()?;
    let folder = parts.next();
    let unsafe_part = |p: &str| p == "." || p == "..";
    if unsafe_part(name) || folder.is_some_and(unsafe_part) {
        return None;
    }
    let base = downloads_dir.trim_end_matches('/');
    Some(match folder {
        Some(folder) => format!("{base}/{folder}/{name}"),
        None => format!("{base}/{name}"),
    })
}

/// The neutral view of one record. A state with a flag this plugin does not know is reported
/// as unknown, with slskd's own words, and the host keeps the download as it was.
pub fn to_neutral(t: &SlskdTransfer, setup: &Setup) -> Transfer {
    let (flags, unknown) = Flags::parse(&t.state);
    let (state, failure) = if unknown.is_empty() {
        neutral_state(
            flags,
            t.exception.as_deref(),
            t.attempts,
            setup.retry_attempts,
        )
    } else {
        (TransferState::Unknown, None)
    };
    let size = u64::try_from(t.size).unwrap_or(0);
    // bytesRemaining can be negative; bytesTransferred is the number to trust, within size.
    let mut transferred = u64::try_from(t.bytes_transferred).unwrap_or(0);
    if size > 0 {
        transferred = transferred.min(size);
    }
    let speed = if t.average_speed.is_finite() {
        t.average_speed.max(0.0)
    } else {
        0.0
    };
    let local_path = match (state, &setup.downloads_dir) {
        (TransferState::Succeeded, Some(dir)) => local_path(dir, &t.filename),
        _ => None,
    };
    Transfer {
        external_id: t.id.clone(),
        peer: t.username.clone(),
        filename: t.filename.clone(),
        size: (size > 0).then_some(size),
        bytes_transferred: transferred,
        speed_bytes_per_sec: speed,
        queue_position: t.place_in_queue.and_then(|p| u32::try_from(p).ok()),
        state,
        failure,
        state_detail: Some(t.state.clone()),
        requested_at_ms: requested_at_ms(t),
        local_path,
    }
}

fn transfer_path(t: &TransferRef) -> String {
    format!(
        "/api/v0/transfers/downloads/{}/{}",
        path_segment(&t.peer),
        path_segment(&t.external_id)
    )
}

/// Cancels a transfer. slskd cancels asynchronously: the record ends `Completed, Cancelled` a
/// moment later, and the host removes it then.
pub fn cancel(slskd: &Client, t: &TransferRef) -> Result<(), ProviderError> {
    let answer = slskd
        .delete(&transfer_path(t))
        .query("remove", false)
        .map_status(|status, _| {
            (status == 400).then(|| {
                ProviderError::NotFound(format!("slskd has no transfer {}", t.external_id))
            })
        })
        .send()?;
    no_content(&answer)
}

/// slskd answers a DELETE with 204 and no body. A 2xx with a body came from something else
/// (a proxy's login page, a wrong URL): nothing was cancelled or removed.
fn no_content(answer: &Response) -> Result<(), ProviderError> {
    if answer.is_body_blank() {
        return Ok(());
    }
    let said: String = answer.text().chars().take(120).collect();
    Err(ProviderError::Protocol(format!(
        "slskd answers a DELETE with no body; got {} {:?} (is the url slskd's?)",
        answer.status(),
        said
    )))
}

/// Removes an ended transfer from slskd's list (slskd leaves a running one where it is).
pub fn remove(slskd: &Client, t: &TransferRef) -> Result<(), ProviderError> {
    let answer = slskd
        .delete(&transfer_path(t))
        .query("remove", true)
        .map_status(|status, _| {
            (status == 400).then(|| {
                ProviderError::NotFound(format!("slskd has no transfer {}", t.external_id))
            })
        })
        .send()?;
    no_content(&answer)
}

/// Asks the peer where the transfer stands in its upload queue (a bare integer). A peer that
/// does not answer, or is offline, says nothing: slskd says so with a 500 carrying a JSON
/// string. Any other 500 is slskd (or what stands in front of it) failing.
pub fn queue_position(slskd: &Client, t: &TransferRef) -> Result<Option<u32>, ProviderError> {
    let answer = slskd
        .get(&format!("{}/position", transfer_path(t)))
        .map_status(|status, _| {
            matches!(status, 400 | 404).then(|| {
                ProviderError::NotFound(format!("slskd has no transfer {}", t.external_id))
            })
        })
        .accept_status(500)
        .send()?;
    if answer.status() == 500 {
        return match serde_json::from_slice::<String>(answer.body()) {
            Ok(_peer_said_nothing) => Ok(None),
            Err(_) => Err(tributary_plugin_sdk::http::status_error(&answer)),
        };
    }
    let position: i64 = answer.json()?;
    Ok(u32::try_from(position).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_delete_answered_with_a_body_is_not_slskd_s_answer() {
        let answer = |status, body: &str| {
            Response::new("DELETE /x", status, Vec::new(), body.as_bytes().to_vec())
        };
        assert!(no_content(&answer(204, "")).is_ok());
        assert!(matches!(
            no_content(&answer(200, "<!doctype html><title>Login</title>")),
            Err(ProviderError::Protocol(_))
        ));
    }
    use tributary_plugin_sdk::FailureReason;

    fn transfer(json: &str) -> SlskdTransfer {
        serde_json::from_str(json).unwrap()
    }

    fn setup() -> Setup {
        Setup {
            downloads_dir: Some("/srv/slskd/downloads".into()),
            retry_attempts: 3,
        }
    }

    #[test]
    fn in_progress_records_map_with_bytes_speed_and_times() {
        let t = transfer(
            r#"{"id":"0b9f","username":"vinylhoarder","filename":"a\\b.flac","size":41943040,"state":"InProgress",
            "requestedAt":"2026-08-22T18:04:11.5134417","startedAt":"2026-08-22T18:05:40.2203991Z",
            "bytesTransferred":17301504,"averageSpeed":1198734.27,"attempts":1,"removed":false,
            "bytesRemaining":24641536,"elapsedTime":"00:00:14.4310022","percentComplete":41.25}"#,
        );
        let n = to_neutral(&t, &setup());
        assert_eq!(n.state, TransferState::InProgress);
        assert_eq!(n.bytes_transferred, 17301504);
        assert!((n.speed_bytes_per_sec - 1198734.27).abs() < 1e-6);
        assert!(n.failure.is_none());
        assert_eq!(n.requested_at_ms, Some(1_787_421_851_513));
        assert_eq!(n.state_detail.as_deref(), Some("InProgress"));
        assert_eq!(n.local_path, None, "only a finished file has a place");
    }

    #[test]
    fn a_finished_file_says_where_slskd_put_it() {
        let t = transfer(
            r#"{"id":"7d2e","username":"u","filename":"@@kzvbq\\Music\\Boards of Canada\\(1998) MHTRTC\\04 - Telephasic Workshop.flac",
            "size":31457280,"state":"Completed, Succeeded","bytesTransferred":31457280,"averageSpeed":1}"#,
        );
        let n = to_neutral(&t, &setup());
        assert_eq!(
            n.local_path.as_deref(),
            Some("/srv/slskd/downloads/(1998) MHTRTC/04 - Telephasic Workshop.flac")
        );
        let unknown_dir = to_neutral(&t, &Setup::default());
        assert_eq!(unknown_dir.local_path, None);
        assert_eq!(
            local_path("/d/", "share/sub/x.mp3").as_deref(),
            Some("/d/sub/x.mp3")
        );
        assert_eq!(local_path("/d", "x.mp3").as_deref(), Some("/d/x.mp3"));
        assert_eq!(local_path("/d", "a\\..\\x.mp3"), None);
    }

    #[test]
    fn odd_numbers_are_tolerated() {
        let t = transfer(
            r#"{"id":"1","username":"u","filename":"f.mp3","size":100,"state":"InProgress",
            "bytesTransferred":150,"averageSpeed":-3,"bytesRemaining":-50,"elapsedTime":"1.00:00:03.5"}"#,
        );
        let n = to_neutral(&t, &setup());
        assert_eq!(n.bytes_transferred, 100);
        assert_eq!(n.speed_bytes_per_sec, 0.0);
    }

    #[test]
    fn failures_carry_reason_and_message() {
        let t = transfer(
            r#"{"id":"e5f6","username":"u","filename":"f","size":1,"state":"Completed, Rejected",
            "bytesTransferred":0,"averageSpeed":0,"exception":"Transfer rejected: File not shared.","attempts":1}"#,
        );
        let n = to_neutral(&t, &setup());
        assert_eq!(n.state, TransferState::Failed);
        let f = n.failure.unwrap();
        assert_eq!(f.reason, FailureReason::Rejected);
        assert_eq!(f.message, "Transfer rejected: File not shared.");
    }

    #[test]
    fn unknown_states_are_reported_not_guessed() {
        let t =
            transfer(r#"{"id":"1","username":"u","filename":"f","state":"Completed, Teleported"}"#);
        let n = to_neutral(&t, &setup());
        assert_eq!(n.state, TransferState::Unknown);
        assert_eq!(n.state_detail.as_deref(), Some("Completed, Teleported"));
        assert!(n.failure.is_none());
    }
}
