//! The simulated Soulseek peers: who offers what, and how each one behaves once asked for a file.

use std::time::Duration;

pub use crate::settings::Timings;

/// What a peer does with a download request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Queues briefly, sends the whole file.
    Normal,
    /// Refuses: `Completed, Rejected` before any byte.
    Reject,
    /// Never answers the request (nor a queue-position request): each attempt ends
    /// `Completed, TimedOut`, which slskd retries until its attempts are used up.
    TimeOut,
    /// Drops the connection at 40%: each attempt ends `Completed, Errored` (retried likewise;
    /// a retry resumes at 40% and drops again at once).
    ErrorMidway,
    /// Stops sending at 30% and stays `InProgress`.
    Stall,
    /// Keeps the file in its upload queue (`Queued, Remotely`) for [`Timings::slow_queue`] (an
    /// hour), its queue position falling steadily from `queue_length` to 0; then sends it.
    SlowQueue,
    /// Keeps the file in its upload queue forever; its queue position never moves.
    QueueForever,
    /// Is offline: the enqueue itself fails with slskd's 500.
    Offline,
    /// Has a file of another size than it advertised: `Completed, Aborted`.
    SizeMismatch,
    /// Sends the whole file and reports `Completed, Succeeded`, but what lands in the downloads
    /// folder is zero bytes only, as many as advertised. (Without a downloads folder: `Normal`.)
    ZeroFilled,
    /// Reports `Completed, Succeeded` with every advertised byte transferred, but only the
    /// first 60% of the file lands in the downloads folder. (Without one: `Normal`.)
    Truncated,
    /// Sends a good file, but of another song: it lasts 2.5 tracks. Its advertised size and
    /// length are the real file's, so a client comparing the length with the track it wanted
    /// can tell. (Without a downloads folder: `Normal`.)
    WrongDuration,
    /// Sends a file of the advertised size whose middle 4 KiB are scrambled: FLAC frame CRCs
    /// and the STREAMINFO MD5 no longer match. (Without a downloads folder: `Normal`.)
    Garbled,
}

/// One simulated peer.
#[derive(Debug, Clone)]
pub struct Peer {
    pub username: String,
    pub behaviour: Behaviour,
    /// File extension offered; `flac` files come without `extension` (as slskd often sends).
    pub extension: &'static str,
    pub bit_rate: Option<u32>,
    pub free_slot: bool,
    pub queue_length: i64,
    /// Advertised upload speed, bytes/s.
    pub upload_speed: i64,
    /// Real speed of a transfer from this peer, bytes/s (before the emulator's speed factor).
    pub send_speed: f64,
    /// How much later than the others this peer answers searches (before the speed factor).
    /// An answer that comes after the search's inactivity timeout is never seen.
    pub search_delay: Duration,
}

impl Peer {
    pub fn new(username: &str, behaviour: Behaviour, extension: &'static str) -> Peer {
        Peer {
            username: username.to_owned(),
            behaviour,
            extension,
            bit_rate: if extension == "mp3" { Some(320) } else { None },
            free_slot: true,
            queue_length: 0,
            upload_speed: 2_000_000,
            send_speed: 1_500_000.0,
            search_delay: Duration::ZERO,
        }
    }
}

/// The default population: good peers first, then one of each failure, then one that never
/// lets you out of its queue.
pub fn default_peers() -> Vec<Peer> {
    let mut busy = Peer::new("busy_bee", Behaviour::SlowQueue, "flac");
    busy.free_slot = false;
    busy.queue_length = 42;
    busy.upload_speed = 500_000;
    let mut gatekeeper = Peer::new("gatekeeper", Behaviour::QueueForever, "flac");
    gatekeeper.free_slot = false;
    gatekeeper.queue_length = 17;
    gatekeeper.upload_speed = 300_000;
    let mut mp3 = Peer::new("mp3_maven", Behaviour::Normal, "mp3");
    mp3.upload_speed = 1_000_000;
    vec![
        Peer::new("vinylhoarder", Behaviour::Normal, "flac"),
        mp3,
        busy,
        Peer::new("rejecter", Behaviour::Reject, "flac"),
        Peer::new("sleepy", Behaviour::TimeOut, "flac"),
        Peer::new("flaky", Behaviour::ErrorMidway, "flac"),
        Peer::new("staller", Behaviour::Stall, "flac"),
        Peer::new("ghost", Behaviour::Offline, "flac"),
        Peer::new("liar", Behaviour::SizeMismatch, "flac"),
        gatekeeper,
    ]
}

/// Peers whose downloads succeed but leave a bad file (when the emulator writes downloads), one
/// per way: `zeroes` ([`Behaviour::ZeroFilled`]), `cutoff` ([`Behaviour::Truncated`]),
/// `wrongsong` ([`Behaviour::WrongDuration`]) and `scrambler` ([`Behaviour::Garbled`]), all
/// offering FLAC. Not in [`default_peers`]; add them to it for a network with bad files.
pub fn bad_file_peers() -> Vec<Peer> {
    [
        ("zeroes", Behaviour::ZeroFilled),
        ("cutoff", Behaviour::Truncated),
        ("wrongsong", Behaviour::WrongDuration),
        ("scrambler", Behaviour::Garbled),
    ]
    .into_iter()
    .map(|(username, behaviour)| Peer::new(username, behaviour, "flac"))
    .collect()
}

/// Deterministic numbers from a text: same query, same results.
pub fn stable_hash(text: &str) -> u64 {
    // FNV-1a: tiny, stable across runs and platforms (std's hasher is randomly keyed).
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
