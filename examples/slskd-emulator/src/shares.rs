//! The real files behind the peers' search results, when the emulator writes downloads: each
//! (user, file) is real audio, encoded once and kept, so that a search result's size is the
//! byte length of what a download later writes.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::audio;
use crate::peers::{Behaviour, Peer, stable_hash};

/// The seed a peer's file is generated from: the same user and file name, the same bytes.
pub fn seed(username: &str, filename: &str) -> u64 {
    stable_hash(&format!("{username}{filename}"))
}

/// How long a [`Behaviour::WrongDuration`] peer's files are, in tracks.
pub const WRONG_DURATION_FACTOR: f32 = 2.5;

/// Encoded files by (username, filename).
type Files = HashMap<(String, String), Arc<Vec<u8>>>;

pub struct Shares {
    track_secs: f32,
    files: Mutex<Files>,
}

impl Shares {
    pub fn new(track_secs: f32) -> Shares {
        Shares {
            track_secs,
            files: Mutex::new(HashMap::new()),
        }
    }

    /// How long the files of a peer that behaves so last.
    pub fn seconds(&self, behaviour: Behaviour) -> f32 {
        match behaviour {
            Behaviour::WrongDuration => self.track_secs * WRONG_DURATION_FACTOR,
            _ => self.track_secs,
        }
    }

    /// The file `filename` as `peer` shares it: audio in the file name's format (the peer's
    /// when the name has no known one), lasting [`Shares::seconds`].
    pub fn file(&self, peer: &Peer, filename: &str) -> Arc<Vec<u8>> {
        let key = (peer.username.clone(), filename.to_owned());
        if let Some(bytes) = self.lock().get(&key) {
            return bytes.clone();
        }
        // Encoded without the lock held: another file can be looked up meanwhile. Two callers
        // racing for the same file both encode it, to the same bytes.
        let extension = Path::new(filename.rsplit(['\\', '/']).next().unwrap_or(filename))
            .extension()
            .and_then(|e| e.to_str())
            .filter(|e| e.eq_ignore_ascii_case("mp3") || e.eq_ignore_ascii_case("flac"))
            .unwrap_or(peer.extension);
        let bytes = Arc::new(audio::for_extension(
            extension,
            self.seconds(peer.behaviour),
            seed(&peer.username, filename),
        ));
        self.lock().entry(key).or_insert(bytes).clone()
    }

    /// Encodes the files not encoded yet, on every core (a search's worth at once).
    pub fn prepare(&self, offers: &[(Peer, String)]) {
        let missing: Vec<&(Peer, String)> = {
            let files = self.lock();
            offers
                .iter()
                .filter(|(peer, name)| !files.contains_key(&(peer.username.clone(), name.clone())))
                .collect()
        };
        let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
        let chunk = missing.len().div_ceil(workers).max(1);
        std::thread::scope(|scope| {
            for part in missing.chunks(chunk) {
                scope.spawn(move || {
                    for (peer, name) in part {
                        self.file(peer, name);
                    }
                });
            }
        });
    }

    fn lock(&self) -> MutexGuard<'_, Files> {
        // Only finished encodings are ever inserted: a poisoned map is still consistent.
        self.files.lock().unwrap_or_else(|p| p.into_inner())
    }
}
