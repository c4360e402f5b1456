//! `tributary serve`, the real binary: a graceful stop on SIGTERM under load, nothing lost
//! across the restart, and a clean refusal (non-zero exit) when the data directory is unusable.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use slskd_emulator::{Emulator, EmulatorConfig};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn config(dir: &Path, emulator: &Emulator) -> PathBuf {
    let key = EmulatorConfig::default().api_key.unwrap();
    let text = format!(
        r#"
[server]
bind = "127.0.0.1:0"
templates_dir = "{templates}"
[storage]
path = "{db}"
[plugins]
dir = "{plugins}"
cache_dir = "{cache}"
[providers.slskd]
url = "{url}"
api_key = "{key}"
allowed_hosts = ["{url}"]
"#,
        templates = repo().join("templates").display(),
        db = dir.join("t.redb").display(),
        plugins = repo().join("plugins").display(),
        cache = repo().join("target/test-plugin-cache").display(),
        url = emulator.url(),
    );
    let path = dir.join("tributary.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The server process; killed if a test fails half-way, so it never outlives the test.
struct Server(Option<Child>);

impl Server {
    fn take(&mut self) -> Child {
        self.0.take().expect("the server process")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts the server and returns it with its base URL (read from its log).
fn serve(config: &Path) -> (Server, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tributary"))
        .args(["serve", "--config"])
        .arg(config)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if !sent && let Some(i) = line.find("Tributary listening on http://") {
                let addr = line[i + "Tributary listening on ".len()..]
                    .trim()
                    .to_owned();
                let _ = tx.send(addr);
                sent = true;
            }
        }
    });
    let server = Server(Some(child));
    let url = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the server says where it listens");
    (server, url)
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_under_load_stops_gracefully_and_loses_nothing() {
    let emulator = Emulator::start(EmulatorConfig {
        speed_factor: 0.5,
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &emulator);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (mut server, base) = serve(&config);
    let client = reqwest::Client::new();
    for n in 0..30 {
        let res = client
            .post(format!("{base}/api/downloads"))
            .json(&serde_json::json!({"artist": "Load", "title": format!("Track {n}")}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
    }
    let mut streams = Vec::new();
    for _ in 0..20 {
        streams.push(
            client
                .get(format!("{base}/api/downloads/manager/events"))
                .send()
                .await
                .unwrap(),
        );
    }
    let started = Instant::now();
    loop {
        let stats: serde_json::Value = client
            .get(format!("{base}/api/downloads/manager/stats"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if stats["downloading"].as_u64().unwrap() > 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "nothing started downloading"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut child = server.take();
    let stop = Instant::now();
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    let took = stop.elapsed();
    assert!(status.success(), "exit status {status}");
    assert!(took < Duration::from_secs(10), "stopped in {took:?}");
    for mut s in streams {
        // Every SSE stream ends (a final comment at most) rather than hanging.
        let ended = tokio::time::timeout(Duration::from_secs(5), async {
            while let Ok(Some(_)) = s.chunk().await {}
        })
        .await;
        assert!(ended.is_ok(), "an SSE stream outlived the server");
    }

    let (_server, base) = serve(&config);
    let export: serde_json::Value = client
        .get(format!("{base}/api/downloads/manager/export"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(export["count"], 30, "every download survived the restart");
    println!(
        "SIGTERM under load (30 downloads, 20 SSE clients): stopped in {:.2} s",
        took.as_secs_f64()
    );
    emulator.shutdown().await;
}

#[test]
fn an_unusable_data_directory_is_a_clean_error() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("not-a-directory");
    std::fs::write(&blocker, b"a file where the data directory should be").unwrap();
    let config = dir.path().join("t.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nbind = \"127.0.0.1:0\"\ntemplates_dir = \"{}\"\n[storage]\npath = \"{}\"\n",
            repo().join("templates").display(),
            blocker.join("data/t.redb").display()
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tributary"))
        .args(["serve", "--config"])
        .arg(&config)
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("cannot open the database") && text.contains("not-a-directory"),
        "{text}"
    );
}
