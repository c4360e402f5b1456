//! What one sighting of a transfer means for its download: pure decisions (the record, what was
//! seen before, the transfer now, the time → a verdict) that the reconciler then applies.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::core::Live;
use super::download::{Download, FailureCause, Status};
use super::provider::{FailureReason, Transfer, TransferState};
use super::settings::EngineSettings;

/// Weight of the newest speed sample in the smoothed speed.
const SPEED_SMOOTHING: f64 = 0.3;

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Verdict {
    /// Move to (or stay in) `status`, saying `message`; write the progress bytes when
    /// `persist_progress`.
    Progress {
        status: Status,
        message: Option<String>,
        persist_progress: bool,
    },
    /// The whole file is there.
    Complete,
    /// The provider reports a failure it may still retry by itself: say so and wait.
    AwaitProviderRetry { note: String },
    /// The provider says something we do not understand: keep the record as it is.
    KeepUnknown { detail: String },
    /// The attempt is over. `cancel` when the transfer still runs at the provider (a stall).
    Fail {
        cause: FailureCause,
        message: String,
        cancel: bool,
    },
}

fn elapsed(since: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (now - since).to_std().unwrap_or(Duration::ZERO)
}

pub(super) fn cause_of(reason: FailureReason) -> FailureCause {
    match reason {
        FailureReason::Rejected => FailureCause::Rejected,
        FailureReason::TimedOut => FailureCause::TimedOut,
        FailureReason::Errored | FailureReason::NoSpace => FailureCause::Errored,
        FailureReason::PeerOffline => FailureCause::PeerOffline,
        FailureReason::SizeMismatch => FailureCause::SizeMismatch,
        FailureReason::ProviderRestarted => FailureCause::Vanished,
        FailureReason::NotFound => FailureCause::NotFound,
    }
}

/// Records what the transfer shows now: bytes (and when they last grew), a smoothed speed, a
/// failure's first sighting, and the queue position (and when it last fell).
pub(super) fn note(live: &mut Live, t: &Transfer, now: DateTime<Utc>) {
    live.missing_polls = 0;
    if t.bytes_transferred > live.bytes {
        live.last_progress = now;
    }
    live.bytes = t.bytes_transferred;
    live.speed = if t.state == TransferState::InProgress {
        SPEED_SMOOTHING * t.speed_bytes_per_sec + (1.0 - SPEED_SMOOTHING) * live.speed
    } else {
        0.0
    };
    match t.state {
        TransferState::Failed => {
            live.pending_failure.get_or_insert(now);
        }
        TransferState::Unknown => {}
        _ => live.pending_failure = None,
    }
    if t.state == TransferState::QueuedRemotely {
        if let Some(p) = t.queue_position {
            note_position(live, p, now);
        }
    } else {
        live.queue_position = None;
    }
}

/// A queue position, however learned: a falling one is progress.
pub(super) fn note_position(live: &mut Live, position: u32, now: DateTime<Utc>) {
    if live.queue_position.is_some_and(|before| position < before) {
        live.queue_moved_at = Some(now);
    }
    live.queue_position = Some(position);
}

/// Whether to ask the peer for the transfer's queue position now (a call to the peer: at most
/// one per transfer per `interval`).
pub(super) fn time_to_ask_position(
    live: &Live,
    t: &Transfer,
    can_ask: bool,
    interval: Duration,
    now: DateTime<Utc>,
) -> bool {
    can_ask
        && t.state == TransferState::QueuedRemotely
        && live
            .position_asked_at
            .is_none_or(|at| elapsed(at, now) >= interval)
}

fn queued_message(d: &Download, t: &Transfer, live: &Live) -> String {
    match (t.state, live.queue_position) {
        (TransferState::QueuedRemotely, Some(p)) => {
            format!("Queued at {}: position {p} in the peer's queue", t.peer)
        }
        (TransferState::QueuedRemotely, None) => format!("Queued at {}", t.peer),
        _ => format!("Queued at {}", d.provider_name),
    }
}

/// The verdict on one sighting. `live` already holds what `note` made of it.
pub(super) fn judge(
    d: &Download,
    live: &Live,
    t: &Transfer,
    s: &EngineSettings,
    now: DateTime<Utc>,
) -> Verdict {
    let target = match t.state {
        TransferState::QueuedLocally | TransferState::Requested | TransferState::QueuedRemotely => {
            Status::Queued
        }
        TransferState::Initializing | TransferState::InProgress => Status::Downloading,
        // Held at the provider (by its own user): it waits, it has not failed.
        TransferState::Paused => Status::Queued,
        TransferState::Succeeded => return Verdict::Complete,
        TransferState::Unknown => {
            return Verdict::KeepUnknown {
                detail: t
                    .state_detail
                    .clone()
                    .unwrap_or_else(|| "a state the plugin does not know".into()),
            };
        }
        TransferState::Cancelled => {
            return Verdict::Fail {
                cause: FailureCause::CancelledRemotely,
                message: format!("Cancelled at {}", d.provider_name),
                cancel: false,
            };
        }
        TransferState::Failed => {
            let (reason, message, may_retry) = match &t.failure {
                Some(f) => (f.reason, f.message.clone(), f.provider_may_retry),
                None => (
                    FailureReason::Errored,
                    "The transfer failed".to_owned(),
                    false,
                ),
            };
            if may_retry {
                let first_seen = live.pending_failure.unwrap_or(now);
                let restarted = reason == FailureReason::ProviderRestarted;
                let patience = if restarted {
                    s.restart_grace
                } else {
                    s.provider_retry_patience
                };
                if elapsed(first_seen, now) < patience {
                    let note = if restarted {
                        format!(
                            "{} restarted; waiting for it to queue the file again",
                            d.provider_name
                        )
                    } else {
                        format!("{message} ({} may retry)", d.provider_name)
                    };
                    return Verdict::AwaitProviderRetry { note };
                }
            }
            return Verdict::Fail {
                cause: cause_of(reason),
                message,
                // A failure the provider would still retry is stopped: we move on.
                cancel: may_retry,
            };
        }
    };

    // Stalls: no byte progress while downloading, or a remote queue that does not move.
    let mut target = target;
    let no_progress_for = elapsed(live.last_progress, now);
    if target == Status::Downloading
        && d.status != Status::Pending
        && no_progress_for >= s.stall_timeout
    {
        target = Status::Stalled;
    }
    let queue_clock = live
        .queue_moved_at
        .map_or(d.status_since, |moved| moved.max(d.status_since));
    let queue_stalled = elapsed(queue_clock, now) >= s.queue_timeout;
    if target == Status::Queued
        && t.state == TransferState::QueuedRemotely
        && matches!(d.status, Status::Queued | Status::Stalled)
        && queue_stalled
    {
        target = Status::Stalled;
    }
    if target == Status::Stalled
        && d.status == Status::Stalled
        && elapsed(d.status_since, now) >= s.stall_grace
    {
        return Verdict::Fail {
            cause: FailureCause::Stalled,
            message: format!(
                "Stalled for {} s at {}",
                elapsed(d.status_since, now).as_secs(),
                t.peer
            ),
            cancel: true,
        };
    }
    let message = match target {
        Status::Downloading => None,
        Status::Queued if t.state == TransferState::Paused => {
            Some(format!("Paused at {}", d.provider_name))
        }
        Status::Queued => Some(queued_message(d, t, live)),
        Status::Stalled if t.state == TransferState::QueuedRemotely => {
            Some(format!("Queued at {} for too long", t.peer))
        }
        Status::Stalled => Some(format!("No progress for {} s", no_progress_for.as_secs())),
        _ => d.status_message.clone(),
    };
    Verdict::Progress {
        status: target,
        message,
        persist_progress: target != d.status
            || elapsed(live.persisted_at, now) >= s.progress_persist_interval,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::download::{ChosenSource, TrackInfo};
    use crate::engine::provider::TransferFailure;
    use chrono::NaiveDate;
    use uuid::Uuid;

    const NOW: DateTime<Utc> = NaiveDate::from_ymd_opt(2026, 11, 29)
        .unwrap()
        .and_hms_opt(12, 0, 0)
        .unwrap()
        .and_utc();

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn record(status: Status, since_secs_ago: u64) -> Download {
        Download {
            provider_id: "slskd".into(),
            provider_kind: "soulseek".into(),
            provider_name: "slskd".into(),
            external_id: Some("x".into()),
            source: Some(ChosenSource {
                peer: "peer".into(),
                filename: "f.flac".into(),
                size: 100,
                format: None,
                bitrate_kbps: None,
                uri: None,
                file: None,
            }),
            status,
            total_bytes: 100,
            status_since: NOW - secs(since_secs_ago),
            max_retries: 3,
            ..Download::waiting(
                Uuid::nil(),
                "t".into(),
                TrackInfo {
                    title: "Song".into(),
                    artist: "A".into(),
                    album: None,
                },
                NOW,
            )
        }
    }

    fn seen(state: TransferState) -> Transfer {
        Transfer {
            external_id: "x".into(),
            peer: "peer".into(),
            filename: "f.flac".into(),
            size: Some(100),
            bytes_transferred: 0,
            speed_bytes_per_sec: 0.0,
            queue_position: None,
            state,
            failure: None,
            state_detail: None,
            requested_at: None,
            local_path: None,
        }
    }

    fn failed(reason: FailureReason, may_retry: bool) -> Transfer {
        let mut t = seen(TransferState::Failed);
        t.failure = Some(TransferFailure {
            reason,
            message: "boom".into(),
            provider_may_retry: may_retry,
        });
        t
    }

    fn live(progress_secs_ago: u64) -> Live {
        let mut l = Live::fresh(&record(Status::Queued, 0), NOW);
        l.last_progress = NOW - secs(progress_secs_ago);
        l.persisted_at = NOW;
        l
    }

    fn settings() -> EngineSettings {
        EngineSettings {
            stall_timeout: secs(120),
            queue_timeout: secs(1800),
            stall_grace: secs(120),
            provider_retry_patience: secs(10),
            restart_grace: secs(300),
            ..EngineSettings::default()
        }
    }

    fn status_of(v: &Verdict) -> String {
        match v {
            Verdict::Progress { status, .. } => status.as_str().to_owned(),
            Verdict::Complete => "complete".into(),
            Verdict::AwaitProviderRetry { .. } => "await".into(),
            Verdict::KeepUnknown { .. } => "keep".into(),
            Verdict::Fail { cause, cancel, .. } => {
                format!(
                    "fail:{}{}",
                    cause.as_str(),
                    if *cancel { "+cancel" } else { "" }
                )
            }
        }
    }

    #[test]
    fn verdicts() {
        use TransferState::*;
        let s = settings();
        let pending_failure = |secs_ago: u64| {
            let mut l = live(0);
            l.pending_failure = Some(NOW - secs(secs_ago));
            l
        };
        let moved = |secs_ago: u64| {
            let mut l = live(0);
            l.queue_moved_at = Some(NOW - secs(secs_ago));
            l
        };
        let unknown = {
            let mut t = seen(Unknown);
            t.state_detail = Some("Completed, Quarantined".into());
            t
        };
        // (case, record, live, transfer, expected)
        let cases: Vec<(&str, Download, Live, Transfer, &str)> = vec![
            (
                "queued locally",
                record(Status::Pending, 1),
                live(0),
                seen(QueuedLocally),
                "queued",
            ),
            (
                "bytes flowing",
                record(Status::Queued, 5),
                live(0),
                seen(InProgress),
                "downloading",
            ),
            (
                "done",
                record(Status::Downloading, 5),
                live(0),
                seen(Succeeded),
                "complete",
            ),
            (
                "cancelled at the provider",
                record(Status::Downloading, 5),
                live(0),
                seen(Cancelled),
                "fail:cancelled_remotely",
            ),
            (
                "rejected",
                record(Status::Queued, 5),
                live(0),
                failed(FailureReason::Rejected, false),
                "fail:rejected",
            ),
            (
                "provider may retry, just seen",
                record(Status::Downloading, 5),
                pending_failure(1),
                failed(FailureReason::Errored, true),
                "await",
            ),
            (
                "provider may retry, patience over",
                record(Status::Downloading, 5),
                pending_failure(11),
                failed(FailureReason::Errored, true),
                "fail:errored+cancel",
            ),
            (
                "restarted, within grace",
                record(Status::Downloading, 5),
                pending_failure(200),
                failed(FailureReason::ProviderRestarted, true),
                "await",
            ),
            (
                "restarted, grace over",
                record(Status::Downloading, 5),
                pending_failure(301),
                failed(FailureReason::ProviderRestarted, true),
                "fail:vanished+cancel",
            ),
            (
                "unknown state keeps the record",
                record(Status::Downloading, 5),
                live(500),
                unknown,
                "keep",
            ),
            (
                "no progress past the stall timeout",
                record(Status::Downloading, 500),
                live(121),
                seen(InProgress),
                "stalled",
            ),
            (
                "no progress, not yet",
                record(Status::Downloading, 500),
                live(119),
                seen(InProgress),
                "downloading",
            ),
            (
                "stalled past the grace",
                record(Status::Stalled, 121),
                live(300),
                seen(InProgress),
                "fail:stalled+cancel",
            ),
            (
                "stalled, progress again",
                record(Status::Stalled, 121),
                live(0),
                seen(InProgress),
                "downloading",
            ),
            (
                "remote queue too long",
                record(Status::Queued, 1801),
                live(0),
                seen(QueuedRemotely),
                "stalled",
            ),
            (
                "remote queue too long, but the position fell lately",
                record(Status::Queued, 1801),
                moved(60),
                seen(QueuedRemotely),
                "queued",
            ),
            (
                "stalled in the queue, then the position fell",
                record(Status::Stalled, 130),
                moved(5),
                seen(QueuedRemotely),
                "queued",
            ),
            (
                "locally queued never stalls on the queue clock",
                record(Status::Queued, 9999),
                live(0),
                seen(QueuedLocally),
                "queued",
            ),
            (
                "paused at the provider waits",
                record(Status::Downloading, 5),
                live(0),
                seen(Paused),
                "queued",
            ),
            (
                "not found at the source",
                record(Status::Downloading, 5),
                live(0),
                failed(FailureReason::NotFound, false),
                "fail:not_found",
            ),
        ];
        for (case, d, l, t, want) in cases {
            assert_eq!(status_of(&judge(&d, &l, &t, &s, NOW)), want, "{case}");
        }
    }

    #[test]
    fn the_queue_position_is_shown_and_a_falling_one_counts_as_progress() {
        let mut l = live(0);
        let mut t = seen(TransferState::QueuedRemotely);
        t.queue_position = Some(12);
        note(&mut l, &t, NOW);
        assert_eq!(l.queue_position, Some(12));
        assert_eq!(l.queue_moved_at, None);
        let v = judge(&record(Status::Queued, 5), &l, &t, &settings(), NOW);
        let Verdict::Progress { message, .. } = v else {
            panic!("{v:?}")
        };
        assert_eq!(
            message.as_deref(),
            Some("Queued at peer: position 12 in the peer's queue")
        );
        note_position(&mut l, 13, NOW);
        assert_eq!(l.queue_moved_at, None, "a rising position is no progress");
        note_position(&mut l, 9, NOW + secs(1));
        assert_eq!(l.queue_moved_at, Some(NOW + secs(1)));
    }

    #[test]
    fn positions_are_asked_for_sparingly() {
        let t = seen(TransferState::QueuedRemotely);
        let mut l = live(0);
        let every = secs(30);
        assert!(time_to_ask_position(&l, &t, true, every, NOW));
        assert!(!time_to_ask_position(&l, &t, false, every, NOW));
        assert!(!time_to_ask_position(
            &l,
            &seen(TransferState::InProgress),
            true,
            every,
            NOW
        ));
        l.position_asked_at = Some(NOW - secs(29));
        assert!(!time_to_ask_position(&l, &t, true, every, NOW));
        l.position_asked_at = Some(NOW - secs(30));
        assert!(time_to_ask_position(&l, &t, true, every, NOW));
    }
}
