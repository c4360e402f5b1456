//! What each peer of each provider has done for us: files delivered, failures by cause, stalls,
//! files that failed verification, time to first byte, speed. Counts decay with a half-life, so
//! a peer that misbehaved months ago is forgiven and one that misbehaves now sinks in the
//! ranking. Pure: the core records events, the store keeps the numbers.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::download::FailureCause;

/// After this long an event counts half.
pub const HALF_LIFE: Duration = Duration::from_secs(30 * 24 * 3600);

/// Weight of the newest sample in the smoothed averages.
const SMOOTHING: f64 = 0.3;

/// One peer's record. The counts are decayed as of `updated_at`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PeerRecord {
    pub finished: f64,
    /// Failed attempts by cause (`FailureCause::as_str`), stalls and bad files included.
    pub failed: BTreeMap<String, f64>,
    pub stalled: f64,
    /// Files that arrived and failed verification (corrupt, truncated, wrong duration, size).
    pub bad_files: f64,
    pub first_byte_ms: Option<f64>,
    pub bytes_per_sec: Option<f64>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// What happened with one attempt at a peer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PeerEvent {
    Finished {
        first_byte: Option<Duration>,
        bytes_per_sec: Option<f64>,
    },
    Failed(FailureCause),
}

/// Where a peer stands for ranking: lower is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Standing {
    /// Nothing against it (or no record).
    #[default]
    Good,
    /// Fails or stalls more often than it delivers.
    Unreliable,
    /// Sent files that failed verification, recently.
    BadFiles,
}

/// Causes that are about the peer (not our search, not the provider).
fn about_the_peer(cause: FailureCause) -> bool {
    !matches!(
        cause,
        FailureCause::NotFound | FailureCause::ProviderError | FailureCause::FileMissing
    )
}

/// Whether an event is worth recording at all.
pub fn counts(event: &PeerEvent) -> bool {
    match event {
        PeerEvent::Finished { .. } => true,
        PeerEvent::Failed(cause) => about_the_peer(*cause),
    }
}

fn decay_factor(since: Option<DateTime<Utc>>, now: DateTime<Utc>) -> f64 {
    let Some(since) = since else { return 1.0 };
    let elapsed = (now - since).to_std().unwrap_or(Duration::ZERO);
    0.5f64.powf(elapsed.as_secs_f64() / HALF_LIFE.as_secs_f64())
}

fn smooth(before: Option<f64>, sample: f64) -> f64 {
    before.map_or(sample, |b| SMOOTHING * sample + (1.0 - SMOOTHING) * b)
}

impl PeerRecord {
    /// The record as of `now`: every count decayed.
    pub fn decayed(&self, now: DateTime<Utc>) -> PeerRecord {
        let f = decay_factor(self.updated_at, now);
        PeerRecord {
            finished: self.finished * f,
            failed: self
                .failed
                .iter()
                .map(|(k, v)| (k.clone(), v * f))
                .collect(),
            stalled: self.stalled * f,
            bad_files: self.bad_files * f,
            first_byte_ms: self.first_byte_ms,
            bytes_per_sec: self.bytes_per_sec,
            updated_at: Some(now.max(self.updated_at.unwrap_or(now))),
        }
    }

    /// The record after `event` at `now`.
    pub fn with(&self, event: PeerEvent, now: DateTime<Utc>) -> PeerRecord {
        let mut r = self.decayed(now);
        match event {
            PeerEvent::Finished {
                first_byte,
                bytes_per_sec,
            } => {
                r.finished += 1.0;
                if let Some(t) = first_byte {
                    r.first_byte_ms = Some(smooth(r.first_byte_ms, t.as_secs_f64() * 1000.0));
                }
                if let Some(s) = bytes_per_sec.filter(|s| s.is_finite() && *s > 0.0) {
                    r.bytes_per_sec = Some(smooth(r.bytes_per_sec, s));
                }
            }
            PeerEvent::Failed(cause) => {
                *r.failed.entry(cause.as_str().to_owned()).or_default() += 1.0;
                if cause == FailureCause::Stalled {
                    r.stalled += 1.0;
                }
                if cause.is_bad_file() {
                    r.bad_files += 1.0;
                }
            }
        }
        r
    }

    pub fn failures(&self) -> f64 {
        self.failed.values().sum()
    }

    /// Where the peer stands as of `now`. One bad file in the last half-life is enough to
    /// sink it; failures sink it when they outweigh what it delivered.
    pub fn standing(&self, now: DateTime<Utc>) -> Standing {
        let r = self.decayed(now);
        if r.bad_files >= 0.5 {
            Standing::BadFiles
        } else if r.failures() >= 1.0 && r.failures() > r.finished {
            Standing::Unreliable
        } else {
            Standing::Good
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(days: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap() + chrono::Duration::days(days)
    }

    fn finished() -> PeerEvent {
        PeerEvent::Finished {
            first_byte: Some(Duration::from_millis(800)),
            bytes_per_sec: Some(1_000_000.0),
        }
    }

    #[test]
    fn standings() {
        let fresh = PeerRecord::default();
        // (name, events with their day, the day judged on, the standing then)
        type Case = (&'static str, Vec<(PeerEvent, i64)>, i64, Standing);
        let cases: Vec<Case> = vec![
            ("unknown", vec![], 0, Standing::Good),
            (
                "delivers",
                vec![(finished(), 0), (finished(), 1)],
                1,
                Standing::Good,
            ),
            (
                "one corrupt file",
                vec![
                    (finished(), 0),
                    (PeerEvent::Failed(FailureCause::Corrupt), 1),
                ],
                1,
                Standing::BadFiles,
            ),
            (
                "a corrupt file two half-lives ago",
                vec![(PeerEvent::Failed(FailureCause::Corrupt), 0)],
                60,
                Standing::Good,
            ),
            (
                "stalls more than it delivers",
                vec![
                    (PeerEvent::Failed(FailureCause::Stalled), 0),
                    (PeerEvent::Failed(FailureCause::Stalled), 0),
                    (finished(), 0),
                ],
                0,
                Standing::Unreliable,
            ),
            (
                "a failure among many deliveries",
                vec![
                    (finished(), 0),
                    (finished(), 0),
                    (PeerEvent::Failed(FailureCause::TimedOut), 0),
                ],
                0,
                Standing::Good,
            ),
        ];
        for (name, events, judged_on, expected) in cases {
            let r = events
                .into_iter()
                .fold(fresh.clone(), |r, (e, day)| r.with(e, at(day)));
            assert_eq!(r.standing(at(judged_on)), expected, "{name}");
        }
    }

    #[test]
    fn counts_decay_and_averages_smooth() {
        let r = PeerRecord::default()
            .with(finished(), at(0))
            .with(PeerEvent::Failed(FailureCause::Stalled), at(0));
        assert_eq!((r.finished, r.stalled), (1.0, 1.0));
        assert_eq!(r.failed.get("stalled"), Some(&1.0));
        let later = r.decayed(at(30));
        assert!((later.finished - 0.5).abs() < 1e-9, "{}", later.finished);
        let faster = r.with(
            PeerEvent::Finished {
                first_byte: None,
                bytes_per_sec: Some(2_000_000.0),
            },
            at(0),
        );
        assert_eq!(faster.bytes_per_sec, Some(1_300_000.0));
        assert_eq!(faster.first_byte_ms, Some(800.0));
    }

    #[test]
    fn only_the_peers_doings_count() {
        assert!(!counts(&PeerEvent::Failed(FailureCause::NotFound)));
        assert!(!counts(&PeerEvent::Failed(FailureCause::ProviderError)));
        assert!(!counts(&PeerEvent::Failed(FailureCause::FileMissing)));
        assert!(counts(&PeerEvent::Failed(FailureCause::Rejected)));
        assert!(counts(&finished()));
    }
}
