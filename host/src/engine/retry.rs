//! What to do after a failure: the cause decides, the count and the backoff bound it.

use std::time::Duration;

use super::download::FailureCause;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Try another source at once (the one that failed is never picked again).
    AnotherSourceNow,
    /// Search again after the backoff delay.
    SearchAgainLater(Duration),
    /// Give up: the download stays failed until a user retries it.
    GiveUp,
}

#[derive(Debug, Clone)]
pub struct RetryPolicy {
    pub max_retries: u32,
    /// The delay before retry n (the last one repeats).
    pub backoff: Vec<Duration>,
    /// ± this fraction of each delay, so that many failures do not retry in lockstep.
    pub jitter: f64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            backoff: vec![
                Duration::from_secs(60),
                Duration::from_secs(300),
                Duration::from_secs(900),
            ],
            jitter: 0.2,
        }
    }
}

impl RetryPolicy {
    /// `retries_so_far` automatic retries have already happened.
    pub fn decide(
        &self,
        cause: FailureCause,
        retries_so_far: u32,
        max_retries: u32,
    ) -> RetryDecision {
        if retries_so_far >= max_retries {
            return RetryDecision::GiveUp;
        }
        match cause {
            FailureCause::Rejected
            | FailureCause::TimedOut
            | FailureCause::Errored
            | FailureCause::PeerOffline
            | FailureCause::SizeMismatch
            | FailureCause::Stalled
            | FailureCause::Vanished
            | FailureCause::CancelledRemotely
            // A file that failed verification: its source is done, another may be good.
            | FailureCause::Corrupt
            | FailureCause::Truncated
            | FailureCause::WrongDuration
            | FailureCause::FileMissing => RetryDecision::AnotherSourceNow,
            FailureCause::NotFound | FailureCause::ProviderError => {
                RetryDecision::SearchAgainLater(self.delay(retries_so_far, fastrand::f64()))
            }
        }
    }

    /// The backoff before retry `n` (0-based), with `unit` in [0, 1) choosing the jitter.
    pub fn delay(&self, n: u32, unit: f64) -> Duration {
        let base = self
            .backoff
            .get(n as usize)
            .or(self.backoff.last())
            .copied()
            .unwrap_or(Duration::from_secs(60));
        let factor = 1.0 + self.jitter * (2.0 * unit.clamp(0.0, 1.0) - 1.0);
        base.mul_f64(factor.max(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cause_decides() {
        let p = RetryPolicy::default();
        assert_eq!(
            p.decide(FailureCause::Rejected, 0, 3),
            RetryDecision::AnotherSourceNow
        );
        assert_eq!(
            p.decide(FailureCause::PeerOffline, 2, 3),
            RetryDecision::AnotherSourceNow
        );
        assert!(matches!(
            p.decide(FailureCause::NotFound, 0, 3),
            RetryDecision::SearchAgainLater(_)
        ));
        assert_eq!(
            p.decide(FailureCause::Rejected, 3, 3),
            RetryDecision::GiveUp
        );
        assert_eq!(
            p.decide(FailureCause::NotFound, 5, 3),
            RetryDecision::GiveUp
        );
    }

    #[test]
    fn backoff_grows_with_bounded_jitter() {
        let p = RetryPolicy::default();
        assert_eq!(p.delay(0, 0.5), Duration::from_secs(60));
        assert_eq!(p.delay(1, 0.5), Duration::from_secs(300));
        assert_eq!(p.delay(2, 0.5), Duration::from_secs(900));
        assert_eq!(
            p.delay(7, 0.5),
            Duration::from_secs(900),
            "the last delay repeats"
        );
        assert_eq!(p.delay(0, 0.0), Duration::from_secs(48));
        assert_eq!(p.delay(0, 1.0), Duration::from_secs(72));
        for _ in 0..100 {
            let d = p.delay(1, fastrand::f64());
            assert!(
                d >= Duration::from_secs(240) && d <= Duration::from_secs(360),
                "{d:?}"
            );
        }
    }
}
