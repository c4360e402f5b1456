//! Which of a provider's transfers is a download's. By id first; a provider that restarts
//! re-creates transfers under new ids (slskd re-queues the same files), so a transfer of the
//! same peer and file may stand in — but only one created after ours, never an older record of
//! that file (an earlier attempt, cancelled or finished) and never one we released.

use std::collections::HashSet;

use super::download::Download;
use super::provider::{FailureReason, Transfer, TransferState};

fn restart_casualty(t: &Transfer) -> bool {
    t.state == TransferState::Failed
        && t.failure
            .as_ref()
            .is_some_and(|f| f.reason == FailureReason::ProviderRestarted)
}

/// The download's transfer in one listing, if it is there. `released` holds the ids of
/// transfers no download follows any more.
pub(super) fn transfer_for<'t>(
    d: &Download,
    transfers: &'t [Transfer],
    released: &HashSet<&str>,
) -> Option<&'t Transfer> {
    let ours = d.external_id.as_deref()?;
    let by_id = transfers.iter().find(|t| t.external_id == ours);
    if let Some(t) = by_id
        && !restart_casualty(t)
    {
        return Some(t);
    }
    let source = d.source.as_ref()?;
    // The one we follow, as listed, tells the time it was created, when the provider says.
    let created = d
        .transfer_requested_at
        .or_else(|| by_id.and_then(|t| t.requested_at));
    let stand_in = transfers
        .iter()
        .filter(|t| {
            t.external_id != ours
                && !released.contains(t.external_id.as_str())
                && t.peer == source.peer
                && t.filename == source.filename
                && !restart_casualty(t)
                && match (created, t.requested_at) {
                    // Created after ours: the provider's re-creation of it.
                    (Some(ours), Some(theirs)) => theirs > ours,
                    // Without times only a transfer still under way can be a re-creation; an
                    // ended one of the same file is an older record.
                    _ => !t.state.has_ended(),
                }
        })
        // The newest: providers list in creation order.
        .max_by_key(|t| t.requested_at);
    stand_in.or(by_id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::download::{ChosenSource, Status, TrackInfo};
    use crate::engine::provider::TransferFailure;
    use chrono::{DateTime, TimeZone, Utc};
    use uuid::Uuid;

    const FILE: &str = "@@share\\Artist\\Album\\01 - Song.flac";

    fn download(external: &str, created: Option<DateTime<Utc>>) -> Download {
        let now = Utc.with_ymd_and_hms(2026, 11, 29, 12, 0, 0).unwrap();
        Download {
            provider_id: "slskd".into(),
            provider_kind: "soulseek".into(),
            provider_name: "slskd".into(),
            external_id: Some(external.into()),
            source: Some(ChosenSource {
                peer: "peer".into(),
                filename: FILE.into(),
                size: 10,
                format: None,
                bitrate_kbps: None,
                uri: None,
                file: None,
            }),
            status: Status::Queued,
            total_bytes: 10,
            max_retries: 3,
            transfer_requested_at: created,
            ..Download::waiting(
                Uuid::nil(),
                "t".into(),
                TrackInfo {
                    title: "Song".into(),
                    artist: "Artist".into(),
                    album: None,
                },
                now,
            )
        }
    }

    fn transfer(id: &str, state: TransferState, at: Option<DateTime<Utc>>) -> Transfer {
        Transfer {
            external_id: id.into(),
            peer: "peer".into(),
            filename: FILE.into(),
            size: Some(10),
            bytes_transferred: 0,
            speed_bytes_per_sec: 0.0,
            queue_position: None,
            state,
            failure: (state == TransferState::Failed).then(|| TransferFailure {
                reason: FailureReason::Errored,
                message: "x".into(),
                provider_may_retry: false,
            }),
            state_detail: None,
            requested_at: at,
            local_path: None,
        }
    }

    fn casualty(id: &str, at: Option<DateTime<Utc>>) -> Transfer {
        let mut t = transfer(id, TransferState::Failed, at);
        t.failure = Some(TransferFailure {
            reason: FailureReason::ProviderRestarted,
            message: "Application shut down".into(),
            provider_may_retry: true,
        });
        t
    }

    #[test]
    fn the_right_transfer_is_found_and_an_older_one_never() {
        use TransferState::*;
        let t0 = Utc.with_ymd_and_hms(2026, 11, 29, 11, 0, 0).unwrap();
        let t1 = Utc.with_ymd_and_hms(2026, 11, 29, 12, 0, 0).unwrap();
        let t2 = Utc.with_ymd_and_hms(2026, 11, 29, 13, 0, 0).unwrap();
        let none: HashSet<&str> = HashSet::new();
        let old_released: HashSet<&str> = ["old"].into_iter().collect();
        // (case, download's id and time, listing, released ids, expected id)
        type Case<'a> = (
            &'a str,
            Download,
            Vec<Transfer>,
            &'a HashSet<&'a str>,
            Option<&'a str>,
        );
        let cases: Vec<Case> = vec![
            (
                "by id",
                download("mine", Some(t1)),
                vec![transfer("mine", InProgress, Some(t1))],
                &none,
                Some("mine"),
            ),
            (
                "by id among older records of the same file",
                download("mine", Some(t1)),
                vec![
                    transfer("old", Succeeded, Some(t0)),
                    transfer("mine", QueuedRemotely, Some(t1)),
                ],
                &none,
                Some("mine"),
            ),
            (
                "missing, and only an older finished record of the file is listed",
                download("mine", Some(t1)),
                vec![transfer("old", Succeeded, Some(t0))],
                &none,
                None,
            ),
            (
                "missing, an older cancelled record, no times known",
                download("mine", None),
                vec![transfer("old", Cancelled, None)],
                &none,
                None,
            ),
            (
                "missing, an older record still running (a cancel not yet done), times known",
                download("mine", Some(t1)),
                vec![transfer("old", InProgress, Some(t0))],
                &none,
                None,
            ),
            (
                "missing, an older running record we released, no times",
                download("mine", None),
                vec![transfer("old", InProgress, None)],
                &old_released,
                None,
            ),
            (
                "restarted: ours failed with 'shut down', a newer one re-created",
                download("mine", Some(t1)),
                vec![
                    casualty("mine", Some(t1)),
                    transfer("new", QueuedLocally, Some(t2)),
                ],
                &none,
                Some("new"),
            ),
            (
                "restarted, no times: the running re-creation",
                download("mine", None),
                vec![casualty("mine", None), transfer("new", QueuedLocally, None)],
                &none,
                Some("new"),
            ),
            (
                "restarted, not yet re-created: keep ours (it says what happened)",
                download("mine", Some(t1)),
                vec![casualty("mine", Some(t1))],
                &none,
                Some("mine"),
            ),
            (
                "restarted and ours already gone: the re-creation by time",
                download("mine", Some(t1)),
                vec![
                    transfer("old", Succeeded, Some(t0)),
                    transfer("new", InProgress, Some(t2)),
                ],
                &none,
                Some("new"),
            ),
            (
                "re-created and finished while we were away, times known",
                download("mine", Some(t1)),
                vec![transfer("new", Succeeded, Some(t2))],
                &none,
                Some("new"),
            ),
            (
                "another peer's file is never ours",
                download("mine", None),
                vec![{
                    let mut t = transfer("x", InProgress, None);
                    t.peer = "other".into();
                    t
                }],
                &none,
                None,
            ),
        ];
        for (case, d, listing, released, want) in cases {
            let got = transfer_for(&d, &listing, released).map(|t| t.external_id.as_str());
            assert_eq!(got, want, "{case}");
        }
    }
}
