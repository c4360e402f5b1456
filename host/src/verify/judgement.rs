//! The verdicts: pure functions from what was measured to pass or a reason to reject.

use std::path::Path;
use std::time::Duration;

use super::decode::Decoded;
use super::scan::Scanned;
use super::{AudioFacts, Expectation};

/// Why a finished file is not accepted. Each maps to one failure cause of the download.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Rejection {
    /// No file where the provider said (a missing `path_map`, or the file was moved).
    #[error("no file at {path} ({reason})")]
    Missing { path: String, reason: String },
    /// Shorter than expected: the bytes, or the audio, stop early.
    #[error("truncated: {0}")]
    Truncated(String),
    /// Longer than the size the provider announced.
    #[error("size mismatch: {actual} bytes, {expected} expected")]
    SizeMismatch { actual: u64, expected: u64 },
    /// Does not decode: zero-filled, garbled, or not audio at all.
    #[error("corrupt: {0}")]
    Corrupt(String),
    /// Plays, but for another length than the track's: another recording or another song.
    #[error("wrong duration: {actual_secs:.1} s, {expected_secs} s expected")]
    WrongDuration {
        actual_secs: f64,
        expected_secs: u64,
    },
}

impl Rejection {
    pub(super) fn unreadable(path: &Path, e: &std::io::Error) -> Rejection {
        Rejection::Missing {
            path: path.display().to_string(),
            reason: e.to_string(),
        }
    }
}

pub(super) fn judge_bytes(scanned: &Scanned, expected_size: Option<u64>) -> Result<(), Rejection> {
    if scanned.bytes == 0 {
        return Err(Rejection::Truncated("the file is empty".into()));
    }
    if scanned.all_zero {
        return Err(Rejection::Corrupt(format!(
            "all {} bytes are zero",
            scanned.bytes
        )));
    }
    match expected_size {
        Some(expected) if scanned.bytes < expected => Err(Rejection::Truncated(format!(
            "{} of {expected} bytes",
            scanned.bytes
        ))),
        Some(expected) if scanned.bytes > expected => Err(Rejection::SizeMismatch {
            actual: scanned.bytes,
            expected,
        }),
        _ => Ok(()),
    }
}

pub(super) fn judge_audio(d: Decoded, expected: &Expectation) -> Result<AudioFacts, Rejection> {
    if let Some(problem) = d.bad_packet {
        return Err(Rejection::Corrupt(problem));
    }
    if d.checksum_matched == Some(false) {
        return Err(Rejection::Corrupt(
            "the decoded audio does not match the file's MD5 checksum".into(),
        ));
    }
    if d.frames == 0 {
        return Err(Rejection::Corrupt("no audio frame decodes".into()));
    }
    if d.ended_early {
        return Err(Rejection::Truncated(format!(
            "the audio stops after {:.1} s",
            d.frames as f64 / f64::from(d.sample_rate.max(1))
        )));
    }
    if let Some(promised) = d.promised_frames
        && d.frames < promised
    {
        return Err(Rejection::Truncated(format!(
            "{} of the {promised} frames the header promises",
            d.frames
        )));
    }
    let duration = Duration::from_secs_f64(d.frames as f64 / f64::from(d.sample_rate.max(1)));
    if let Some(want) = expected.duration
        && !duration_fits(duration, want, expected.tolerance)
    {
        return Err(Rejection::WrongDuration {
            actual_secs: duration.as_secs_f64(),
            expected_secs: want.as_secs(),
        });
    }
    Ok(AudioFacts {
        codec: d.codec,
        duration,
        sample_rate: d.sample_rate,
        checksum_matched: d.checksum_matched == Some(true),
    })
}

/// Whether a decoded length is close enough to the track's: within `tolerance`, or 2% of a
/// long track (tags and releases disagree by a few seconds; another song does not).
pub fn duration_fits(actual: Duration, expected: Duration, tolerance: Duration) -> bool {
    let allowed = tolerance.max(expected.mul_f64(0.02));
    actual.abs_diff(expected) <= allowed
}
