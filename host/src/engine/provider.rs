//! What the engine needs from a download provider, in plain Rust.
//!
//! The plugin runtime implements [`Provider`] for WebAssembly components; the engine only ever
//! sees these types, never a WIT binding or a wasmtime value.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

/// Who a provider is, as its manifest and the plugin itself declare it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderDescriptor {
    /// The plugin id, e.g. `slskd` (the `[providers.<id>]` config section).
    pub id: String,
    /// The kind of network, e.g. `soulseek` (the API's `provider` field).
    pub kind: String,
    /// The name shown to people, e.g. `slskd` (the API's `provider_name` field).
    pub display_name: String,
    pub version: String,
    pub capabilities: Capabilities,
    /// What `enqueue` takes.
    pub accepts: Accepts,
}

/// The calls a provider offers beyond listing, enqueueing and cancelling. The engine makes no
/// call a provider does not declare.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// `start_search`, `poll_search`, `end_search`.
    pub search: bool,
    /// `pause`, `resume`.
    pub pause: bool,
    /// `queue_position`.
    pub queue_position: bool,
    /// `remove`.
    pub remove: bool,
}

/// The sources a provider's `enqueue` takes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accepts {
    /// A file held by a peer of the provider's network.
    pub peer_files: bool,
    /// URI schemes, lower case (`magnet`, `http`, `https`).
    pub uri_schemes: Vec<String>,
}

impl Accepts {
    pub fn takes(&self, source: &Source) -> bool {
        match source {
            Source::PeerFile { .. } => self.peer_files,
            Source::Uri { uri, .. } => {
                uri_scheme(uri).is_some_and(|scheme| self.uri_schemes.contains(&scheme))
            }
        }
    }
}

/// The lower-case scheme of a URI (`magnet`, `https`).
pub fn uri_scheme(uri: &str) -> Option<String> {
    url::Url::parse(uri).ok().map(|u| u.scheme().to_owned())
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub service_version: Option<String>,
    /// The service can search and download right now.
    pub ready: bool,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackQuery {
    pub artist: String,
    pub title: String,
    pub album: Option<String>,
    pub duration_secs: Option<u32>,
    pub search_timeout_ms: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SearchProgress {
    pub complete: bool,
    /// Every candidate found so far.
    pub candidates: Vec<Candidate>,
}

/// A file to fetch.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Source {
    /// A file a peer of the provider's network holds (Soulseek).
    PeerFile {
        peer: String,
        filename: String,
        size: u64,
    },
    /// What a URI names: a magnet link, a .torrent URL, a file URL.
    Uri {
        uri: String,
        /// The file wanted inside a multi-file source, by path or by words of its name.
        file: Option<String>,
        size: Option<u64>,
    },
}

impl Source {
    /// Who sends it: the peer, or the host a URI points at (for people and reputation).
    pub fn peer(&self) -> String {
        match self {
            Source::PeerFile { peer, .. } => peer.clone(),
            Source::Uri { uri, .. } => uri_origin(uri),
        }
    }

    /// The name people see and the matcher reads: the remote path, or the wanted file, or the
    /// URI's last segment.
    pub fn name(&self) -> String {
        match self {
            Source::PeerFile { filename, .. } => filename.clone(),
            Source::Uri { file: Some(f), .. } => f.clone(),
            Source::Uri { uri, .. } => uri_display_name(uri),
        }
    }

    pub fn size(&self) -> Option<u64> {
        match self {
            Source::PeerFile { size, .. } => Some(*size),
            Source::Uri { size, .. } => *size,
        }
    }
}

/// `https://files.example.com/a/b.flac` → `files.example.com`; `magnet:?...` → `magnet`.
fn uri_origin(uri: &str) -> String {
    match url::Url::parse(uri) {
        Ok(u) => match (u.host_str(), u.port()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_owned(),
            (None, _) => u.scheme().to_owned(),
        },
        Err(_) => String::new(),
    }
}

/// A magnet's `dn` (display name), or a URL's last path segment, percent-decoded.
fn uri_display_name(uri: &str) -> String {
    let Ok(u) = url::Url::parse(uri) else {
        return uri.to_owned();
    };
    if u.scheme() == "magnet" {
        return u
            .query_pairs()
            .find(|(k, _)| k == "dn")
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| "magnet link".to_owned());
    }
    let last = u
        .path_segments()
        .and_then(|mut segments| segments.rfind(|s| !s.is_empty()))
        .unwrap_or_default();
    percent_encoding::percent_decode_str(last)
        .decode_utf8_lossy()
        .into_owned()
}

/// One file that could satisfy a track, with the neutral metadata the host ranks on.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub source: Source,
    /// Who offers it (the Soulseek user, the site or index of a URI).
    pub peer: String,
    /// The name matched against the track (remote path, torrent or file name).
    pub name: String,
    pub size: Option<u64>,
    pub extension: String,
    pub bitrate_kbps: Option<u32>,
    pub bit_depth: Option<u32>,
    pub sample_rate_hz: Option<u32>,
    pub duration_secs: Option<u32>,
    pub free_slot: bool,
    pub queue_length: u64,
    pub upload_speed: u64,
}

/// What `enqueue` answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enqueued {
    pub external_id: String,
    /// When the provider created the transfer, by its clock.
    pub requested_at: Option<DateTime<Utc>>,
}

/// A transfer, as the calls that act on one name it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TransferRef {
    pub external_id: String,
    pub peer: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransferState {
    QueuedLocally,
    Requested,
    QueuedRemotely,
    Initializing,
    InProgress,
    /// Held at the provider.
    Paused,
    Succeeded,
    Cancelled,
    Failed,
    /// A state the plugin does not know: the engine keeps the last one it knew.
    Unknown,
}

impl TransferState {
    /// Over: the provider will not move it again by itself (a failure it may still retry
    /// is not over; see `TransferFailure::provider_may_retry`).
    pub fn has_ended(self) -> bool {
        matches!(
            self,
            TransferState::Succeeded | TransferState::Cancelled | TransferState::Failed
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureReason {
    Rejected,
    TimedOut,
    Errored,
    PeerOffline,
    SizeMismatch,
    ProviderRestarted,
    /// The URI or the file inside it does not exist.
    NotFound,
    /// The provider's disk is full.
    NoSpace,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferFailure {
    pub reason: FailureReason,
    pub message: String,
    /// The provider may still retry by itself: not final until seen again on a later poll.
    pub provider_may_retry: bool,
}

/// One transfer as the provider sees it now.
#[derive(Debug, Clone, PartialEq)]
pub struct Transfer {
    pub external_id: String,
    pub peer: String,
    pub filename: String,
    /// Bytes in all, when known.
    pub size: Option<u64>,
    pub bytes_transferred: u64,
    pub speed_bytes_per_sec: f64,
    pub queue_position: Option<u32>,
    pub state: TransferState,
    pub failure: Option<TransferFailure>,
    /// The provider's own word for the state.
    pub state_detail: Option<String>,
    /// When the provider created it, by the provider's clock.
    pub requested_at: Option<DateTime<Utc>>,
    /// Where the file is on the provider's disk, once known.
    pub local_path: Option<String>,
}

impl Transfer {
    pub fn reference(&self) -> TransferRef {
        TransferRef {
            external_id: self.external_id.clone(),
            peer: self.peer.clone(),
        }
    }
}

/// How a plugin misbehaved when the host stopped it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrapKind {
    /// The call ran past its deadline.
    Deadline,
    /// The plugin tried to grow its memory past the cap.
    MemoryLimit,
    /// A panic, an abort, or any other trap.
    Crash,
}

impl fmt::Display for TrapKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TrapKind::Deadline => "deadline exceeded",
            TrapKind::MemoryLimit => "memory limit exceeded",
            TrapKind::Crash => "crashed",
        })
    }
}

/// Why a provider call failed. The circuit breaker and the retry policy classify on the variant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    #[error("provider unreachable: {0}")]
    Unreachable(String),
    #[error("provider timed out: {0}")]
    TimedOut(String),
    #[error("provider refused the credentials: {0}")]
    Unauthorized(String),
    #[error("provider asks to slow down: {0}")]
    RateLimited(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("rejected by the peer: {0}")]
    Rejected(String),
    #[error("peer offline: {0}")]
    PeerOffline(String),
    /// The provider still has this file in a transfer that has not ended.
    #[error("the provider is still busy with this file: {0}")]
    Busy(String),
    /// A call of a capability the provider does not have.
    #[error("not supported by this provider: {0}")]
    Unsupported(String),
    /// Our own configuration refused the call (an origin the operator has not granted): not
    /// the provider's fault, so it never opens the breaker.
    #[error("refused by Tributary's configuration: {0}")]
    Misconfigured(String),
    #[error("provider protocol error: {0}")]
    Protocol(String),
    #[error("provider internal error: {0}")]
    Internal(String),
    /// The plugin itself was stopped by the sandbox.
    #[error("plugin {kind}: {message}")]
    Trapped { kind: TrapKind, message: String },
    /// The plugin could not be started for this call (instantiation failed).
    #[error("plugin unavailable: {0}")]
    PluginUnavailable(String),
}

impl ProviderError {
    /// Whether this failure says the provider as a whole is unhealthy (and so counts against its
    /// circuit breaker), rather than something about one item or one peer.
    pub fn counts_against_provider(&self) -> bool {
        match self {
            ProviderError::Unreachable(_)
            | ProviderError::TimedOut(_)
            | ProviderError::Unauthorized(_)
            | ProviderError::Protocol(_)
            | ProviderError::Internal(_)
            | ProviderError::Trapped { .. }
            | ProviderError::PluginUnavailable(_) => true,
            ProviderError::RateLimited(_)
            | ProviderError::NotFound(_)
            | ProviderError::Rejected(_)
            | ProviderError::PeerOffline(_)
            | ProviderError::Busy(_)
            | ProviderError::Unsupported(_)
            | ProviderError::Misconfigured(_) => false,
        }
    }

    /// The error's kind, as the WIT names it (for statistics and logs).
    pub fn kind_name(&self) -> &'static str {
        match self {
            ProviderError::Unreachable(_) => "unreachable",
            ProviderError::TimedOut(_) => "timed-out",
            ProviderError::Unauthorized(_) => "unauthorized",
            ProviderError::RateLimited(_) => "rate-limited",
            ProviderError::NotFound(_) => "not-found",
            ProviderError::Rejected(_) => "rejected",
            ProviderError::PeerOffline(_) => "peer-offline",
            ProviderError::Busy(_) => "busy",
            ProviderError::Unsupported(_) => "unsupported",
            ProviderError::Misconfigured(_) => "misconfigured",
            ProviderError::Protocol(_) => "protocol",
            ProviderError::Internal(_) => "internal",
            ProviderError::Trapped { .. } => "trapped",
            ProviderError::PluginUnavailable(_) => "plugin-unavailable",
        }
    }
}

/// A download provider: the engine's only view of a plugin.
///
/// Every call is short and bounded by the implementation's deadline. The engine only makes the
/// calls the descriptor's capabilities promise.
#[async_trait]
pub trait Provider: Send + Sync {
    fn descriptor(&self) -> &ProviderDescriptor;
    async fn ping(&self) -> Result<Health, ProviderError>;
    async fn start_search(&self, query: &TrackQuery) -> Result<String, ProviderError>;
    async fn poll_search(&self, search_id: &str) -> Result<SearchProgress, ProviderError>;
    /// Done with a search: stop it and forget it at the provider.
    async fn end_search(&self, search_id: &str) -> Result<(), ProviderError>;
    async fn enqueue(&self, source: &Source) -> Result<Enqueued, ProviderError>;
    async fn list_transfers(&self) -> Result<Vec<Transfer>, ProviderError>;
    /// Stops a transfer; it may end a moment later.
    async fn cancel(&self, transfer: &TransferRef) -> Result<(), ProviderError>;
    /// Drops an ended transfer from the provider's list.
    async fn remove(&self, transfer: &TransferRef) -> Result<(), ProviderError>;
    async fn pause(&self, transfer: &TransferRef) -> Result<(), ProviderError>;
    async fn resume(&self, transfer: &TransferRef) -> Result<(), ProviderError>;
    async fn queue_position(&self, transfer: &TransferRef) -> Result<Option<u32>, ProviderError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_level_failures_do_not_trip_the_breaker() {
        assert!(!ProviderError::NotFound("x".into()).counts_against_provider());
        assert!(!ProviderError::Rejected("x".into()).counts_against_provider());
        assert!(!ProviderError::PeerOffline("x".into()).counts_against_provider());
        assert!(!ProviderError::RateLimited("x".into()).counts_against_provider());
        assert!(!ProviderError::Busy("x".into()).counts_against_provider());
        assert!(!ProviderError::Misconfigured("x".into()).counts_against_provider());
        assert!(ProviderError::Unreachable("x".into()).counts_against_provider());
        assert!(
            ProviderError::Trapped {
                kind: TrapKind::Deadline,
                message: "x".into()
            }
            .counts_against_provider()
        );
    }
}

#[cfg(test)]
mod source_tests {
    use super::*;

    #[test]
    fn uri_sources_name_their_origin_and_file() {
        let cases = [
            (
                "https://files.example.com/music/01%20Song.flac?x=1",
                "files.example.com",
                "01 Song.flac",
            ),
            (
                "magnet:?xt=urn:btih:abc&dn=Artist+-+Album+%5BFLAC%5D",
                "magnet",
                "Artist - Album [FLAC]",
            ),
            ("magnet:?xt=urn:btih:abc", "magnet", "magnet link"),
            (
                "http://user:pw@host:8080/a.torrent",
                "host:8080",
                "a.torrent",
            ),
        ];
        for (uri, origin, name) in cases {
            let s = Source::Uri {
                uri: uri.into(),
                file: None,
                size: None,
            };
            assert_eq!(s.peer(), origin, "{uri}");
            assert_eq!(s.name(), name, "{uri}");
        }
    }

    #[test]
    fn accepts_follows_schemes() {
        let a = Accepts {
            peer_files: false,
            uri_schemes: vec!["magnet".into(), "https".into()],
        };
        let uri = |u: &str| Source::Uri {
            uri: u.into(),
            file: None,
            size: None,
        };
        assert!(a.takes(&uri("MAGNET:?xt=1")));
        assert!(a.takes(&uri("https://x/y")));
        assert!(!a.takes(&uri("http://x/y")));
        assert!(!a.takes(&uri("not a uri")));
        assert!(!a.takes(&Source::PeerFile {
            peer: "p".into(),
            filename: "f".into(),
            size: 1
        }));
    }
}
