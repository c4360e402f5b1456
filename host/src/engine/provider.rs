//! What the engine needs from a download provider, in plain Rust.
//!
//! The plugin runtime implements [`Provider`] for WebAssembly components; the engine only ever
//! sees these types, never a WIT binding or a wasmtime value.

use std::fmt;

use async_trait::async_trait;

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
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Capabilities {
    pub search: bool,
    pub pause: bool,
    pub clear_finished: bool,
    pub queue_position: bool,
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
    pub candidates: Vec<Candidate>,
}

/// One file that could satisfy a track, with the neutral metadata the host ranks on.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub peer: String,
    pub filename: String,
    pub size: u64,
    pub extension: String,
    pub bitrate_kbps: Option<u32>,
    pub bit_depth: Option<u32>,
    pub sample_rate_hz: Option<u32>,
    pub duration_secs: Option<u32>,
    pub free_slot: bool,
    pub queue_length: u64,
    pub upload_speed: u64,
}

/// A file to fetch from a peer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Source {
    pub peer: String,
    pub filename: String,
    pub size: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransferState {
    QueuedLocally,
    Requested,
    QueuedRemotely,
    Initializing,
    InProgress,
    Succeeded,
    Cancelled,
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureReason {
    Rejected,
    TimedOut,
    Errored,
    PeerOffline,
    SizeMismatch,
    ProviderRestarted,
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
    pub size: u64,
    pub bytes_transferred: u64,
    pub speed_bytes_per_sec: f64,
    pub queue_position: Option<u32>,
    pub state: TransferState,
    pub failure: Option<TransferFailure>,
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
            | ProviderError::PeerOffline(_) => false,
        }
    }
}

/// A download provider: the engine's only view of a plugin.
///
/// Every call is short and bounded by the implementation's deadline.
#[async_trait]
pub trait Provider: Send + Sync {
    fn descriptor(&self) -> &ProviderDescriptor;
    async fn ping(&self) -> Result<Health, ProviderError>;
    async fn start_search(&self, query: &TrackQuery) -> Result<String, ProviderError>;
    async fn poll_search(&self, search_id: &str) -> Result<SearchProgress, ProviderError>;
    async fn enqueue(&self, source: &Source) -> Result<String, ProviderError>;
    async fn list_transfers(&self) -> Result<Vec<Transfer>, ProviderError>;
    async fn cancel(
        &self,
        external_id: &str,
        peer: &str,
        remove: bool,
    ) -> Result<(), ProviderError>;
    async fn clear_finished(&self) -> Result<(), ProviderError>;
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
