//! Between "the provider says it is finished" and `completed`: the file is checked
//! (`crate::verify`) on a blocking thread, a bounded few at a time. A file that passes completes
//! the download with its proof; one that fails is quarantined and the download fails over as
//! for any other failure (its source is never tried again). While it runs the download stays
//! `downloading`, saying "Verifying the file"; after a crash the next poll sees the finished
//! transfer again and checks it again.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use super::core::{Core, ignore_stale, move_to};
use super::download::{Attempt, Download, FailureCause, Provenance, Status, VerifiedFile};
use super::manager::EngineError;
use super::provider::Transfer;
use super::settings::VerifySettings;
use crate::library::{LibrarySettings, TrackFields};
use crate::verify::{Expectation, Rejection, Verified, path_map, quarantine, verify_file};

pub(super) const VERIFYING: &str = "Verifying the file";
/// How the message of a rejected file's attempt begins.
pub(super) const REJECTED: &str = "The file failed verification:";

/// Whether an attempt ended with a file rejected here (a size mismatch the provider reports,
/// before any file arrived, is not one).
pub(super) fn rejected(a: &Attempt) -> bool {
    a.cause.is_bad_file() && a.message.starts_with(REJECTED)
}

/// What to do with a finished transfer.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Finish {
    /// Check the file at `path` (already mapped to this machine) first.
    Verify {
        path: PathBuf,
        expectation: Expectation,
    },
    /// Complete at once; `note` says why nothing was checked (`None`: checking is off).
    Unchecked { note: Option<String> },
}

/// Decides how a finished transfer completes its download.
pub(super) fn plan(
    d: &Download,
    t: &Transfer,
    s: &VerifySettings,
    mappings: &[(String, String)],
) -> Finish {
    if !s.enabled {
        return Finish::Unchecked { note: None };
    }
    let Some(remote) = t.local_path.as_deref() else {
        return Finish::Unchecked {
            note: Some(format!(
                "Not verified: {} does not say where its finished files are",
                d.provider_name
            )),
        };
    };
    let size = t
        .size
        .filter(|s| *s > 0)
        .or((d.total_bytes > 0).then_some(d.total_bytes));
    Finish::Verify {
        path: path_map::map(remote, mappings),
        expectation: Expectation {
            size,
            duration: d.duration_secs.map(|s| Duration::from_secs(u64::from(s))),
            tolerance: s.duration_tolerance,
        },
    }
}

/// The failure a rejected file stands for.
pub(super) fn cause_of(r: &Rejection) -> FailureCause {
    match r {
        Rejection::Missing { .. } => FailureCause::FileMissing,
        Rejection::Truncated(_) => FailureCause::Truncated,
        Rejection::SizeMismatch { .. } => FailureCause::SizeMismatch,
        Rejection::Corrupt(_) => FailureCause::Corrupt,
        Rejection::WrongDuration { .. } => FailureCause::WrongDuration,
    }
}

/// What the blocking check found.
enum Checked {
    /// The file passed; `imported` says where it went in the library (when one is set).
    Passed {
        verified: Verified,
        imported: Option<Result<PathBuf, String>>,
    },
    /// The provider's path is a folder (a whole torrent): nothing single to check.
    Folder,
    Rejected {
        rejection: Rejection,
        /// Where the file went, or why it could not be moved.
        quarantined: Result<PathBuf, String>,
    },
}

fn check(job: &Job, quarantine_dir: &Path, library: Option<&LibrarySettings>) -> Checked {
    let path = job.path.as_path();
    if path.is_dir() {
        return Checked::Folder;
    }
    match verify_file(path, &job.expectation) {
        Ok(verified) => Checked::Passed {
            imported: library
                .map(|l| crate::library::import(path, &job.track, l).map_err(|e| e.to_string())),
            verified,
        },
        Err(rejection) => {
            let quarantined = if matches!(rejection, Rejection::Missing { .. }) {
                Err("nothing to move".into())
            } else {
                quarantine::quarantine(path, quarantine_dir, &job.id.to_string())
            };
            Checked::Rejected {
                rejection,
                quarantined,
            }
        }
    }
}

/// Marks the download as being verified and starts the check, unless one already runs.
pub(super) fn start(core: &Arc<Core>, d: &Download, t: &Transfer, path: PathBuf, e: Expectation) {
    if !core.begin_verifying(d.id) {
        return;
    }
    let provenance = Provenance {
        provider_id: d.provider_id.clone(),
        peer: d
            .source
            .as_ref()
            .map_or_else(|| t.peer.clone(), |s| s.peer.clone()),
        remote_name: d
            .source
            .as_ref()
            .map_or_else(|| t.filename.clone(), |s| s.key().to_owned()),
    };
    let job = Job {
        id: d.id,
        external_id: d.external_id.clone(),
        path,
        expectation: e,
        provenance,
        track: TrackFields {
            artist: d.track.artist.clone(),
            album: d.track.album.clone(),
            title: d.track.title.clone(),
            track: None,
        },
    };
    let task_core = core.clone();
    core.keep_task(tokio::spawn(async move {
        let mut stop = task_core.stopping();
        tokio::select! {
            _ = stop.changed() => {}
            result = run(&task_core, job.clone()) => {
                if let Err(e) = result {
                    tracing::error!(download = %job.id, "verification: {e}");
                }
            }
        }
        task_core.end_verifying(job.id);
    }));
}

#[derive(Clone)]
struct Job {
    id: Uuid,
    external_id: Option<String>,
    path: PathBuf,
    expectation: Expectation,
    provenance: Provenance,
    track: TrackFields,
}

async fn run(core: &Arc<Core>, job: Job) -> Result<(), EngineError> {
    let _turn = core.verify_turn().await;
    let quarantine_dir = core.settings().verify.quarantine_dir.clone();
    let library = core.settings().library.clone();
    let blocking_job = job.clone();
    let checked = tokio::task::spawn_blocking(move || {
        check(&blocking_job, &quarantine_dir, library.as_ref())
    })
    .await
    .map_err(|e| EngineError::Invalid(format!("the file check stopped: {e}")))?;
    // Only the attempt that was checked may be judged: a user's action in between wins.
    let same_attempt = |d: &Download| {
        if d.status != Status::Downloading || d.external_id != job.external_id {
            Err(EngineError::Stale(d.id))
        } else {
            Ok(())
        }
    };
    match checked {
        Checked::Passed { verified, imported } => {
            let (library_path, note) = match imported {
                Some(Ok(to)) => (Some(to.display().to_string()), None),
                Some(Err(why)) => {
                    tracing::warn!(download = %job.id, "verified, not imported: {why}");
                    (None, Some(format!("Verified; not imported: {why}")))
                }
                None => (None, None),
            };
            let result = core.apply(job.id, |d, now| {
                same_attempt(d)?;
                move_to(d, Status::Completed, now)?;
                d.verified = Some(proof(&verified, job.provenance.clone(), now));
                d.library_path = library_path;
                d.status_message = note;
                d.error_message = None;
                d.failure_cause = None;
                Ok(())
            });
            ignore_stale(result)?;
        }
        Checked::Folder => {
            let result = core.apply(job.id, |d, now| {
                same_attempt(d)?;
                move_to(d, Status::Completed, now)?;
                d.status_message = Some("Not verified: the provider's path is a folder".into());
                Ok(())
            });
            ignore_stale(result)?;
        }
        Checked::Rejected {
            rejection,
            quarantined,
        } => {
            let current = core.store().get(job.id).ok().flatten();
            if current.as_ref().is_none_or(|d| same_attempt(d).is_err()) {
                return Ok(());
            }
            let whereabouts = match &quarantined {
                Ok(to) => format!("moved to {}", to.display()),
                Err(why) => format!("left where it was: {why}"),
            };
            tracing::warn!(download = %job.id, peer = %job.provenance.peer, "{} failed verification: {rejection}; {whereabouts}", job.path.display());
            let message = format!("{REJECTED} {rejection} ({whereabouts})");
            ignore_stale(core.fail(job.id, cause_of(&rejection), &message, None))?;
        }
    }
    Ok(())
}

fn proof(v: &Verified, provenance: Provenance, now: chrono::DateTime<chrono::Utc>) -> VerifiedFile {
    VerifiedFile {
        sha256: v.sha256.clone(),
        bytes: v.bytes,
        codec: v.audio.as_ref().map(|a| a.codec.clone()),
        duration_secs: v.audio.as_ref().map(|a| a.duration.as_secs_f64()),
        checksum_matched: v.audio.as_ref().is_some_and(|a| a.checksum_matched),
        verified_at: now,
        provenance,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::download::TrackInfo;
    use crate::engine::provider::TransferState;

    fn finished(local: Option<&str>, size: Option<u64>) -> Transfer {
        Transfer {
            external_id: "t1".into(),
            peer: "peer".into(),
            filename: "@@m\\A\\x.flac".into(),
            size,
            bytes_transferred: size.unwrap_or(0),
            speed_bytes_per_sec: 0.0,
            queue_position: None,
            state: TransferState::Succeeded,
            failure: None,
            state_detail: None,
            requested_at: None,
            local_path: local.map(str::to_owned),
        }
    }

    fn download() -> Download {
        let mut d = Download::waiting(
            Uuid::from_u128(1),
            "t".into(),
            TrackInfo {
                title: "T".into(),
                artist: "A".into(),
                album: None,
            },
            chrono::Utc::now(),
        );
        d.provider_name = "slskd".into();
        d.total_bytes = 500;
        d.duration_secs = Some(200);
        d
    }

    #[test]
    fn plans() {
        let on = VerifySettings::default();
        let off = VerifySettings {
            enabled: false,
            ..VerifySettings::default()
        };
        let map = vec![("/downloads".to_owned(), "/mnt/dl".to_owned())];
        let d = download();
        assert_eq!(
            plan(
                &d,
                &finished(Some("/downloads/A/x.flac"), Some(1000)),
                &off,
                &map
            ),
            Finish::Unchecked { note: None }
        );
        assert!(matches!(
            plan(&d, &finished(None, Some(1000)), &on, &map),
            Finish::Unchecked { note: Some(n) } if n.contains("slskd does not say")
        ));
        let expect = |size| Expectation {
            size,
            duration: Some(Duration::from_secs(200)),
            tolerance: on.duration_tolerance,
        };
        assert_eq!(
            plan(
                &d,
                &finished(Some("/downloads/A/x.flac"), Some(1000)),
                &on,
                &map
            ),
            Finish::Verify {
                path: PathBuf::from("/mnt/dl/A/x.flac"),
                expectation: expect(Some(1000)),
            },
            "the transfer's size, the mapped path"
        );
        assert_eq!(
            plan(&d, &finished(Some("/srv/x.flac"), None), &on, &map),
            Finish::Verify {
                path: PathBuf::from("/srv/x.flac"),
                expectation: expect(Some(500)),
            },
            "the record's size when the transfer has none"
        );
    }

    #[test]
    fn every_rejection_has_its_cause() {
        let cases = [
            (
                Rejection::Missing {
                    path: "p".into(),
                    reason: "r".into(),
                },
                FailureCause::FileMissing,
            ),
            (Rejection::Truncated("x".into()), FailureCause::Truncated),
            (
                Rejection::SizeMismatch {
                    actual: 2,
                    expected: 1,
                },
                FailureCause::SizeMismatch,
            ),
            (Rejection::Corrupt("x".into()), FailureCause::Corrupt),
            (
                Rejection::WrongDuration {
                    actual_secs: 1.0,
                    expected_secs: 2,
                },
                FailureCause::WrongDuration,
            ),
        ];
        for (r, cause) in cases {
            assert_eq!(cause_of(&r), cause, "{r}");
        }
    }
}
