//! Keeping a provider's transfer list small: a transfer no download follows any more (a
//! cancelled, paused, failed-over or finished download's) is cancelled until the provider shows
//! it ended, then removed from its list. slskd cancels asynchronously and never clears by
//! itself, so without this its list grows with every download. Decisions only.

use std::time::Duration;

use super::provider::{Transfer, TransferState};
use crate::store::Released;

/// How many polls in a row a released transfer may be missing before it is forgotten (it was
/// removed, or superseded by a re-enqueue of its file).
pub const FORGET_AFTER_MISSING_POLLS: u32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TidyStep {
    /// Still running at the provider, and cancelled recently enough: wait.
    Wait,
    /// Still running (or the provider would retry it): cancel it (again).
    Cancel,
    /// It ended: drop it from the provider's list.
    Remove,
    /// It ended and the operator keeps finished transfers listed, or it is gone: forget it.
    Forget,
    /// Not listed this time: count it.
    Missing,
}

/// Whether the provider is done with a transfer: it will not move again by itself.
pub(super) fn over(t: &Transfer) -> bool {
    match t.state {
        TransferState::Succeeded | TransferState::Cancelled => true,
        TransferState::Failed => !t.failure.as_ref().is_some_and(|f| f.provider_may_retry),
        _ => false,
    }
}

pub(super) fn tidy_step(
    entry: &Released,
    listed: Option<&Transfer>,
    remove_finished: bool,
    recancel_after: Duration,
    now_ms: i64,
) -> TidyStep {
    let Some(t) = listed else {
        return if entry.missing_polls + 1 >= FORGET_AFTER_MISSING_POLLS {
            TidyStep::Forget
        } else {
            TidyStep::Missing
        };
    };
    if over(t) {
        return if remove_finished {
            TidyStep::Remove
        } else {
            TidyStep::Forget
        };
    }
    let recancel_ms = i64::try_from(recancel_after.as_millis()).unwrap_or(i64::MAX);
    match entry.cancelled_at_ms {
        Some(at) if now_ms.saturating_sub(at) < recancel_ms => TidyStep::Wait,
        _ => TidyStep::Cancel,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::provider::{FailureReason, TransferFailure};

    fn entry(cancelled_at_ms: Option<i64>, missing_polls: u32) -> Released {
        Released {
            peer: "p".into(),
            filename: "f".into(),
            since_ms: 0,
            ended: false,
            missing_polls,
            cancelled_at_ms,
        }
    }

    fn listed(state: TransferState, may_retry: bool) -> Transfer {
        Transfer {
            external_id: "x".into(),
            peer: "p".into(),
            filename: "f".into(),
            size: None,
            bytes_transferred: 0,
            speed_bytes_per_sec: 0.0,
            queue_position: None,
            state,
            failure: (state == TransferState::Failed).then(|| TransferFailure {
                reason: FailureReason::Errored,
                message: String::new(),
                provider_may_retry: may_retry,
            }),
            state_detail: None,
            requested_at: None,
            local_path: None,
        }
    }

    #[test]
    fn steps() {
        use TidyStep::*;
        use TransferState::*;
        let every = Duration::from_secs(30);
        let now = 100_000;
        // (case, entry, listed, remove_finished, expected)
        let cases: Vec<(&str, Released, Option<Transfer>, bool, TidyStep)> = vec![
            (
                "finished",
                entry(None, 0),
                Some(listed(Succeeded, false)),
                true,
                Remove,
            ),
            (
                "cancelled, done",
                entry(Some(now), 0),
                Some(listed(Cancelled, false)),
                true,
                Remove,
            ),
            (
                "failed for good",
                entry(None, 0),
                Some(listed(Failed, false)),
                true,
                Remove,
            ),
            (
                "kept listed by the operator",
                entry(None, 0),
                Some(listed(Succeeded, false)),
                false,
                Forget,
            ),
            (
                "cancel still under way",
                entry(Some(now - 1_000), 0),
                Some(listed(InProgress, false)),
                true,
                Wait,
            ),
            (
                "never cancelled",
                entry(None, 0),
                Some(listed(QueuedRemotely, false)),
                true,
                Cancel,
            ),
            (
                "cancel lost",
                entry(Some(now - 31_000), 0),
                Some(listed(InProgress, false)),
                true,
                Cancel,
            ),
            (
                "the provider would retry it",
                entry(Some(now - 31_000), 0),
                Some(listed(Failed, true)),
                true,
                Cancel,
            ),
            (
                "unknown state",
                entry(Some(now - 1), 0),
                Some(listed(Unknown, false)),
                true,
                Wait,
            ),
            ("not listed once", entry(None, 0), None, true, Missing),
            ("not listed twice", entry(None, 1), None, true, Forget),
        ];
        for (case, e, t, remove, want) in cases {
            assert_eq!(
                tidy_step(&e, t.as_ref(), remove, every, now),
                want,
                "{case}"
            );
        }
    }
}
