//! Plugin runtime figures: compile with and without the cache, per-call overhead (fresh
//! instance + trivial call), and listing 1,000 transfers through the slskd plugin.
//!
//! `cargo bench -p tributary-tests --bench plugin_calls` (after `cargo xtask build-plugins`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tributary::config::{ProviderGrant, SettingValue};
use tributary::engine::provider::{Provider, Source, TrackQuery};
use tributary::plugins::PluginRuntime;
use tributary_tests::{PluginsDir, emulator_key, fast_emulator, slskd_grant};

fn summary(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let n = samples.len();
    let mean = samples.iter().sum::<Duration>() / n as u32;
    println!(
        "{label}: n={n} mean={:.1} µs p50={:.1} µs p99={:.1} µs",
        mean.as_secs_f64() * 1e6,
        samples[n / 2].as_secs_f64() * 1e6,
        samples[n * 99 / 100].as_secs_f64() * 1e6
    );
}

#[tokio::main]
async fn main() {
    let plugins = PluginsDir::with(&["plugins/slskd", "tests/plugins/hostile"]);
    let cache = tempfile::tempdir().unwrap();

    let hostile_grant = ProviderGrant {
        settings: BTreeMap::from([(
            "url".to_owned(),
            SettingValue::Text("http://127.0.0.1:9".into()),
        )]),
        ..ProviderGrant::default()
    };
    for round in ["no cache", "cache"] {
        let runtime = PluginRuntime::new(cache.path()).unwrap();
        let (_, stats) = runtime
            .load(&plugins.folder("hostile"), &hostile_grant)
            .await
            .unwrap();
        let emulator = fast_emulator().await;
        let (_, slskd_stats) = runtime
            .load(
                &plugins.folder("slskd"),
                &slskd_grant(&emulator, Some(&emulator_key())),
            )
            .await
            .unwrap();
        println!(
            "load ({round}): hostile {:?} {:.2} ms ({} KB); slskd {:?} {:.2} ms ({} KB)",
            stats.cache,
            stats.compile_ms,
            stats.wasm_bytes / 1024,
            slskd_stats.cache,
            slskd_stats.compile_ms,
            slskd_stats.wasm_bytes / 1024
        );
        emulator.shutdown().await;
    }

    let runtime = PluginRuntime::new(cache.path()).unwrap();
    let (hostile, _) = runtime
        .load(&plugins.folder("hostile"), &hostile_grant)
        .await
        .unwrap();
    let trivial = TrackQuery {
        artist: "a".into(),
        title: "fine".into(),
        album: None,
        duration_secs: None,
        search_timeout_ms: 1,
    };
    for _ in 0..200 {
        hostile.start_search(&trivial).await.unwrap();
    }
    let mut samples = Vec::new();
    for _ in 0..5_000 {
        let t = Instant::now();
        hostile.start_search(&trivial).await.unwrap();
        samples.push(t.elapsed());
    }
    summary("fresh instance + trivial call", samples);

    let emulator = fast_emulator().await;
    let (slskd, _) = runtime
        .load(
            &plugins.folder("slskd"),
            &slskd_grant(&emulator, Some(&emulator_key())),
        )
        .await
        .unwrap();
    for i in 0..1_000 {
        let source = Source::PeerFile {
            peer: "busy_bee".into(),
            filename: format!("@@busy\\Music\\Bench\\{i:04} - Track.flac"),
            size: 5_000_000,
        };
        slskd.enqueue(&source).await.unwrap();
    }
    let listed = slskd.list_transfers().await.unwrap();
    assert_eq!(listed.len(), 1_000);
    let mut samples = Vec::new();
    for _ in 0..100 {
        let t = Instant::now();
        let transfers = slskd.list_transfers().await.unwrap();
        samples.push(t.elapsed());
        assert_eq!(transfers.len(), 1_000);
    }
    summary("list 1,000 transfers through the plugin", samples);

    let client = tributary_tests::http_client_builder().build().unwrap();
    let url = format!("{}/api/v0/transfers/downloads", emulator.url());
    let mut samples = Vec::new();
    for _ in 0..100 {
        let t = Instant::now();
        let body = client
            .get(&url)
            .header("X-API-Key", emulator_key())
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        samples.push(t.elapsed());
        assert!(body.len() > 100_000);
    }
    summary("the same listing fetched directly (no wasm)", samples);
    emulator.shutdown().await;
}
