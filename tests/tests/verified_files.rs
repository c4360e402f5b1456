//! "Completed" means a file that plays, in the library, from a peer we now trust more: the
//! slskd emulator writes real FLAC files (and bad ones: zero-filled, truncated, garbled, of
//! another song's length); the host verifies each, quarantines the bad ones with their cause,
//! fails over to the next peer, imports the good file under the template, remembers which
//! peers delivered, and tells a webhook receiver on loopback every event once.

use std::path::PathBuf;
use std::time::Duration;

use sha2::{Digest, Sha256};
use slskd_emulator::peers::{Peer, bad_file_peers};
use slskd_emulator::{Behaviour, Emulator, EmulatorConfig, audio, shares};
use tributary::config::SettingValue;
use tributary_tests::webhook_receiver::WebhookReceiver;
use tributary_tests::{TestApp, test_emulator_config, wait_until};

const TRACK_SECS: f32 = 4.0;
const SECRET: &str = "a-webhook-secret";

fn sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hmac_sha256(key: &[u8], body: &[u8]) -> String {
    // HMAC by its definition (RFC 2104), so the test does not share the host's code.
    let mut k = [0u8; 64];
    k[..key.len()].copy_from_slice(key);
    let pad = |byte: u8| k.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(body)
        .finalize();
    let outer = Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize();
    format!("sha256={}", hex(&outer))
}

struct World {
    emulator: Emulator,
    downloads: tempfile::TempDir,
    library: tempfile::TempDir,
    receiver: WebhookReceiver,
    app: TestApp,
}

async fn world() -> World {
    let downloads = tempfile::tempdir().unwrap();
    let library = tempfile::tempdir().unwrap();
    // Bad peers answer first, the good one last: only verification keeps the bad files out.
    let mut peers = bad_file_peers();
    peers.push(Peer::new("vinylhoarder", Behaviour::Normal, "flac"));
    let emulator = Emulator::start(EmulatorConfig {
        peers,
        downloads_dir: Some(downloads.path().to_path_buf()),
        track_secs: TRACK_SECS,
        ..test_emulator_config()
    })
    .await
    .unwrap();
    let receiver = WebhookReceiver::start().await;
    let (dir, lib, hook) = (
        downloads.path().to_path_buf(),
        library.path().to_path_buf(),
        receiver.url(),
    );
    let app = TestApp::start_with(&emulator, move |c| {
        let slskd = c.providers.get_mut("slskd").unwrap();
        slskd.settings.insert(
            "downloads_dir".into(),
            SettingValue::Text(dir.display().to_string()),
        );
        c.engine.max_retries = Some(6);
        c.library.dir = Some(lib);
        c.library.template = Some("{artist}/{album}/{title}.{ext}".into());
        c.webhooks = vec![tributary::config::WebhookConfig {
            url: hook,
            secret: Some(SECRET.into()),
            allow_private: true,
            ..Default::default()
        }];
    })
    .await;
    World {
        emulator,
        downloads,
        library,
        receiver,
        app,
    }
}

async fn create(app: &TestApp, body: serde_json::Value) -> String {
    let (status, d) = app
        .send_json(reqwest::Method::POST, "/api/downloads", body)
        .await;
    assert_eq!(status, 201, "{d}");
    d["id"].as_str().unwrap().to_owned()
}

async fn finished(app: &TestApp, id: &str) -> serde_json::Value {
    let mut last = serde_json::Value::Null;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while tokio::time::Instant::now() < deadline {
        let (_, d) = app.get_json(&format!("/api/downloads/{id}")).await;
        if matches!(d["status"].as_str(), Some("completed" | "failed")) {
            return d;
        }
        last = d;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("download {id} did not finish: {last}");
}

fn quarantined(app: &TestApp, id: &str) -> Vec<PathBuf> {
    let dir = app.app_data_dir().join("quarantine");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| entries.map_while(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.file_name().unwrap().to_string_lossy().starts_with(id));
    files.sort();
    files
}

fn the_good_file(filename: &str) -> Vec<u8> {
    audio::flac(TRACK_SECS, shares::seed("vinylhoarder", filename))
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_files_are_quarantined_and_the_good_one_is_verified_imported_and_announced() {
    let w = world().await;
    let app = &w.app;

    // 1. A roaming download: the four bad peers answer first, each file is rejected.
    let id = create(
        app,
        serde_json::json!({"artist": "Portishead", "title": "Roads", "album": "Dummy", "duration_secs": 4}),
    )
    .await;
    let d = finished(app, &id).await;
    assert_eq!(d["status"], "completed", "{d}");
    let v = &d["verified"];
    assert_eq!(v["peer"], "vinylhoarder", "{d}");
    assert_eq!(v["codec"], "flac");
    assert_eq!(v["checksum_matched"], true, "FLAC's MD5 was checked");
    assert!(
        (v["duration_secs"].as_f64().unwrap() - 4.0).abs() < 0.05,
        "{v}"
    );
    let remote = v["remote_name"].as_str().unwrap();
    let good = the_good_file(remote);
    assert_eq!(
        v["sha256"],
        sha256(&good),
        "the sha256 is the delivered file's"
    );
    assert_eq!(v["bytes"], good.len());
    // The ranking lets a 10 s file stand for a 4 s track (its tolerance is 6 s); verification
    // (3 s) does not.
    assert_eq!(
        d["retry_count"], 4,
        "four bad files before the good one: {d}"
    );

    // Imported under the template, moved out of the downloads folder.
    let library_path = PathBuf::from(d["library_path"].as_str().unwrap());
    assert_eq!(
        library_path,
        w.library.path().join("Portishead/Dummy/Roads.flac")
    );
    assert_eq!(std::fs::read(&library_path).unwrap(), good);
    let downloaded = slskd_emulator::expected_path(w.downloads.path(), remote);
    assert!(!downloaded.exists(), "moved, not copied");

    // Each bad file is in quarantine, named for the download, and the peers' records say why.
    let jail = quarantined(app, &id);
    assert_eq!(jail.len(), 4, "{jail:?}");
    let (_, peers) = app.get_json("/api/providers/slskd/peers").await;
    let peer = |name: &str| peer_in(&peers, name);
    for (name, cause) in [
        ("zeroes", "corrupt"),
        ("cutoff", "truncated"),
        ("scrambler", "corrupt"),
        ("wrongsong", "wrong_duration"),
    ] {
        let p = peer(name);
        assert_eq!(p["standing"], "bad_files", "{p}");
        assert_eq!(p["bad_files"], 1.0, "{p}");
        assert_eq!(p["failed"][cause], 1.0, "{name}: {p}");
    }
    let hoarder = peer("vinylhoarder");
    assert_eq!(
        (hoarder["standing"].as_str(), hoarder["finished"].as_f64()),
        (Some("good"), Some(1.0)),
        "{hoarder}"
    );
    assert!(
        hoarder["bytes_per_sec"].as_f64().unwrap() > 0.0,
        "{hoarder}"
    );
    assert_eq!(
        peers["peers"][0]["peer"], "vinylhoarder",
        "best standing first"
    );

    // 2. A file of another song's length, asked for by name: rejected, then the search finds
    //    the good peer at once (the bad ones, answering first, now rank below it).
    let words = "Portishead Sour Times";
    let filename = format!("@@wrong\\Music\\{words}\\01 - {words}.flac");
    let size = audio::flac(
        TRACK_SECS * shares::WRONG_DURATION_FACTOR,
        shares::seed("wrongsong", &filename),
    )
    .len();
    let id2 = create(
        app,
        serde_json::json!({"artist": "Portishead", "title": "Sour Times", "album": "Dummy",
            "duration_secs": 4, "source": {"peer": "wrongsong", "filename": filename, "size": size}}),
    )
    .await;
    let d2 = finished(app, &id2).await;
    assert_eq!(d2["status"], "completed", "{d2}");
    assert_eq!(d2["verified"]["peer"], "vinylhoarder", "{d2}");
    assert_eq!(
        d2["retry_count"], 1,
        "one rejection, then the trusted peer: {d2}"
    );
    assert_eq!(
        peer_of(app, "wrongsong").await["failed"]["wrong_duration"],
        2.0
    );
    assert_eq!(quarantined(app, &id2).len(), 1);

    // 3. Webhooks: every event once (after dropping redeliveries by id), signed.
    let expected = [("DownloadFileRejected", 5), ("DownloadFileComplete", 2)];
    wait_until(Duration::from_secs(20), "all webhook events", || {
        w.receiver.accepted_once_each().len() >= 7
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = w.receiver.accepted_once_each();
    for (kind, n) in expected {
        assert_eq!(
            got.iter().filter(|r| r.kind == kind).count(),
            n,
            "{kind}: {:?}",
            got.iter().map(|r| &r.kind).collect::<Vec<_>>()
        );
    }
    assert_eq!(got.len(), 7);
    for r in &w.receiver.seen() {
        assert_eq!(
            r.signature.as_deref(),
            Some(hmac_sha256(SECRET.as_bytes(), &r.body).as_str()),
            "signed"
        );
        let body = r.json();
        assert_eq!(body["id"], r.event_id);
        assert_eq!(body["type"], r.kind);
        assert_eq!(body["version"], 1);
        assert!(body["timestamp"].as_str().is_some());
    }
    let complete: Vec<_> = got
        .iter()
        .filter(|r| r.kind == "DownloadFileComplete")
        .map(|r| {
            r.json()["data"]["download"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(
        complete.contains(&id) && complete.contains(&id2),
        "{complete:?}"
    );
    let mut latency: Vec<i64> = got.iter().map(|r| r.latency().num_milliseconds()).collect();
    latency.sort_unstable();
    println!(
        "webhook delivery latency (event to receiver): median {} ms, max {} ms over {}",
        latency[latency.len() / 2],
        latency[latency.len() - 1],
        latency.len()
    );

    w.app.shutdown().await;
    w.receiver.stop();
    w.emulator.shutdown().await;
}

/// One peer's record in a `GET /api/providers/{id}/peers` answer.
fn peer_in(peers: &serde_json::Value, name: &str) -> serde_json::Value {
    peers["peers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["peer"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no record of {name}: {peers}"))
}

async fn peer_of(app: &TestApp, name: &str) -> serde_json::Value {
    let (_, peers) = app.get_json("/api/providers/slskd/peers").await;
    peer_in(&peers, name)
}
