//! A provider's health as the operator meets it: a refusal by our own configuration is not the
//! provider's failure and says what to add; a breaker recorded under another configuration is
//! not held against a fixed one; "Retry now" tries a broken provider at once.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use tributary::engine::breaker::{Breaker, CircuitState};
use tributary::engine::clock::SystemClock;
use tributary::engine::manager::DownloadManager;
use tributary::engine::provider::Provider;
use tributary::engine::provider_slot::ProviderOptions;
use tributary::store::Store;
use tributary_tests::{TestApp, fast_emulator, fast_settings, slskd_against};

const M: &str = "/api/downloads/manager";

#[tokio::test]
async fn a_host_our_config_does_not_grant_is_a_config_problem_not_a_provider_failure() {
    let emulator = fast_emulator().await;
    // The operator forgot to grant slskd's address.
    let app = TestApp::start_with(&emulator, |c| {
        c.providers.get_mut("slskd").unwrap().allowed_hosts.clear();
    })
    .await;
    let (status, created) = app
        .send_json(
            Method::POST,
            "/api/downloads",
            json!({"artist": "Boards of Canada", "title": "Roygbiv"}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let fix = format!(
        "add \"{}\" to allowed_hosts under [providers.slskd]",
        emulator.url()
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let provider = loop {
        let (_, health) = app.get_json(&format!("{M}/health")).await;
        let p = health["providers"][0].clone();
        if p["error_message"]
            .as_str()
            .is_some_and(|m| m.contains(&fix))
        {
            break p;
        }
        assert!(
            Instant::now() < deadline,
            "health never said what to fix: {p}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(provider["is_healthy"], false);
    // Several calls were refused meanwhile; none of them counted against slskd.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (_, health) = app.get_json(&format!("{M}/health")).await;
    let p = &health["providers"][0];
    assert_eq!(p["circuit_state"], "closed", "{p}");
    assert_eq!(p["consecutive_failures"], 0, "{p}");
    let (_, d) = app
        .get_json(&format!(
            "/api/downloads/{}",
            created["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(d["status"], "waiting", "it waits, it does not fail: {d}");
    assert_eq!(
        emulator.control().request_count(),
        0,
        "nothing reached slskd"
    );
    app.shutdown().await;
    emulator.shutdown().await;
}

async fn engine_with_breaker(
    store_path: &std::path::Path,
    emulator: &slskd_emulator::Emulator,
    fingerprint: &str,
) -> (tributary_tests::PluginsDir, DownloadManager) {
    let (plugins, slskd) = slskd_against(emulator).await;
    let options = ProviderOptions {
        config_fingerprint: fingerprint.into(),
        ..ProviderOptions::default()
    };
    let engine = DownloadManager::with_options(
        Store::open(store_path).unwrap(),
        vec![(slskd as std::sync::Arc<dyn Provider>, options)],
        fast_settings(),
        std::sync::Arc::new(SystemClock),
    )
    .unwrap();
    (plugins, engine)
}

#[tokio::test]
async fn a_breaker_opened_under_another_configuration_starts_closed() {
    let emulator = fast_emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("t.redb");
    {
        // A breaker left open by a wrong URL, recorded under that configuration.
        let store = Store::open(&db).unwrap();
        let open = Breaker {
            state: CircuitState::Open,
            consecutive_failures: 9,
            openings: 4,
            opened_at: Some(chrono::Utc::now()),
            last_error: Some("provider unreachable: connection refused".into()),
            config_fingerprint: "wrong-url".into(),
            ..Breaker::default()
        };
        store.save_breaker("slskd", &open).unwrap();
    }
    let (_plugins, same) = engine_with_breaker(&db, &emulator, "wrong-url").await;
    assert_eq!(
        same.health()[0].circuit_state,
        CircuitState::Open,
        "the same configuration keeps its breaker"
    );
    drop(same);
    let (_plugins, fixed) = engine_with_breaker(&db, &emulator, "fixed-url").await;
    let health = &fixed.health()[0];
    assert_eq!(health.circuit_state, CircuitState::Closed, "{health:?}");
    assert_eq!(health.consecutive_failures, 0);
    emulator.shutdown().await;
}

#[tokio::test]
async fn retry_now_tries_a_broken_provider_at_once() {
    let emulator = fast_emulator().await;
    let app = TestApp::start(&emulator).await;
    emulator.go_down().await;
    app.send_json(
        Method::POST,
        "/api/downloads",
        json!({"artist": "Boards of Canada", "title": "Roygbiv"}),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, health) = app.get_json(&format!("{M}/health")).await;
        if health["providers"][0]["circuit_state"] == "open" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the breaker never opened: {health}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The health partial offers the button.
    let page = app.get_text(&format!("{M}/htmx/provider-health")).await;
    assert!(
        page.contains("/api/downloads/manager/providers/slskd/reconnect")
            && page.contains("Retry now"),
        "{page}"
    );
    // Still down: the trial fails and the breaker opens again.
    let (status, tried) = app
        .send_json(
            Method::POST,
            &format!("{M}/providers/slskd/reconnect"),
            json!(null),
        )
        .await;
    assert_eq!(status, 200, "{tried}");
    assert_eq!(tried["circuit_state"], "open", "{tried}");
    // Back: at once, not after the breaker's minute.
    emulator.come_back().await.unwrap();
    let (status, tried) = app
        .send_json(
            Method::POST,
            &format!("{M}/providers/slskd/reconnect"),
            json!(null),
        )
        .await;
    assert_eq!(status, 200, "{tried}");
    assert_eq!(tried["circuit_state"], "closed", "{tried}");
    assert_eq!(tried["is_healthy"], true, "{tried}");
    let (status, unknown) = app
        .send_json(
            Method::POST,
            &format!("{M}/providers/nope/reconnect"),
            json!(null),
        )
        .await;
    assert_eq!(status, 400, "{unknown}");
    app.shutdown().await;
    emulator.shutdown().await;
}

#[tokio::test]
async fn the_health_partials_ping_a_provider_not_synced_yet() {
    let emulator = fast_emulator().await;
    // slskd hangs: the first poll neither succeeds nor fails for a long while.
    emulator
        .control()
        .set_fault(slskd_emulator::Fault::Hang { ms: 60_000 });
    let app = TestApp::start_with(&emulator, |config| {
        if let Some(grant) = config.providers.get_mut("slskd") {
            grant.call_timeout_ms = Some(30_000);
        }
    })
    .await;
    // Not synced yet: it is pinged (briefly), not assumed well.
    for path in ["htmx/provider-health-mini", "htmx/provider-health"] {
        let page = app.get_text(&format!("{M}/{path}")).await;
        assert!(
            !page.contains("slskd: Connected") && !page.contains("Connected ·"),
            "{path} shows an unreachable slskd as connected: {page}"
        );
        assert!(
            page.contains("Disconnected") || page.contains("unhealthy"),
            "{path}: {page}"
        );
    }
    app.shutdown().await;
    emulator.shutdown().await;
}
