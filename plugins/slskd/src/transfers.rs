//! Downloads: enqueue, list, cancel.

use serde_json::json;
use tributary_plugin_sdk::http::{Client, Response, path_segment};
use tributary_plugin_sdk::{ProviderError, Source, Transfer, warn};

use crate::api::message_of;
use crate::model::{EnqueueResult, SlskdTransfer, UserTransfers};
use crate::states::{Flags, neutral_state};
use crate::timefmt::timestamp_ms;

/// Enqueues one file; returns slskd's transfer id.
pub fn enqueue(slskd: &Client, source: &Source) -> Result<String, ProviderError> {
    let user = path_segment(&source.peer);
    // `size` must be the exact size the peer reported, or slskd ends the transfer Aborted.
    let body = json!([{ "filename": source.filename, "size": source.size }]);
    let answer = slskd
        .post(&format!("/api/v0/transfers/downloads/{user}"))
        .json(&body)
        .map_status(|status, answer| enqueue_refused(source, status, answer))
        .send()?;
    // 0.24+: `{enqueued, failed}`; up to 0.23: an empty 201.
    if !answer.is_body_blank() {
        let result: EnqueueResult = answer.json()?;
        let ours = result
            .enqueued
            .into_iter()
            .filter_map(|v| serde_json::from_value::<SlskdTransfer>(v).ok())
            .find(|t| t.filename == source.filename);
        if let Some(transfer) = ours {
            return Ok(transfer.id);
        }
        if result.failed.is_empty() {
            return Err(ProviderError::Protocol(format!(
                "slskd accepted the enqueue of {} but did not list it",
                source.filename
            )));
        }
        // "Skipped: already in progress" lands in `failed`: the active record is ours then.
    }
    find_newest(slskd, &source.peer, &source.filename)?.ok_or_else(|| {
        ProviderError::Rejected(format!(
            "slskd did not enqueue {} from {}",
            source.filename, source.peer
        ))
    })
}

/// What an enqueue refusal says about the peer, the file or slskd (`None`: the usual meaning).
fn enqueue_refused(source: &Source, status: u16, answer: &Response) -> Option<ProviderError> {
    let message = message_of(answer);
    let text = format!(
        "enqueue {} from {}: slskd answered {status}: {message}",
        source.filename, source.peer
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
) -> Result<Option<String>, ProviderError> {
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
        .max_by_key(|t| {
            t.requested_at
                .as_deref()
                .and_then(timestamp_ms)
                .unwrap_or(i64::MIN)
        })
        .map(|t| t.id))
}

/// Every download slskd knows of. One record we cannot read is skipped and logged.
pub fn list(slskd: &Client) -> Result<Vec<Transfer>, ProviderError> {
    let users: Vec<UserTransfers> = slskd.get("/api/v0/transfers/downloads").send()?.json()?;
    let mut out = Vec::new();
    for file in users
        .into_iter()
        .flat_map(|u| u.directories)
        .flat_map(|d| d.files)
    {
        match serde_json::from_value::<SlskdTransfer>(file) {
            Ok(t) => match to_neutral(&t) {
                Some(transfer) => out.push(transfer),
                None => warn!(
                    "skipping transfer {} with unknown state {:?}",
                    t.id, t.state
                ),
            },
            Err(e) => warn!("skipping a transfer record we cannot read: {e}"),
        }
    }
    Ok(out)
}

/// The neutral view of one record; `None` when its state has a flag we do not know.
pub fn to_neutral(t: &SlskdTransfer) -> Option<Transfer> {
    let (flags, unknown) = Flags::parse(&t.state);
    if !unknown.is_empty() {
        return None;
    }
    let (state, failure) = neutral_state(flags, t.exception.as_deref(), t.attempts);
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
    Some(Transfer {
        external_id: t.id.clone(),
        peer: t.username.clone(),
        filename: t.filename.clone(),
        size,
        bytes_transferred: transferred,
        speed_bytes_per_sec: speed,
        queue_position: t.place_in_queue.and_then(|p| u32::try_from(p).ok()),
        state,
        failure,
    })
}

/// Cancels a transfer; with `remove`, also removes it when it has already ended (slskd cannot
/// remove a running one: the host clears it later with `clear-finished`).
pub fn cancel(
    slskd: &Client,
    external_id: &str,
    peer: &str,
    remove: bool,
) -> Result<(), ProviderError> {
    let path = format!(
        "/api/v0/transfers/downloads/{}/{}",
        path_segment(peer),
        path_segment(external_id)
    );
    slskd
        .delete(&path)
        .query("remove", false)
        .map_status(|status, _| {
            matches!(status, 400 | 404)
                .then(|| ProviderError::NotFound(format!("slskd has no transfer {external_id}")))
        })
        .send()?;
    if remove {
        let answer = slskd.get(&path).accept_status(404).send()?;
        if answer.status() == 404 {
            return Ok(());
        }
        let current: SlskdTransfer = answer.json()?;
        if Flags::parse(&current.state).0.completed {
            slskd.delete(&path).query("remove", true).send()?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tributary_plugin_sdk::{FailureReason, TransferState};

    fn transfer(json: &str) -> SlskdTransfer {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn in_progress_records_map_with_bytes_and_speed() {
        let t = transfer(
            r#"{"id":"0b9f","username":"vinylhoarder","filename":"a\\b.flac","size":41943040,"state":"InProgress",
            "requestedAt":"2026-08-22T18:04:11.5134417","startedAt":"2026-08-22T18:05:40.2203991Z",
            "bytesTransferred":17301504,"averageSpeed":1198734.27,"attempts":1,"removed":false,
            "bytesRemaining":24641536,"elapsedTime":"00:00:14.4310022","percentComplete":41.25}"#,
        );
        let n = to_neutral(&t).unwrap();
        assert_eq!(n.state, TransferState::InProgress);
        assert_eq!(n.bytes_transferred, 17301504);
        assert!((n.speed_bytes_per_sec - 1198734.27).abs() < 1e-6);
        assert!(n.failure.is_none());
    }

    #[test]
    fn odd_numbers_are_tolerated() {
        let t = transfer(
            r#"{"id":"1","username":"u","filename":"f.mp3","size":100,"state":"InProgress",
            "bytesTransferred":150,"averageSpeed":-3,"bytesRemaining":-50,"elapsedTime":"1.00:00:03.5"}"#,
        );
        let n = to_neutral(&t).unwrap();
        assert_eq!(n.bytes_transferred, 100);
        assert_eq!(n.speed_bytes_per_sec, 0.0);
    }

    #[test]
    fn failures_carry_reason_and_message() {
        let t = transfer(
            r#"{"id":"e5f6","username":"u","filename":"f","size":1,"state":"Completed, Rejected",
            "bytesTransferred":0,"averageSpeed":0,"exception":"Transfer rejected: File not shared.","attempts":1}"#,
        );
        let n = to_neutral(&t).unwrap();
        assert_eq!(n.state, TransferState::Failed);
        let f = n.failure.unwrap();
        assert_eq!(f.reason, FailureReason::Rejected);
        assert_eq!(f.message, "Transfer rejected: File not shared.");
    }

    #[test]
    fn unknown_states_are_not_guessed() {
        let t =
            transfer(r#"{"id":"1","username":"u","filename":"f","state":"Completed, Teleported"}"#);
        assert!(to_neutral(&t).is_none());
    }
}
