//! The qBittorrent plugin against two real qBittorrent daemons (Debian's `qbittorrent-nox`) on
//! loopback, through the engine: one seeds a multi-file torrent the test makes from real files,
//! the other is driven by Tributary and fetches the one chosen track of it to completion, then
//! is paused and resumed; a wrong password is refused. DHT, PeX and LSD are off: the seeder is
//! introduced with `torrents/addPeers`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tributary::demo::files::{self, content};
use tributary::engine::download::{Download, Status};
use tributary::engine::manager::{DownloadManager, NewDownload, RequestedSource};
use tributary::engine::provider::{Provider, ProviderError};
use tributary::engine::provider_slot::ProviderOptions;
use tributary_tests::{
    PluginsDir, engine_over, fast_settings, free_port, grant_for, runtime, until_listening,
    wait_for_status,
};

/// qBittorrent 4.5's WebUI user and password until they are changed.
const USER: &str = "admin";
const PASSWORD: &str = "adminadmin";

/// The album's files: (path inside the torrent, size). The second is the wanted track.
const ALBUM: [(&str, usize); 3] = [
    ("01 - Opening.flac", 3 * 1024 * 1024 + 11),
    ("02 - The Wanted One.flac", 20 * 1024 * 1024 + 7),
    ("03 - Closing.flac", 2 * 1024 * 1024 + 3),
];

/// Writes the album's files under `dir/Album` and returns the .torrent and its info hash.
fn make_album(dir: &Path) -> (Vec<u8>, String) {
    let album: Vec<(&str, Vec<u8>)> = ALBUM
        .iter()
        .map(|(path, size)| (*path, content(path, *size)))
        .collect();
    files::make_torrent(dir, "Album", &album).unwrap()
}

/// Serves `body` at `path` on loopback, at full speed; returns the server's origin.
async fn serve(path: &str, body: Vec<u8>) -> String {
    let addr = files::serve(HashMap::from([(path.to_owned(), body)]), usize::MAX)
        .await
        .unwrap();
    format!("http://{addr}")
}

/// One qbittorrent-nox with its own profile, WebUI and torrent port on loopback; killed on drop.
struct QBittorrent {
    child: Child,
    url: String,
    peer_port: u16,
    client: reqwest::Client,
}

impl Drop for QBittorrent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl QBittorrent {
    async fn start(profile: &Path, save: &Path) -> QBittorrent {
        assert!(
            Command::new("qbittorrent-nox")
                .arg("--version")
                .output()
                .is_ok(),
            "qbittorrent-nox is missing: `cargo xtask test` installs Debian's qbittorrent-nox"
        );
        let (web, peer_port) = (free_port(), free_port());
        let config = profile.join("qBittorrent/config");
        std::fs::create_dir_all(&config).unwrap();
        std::fs::write(
            config.join("qBittorrent.conf"),
            format!(
                "[LegalNotice]\nAccepted=true\n\n[BitTorrent]\nSession\\DHTEnabled=false\nSession\\PeXEnabled=false\nSession\\LSDEnabled=false\nSession\\Port={peer_port}\nSession\\Interface=lo\nSession\\DefaultSavePath={}\n\n[Preferences]\nWebUI\\Address=127.0.0.1\nWebUI\\Port={web}\nConnection\\PortRangeMin={peer_port}\n",
                save.display()
            ),
        )
        .unwrap();
        let child = Command::new("qbittorrent-nox")
            .arg(format!("--profile={}", profile.display()))
            .arg(format!("--webui-port={web}"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("qbittorrent-nox starts");
        let url = format!("http://127.0.0.1:{web}");
        let client = tributary_tests::http_client_builder()
            .cookie_store(true)
            .build()
            .unwrap();
        let mut q = QBittorrent {
            child,
            url,
            peer_port,
            client,
        };
        until_listening(&mut q.child, web, "qbittorrent-nox").await;
        let said = q
            .call("auth/login", &[("username", USER), ("password", PASSWORD)])
            .await;
        assert_eq!(said, "Ok.");
        q
    }

    /// A WebUI call with a form body, answered as text.
    async fn call(&self, path: &str, form: &[(&str, &str)]) -> String {
        self.client
            .post(format!("{}/api/v2/{path}", self.url))
            .header("Referer", &self.url)
            .form(form)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    async fn get(&self, path: &str) -> serde_json::Value {
        let text = self
            .client
            .get(format!("{}/api/v2/{path}", self.url))
            .header("Referer", &self.url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"))
    }
}

struct Setup {
    _plugins: PluginsDir,
    provider: Arc<dyn Provider>,
    seeder: QBittorrent,
    leecher: QBittorrent,
    torrent_url: String,
    hash: String,
    dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let (torrent, hash) = make_album(&dir.path().join("seed"));
    let torrent_url = format!("{}/album.torrent", serve("/album.torrent", torrent).await);
    let seeder = QBittorrent::start(&dir.path().join("seeder"), &dir.path().join("seed")).await;
    let leecher = QBittorrent::start(&dir.path().join("leecher"), &dir.path().join("dl")).await;
    let seed_path = dir.path().join("seed");
    let said = seeder
        .call(
            "torrents/add",
            &[
                ("urls", torrent_url.as_str()),
                ("savepath", seed_path.to_str().unwrap()),
            ],
        )
        .await;
    assert_eq!(said, "Ok.");
    let plugins = PluginsDir::with(&["plugins/qbittorrent"]);
    let mut grant = grant_for(&leecher.url, None);
    grant.settings.insert(
        "password".into(),
        tributary::config::SettingValue::Text(PASSWORD.into()),
    );
    let (provider, _) = runtime()
        .load(&plugins.folder("qbittorrent"), &grant)
        .await
        .expect("the qBittorrent plugin loads");
    Setup {
        _plugins: plugins,
        provider: provider as Arc<dyn Provider>,
        seeder,
        leecher,
        torrent_url,
        hash,
        dir,
    }
}

fn engine(s: &Setup) -> (DownloadManager, tributary::engine::manager::Running) {
    let mut settings = fast_settings();
    settings.retry.max_retries = 0;
    // These files are made-up bytes, not audio: verification has its own suite
    // (verified_files.rs); this one is about qBittorrent.
    settings.verify.enabled = false;
    engine_over(
        s.provider.clone(),
        ProviderOptions::default(),
        &s.dir.path().join("t.redb"),
        settings,
    )
}

impl Setup {
    /// The torrent's state at the leecher; `None` while it does not have it.
    async fn leecher_state(&self) -> Option<String> {
        let info = self
            .leecher
            .get(&format!("torrents/info?hashes={}", self.hash))
            .await;
        info[0]["state"].as_str().map(str::to_owned)
    }

    /// Waits until the leecher's state satisfies `done`; panics after `within`.
    async fn until_leecher(
        &self,
        what: &str,
        within: Duration,
        done: impl Fn(Option<&str>) -> bool,
    ) {
        let started = Instant::now();
        loop {
            let state = self.leecher_state().await;
            if done(state.as_deref()) {
                return;
            }
            assert!(started.elapsed() < within, "{what}: the state is {state:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Checks that download `d` finished the wanted track: its path, its bytes, and every other
    /// file set to "do not download". Returns the leecher's file list.
    async fn assert_wanted_track_finished(&self, d: &Download) -> serde_json::Value {
        let wanted = ALBUM[1].0;
        let path = PathBuf::from(d.local_path.clone().expect("the download says where"));
        assert_eq!(path, self.dir.path().join("dl/Album").join(wanted));
        assert!(std::fs::read(&path).unwrap() == content(wanted, ALBUM[1].1));
        let files = self
            .leecher
            .get(&format!("torrents/files?hash={}", self.hash))
            .await;
        for f in files.as_array().unwrap() {
            let name = f["name"].as_str().unwrap();
            if name.ends_with(wanted) {
                assert_eq!(f["progress"], 1.0, "{f}");
            } else {
                assert_eq!(f["priority"], 0, "{name} was not skipped: {f}");
            }
        }
        files
    }
}

/// Tells the two daemons about each other (no DHT, PeX or LSD here), once the leecher has
/// the torrent.
async fn introduce(s: &Setup) {
    s.until_leecher(
        "the leecher gets the torrent",
        Duration::from_secs(20),
        |state| state.is_some(),
    )
    .await;
    for (from, to) in [(&s.leecher, &s.seeder), (&s.seeder, &s.leecher)] {
        let peer = format!("127.0.0.1:{}", to.peer_port);
        from.call(
            "torrents/addPeers",
            &[("hashes", s.hash.as_str()), ("peers", peer.as_str())],
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn one_chosen_track_of_a_real_torrent_downloads_and_the_rest_does_not() {
    let s = setup().await;
    let health = s.provider.ping().await.expect("qBittorrent answers");
    assert_eq!(
        health.service_version.as_deref(),
        Some("v4.5.2"),
        "{health:?}"
    );
    assert!(health.ready);
    let (engine, running) = engine(&s);
    let wanted = ALBUM[1].0;
    let started = Instant::now();
    let (d, _) = engine
        .create(NewDownload {
            artist: "Torrent".into(),
            title: "The Wanted One".into(),
            source: Some(RequestedSource::Uri {
                uri: s.torrent_url.clone(),
                file: Some(wanted.into()),
                size: None,
            }),
            ..NewDownload::default()
        })
        .unwrap();
    introduce(&s).await;
    wait_for_status(&engine, d.id, Duration::from_secs(90), Status::Completed).await;
    println!(
        "qBittorrent: {} MB track from create to completed in {:.2} s",
        ALBUM[1].1 / (1024 * 1024),
        started.elapsed().as_secs_f64()
    );
    let d = engine.get(d.id).unwrap();
    assert_eq!(
        (d.provider_id.as_str(), d.provider_kind.as_str()),
        ("qbittorrent", "torrent")
    );
    assert_eq!(d.total_bytes, ALBUM[1].1 as u64, "the wanted file's size");
    // Chosen before any peer sent a piece: the other files are not whole either.
    let files = s.assert_wanted_track_finished(&d).await;
    for f in files.as_array().unwrap() {
        if !f["name"].as_str().unwrap().ends_with(wanted) {
            assert!(f["progress"].as_f64().unwrap() < 1.0, "fetched: {f}");
        }
    }
    // The torrent stays in qBittorrent under Tributary's category with its files.
    let info = s
        .leecher
        .get(&format!("torrents/info?hashes={}", s.hash))
        .await;
    assert_eq!(info[0]["category"], "tributary", "{info}");
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_password_is_refused_as_unauthorized() {
    let dir = tempfile::tempdir().unwrap();
    let q = QBittorrent::start(&dir.path().join("q"), &dir.path().join("dl")).await;
    let plugins = PluginsDir::with(&["plugins/qbittorrent"]);
    let mut grant = grant_for(&q.url, None);
    grant.settings.insert(
        "password".into(),
        tributary::config::SettingValue::Text("not-the-password".into()),
    );
    let (provider, _) = runtime()
        .load(&plugins.folder("qbittorrent"), &grant)
        .await
        .expect("the plugin loads");
    match provider.ping().await {
        Err(ProviderError::Unauthorized(message)) => {
            assert!(message.contains("username and password"), "{message}")
        }
        other => panic!("a wrong password must be unauthorized: {other:?}"),
    }
}

/// A magnet link: the files are known only once the seeder has sent the metadata, and the
/// wanted one is chosen then. It is held at qBittorrent (paused) and continued before the seeder
/// is introduced: a peer connection ended by a pause is not tried again for a minute
/// (libtorrent's `min_reconnect_time`), and without a tracker or DHT there is no other peer.
#[tokio::test(flavor = "multi_thread")]
async fn a_magnet_link_is_paused_and_resumed_at_qbittorrent_and_finishes_its_track() {
    let s = setup().await;
    let (engine, running) = engine(&s);
    let (d, _) = engine
        .create(NewDownload {
            artist: "Torrent".into(),
            title: "The Wanted One".into(),
            source: Some(RequestedSource::Uri {
                uri: format!("magnet:?xt=urn:btih:{}&dn=Album", s.hash),
                file: Some("the wanted one".into()),
                size: None,
            }),
            ..NewDownload::default()
        })
        .unwrap();
    // Seen at qBittorrent (waiting for its metadata): a transfer the engine holds on pause.
    wait_for_status(&engine, d.id, Duration::from_secs(30), Status::Queued).await;
    s.until_leecher("qBittorrent has it", Duration::from_secs(10), |state| {
        state.is_some()
    })
    .await;
    engine.pause(d.id).unwrap();
    wait_for_status(&engine, d.id, Duration::from_secs(10), Status::Paused).await;
    s.until_leecher("qBittorrent holds it", Duration::from_secs(10), |state| {
        state == Some("pausedDL")
    })
    .await;
    engine.resume(d.id).unwrap();
    s.until_leecher(
        "qBittorrent continues it",
        Duration::from_secs(10),
        |state| state != Some("pausedDL"),
    )
    .await;
    introduce(&s).await;
    wait_for_status(&engine, d.id, Duration::from_secs(60), Status::Completed).await;
    s.assert_wanted_track_finished(&engine.get(d.id).unwrap())
        .await;
    running.shutdown().await;
}

/// A qBittorrent search plugin (what its users install from the plugin list): a Python script
/// that reads an index of torrents served at `index_url`.
fn search_plugin(index_url: &str) -> String {
    format!(
        r#"#VERSION: 1.0
#AUTHORS: Tributary tests
import json
import urllib.parse
import urllib.request
from novaprinter import prettyPrinter


class tributaryindex(object):
    url = '{index_url}'
    name = 'Tributary test index'
    supported_categories = {{'all': '0', 'music': '1'}}

    def search(self, what, cat='all'):
        with urllib.request.urlopen(self.url + '/index.json') as answer:
            torrents = json.load(answer)
        words = urllib.parse.unquote(what).lower().split()
        for t in torrents:
            if all(w in t['name'].lower() for w in words):
                prettyPrinter({{'link': t['link'], 'name': t['name'], 'size': str(t['size']),
                               'seeds': t['seeds'], 'leech': 0, 'engine_url': self.url,
                               'desc_link': self.url}})
"#
    )
}

impl Setup {
    /// Installs a search plugin at the leecher over an index of `torrents` (name, link) served
    /// on loopback, and waits until qBittorrent lists it.
    async fn with_search_index(&self, torrents: &[(&str, &str)]) {
        assert!(
            Command::new("python3").arg("--version").output().is_ok(),
            "qBittorrent's search runs Python: `cargo xtask test` installs Debian's python3"
        );
        let index: Vec<_> = torrents
            .iter()
            .map(|(name, link)| {
                serde_json::json!({"name": name, "link": link, "size": 25_165_838, "seeds": 1})
            })
            .collect();
        let index_url = serve("/index.json", serde_json::to_vec(&index).unwrap()).await;
        let script = self.dir.path().join("tributaryindex.py");
        std::fs::write(&script, search_plugin(&index_url)).unwrap();
        self.leecher
            .call(
                "search/installPlugin",
                &[("sources", script.to_str().unwrap())],
            )
            .await;
        let started = Instant::now();
        while self
            .leecher
            .get("search/plugins")
            .await
            .as_array()
            .unwrap()
            .is_empty()
        {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "no search plugin"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A download created with neither provider nor source is searched for at slskd (the
/// emulator, whose only copy is an MP3) and at qBittorrent (a FLAC torrent of the album) at
/// once: one ranking takes the FLAC, the download moves to qBittorrent and fetches the one
/// track. A track only slskd has goes to slskd.
#[tokio::test(flavor = "multi_thread")]
async fn a_search_across_slskd_and_qbittorrent_goes_where_the_better_file_is() {
    let s = setup().await;
    s.with_search_index(&[
        ("Torrent - The Wanted One (FLAC)", s.torrent_url.as_str()),
        ("Unrelated - Other Things (FLAC)", s.torrent_url.as_str()),
    ])
    .await;
    let emulator = slskd_emulator::Emulator::start(slskd_emulator::EmulatorConfig {
        peers: vec![slskd_emulator::Peer::new(
            "mp3_maven",
            slskd_emulator::Behaviour::Normal,
            "mp3",
        )],
        ..tributary_tests::test_emulator_config()
    })
    .await
    .unwrap();
    let (slskd_plugins, slskd) = tributary_tests::slskd_against(&emulator).await;
    let store = tributary::store::Store::open(&s.dir.path().join("t.redb")).unwrap();
    let mut settings = fast_settings();
    settings.retry.max_retries = 0;
    settings.verify.enabled = false; // made-up bytes, as above
    let engine = DownloadManager::with_options(
        store,
        vec![
            (s.provider.clone(), ProviderOptions::default()),
            (slskd as Arc<dyn Provider>, ProviderOptions::default()),
        ],
        settings,
        Arc::new(tributary::engine::clock::SystemClock),
    )
    .unwrap();
    let running = engine.start().unwrap();
    let track = |artist: &str, title: &str| NewDownload {
        artist: artist.into(),
        title: title.into(),
        ..NewDownload::default()
    };
    let (d, _) = engine.create(track("Torrent", "The Wanted One")).unwrap();
    let (only_slskd, _) = engine.create(track("Someone", "Song Number 12")).unwrap();
    introduce(&s).await;
    wait_for_status(&engine, d.id, Duration::from_secs(90), Status::Completed).await;
    let d = engine.get(d.id).unwrap();
    assert_eq!(d.provider_id, "qbittorrent", "{d:?}");
    assert_eq!(d.source.as_ref().unwrap().format.as_deref(), Some("flac"));
    s.assert_wanted_track_finished(&d).await;
    wait_for_status(
        &engine,
        only_slskd.id,
        Duration::from_secs(60),
        Status::Completed,
    )
    .await;
    let only_slskd = engine.get(only_slskd.id).unwrap();
    assert_eq!(
        (
            only_slskd.provider_id.as_str(),
            only_slskd.source.unwrap().peer.as_str()
        ),
        ("slskd", "mp3_maven")
    );
    // qBittorrent's searches were ended, not left running.
    assert_eq!(s.leecher.get("search/status").await, serde_json::json!([]));
    running.shutdown().await;
    emulator.shutdown().await;
    drop(slskd_plugins);
}
