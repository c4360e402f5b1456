//! What the API answers, field for field as `spec/download-manager-api.md` names them.

use chrono::{DateTime, SecondsFormat, Utc};
use salvo::oapi::ToSchema;
use serde::{Deserialize, Serialize};

use super::format;
use crate::engine::download::{Download, Status, VerifiedFile};
use crate::engine::manager::{PeerReport, ProviderHealth, QueueStats};
use crate::engine::reputation::Standing;

/// RFC 3339 in UTC with `Z`, whole seconds.
pub fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TrackInfoDto {
    pub title: String,
    pub artist: String,
    pub album: Option<String>,
    /// "Artist - Title".
    pub display_name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProgressDto {
    /// 0 to 100.
    pub percent: f64,
    pub bytes_downloaded: u64,
    pub total_bytes: u64,
    pub speed_bytes_per_sec: f64,
    /// None while the speed or the size is unknown.
    pub eta_seconds: Option<u64>,
    pub speed_formatted: String,
    pub eta_formatted: String,
    pub size_formatted: String,
}

/// One download, whichever provider it is with.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UnifiedDownload {
    pub id: String,
    pub track_id: String,
    pub track_info: TrackInfoDto,
    /// The provider's kind, e.g. "soulseek".
    pub provider: String,
    /// The provider's display name, e.g. "slskd".
    pub provider_name: String,
    pub external_id: Option<String>,
    /// waiting, pending, queued, downloading, paused, stalled, completed, failed or cancelled.
    pub status: String,
    pub status_message: Option<String>,
    pub error_message: Option<String>,
    pub progress: ProgressDto,
    pub created_at: String,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
    pub priority: i32,
    pub retry_count: u32,
    pub max_retries: u32,
    /// Failed attempts kept on the record (the newest; older ones are dropped).
    pub attempts: usize,
    pub failure_cause: Option<String>,
    /// The place in the peer's upload queue, while queued there and known.
    pub queue_position: Option<u32>,
    /// The plugin id of the provider, e.g. "slskd" (`provider` is its kind).
    pub provider_id: String,
    /// Where the finished file is, when the provider says.
    pub local_path: Option<String>,
    /// What the host proved of the finished file, and who delivered it.
    pub verified: Option<VerifiedDto>,
    /// Where the file was imported into the library.
    pub library_path: Option<String>,
    pub is_active: bool,
    pub can_cancel: bool,
}

impl From<&Download> for UnifiedDownload {
    fn from(d: &Download) -> Self {
        let total = d.total_bytes;
        let done = if total > 0 {
            d.bytes_downloaded.min(total)
        } else {
            d.bytes_downloaded
        };
        let percent = if d.status == Status::Completed {
            100.0
        } else if total > 0 {
            ((done as f64 / total as f64) * 1000.0).round() / 10.0
        } else {
            0.0
        };
        let speed = if d.status == Status::Downloading && d.speed_bytes_per_sec.is_finite() {
            d.speed_bytes_per_sec.max(0.0)
        } else {
            0.0
        };
        let eta_seconds =
            (speed > 0.0 && total > done).then(|| ((total - done) as f64 / speed).ceil() as u64);
        UnifiedDownload {
            id: d.id.to_string(),
            track_id: d.track_id.clone(),
            track_info: TrackInfoDto {
                title: d.track.title.clone(),
                artist: d.track.artist.clone(),
                album: d.track.album.clone(),
                display_name: format!("{} - {}", d.track.artist, d.track.title),
            },
            provider: d.provider_kind.clone(),
            provider_name: d.provider_name.clone(),
            external_id: d.external_id.clone(),
            status: d.status.as_str().to_owned(),
            status_message: d.status_message.clone(),
            error_message: d.error_message.clone(),
            progress: ProgressDto {
                percent,
                bytes_downloaded: done,
                total_bytes: total,
                speed_bytes_per_sec: speed,
                eta_seconds,
                speed_formatted: format::speed(speed),
                eta_formatted: format::eta(eta_seconds),
                size_formatted: format::bytes(if total > 0 { total } else { done }),
            },
            created_at: timestamp(d.created_at),
            started_at: d.started_at.map(timestamp),
            completed_at: d.completed_at.map(timestamp),
            priority: d.priority,
            retry_count: d.retry_count,
            max_retries: d.max_retries,
            attempts: d.attempts.len(),
            failure_cause: d.failure_cause.map(|c| c.as_str().to_owned()),
            queue_position: d.queue_position.filter(|_| d.status == Status::Queued),
            provider_id: d.provider_id.clone(),
            local_path: d.local_path.clone(),
            verified: d.verified.as_ref().map(VerifiedDto::from),
            library_path: d.library_path.clone(),
            is_active: !d.status.is_terminal(),
            can_cancel: !d.status.is_terminal(),
        }
    }
}

/// `GET /api/providers/{id}/peers`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PeersResponse {
    pub provider_id: String,
    /// Counts halve over this many days.
    pub half_life_days: u64,
    pub peers: Vec<PeerDto>,
}

/// One peer's reputation; counts are decayed to now (so they need not be whole numbers).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PeerDto {
    pub peer: String,
    /// good, unreliable (fails more than it delivers) or bad_files (sent files that failed
    /// verification); the ranking puts a peer in a worse standing after its equals.
    pub standing: String,
    pub finished: f64,
    /// Failed attempts by cause (stalls and rejected files included).
    pub failed: std::collections::BTreeMap<String, f64>,
    pub stalled: f64,
    /// Files that failed verification (corrupt, truncated, wrong duration, wrong size).
    pub bad_files: f64,
    pub first_byte_ms: Option<f64>,
    pub bytes_per_sec: Option<f64>,
    pub updated_at: Option<String>,
}

impl From<&PeerReport> for PeerDto {
    fn from(p: &PeerReport) -> Self {
        let r = &p.record;
        let round = |v: f64| (v * 1000.0).round() / 1000.0;
        PeerDto {
            peer: p.peer.clone(),
            standing: match p.standing {
                Standing::Good => "good",
                Standing::Unreliable => "unreliable",
                Standing::BadFiles => "bad_files",
            }
            .to_owned(),
            finished: round(r.finished),
            failed: r
                .failed
                .iter()
                .map(|(k, v)| (k.clone(), round(*v)))
                .collect(),
            stalled: round(r.stalled),
            bad_files: round(r.bad_files),
            first_byte_ms: r.first_byte_ms.map(f64::round),
            bytes_per_sec: r.bytes_per_sec.map(f64::round),
            updated_at: r.updated_at.map(timestamp),
        }
    }
}

/// A verified file: its checksum, what decoded, and its provenance.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VerifiedDto {
    pub sha256: String,
    pub bytes: u64,
    /// The codec that decoded it; absent for a file that is not audio.
    pub codec: Option<String>,
    pub duration_secs: Option<f64>,
    /// The file's own audio checksum (FLAC's MD5) was present and matched.
    pub checksum_matched: bool,
    pub verified_at: String,
    /// The provider's plugin id.
    pub provider_id: String,
    pub peer: String,
    pub remote_name: String,
}

impl From<&VerifiedFile> for VerifiedDto {
    fn from(v: &VerifiedFile) -> Self {
        VerifiedDto {
            sha256: v.sha256.clone(),
            bytes: v.bytes,
            codec: v.codec.clone(),
            duration_secs: v.duration_secs.map(|s| (s * 1000.0).round() / 1000.0),
            checksum_matched: v.checksum_matched,
            verified_at: timestamp(v.verified_at),
            provider_id: v.provenance.provider_id.clone(),
            peer: v.provenance.peer.clone(),
            remote_name: v.provenance.remote_name.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct QueueStatsDto {
    pub waiting: u64,
    pub pending: u64,
    pub queued: u64,
    pub downloading: u64,
    pub paused: u64,
    pub stalled: u64,
    /// Completed in the last 24 hours.
    pub completed_today: u64,
    /// Failed in the last 24 hours.
    pub failed_today: u64,
    /// Every download not yet completed, failed or cancelled.
    pub total_active: u64,
    /// pending + queued + downloading.
    pub total_in_progress: u64,
    /// e.g. "13 active · 2 downloading".
    pub summary_text: String,
}

impl From<QueueStats> for QueueStatsDto {
    fn from(s: QueueStats) -> Self {
        QueueStatsDto {
            waiting: s.waiting,
            pending: s.pending,
            queued: s.queued,
            downloading: s.downloading,
            paused: s.paused,
            stalled: s.stalled,
            completed_today: s.completed_today,
            failed_today: s.failed_today,
            total_active: s.total_active,
            total_in_progress: s.total_in_progress,
            summary_text: format!("{} active · {} downloading", s.total_active, s.downloading),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ActiveDownloadsResponse {
    pub downloads: Vec<UnifiedDownload>,
    pub stats: QueueStatsDto,
    pub providers_available: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProviderHealthDto {
    pub provider: String,
    pub provider_name: String,
    /// The plugin id, for `providers/{id}/reconnect`.
    pub provider_id: String,
    pub is_healthy: bool,
    /// closed, open or half_open.
    pub circuit_state: Option<String>,
    pub consecutive_failures: u32,
    pub last_successful_sync: Option<String>,
    pub seconds_since_last_sync: Option<u64>,
    pub seconds_until_recovery_attempt: Option<u64>,
    pub error_message: Option<String>,
    pub has_successful_connection: bool,
    /// A plugin serves this provider now.
    pub loaded: bool,
}

impl ProviderHealthDto {
    pub fn new(h: &ProviderHealth, now: DateTime<Utc>) -> Self {
        let since = h
            .last_success
            .map(|t| u64::try_from((now - t).num_seconds()).unwrap_or(0));
        ProviderHealthDto {
            provider: h.kind.clone(),
            provider_name: h.display_name.clone(),
            provider_id: h.id.clone(),
            is_healthy: h.loaded
                && h.config_problem.is_none()
                && h.circuit_state == crate::engine::breaker::CircuitState::Closed
                && h.consecutive_failures == 0,
            circuit_state: Some(h.circuit_state.as_str().to_owned()),
            consecutive_failures: h.consecutive_failures,
            last_successful_sync: h.last_success.map(timestamp),
            seconds_since_last_sync: since,
            seconds_until_recovery_attempt: h.until_trial.map(|d| d.as_secs_f64().ceil() as u64),
            // What the operator can act on first: our own configuration, a missing plugin,
            // then the provider's last error.
            error_message: h
                .config_problem
                .clone()
                .or_else(|| (!h.loaded).then(|| "the plugin is not loaded".to_owned()))
                .or_else(|| h.last_error.clone()),
            has_successful_connection: h.last_success.is_some(),
            loaded: h.loaded,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProvidersHealthResponse {
    pub providers: Vec<ProviderHealthDto>,
    /// True when every provider is healthy.
    pub overall_healthy: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RetryAllResponse {
    pub retried: usize,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeletedResponse {
    pub deleted: usize,
    pub message: String,
}

/// Every error answer: what was wrong, and details when there are any.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: String,
    pub detail: Option<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_utc_with_z() {
        let t = DateTime::parse_from_rfc3339("2025-12-15T10:00:00.123+02:00").unwrap();
        assert_eq!(timestamp(t.to_utc()), "2025-12-15T08:00:00Z");
    }

    #[test]
    fn summary_text_matches_the_spec_example() {
        let s = QueueStats {
            waiting: 5,
            pending: 3,
            queued: 2,
            downloading: 2,
            paused: 0,
            stalled: 1,
            completed_today: 15,
            failed_today: 2,
            total_active: 13,
            total_in_progress: 7,
        };
        assert_eq!(
            QueueStatsDto::from(s).summary_text,
            "13 active · 2 downloading"
        );
    }
}
