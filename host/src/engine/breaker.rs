//! One circuit breaker per provider: stop calling a provider that keeps failing, try again
//! after a recovery timeout that grows while it stays broken.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CircuitState {
    Closed,
    Open,
    HalfOpen,
}

impl CircuitState {
    pub const fn as_str(self) -> &'static str {
        match self {
            CircuitState::Closed => "closed",
            CircuitState::Open => "open",
            CircuitState::HalfOpen => "half_open",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSettings {
    pub failure_threshold: u32,
    pub recovery: Duration,
    pub max_recovery: Duration,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        BreakerSettings {
            failure_threshold: 3,
            recovery: Duration::from_secs(60),
            max_recovery: Duration::from_secs(15 * 60),
        }
    }
}

/// The breaker's state; persisted as it is, so a restart does not hammer a broken provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Breaker {
    pub state: CircuitState,
    pub consecutive_failures: u32,
    /// How many times it opened in a row without a successful trial (grows the timeout).
    pub openings: u32,
    pub opened_at: Option<DateTime<Utc>>,
    pub last_success: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    /// A half-open trial call is under way.
    #[serde(skip)]
    pub trial_in_flight: bool,
    /// The provider configuration this state was recorded under (see `ProviderOptions`).
    #[serde(default)]
    pub config_fingerprint: String,
}

impl Default for Breaker {
    fn default() -> Self {
        Breaker {
            state: CircuitState::Closed,
            consecutive_failures: 0,
            openings: 0,
            opened_at: None,
            last_success: None,
            last_error: None,
            trial_in_flight: false,
            config_fingerprint: String::new(),
        }
    }
}

impl Breaker {
    /// The current recovery timeout: doubles with each opening, capped.
    pub fn recovery_timeout(&self, s: &BreakerSettings) -> Duration {
        let factor = 2u32.saturating_pow(self.openings.saturating_sub(1).min(16));
        s.recovery.saturating_mul(factor).min(s.max_recovery)
    }

    /// Time left until the next trial, while open.
    pub fn until_trial(&self, s: &BreakerSettings, now: DateTime<Utc>) -> Option<Duration> {
        match (self.state, self.opened_at) {
            (CircuitState::Open, Some(opened)) => {
                let elapsed = (now - opened).to_std().unwrap_or(Duration::ZERO);
                Some(self.recovery_timeout(s).saturating_sub(elapsed))
            }
            _ => None,
        }
    }

    /// May a call go out now? While open, after the timeout, exactly one trial call may.
    pub fn allow(&mut self, s: &BreakerSettings, now: DateTime<Utc>) -> bool {
        match self.state {
            CircuitState::Closed => true,
            CircuitState::HalfOpen => {
                if self.trial_in_flight {
                    false
                } else {
                    self.trial_in_flight = true;
                    true
                }
            }
            CircuitState::Open => {
                if self.until_trial(s, now).is_some_and(|d| d.is_zero()) {
                    self.state = CircuitState::HalfOpen;
                    self.trial_in_flight = true;
                    true
                } else {
                    false
                }
            }
        }
    }

    pub fn record_success(&mut self, now: DateTime<Utc>) {
        self.state = CircuitState::Closed;
        self.consecutive_failures = 0;
        self.openings = 0;
        self.opened_at = None;
        self.last_success = Some(now);
        self.last_error = None;
        self.trial_in_flight = false;
    }

    pub fn record_failure(&mut self, s: &BreakerSettings, now: DateTime<Utc>, error: &str) {
        self.consecutive_failures += 1;
        self.last_error = Some(error.to_owned());
        self.trial_in_flight = false;
        let trip = match self.state {
            CircuitState::HalfOpen => true,
            CircuitState::Closed => self.consecutive_failures >= s.failure_threshold,
            CircuitState::Open => false,
        };
        if trip {
            self.state = CircuitState::Open;
            self.openings += 1;
            self.opened_at = Some(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::clock::{Clock, ManualClock};
    use chrono::TimeZone;

    #[test]
    fn opens_after_three_failures_and_recovers_through_one_trial() {
        let s = BreakerSettings::default();
        let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
        let mut b = Breaker::default();
        for _ in 0..2 {
            assert!(b.allow(&s, clock.now()));
            b.record_failure(&s, clock.now(), "down");
        }
        assert_eq!(b.state, CircuitState::Closed);
        b.record_failure(&s, clock.now(), "down");
        assert_eq!(b.state, CircuitState::Open);
        assert!(!b.allow(&s, clock.now()));
        assert_eq!(
            b.until_trial(&s, clock.now()),
            Some(Duration::from_secs(60))
        );

        clock.advance(Duration::from_secs(59));
        assert!(!b.allow(&s, clock.now()));
        assert_eq!(b.until_trial(&s, clock.now()), Some(Duration::from_secs(1)));
        clock.advance(Duration::from_secs(1));
        assert!(b.allow(&s, clock.now()), "the trial call");
        assert_eq!(b.state, CircuitState::HalfOpen);
        assert!(!b.allow(&s, clock.now()), "only one trial at a time");
        b.record_success(clock.now());
        assert_eq!(b.state, CircuitState::Closed);
        assert_eq!(b.consecutive_failures, 0);
        assert_eq!(b.last_success, Some(clock.now()));
    }

    #[test]
    fn a_failed_trial_reopens_for_longer_up_to_the_cap() {
        let s = BreakerSettings::default();
        let clock = ManualClock::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap());
        let mut b = Breaker::default();
        for _ in 0..3 {
            b.record_failure(&s, clock.now(), "down");
        }
        let mut expected = [60, 120, 240, 480, 900, 900].into_iter();
        let mut timeout = expected.next().unwrap();
        loop {
            assert_eq!(b.recovery_timeout(&s), Duration::from_secs(timeout));
            clock.advance(Duration::from_secs(timeout));
            assert!(b.allow(&s, clock.now()));
            b.record_failure(&s, clock.now(), "still down");
            assert_eq!(b.state, CircuitState::Open);
            match expected.next() {
                Some(next) => timeout = next,
                None => break,
            }
        }
    }

    #[test]
    fn one_item_level_success_resets_the_count() {
        let s = BreakerSettings::default();
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let mut b = Breaker::default();
        b.record_failure(&s, now, "x");
        b.record_failure(&s, now, "x");
        b.record_success(now);
        b.record_failure(&s, now, "x");
        b.record_failure(&s, now, "x");
        assert_eq!(b.state, CircuitState::Closed);
    }
}
