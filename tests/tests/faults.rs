//! Fault injection against the emulator while downloads are in flight: for each fault, no
//! download is lost or failed, the queue finishes once the fault clears, and the counters equal
//! a recount. Prints the time from the fault clearing to the queue finishing.

use std::sync::Arc;
use std::time::{Duration, Instant};

use slskd_emulator::{Emulator, EmulatorConfig, Fault};
use tributary::engine::clock::SystemClock;
use tributary::engine::download::Status;
use tributary::engine::manager::{DownloadManager, NewDownload};
use tributary::engine::provider::Provider;
use tributary::store::Store;
use tributary_tests::{
    PluginsDir, assert_counters_match, emulator_key, fast_settings, runtime, slskd_grant,
};

#[derive(Debug, Clone, Copy)]
enum Injected {
    Down,
    Fault(Fault),
    RestartWithNewIds,
}

const DOWNLOADS: usize = 6;

async fn survive(name: &str, injected: Injected) -> Duration {
    let emulator = Emulator::start(EmulatorConfig {
        speed_factor: 4.0,
        ..tributary_tests::test_emulator_config()
    })
    .await
    .unwrap();
    let plugins = PluginsDir::with(&["plugins/slskd"]);
    let mut grant = slskd_grant(&emulator, Some(&emulator_key()));
    grant.call_timeout_ms = Some(1_500);
    let (slskd, _) = runtime()
        .load(&plugins.folder("slskd"), &grant)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut settings = fast_settings();
    settings.breaker.recovery = Duration::from_millis(700);
    let engine = DownloadManager::new(
        Store::open(&dir.path().join("t.redb")).unwrap(),
        vec![slskd as Arc<dyn Provider>],
        settings,
        Arc::new(SystemClock),
    )
    .unwrap();
    let running = engine.start().unwrap();
    for n in 0..DOWNLOADS {
        engine
            .create(NewDownload {
                artist: "Fault".into(),
                title: format!("{name} {}", n + 10),
                ..NewDownload::default()
            })
            .unwrap();
    }
    let started = Instant::now();
    while engine.stats().unwrap().downloading == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{name}: nothing started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let requests_before = emulator.control().request_count();
    match injected {
        Injected::Down => emulator.go_down().await,
        Injected::Fault(f) => emulator.control().set_fault(f),
        Injected::RestartWithNewIds => emulator.control().restart_slskd(),
    }
    // Look only once the engine has met the fault: failed calls to a slskd that is down, or
    // several requests answered under the fault.
    let injected_at = Instant::now();
    loop {
        let met = match injected {
            Injected::Down => engine.health()[0].consecutive_failures >= 2,
            _ => emulator.control().request_count() >= requests_before + 5,
        };
        if met {
            break;
        }
        assert!(
            injected_at.elapsed() < Duration::from_secs(30),
            "{name}: the engine never met the fault"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        engine.stats().unwrap().failed_today,
        0,
        "{name}: a fault must not fail downloads"
    );
    match injected {
        Injected::Down => emulator.come_back().await.unwrap(),
        Injected::Fault(_) => emulator.control().set_fault(Fault::None),
        Injected::RestartWithNewIds => {}
    }
    let cleared = Instant::now();
    let mut healthy_after = None;
    loop {
        if healthy_after.is_none() {
            let h = &engine.health()[0];
            if h.circuit_state == tributary::engine::breaker::CircuitState::Closed
                && h.consecutive_failures == 0
            {
                healthy_after = Some(cleared.elapsed());
            }
        }
        let s = engine.stats().unwrap();
        if s.total_active == 0 {
            break;
        }
        assert!(
            cleared.elapsed() < Duration::from_secs(60),
            "{name}: the queue did not finish: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let recovery = cleared.elapsed();
    let completed = engine.with_status(Status::Completed).unwrap().len();
    let failed = engine.with_status(Status::Failed).unwrap().len();
    assert_eq!(
        (completed, failed),
        (DOWNLOADS, 0),
        "{name}: lost or failed downloads"
    );
    assert_eq!(
        engine.store().total().unwrap() as usize,
        DOWNLOADS,
        "{name}: nothing duplicated"
    );
    assert_counters_match(&engine);
    let healthy = healthy_after.unwrap_or(recovery);
    println!(
        "fault {name:<16} downloads {DOWNLOADS}  completed {completed}  lost 0  failed 0  provider healthy {:.1} s and queue finished {:.1} s after the fault cleared",
        healthy.as_secs_f64(),
        recovery.as_secs_f64()
    );
    running.shutdown().await;
    emulator.shutdown().await;
    recovery
}

#[tokio::test(flavor = "multi_thread")]
async fn every_fault_is_survived_without_losing_a_download() {
    let faults = [
        ("provider down", Injected::Down),
        ("500s", Injected::Fault(Fault::Error500)),
        ("hangs", Injected::Fault(Fault::Hang { ms: 60_000 })),
        ("invalid JSON", Injected::Fault(Fault::InvalidJson)),
        ("slow answers", Injected::Fault(Fault::Slow { ms: 400 })),
        ("rate limited", Injected::Fault(Fault::RateLimited)),
        ("not logged in", Injected::Fault(Fault::NotLoggedIn)),
        ("restart, new ids", Injected::RestartWithNewIds),
    ];
    for (name, injected) in faults {
        survive(name, injected).await;
    }
}
