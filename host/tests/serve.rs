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
[engine]
# slskd's search timeout counts from the last response; a short one keeps the test short.
search_timeout_secs = 2
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

/// The server process and everything it logged; killed if a test fails half-way, so it never
/// outlives the test.
struct Server {
    child: Option<Child>,
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Server {
    fn take(&mut self) -> Child {
        self.child.take().expect("the server process")
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// GETs `url` and reads the answer as JSON.
async fn get_json(client: &reqwest::Client, url: String) -> serde_json::Value {
    client.get(url).send().await.unwrap().json().await.unwrap()
}

/// Starts the server and returns it with its base URL (read from its log).
fn serve(config: &Path) -> (Server, String) {
    serve_with(config, &[])
}

/// `serve` with more arguments (e.g. `--log-format json`).
fn serve_with(config: &Path, extra: &[&str]) -> (Server, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tributary"))
        .args(["serve", "--config"])
        .arg(config)
        .args(extra)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let lines = log.clone();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if !sent && let Some(i) = line.find("Tributary listening on http://") {
                // Plain text ends the line with the address; JSON closes a string after it.
                let addr: String = line[i + "Tributary listening on ".len()..]
                    .chars()
                    .take_while(|c| !c.is_whitespace() && *c != '"')
                    .collect();
                let _ = tx.send(addr);
                sent = true;
            }
            let mut log = lines.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
    });
    let server = Server {
        child: Some(child),
        log,
    };
    let url = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the server says where it listens");
    (server, url)
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_under_load_stops_gracefully_and_loses_nothing() {
    // Slow transfers, so that downloads are in flight at the SIGTERM; quick searches that a
    // good peer answers first, so that they start within the test's patience.
    let emulator = Emulator::start(EmulatorConfig {
        speed_factor: 0.5,
        timings: slskd_emulator::Timings {
            search: Duration::from_millis(200),
            ..slskd_emulator::Timings::default()
        },
        answer_order: slskd_emulator::AnswerOrder::PeerList,
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
            .json(&serde_json::json!({"artist": "Load", "title": format!("Track {}", n + 10)}))
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
        let stats: serde_json::Value =
            get_json(&client, format!("{base}/api/downloads/manager/stats")).await;
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
    let export: serde_json::Value =
        get_json(&client, format!("{base}/api/downloads/manager/export")).await;
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

/// A small tmpfs to put the data directory on, so that the disk really fills; unmounted when
/// dropped. Mounting needs root (CAP_SYS_ADMIN), as CI has; `None`, said out loud, without it.
/// CI sets `CI=true` (so does `.ci/run`).
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size_kib: u64) -> Option<SmallDisk> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_kib}k"), "tmpfs"])
            .arg(dir.path())
            .output();
        let why = match mounted {
            Ok(out) if out.status.success() => return Some(SmallDisk { dir }),
            Ok(out) => format!(
                "cannot mount a {size_kib} KiB tmpfs (it needs root): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Err(e) => format!("cannot run `mount`: {e}"),
        };
        // A skip is a pass nobody earned: in CI it is a failure.
        assert!(
            !in_ci(),
            "the disk-full test {why}, and CI=true does not allow a skip"
        );
        println!("SKIPPED: the disk-full test {why}");
        None
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Frees space the way an operator would after a full disk: here, by growing the tmpfs.
    fn grow(&self, size_kib: u64) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size_kib}k")])
            .arg(self.path())
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// Waits for a child to exit, at most `limit`; kills it and says `None` when it does not.
fn exit_within(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    tokio::task::block_in_place(|| {
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_is_refused_clearly_and_loses_nothing() {
    let Some(disk) = SmallDisk::mount(2048) else {
        return;
    };
    let emulator = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let config = config(disk.path(), &emulator);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (mut server, base) = serve(&config);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    // Fill the disk through the API: every 201 is a promise that the download is saved.
    let long = "x".repeat(450);
    let mut acknowledged = Vec::new();
    let mut refusal = None;
    let mut cut_off = false;
    for n in 0..20_000 {
        let track_id = format!("disk-full-{n}");
        let sent = client
            .post(format!("{base}/api/downloads"))
            .json(&serde_json::json!({
                "artist": "Filler", "title": format!("{long} {n}"), "track_id": track_id,
            }))
            .send()
            .await;
        let Ok(res) = sent else {
            // The server stopped on its own (the engine hit the full disk first).
            cut_off = true;
            break;
        };
        if res.status() == 201 {
            acknowledged.push(track_id);
            continue;
        }
        let status = res.status();
        let body: serde_json::Value = res.json().await.unwrap();
        refusal = Some((status, body, track_id));
        break;
    }
    assert!(
        acknowledged.len() > 100,
        "only {} created before the refusal",
        acknowledged.len()
    );
    if let Some((status, body, _)) = &refusal {
        assert_eq!(status.as_u16(), 507, "{body}");
        let message = body["error"].as_str().unwrap();
        assert!(
            message.contains("disk holding the database is full")
                && message.contains("nothing was saved"),
            "{message}"
        );
    }

    // The server stops by itself, non-zero, and says why.
    let mut child = server.take();
    let started = Instant::now();
    let status = exit_within(&mut child, Duration::from_secs(15))
        .expect("the server stops by itself when the disk is full");
    let stopped_in = started.elapsed();
    assert!(!status.success(), "a full disk is a non-zero exit");
    // The reader thread may still be draining the pipe for a moment.
    std::thread::sleep(Duration::from_millis(200));
    let log = server.log();
    assert!(
        log.contains("error: Tributary stopped: the disk holding the database is full"),
        "{log}"
    );

    // Space comes back; the same database opens and holds every acknowledged download, the
    // refused one is absent, and the counters agree with the records.
    disk.grow(65_536);
    let store = tributary::store::Store::open(&disk.path().join("t.redb")).unwrap();
    let (recount, all) = store.recount().unwrap();
    assert_eq!(store.counts().unwrap(), recount);
    // Some finished meanwhile, so look among all of them, not only the active ones.
    let stored: std::collections::HashSet<&str> = all.iter().map(|d| d.track_id.as_str()).collect();
    for track_id in &acknowledged {
        assert!(
            stored.contains(track_id.as_str()),
            "{track_id} was acknowledged and is gone"
        );
    }
    if let Some((_, _, refused)) = &refusal {
        assert!(
            !stored.contains(refused.as_str()),
            "the refused one was kept"
        );
    }
    // A create cut off by the stop may have been saved without its answer reaching us.
    let unanswered = usize::from(cut_off);
    assert!(
        (acknowledged.len()..=acknowledged.len() + unanswered).contains(&all.len()),
        "{} stored, {} acknowledged",
        all.len(),
        acknowledged.len()
    );
    drop(store);

    // And the service runs again on it.
    let (_server, base) = serve(&config);
    let res = client
        .post(format!("{base}/api/downloads"))
        .json(&serde_json::json!({"artist": "After", "title": "Space freed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    if let Some(line) = log.lines().find(|l| l.contains("Tributary stopped")) {
        println!("{line}");
    }
    println!(
        "disk full (2 MiB tmpfs): {} downloads acknowledged, refusal {:?}, stopped {:.2} s after, exit {status}",
        acknowledged.len(),
        refusal.as_ref().map(|r| r.0),
        stopped_in.as_secs_f64()
    );
    emulator.shutdown().await;
}

/// SIGHUP reloads the plugins directory (the watcher is off here, so only the signal can).
#[tokio::test(flavor = "multi_thread")]
async fn sighup_reloads_the_plugins() {
    let emulator = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    let slskd = plugins.join("slskd");
    std::fs::create_dir_all(&slskd).unwrap();
    for file in ["plugin.toml", "slskd.wasm"] {
        std::fs::copy(repo().join("plugins/slskd").join(file), slskd.join(file)).unwrap();
    }
    let path = config(dir.path(), &emulator);
    let text = std::fs::read_to_string(&path).unwrap().replace(
        &format!("dir = \"{}\"", repo().join("plugins").display()),
        &format!("dir = \"{}\"\nwatch = false", plugins.display()),
    );
    std::fs::write(&path, text).unwrap();
    let (mut server, base) = serve(&path);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let version = || async {
        let body: serde_json::Value = get_json(&client, format!("{base}/api/plugins/slskd")).await;
        body["version"].as_str().unwrap_or_default().to_owned()
    };
    assert_ne!(version().await, "7.7.7");
    let manifest = slskd.join("plugin.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let text: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with("version =") {
                "version = \"7.7.7\"".to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect();
    std::fs::write(&manifest, text.join("\n") + "\n").unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_ne!(
        version().await,
        "7.7.7",
        "nothing reloads without the signal"
    );

    let pid = server.take();
    Command::new("kill")
        .args(["-HUP", &pid.id().to_string()])
        .status()
        .unwrap();
    let started = Instant::now();
    while version().await != "7.7.7" {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "SIGHUP did not reload: {}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Still serving after the signal, then stopped.
    let mut child = pid;
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
    emulator.shutdown().await;
}

/// With no plugin loaded the log and the API say the same thing: a create is refused with 503
/// and nothing is stored; once a plugin is dropped into the folder, creates are taken.
#[tokio::test(flavor = "multi_thread")]
async fn without_a_plugin_create_does_what_the_log_says() {
    let emulator = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    let path = config(dir.path(), &emulator);
    let text = std::fs::read_to_string(&path).unwrap().replace(
        &format!("dir = \"{}\"", repo().join("plugins").display()),
        &format!("dir = \"{}\"", plugins.display()),
    );
    std::fs::write(&path, text).unwrap();
    let (server, base) = serve(&path);
    let log = server.log();
    assert!(
        log.contains("no provider plugin loaded")
            && log.contains("creating a download is refused (503)"),
        "{log}"
    );
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let create = || {
        client
            .post(format!("{base}/api/downloads"))
            .json(&serde_json::json!({"artist": "Early", "title": "Bird"}))
            .send()
    };
    let refused = create().await.unwrap();
    assert_eq!(refused.status(), 503);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("no provider plugin is loaded"),
        "{body}"
    );
    let stored: serde_json::Value =
        get_json(&client, format!("{base}/api/downloads/manager/export")).await;
    assert_eq!(stored["count"], 0, "a refused create stores nothing");

    let slskd = plugins.join("slskd");
    std::fs::create_dir_all(&slskd).unwrap();
    for file in ["slskd.wasm", "plugin.toml"] {
        std::fs::copy(repo().join("plugins/slskd").join(file), slskd.join(file)).unwrap();
    }
    let started = Instant::now();
    loop {
        let status = create().await.unwrap().status();
        if status == 201 {
            break;
        }
        assert_eq!(status, 503);
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the dropped-in plugin was not taken up: {}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    emulator.shutdown().await;
}

/// Logs written to a pipe carry no colour codes; `--log-format json` writes one JSON object a
/// line; every download transition is one info line naming the download.
#[tokio::test(flavor = "multi_thread")]
async fn logs_are_plain_in_a_pipe_json_on_request_and_name_each_transition() {
    let emulator = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = config(dir.path(), &emulator);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::new();
    let create = async |base: &str, title: &str| -> String {
        let body: serde_json::Value = client
            .post(format!("{base}/api/downloads"))
            .json(&serde_json::json!({"artist": "Log", "title": title}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["id"].as_str().unwrap().to_owned()
    };
    // A download is created and leaves `waiting`: two lines naming it.
    let wait_for_lines = async |server: &Server, id: &str| {
        let started = Instant::now();
        while server.log().matches(id).count() < 2 {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "no transition logged for {id}: {}",
                server.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        server.log()
    };

    let (server, base) = serve(&path);
    let id = create(&base, "Plain").await;
    let log = wait_for_lines(&server, &id).await;
    assert!(!log.contains('\u{1b}'), "colour codes in a pipe: {log:?}");
    let mentions: Vec<&str> = log.lines().filter(|l| l.contains(&id)).collect();
    assert!(
        mentions
            .iter()
            .any(|l| l.contains("INFO") && l.contains("download created")),
        "{mentions:?}"
    );
    assert!(
        mentions
            .iter()
            .any(|l| l.contains("INFO") && l.contains("from=waiting") && l.contains("to=pending")),
        "{mentions:?}"
    );
    drop(server);

    let (server, base) = serve_with(&path, &["--log-format", "json"]);
    let id = create(&base, "Structured").await;
    let log = wait_for_lines(&server, &id).await;
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .all(|l| l["level"].is_string() && l["fields"]["message"].is_string())
    );
    assert!(
        lines.iter().any(|l| l["level"] == "INFO"
            && l["fields"]["download"] == id
            && l["fields"]["from"] == "waiting"
            && l["fields"]["to"] == "pending"),
        "{log}"
    );
    drop(server);
    emulator.shutdown().await;
}

/// The README's demo, sped up: the real binary against its emulator, and against aria2 and
/// qBittorrent when they are installed (`cargo xtask test` installs them), finishes every
/// download.
#[test]
fn the_demo_finishes_its_downloads() {
    let installed = |program: &str| Command::new(program).arg("--version").output().is_ok();
    let (aria2, qbittorrent) = (installed("aria2c"), installed("qbittorrent-nox"));
    let out = Command::new(env!("CARGO_BIN_EXE_tributary"))
        .current_dir(repo())
        .args([
            "demo",
            "--speed-factor",
            "8",
            "--exit-when-done",
            "--bind",
            "127.0.0.1:0",
            "--timeout-secs",
            "150",
        ])
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = said
        .lines()
        .rfind(|l| l.contains("completed"))
        .unwrap_or_default();
    let expected = 6 + usize::from(aria2) + usize::from(qbittorrent);
    assert!(
        last.contains(&format!("{expected} completed")) && last.contains("0 failed"),
        "{said}"
    );
    assert_eq!(said.contains("aria2c RPC listening"), aria2, "{said}");
    assert_eq!(said.contains("qBittorrent WebUI on"), qbittorrent, "{said}");
}
