//! aria2's `tellStatus` structs as neutral transfers.

use serde_json::Value;
use tributary_plugin_sdk::{FailureReason, Transfer, TransferFailure, TransferState};

/// aria2 sends every number as a string.
fn number(v: &Value) -> u64 {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// What aria2's exit codes (`errorCode`) mean for the host.
fn reason(code: u64) -> FailureReason {
    match code {
        3 | 4 => FailureReason::NotFound,
        2 | 5 => FailureReason::TimedOut,
        9 => FailureReason::NoSpace,
        6 | 19 | 29 => FailureReason::PeerOffline,
        24 => FailureReason::Rejected,
        _ => FailureReason::Errored,
    }
}

pub fn transfer(s: &Value) -> Option<Transfer> {
    let file = &s["files"][0];
    let uri = file["uris"][0]["uri"].as_str().unwrap_or_default();
    let path = file["path"].as_str().filter(|p| !p.is_empty());
    let name = path.unwrap_or(uri).rsplit('/').next().unwrap_or_default();
    let total = number(&s["totalLength"]);
    let status = s["status"].as_str()?;
    let (state, failure) = match status {
        "active" => (TransferState::InProgress, None),
        "waiting" => (TransferState::QueuedLocally, None),
        "paused" => (TransferState::Paused, None),
        "complete" => (TransferState::Succeeded, None),
        "removed" => (TransferState::Cancelled, None),
        "error" => (
            TransferState::Failed,
            Some(TransferFailure {
                reason: reason(number(&s["errorCode"])),
                message: s["errorMessage"]
                    .as_str()
                    .unwrap_or("aria2 error")
                    .to_owned(),
                provider_may_retry: false,
            }),
        ),
        _ => (TransferState::Unknown, None),
    };
    Some(Transfer {
        external_id: s["gid"].as_str()?.to_owned(),
        // The server is the "peer" of a direct download.
        peer: uri.split('/').nth(2).unwrap_or_default().to_owned(),
        filename: name.to_owned(),
        size: (total > 0).then_some(total),
        bytes_transferred: number(&s["completedLength"]),
        speed_bytes_per_sec: number(&s["downloadSpeed"]) as f64,
        queue_position: None,
        state,
        failure,
        state_detail: (state == TransferState::Unknown).then(|| status.to_owned()),
        requested_at_ms: None,
        local_path: (state == TransferState::Succeeded)
            .then(|| path.map(str::to_owned))
            .flatten(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn status(status: &str, extra: Value) -> Value {
        let mut s = json!({
            "gid": "2089b05ecca3d829", "status": status, "totalLength": "1048576",
            "completedLength": "524288", "downloadSpeed": "65536",
            "files": [{"index": "1", "path": "/srv/dl/song.flac", "length": "1048576",
                "uris": [{"uri": "http://music.example:8080/a/song.flac", "status": "used"}]}]
        });
        for (k, v) in extra.as_object().unwrap() {
            s[k] = v.clone();
        }
        s
    }

    #[test]
    fn states_sizes_and_paths_map() {
        let t = transfer(&status("active", json!({}))).unwrap();
        assert_eq!(t.state, TransferState::InProgress);
        assert_eq!((t.size, t.bytes_transferred), (Some(1_048_576), 524_288));
        assert_eq!(
            (t.peer.as_str(), t.filename.as_str()),
            ("music.example:8080", "song.flac")
        );
        assert_eq!(t.local_path, None, "a path only once the file is complete");
        let t = transfer(&status("complete", json!({}))).unwrap();
        assert_eq!(t.local_path.as_deref(), Some("/srv/dl/song.flac"));
        assert_eq!(
            transfer(&status("paused", json!({}))).unwrap().state,
            TransferState::Paused
        );
        assert_eq!(
            transfer(&status("removed", json!({}))).unwrap().state,
            TransferState::Cancelled
        );
        let odd = transfer(&status("verifying", json!({}))).unwrap();
        assert_eq!(
            (odd.state, odd.state_detail.as_deref()),
            (TransferState::Unknown, Some("verifying"))
        );
    }

    #[test]
    fn errors_carry_aria2_s_reason_and_message() {
        let t = transfer(&status(
            "error",
            json!({"errorCode": "3", "errorMessage": "Resource not found"}),
        ))
        .unwrap();
        let failure = t.failure.unwrap();
        assert_eq!(failure.reason, FailureReason::NotFound);
        assert_eq!(failure.message, "Resource not found");
        assert_eq!(reason(9), FailureReason::NoSpace);
    }

    #[test]
    fn an_unknown_size_and_a_nameless_file_are_tolerated() {
        let mut s = status("waiting", json!({"totalLength": "0"}));
        s["files"][0]["path"] = json!("");
        let t = transfer(&s).unwrap();
        assert_eq!((t.size, t.filename.as_str()), (None, "song.flac"));
        assert!(transfer(&json!({"status": "active"})).is_none(), "no gid");
    }
}
