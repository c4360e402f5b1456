//! The qBittorrent plugin against two real qBittorrent daemons (Debian's `qbittorrent-nox`) on
//! loopback, through the engine: one seeds a multi-file torrent the test makes from real files,
//! the other is driven by Tributary and fetches the one chosen track of it to completion, then
//! is paused and resumed; a wrong password is refused. DHT, PeX and LSD are off: the seeder is
//! introduced with `torrents/addPeers`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha1::{Digest, Sha1};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
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
const PIECE: usize = 256 * 1024;

/// The album's files: (path inside the torrent, size). The second is the wanted track.
const ALBUM: [(&str, usize); 3] = [
    ("01 - Opening.flac", 3 * 1024 * 1024 + 11),
    ("02 - The Wanted One.flac", 20 * 1024 * 1024 + 7),
    ("03 - Closing.flac", 2 * 1024 * 1024 + 3),
];

/// The bytes of file `name`, `len` long: every file differs.
fn content(name: &str, len: usize) -> Vec<u8> {
    let seed = name
        .bytes()
        .fold(7u8, |a, b| a.wrapping_mul(31).wrapping_add(b));
    (0..len)
        .map(|i| ((i / 7) as u8).wrapping_mul(13).wrapping_add(seed))
        .collect()
}

/// Bencoding, as much of it as a torrent needs.
enum B {
    Int(u64),
    Bytes(Vec<u8>),
    List(Vec<B>),
    /// Keys in sorted order, as the format requires.
    Dict(Vec<(&'static str, B)>),
}

impl B {
    fn str(s: &str) -> B {
        B::Bytes(s.as_bytes().to_vec())
    }

    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            B::Int(n) => out.extend(format!("i{n}e").bytes()),
            B::Bytes(b) => {
                out.extend(format!("{}:", b.len()).bytes());
                out.extend(b);
            }
            B::List(items) => {
                out.push(b'l');
                items.iter().for_each(|i| i.encode(out));
                out.push(b'e');
            }
            B::Dict(entries) => {
                out.push(b'd');
                for (k, v) in entries {
                    B::str(k).encode(out);
                    v.encode(out);
                }
                out.push(b'e');
            }
        }
    }
}

/// Writes the album's files under `dir/Album` and returns the .torrent and its info hash.
fn make_album(dir: &Path) -> (Vec<u8>, String) {
    let root = dir.join("Album");
    std::fs::create_dir_all(&root).unwrap();
    let mut all = Vec::new();
    let mut files = Vec::new();
    for (name, size) in ALBUM {
        let bytes = content(name, size);
        std::fs::write(root.join(name), &bytes).unwrap();
        all.extend_from_slice(&bytes);
        files.push(B::Dict(vec![
            ("length", B::Int(size as u64)),
            ("path", B::List(vec![B::str(name)])),
        ]));
    }
    let pieces: Vec<u8> = all
        .chunks(PIECE)
        .flat_map(|p| Sha1::digest(p).to_vec())
        .collect();
    let info = B::Dict(vec![
        ("files", B::List(files)),
        ("name", B::str("Album")),
        ("piece length", B::Int(PIECE as u64)),
        ("pieces", B::Bytes(pieces)),
    ]);
    let mut info_bytes = Vec::new();
    info.encode(&mut info_bytes);
    let hash: String = Sha1::digest(&info_bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut torrent = b"d4:info".to_vec();
    torrent.extend(info_bytes);
    torrent.push(b'e');
    (torrent, hash)
}

/// Serves `body` on every path (the .torrent, as a site would).
async fn serve(body: Vec<u8>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let body = Arc::new(body);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 2048];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/x-bittorrent\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(reply.as_bytes()).await;
                let _ = stream.write_all(&body).await;
            });
        }
    });
    base
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
    let torrent_url = format!("{}/album.torrent", serve(torrent).await);
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
