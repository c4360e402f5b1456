//! slskd's JSON, as `reference/slskd-api.md` describes it: camelCase, null keys omitted, flags as
//! comma-joined names. Every optional field defaults, so an older or newer slskd still parses.

use serde::Deserialize;

/// One transfer (`Transfer` in slskd).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SlskdTransfer {
    pub id: String,
    pub username: String,
    pub filename: String,
    #[serde(default)]
    pub size: i64,
    pub state: String,
    #[serde(default)]
    pub requested_at: Option<String>,
    #[serde(default)]
    pub ended_at: Option<String>,
    #[serde(default)]
    pub bytes_transferred: i64,
    /// Negative values have been seen; they are clamped, not trusted.
    #[serde(default)]
    pub bytes_remaining: Option<i64>,
    #[serde(default)]
    pub average_speed: f64,
    #[serde(default)]
    pub place_in_queue: Option<i64>,
    #[serde(default)]
    pub exception: Option<String>,
    /// 0.25+.
    #[serde(default)]
    pub attempts: Option<u32>,
    /// Serialised from 0.26 only.
    #[serde(default)]
    pub removed: bool,
    // `elapsedTime`/`remainingTime` (TimeSpan strings) and `percentComplete` are derived
    // by slskd from the fields above; they are not read, so no format of theirs can break us.
}

/// `GET /transfers/downloads`: users → directories → files. Files stay raw JSON so that one bad
/// record can be skipped without losing the others.
#[derive(Debug, Deserialize)]
pub struct UserTransfers {
    #[serde(default)]
    pub directories: Vec<DirectoryTransfers>,
}

#[derive(Debug, Deserialize)]
pub struct DirectoryTransfers {
    #[serde(default)]
    pub files: Vec<serde_json::Value>,
}

/// The 0.24+ enqueue answer. `failed` changed shape across versions (strings, then `{}`), so it
/// is only counted.
#[derive(Debug, Deserialize)]
pub struct EnqueueResult {
    #[serde(default)]
    pub enqueued: Vec<serde_json::Value>,
    #[serde(default)]
    pub failed: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Search {
    pub id: String,
    #[serde(default)]
    pub is_complete: bool,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub started_at: Option<String>,
    #[serde(default)]
    pub response_count: u64,
    #[serde(default)]
    pub ended_at: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchResponse {
    pub username: String,
    #[serde(default)]
    pub files: Vec<serde_json::Value>,
    #[serde(default)]
    pub has_free_upload_slot: bool,
    #[serde(default)]
    pub queue_length: i64,
    #[serde(default)]
    pub upload_speed: i64,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchFile {
    pub filename: String,
    #[serde(default)]
    pub size: i64,
    #[serde(default)]
    pub extension: String,
    #[serde(default)]
    pub bit_rate: Option<u32>,
    #[serde(default)]
    pub bit_depth: Option<u32>,
    #[serde(default)]
    pub sample_rate: Option<u32>,
    #[serde(default)]
    pub length: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerState {
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub is_logged_in: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_transfer_parses_with_missing_keys() {
        let t: SlskdTransfer = serde_json::from_str(
            r#"{"id":"a3c1d2e4-1111-4c2b-9d1e-6f7a8b9c0d11","username":"vinylhoarder","direction":"Download",
            "filename":"@@kzvbq\\Music\\x.flac","size":35651584,"state":"Queued, Locally",
            "requestedAt":"2026-08-22T18:04:11.5140021","bytesTransferred":0,"averageSpeed":0,"attempts":0,
            "removed":false,"bytesRemaining":35651584,"percentComplete":0}"#,
        )
        .unwrap();
        assert_eq!(t.state, "Queued, Locally");
        assert_eq!(t.ended_at, None);
        assert_eq!(t.attempts, Some(0));
    }

    #[test]
    fn an_old_transfer_without_attempts_or_removed_parses() {
        let t: SlskdTransfer = serde_json::from_str(
            r#"{"id":"x","username":"u","filename":"f","size":1,"startOffset":0,"state":"InProgress",
            "stateDescription":"InProgress","requestedAt":"2026-08-22T18:04:11Z","bytesTransferred":5,
            "averageSpeed":10.5,"bytesRemaining":-4}"#,
        )
        .unwrap();
        assert_eq!(t.attempts, None);
        assert!(!t.removed);
        assert_eq!(t.bytes_remaining, Some(-4));
    }
}
