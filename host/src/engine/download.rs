//! The download record: one track we want, and everything the engine knows about getting it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::provider::{Candidate, Source};

/// Where a download stands. Lower-case in JSON, as the API's `status` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// In our queue, not sent to a provider yet.
    Waiting,
    /// Being searched for, or sent to the provider and not yet acknowledged by the peer.
    Pending,
    /// In the provider's or the peer's queue.
    Queued,
    Downloading,
    /// Held out of dispatch by the user.
    Paused,
    /// Downloading without progress, or queued remotely for too long.
    Stalled,
    Completed,
    Failed,
    Cancelled,
}

impl Status {
    pub const ALL: [Status; 9] = [
        Status::Waiting,
        Status::Pending,
        Status::Queued,
        Status::Downloading,
        Status::Paused,
        Status::Stalled,
        Status::Completed,
        Status::Failed,
        Status::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Waiting => "waiting",
            Status::Pending => "pending",
            Status::Queued => "queued",
            Status::Downloading => "downloading",
            Status::Paused => "paused",
            Status::Stalled => "stalled",
            Status::Completed => "completed",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// A stable small number, for index keys.
    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: u8) -> Option<Status> {
        Status::ALL.get(usize::from(code)).copied()
    }

    /// Finished: only a user's retry moves it again.
    pub fn is_terminal(self) -> bool {
        matches!(self, Status::Completed | Status::Failed | Status::Cancelled)
    }

    /// At the provider (or being handed to it): counts against the provider's concurrency.
    pub fn occupies_provider(self) -> bool {
        matches!(
            self,
            Status::Pending | Status::Queued | Status::Downloading | Status::Stalled
        )
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a download failed; decides what the retry policy does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureCause {
    /// No candidate was found.
    NotFound,
    Rejected,
    TimedOut,
    Errored,
    PeerOffline,
    SizeMismatch,
    /// No byte progress (or an endless remote queue) past the grace period.
    Stalled,
    /// The transfer disappeared from the provider.
    Vanished,
    /// Cancelled at the provider, not by us.
    CancelledRemotely,
    /// The provider could not take the request (a call error that is not about the peer).
    ProviderError,
    /// The finished file does not decode: zero-filled, garbled, or not audio.
    Corrupt,
    /// The finished file is shorter than announced, or its audio stops early.
    Truncated,
    /// The finished file plays for another length than the track's.
    WrongDuration,
    /// The provider said the file was finished, and there is no file where it said.
    FileMissing,
}

impl FailureCause {
    /// The peer's file was not the file it offered: broken, short, of another length or
    /// another size.
    pub fn is_bad_file(self) -> bool {
        matches!(
            self,
            FailureCause::Corrupt
                | FailureCause::Truncated
                | FailureCause::WrongDuration
                | FailureCause::SizeMismatch
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FailureCause::NotFound => "not_found",
            FailureCause::Rejected => "rejected",
            FailureCause::TimedOut => "timed_out",
            FailureCause::Errored => "errored",
            FailureCause::PeerOffline => "peer_offline",
            FailureCause::SizeMismatch => "size_mismatch",
            FailureCause::Stalled => "stalled",
            FailureCause::Vanished => "vanished",
            FailureCause::CancelledRemotely => "cancelled_remotely",
            FailureCause::ProviderError => "provider_error",
            FailureCause::Corrupt => "corrupt",
            FailureCause::Truncated => "truncated",
            FailureCause::WrongDuration => "wrong_duration",
            FailureCause::FileMissing => "file_missing",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackInfo {
    pub title: String,
    pub artist: String,
    pub album: Option<String>,
}

/// The file chosen for a download.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChosenSource {
    /// Who sends it: the peer, or the host a URI points at.
    pub peer: String,
    /// The peer's full name for the file, or the name shown for a URI source.
    pub filename: String,
    /// Bytes; 0 when not known yet.
    pub size: u64,
    pub format: Option<String>,
    pub bitrate_kbps: Option<u32>,
    /// For a source named by a URI: the URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    /// For a URI naming several files: the one wanted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

impl ChosenSource {
    /// What to hand the provider.
    pub fn to_source(&self) -> Source {
        match &self.uri {
            Some(uri) => Source::Uri {
                uri: uri.clone(),
                file: self.file.clone(),
                size: (self.size > 0).then_some(self.size),
            },
            None => Source::PeerFile {
                peer: self.peer.clone(),
                filename: self.filename.clone(),
                size: self.size,
            },
        }
    }

    /// A candidate's source, as it will be recorded.
    pub fn from_candidate(c: &Candidate) -> ChosenSource {
        let (uri, file) = match &c.source {
            Source::Uri { uri, file, .. } => (Some(uri.clone()), file.clone()),
            Source::PeerFile { .. } => (None, None),
        };
        ChosenSource {
            peer: c.peer.clone(),
            filename: match &c.source {
                Source::PeerFile { filename, .. } => filename.clone(),
                Source::Uri { .. } => c.name.clone(),
            },
            size: c.size.or(c.source.size()).unwrap_or(0),
            format: (!c.extension.is_empty()).then(|| c.extension.clone()),
            bitrate_kbps: c.bitrate_kbps,
            uri,
            file,
        }
    }

    /// The name that identifies it among a download's tried sources.
    pub fn key(&self) -> &str {
        self.uri.as_deref().unwrap_or(&self.filename)
    }
}

/// What the host proved of a finished file, and where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VerifiedFile {
    /// Lower-case hex.
    pub sha256: String,
    pub bytes: u64,
    /// The codec that decoded it; `None` for a file that is not audio (only its bytes were
    /// checked).
    pub codec: Option<String>,
    pub duration_secs: Option<f64>,
    /// The file carries a checksum of its audio (FLAC's MD5) and it matched.
    pub checksum_matched: bool,
    pub verified_at: DateTime<Utc>,
    pub provenance: Provenance,
}

/// Who delivered a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// The provider's plugin id.
    pub provider_id: String,
    pub peer: String,
    /// The file's name at the peer (or the URI's file).
    pub remote_name: String,
}

/// A source that failed; never picked again for this download.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TriedSource {
    pub peer: String,
    pub filename: String,
}

/// One failed attempt, kept for the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub source: Option<TriedSource>,
    pub cause: FailureCause,
    pub message: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Download {
    pub id: Uuid,
    pub track_id: String,
    pub track: TrackInfo,
    /// The plugin id of the provider (`slskd`).
    pub provider_id: String,
    /// The provider's kind (`soulseek`), the API's `provider`.
    pub provider_kind: String,
    /// The provider's display name (`slskd`), the API's `provider_name`.
    pub provider_name: String,
    /// The provider's transfer id, while a transfer exists.
    pub external_id: Option<String>,
    pub source: Option<ChosenSource>,
    /// The client asked for exactly this source: no search.
    pub source_fixed: bool,
    pub status: Status,
    pub status_message: Option<String>,
    pub error_message: Option<String>,
    pub failure_cause: Option<FailureCause>,
    pub bytes_downloaded: u64,
    pub total_bytes: u64,
    pub speed_bytes_per_sec: f64,
    /// Higher goes first.
    pub priority: i32,
    /// Timestamps go through chrono's serde: RFC 3339 in UTC with `Z`, and it reads the records
    /// the `time` crate stored.
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
    /// When the status last changed (stall and queue timeouts count from here).
    pub status_since: DateTime<Utc>,
    pub retry_count: u32,
    pub max_retries: u32,
    pub next_retry_at: Option<DateTime<Utc>>,
    pub tried_sources: Vec<TriedSource>,
    pub attempts: Vec<Attempt>,
    /// When the provider created the transfer we follow, by the provider's clock: a transfer
    /// of the same file created earlier is never taken for ours.
    #[serde(default)]
    pub transfer_requested_at: Option<DateTime<Utc>>,
    /// The transfer's place in the peer's upload queue, when known.
    #[serde(default)]
    pub queue_position: Option<u32>,
    /// The track's length, when the client gave it.
    #[serde(default)]
    pub duration_secs: Option<u32>,
    /// Where the finished file is, as the provider reports it.
    #[serde(default)]
    pub local_path: Option<String>,
    /// The client named the provider: the download stays with it. Otherwise every provider
    /// that can search is asked, and the download goes where the best source is.
    #[serde(default)]
    pub provider_pinned: bool,
    /// The proof that the finished file plays (set when it is completed).
    #[serde(default)]
    pub verified: Option<VerifiedFile>,
    /// Where the file was imported into the library.
    #[serde(default)]
    pub library_path: Option<String>,
}

impl Download {
    /// Adds a failed attempt, keeping the newest `keep`: the history is a summary, not a log,
    /// so a download retried for months does not grow without bound.
    pub fn record_attempt(&mut self, attempt: Attempt, keep: usize) {
        self.attempts.push(attempt);
        let excess = self.attempts.len().saturating_sub(keep);
        self.attempts.drain(..excess);
    }

    /// A new download waiting in the queue: nothing chosen, nothing tried, no provider yet
    /// (the caller names it). Every other field starts empty.
    pub fn waiting(id: Uuid, track_id: String, track: TrackInfo, now: DateTime<Utc>) -> Download {
        Download {
            id,
            track_id,
            track,
            provider_id: String::new(),
            provider_kind: String::new(),
            provider_name: String::new(),
            external_id: None,
            source: None,
            source_fixed: false,
            status: Status::Waiting,
            status_message: None,
            error_message: None,
            failure_cause: None,
            bytes_downloaded: 0,
            total_bytes: 0,
            speed_bytes_per_sec: 0.0,
            priority: 0,
            created_at: now,
            started_at: None,
            completed_at: None,
            updated_at: now,
            status_since: now,
            retry_count: 0,
            max_retries: 0,
            next_retry_at: None,
            tried_sources: Vec::new(),
            attempts: Vec::new(),
            transfer_requested_at: None,
            queue_position: None,
            duration_secs: None,
            local_path: None,
            provider_pinned: false,
            verified: None,
            library_path: None,
        }
    }

    /// Whether the next dispatch may search every provider, not only this download's own:
    /// the client named neither the provider nor the source, and no source is waiting to be
    /// sent.
    pub fn roams(&self) -> bool {
        !self.provider_pinned
            && !self.source_fixed
            && self
                .source
                .as_ref()
                .is_none_or(|s| self.has_tried(&s.peer, s.key()))
    }

    /// The moment that decides "completed/failed today": when it reached its terminal state.
    pub fn terminal_at(&self) -> Option<DateTime<Utc>> {
        match self.status {
            Status::Completed | Status::Failed | Status::Cancelled => {
                Some(self.completed_at.unwrap_or(self.status_since))
            }
            _ => None,
        }
    }

    pub fn has_tried(&self, peer: &str, filename: &str) -> bool {
        self.tried_sources
            .iter()
            .any(|t| t.peer == peer && t.filename == filename)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_keep_only_the_newest() {
        let mut d = Download::waiting(
            Uuid::nil(),
            "t".into(),
            TrackInfo {
                title: "T".into(),
                artist: "A".into(),
                album: None,
            },
            DateTime::UNIX_EPOCH,
        );
        for n in 0..25 {
            d.record_attempt(
                Attempt {
                    source: None,
                    cause: FailureCause::Errored,
                    message: format!("failure {n}"),
                    at: DateTime::UNIX_EPOCH,
                },
                20,
            );
        }
        assert_eq!(d.attempts.len(), 20);
        assert_eq!(d.attempts[0].message, "failure 5");
        assert_eq!(d.attempts[19].message, "failure 24");
    }

    #[test]
    fn statuses_round_trip_through_text_and_codes() {
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
            assert_eq!(Status::from_code(s.code()), Some(s));
        }
        assert_eq!(Status::parse("WAITING"), None);
        assert_eq!(
            serde_json::to_string(&Status::Downloading).unwrap(),
            "\"downloading\""
        );
    }

    /// Records stored before chrono (by the `time` crate's RFC 3339 serde) still read, and
    /// timestamps are written back in UTC with `Z`.
    #[test]
    fn stored_timestamps_read_back_and_write_with_z() {
        let track = TrackInfo {
            title: "Song".into(),
            artist: "Artist".into(),
            album: None,
        };
        let mut old = serde_json::to_value(Download::waiting(
            Uuid::nil(),
            "t".into(),
            track,
            DateTime::UNIX_EPOCH,
        ))
        .unwrap();
        // As `time` wrote them: trailing zeros trimmed, none at all on whole seconds.
        old["created_at"] = "2026-11-29T17:17:43.1234567Z".into();
        old["started_at"] = "2026-11-29T17:17:44Z".into();
        old["updated_at"] = "2026-11-29T17:17:45.5Z".into();
        old["attempts"] = serde_json::json!([{
            "source": null,
            "cause": "not_found",
            "message": "x",
            "at": "2026-11-29T17:17:46.123456789Z",
        }]);
        // Written before the field existed.
        old.as_object_mut().unwrap().remove("transfer_requested_at");
        let d: Download = serde_json::from_value(old).unwrap();
        assert_eq!(
            d.created_at,
            DateTime::parse_from_rfc3339("2026-11-29T17:17:43.1234567Z").unwrap()
        );
        assert_eq!(d.started_at.unwrap().timestamp(), 1_795_972_664);
        assert_eq!(d.completed_at, None);
        assert_eq!(d.transfer_requested_at, None);
        assert_eq!(d.attempts[0].at.timestamp_subsec_nanos(), 123_456_789);

        let new = serde_json::to_value(&d).unwrap();
        assert_eq!(new["created_at"], "2026-11-29T17:17:43.123456700Z");
        assert_eq!(new["started_at"], "2026-11-29T17:17:44Z");
        assert_eq!(new["updated_at"], "2026-11-29T17:17:45.500Z");
        assert_eq!(new["completed_at"], serde_json::Value::Null);
        assert_eq!(serde_json::from_value::<Download>(new).unwrap(), d);
    }
}
