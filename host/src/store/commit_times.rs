//! How long the store's durable commits take: a histogram kept with atomics, so that the
//! commit path records into it without a lock, read by the metrics endpoint at scrape time.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::metrics::bucket_index;

/// Upper bounds (seconds) of the buckets: a commit is one fsync, well under a millisecond on an
/// SSD with a write cache and tens of milliseconds on a busy spinning disk.
pub const COMMIT_DURATION_BOUNDS: [f64; 12] = [
    0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];

/// The histogram as it stands: per-bucket counts (not cumulative), the last one for commits
/// longer than the last bound.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CommitHistogram {
    pub buckets: Vec<u64>,
    pub sum_seconds: f64,
}

#[derive(Default)]
pub(super) struct CommitTimes {
    buckets: [AtomicU64; COMMIT_DURATION_BOUNDS.len() + 1],
    sum_nanos: AtomicU64,
}

impl CommitTimes {
    pub fn record(&self, took: Duration) {
        self.buckets[bucket_index(&COMMIT_DURATION_BOUNDS, took)].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    pub fn histogram(&self) -> CommitHistogram {
        CommitHistogram {
            buckets: self
                .buckets
                .iter()
                .map(|b| b.load(Ordering::Relaxed))
                .collect(),
            sum_seconds: Duration::from_nanos(self.sum_nanos.load(Ordering::Relaxed)).as_secs_f64(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_commit_lands_in_the_first_bucket_that_holds_it() {
        let times = CommitTimes::default();
        for ms in [0.1, 0.25, 3.0, 2000.0] {
            times.record(Duration::from_secs_f64(ms / 1000.0));
        }
        let h = times.histogram();
        let mut expected = vec![0; COMMIT_DURATION_BOUNDS.len() + 1];
        expected[0] = 2; // 0.1 ms and 0.25 ms (a bound is inclusive)
        expected[4] = 1; // 3 ms: above 2.5 ms, within 5 ms
        expected[COMMIT_DURATION_BOUNDS.len()] = 1; // 2 s: past the last bound
        assert_eq!(h.buckets, expected);
        assert!((h.sum_seconds - 2.00335).abs() < 1e-6, "{}", h.sum_seconds);
    }
}
