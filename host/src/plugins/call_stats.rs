//! What each export of one plugin has done since it was loaded: calls, errors by kind, traps,
//! and the spread of call durations (HDR histograms: bounded memory, exact enough percentiles;
//! plus the fixed buckets and exact sum that the Prometheus histogram exposes).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::engine::provider::ProviderError;
use crate::metrics::{CALL_DURATION_BOUNDS, bucket_index};

/// Durations are kept in microseconds up to a minute (longer calls count as a minute: the
/// sandbox's deadline ends them long before).
const LONGEST_US: u64 = 60_000_000;

struct ExportCounters {
    calls: u64,
    errors: BTreeMap<&'static str, u64>,
    traps: u64,
    durations: Histogram<u64>,
    /// Calls per bucket of `CALL_DURATION_BOUNDS`, the last one past its last bound.
    buckets: [u64; CALL_DURATION_BOUNDS.len() + 1],
    total: Duration,
}

impl ExportCounters {
    fn new() -> Self {
        Self {
            calls: 0,
            errors: BTreeMap::new(),
            traps: 0,
            // Two significant digits: 1 % resolution.
            durations: Histogram::new_with_bounds(1, LONGEST_US, 2)
                .expect("static histogram bounds are valid"),
            buckets: [0; CALL_DURATION_BOUNDS.len() + 1],
            total: Duration::ZERO,
        }
    }
}

/// One export's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportSummary {
    pub export: String,
    pub calls: u64,
    /// Failed calls by error kind (`unreachable`, `rate-limited`, `trapped`...).
    pub errors: BTreeMap<String, u64>,
    /// Calls the sandbox stopped (crash, deadline, memory limit).
    pub traps: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Calls per bucket of `CALL_DURATION_BOUNDS` then past the last bound (not cumulative).
    pub duration_buckets: Vec<u64>,
    /// Exact total time spent in the export's calls.
    pub duration_sum_seconds: f64,
}

#[derive(Default)]
pub struct CallStats {
    exports: Mutex<BTreeMap<&'static str, ExportCounters>>,
}

impl CallStats {
    pub fn record<T>(
        &self,
        export: &'static str,
        took: Duration,
        outcome: &Result<T, ProviderError>,
    ) {
        let mut exports = self.exports.lock().unwrap_or_else(|p| p.into_inner());
        let counters = exports.entry(export).or_insert_with(ExportCounters::new);
        counters.calls += 1;
        let us = u64::try_from(took.as_micros()).unwrap_or(LONGEST_US);
        counters
            .durations
            .saturating_record(us.clamp(1, LONGEST_US));
        counters.buckets[bucket_index(&CALL_DURATION_BOUNDS, took)] += 1;
        counters.total += took;
        if let Err(e) = outcome {
            *counters.errors.entry(e.kind_name()).or_default() += 1;
            if matches!(e, ProviderError::Trapped { .. }) {
                counters.traps += 1;
            }
        }
    }

    pub fn summary(&self) -> Vec<ExportSummary> {
        let exports = self.exports.lock().unwrap_or_else(|p| p.into_inner());
        exports
            .iter()
            .map(|(name, c)| ExportSummary {
                export: (*name).to_owned(),
                calls: c.calls,
                errors: c
                    .errors
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), *v))
                    .collect(),
                traps: c.traps,
                p50_ms: c.durations.value_at_quantile(0.5) as f64 / 1000.0,
                p99_ms: c.durations.value_at_quantile(0.99) as f64 / 1000.0,
                duration_buckets: c.buckets.to_vec(),
                duration_sum_seconds: c.total.as_secs_f64(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::provider::TrapKind;

    #[test]
    fn calls_errors_traps_and_percentiles_are_counted_per_export() {
        let stats = CallStats::default();
        for ms in 1..=100 {
            stats.record::<()>("ping", Duration::from_millis(ms), &Ok(()));
        }
        stats.record::<()>(
            "enqueue",
            Duration::from_millis(5),
            &Err(ProviderError::RateLimited("slow down".into())),
        );
        stats.record::<()>(
            "enqueue",
            Duration::from_secs(10),
            &Err(ProviderError::Trapped {
                kind: TrapKind::Deadline,
                message: "late".into(),
            }),
        );
        let summary = stats.summary();
        let ping = summary.iter().find(|s| s.export == "ping").unwrap();
        assert_eq!(ping.calls, 100);
        assert!(ping.errors.is_empty());
        assert!((49.0..=51.0).contains(&ping.p50_ms), "{}", ping.p50_ms);
        assert!((98.0..=100.5).contains(&ping.p99_ms), "{}", ping.p99_ms);
        let enqueue = summary.iter().find(|s| s.export == "enqueue").unwrap();
        assert_eq!(enqueue.calls, 2);
        assert_eq!(enqueue.traps, 1);
        assert_eq!(enqueue.errors.get("rate-limited"), Some(&1));
        assert_eq!(enqueue.errors.get("trapped"), Some(&1));
    }

    #[test]
    fn durations_fall_in_the_exposed_buckets_with_an_exact_sum() {
        let stats = CallStats::default();
        // 1 ms is on the first bound (bounds are inclusive), 7 ms in the (5 ms, 10 ms] bucket,
        // 30 s past the last bound.
        for took in [
            Duration::from_millis(1),
            Duration::from_millis(7),
            Duration::from_secs(30),
        ] {
            stats.record::<()>("search", took, &Ok(()));
        }
        let s = &stats.summary()[0];
        let mut expected = vec![0; CALL_DURATION_BOUNDS.len() + 1];
        expected[0] = 1;
        expected[2] = 1;
        expected[CALL_DURATION_BOUNDS.len()] = 1;
        assert_eq!(s.duration_buckets, expected);
        assert!(
            (s.duration_sum_seconds - 30.008).abs() < 1e-9,
            "{}",
            s.duration_sum_seconds
        );
    }
}
