//! `tributary demo`: the slskd plugin, loaded by the real runtime, against the built-in slskd
//! emulator — ping, search, rank, enqueue, and watch the transfers to the end.
//!
//! Until the download engine lands this drives the provider directly; afterwards the demo
//! becomes the full server with a few downloads queued.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use slskd_emulator::{Emulator, EmulatorConfig};

use crate::config::{Config, ProviderGrant, SettingValue};
use crate::engine::provider::{Provider, Source, TrackQuery, TransferState};
use crate::engine::ranking::{RankingPolicy, Wanted};
use crate::plugins::PluginRuntime;

#[derive(Debug, Clone, clap::Args)]
pub struct DemoOptions {
    /// Where the plugins are (the build step puts slskd.wasm in plugins/slskd/).
    #[arg(long, default_value = "./plugins")]
    pub plugins_dir: PathBuf,
    /// Make the emulated transfers this many times faster.
    #[arg(long, default_value_t = 2.0)]
    pub speed_factor: f64,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 120)]
    pub timeout_secs: u64,
}

const TRACKS: &[(&str, &str)] = &[
    ("Boards of Canada", "Roygbiv"),
    ("Aphex Twin", "Avril 14th"),
    ("Burial", "Archangel"),
];

pub async fn run(options: DemoOptions) -> anyhow::Result<()> {
    let emulator = Emulator::start(EmulatorConfig {
        speed_factor: options.speed_factor,
        ..EmulatorConfig::default()
    })
    .await
    .context("starting the slskd emulator")?;
    println!("slskd emulator listening on {}", emulator.url());
    let result = drive(&options, &emulator).await;
    emulator.shutdown().await;
    result
}

async fn drive(options: &DemoOptions, emulator: &Emulator) -> anyhow::Result<()> {
    let mut settings = BTreeMap::new();
    settings.insert("url".to_owned(), SettingValue::Text(emulator.url()));
    settings.insert(
        "api_key".to_owned(),
        SettingValue::Text(
            slskd_emulator::EmulatorConfig::default()
                .api_key
                .unwrap_or_default(),
        ),
    );
    let grant = ProviderGrant {
        enabled: true,
        allowed_hosts: vec![emulator.url()],
        settings,
        ..ProviderGrant::default()
    };
    let mut config = Config::default();
    config.plugins.dir = options.plugins_dir.clone();
    config.providers.insert("slskd".to_owned(), grant);

    let runtime = PluginRuntime::new(config.plugin_cache_dir())?;
    let report = runtime
        .load_dir(&config.plugins.dir, &config.providers)
        .await;
    for (path, error) in &report.refused {
        println!("refused {}: {error}", path.display());
    }
    let Some((slskd, stats)) = report
        .loaded
        .iter()
        .find(|(p, _)| p.descriptor().id == "slskd")
    else {
        bail!(
            "the slskd plugin is not in {} (build it with `cargo xtask build-plugins`)",
            config.plugins.dir.display()
        );
    };
    let slskd: Arc<dyn Provider> = slskd.clone();
    println!(
        "loaded plugin {} {} ({} KB; {:?}, {:.1} ms)",
        slskd.descriptor().display_name,
        slskd.descriptor().version,
        stats.wasm_bytes / 1024,
        stats.cache,
        stats.compile_ms
    );
    let health = slskd.ping().await?;
    println!(
        "ping: slskd {} — {}",
        health.service_version.unwrap_or_default(),
        health.detail
    );

    let policy = RankingPolicy::default();
    let mut enqueued = Vec::new();
    for (artist, title) in TRACKS {
        let query = TrackQuery {
            artist: (*artist).into(),
            title: (*title).into(),
            album: None,
            duration_secs: None,
            search_timeout_ms: 5_000,
        };
        let search_id = slskd.start_search(&query).await?;
        let started = Instant::now();
        let progress = loop {
            let progress = slskd.poll_search(&search_id).await?;
            if progress.complete || started.elapsed() > Duration::from_secs(20) {
                break progress;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        let ranked = policy.rank(
            &progress.candidates,
            &Wanted {
                title,
                duration_secs: None,
            },
            &[],
        );
        println!(
            "search {artist} - {title}: {} candidates in {:.1} s",
            progress.candidates.len(),
            started.elapsed().as_secs_f64()
        );
        let Some(best) = ranked.first() else {
            println!("  nothing to download");
            continue;
        };
        let source = Source {
            peer: best.peer.clone(),
            filename: best.filename.clone(),
            size: best.size,
        };
        let id = slskd.enqueue(&source).await?;
        println!(
            "  enqueued {} from {} ({}, {} bytes) as {id}",
            best.extension, best.peer, best.filename, best.size
        );
        enqueued.push(id);
    }
    // One peer that refuses, to show a failure as the plugin reports it.
    let refused = Source {
        peer: "rejecter".into(),
        filename: "@@rejec\\Music\\Demo\\01 - Demo.flac".into(),
        size: 1234,
    };
    enqueued.push(slskd.enqueue(&refused).await?);

    let deadline = Instant::now() + Duration::from_secs(options.timeout_secs);
    loop {
        let transfers = slskd.list_transfers().await?;
        let ours: Vec<_> = transfers
            .iter()
            .filter(|t| enqueued.contains(&t.external_id))
            .collect();
        for t in &ours {
            let percent = if t.size > 0 {
                t.bytes_transferred as f64 * 100.0 / t.size as f64
            } else {
                0.0
            };
            let failure = t
                .failure
                .as_ref()
                .map(|f| format!(" ({:?}: {})", f.reason, f.message))
                .unwrap_or_default();
            println!(
                "  {:<12} {:>5.1}% {:>9.0} B/s {:?}{failure}",
                t.peer, percent, t.speed_bytes_per_sec, t.state
            );
        }
        let done = ours.len() == enqueued.len()
            && ours.iter().all(|t| {
                matches!(
                    t.state,
                    TransferState::Succeeded | TransferState::Failed | TransferState::Cancelled
                )
            });
        if done {
            let succeeded = ours
                .iter()
                .filter(|t| t.state == TransferState::Succeeded)
                .count();
            println!(
                "done: {succeeded} succeeded, {} failed",
                ours.len() - succeeded
            );
            slskd.clear_finished().await?;
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("transfers did not finish within {} s", options.timeout_secs);
        }
        println!("--");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
