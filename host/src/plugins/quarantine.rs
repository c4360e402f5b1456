//! Crash-loop protection: a plugin that traps on several calls in a row is not called for a
//! while, longer each time it keeps crashing.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Traps in a row that put a plugin in quarantine.
const THRESHOLD: u32 = 3;
const FIRST: Duration = Duration::from_secs(2);
const LONGEST: Duration = Duration::from_secs(300);

#[derive(Debug, Default)]
struct State {
    crashes: u32,
    until: Option<Instant>,
}

#[derive(Debug, Default)]
pub struct Quarantine {
    state: Mutex<State>,
}

impl Quarantine {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `Err` with a message while the plugin is in quarantine.
    pub fn check(&self) -> Result<(), String> {
        let state = self.state();
        match state.until {
            Some(until) if until > Instant::now() => Err(format!(
                "quarantined after {} crashes in a row; next try in {} s",
                state.crashes,
                until.saturating_duration_since(Instant::now()).as_secs() + 1
            )),
            _ => Ok(()),
        }
    }

    /// Records how a call ended.
    pub fn record(&self, trapped: bool) {
        let mut state = self.state();
        if !trapped {
            *state = State::default();
            return;
        }
        state.crashes += 1;
        if state.crashes >= THRESHOLD {
            let doublings = (state.crashes - THRESHOLD).min(16);
            let wait = FIRST.saturating_mul(1 << doublings).min(LONGEST);
            state.until = Some(Instant::now() + wait);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_traps_in_a_row_quarantine_and_a_success_forgives() {
        let q = Quarantine::default();
        q.record(true);
        q.record(true);
        assert!(q.check().is_ok());
        q.record(true);
        let message = q.check().unwrap_err();
        assert!(message.contains("3 crashes"), "{message}");
        q.record(false);
        assert!(q.check().is_ok());
    }

    #[test]
    fn the_wait_grows_and_is_capped() {
        let q = Quarantine::default();
        for _ in 0..30 {
            q.record(true);
        }
        let until = q.state().until.unwrap();
        assert!(until.saturating_duration_since(Instant::now()) <= LONGEST);
    }
}
