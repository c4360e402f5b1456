//! One download record moving through slskd's lifecycle, its peer deciding how:
//! `Queued, Locally` → `Requested` → `Queued, Remotely` → `Initializing` → `InProgress` →
//! `Completed, *`. On top of the peer's behaviour come slskd's own doings: the asynchronous
//! cancel of a `DELETE`, and the 0.26 automatic retries of errored and timed-out attempts.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::clock::Clock;
use crate::peers::{Behaviour, Peer, stable_hash};
use crate::settings::{Retry, Timings};

/// Where a simulated transfer is in slskd's lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    QueuedLocally,
    Requested,
    QueuedRemotely,
    Initializing,
    InProgress,
    Succeeded,
    Cancelled,
    TimedOut,
    Errored,
    Rejected,
    Aborted,
}

impl Phase {
    /// slskd's flags string for the phase.
    pub fn state(self) -> &'static str {
        match self {
            Phase::QueuedLocally => "Queued, Locally",
            Phase::Requested => "Requested",
            Phase::QueuedRemotely => "Queued, Remotely",
            Phase::Initializing => "Initializing",
            Phase::InProgress => "InProgress",
            Phase::Succeeded => "Completed, Succeeded",
            Phase::Cancelled => "Completed, Cancelled",
            Phase::TimedOut => "Completed, TimedOut",
            Phase::Errored => "Completed, Errored",
            Phase::Rejected => "Completed, Rejected",
            Phase::Aborted => "Completed, Aborted",
        }
    }

    /// Whether the state carries the `Completed` flag (which a failed attempt awaiting its
    /// retry does too).
    pub fn is_completed(self) -> bool {
        matches!(
            self,
            Phase::Succeeded
                | Phase::Cancelled
                | Phase::TimedOut
                | Phase::Errored
                | Phase::Rejected
                | Phase::Aborted
        )
    }

    /// The failures slskd 0.26 retries.
    fn is_retried(self) -> bool {
        matches!(self, Phase::Errored | Phase::TimedOut)
    }
}

/// The message of a cancelled transfer.
pub const CANCELLED: &str = "The operation was canceled.";
/// The message of a transfer interrupted by an slskd restart.
pub const SHUT_DOWN: &str = "Application shut down";

/// The parts of the world a transfer needs to move.
#[derive(Debug, Clone, Copy)]
pub struct Context {
    pub clock: Clock,
    pub timings: Timings,
    pub retry: Retry,
}

impl Context {
    fn scaled(&self, d: Duration) -> Duration {
        self.clock.scaled(d)
    }
}

#[derive(Debug, Clone)]
pub struct SimTransfer {
    pub id: Uuid,
    pub username: String,
    pub filename: String,
    pub size: i64,
    pub phase: Phase,
    pub requested_at: DateTime<Utc>,
    pub enqueued_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub ended_at: Option<DateTime<Utc>>,
    pub bytes: f64,
    pub average_speed: f64,
    /// Set by `GET .../position`; dropped at the next state change.
    pub place_in_queue: Option<u32>,
    pub exception: Option<String>,
    pub attempts: u32,
    pub removed: bool,
    behaviour: Behaviour,
    /// Queue position the peer starts from (its queue length).
    queue_length: u32,
    speed: f64,
    /// When the current phase began (monotonic).
    phase_since: Instant,
    /// Extra wait in `Queued, Locally` before the next attempt (the retry backoff).
    hold: Duration,
    /// Bytes already on disk when the current attempt began (slskd resumes partial files).
    resumed_from: f64,
    /// A `DELETE` asked to cancel at this moment; it lands [`Timings::cancel`] later.
    cancel_requested: Option<Instant>,
    /// A failed attempt will be retried: it goes back to `Queued, Locally` at this moment.
    retry_at: Option<Instant>,
}

/// What happens next to a transfer, and when.
enum Step {
    Attempt,
    Reject,
    TimeOut,
    QueueRemotely,
    Initialize,
    Start,
    Abort,
    Drop,
    Succeed,
    Retry,
    Cancel,
}

impl SimTransfer {
    pub fn new(peer: &Peer, filename: &str, size: i64, now: Instant, clock: &Clock) -> Self {
        SimTransfer {
            id: Uuid::new_v4(),
            username: peer.username.clone(),
            filename: filename.to_owned(),
            size,
            phase: Phase::QueuedLocally,
            requested_at: clock.wall(now),
            enqueued_at: None,
            started_at: None,
            ended_at: None,
            bytes: 0.0,
            average_speed: 0.0,
            place_in_queue: None,
            exception: None,
            attempts: 0,
            removed: false,
            behaviour: peer.behaviour,
            queue_length: u32::try_from(peer.queue_length.max(0)).unwrap_or(u32::MAX),
            speed: peer.send_speed,
            phase_since: now,
            hold: Duration::ZERO,
            resumed_from: 0.0,
            cancel_requested: None,
            retry_at: None,
        }
    }

    pub fn behaviour(&self) -> Behaviour {
        self.behaviour
    }

    /// Nothing more will happen to it: a `Completed` state with no retry or cancel pending.
    pub fn is_final(&self) -> bool {
        self.phase.is_completed() && self.retry_at.is_none() && self.cancel_requested.is_none()
    }

    /// `DELETE ...?remove=false` (or `remove=true` on a transfer not yet completed): the
    /// cancel lands a moment later, unless the transfer ends by itself first.
    pub fn request_cancel(&mut self, now: Instant) {
        if !self.is_final() && self.cancel_requested.is_none() {
            self.cancel_requested = Some(now);
        }
    }

    /// Soft removal of a completed record; a failed attempt's pending retry dies with it.
    pub fn remove(&mut self) {
        self.removed = true;
        self.retry_at = None;
    }

    /// Ends it for good, whatever was pending (a restart).
    pub fn interrupt(&mut self, exception: &str, now: Instant, cx: &Context) {
        self.cancel_requested = None;
        self.retry_at = None;
        self.finish(Phase::Errored, Some(exception), now, cx);
    }

    /// The peer's current queue position for this file, if the peer answers.
    pub fn queue_position(&self, now: Instant, cx: &Context) -> Option<u32> {
        if self.phase != Phase::QueuedRemotely || self.behaviour == Behaviour::TimeOut {
            // Peers only answer for files in their upload queue.
            return None;
        }
        Some(match self.behaviour {
            Behaviour::QueueForever => self.queue_length,
            Behaviour::SlowQueue => {
                // Falls steadily from the queue length to 0 over the queue wait.
                let wait = cx.scaled(cx.timings.slow_queue).as_secs_f64().max(1e-9);
                let left = 1.0 - now.duration_since(self.phase_since).as_secs_f64() / wait;
                (f64::from(self.queue_length) * left.clamp(0.0, 1.0)).ceil() as u32
            }
            _ => 0,
        })
    }

    fn enter(&mut self, phase: Phase, at: Instant) {
        self.phase = phase;
        self.phase_since = at;
        self.place_in_queue = None;
    }

    fn finish(&mut self, phase: Phase, exception: Option<&str>, at: Instant, cx: &Context) {
        let wall = cx.clock.wall(at);
        self.enter(phase, at);
        self.ended_at = Some(wall);
        self.started_at.get_or_insert(wall);
        self.exception = exception.map(str::to_owned);
    }

    /// A failed attempt: final, or shown for a while before slskd retries it.
    fn fail(&mut self, phase: Phase, exception: &str, at: Instant, cx: &Context) {
        self.finish(phase, Some(exception), at, cx);
        if phase.is_retried() && self.attempts < cx.retry.attempts && !self.removed {
            self.retry_at = Some(at + cx.scaled(cx.timings.failed_attempt_visible));
        }
    }

    /// The byte count the current attempt reaches before the peer stops or finishes.
    fn byte_limit(&self) -> f64 {
        let size = self.size.max(0) as f64;
        match self.behaviour {
            Behaviour::ErrorMidway => size * 0.4,
            Behaviour::Stall => size * 0.3,
            _ => size,
        }
    }

    fn speed(&self, cx: &Context) -> f64 {
        self.speed * cx.clock.speed_factor()
    }

    /// The peer's next move in the current phase, if any.
    fn next_step(&self, cx: &Context) -> Option<(Instant, Step)> {
        let t = &cx.timings;
        let since = self.phase_since;
        let after = |d: Duration| since + cx.scaled(d);
        match self.phase {
            Phase::QueuedLocally => Some((
                after(t.queued_locally) + cx.scaled(self.hold),
                Step::Attempt,
            )),
            Phase::Requested => Some(match self.behaviour {
                Behaviour::Reject => (after(t.requested), Step::Reject),
                Behaviour::TimeOut => (after(t.time_out_after), Step::TimeOut),
                _ => (after(t.requested), Step::QueueRemotely),
            }),
            Phase::QueuedRemotely => match self.behaviour {
                Behaviour::QueueForever => None,
                Behaviour::SlowQueue => Some((after(t.slow_queue), Step::Initialize)),
                _ => Some((after(t.queued_remotely), Step::Initialize)),
            },
            Phase::Initializing => {
                let step = if self.behaviour == Behaviour::SizeMismatch {
                    Step::Abort
                } else {
                    Step::Start
                };
                Some((after(t.initializing), step))
            }
            Phase::InProgress => {
                let left = (self.byte_limit() - self.resumed_from).max(0.0);
                let at = since + Duration::from_secs_f64(left / self.speed(cx).max(1e-9));
                match self.behaviour {
                    Behaviour::Stall => None,
                    Behaviour::ErrorMidway => Some((at, Step::Drop)),
                    _ => Some((at, Step::Succeed)),
                }
            }
            _ => self.retry_at.map(|at| (at, Step::Retry)),
        }
    }

    /// Moves through the lifecycle up to `now`, one event at a time in time order.
    pub fn advance(&mut self, now: Instant, cx: &Context) {
        loop {
            let natural = self.next_step(cx);
            let cancel = self
                .cancel_requested
                .map(|asked| (asked + cx.scaled(cx.timings.cancel), Step::Cancel));
            let next = match (natural, cancel) {
                (Some(n), Some(c)) => Some(if c.0 < n.0 { c } else { n }),
                (n, c) => n.or(c),
            };
            match next {
                Some((at, step)) if at <= now => {
                    self.progress(at, cx);
                    self.apply(step, at, cx);
                    if self.phase.is_completed() && self.retry_at.is_none() {
                        // It ended by itself before the cancel landed: nothing left to cancel.
                        self.cancel_requested = None;
                    }
                }
                _ => {
                    self.progress(now, cx);
                    return;
                }
            }
        }
    }

    /// Bytes and speed of a running attempt at `at`.
    fn progress(&mut self, at: Instant, cx: &Context) {
        if self.phase != Phase::InProgress {
            return;
        }
        let speed = self.speed(cx);
        let limit = self.byte_limit();
        let elapsed = at.saturating_duration_since(self.phase_since).as_secs_f64();
        self.bytes = (self.resumed_from + speed * elapsed).min(limit);
        // A stalled transfer's average decays to nothing.
        self.average_speed = if self.behaviour == Behaviour::Stall && self.bytes >= limit {
            0.0
        } else {
            speed
        };
    }

    fn apply(&mut self, step: Step, at: Instant, cx: &Context) {
        match step {
            Step::Attempt => {
                // A new attempt: what the previous one left on the record goes.
                self.attempts = self.attempts.max(1);
                self.hold = Duration::ZERO;
                self.started_at = None;
                self.ended_at = None;
                self.exception = None;
                self.enter(Phase::Requested, at);
            }
            Step::Reject => self.fail(
                Phase::Rejected,
                "Transfer rejected: File not shared.",
                at,
                cx,
            ),
            Step::TimeOut => self.fail(
                Phase::TimedOut,
                "The wait timed out after 15000 milliseconds",
                at,
                cx,
            ),
            Step::QueueRemotely => {
                self.enqueued_at.get_or_insert(cx.clock.wall(at));
                self.enter(Phase::QueuedRemotely, at);
            }
            Step::Initialize => self.enter(Phase::Initializing, at),
            Step::Abort => {
                let message = format!(
                    "Transfer aborted: the remote size of {} does not match expected size {}",
                    self.size + 1,
                    self.size
                );
                self.fail(Phase::Aborted, &message, at, cx);
            }
            Step::Start => {
                self.started_at = Some(cx.clock.wall(at));
                self.resumed_from = self.bytes;
                self.enter(Phase::InProgress, at);
            }
            Step::Drop => self.fail(
                Phase::Errored,
                "Transfer failed: Remote connection closed",
                at,
                cx,
            ),
            Step::Succeed => {
                // Every byte, exactly: the step's moment is rounded to whole nanoseconds, which
                // can leave the computed count a hair short of the size.
                self.bytes = self.byte_limit();
                self.finish(Phase::Succeeded, None, at, cx);
            }
            Step::Retry => {
                // slskd's onRetry: back to `Queued, Locally`, one attempt more; `endedAt` and
                // the exception stay until the next attempt starts.
                self.retry_at = None;
                let failures = self.attempts;
                self.attempts += 1;
                let jitter =
                    (stable_hash(&format!("{}|{failures}", self.id)) % 1000) as f64 / 1000.0;
                self.hold = cx.retry.backoff(failures, jitter);
                self.enter(Phase::QueuedLocally, at);
            }
            Step::Cancel => {
                self.retry_at = None;
                self.finish(Phase::Cancelled, Some(CANCELLED), at, cx);
            }
        }
    }
}
