//! qBittorrent's torrents (`torrents/info`) as neutral transfers.

use serde_json::Value;
use tributary_plugin_sdk::{FailureReason, Transfer, TransferFailure, TransferState};

/// The wanted file of a multi-file torrent.
pub struct WantedFile {
    /// Its path inside the torrent.
    pub name: String,
    pub size: u64,
    /// 0 to 1.
    pub progress: f64,
}

/// What a state of qBittorrent's means. `stalledDL` is a torrent with no peer sending: it stays
/// in progress, and the host's stall detection sees that no bytes arrive.
fn state_of(state: &str) -> (TransferState, Option<FailureReason>) {
    match state {
        "downloading" | "forcedDL" | "stalledDL" => (TransferState::InProgress, None),
        "metaDL" | "forcedMetaDL" | "checkingDL" | "allocating" | "checkingResumeData"
        | "moving" => (TransferState::Initializing, None),
        "queuedDL" => (TransferState::QueuedLocally, None),
        "pausedDL" | "stoppedDL" => (TransferState::Paused, None),
        "uploading" | "stalledUP" | "queuedUP" | "forcedUP" | "pausedUP" | "stoppedUP"
        | "checkingUP" => (TransferState::Succeeded, None),
        "error" => (TransferState::Failed, Some(FailureReason::Errored)),
        "missingFiles" => (TransferState::Failed, Some(FailureReason::NotFound)),
        _ => (TransferState::Unknown, None),
    }
}

/// The transfer a torrent is, under the external id `tag`.
pub fn transfer(t: &Value, tag: &str, wanted: Option<&WantedFile>) -> Option<Transfer> {
    let status = t["state"].as_str()?;
    let (mut state, reason) = state_of(status);
    let save_path = t["save_path"].as_str().unwrap_or_default();
    let (name, size, done, path) = match wanted {
        Some(f) => (
            f.name.rsplit('/').next().unwrap_or(&f.name),
            f.size,
            (f.progress * f.size as f64) as u64,
            format!("{}/{}", save_path.trim_end_matches('/'), f.name),
        ),
        None => (
            t["name"].as_str().unwrap_or_default(),
            t["size"].as_u64().unwrap_or(0),
            t["completed"].as_u64().unwrap_or(0),
            t["content_path"].as_str().unwrap_or_default().to_owned(),
        ),
    };
    // The wanted file can be whole while the torrent still fetches others (or the reverse,
    // for a torrent seeding a file we never chose): the file decides.
    let whole = wanted.map_or(t["progress"].as_f64() == Some(1.0), |f| f.progress >= 1.0);
    if state == TransferState::Succeeded && !whole {
        state = TransferState::InProgress;
    } else if whole && matches!(state, TransferState::InProgress | TransferState::Paused) {
        state = TransferState::Succeeded;
    }
    let tracker = t["tracker"].as_str().unwrap_or_default();
    Some(Transfer {
        external_id: tag.to_owned(),
        // A torrent's peers are a swarm: the tracker it announces to stands for them.
        peer: tracker
            .split('/')
            .nth(2)
            .filter(|h| !h.is_empty())
            .unwrap_or("swarm")
            .to_owned(),
        filename: name.to_owned(),
        size: (size > 0).then_some(size),
        bytes_transferred: done,
        speed_bytes_per_sec: t["dlspeed"].as_f64().unwrap_or(0.0),
        queue_position: None,
        state,
        failure: reason.map(|reason| TransferFailure {
            reason,
            message: format!("qBittorrent: the torrent is in state {status}"),
            provider_may_retry: false,
        }),
        state_detail: Some(status.to_owned()),
        requested_at_ms: t["added_on"].as_u64().map(|s| s * 1000),
        local_path: (state == TransferState::Succeeded && !path.is_empty()).then_some(path),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn torrent(state: &str, progress: f64) -> Value {
        json!({"hash": "7d08", "name": "Album", "state": state, "progress": progress,
            "size": 8_000_000u64, "completed": (progress * 8e6) as u64, "dlspeed": 1024,
            "save_path": "/srv/torrents/", "content_path": "/srv/torrents/Album",
            "tracker": "http://tracker.example:6969/announce", "added_on": 1_700_000_000u64})
    }

    #[test]
    fn every_state_maps() {
        let cases = [
            ("downloading", TransferState::InProgress),
            ("stalledDL", TransferState::InProgress),
            ("metaDL", TransferState::Initializing),
            ("checkingDL", TransferState::Initializing),
            ("queuedDL", TransferState::QueuedLocally),
            ("pausedDL", TransferState::Paused),
            ("stoppedDL", TransferState::Paused),
            ("error", TransferState::Failed),
            ("missingFiles", TransferState::Failed),
            ("somethingNew", TransferState::Unknown),
        ];
        for (state, expected) in cases {
            let t = transfer(&torrent(state, 0.5), "tributary-1", None).unwrap();
            assert_eq!(t.state, expected, "{state}");
            assert_eq!(t.state_detail.as_deref(), Some(state));
        }
        for state in [
            "uploading",
            "stalledUP",
            "pausedUP",
            "stoppedUP",
            "queuedUP",
        ] {
            let t = transfer(&torrent(state, 1.0), "tributary-1", None).unwrap();
            assert_eq!(t.state, TransferState::Succeeded, "{state}");
            assert_eq!(t.local_path.as_deref(), Some("/srv/torrents/Album"));
        }
        let failed = transfer(&torrent("missingFiles", 0.5), "t", None).unwrap();
        assert_eq!(failed.failure.unwrap().reason, FailureReason::NotFound);
    }

    #[test]
    fn the_wanted_file_decides_progress_completion_and_path() {
        let file = WantedFile {
            name: "Album/02 - Two.flac".into(),
            size: 3_000_000,
            progress: 0.5,
        };
        let t = transfer(&torrent("downloading", 0.2), "tributary-1", Some(&file)).unwrap();
        assert_eq!(
            (t.size, t.bytes_transferred, t.filename.as_str()),
            (Some(3_000_000), 1_500_000, "02 - Two.flac")
        );
        assert_eq!(
            (t.peer.as_str(), t.local_path),
            ("tracker.example:6969", None)
        );
        assert_eq!(t.requested_at_ms, Some(1_700_000_000_000));
        let whole = WantedFile {
            progress: 1.0,
            ..file
        };
        let t = transfer(&torrent("downloading", 0.6), "tributary-1", Some(&whole)).unwrap();
        assert_eq!(t.state, TransferState::Succeeded);
        assert_eq!(
            t.local_path.as_deref(),
            Some("/srv/torrents/Album/02 - Two.flac")
        );
        let partial = WantedFile {
            progress: 0.9,
            ..whole
        };
        let t = transfer(&torrent("stalledUP", 1.0), "t", Some(&partial)).unwrap();
        assert_eq!(t.state, TransferState::InProgress);
    }
}
