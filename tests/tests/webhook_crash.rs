//! Webhooks survive a SIGKILL of the host between a download's completion and the delivery of
//! its event: the receiver refuses at first, so the events wait in the outbox; the host is
//! killed, started again on the same database, and the receiver, now accepting, gets every
//! event, each exactly once after dropping redeliveries by id.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use slskd_emulator::peers::Peer;
use slskd_emulator::{Behaviour, Emulator, EmulatorConfig};
use tributary_tests::webhook_receiver::WebhookReceiver;
use tributary_tests::{
    PluginsDir, emulator_key, free_port, repo_root, shared_cache_dir, test_emulator_config,
    wait_until,
};

const DOWNLOADS: usize = 3;

/// The host process, killed when dropped (a failing test must not leave it running).
struct Host(Child);

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(config: &std::path::Path) -> (Host, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_app_worker"))
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the host");
    let stdout = child.stdout.take().unwrap();
    let mut first = String::new();
    BufReader::new(stdout)
        .read_line(&mut first)
        .expect("the host says where it listens");
    let addr = first
        .trim()
        .strip_prefix("listening ")
        .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
        .to_owned();
    (Host(child), format!("http://{addr}"))
}

async fn statuses(client: &reqwest::Client, base: &str, ids: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for id in ids {
        let d: serde_json::Value = client
            .get(format!("{base}/api/downloads/{id}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        out.push(d["status"].as_str().unwrap_or_default().to_owned());
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn events_waiting_in_the_outbox_survive_a_sigkill_and_arrive_once_each() {
    let downloads = tempfile::tempdir().unwrap();
    let emulator = Emulator::start(EmulatorConfig {
        peers: vec![Peer::new("vinylhoarder", Behaviour::Normal, "flac")],
        downloads_dir: Some(downloads.path().to_path_buf()),
        track_secs: 2.0,
        ..test_emulator_config()
    })
    .await
    .unwrap();
    let receiver = WebhookReceiver::start().await;
    receiver.refuse(true);
    let plugins = PluginsDir::with(&["plugins/slskd"]);
    let data = tempfile::tempdir().unwrap();
    let config = data.path().join("tributary.toml");
    let url = emulator.url();
    let text = format!(
        r#"
[server]
bind = "127.0.0.1:{port}"
templates_dir = {templates:?}
[storage]
path = {db:?}
[plugins]
dir = {plugins:?}
cache_dir = {cache:?}
[engine]
poll_interval_ms = 200
search_timeout_secs = 2
[providers.slskd]
url = "{url}"
api_key = "{key}"
allowed_hosts = ["{url}"]
downloads_dir = {downloads:?}
[[webhooks]]
url = "{hook}"
secret = "s3cret"
allow_private = true
"#,
        port = free_port(),
        templates = repo_root().join("templates"),
        db = data.path().join("t.redb"),
        plugins = plugins.path(),
        cache = shared_cache_dir(),
        key = emulator_key(),
        downloads = downloads.path(),
        hook = receiver.url(),
    );
    std::fs::write(&config, text).unwrap();

    let (host, base) = start(&config);
    let client = tributary_tests::http_client_builder().build().unwrap();
    let mut ids = Vec::new();
    for title in ["Roygbiv", "Olson", "Aquarius"] {
        let d: serde_json::Value = client
            .post(format!("{base}/api/downloads"))
            .json(&serde_json::json!({"artist": "Boards of Canada", "title": title}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        ids.push(d["id"].as_str().unwrap().to_owned());
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let now = statuses(&client, &base, &ids).await;
        let refused: std::collections::HashSet<String> = receiver
            .seen()
            .into_iter()
            .filter(|r| r.kind == "DownloadFileComplete")
            .map(|r| r.event_id)
            .collect();
        if now.iter().all(|s| s == "completed") && refused.len() == DOWNLOADS {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{now:?}, {} refused deliveries",
            refused.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        receiver.accepted_once_each().is_empty(),
        "nothing taken yet"
    );

    // Completed, delivered to nobody: kill the host outright (SIGKILL).
    drop(host);
    receiver.refuse(false);
    let (host, base) = start(&config);
    wait_until(Duration::from_secs(30), "every event delivered", || {
        receiver.accepted_once_each().len() >= DOWNLOADS
    })
    .await;
    // Any straggler (a second copy, an event made up twice) would show within a few polls.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let taken = receiver.accepted_once_each();
    let mut delivered: Vec<String> = taken
        .iter()
        .map(|r| {
            assert_eq!(r.kind, "DownloadFileComplete");
            r.json()["data"]["download"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    delivered.sort();
    ids.sort();
    assert_eq!(delivered, ids, "each download's event, once");
    let refused_ids: std::collections::HashSet<String> =
        receiver.seen().iter().map(|r| r.event_id.clone()).collect();
    assert_eq!(
        refused_ids.len(),
        DOWNLOADS,
        "the same event ids after the restart"
    );
    assert_eq!(
        statuses(&client, &base, &ids).await,
        vec!["completed"; DOWNLOADS]
    );

    drop(host);
    receiver.stop();
    emulator.shutdown().await;
}
