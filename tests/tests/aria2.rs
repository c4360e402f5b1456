//! The aria2 plugin against the real aria2c (Debian's package) on loopback, through the engine:
//! a URI download completes with its file where the download says, a pause and a resume, a
//! missing file fails with aria2's own reason, a wrong secret is refused, and finished results
//! are removed from aria2.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tributary::engine::download::Status;
use tributary::engine::manager::{DownloadManager, NewDownload, RequestedSource};
use tributary::engine::provider::{Provider, ProviderError};
use tributary::engine::provider_slot::ProviderOptions;
use tributary_tests::{
    PluginsDir, engine_over, fast_settings, free_port, grant_for, runtime, until_listening,
    wait_for_status,
};

const SECRET: &str = "tributary-aria2-test-secret";

/// The bytes of file `name`, `len` long: every file differs.
fn content(name: &str, len: usize) -> Vec<u8> {
    let seed = name
        .bytes()
        .fold(7u8, |a, b| a.wrapping_mul(31).wrapping_add(b));
    (0..len)
        .map(|i| (i as u8).wrapping_mul(13).wrapping_add(seed))
        .collect()
}

/// A small HTTP/1.1 file server: `GET /files/<name>?size=N[&slow]` serves `content(name, N)`
/// (honouring `Range: bytes=N-`, as aria2 needs to resume); anything else is 404. `slow` trickles
/// the body so that a transfer is still running when the test acts on it.
async fn file_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 2048];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let target = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let is_head = head.starts_with("HEAD");
                let (path, query) = target.split_once('?').unwrap_or((&target, ""));
                let Some(name) = path.strip_prefix("/files/") else {
                    let _ = stream
                        .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                        .await;
                    return;
                };
                let size: usize = query
                    .split('&')
                    .find_map(|p| p.strip_prefix("size="))
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(1024);
                let slow = query.split('&').any(|p| p == "slow");
                let body = content(name, size);
                let from: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("range: bytes=")
                            .map(str::to_owned)
                    })
                    .and_then(|r| r.trim_end_matches('-').split('-').next()?.parse().ok())
                    .unwrap_or(0)
                    .min(size);
                let status = if from > 0 {
                    format!(
                        "206 Partial Content\r\ncontent-range: bytes {from}-{}/{size}",
                        size - 1
                    )
                } else {
                    "200 OK".to_owned()
                };
                let reply = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: audio/flac\r\naccept-ranges: bytes\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    size - from
                );
                if stream.write_all(reply.as_bytes()).await.is_err() || is_head {
                    return;
                }
                for chunk in body[from..].chunks(if slow { 16 * 1024 } else { 1 << 20 }) {
                    if stream.write_all(chunk).await.is_err() {
                        return;
                    }
                    if slow {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            });
        }
    });
    base
}

/// aria2c with RPC on a free loopback port, saving into `dir`; killed on drop.
struct Aria2 {
    child: Child,
    url: String,
}

impl Drop for Aria2 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Aria2 {
    async fn start(dir: &Path) -> Aria2 {
        assert!(
            Command::new("aria2c").arg("--version").output().is_ok(),
            "aria2c is missing: `cargo xtask test` installs Debian's aria2"
        );
        let port = free_port();
        let child = Command::new("aria2c")
            .args([
                "--no-conf",
                "--enable-rpc",
                &format!("--rpc-listen-port={port}"),
                &format!("--rpc-secret={SECRET}"),
                &format!("--dir={}", dir.display()),
                "--rpc-listen-all=false",
                "--continue=true",
                "--max-connection-per-server=1",
                "--split=1",
                "--allow-overwrite=true",
                "--auto-file-renaming=false",
                "--file-allocation=none",
                "--max-tries=1",
                "--summary-interval=0",
                "--async-dns=false",
                "--disable-ipv6=true",
                &format!("--stop-with-process={}", std::process::id()),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("aria2c starts");
        let url = format!("http://127.0.0.1:{port}");
        let mut aria2 = Aria2 { child, url };
        until_listening(&mut aria2.child, port, "aria2c").await;
        aria2
    }

    /// A raw RPC call, to see what aria2 itself holds.
    async fn rpc(&self, method: &str, params: serde_json::Value) -> serde_json::Value {
        let mut all = vec![serde_json::json!(format!("token:{SECRET}"))];
        all.extend(params.as_array().cloned().unwrap_or_default());
        let body =
            serde_json::json!({"jsonrpc": "2.0", "id": "t", "method": method, "params": all});
        tributary_tests::http_client_builder()
            .build()
            .unwrap()
            .post(format!("{}/jsonrpc", self.url))
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

struct Setup {
    _plugins: PluginsDir,
    provider: Arc<dyn Provider>,
    aria2: Aria2,
    files: String,
    dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("dl")).unwrap();
    let aria2 = Aria2::start(&dir.path().join("dl")).await;
    let files = file_server().await;
    let plugins = PluginsDir::with(&["plugins/aria2"]);
    let mut grant = grant_for(&aria2.url, None);
    grant.settings.insert(
        "secret".into(),
        tributary::config::SettingValue::Text(SECRET.into()),
    );
    let (provider, _) = runtime()
        .load(&plugins.folder("aria2"), &grant)
        .await
        .expect("the aria2 plugin loads");
    Setup {
        _plugins: plugins,
        provider: provider as Arc<dyn Provider>,
        aria2,
        files,
        dir,
    }
}

fn engine(s: &Setup) -> (DownloadManager, tributary::engine::manager::Running) {
    let mut settings = fast_settings();
    settings.retry.max_retries = 0;
    // These files are made-up bytes, not audio: verification has its own suite
    // (verified_files.rs); this one is about aria2.
    settings.verify.enabled = false;
    engine_over(
        s.provider.clone(),
        ProviderOptions::default(),
        &s.dir.path().join("t.redb"),
        settings,
    )
}

fn from_uri(title: &str, uri: String) -> NewDownload {
    NewDownload {
        artist: "Direct".into(),
        title: title.into(),
        source: Some(RequestedSource::Uri {
            uri,
            file: None,
            size: None,
        }),
        ..NewDownload::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_uri_downloads_to_the_path_the_download_shows_and_leaves_aria2_tidy() {
    let s = setup().await;
    let health = s.provider.ping().await.expect("aria2 answers");
    assert_eq!(
        health.service_version.as_deref(),
        Some("1.36.0"),
        "{health:?}"
    );
    let (engine, running) = engine(&s);
    let size = 3 * 1024 * 1024 + 17;
    let (d, _) = engine
        .create(from_uri(
            "Direct One",
            format!("{}/files/direct-one.flac?size={size}", s.files),
        ))
        .unwrap();
    wait_for_status(&engine, d.id, Duration::from_secs(30), Status::Completed).await;
    let d = engine.get(d.id).unwrap();
    assert_eq!(d.provider_id, "aria2");
    let path = PathBuf::from(
        d.local_path
            .clone()
            .expect("the download says where its file is"),
    );
    assert_eq!(path, s.dir.path().join("dl/direct-one.flac"));
    assert_eq!(
        std::fs::read(&path).unwrap(),
        content("direct-one.flac", size)
    );

    // The finished result is removed from aria2 once the download has recorded it.
    let started = Instant::now();
    loop {
        let stopped = s
            .aria2
            .rpc("aria2.tellStopped", serde_json::json!([0, 100]))
            .await;
        if stopped["result"].as_array().is_some_and(Vec::is_empty) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "aria2 still lists {stopped}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pause_and_resume_finish_the_same_file() {
    let s = setup().await;
    let (engine, running) = engine(&s);
    let size = 2 * 1024 * 1024;
    let (d, _) = engine
        .create(from_uri(
            "Direct Slow",
            format!("{}/files/direct-slow.flac?size={size}&slow", s.files),
        ))
        .unwrap();
    wait_for_status(&engine, d.id, Duration::from_secs(30), Status::Downloading).await;
    engine.pause(d.id).unwrap();
    wait_for_status(&engine, d.id, Duration::from_secs(10), Status::Paused).await;
    // aria2 pauses asynchronously: the download moves to its waiting queue as `paused`.
    let started = Instant::now();
    loop {
        let held = s
            .aria2
            .rpc("aria2.tellWaiting", serde_json::json!([0, 10, ["status"]]))
            .await;
        if held["result"][0]["status"] == "paused" {
            break;
        }
        let active = s
            .aria2
            .rpc(
                "aria2.tellStopped",
                serde_json::json!([0, 10, ["status", "errorCode", "errorMessage"]]),
            )
            .await;
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "aria2 holds {held}, active {active}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    engine.resume(d.id).unwrap();
    wait_for_status(&engine, d.id, Duration::from_secs(60), Status::Completed).await;
    let path = engine.get(d.id).unwrap().local_path.unwrap();
    assert_eq!(
        std::fs::read(path).unwrap(),
        content("direct-slow.flac", size)
    );
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_file_fails_with_aria2_s_reason_and_a_wrong_secret_is_refused() {
    let s = setup().await;
    let (engine, running) = engine(&s);
    let (d, _) = engine
        .create(from_uri(
            "Direct Missing",
            format!("{}/nothing-here.flac", s.files),
        ))
        .unwrap();
    wait_for_status(&engine, d.id, Duration::from_secs(30), Status::Failed).await;
    let d = engine.get(d.id).unwrap();
    let said = d.error_message.unwrap_or_default();
    assert!(
        said.contains("404") || said.to_lowercase().contains("not found"),
        "the user reads what aria2 said: {said}"
    );
    running.shutdown().await;

    let plugins = PluginsDir::with(&["plugins/aria2"]);
    let mut grant = grant_for(&s.aria2.url, None);
    grant.settings.insert(
        "secret".into(),
        tributary::config::SettingValue::Text("wrong".into()),
    );
    let (wrong, _) = runtime()
        .load(&plugins.folder("aria2"), &grant)
        .await
        .unwrap();
    let err = wrong.ping().await.unwrap_err();
    assert!(matches!(err, ProviderError::Unauthorized(_)), "{err}");
}
