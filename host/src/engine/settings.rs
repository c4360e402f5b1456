//! The engine's tunables, with the defaults the design settles on.

use std::time::Duration;

use super::breaker::BreakerSettings;
use super::ranking::RankingPolicy;
use super::retry::RetryPolicy;

#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Downloads at one provider at once (pending, queued, downloading, stalled).
    pub concurrency_per_provider: usize,
    /// How often each provider's transfers are listed.
    pub poll_interval: Duration,
    /// How often the dispatcher looks at the queue (it is also woken by every change).
    pub dispatch_interval: Duration,
    /// Downloading without byte progress this long → stalled.
    pub stall_timeout: Duration,
    /// Queued at the peer this long → stalled.
    pub queue_timeout: Duration,
    /// Stalled this long → cancelled at the provider and retried from another source.
    pub stall_grace: Duration,
    /// The provider's own search timeout (slskd's is one of inactivity: a search runs until
    /// this long after its last response).
    pub search_timeout: Duration,
    /// The longest the engine waits for one provider's search to complete.
    pub search_max: Duration,
    pub search_poll: Duration,
    /// Progress bytes are written at most this often (state changes always at once).
    pub progress_persist_interval: Duration,
    /// Polls in a row a transfer may be missing before the download counts it as vanished.
    pub vanish_after_polls: u32,
    /// A provider that dropped its transfers on restart gets this long to re-create them.
    pub restart_grace: Duration,
    /// A failure the provider says it may retry by itself gets this long to turn back into a
    /// queued transfer before the engine moves on.
    pub provider_retry_patience: Duration,
    /// A transfer waiting in a peer's queue has its position asked at most this often.
    pub queue_position_interval: Duration,
    /// At most this many queue positions are asked per poll of one provider.
    pub queue_positions_per_poll: usize,
    /// A released transfer still running is cancelled again after this long.
    pub recancel_after: Duration,
    /// Failed attempts kept on a download (the oldest go first).
    pub max_attempts_kept: usize,
    /// A client's idempotency key is remembered this long after its download was created.
    pub idempotency_key_ttl: Duration,
    pub retry: RetryPolicy,
    pub breaker: BreakerSettings,
    pub ranking: RankingPolicy,
    pub verify: VerifySettings,
    /// Where verified files are imported; `None`: they stay where the provider put them.
    pub library: Option<crate::library::LibrarySettings>,
}

/// How finished files are checked before a download counts as completed.
#[derive(Debug, Clone)]
pub struct VerifySettings {
    /// Off: a provider's "finished" is taken at its word, as before.
    pub enabled: bool,
    /// Where rejected files are moved.
    pub quarantine_dir: std::path::PathBuf,
    /// Files checked at once (each takes a blocking thread and a core while it decodes).
    pub parallel: usize,
    /// How far a file's length may be from the track's (or 2% of it, if more).
    pub duration_tolerance: Duration,
}

impl Default for VerifySettings {
    fn default() -> Self {
        VerifySettings {
            enabled: true,
            quarantine_dir: std::path::PathBuf::from("./data/quarantine"),
            parallel: 1,
            duration_tolerance: Duration::from_secs(3),
        }
    }
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            concurrency_per_provider: 3,
            poll_interval: Duration::from_secs(2),
            dispatch_interval: Duration::from_millis(500),
            stall_timeout: Duration::from_secs(120),
            queue_timeout: Duration::from_secs(30 * 60),
            stall_grace: Duration::from_secs(120),
            search_timeout: Duration::from_secs(15),
            search_max: Duration::from_secs(120),
            search_poll: Duration::from_millis(500),
            progress_persist_interval: Duration::from_secs(10),
            vanish_after_polls: 3,
            restart_grace: Duration::from_secs(300),
            provider_retry_patience: Duration::from_secs(6),
            queue_position_interval: Duration::from_secs(30),
            queue_positions_per_poll: 10,
            recancel_after: Duration::from_secs(30),
            max_attempts_kept: 20,
            idempotency_key_ttl: Duration::from_secs(24 * 3600),
            retry: RetryPolicy::default(),
            breaker: BreakerSettings::default(),
            ranking: RankingPolicy::default(),
            verify: VerifySettings::default(),
            library: None,
        }
    }
}
