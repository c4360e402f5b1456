//! `tributary demo`: the full server with the slskd plugin against the built-in slskd emulator
//! and a few downloads queued, so a first run shows live progress at http://127.0.0.1:8765.
//! When Debian's `aria2c` and `qbittorrent-nox` are installed, the aria2 and qBittorrent plugins
//! run too, against daemons the demo starts: aria2 fetches a file from a loopback web server,
//! qBittorrent one track of an album torrent a second qBittorrent seeds.

mod daemons;
pub mod files;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use slskd_emulator::{Emulator, EmulatorConfig};

use crate::app::App;
use crate::config::{Config, ProviderGrant, SettingValue};
use crate::engine::manager::{NewDownload, RequestedSource};

#[derive(Debug, Clone, clap::Args)]
pub struct DemoOptions {
    /// Where the plugins are (the build step puts slskd.wasm in plugins/slskd/).
    #[arg(long, default_value = "./plugins")]
    pub plugins_dir: PathBuf,
    /// Address of the web UI and API.
    #[arg(long, default_value = "127.0.0.1:8765")]
    pub bind: SocketAddr,
    /// Make the emulated transfers this many times faster.
    #[arg(long, default_value_t = 1.0)]
    pub speed_factor: f64,
    /// Exit once the demo downloads have finished (instead of serving until Ctrl-C).
    #[arg(long)]
    pub exit_when_done: bool,
    /// Give up after this many seconds when --exit-when-done is set.
    #[arg(long, default_value_t = 180)]
    pub timeout_secs: u64,
}

const DEMO_PEERS: &[&str] = &["vinylhoarder", "mp3_maven", "busy_bee", "rejecter"];

const TRACKS: &[(&str, &str, &str)] = &[
    (
        "Boards of Canada",
        "Roygbiv",
        "Music Has the Right to Children",
    ),
    ("Aphex Twin", "Avril 14th", "Drukqs"),
    ("Burial", "Archangel", "Untrue"),
    ("Massive Attack", "Teardrop", "Mezzanine"),
    ("Portishead", "Roads", "Dummy"),
];

pub async fn run(options: DemoOptions) -> anyhow::Result<()> {
    // The tests meet every misbehaving peer the emulator knows; the demo shows a small,
    // friendly network: two good sources, a peer with a long queue, and one that refuses.
    let peers = slskd_emulator::peers::default_peers()
        .into_iter()
        .filter(|p| DEMO_PEERS.contains(&p.username.as_str()))
        .collect();
    let data = tempfile::Builder::new()
        .prefix("tributary-demo")
        .tempdir()?;
    // The emulated slskd writes real FLAC and MP3 files there, as slskd would: the host
    // verifies each before it counts as completed, then imports it into the demo's library.
    let emulator = Emulator::start(EmulatorConfig {
        speed_factor: options.speed_factor,
        peers,
        downloads_dir: Some(data.path().join(SLSKD_DOWNLOADS)),
        track_secs: DEMO_TRACK_SECS,
        ..EmulatorConfig::default()
    })
    .await
    .context("starting the slskd emulator")?;
    println!("slskd emulator listening on {}", emulator.url());
    let result = serve(&options, &emulator, data.path()).await;
    emulator.shutdown().await;
    result
}

async fn serve(
    options: &DemoOptions,
    emulator: &Emulator,
    data: &std::path::Path,
) -> anyhow::Result<()> {
    let mut settings = BTreeMap::new();
    settings.insert("url".to_owned(), SettingValue::Text(emulator.url()));
    settings.insert(
        "api_key".to_owned(),
        SettingValue::Text(EmulatorConfig::default().api_key.unwrap_or_default()),
    );
    settings.insert(
        "downloads_dir".to_owned(),
        SettingValue::Text(data.join(SLSKD_DOWNLOADS).display().to_string()),
    );
    let grant = ProviderGrant {
        enabled: true,
        allowed_hosts: vec![emulator.url()],
        settings,
        ..ProviderGrant::default()
    };
    let mut config = Config::default();
    config.server.bind = options.bind;
    config.storage.path = data.join("demo.redb");
    config.library.dir = Some(data.join("library"));
    config.plugins.dir = options.plugins_dir.clone();
    config.plugins.cache_dir = Some(PathBuf::from("./data/plugin-cache"));
    // The emulated network runs `speed_factor` times faster; so do the engine's patience
    // timers, so that a stall or a peer's endless queue shows its fail-over at the same pace.
    let defaults = crate::engine::settings::EngineSettings::default();
    let scaled =
        |d: Duration| Some(((d.as_secs_f64() / options.speed_factor).ceil() as u64).max(1));
    config.engine.stall_timeout_secs = scaled(defaults.stall_timeout);
    config.engine.stall_grace_secs = scaled(defaults.stall_grace);
    config.engine.queue_timeout_secs = scaled(defaults.queue_timeout);
    config.providers.insert("slskd".to_owned(), grant);
    let mut extras = Extras::start(data, options.speed_factor).await?;
    for (id, grant) in &extras.grants {
        config.providers.insert((*id).to_owned(), grant.clone());
    }
    // Plugins whose daemons are not here stay off and show as disabled.
    for other in plugin_ids(&options.plugins_dir) {
        config
            .providers
            .entry(other)
            .or_insert_with(|| ProviderGrant {
                enabled: false,
                ..ProviderGrant::default()
            });
    }

    let app = App::start(&config).await?;
    if app.engine.provider_ids().is_empty() {
        app.shutdown().await;
        bail!(
            "the slskd plugin is not in {} (build it with `cargo xtask build-plugins`)",
            options.plugins_dir.display()
        );
    }
    for (artist, title, album) in TRACKS {
        app.engine.create(NewDownload {
            artist: (*artist).into(),
            title: (*title).into(),
            album: Some((*album).into()),
            ..NewDownload::default()
        })?;
    }
    // One from a peer that refuses: it fails over to another source.
    app.engine.create(NewDownload {
        artist: "Demo".into(),
        title: "Refused First".into(),
        source: Some(RequestedSource::PeerFile {
            peer: "rejecter".into(),
            filename: "@@rejec\\Music\\Demo\\01 - Refused First.flac".into(),
            size: 4_200_000,
        }),
        ..NewDownload::default()
    })?;
    extras.queue(&app).await?;
    println!(
        "Verified files are imported into {}",
        data.join("library").display()
    );
    println!(
        "Download Center: http://{}/  (API: /api/downloads/manager/active, docs: /api/docs)",
        app.addr
    );

    let started = Instant::now();
    let mut last = String::new();
    let outcome = loop {
        let stats = match app.engine.stats() {
            Ok(stats) => stats,
            Err(e) => break Err(e.into()),
        };
        let line = format!(
            "{} waiting │ {} pending │ {} queued │ {} downloading │ {} completed │ {} failed",
            stats.waiting,
            stats.pending,
            stats.queued,
            stats.downloading,
            stats.completed_today,
            stats.failed_today
        );
        if line != last {
            println!("{line}");
            last = line;
        }
        if options.exit_when_done {
            if stats.total_active == 0 {
                break Ok(());
            }
            if started.elapsed() > Duration::from_secs(options.timeout_secs) {
                break Err(anyhow::anyhow!(
                    "the demo downloads did not finish within {} s",
                    options.timeout_secs
                ));
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            stopped = app.until_stopped() => break stopped,
        }
    };
    app.shutdown().await;
    outcome
}

/// What runs beside the emulator: aria2 and qBittorrent when installed, the web server their
/// files come from, and the plugins' grants. The daemons stop when it is dropped.
struct Extras {
    grants: Vec<(&'static str, ProviderGrant)>,
    _daemons: Vec<daemons::Daemon>,
    /// The file for aria2, and its size.
    direct_url: Option<String>,
    direct_size: u64,
    swarm: Option<Swarm>,
}

/// The album torrent, the qBittorrent that seeds it and the one Tributary drives.
struct Swarm {
    torrent_url: String,
    hash: String,
    seeder: daemons::WebUi,
    fetcher: daemons::WebUi,
    /// The two torrent ports (seeder, fetcher).
    ports: (u16, u16),
}

impl Swarm {
    /// Tells the two qBittorrents about each other once the fetcher has the torrent (there is
    /// no tracker or DHT on loopback).
    async fn introduce(self) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            let info = self
                .fetcher
                .call("torrents/info", &[("hashes", &self.hash)])
                .await?;
            if info.contains(&self.hash) {
                break;
            }
            if started.elapsed() > Duration::from_secs(120) {
                bail!("the demo's qBittorrent never got the album torrent");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        for (ui, port) in [(&self.fetcher, self.ports.0), (&self.seeder, self.ports.1)] {
            let peer = format!("127.0.0.1:{port}");
            ui.call(
                "torrents/addPeers",
                &[("hashes", &self.hash), ("peers", &peer)],
            )
            .await?;
        }
        Ok(())
    }
}

/// Where the emulated slskd puts finished files (inside the demo's data folder).
const SLSKD_DOWNLOADS: &str = "slskd-downloads";
/// How long the emulated peers' tracks are: long enough for progress to show, short enough
/// to encode at each search.
const DEMO_TRACK_SECS: f32 = 30.0;

/// The file aria2 fetches (a path on the demo's web server), and its length.
const DIRECT_FILE: &str = "/Demo%20-%20Direct%20Download.flac";
const DIRECT_SECS: f32 = 60.0;

impl Extras {
    async fn start(data: &std::path::Path, speed_factor: f64) -> anyhow::Result<Extras> {
        let (aria2, qbittorrent) = (
            daemons::installed("aria2c"),
            daemons::installed("qbittorrent-nox"),
        );
        let mut extras = Extras {
            grants: Vec::new(),
            _daemons: Vec::new(),
            direct_url: None,
            direct_size: 0,
            swarm: None,
        };
        if !aria2 {
            println!("aria2: not installed, so not in the demo (`apt install aria2` adds it)");
        }
        if !qbittorrent {
            println!(
                "qBittorrent: not installed, so not in the demo (`apt install qbittorrent-nox` adds it)"
            );
        }
        if !aria2 && !qbittorrent {
            return Ok(extras);
        }
        let mut served = HashMap::new();
        let direct = files::track(DIRECT_FILE, DIRECT_SECS);
        extras.direct_size = direct.len() as u64;
        served.insert(DIRECT_FILE.to_owned(), direct);
        let seed = data.join("seed");
        let album: Vec<(&str, Vec<u8>)> = files::ALBUM
            .iter()
            .map(|(path, secs)| (*path, files::track(path, *secs)))
            .collect();
        let (torrent, hash) = files::make_torrent(&seed, "Mezzanine", &album)?;
        served.insert("/mezzanine.torrent".to_owned(), torrent);
        // About 1 MB/s at normal speed: aria2's progress shows for a few seconds.
        let pace = (1_000_000.0 * speed_factor) as usize;
        let server = files::serve(served, pace).await?;
        if aria2 {
            let (daemon, grant) = daemons::aria2(&data.join("aria2")).await?;
            println!("aria2c RPC listening on {}", daemon.url);
            extras.grants.push(("aria2", grant));
            extras._daemons.push(daemon);
            extras.direct_url = Some(format!("http://{server}{DIRECT_FILE}"));
        }
        if qbittorrent {
            let seeder = daemons::qbittorrent(&data.join("qb-seeder"), &seed).await?;
            let fetcher =
                daemons::qbittorrent(&data.join("qb-fetcher"), &data.join("torrents")).await?;
            println!(
                "qBittorrent WebUI on {} (seeding from a second one on {})",
                fetcher.url, seeder.url
            );
            let torrent_url = format!("http://{server}/mezzanine.torrent");
            let seeder_ui = daemons::WebUi::login(&seeder).await?;
            let seed_path = seed.to_string_lossy().into_owned();
            seeder_ui
                .call(
                    "torrents/add",
                    &[("urls", &torrent_url), ("savepath", &seed_path)],
                )
                .await?;
            let fetcher_ui = daemons::WebUi::login(&fetcher).await?;
            extras
                .grants
                .push(("qbittorrent", daemons::qbittorrent_grant(&fetcher)));
            extras.swarm = Some(Swarm {
                torrent_url,
                hash,
                seeder: seeder_ui,
                fetcher: fetcher_ui,
                ports: (seeder.peer_port, fetcher.peer_port),
            });
            extras._daemons.push(seeder);
            extras._daemons.push(fetcher);
        }
        Ok(extras)
    }

    /// Queues one download for each daemon that runs.
    async fn queue(&mut self, app: &App) -> anyhow::Result<()> {
        if let Some(url) = &self.direct_url {
            app.engine.create(NewDownload {
                artist: "Demo".into(),
                title: "Direct Download".into(),
                provider: Some("aria2".into()),
                source: Some(RequestedSource::Uri {
                    uri: url.clone(),
                    file: None,
                    size: Some(self.direct_size),
                }),
                ..NewDownload::default()
            })?;
        }
        if let Some(swarm) = self.swarm.take() {
            app.engine.create(NewDownload {
                artist: "Massive Attack".into(),
                title: "Angel".into(),
                album: Some("Mezzanine".into()),
                provider: Some("qbittorrent".into()),
                source: Some(RequestedSource::Uri {
                    uri: swarm.torrent_url.clone(),
                    file: Some(files::ALBUM[1].0.into()),
                    size: None,
                }),
                ..NewDownload::default()
            })?;
            tokio::spawn(async move {
                if let Err(e) = swarm.introduce().await {
                    eprintln!("qBittorrent in the demo: {e:#}");
                }
            });
        }
        Ok(())
    }
}

/// The ids of the plugin folders in `dir`.
fn plugin_ids(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter(|e| {
            e.path()
                .join(crate::plugins::manifest::MANIFEST_FILE)
                .is_file()
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}
