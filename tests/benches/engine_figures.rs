//! Engine figures: create throughput, dispatch-to-handed-over latency against the emulator,
//! statistics time with 100,000 downloads stored, and the redb file size per 10,000.
//!
//! `cargo bench -p tributary-tests --bench engine_figures` (after `cargo xtask build-plugins`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use slskd_emulator::{Emulator, EmulatorConfig};
use tributary::engine::clock::SystemClock;
use tributary::engine::manager::{DownloadManager, NewDownload};
use tributary::engine::provider::Provider;
use tributary::store::Store;
use tributary_tests::slskd_against;

fn new(n: usize) -> NewDownload {
    NewDownload {
        artist: "Bench Artist".into(),
        title: format!("Bench Track {n}"),
        ..NewDownload::default()
    }
}

#[tokio::main]
async fn main() {
    let emulator = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let (_plugins, slskd) = slskd_against(&emulator).await;
    let dir = tempfile::tempdir().unwrap();

    // Create throughput: one durable commit per download.
    let path = dir.path().join("create.redb");
    let engine = DownloadManager::new(
        Store::open(&path).unwrap(),
        vec![slskd.clone() as Arc<dyn Provider>],
        Default::default(),
        Arc::new(SystemClock),
    )
    .unwrap();
    let n = 2_000;
    let t = Instant::now();
    for i in 0..n {
        engine.create(new(i)).unwrap();
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "create: {n} downloads in {secs:.2} s = {:.0}/s (each a durable redb commit)",
        n as f64 / secs
    );

    // Statistics with 100,000 stored (bulk-loaded), and the file size.
    let path = dir.path().join("big.redb");
    let store = Store::open(&path).unwrap();
    let template = engine
        .get(engine.store().waiting_in_order(1).unwrap()[0].id)
        .unwrap();
    let mut sizes = Vec::new();
    for batch in 0..10 {
        let rows = tributary_tests::stored_batch(&template, batch, chrono::Utc::now());
        store.insert_batch(&rows).unwrap();
        sizes.push(std::fs::metadata(&path).unwrap().len());
    }
    drop(store);
    let engine = DownloadManager::new(
        Store::open(&path).unwrap(),
        vec![slskd.clone() as Arc<dyn Provider>],
        Default::default(),
        Arc::new(SystemClock),
    )
    .unwrap();
    assert_eq!(engine.store().total().unwrap(), 100_000);
    let mut samples = Vec::new();
    for _ in 0..2_000 {
        let t = Instant::now();
        std::hint::black_box(engine.stats().unwrap());
        samples.push(t.elapsed());
    }
    samples.sort();
    println!(
        "stats with 100,000 stored: p50 {:.1} µs, p99 {:.1} µs",
        samples[samples.len() / 2].as_secs_f64() * 1e6,
        samples[samples.len() * 99 / 100].as_secs_f64() * 1e6
    );
    let per_10k: Vec<String> = sizes
        .windows(2)
        .map(|w| format!("{:.1}", (w[1] - w[0]) as f64 / 1_048_576.0))
        .collect();
    println!(
        "redb file: {:.1} MiB for 100,000 downloads; growth per 10,000: {} MiB",
        sizes[9] as f64 / 1_048_576.0,
        per_10k.join(", ")
    );

    // Dispatch to handed-over (PENDING with an external id), emulator at real speed (0.8 s searches).
    let path = dir.path().join("dispatch.redb");
    let engine = DownloadManager::new(
        Store::open(&path).unwrap(),
        vec![slskd.clone() as Arc<dyn Provider>],
        tributary::engine::settings::EngineSettings {
            search_poll: Duration::from_millis(100),
            dispatch_interval: Duration::from_millis(100),
            ..Default::default()
        },
        Arc::new(SystemClock),
    )
    .unwrap();
    let running = engine.start().unwrap();
    let mut latencies = Vec::new();
    for i in 0..10 {
        let (d, _) = engine.create(new(10_000 + i)).unwrap();
        let t = Instant::now();
        loop {
            let now = engine.get(d.id).unwrap();
            if now.external_id.is_some() {
                latencies.push(t.elapsed());
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        engine.cancel(d.id).unwrap();
    }
    latencies.sort();
    println!(
        "create → handed over (search + rank + enqueue): p50 {:.0} ms, max {:.0} ms (the emulator's search takes 800 ms)",
        latencies[latencies.len() / 2].as_secs_f64() * 1e3,
        latencies.last().unwrap().as_secs_f64() * 1e3
    );
    running.shutdown().await;
    emulator.shutdown().await;
}
