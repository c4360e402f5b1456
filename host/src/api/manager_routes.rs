//! `/api/downloads/manager/*`: the Download Manager API (JSON routes; the HTMX partials and the
//! page live in `pages`).

use std::time::Duration;

use salvo::oapi::endpoint;
use salvo::prelude::*;

use super::error::ApiError;
use super::input::query_u32;
use super::state::{blocking, reply, reply_json, state};
use crate::engine::breaker::CircuitState;
use crate::engine::reputation;
use crate::view::dto::{
    ActiveDownloadsResponse, DeletedResponse, PeerDto, PeersResponse, ProviderHealthDto,
    ProvidersHealthResponse, QueueStatsDto, RetryAllResponse,
};

/// How long the health route waits for a provider it pings directly.
const DIRECT_PING_TIMEOUT: Duration = Duration::from_secs(3);
/// The largest `days` accepted.
pub const MAX_DAYS: u32 = 3650;

/// Every active download from every provider, with queue statistics: downloading, stalled,
/// queued and sending first, then waiting in dispatch order, then paused. All of them unless
/// `limit`/`offset` page through the list (`stats.total_active` counts them all). One answer
/// is built per change of the queue and shared by every client asking meanwhile.
#[endpoint(
    tags("manager"),
    parameters(
        ("limit" = Option<u32>, Query, description = "At most this many rows (default: all)"),
        ("offset" = Option<u32>, Query, description = "Rows to skip first (default 0)"),
    ),
    responses(
        (status_code = 200, body = ActiveDownloadsResponse),
        (status_code = 400, description = "A limit or offset that is not a whole number in range"),
    )
)]
pub async fn active(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    reply_json(res, active_body(req, depot).await);
}

async fn active_body(req: &Request, depot: &Depot) -> Result<bytes::Bytes, ApiError> {
    let limit = query_u32(req, "limit", 1..=u32::MAX)?.map(|l| l as usize);
    let offset = query_u32(req, "offset", 0..=u32::MAX)?.unwrap_or(0) as usize;
    let s = state(depot)?;
    // A rebuild reads every active record and the answer may be megabytes: not on a worker.
    blocking(move || Ok(s.active_lists.current(&s.engine)?.body(offset, limit))).await
}

/// Queue statistics, from counters (constant time).
#[endpoint(tags("manager"), responses((status_code = 200, body = QueueStatsDto)))]
pub async fn stats(depot: &mut Depot, res: &mut Response) {
    reply_json(
        res,
        state(depot).and_then(|s| Ok(s.stats_bodies.current(&s.engine)?)),
    );
}

/// Each provider's circuit breaker and connection.
#[endpoint(tags("manager"), responses((status_code = 200, body = ProvidersHealthResponse)))]
pub async fn health(depot: &mut Depot, res: &mut Response) {
    let result = match state(depot) {
        Ok(s) => Ok(health_of(&s).await),
        Err(e) => Err(e),
    };
    reply(res, result);
}

pub async fn health_of(s: &super::state::AppState) -> ProvidersHealthResponse {
    let now = chrono::Utc::now();
    let mut providers = Vec::new();
    for h in s.engine.health() {
        let mut dto = ProviderHealthDto::new(&h, now);
        // Not polled yet: ask the provider itself, briefly.
        if h.last_success.is_none()
            && h.consecutive_failures == 0
            && h.config_problem.is_none()
            && h.circuit_state == CircuitState::Closed
            && let Some(provider) = s.engine.provider(&h.id)
        {
            match tokio::time::timeout(DIRECT_PING_TIMEOUT, provider.ping()).await {
                Ok(Ok(answer)) => {
                    dto.is_healthy = answer.ready;
                    dto.has_successful_connection = true;
                    dto.error_message = (!answer.ready).then_some(answer.detail);
                }
                Ok(Err(e)) => {
                    dto.is_healthy = false;
                    dto.error_message = Some(match e {
                        // Say exactly what to change in the config.
                        crate::engine::provider::ProviderError::Misconfigured(fix) => fix,
                        other => other.to_string(),
                    });
                }
                Err(_) => {
                    dto.is_healthy = false;
                    dto.error_message = Some(format!(
                        "no answer within {} s",
                        DIRECT_PING_TIMEOUT.as_secs()
                    ));
                }
            }
        }
        providers.push(dto);
    }
    let overall_healthy = providers.iter().all(|p| p.is_healthy);
    ProvidersHealthResponse {
        providers,
        overall_healthy,
    }
}

/// Puts every failed download back in the queue.
#[endpoint(tags("manager"), responses((status_code = 200, body = RetryAllResponse)))]
pub async fn retry_all_failed(depot: &mut Depot, res: &mut Response) {
    let result = match state(depot) {
        Ok(s) => {
            blocking(move || {
                let retried = s.engine.retry_all_failed()?;
                Ok(RetryAllResponse {
                    retried,
                    message: format!("Queued {retried} downloads for retry"),
                })
            })
            .await
        }
        Err(e) => Err(e),
    };
    reply(res, result);
}

/// Deletes every failed download.
#[endpoint(tags("manager"), responses((status_code = 200, body = DeletedResponse)))]
pub async fn clear_failed(depot: &mut Depot, res: &mut Response) {
    let result = match state(depot) {
        Ok(s) => {
            blocking(move || {
                let deleted = s.engine.clear_failed()?;
                Ok(DeletedResponse {
                    deleted,
                    message: format!("Removed {deleted} failed downloads"),
                })
            })
            .await
        }
        Err(e) => Err(e),
    };
    reply(res, result);
}

/// Deletes completed downloads that completed more than `days` days ago (default 7).
#[endpoint(
    tags("manager"),
    parameters(("days" = Option<u32>, Query, description = "Age in days, 0 to 3650; default 7")),
    responses((status_code = 200, body = DeletedResponse), (status_code = 400, body = crate::view::dto::ErrorBody))
)]
pub async fn clear_history(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let result = async {
        let days = query_u32(req, "days", 0..=MAX_DAYS)?.unwrap_or(7);
        let s = state(depot)?;
        blocking(move || {
            let deleted = s.engine.clear_history(days)?;
            Ok(DeletedResponse {
                deleted,
                message: format!("Removed {deleted} old downloads"),
            })
        })
        .await
    }
    .await;
    reply(res, result);
}

/// Tries a provider again now (an admin fixed its config or its service): a half-open trial
/// at once instead of waiting out the circuit breaker. Answers the provider's health after it.
#[endpoint(
    tags("manager"),
    parameters(("id" = String, Path, description = "Provider (plugin) id, e.g. slskd")),
    responses((status_code = 200, body = ProviderHealthDto), (status_code = 400, body = crate::view::dto::ErrorBody))
)]
pub async fn reconnect(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let result = async {
        let s = state(depot)?;
        let id = req.param::<String>("id").unwrap_or_default();
        let provider_health = s.engine.reconnect(&id).await?;
        // The Download Center refreshes its provider list when it sees this.
        res.headers_mut().insert(
            "hx-trigger",
            salvo::http::HeaderValue::from_static("provider-health-changed"),
        );
        Ok::<_, ApiError>(ProviderHealthDto::new(&provider_health, chrono::Utc::now()))
    }
    .await;
    reply(res, result);
}

/// What each peer of a provider has done for us: files delivered, failures by cause, stalls,
/// files that failed verification, time to first byte and speed; counts decay with a 30-day
/// half-life. Best standing first.
#[endpoint(
    tags("manager"),
    parameters(("id" = String, Path, description = "Provider (plugin) id, e.g. slskd")),
    responses((status_code = 200, body = PeersResponse), (status_code = 404, body = crate::view::dto::ErrorBody))
)]
pub async fn provider_peers(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let result = (|| {
        let s = state(depot)?;
        let id = req.param::<String>("id").unwrap_or_default();
        let reports = s
            .engine
            .peers(&id)?
            .ok_or_else(|| ApiError::not_found(format!("no provider {id:?} is configured")))?;
        Ok::<_, ApiError>(PeersResponse {
            provider_id: id,
            half_life_days: reputation::HALF_LIFE.as_secs() / 86_400,
            peers: reports.iter().map(PeerDto::from).collect(),
        })
    })();
    reply(res, result);
}
