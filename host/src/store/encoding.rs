//! How a download is laid out in the DOWNLOADS table.
//!
//! A record is one format byte, then the body. Format 1 is [postcard] (a compact, specified,
//! non-self-describing serde format: varints, no field names) of [`RecordV1`]; format 2 is
//! format 1's fields followed by [`AddedV2`] (postcard lays a nested struct out in place, so a
//! later format extends the one before instead of repeating it); format 3 is format 2 followed
//! by [`AddedV3`]. Each is a struct kept
//! here for the store alone. It is not `Download` itself because `Download` carries serde
//! attributes meant for JSON (`skip_serializing_if`, `default`) that a positional format cannot
//! honour, and because a stored layout must not change when the engine's struct does: a new
//! layout is a new format byte and a new struct, and the old one stays readable.
//!
//! Databases of schema 1 hold JSON objects; a record whose first byte is `{` is read as one,
//! so a migration that stopped half-way leaves a database that still reads (see `migrate`).
//!
//! [postcard]: https://postcard.jamesmunns.com/wire-format

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::engine::download::{
    Attempt, ChosenSource, Download, FailureCause, Provenance, Status, TrackInfo, TriedSource,
    VerifiedFile,
};

/// The format byte of [`RecordV1`].
const FORMAT_V1: u8 = 1;
/// The format byte of [`RecordV2`].
const FORMAT_V2: u8 = 2;
/// The format byte of [`RecordV3`], the one written.
const FORMAT_V3: u8 = 3;
/// The first byte of a schema-1 (JSON) record.
const JSON_OPEN: u8 = b'{';

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("empty record")]
    Empty,
    #[error("unknown record format {0}")]
    UnknownFormat(u8),
    #[error("{0}")]
    Body(String),
    #[error("unknown status code {0}")]
    Status(u8),
    #[error("unknown failure cause code {0}")]
    Cause(u8),
    #[error("timestamp out of range")]
    Time,
}

/// Whether a stored record is in a binary format (the migration rewrites only JSON: format 1
/// reads as it is, and is written as the newest format at its next change).
pub fn is_current(bytes: &[u8]) -> bool {
    matches!(bytes.first(), Some(&FORMAT_V1 | &FORMAT_V2 | &FORMAT_V3))
}

pub fn encode(d: &Download) -> Result<Vec<u8>, RecordError> {
    let record = RecordV3 {
        base: RecordV2 {
            base: RecordV1::from(d),
            added: AddedV2::from(d),
        },
        added: AddedV3::from(d),
    };
    postcard::to_extend(&record, vec![FORMAT_V3]).map_err(|e| RecordError::Body(e.to_string()))
}

/// Reads a record of any format this build knows; `id` is the table key (format 1 does not
/// repeat it).
pub fn decode(id: Uuid, bytes: &[u8]) -> Result<Download, RecordError> {
    match bytes.first() {
        None => Err(RecordError::Empty),
        Some(&FORMAT_V1) => postcard::from_bytes::<RecordV1>(&bytes[1..])
            .map_err(|e| RecordError::Body(e.to_string()))?
            .into_download(id, AddedV2::default()),
        Some(&FORMAT_V2) => {
            let record = postcard::from_bytes::<RecordV2>(&bytes[1..])
                .map_err(|e| RecordError::Body(e.to_string()))?;
            record.base.into_download(id, record.added)
        }
        Some(&FORMAT_V3) => {
            let record = postcard::from_bytes::<RecordV3>(&bytes[1..])
                .map_err(|e| RecordError::Body(e.to_string()))?;
            let mut d = record.base.base.into_download(id, record.base.added)?;
            record.added.fill(&mut d)?;
            Ok(d)
        }
        Some(&JSON_OPEN) => {
            serde_json::from_slice(bytes).map_err(|e| RecordError::Body(e.to_string()))
        }
        Some(&other) => Err(RecordError::UnknownFormat(other)),
    }
}

/// A point in time as seconds and nanoseconds since the epoch: exact, unlike milliseconds,
/// so a record reads back equal to what was written.
#[derive(Serialize, Deserialize)]
struct Time(i64, u32);

impl From<DateTime<Utc>> for Time {
    fn from(t: DateTime<Utc>) -> Time {
        Time(t.timestamp(), t.timestamp_subsec_nanos())
    }
}

impl Time {
    fn get(&self) -> Result<DateTime<Utc>, RecordError> {
        DateTime::from_timestamp(self.0, self.1).ok_or(RecordError::Time)
    }
}

fn time_opt(t: Option<&Time>) -> Result<Option<DateTime<Utc>>, RecordError> {
    t.map(Time::get).transpose()
}

/// Stable codes: the enum's order may change, the stored numbers may not.
fn cause_code(c: FailureCause) -> u8 {
    match c {
        FailureCause::NotFound => 0,
        FailureCause::Rejected => 1,
        FailureCause::TimedOut => 2,
        FailureCause::Errored => 3,
        FailureCause::PeerOffline => 4,
        FailureCause::SizeMismatch => 5,
        FailureCause::Stalled => 6,
        FailureCause::Vanished => 7,
        FailureCause::CancelledRemotely => 8,
        FailureCause::ProviderError => 9,
        FailureCause::Corrupt => 10,
        FailureCause::Truncated => 11,
        FailureCause::WrongDuration => 12,
        FailureCause::FileMissing => 13,
    }
}

fn cause_from(code: u8) -> Result<FailureCause, RecordError> {
    Ok(match code {
        0 => FailureCause::NotFound,
        1 => FailureCause::Rejected,
        2 => FailureCause::TimedOut,
        3 => FailureCause::Errored,
        4 => FailureCause::PeerOffline,
        5 => FailureCause::SizeMismatch,
        6 => FailureCause::Stalled,
        7 => FailureCause::Vanished,
        8 => FailureCause::CancelledRemotely,
        9 => FailureCause::ProviderError,
        10 => FailureCause::Corrupt,
        11 => FailureCause::Truncated,
        12 => FailureCause::WrongDuration,
        13 => FailureCause::FileMissing,
        other => return Err(RecordError::Cause(other)),
    })
}

#[derive(Serialize, Deserialize)]
struct SourceV1 {
    peer: String,
    filename: String,
    size: u64,
    format: Option<String>,
    bitrate_kbps: Option<u32>,
    uri: Option<String>,
    file: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct AttemptV1 {
    /// (peer, filename)
    source: Option<(String, String)>,
    cause: u8,
    message: String,
    at: Time,
}

/// Format 1. Field order is the layout: never reorder, add or remove fields here; make a
/// `RecordV2` with a new format byte instead.
#[derive(Serialize, Deserialize)]
struct RecordV1 {
    /// `None` when the track id is the download's own id (the default), saving 36 bytes.
    track_id: Option<String>,
    title: String,
    artist: String,
    album: Option<String>,
    provider_id: String,
    provider_kind: String,
    provider_name: String,
    external_id: Option<String>,
    source: Option<SourceV1>,
    source_fixed: bool,
    status: u8,
    status_message: Option<String>,
    error_message: Option<String>,
    failure_cause: Option<u8>,
    bytes_downloaded: u64,
    total_bytes: u64,
    speed_bytes_per_sec: f64,
    priority: i32,
    created_at: Time,
    started_at: Option<Time>,
    completed_at: Option<Time>,
    updated_at: Time,
    status_since: Time,
    retry_count: u32,
    max_retries: u32,
    next_retry_at: Option<Time>,
    /// (peer, filename)
    tried_sources: Vec<(String, String)>,
    attempts: Vec<AttemptV1>,
    transfer_requested_at: Option<Time>,
    queue_position: Option<u32>,
    duration_secs: Option<u32>,
    local_path: Option<String>,
}

/// Format 2: format 1, then what it added.
#[derive(Serialize, Deserialize)]
struct RecordV2 {
    base: RecordV1,
    added: AddedV2,
}

/// What format 2 adds to format 1. Never reorder or change; a format 3 adds its own struct.
#[derive(Serialize, Deserialize, Default)]
struct AddedV2 {
    /// The client named the provider: the download never moves to another.
    provider_pinned: bool,
}

impl From<&Download> for AddedV2 {
    fn from(d: &Download) -> AddedV2 {
        AddedV2 {
            provider_pinned: d.provider_pinned,
        }
    }
}

/// Format 3: format 2, then what it added.
#[derive(Serialize, Deserialize)]
struct RecordV3 {
    base: RecordV2,
    added: AddedV3,
}

/// What format 3 adds to format 2. Never reorder or change; a format 4 adds its own struct.
#[derive(Serialize, Deserialize)]
struct AddedV3 {
    verified: Option<VerifiedV3>,
    library_path: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct VerifiedV3 {
    sha256: String,
    bytes: u64,
    codec: Option<String>,
    /// Milliseconds.
    duration_ms: Option<u64>,
    checksum_matched: bool,
    verified_at: Time,
    provider_id: String,
    peer: String,
    remote_name: String,
}

impl From<&Download> for AddedV3 {
    fn from(d: &Download) -> AddedV3 {
        AddedV3 {
            verified: d.verified.as_ref().map(|v| VerifiedV3 {
                sha256: v.sha256.clone(),
                bytes: v.bytes,
                codec: v.codec.clone(),
                duration_ms: v.duration_secs.map(|s| (s * 1000.0).round() as u64),
                checksum_matched: v.checksum_matched,
                verified_at: v.verified_at.into(),
                provider_id: v.provenance.provider_id.clone(),
                peer: v.provenance.peer.clone(),
                remote_name: v.provenance.remote_name.clone(),
            }),
            library_path: d.library_path.clone(),
        }
    }
}

impl AddedV3 {
    fn fill(self, d: &mut Download) -> Result<(), RecordError> {
        d.verified = match self.verified {
            Some(v) => Some(VerifiedFile {
                sha256: v.sha256,
                bytes: v.bytes,
                codec: v.codec,
                duration_secs: v.duration_ms.map(|ms| ms as f64 / 1000.0),
                checksum_matched: v.checksum_matched,
                verified_at: v.verified_at.get()?,
                provenance: Provenance {
                    provider_id: v.provider_id,
                    peer: v.peer,
                    remote_name: v.remote_name,
                },
            }),
            None => None,
        };
        d.library_path = self.library_path;
        Ok(())
    }
}

impl From<&Download> for RecordV1 {
    fn from(d: &Download) -> RecordV1 {
        let tried = |t: &TriedSource| (t.peer.clone(), t.filename.clone());
        RecordV1 {
            track_id: (d.track_id != d.id.to_string()).then(|| d.track_id.clone()),
            title: d.track.title.clone(),
            artist: d.track.artist.clone(),
            album: d.track.album.clone(),
            provider_id: d.provider_id.clone(),
            provider_kind: d.provider_kind.clone(),
            provider_name: d.provider_name.clone(),
            external_id: d.external_id.clone(),
            source: d.source.as_ref().map(|s| SourceV1 {
                peer: s.peer.clone(),
                filename: s.filename.clone(),
                size: s.size,
                format: s.format.clone(),
                bitrate_kbps: s.bitrate_kbps,
                uri: s.uri.clone(),
                file: s.file.clone(),
            }),
            source_fixed: d.source_fixed,
            status: d.status.code(),
            status_message: d.status_message.clone(),
            error_message: d.error_message.clone(),
            failure_cause: d.failure_cause.map(cause_code),
            bytes_downloaded: d.bytes_downloaded,
            total_bytes: d.total_bytes,
            speed_bytes_per_sec: d.speed_bytes_per_sec,
            priority: d.priority,
            created_at: d.created_at.into(),
            started_at: d.started_at.map(Time::from),
            completed_at: d.completed_at.map(Time::from),
            updated_at: d.updated_at.into(),
            status_since: d.status_since.into(),
            retry_count: d.retry_count,
            max_retries: d.max_retries,
            next_retry_at: d.next_retry_at.map(Time::from),
            tried_sources: d.tried_sources.iter().map(tried).collect(),
            attempts: d
                .attempts
                .iter()
                .map(|a| AttemptV1 {
                    source: a.source.as_ref().map(tried),
                    cause: cause_code(a.cause),
                    message: a.message.clone(),
                    at: a.at.into(),
                })
                .collect(),
            transfer_requested_at: d.transfer_requested_at.map(Time::from),
            queue_position: d.queue_position,
            duration_secs: d.duration_secs,
            local_path: d.local_path.clone(),
        }
    }
}

impl RecordV1 {
    fn into_download(self, id: Uuid, added: AddedV2) -> Result<Download, RecordError> {
        let tried = |(peer, filename): (String, String)| TriedSource { peer, filename };
        Ok(Download {
            id,
            track_id: self.track_id.unwrap_or_else(|| id.to_string()),
            track: TrackInfo {
                title: self.title,
                artist: self.artist,
                album: self.album,
            },
            provider_id: self.provider_id,
            provider_kind: self.provider_kind,
            provider_name: self.provider_name,
            external_id: self.external_id,
            source: self.source.map(|s| ChosenSource {
                peer: s.peer,
                filename: s.filename,
                size: s.size,
                format: s.format,
                bitrate_kbps: s.bitrate_kbps,
                uri: s.uri,
                file: s.file,
            }),
            source_fixed: self.source_fixed,
            status: Status::from_code(self.status).ok_or(RecordError::Status(self.status))?,
            status_message: self.status_message,
            error_message: self.error_message,
            failure_cause: self.failure_cause.map(cause_from).transpose()?,
            bytes_downloaded: self.bytes_downloaded,
            total_bytes: self.total_bytes,
            speed_bytes_per_sec: self.speed_bytes_per_sec,
            priority: self.priority,
            created_at: self.created_at.get()?,
            started_at: time_opt(self.started_at.as_ref())?,
            completed_at: time_opt(self.completed_at.as_ref())?,
            updated_at: self.updated_at.get()?,
            status_since: self.status_since.get()?,
            retry_count: self.retry_count,
            max_retries: self.max_retries,
            next_retry_at: time_opt(self.next_retry_at.as_ref())?,
            tried_sources: self.tried_sources.into_iter().map(tried).collect(),
            attempts: self
                .attempts
                .into_iter()
                .map(|a| {
                    Ok(Attempt {
                        source: a.source.map(tried),
                        cause: cause_from(a.cause)?,
                        message: a.message,
                        at: a.at.get()?,
                    })
                })
                .collect::<Result<_, RecordError>>()?,
            transfer_requested_at: time_opt(self.transfer_requested_at.as_ref())?,
            queue_position: self.queue_position,
            duration_secs: self.duration_secs,
            local_path: self.local_path,
            provider_pinned: added.provider_pinned,
            verified: None,
            library_path: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    /// Every optional field set (and a caller's track id), and the plainest record.
    fn samples() -> Vec<Download> {
        let t = Utc
            .timestamp_opt(1_714_564_800, 123_456_789)
            .single()
            .unwrap();
        let plain = Download::waiting(
            Uuid::from_u128(7),
            Uuid::from_u128(7).to_string(),
            TrackInfo {
                title: "Song".into(),
                artist: "Artist".into(),
                album: None,
            },
            t,
        );
        let tried = TriedSource {
            peer: "peer-x".into(),
            filename: "a.flac".into(),
        };
        let mut full = plain.clone();
        full.id = Uuid::from_u128(u128::MAX - 3);
        full.track_id = "spotify:track:4uLU6hMCjMI75M1A2tKUQC".into();
        full.track.album = Some("Album — ünïcode".into());
        full.provider_id = "slskd".into();
        full.provider_kind = "soulseek".into();
        full.provider_name = "slskd".into();
        full.external_id = Some("transfer-1".into());
        full.source = Some(ChosenSource {
            peer: "peer".into(),
            filename: "@@music\\a.flac".into(),
            size: 31_457_280,
            format: Some("flac".into()),
            bitrate_kbps: Some(1411),
            uri: Some("magnet:?xt=urn:btih:0".into()),
            file: Some("a.flac".into()),
        });
        full.source_fixed = true;
        full.status = Status::Failed;
        full.status_message = Some("Will search again in 60 s".into());
        full.error_message = Some("peer offline".into());
        full.failure_cause = Some(FailureCause::CancelledRemotely);
        full.bytes_downloaded = 1_234_567;
        full.total_bytes = 31_457_280;
        full.speed_bytes_per_sec = 524_288.5;
        full.priority = -1000;
        full.started_at = Some(t + chrono::Duration::seconds(1));
        full.completed_at = Some(t + chrono::Duration::seconds(2));
        full.updated_at = t + chrono::Duration::nanoseconds(3);
        full.status_since = t - chrono::Duration::days(400);
        full.retry_count = 2;
        full.max_retries = 3;
        full.next_retry_at = Some(t + chrono::Duration::seconds(60));
        full.tried_sources = vec![tried.clone()];
        full.attempts = vec![
            Attempt {
                source: Some(tried),
                cause: FailureCause::PeerOffline,
                message: "peer offline".into(),
                at: t,
            },
            Attempt {
                source: None,
                cause: FailureCause::NotFound,
                message: String::new(),
                at: t,
            },
        ];
        full.transfer_requested_at = Some(t);
        full.queue_position = Some(7);
        full.duration_secs = Some(200);
        full.local_path = Some("/music/a.flac".into());
        full.provider_pinned = true;
        full.verified = Some(VerifiedFile {
            sha256: "ab".repeat(32),
            bytes: 31_457_280,
            codec: Some("flac".into()),
            duration_secs: Some(200.125),
            checksum_matched: true,
            verified_at: t + chrono::Duration::seconds(3),
            provenance: Provenance {
                provider_id: "slskd".into(),
                peer: "peer".into(),
                remote_name: "@@music\\a.flac".into(),
            },
        });
        full.library_path = Some("/library/Artist/Album/01 - Song.flac".into());
        vec![plain, full]
    }

    /// Records written in format 1 (before format 2 existed) still read: what format 2 added
    /// takes its default.
    #[test]
    fn format_1_records_still_read() {
        for d in samples() {
            let v1 = postcard::to_extend(&RecordV1::from(&d), vec![FORMAT_V1]).unwrap();
            assert!(is_current(&v1));
            let mut expected = d.clone();
            expected.provider_pinned = false;
            expected.verified = None;
            expected.library_path = None;
            assert_eq!(decode(d.id, &v1).unwrap(), expected, "{}", d.id);
            assert_eq!(encode(&d).unwrap()[0], FORMAT_V3);
        }
    }

    /// Records written in format 2 still read: what format 3 added takes its default.
    #[test]
    fn format_2_records_still_read() {
        for d in samples() {
            let v2 = RecordV2 {
                base: RecordV1::from(&d),
                added: AddedV2::from(&d),
            };
            let bytes = postcard::to_extend(&v2, vec![FORMAT_V2]).unwrap();
            assert!(is_current(&bytes));
            let mut expected = d.clone();
            expected.verified = None;
            expected.library_path = None;
            assert_eq!(decode(d.id, &bytes).unwrap(), expected, "{}", d.id);
        }
    }

    #[test]
    fn every_field_reads_back_and_json_still_reads() {
        for d in samples() {
            let bytes = encode(&d).unwrap();
            assert!(is_current(&bytes));
            assert_eq!(decode(d.id, &bytes).unwrap(), d, "binary {}", d.id);
            let json = serde_json::to_vec(&d).unwrap();
            assert!(!is_current(&json));
            assert_eq!(decode(d.id, &json).unwrap(), d, "json {}", d.id);
            assert!(
                bytes.len() * 2 < json.len(),
                "{} vs {}",
                bytes.len(),
                json.len()
            );
        }
    }

    #[test]
    fn every_cause_and_status_has_its_own_code() {
        let causes = [
            FailureCause::NotFound,
            FailureCause::Rejected,
            FailureCause::TimedOut,
            FailureCause::Errored,
            FailureCause::PeerOffline,
            FailureCause::SizeMismatch,
            FailureCause::Stalled,
            FailureCause::Vanished,
            FailureCause::CancelledRemotely,
            FailureCause::ProviderError,
            FailureCause::Corrupt,
            FailureCause::Truncated,
            FailureCause::WrongDuration,
            FailureCause::FileMissing,
        ];
        for c in causes {
            assert_eq!(cause_from(cause_code(c)).unwrap(), c);
        }
        let mut d = samples().remove(1);
        for s in Status::ALL {
            d.status = s;
            assert_eq!(decode(d.id, &encode(&d).unwrap()).unwrap().status, s);
        }
    }

    #[test]
    fn bad_records_are_errors_not_panics() {
        let id = Uuid::from_u128(1);
        assert!(matches!(decode(id, &[]), Err(RecordError::Empty)));
        assert!(matches!(
            decode(id, &[9, 1]),
            Err(RecordError::UnknownFormat(9))
        ));
        let d = samples().remove(1);
        let bytes = encode(&d).unwrap();
        for cut in 1..bytes.len() {
            assert!(decode(d.id, &bytes[..cut]).is_err(), "cut at {cut}");
        }
        // Flip each byte once: an error or another value, never a panic.
        let mut flipped = bytes.clone();
        for i in 1..flipped.len() {
            flipped[i] ^= 0xff;
            let _ = decode(d.id, &flipped);
            flipped[i] ^= 0xff;
        }
    }
}
