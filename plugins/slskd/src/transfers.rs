//! Downloads: enqueue, list, cancel.

use serde_json::json;

use crate::bindings::tributary::provider::types::{ProviderError, Source, Transfer};
use crate::client::{Client, Outcome, encode_segment, parse};
use crate::model::{EnqueueResult, SlskdTransfer, UserTransfers};
use crate::states::{Flags, neutral_state};
use crate::timefmt::timestamp_ms;

/// Enqueues one file; returns slskd's transfer id.
pub fn enqueue(client: &Client, source: &Source) -> Result<String, ProviderError> {
    let user = encode_segment(&source.peer);
    // `size` must be the exact size the peer reported, or slskd ends the transfer Aborted.
    let body = json!([{ "filename": source.filename, "size": source.size }]);
    let answer = client.send(
        "POST",
        &format!("/api/v0/transfers/downloads/{user}"),
        Some(&body),
    )?;
    let body = match answer {
        Outcome::Ok { body } => body,
        Outcome::Refused(r) => {
            let text = format!(
                "enqueue {} from {}: slskd answered {}: {}",
                source.filename, source.peer, r.status, r.message
            );
            return Err(match r.status {
                400 => ProviderError::Rejected(text),
                404 => ProviderError::PeerOffline(text),
                500 if r.message.contains("offline") => ProviderError::PeerOffline(text),
                500 if r.message.contains("connected") || r.message.contains("logged in") => {
                    ProviderError::Unreachable(text)
                }
                500 if r.message.contains("rejected") || r.message.contains("duplicated") => {
                    ProviderError::Rejected(text)
                }
                // Lidarr's slskd plugin reads any other enqueue 500 as "peer unreachable" too.
                500 => ProviderError::PeerOffline(text),
                _ => r.into_error("enqueue"),
            });
        }
    };
    // 0.24+: `{enqueued, failed}`; up to 0.23: an empty 201.
    if !body.iter().all(u8::is_ascii_whitespace) {
        let result: EnqueueResult = parse(&body, "enqueue answer")?;
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
    find_newest(client, &source.peer, &source.filename)?.ok_or_else(|| {
        ProviderError::Rejected(format!(
            "slskd did not enqueue {} from {}",
            source.filename, source.peer
        ))
    })
}

/// The newest non-removed record of this user for this file (ids change when slskd restarts).
fn find_newest(
    client: &Client,
    peer: &str,
    filename: &str,
) -> Result<Option<String>, ProviderError> {
    let user = encode_segment(peer);
    let listing: UserTransfers =
        match client.send("GET", &format!("/api/v0/transfers/downloads/{user}"), None)? {
            Outcome::Ok { body } => parse(&body, "transfers of one user")?,
            Outcome::Refused(r) if r.status == 404 => return Ok(None),
            Outcome::Refused(r) => return Err(r.into_error("transfers of one user")),
        };
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
pub fn list(client: &Client) -> Result<Vec<Transfer>, ProviderError> {
    let users: Vec<UserTransfers> =
        client.get_json("/api/v0/transfers/downloads", "transfer list")?;
    let mut out = Vec::new();
    for file in users
        .into_iter()
        .flat_map(|u| u.directories)
        .flat_map(|d| d.files)
    {
        match serde_json::from_value::<SlskdTransfer>(file) {
            Ok(t) => match to_neutral(&t) {
                Some(transfer) => out.push(transfer),
                None => crate::warn(&format!(
                    "skipping transfer {} with unknown state {:?}",
                    t.id, t.state
                )),
            },
            Err(e) => crate::warn(&format!("skipping a transfer record we cannot read: {e}")),
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
    client: &Client,
    external_id: &str,
    peer: &str,
    remove: bool,
) -> Result<(), ProviderError> {
    let path = format!(
        "/api/v0/transfers/downloads/{}/{}",
        encode_segment(peer),
        encode_segment(external_id)
    );
    match client.send("DELETE", &format!("{path}?remove=false"), None)? {
        Outcome::Ok { .. } => {}
        Outcome::Refused(r) if r.status == 404 || r.status == 400 => {
            return Err(ProviderError::NotFound(format!(
                "slskd has no transfer {external_id}"
            )));
        }
        Outcome::Refused(r) => return Err(r.into_error("cancel")),
    }
    if remove {
        let current = match client.send("GET", &path, None)? {
            Outcome::Ok { body } => parse::<SlskdTransfer>(&body, "transfer")?,
            Outcome::Refused(r) if r.status == 404 => return Ok(()),
            Outcome::Refused(r) => return Err(r.into_error("read transfer")),
        };
        if Flags::parse(&current.state).0.completed
            && let Outcome::Refused(r) =
                client.send("DELETE", &format!("{path}?remove=true"), None)?
        {
            return Err(r.into_error("remove"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::tributary::provider::types::{FailureReason, TransferState};

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
