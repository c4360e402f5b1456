//! Per-provider gates on calls: a provider that answers "slow down" (slskd's 429 from its
//! concurrency guards) gets no call of the same kind until a growing, jittered wait has passed;
//! a provider our own configuration refuses gets no call until the operator acts or a while has
//! passed. Decisions only: the caller holds the clock and the state.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

/// Kinds of provider calls that are held back separately: a rate-limited search must not stop
/// the transfer list from being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CallKind {
    Search,
    Enqueue,
    List,
    /// Cancel, remove, pause, resume, queue position.
    Control,
}

impl CallKind {
    pub const ALL: [CallKind; 4] = [
        CallKind::Search,
        CallKind::Enqueue,
        CallKind::List,
        CallKind::Control,
    ];
}

/// The first wait after a "slow down", doubled for each one in a row.
pub const FIRST_WAIT: Duration = Duration::from_secs(1);
/// The longest wait.
pub const MAX_WAIT: Duration = Duration::from_secs(60);
/// How long calls wait after our own configuration refused one (the operator has to act; a
/// reload or a reconnect opens the gate at once).
pub const MISCONFIGURED_WAIT: Duration = Duration::from_secs(30);

/// The wait after the `streak`-th "slow down" in a row (1-based), with `unit` in [0, 1)
/// choosing ±25 % of jitter, so many waiting downloads do not come back in lockstep.
pub fn rate_limit_wait(streak: u32, unit: f64) -> Duration {
    let doubled = FIRST_WAIT.saturating_mul(2u32.saturating_pow(streak.saturating_sub(1).min(16)));
    let base = doubled.min(MAX_WAIT);
    let factor = 0.75 + 0.5 * unit.clamp(0.0, 1.0);
    base.mul_f64(factor)
}

#[derive(Debug, Clone, Default)]
struct Gate {
    not_before: Option<DateTime<Utc>>,
    streak: u32,
}

/// One provider's gates.
#[derive(Debug, Clone, Default)]
pub struct CallGates {
    gates: HashMap<CallKind, Gate>,
}

impl CallGates {
    /// May a call of this kind go out at `now`?
    pub fn open(&self, kind: CallKind, now: DateTime<Utc>) -> bool {
        self.gates
            .get(&kind)
            .and_then(|g| g.not_before)
            .is_none_or(|at| at <= now)
    }

    /// When the gate opens again, if it is shut at `now`.
    pub fn opens_at(&self, kind: CallKind, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.gates
            .get(&kind)
            .and_then(|g| g.not_before)
            .filter(|at| *at > now)
    }

    /// The provider asked us to slow down: shut this kind for a growing wait; returns it.
    pub fn rate_limited(&mut self, kind: CallKind, now: DateTime<Utc>, unit: f64) -> Duration {
        let gate = self.gates.entry(kind).or_default();
        gate.streak = gate.streak.saturating_add(1);
        let wait = rate_limit_wait(gate.streak, unit);
        gate.not_before = Some(now + wait);
        wait
    }

    /// Our configuration refused a call: shut every kind for a while.
    pub fn misconfigured(&mut self, now: DateTime<Utc>) {
        for kind in CallKind::ALL {
            self.gates.entry(kind).or_default().not_before = Some(now + MISCONFIGURED_WAIT);
        }
    }

    /// A call of this kind went through: the next "slow down" starts the waits afresh.
    pub fn succeeded(&mut self, kind: CallKind) {
        if let Some(g) = self.gates.get_mut(&kind) {
            g.streak = 0;
        }
    }

    /// Opens every gate (the operator asked to reconnect, or the plugin was reloaded).
    pub fn reset(&mut self) {
        self.gates.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_with_the_streak_within_jitter_and_cap() {
        let cases = [
            (1, 0.5, 1.0),
            (2, 0.5, 2.0),
            (3, 0.5, 4.0),
            (6, 0.5, 32.0),
            (7, 0.5, 60.0),
            (40, 0.5, 60.0),
            (1, 0.0, 0.75),
            (1, 0.999_999, 1.25),
            (7, 0.0, 45.0),
        ];
        for (streak, unit, secs) in cases {
            let got = rate_limit_wait(streak, unit).as_secs_f64();
            assert!(
                (got - secs).abs() < 0.01,
                "streak {streak}, unit {unit}: {got}"
            );
        }
    }

    #[test]
    fn a_shut_gate_opens_after_its_wait_and_success_resets_the_streak() {
        let now = DateTime::UNIX_EPOCH;
        let mut g = CallGates::default();
        assert!(g.open(CallKind::Enqueue, now));
        let first = g.rate_limited(CallKind::Enqueue, now, 0.5);
        assert!(!g.open(CallKind::Enqueue, now));
        assert!(g.open(CallKind::List, now), "other kinds are not held");
        assert!(g.open(CallKind::Enqueue, now + first));
        let second = g.rate_limited(CallKind::Enqueue, now, 0.5);
        assert!(second > first);
        g.succeeded(CallKind::Enqueue);
        assert_eq!(g.rate_limited(CallKind::Enqueue, now, 0.5), first);
        g.misconfigured(now);
        assert!(CallKind::ALL.iter().all(|k| !g.open(*k, now)));
        g.reset();
        assert!(CallKind::ALL.iter().all(|k| g.open(*k, now)));
    }
}
