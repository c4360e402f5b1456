//! The state machine: every status change goes through [`check`], against one explicit table.

use super::download::Status;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a {from} download cannot become {to}")]
pub struct IllegalTransition {
    pub from: Status,
    pub to: Status,
}

/// The allowed changes. Terminal states (completed, failed, cancelled) leave only through a
/// user's retry, back to waiting; nothing a provider reports can move them.
pub fn allowed(from: Status, to: Status) -> bool {
    use Status::*;
    match from {
        Waiting => matches!(to, Pending | Paused | Cancelled | Failed),
        // Pending → Waiting: a search or dispatch interrupted (crash, breaker) starts over.
        Pending => matches!(
            to,
            Waiting | Queued | Downloading | Stalled | Paused | Cancelled | Completed | Failed
        ),
        // Downloading → Queued: the provider retries a transfer by itself (slskd 0.26).
        Queued => matches!(
            to,
            Waiting | Downloading | Stalled | Paused | Cancelled | Completed | Failed
        ),
        Downloading => matches!(
            to,
            Waiting | Queued | Stalled | Paused | Cancelled | Completed | Failed
        ),
        Stalled => matches!(
            to,
            Waiting | Queued | Downloading | Paused | Cancelled | Completed | Failed
        ),
        // Paused → Queued: a transfer the provider held while paused carries on.
        Paused => matches!(to, Waiting | Queued | Cancelled),
        Failed | Cancelled => matches!(to, Waiting),
        Completed => false,
    }
}

/// Checks one change; staying in the same state is not a transition and is always allowed.
pub fn check(from: Status, to: Status) -> Result<(), IllegalTransition> {
    if from == to || allowed(from, to) {
        Ok(())
    } else {
        Err(IllegalTransition { from, to })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Status::*;

    /// The whole table, written out once more by hand: (from, every allowed target).
    const EXPECTED: &[(Status, &[Status])] = &[
        (Waiting, &[Pending, Paused, Cancelled, Failed]),
        (
            Pending,
            &[
                Waiting,
                Queued,
                Downloading,
                Stalled,
                Paused,
                Cancelled,
                Completed,
                Failed,
            ],
        ),
        (
            Queued,
            &[
                Waiting,
                Downloading,
                Stalled,
                Paused,
                Cancelled,
                Completed,
                Failed,
            ],
        ),
        (
            Downloading,
            &[
                Waiting, Queued, Stalled, Paused, Cancelled, Completed, Failed,
            ],
        ),
        (
            Stalled,
            &[
                Waiting,
                Queued,
                Downloading,
                Paused,
                Cancelled,
                Completed,
                Failed,
            ],
        ),
        (Paused, &[Waiting, Queued, Cancelled]),
        (Completed, &[]),
        (Failed, &[Waiting]),
        (Cancelled, &[Waiting]),
    ];

    #[test]
    fn every_pair_is_allowed_or_refused_as_the_table_says() {
        let mut checked = 0;
        for (from, targets) in EXPECTED {
            for to in Status::ALL {
                let expected = *from == to || targets.contains(&to);
                assert_eq!(check(*from, to).is_ok(), expected, "{from} -> {to}");
                checked += 1;
            }
        }
        assert_eq!(checked, 81);
    }

    #[test]
    fn terminal_states_only_leave_by_retry() {
        for from in [Completed, Failed, Cancelled] {
            for to in [
                Pending,
                Queued,
                Downloading,
                Stalled,
                Completed,
                Failed,
                Cancelled,
                Paused,
            ] {
                if from != to {
                    assert!(check(from, to).is_err(), "{from} -> {to}");
                }
            }
        }
        let err = check(Completed, Waiting).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a completed download cannot become waiting"
        );
    }
}
