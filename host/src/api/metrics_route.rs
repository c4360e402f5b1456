//! `GET /metrics` (Prometheus text format), and the hoop that counts every HTTP request by
//! route pattern and status.

use salvo::http::StatusCode;
use salvo::http::header::{self, HeaderValue};
use salvo::prelude::*;

use super::error::ApiError;
use super::state::{AppState, blocking, state};
use crate::engine::breaker::CircuitState;
use crate::engine::download::Status;
use crate::metrics::{DownloadCount, Histogram, Metrics, PluginCalls, Scrape};
use crate::store::COMMIT_DURATION_BOUNDS;

/// Every state a circuit can be in, so that each provider shows all of them (0 or 1).
const CIRCUIT_STATES: [&str; 3] = [
    CircuitState::Closed.as_str(),
    CircuitState::Open.as_str(),
    CircuitState::HalfOpen.as_str(),
];

#[handler]
pub async fn metrics(depot: &mut Depot, res: &mut Response) {
    let text = match state(depot) {
        // A scrape reads every active record (13,000 in a big queue): not on a worker.
        Ok(s) => {
            blocking(move || {
                let scrape = gather(&s)?;
                s.engine
                    .metrics()
                    .render(scrape)
                    .map_err(|_| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "cannot encode"))
            })
            .await
        }
        Err(e) => Err(e),
    };
    match text {
        Ok(text) => {
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
            );
            res.render(text);
        }
        Err(e) => e.write(res),
    }
}

/// Reads what is not counted as it happens: the store's status counts and index, the breakers,
/// the plugins' call statistics, the event-stream clients.
fn gather(s: &AppState) -> Result<Scrape, ApiError> {
    let downloads = s
        .engine
        .status_counts()?
        .into_iter()
        .map(|(status, n)| (status.as_str(), n))
        .collect();
    let active_downloads = s
        .engine
        .active_by_provider()?
        .into_iter()
        .map(
            |((status, provider), count): ((Status, String), u64)| DownloadCount {
                status: status.as_str(),
                provider,
                count,
            },
        )
        .collect();
    let circuits = s
        .engine
        .health()
        .into_iter()
        .map(|h| (h.id, h.circuit_state.as_str()))
        .collect();
    let mut plugin_calls = Vec::new();
    for entry in s.plugins.list() {
        let Some(provider) = entry.provider else {
            continue;
        };
        for export in provider.call_stats() {
            let failed: u64 = export.errors.values().sum();
            let mut outcomes = vec![("ok".to_owned(), export.calls.saturating_sub(failed))];
            outcomes.extend(export.errors);
            plugin_calls.push(PluginCalls {
                plugin: entry.id.clone(),
                call: export.export,
                outcomes,
                duration_buckets: export.duration_buckets,
                duration_sum_seconds: export.duration_sum_seconds,
            });
        }
    }
    Ok(Scrape {
        downloads,
        active_downloads,
        circuits,
        circuit_states: &CIRCUIT_STATES,
        sse_clients: s.live.clients() as u64,
        plugin_calls,
        store_commits: {
            let commits = s.engine.store().commit_durations();
            Histogram {
                bounds: &COMMIT_DURATION_BOUNDS,
                buckets: commits.buckets,
                sum_seconds: commits.sum_seconds,
            }
        },
    })
}

/// Marks, from the router, that a route matched: the counting hoop runs at the service, before
/// routing has a say, and an unmatched request must not be labelled as the root route (both
/// have an empty matched path).
#[handler]
pub async fn mark_matched(depot: &mut Depot) {
    depot.insert(MATCHED, true);
}

const MATCHED: &str = "metrics.route_matched";

/// Counts each answered request by method, route pattern and status.
pub struct CountRequests {
    pub metrics: Metrics,
}

#[salvo::async_trait]
impl Handler for CountRequests {
    async fn handle(
        &self,
        req: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        ctrl: &mut FlowCtrl,
    ) {
        ctrl.call_next(req, depot, res).await;
        let route = if depot.get::<bool>(MATCHED).is_ok() {
            format!("/{}", req.matched_path())
        } else {
            "unmatched".to_owned()
        };
        // A method outside the standard ones is one label value, not one per spelling.
        let method = match req.method().as_str() {
            m @ ("GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS") => m,
            _ => "other",
        };
        let status = res.status_code.unwrap_or(StatusCode::OK).as_u16();
        self.metrics.http_request(method, &route, status);
    }
}
