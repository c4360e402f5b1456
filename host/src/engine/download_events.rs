//! What other programs are told about a download: the changes that make an event. Pure: the
//! store calls it inside the write that makes the change, so an event is recorded exactly when
//! its change is (a crash loses neither or both).

use super::download::{Download, Status};

/// An event's type. The names follow slskd's webhook events where they overlap
/// (`DownloadFileComplete`); the others are named the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// Completed: verified (and imported, when a library is set).
    DownloadFileComplete,
    /// Gave up, or failed until its next automatic retry.
    DownloadFileFailed,
    /// A finished file failed verification and was quarantined (the download goes on with
    /// another source, or fails).
    DownloadFileRejected,
}

impl EventKind {
    pub const ALL: [EventKind; 3] = [
        EventKind::DownloadFileComplete,
        EventKind::DownloadFileFailed,
        EventKind::DownloadFileRejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::DownloadFileComplete => "DownloadFileComplete",
            EventKind::DownloadFileFailed => "DownloadFileFailed",
            EventKind::DownloadFileRejected => "DownloadFileRejected",
        }
    }

    pub fn parse(text: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// A stable small number, for the stored outbox.
    pub fn code(self) -> u8 {
        match self {
            EventKind::DownloadFileComplete => 1,
            EventKind::DownloadFileFailed => 2,
            EventKind::DownloadFileRejected => 3,
        }
    }

    pub fn from_code(code: u8) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.code() == code)
    }
}

/// The events one change of a record makes (`None` before: created; `None` after: deleted).
pub fn events_of(before: Option<&Download>, after: Option<&Download>) -> Vec<EventKind> {
    let (Some(before), Some(after)) = (before, after) else {
        return Vec::new();
    };
    let mut events = Vec::new();
    let new_attempt = after
        .attempts
        .last()
        .filter(|a| before.attempts.last() != Some(*a));
    if new_attempt.is_some_and(super::verification::rejected) {
        events.push(EventKind::DownloadFileRejected);
    }
    if after.status != before.status {
        match after.status {
            Status::Completed => events.push(EventKind::DownloadFileComplete),
            Status::Failed => events.push(EventKind::DownloadFileFailed),
            _ => {}
        }
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::download::{Attempt, FailureCause, TrackInfo};
    use chrono::Utc;
    use uuid::Uuid;

    fn base(status: Status) -> Download {
        let mut d = Download::waiting(
            Uuid::from_u128(1),
            "t".into(),
            TrackInfo {
                title: "T".into(),
                artist: "A".into(),
                album: None,
            },
            Utc::now(),
        );
        d.status = status;
        d
    }

    fn attempt(cause: FailureCause, message: &str) -> Attempt {
        Attempt {
            source: None,
            cause,
            message: message.into(),
            at: Utc::now(),
        }
    }

    #[test]
    fn changes_that_make_events() {
        let rejected = format!("{} corrupt: all zero", super::super::verification::REJECTED);
        let downloading = base(Status::Downloading);
        let mut completed = downloading.clone();
        completed.status = Status::Completed;
        let mut failed = downloading.clone();
        failed.status = Status::Failed;
        let mut failed_over = downloading.clone();
        failed_over.status = Status::Waiting;
        failed_over
            .attempts
            .push(attempt(FailureCause::Corrupt, &rejected));
        let mut gave_up = failed_over.clone();
        gave_up.status = Status::Failed;
        let mut provider_size = downloading.clone();
        provider_size.status = Status::Waiting;
        provider_size
            .attempts
            .push(attempt(FailureCause::SizeMismatch, "Completed, Aborted"));
        let mut progress = downloading.clone();
        progress.bytes_downloaded = 10;
        type Case<'a> = (
            &'a str,
            Option<&'a Download>,
            Option<&'a Download>,
            Vec<EventKind>,
        );
        let cases: Vec<Case> = vec![
            ("created", None, Some(&downloading), vec![]),
            ("deleted", Some(&completed), None, vec![]),
            ("progress", Some(&downloading), Some(&progress), vec![]),
            (
                "completed",
                Some(&downloading),
                Some(&completed),
                vec![EventKind::DownloadFileComplete],
            ),
            (
                "failed",
                Some(&downloading),
                Some(&failed),
                vec![EventKind::DownloadFileFailed],
            ),
            (
                "a file rejected, failing over",
                Some(&downloading),
                Some(&failed_over),
                vec![EventKind::DownloadFileRejected],
            ),
            (
                "a file rejected, giving up",
                Some(&downloading),
                Some(&gave_up),
                vec![
                    EventKind::DownloadFileRejected,
                    EventKind::DownloadFileFailed,
                ],
            ),
            (
                "the provider's size mismatch",
                Some(&downloading),
                Some(&provider_size),
                vec![],
            ),
            ("unchanged", Some(&completed), Some(&completed), vec![]),
        ];
        for (name, before, after, expected) in cases {
            assert_eq!(events_of(before, after), expected, "{name}");
        }
    }

    #[test]
    fn names_and_codes_round_trip() {
        for k in EventKind::ALL {
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
            assert_eq!(EventKind::from_code(k.code()), Some(k));
        }
        assert_eq!(EventKind::parse("DownloadFileCompleted"), None);
    }
}
