//! Every Prometheus metric the host exposes, defined here and nowhere else.
//!
//! Two kinds: counters fed as things happen (through the cheap [`Metrics`] handle the engine and
//! the HTTP layer hold), and figures read at scrape time from where they already live (the
//! store's status index, the breakers, the plugins' call statistics, the live feed), handed in
//! as a [`Scrape`]. This module knows no engine, HTTP or wasmtime type: labels arrive as text.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeMetric, NoLabelSet, prometheus_text,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

/// The `Content-Type` of the Prometheus text format (0.0.4).
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// A download whose provider is not chosen yet is labelled so (an empty label value reads as
/// a missing label in PromQL).
const NO_PROVIDER: &str = "none";

fn provider_label(provider: &str) -> String {
    if provider.is_empty() {
        NO_PROVIDER.to_owned()
    } else {
        provider.to_owned()
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransitionLabels {
    provider: String,
    from: &'static str,
    to: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    provider: String,
    cause: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderLabels {
    provider: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: String,
    /// The matched route's pattern (`/api/downloads/{id}/cancel`), never the raw path: ids
    /// would make a series per download.
    route: String,
    status: u16,
}

/// The counters fed as things happen. Cheap to clone; every clone feeds the same registry.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    created: Family<ProviderLabels, Counter>,
    transitions: Family<TransitionLabels, Counter>,
    failures: Family<FailureLabels, Counter>,
    downloaded_bytes: Family<ProviderLabels, Counter>,
    http_requests: Family<HttpLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let created = Family::<ProviderLabels, Counter>::default();
        let transitions = Family::<TransitionLabels, Counter>::default();
        let failures = Family::<FailureLabels, Counter>::default();
        let downloaded_bytes = Family::<ProviderLabels, Counter>::default();
        let http_requests = Family::<HttpLabels, Counter>::default();
        // Counter names get `_total` from the encoder.
        registry.register(
            "tributary_downloads_created",
            "Downloads created, by the provider they were routed to",
            created.clone(),
        );
        registry.register(
            "tributary_download_transitions",
            "Status changes committed to the store, by provider, from and to",
            transitions.clone(),
        );
        registry.register(
            "tributary_download_failures",
            "Failed attempts, by provider and cause (each one, whether retried or not)",
            failures.clone(),
        );
        registry.register(
            "tributary_downloaded_bytes",
            "Bytes transferred, from the progress the reconcilers observe",
            downloaded_bytes.clone(),
        );
        registry.register(
            "tributary_http_requests",
            "HTTP requests answered, by method, route pattern and status",
            http_requests.clone(),
        );
        Metrics {
            inner: Arc::new(Inner {
                registry,
                created,
                transitions,
                failures,
                downloaded_bytes,
                http_requests,
            }),
        }
    }

    pub fn created(&self, provider: &str) {
        self.inner
            .created
            .get_or_create(&ProviderLabels {
                provider: provider_label(provider),
            })
            .inc();
    }

    pub fn transition(&self, provider: &str, from: &'static str, to: &'static str) {
        self.inner
            .transitions
            .get_or_create(&TransitionLabels {
                provider: provider_label(provider),
                from,
                to,
            })
            .inc();
    }

    pub fn failure(&self, provider: &str, cause: &'static str) {
        self.inner
            .failures
            .get_or_create(&FailureLabels {
                provider: provider_label(provider),
                cause,
            })
            .inc();
    }

    pub fn downloaded(&self, provider: &str, bytes: u64) {
        if bytes == 0 {
            return;
        }
        self.inner
            .downloaded_bytes
            .get_or_create(&ProviderLabels {
                provider: provider_label(provider),
            })
            .inc_by(bytes);
    }

    pub fn http_request(&self, method: &str, route: &str, status: u16) {
        self.inner
            .http_requests
            .get_or_create(&HttpLabels {
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .inc();
    }

    /// The exposition: the counters, then what `scrape` read now.
    pub fn render(&self, scrape: Scrape) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_text::encode(&mut out, &self.inner.registry)?;
        let mut now = Registry::default();
        now.register_collector(Box::new(scrape));
        prometheus_text::encode(&mut out, &now)?;
        Ok(out)
    }
}

/// The bucket of a histogram with upper `bounds` (seconds, inclusive) that `took` falls in:
/// `bounds.len()` past the last one.
pub fn bucket_index(bounds: &[f64], took: std::time::Duration) -> usize {
    let secs = took.as_secs_f64();
    bounds
        .iter()
        .position(|bound| secs <= *bound)
        .unwrap_or(bounds.len())
}

/// Upper bounds (seconds) of the plugin call duration histogram's buckets; the sandbox's
/// default deadline is 10 s.
pub const CALL_DURATION_BOUNDS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// One export of one plugin, as its call statistics stand.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginCalls {
    pub plugin: String,
    pub call: String,
    /// Calls by outcome: `ok` or the error's kind.
    pub outcomes: Vec<(String, u64)>,
    /// Calls per bucket of [`CALL_DURATION_BOUNDS`], then those longer than the last bound
    /// (not cumulative).
    pub duration_buckets: Vec<u64>,
    pub duration_sum_seconds: f64,
}

/// One download count: `provider` is empty where the count is not per provider.
#[derive(Debug, Clone, PartialEq)]
pub struct DownloadCount {
    pub status: &'static str,
    pub provider: String,
    pub count: u64,
}

/// What is read at scrape time.
#[derive(Debug, Clone, Default)]
pub struct Scrape {
    /// Every stored download, by status (the store's counters).
    pub downloads: Vec<(&'static str, u64)>,
    /// Downloads not in a terminal status, by status and provider.
    pub active_downloads: Vec<DownloadCount>,
    /// Each provider's circuit state, and every state it could be in.
    pub circuits: Vec<(String, &'static str)>,
    pub circuit_states: &'static [&'static str],
    pub sse_clients: u64,
    pub plugin_calls: Vec<PluginCalls>,
    /// The store's durable commits since open.
    pub store_commits: Histogram,
}

/// A histogram kept elsewhere, as it stands: per-bucket counts (not cumulative) for each upper
/// bound, then one for what is past the last bound.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    pub bounds: &'static [f64],
    pub buckets: Vec<u64>,
    pub sum_seconds: f64,
}

impl Histogram {
    fn encode(&self, mut family: prometheus_client::encoding::MetricEncoder) -> std::fmt::Result {
        let buckets: Vec<(f64, u64)> = self
            .bounds
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .zip(self.buckets.iter().copied())
            .collect();
        let count = self.buckets.iter().sum();
        family.encode_histogram::<NoLabelSet>(self.sum_seconds, count, &buckets, None)
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusProviderLabels {
    status: &'static str,
    provider: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CircuitLabels {
    provider: String,
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    plugin: String,
    call: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallDurationLabels {
    plugin: String,
    call: String,
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut family = encoder.encode_descriptor(
            "tributary_downloads",
            "Stored downloads, by status",
            None,
            MetricType::Gauge,
        )?;
        for &(status, count) in &self.downloads {
            ConstGauge::new(count).encode(family.encode_family(&StatusLabels { status })?)?;
        }
        let mut family = encoder.encode_descriptor(
            "tributary_active_downloads",
            "Downloads not yet completed, failed for good or cancelled, by status and provider",
            None,
            MetricType::Gauge,
        )?;
        for c in &self.active_downloads {
            let labels = StatusProviderLabels {
                status: c.status,
                provider: provider_label(&c.provider),
            };
            ConstGauge::new(c.count).encode(family.encode_family(&labels)?)?;
        }
        let mut family = encoder.encode_descriptor(
            "tributary_provider_circuit_state",
            "Each provider's circuit breaker: 1 for the state it is in, 0 for the others",
            None,
            MetricType::Gauge,
        )?;
        for (provider, current) in &self.circuits {
            for &state in self.circuit_states {
                let labels = CircuitLabels {
                    provider: provider.clone(),
                    state,
                };
                let value = i64::from(state == *current);
                ConstGauge::new(value).encode(family.encode_family(&labels)?)?;
            }
        }
        let family = encoder.encode_descriptor(
            "tributary_sse_clients",
            "Event-stream (SSE) clients connected now",
            None,
            MetricType::Gauge,
        )?;
        ConstGauge::new(self.sse_clients).encode(family)?;
        let mut family = encoder.encode_descriptor(
            "tributary_plugin_calls",
            "Calls into provider plugins since each was loaded, by plugin, call and outcome",
            None,
            MetricType::Counter,
        )?;
        for p in &self.plugin_calls {
            for (outcome, count) in &p.outcomes {
                let labels = CallLabels {
                    plugin: p.plugin.clone(),
                    call: p.call.clone(),
                    outcome: outcome.clone(),
                };
                ConstCounter::new(*count).encode(family.encode_family(&labels)?)?;
            }
        }
        let mut family = encoder.encode_descriptor(
            "tributary_plugin_call_duration_seconds",
            "How long calls into provider plugins took, since each was loaded",
            None,
            MetricType::Histogram,
        )?;
        for p in &self.plugin_calls {
            let labels = CallDurationLabels {
                plugin: p.plugin.clone(),
                call: p.call.clone(),
            };
            let histogram = Histogram {
                bounds: &CALL_DURATION_BOUNDS,
                buckets: p.duration_buckets.clone(),
                sum_seconds: p.duration_sum_seconds,
            };
            histogram.encode(family.encode_family(&labels)?)?;
        }
        let family = encoder.encode_descriptor(
            "tributary_store_commit_duration_seconds",
            "How long the store's durable commits took (each may carry many grouped writes)",
            None,
            MetricType::Histogram,
        )?;
        self.store_commits.encode(family)?;
        Ok(())
    }
}
