//! The knobs of the emulated slskd: how long things take ([`Timings`]), its automatic download
//! retries ([`Retry`], slskd 0.26 `transfers.download.retry`) and its concurrency limits
//! ([`Limits`]). Every duration here is slskd time: the emulator divides it by its speed factor.

use std::time::Duration;

/// How long each step takes, before the emulator's speed factor.
#[derive(Debug, Clone, Copy)]
pub struct Timings {
    pub queued_locally: Duration,
    pub requested: Duration,
    pub queued_remotely: Duration,
    pub initializing: Duration,
    pub time_out_after: Duration,
    /// How long [`Behaviour::SlowQueue`](crate::Behaviour::SlowQueue) keeps a file queued.
    pub slow_queue: Duration,
    /// The spread of a search's responses: once the search is on the network, peers answer
    /// within this long, one after another (which peer answers last depends on the query).
    /// The search then completes `searchTimeout` after the last answer.
    pub search: Duration,
    /// The spread for a query containing [`SLOW_SEARCH_WORD`](crate::world::SLOW_SEARCH_WORD):
    /// answers trickle in over this long, so such a search runs about this long plus
    /// `searchTimeout`.
    pub slow_search: Duration,
    /// After a search completes, its responses appear this much later (slskd's race).
    pub search_responses_lag: Duration,
    /// What `POST /searches` takes before it answers (slskd stores the search and hands it to
    /// the network before answering). Long enough for the one-at-a-time guard to matter.
    pub search_post: Duration,
    /// What `POST /transfers/downloads/{user}` takes: slskd looks up the peer's endpoint and
    /// connects to it before it answers.
    pub enqueue: Duration,
    /// A `DELETE` of a running transfer takes effect this much later (slskd cancels
    /// asynchronously).
    pub cancel: Duration,
    /// A failed attempt that slskd will retry shows its failed state (`Completed, Errored` or
    /// `Completed, TimedOut`) this long before it goes back to `Queued, Locally`.
    pub failed_attempt_visible: Duration,
    /// A peer that does not answer a queue-position request makes `/position` wait this long
    /// before slskd gives up with a 500.
    pub position_timeout: Duration,
    /// After a simulated restart, interrupted downloads are re-enqueued this much later.
    pub restart_reenqueue: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            queued_locally: Duration::from_millis(200),
            requested: Duration::from_millis(200),
            queued_remotely: Duration::from_millis(300),
            initializing: Duration::from_millis(200),
            time_out_after: Duration::from_millis(1500),
            slow_queue: Duration::from_secs(3600),
            search: Duration::from_millis(2000),
            slow_search: Duration::from_secs(20),
            search_responses_lag: Duration::from_millis(300),
            search_post: Duration::from_millis(100),
            enqueue: Duration::from_millis(300),
            cancel: Duration::from_millis(150),
            failed_attempt_visible: Duration::from_millis(1000),
            position_timeout: Duration::from_secs(5),
            restart_reenqueue: Duration::from_millis(1000),
        }
    }
}

/// slskd 0.26's automatic download retries (`transfers.download.retry`). Errored and timed-out
/// attempts are retried; cancelled, rejected and aborted ones are not.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Attempts in all, the first included; 1 turns retries off.
    pub attempts: u32,
    /// The wait before the first retry; it doubles for each further one.
    pub delay: Duration,
    /// The longest wait between two attempts.
    pub max_delay: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: 3,
            delay: Duration::from_millis(5000),
            max_delay: Duration::from_millis(60_000),
        }
    }
}

impl Retry {
    /// The wait after the `failures`-th failed attempt (1-based): exponential, capped, with
    /// up to ±25% jitter from `jitter` (a number in [0, 1), so a run is reproducible).
    pub fn backoff(&self, failures: u32, jitter: f64) -> Duration {
        let exponent = failures.saturating_sub(1).min(30);
        let base = self
            .delay
            .saturating_mul(1u32 << exponent)
            .min(self.max_delay);
        base.mul_f64(0.75 + 0.5 * jitter).min(self.max_delay)
    }
}

/// In which order peers answer a search (and so, among equally good candidates, which one a
/// client that keeps slskd's order ranks first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AnswerOrder {
    /// A different order for each query (deterministic), as on the real network: for some
    /// queries the failing peers answer first.
    #[default]
    PerQuery,
    /// Always in the order of [`EmulatorConfig::peers`](crate::EmulatorConfig::peers).
    PeerList,
}

/// slskd's concurrency limits (0.24+).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `POST /searches` in flight at once; more get 429.
    pub search_posts: usize,
    /// Enqueue POSTs in flight at once; more get 429.
    pub enqueue_posts: usize,
    /// Searches on the network at once (Soulseek.NET's `maximumConcurrentSearches`); more wait
    /// in state `Queued`.
    pub network_searches: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            search_posts: 1,
            enqueue_posts: 2,
            network_searches: 2,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let retry = Retry::default();
        assert_eq!(retry.backoff(1, 0.5), Duration::from_secs(5));
        assert_eq!(retry.backoff(2, 0.5), Duration::from_secs(10));
        assert_eq!(retry.backoff(9, 0.5), Duration::from_secs(60));
        assert!(retry.backoff(1, 0.0) < retry.backoff(1, 0.99));
    }
}
