//! slskd's `TransferStates` flags, read flag by flag (never by exact string), mapped to the
//! neutral transfer states of the WIT.

use tributary_plugin_sdk::{FailureReason, TransferFailure, TransferState};

/// The flags of one state string, e.g. `"Completed, Succeeded"`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Flags {
    pub requested: bool,
    pub queued: bool,
    pub initializing: bool,
    pub in_progress: bool,
    pub completed: bool,
    pub succeeded: bool,
    pub cancelled: bool,
    pub timed_out: bool,
    pub errored: bool,
    pub rejected: bool,
    pub aborted: bool,
    pub locally: bool,
    pub remotely: bool,
}

impl Flags {
    /// Parses the comma-joined names; unknown names are returned so the caller can log them.
    pub fn parse(state: &str) -> (Flags, Vec<String>) {
        let mut f = Flags::default();
        let mut unknown = Vec::new();
        for name in state.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name.to_ascii_lowercase().as_str() {
                "none" => {}
                "requested" => f.requested = true,
                "queued" => f.queued = true,
                "initializing" => f.initializing = true,
                "inprogress" => f.in_progress = true,
                "completed" => f.completed = true,
                "succeeded" => f.succeeded = true,
                "cancelled" => f.cancelled = true,
                "timedout" => f.timed_out = true,
                "errored" => f.errored = true,
                "rejected" => f.rejected = true,
                "aborted" => f.aborted = true,
                "locally" => f.locally = true,
                "remotely" => f.remotely = true,
                _ => unknown.push(name.to_owned()),
            }
        }
        (f, unknown)
    }
}

/// slskd 0.26 retries errored and timed-out downloads this many times by default
/// (`transfers.download.retry.attempts`; the plugin's `retry_attempts` setting follows it).
pub const SLSKD_DEFAULT_ATTEMPTS: u32 = 3;

/// slskd writes this exception when it marks in-flight downloads failed at startup; it then
/// re-enqueues the same files under new ids.
pub const SHUTDOWN_MESSAGE: &str = "Application shut down";

/// Maps one transfer's state (plus its exception and attempts) to the neutral state.
pub fn neutral_state(
    flags: Flags,
    exception: Option<&str>,
    attempts: Option<u32>,
    max_attempts: u32,
) -> (TransferState, Option<TransferFailure>) {
    let message = exception.unwrap_or_default().to_owned();
    // 0.26 may retry errored/timed-out transfers by itself; older versions (no `attempts`) never do.
    let may_retry = attempts.is_some_and(|a| a < max_attempts);
    let failed = |reason, provider_may_retry| {
        (
            TransferState::Failed,
            Some(TransferFailure {
                reason,
                message: message.clone(),
                provider_may_retry,
            }),
        )
    };
    if flags.completed {
        return if flags.succeeded {
            (TransferState::Succeeded, None)
        } else if flags.cancelled {
            (TransferState::Cancelled, None)
        } else if flags.rejected {
            failed(FailureReason::Rejected, false)
        } else if flags.aborted {
            failed(FailureReason::SizeMismatch, false)
        } else if flags.timed_out {
            failed(FailureReason::TimedOut, may_retry)
        } else if message == SHUTDOWN_MESSAGE {
            failed(FailureReason::ProviderRestarted, true)
        } else if message.contains("appears to be offline") {
            // The state says Errored for an offline peer; only the message tells them apart,
            // and a wrong guess only changes which retry is tried first.
            failed(FailureReason::PeerOffline, may_retry)
        } else {
            failed(FailureReason::Errored, may_retry)
        };
    }
    let state = if flags.in_progress {
        TransferState::InProgress
    } else if flags.initializing {
        TransferState::Initializing
    } else if flags.queued && flags.remotely {
        TransferState::QueuedRemotely
    } else if flags.requested {
        TransferState::Requested
    } else {
        // "Queued", "Queued, Locally", or "None" just before the first callback.
        TransferState::QueuedLocally
    };
    (state, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(state: &str) -> (TransferState, Option<FailureReason>) {
        let (flags, unknown) = Flags::parse(state);
        assert!(unknown.is_empty(), "{unknown:?}");
        let (s, f) = neutral_state(flags, None, Some(3), SLSKD_DEFAULT_ATTEMPTS);
        (s, f.map(|f| f.reason))
    }

    #[test]
    fn every_state_seen_in_practice_maps() {
        use FailureReason as R;
        use TransferState as S;
        let cases = [
            ("None", S::QueuedLocally, None),
            ("Requested", S::Requested, None),
            ("Queued", S::QueuedLocally, None),
            ("Queued, Locally", S::QueuedLocally, None),
            ("Queued, Remotely", S::QueuedRemotely, None),
            ("Initializing", S::Initializing, None),
            ("InProgress", S::InProgress, None),
            ("Completed, Succeeded", S::Succeeded, None),
            ("Completed, Cancelled", S::Cancelled, None),
            ("Completed, TimedOut", S::Failed, Some(R::TimedOut)),
            ("Completed, Errored", S::Failed, Some(R::Errored)),
            ("Completed, Rejected", S::Failed, Some(R::Rejected)),
            ("Completed, Aborted", S::Failed, Some(R::SizeMismatch)),
            ("Completed", S::Failed, Some(R::Errored)),
        ];
        for (text, state, reason) in cases {
            assert_eq!(map(text), (state, reason), "{text}");
        }
    }

    #[test]
    fn flags_are_read_one_by_one_in_any_order_and_case() {
        assert_eq!(map("Succeeded,Completed"), (TransferState::Succeeded, None));
        assert_eq!(
            map("remotely, QUEUED"),
            (TransferState::QueuedRemotely, None)
        );
        let (_, unknown) = Flags::parse("Completed, Teleported");
        assert_eq!(unknown, vec!["Teleported"]);
    }

    #[test]
    fn the_retry_hint_follows_slskds_configured_attempts() {
        let (flags, _) = Flags::parse("Completed, TimedOut");
        let hint = |attempts, max| {
            neutral_state(flags, Some("x"), Some(attempts), max)
                .1
                .unwrap()
                .provider_may_retry
        };
        assert!(hint(1, 3));
        assert!(!hint(3, 3));
        assert!(hint(3, 5));
        assert!(!hint(1, 1), "retries switched off in slskd");
    }

    #[test]
    fn retry_hints_follow_attempts_and_restarts() {
        let (flags, _) = Flags::parse("Completed, Errored");
        let (_, f) = neutral_state(flags, Some("Transfer failed"), Some(1), 3);
        assert!(f.unwrap().provider_may_retry);
        let (_, f) = neutral_state(flags, Some("Transfer failed"), None, 3);
        assert!(
            !f.unwrap().provider_may_retry,
            "pre-0.25 slskd never retries"
        );
        let (_, f) = neutral_state(flags, Some("Application shut down"), Some(3), 3);
        let f = f.unwrap();
        assert_eq!(f.reason, FailureReason::ProviderRestarted);
        assert!(f.provider_may_retry);
        let (_, f) = neutral_state(flags, Some("User x appears to be offline"), Some(3), 3);
        assert_eq!(f.unwrap().reason, FailureReason::PeerOffline);
        let (flags, _) = Flags::parse("Completed, Rejected");
        let (_, f) = neutral_state(
            flags,
            Some("Transfer rejected: File not shared."),
            Some(1),
            3,
        );
        assert!(
            !f.unwrap().provider_may_retry,
            "rejections are never retried by slskd"
        );
    }
}
