//! Proving that a finished file is what we asked for: it is there (`path_map` turns the
//! provider's path into ours), it has the expected size, it is not zero-filled, and it decodes
//! from the first frame to the last (FLAC's STREAMINFO MD5 included) with about the expected
//! duration. Plain blocking code: the engine runs it on a blocking thread, a bounded few at a
//! time. A file that fails is moved aside (`quarantine`).

mod decode;
mod judgement;
pub mod path_map;
pub mod quarantine;
mod scan;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use judgement::{Rejection, duration_fits};

/// What the file should be, as far as we know.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expectation {
    /// Bytes; `None` when the provider never said.
    pub size: Option<u64>,
    /// The track's length, when the client gave it.
    pub duration: Option<Duration>,
    /// How far the decoded length may be from `duration`.
    pub tolerance: Duration,
}

/// What a file that passed is.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    pub path: PathBuf,
    pub bytes: u64,
    /// Lower-case hex.
    pub sha256: String,
    /// `None` for a file that is not audio we decode (a cover, a cue sheet): only its bytes
    /// were checked.
    pub audio: Option<AudioFacts>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AudioFacts {
    pub codec: String,
    pub duration: Duration,
    pub sample_rate: u32,
    /// The file carries a checksum of its audio (FLAC's MD5) and it matched.
    pub checksum_matched: bool,
}

/// The file extensions decoded (the ranking's list of audio extensions is wider: files it
/// picks that symphonia cannot decode get the byte checks only, as any other file).
pub const DECODED_EXTENSIONS: [&str; 9] = [
    "flac", "mp3", "m4a", "aac", "mp4", "ogg", "oga", "wav", "opus",
];

/// Checks the file at `path` (already mapped to this machine) against `expected`.
pub fn verify_file(path: &Path, expected: &Expectation) -> Result<Verified, Rejection> {
    let scanned = scan::scan(path)?;
    judgement::judge_bytes(&scanned, expected.size)?;
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let audio = if DECODED_EXTENSIONS.contains(&extension.as_str()) {
        let decoded = decode::decode(path, &extension)?;
        Some(judgement::judge_audio(decoded, expected)?)
    } else {
        None
    };
    Ok(Verified {
        path: path.to_owned(),
        bytes: scanned.bytes,
        sha256: scanned.sha256,
        audio,
    })
}

#[cfg(test)]
mod tests;
