//! The deliverer: fans new events out to the webhooks that want them, then sends every due
//! delivery, oldest first, and keeps each until its receiver answers 2xx. A failure waits a
//! doubling delay (1 s up to 15 min, with jitter) before the next try; after `MAX_ATTEMPTS`
//! it is given up and logged.

use std::time::Duration;

use tokio::sync::watch;

use super::{Webhook, allowed_address, payload, sign, signing::SIGNATURE_HEADER};
use crate::engine::manager::DownloadManager;
use crate::store::outbox::Delivery;

const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// A delivery refused this many times (about two days of tries) is given up.
const MAX_ATTEMPTS: u32 = 200;
const FIRST_DELAY: Duration = Duration::from_secs(1);
const LONGEST_DELAY: Duration = Duration::from_secs(15 * 60);
/// With nothing new, the outbox is looked at this often (for retries coming due).
const IDLE_LOOK: Duration = Duration::from_millis(500);

/// The wait before the try after `attempts` failed ones (`unit` in [0, 1) picks the jitter).
pub fn backoff(attempts: u32, unit: f64) -> Duration {
    let base = FIRST_DELAY
        .saturating_mul(2u32.saturating_pow(attempts.saturating_sub(1).min(20)))
        .min(LONGEST_DELAY);
    base.mul_f64(0.8 + 0.4 * unit.clamp(0.0, 1.0))
}

/// Runs until `stop`: wakes on every change of the engine (a new event) and every
/// `IDLE_LOOK`.
pub async fn run(engine: DownloadManager, hooks: Vec<Webhook>, mut stop: watch::Receiver<bool>) {
    let mut changes = engine.subscribe();
    let _ = rustls::crypto::ring::default_provider().install_default();
    // The waiting deliveries are read when new ones came, or every IDLE_LOOK: not at every
    // change of the queue (a receiver down for a day may have thousands waiting).
    let mut last_look: Option<std::time::Instant> = None;
    loop {
        let fanned = fan_out(&engine, &hooks).unwrap_or_else(|e| {
            tracing::error!("webhooks: cannot read the outbox: {e}");
            0
        });
        if fanned > 0 || last_look.is_none_or(|at| at.elapsed() >= IDLE_LOOK) {
            last_look = Some(std::time::Instant::now());
            if let Err(e) = send_due(&engine, &hooks).await {
                tracing::error!("webhooks: cannot read the outbox: {e}");
            }
        }
        tokio::select! {
            _ = stop.changed() => return,
            _ = changes.changed() => {}
            _ = tokio::time::sleep(IDLE_LOOK) => {}
        }
    }
}

/// A client that connects `host` to `addr` only (TLS still checks the certificate for the
/// name) and follows no redirect (one could lead where the address check never looked).
fn client(host: &str, addr: std::net::SocketAddr) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .resolve(host, addr)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("tributary/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Turns new events into deliveries; returns how many deliveries it made.
fn fan_out(engine: &DownloadManager, hooks: &[Webhook]) -> Result<usize, crate::store::StoreError> {
    let store = engine.store();
    let mut made = 0;
    loop {
        let events = store.events(100)?;
        if events.is_empty() {
            return Ok(made);
        }
        for event in events {
            let body = payload(&event);
            let deliveries: Vec<(String, Delivery)> = hooks
                .iter()
                .filter(|h| h.wants(event.kind))
                .map(|h| {
                    (
                        h.name.clone(),
                        Delivery {
                            body: body.clone(),
                            kind: event.kind.as_str().to_owned(),
                            attempts: 0,
                            next_at_ms: 0,
                            event_at_ms: event.at_ms,
                            last_error: None,
                        },
                    )
                })
                .collect();
            store.fan_out(event.id, &deliveries)?;
            made += deliveries.len();
        }
    }
}

async fn send_due(
    engine: &DownloadManager,
    hooks: &[Webhook],
) -> Result<(), crate::store::StoreError> {
    let store = engine.store();
    let now_ms = chrono::Utc::now().timestamp_millis();
    for (event, name, mut delivery) in store.due_deliveries(now_ms, 50)? {
        let Some(hook) = hooks.iter().find(|h| h.name == name) else {
            tracing::warn!(webhook = %name, %event, "dropping a delivery for a webhook no longer configured");
            store.delivery_done(event, &name)?;
            continue;
        };
        match send(hook, event, &delivery).await {
            Ok(()) => {
                let latency = chrono::Utc::now().timestamp_millis() - delivery.event_at_ms;
                tracing::info!(webhook = %name, %event, kind = %delivery.kind, attempts = delivery.attempts + 1, latency_ms = latency, "webhook delivered");
                store.delivery_done(event, &name)?;
            }
            Err(why) => {
                delivery.attempts += 1;
                if delivery.attempts >= MAX_ATTEMPTS {
                    tracing::error!(webhook = %name, %event, "giving up a delivery after {} attempts: {why}", delivery.attempts);
                    store.delivery_done(event, &name)?;
                    continue;
                }
                let wait = backoff(delivery.attempts, fastrand::f64());
                tracing::warn!(webhook = %name, %event, attempts = delivery.attempts, "webhook not delivered ({why}); next try in {wait:?}");
                delivery.next_at_ms =
                    chrono::Utc::now().timestamp_millis() + wait.as_millis() as i64;
                delivery.last_error = Some(why);
                store.delivery_retry(event, &name, &delivery)?;
            }
        }
    }
    Ok(())
}

/// One POST, to an address the webhook may reach.
async fn send(hook: &Webhook, event: uuid::Uuid, delivery: &Delivery) -> Result<(), String> {
    let host = hook.url.host_str().unwrap_or_default();
    let port = hook.url.port_or_known_default().unwrap_or(80);
    let bare_host = host.trim_start_matches('[').trim_end_matches(']');
    let resolved: Vec<std::net::SocketAddr> = tokio::net::lookup_host((bare_host, port))
        .await
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    let addr = allowed_address(host, &resolved, hook.allow_private).map_err(|e| e.to_string())?;
    let client = client(bare_host, addr).map_err(|e| format!("no HTTP client: {e}"))?;
    let mut request = client
        .post(hook.url.clone())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("X-Tributary-Event", &delivery.kind)
        .header("X-Tributary-Delivery", event.to_string())
        .body(delivery.body.clone());
    if let Some(secret) = &hook.secret {
        request = request.header(SIGNATURE_HEADER, sign(secret, &delivery.body));
    }
    let response = request.send().await.map_err(|e| e.to_string())?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("the receiver answered {}", response.status()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_a_ceiling_with_jitter() {
        let mid = |n| backoff(n, 0.5);
        assert_eq!(mid(1), Duration::from_secs(1));
        assert_eq!(mid(2), Duration::from_secs(2));
        assert_eq!(mid(5), Duration::from_secs(16));
        assert_eq!(mid(30), LONGEST_DELAY);
        assert_eq!(backoff(1, 0.0), Duration::from_millis(800));
        assert_eq!(backoff(1, 1.0), Duration::from_millis(1200));
    }
}
