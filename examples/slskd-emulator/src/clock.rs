//! Simulated time. The world runs on monotonic `Instant`s and advances lazily, so an event (a
//! transfer ending, a search timing out) usually happens "in the past" of the request that
//! notices it. The wire must still show when it happened, not when it was noticed: the clock
//! maps an instant back to the wall-clock moment it stands for.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: Instant,
    wall_origin: DateTime<Utc>,
    speed_factor: f64,
}

impl Clock {
    pub fn new(speed_factor: f64) -> Clock {
        Clock {
            origin: Instant::now(),
            wall_origin: Utc::now(),
            // A zero or negative factor would make every wait infinite.
            speed_factor: speed_factor.max(0.001),
        }
    }

    /// The moment the emulator started; a time before anything happened.
    pub fn origin(&self) -> Instant {
        self.origin
    }

    pub fn speed_factor(&self) -> f64 {
        self.speed_factor
    }

    /// The wall-clock time `at` stands for, on the simulated slskd's clock: it runs
    /// `speed_factor` times as fast as ours, so the durations the wire shows (a search's
    /// `endedAt - startedAt`, a transfer's `elapsedTime`) are slskd's, as a client judges them.
    pub fn wall(&self, at: Instant) -> DateTime<Utc> {
        match at.checked_duration_since(self.origin) {
            Some(after) => self.wall_origin + after.mul_f64(self.speed_factor),
            None => self.wall_origin - self.origin.duration_since(at).mul_f64(self.speed_factor),
        }
    }

    /// A duration of the simulated slskd, shortened by the speed factor.
    pub fn scaled(&self, d: Duration) -> Duration {
        d.div_f64(self.speed_factor)
    }
}
