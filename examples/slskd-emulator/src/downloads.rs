//! The downloads folder, filled as slskd fills it: a finished file lands at
//! `<downloads>/<its remote parent folder>/<its name>`, whole at once (written under a temporary
//! name, then renamed). Which bytes land is the peer's doing: the bad-file peers deliver broken
//! ones while reporting success.

use std::borrow::Cow;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::peers::{Behaviour, Peer, stable_hash};
use crate::shares::{Shares, seed};

/// How much of its file a [`Behaviour::Truncated`] peer writes.
pub const TRUNCATED_FRACTION: f64 = 0.6;
/// How many bytes in the middle of its file a [`Behaviour::Garbled`] peer scrambles.
pub const GARBLED_BYTES: usize = 4096;

/// Where slskd (and so the emulator) puts a finished download of `remote_filename`: the remote
/// path split on both `\` and `/`, its last part the name, the one before it the folder (as
/// Tributary's slskd plugin computes it). A `.` or `..` part becomes `_`, so nothing is ever
/// written outside `downloads_dir` (the plugin refuses such names).
pub fn expected_path(downloads_dir: &Path, remote_filename: &str) -> PathBuf {
    let mut parts = remote_filename
        .rsplit(['\\', '/'])
        .filter(|p| !p.is_empty());
    let name = parts.next().unwrap_or("_");
    let folder = parts.next();
    let safe = |part: &str| -> String {
        if part == "." || part == ".." {
            "_".to_owned()
        } else {
            part.to_owned()
        }
    };
    let mut path = downloads_dir.to_path_buf();
    if let Some(folder) = folder {
        path.push(safe(folder));
    }
    path.push(safe(name));
    path
}

/// The emulated slskd's downloads folder and the files its peers share.
pub struct Downloads {
    dir: PathBuf,
    shares: Arc<Shares>,
}

impl Downloads {
    pub fn new(dir: PathBuf, track_secs: f32) -> Downloads {
        Downloads {
            dir,
            shares: Arc::new(Shares::new(track_secs)),
        }
    }

    pub fn shares(&self) -> &Arc<Shares> {
        &self.shares
    }

    /// Writes what a finished download of `filename` from `peer` leaves on disk (replacing an
    /// earlier download of it); returns where.
    pub fn deliver(&self, peer: &Peer, filename: &str) -> io::Result<PathBuf> {
        let good = self.shares.file(peer, filename);
        let bytes = delivered(peer.behaviour, &good, seed(&peer.username, filename));
        let path = expected_path(&self.dir, filename);
        write_whole(&path, &bytes)?;
        Ok(path)
    }
}

/// The bytes a peer that behaves so sends for the file `good`.
fn delivered(behaviour: Behaviour, good: &[u8], seed: u64) -> Cow<'_, [u8]> {
    match behaviour {
        Behaviour::ZeroFilled => Cow::Owned(vec![0; good.len()]),
        Behaviour::Truncated => {
            Cow::Borrowed(&good[..(good.len() as f64 * TRUNCATED_FRACTION) as usize])
        }
        Behaviour::Garbled => {
            let mut bytes = good.to_vec();
            let len = GARBLED_BYTES.min(bytes.len());
            let start = (bytes.len() - len) / 2;
            for (i, chunk) in bytes[start..start + len].chunks_mut(8).enumerate() {
                let noise = stable_hash(&format!("{seed}|garbled|{i}")).to_le_bytes();
                chunk.copy_from_slice(&noise[..chunk.len()]);
            }
            Cow::Owned(bytes)
        }
        _ => Cow::Borrowed(good),
    }
}

/// Writes `bytes` to `path` so that a reader sees no file or the whole file, never a part.
fn write_whole(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let folder = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(folder)?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let temporary = folder.join(format!(".{name}.{}.part", uuid::Uuid::new_v4()));
    let written = fs::write(&temporary, bytes).and_then(|()| fs::rename(&temporary, path));
    if written.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_is_the_parent_folder_and_the_name() {
        let dir = Path::new("/downloads");
        assert_eq!(
            expected_path(dir, "@@share\\Music\\Artist\\Album\\01 - Track.flac"),
            Path::new("/downloads/Album/01 - Track.flac")
        );
        assert_eq!(
            expected_path(dir, "music/Album//02.mp3"),
            Path::new("/downloads/Album/02.mp3")
        );
        assert_eq!(
            expected_path(dir, "lonely.flac"),
            Path::new("/downloads/lonely.flac")
        );
        assert_eq!(
            expected_path(dir, "x\\..\\..\\evil"),
            Path::new("/downloads/_/evil")
        );
    }

    #[test]
    fn bad_peers_spoil_the_file_each_their_way() {
        let good: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8 + 1).collect();
        // (`assert!`, not `assert_eq!`: a failure would print every byte.)
        assert!(*delivered(Behaviour::Normal, &good, 1) == good[..]);
        assert!(*delivered(Behaviour::WrongDuration, &good, 1) == good[..]);
        assert!(*delivered(Behaviour::ZeroFilled, &good, 1) == [0; 10_000]);
        assert!(*delivered(Behaviour::Truncated, &good, 1) == good[..6_000]);
        let garbled = delivered(Behaviour::Garbled, &good, 1);
        assert_eq!(garbled.len(), good.len());
        let positions: Vec<usize> = good
            .iter()
            .zip(garbled.iter())
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .map(|(i, _)| i)
            .collect();
        // Nearly every byte of the middle 4 KiB (10,000 - 4,096 = 2 × 2,952), nothing else.
        assert!(positions.len() > 4_000, "{} bytes differ", positions.len());
        assert!(positions[0] >= 2_952 && positions[positions.len() - 1] < 7_048);
        assert!(
            garbled == delivered(Behaviour::Garbled, &good, 1),
            "by seed"
        );
    }
}
