//! Hot reload through the real server: a new plugin version swapped in while downloads run, a
//! broken replacement refused while the old version keeps serving, a changed folder picked up
//! by the watcher, a removed plugin's downloads waiting, and `/api/plugins` telling it all.

use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use slskd_emulator::{Emulator, EmulatorConfig};
use tributary_tests::{TestApp, test_emulator_config, with_custom_section};

fn set_version(plugin: &Path, version: &str) {
    let manifest = plugin.join("plugin.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let text: String = text
        .lines()
        .map(|l| {
            if l.starts_with("version =") {
                format!("version = \"{version}\"")
            } else {
                l.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&manifest, text + "\n").unwrap();
}

async fn create_from_peer(app: &TestApp, n: usize) -> String {
    let title = format!("Reload Track {}", n + 10);
    let (status, body) = app
        .send_json(
            Method::POST,
            "/api/downloads",
            json!({
                "artist": "Reload",
                "title": title,
                "source": {
                    "peer": "vinylhoarder",
                    "filename": format!("@@reload\\Music\\{title}\\01 - {title}.flac"),
                    "size": 12_000_000,
                }
            }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

async fn statuses(app: &TestApp, ids: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for id in ids {
        let (_, d) = app.get_json(&format!("/api/downloads/{id}")).await;
        out.push(d["status"].as_str().unwrap_or("?").to_owned());
    }
    out
}

async fn wait_until_statuses(
    app: &TestApp,
    ids: &[String],
    secs: u64,
    what: &str,
    done: impl Fn(&[String]) -> bool,
) {
    let started = Instant::now();
    loop {
        let now = statuses(app, ids).await;
        if done(&now) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(secs),
            "{what} within {secs} s: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn plugin(app: &TestApp, id: &str) -> (u16, Value) {
    app.get_json(&format!("/api/plugins/{id}")).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_version_is_swapped_in_while_ten_downloads_run_and_a_broken_one_is_refused() {
    let emulator = Emulator::start(EmulatorConfig {
        speed_factor: 2.0,
        ..test_emulator_config()
    })
    .await
    .unwrap();
    let app = TestApp::start_with(&emulator, |c| c.plugins.watch = false).await;
    let folder = app.plugins_dir().join("slskd");
    let (status, before) = plugin(&app, "slskd").await;
    assert_eq!(status, 200, "{before}");
    assert_eq!(before["state"], "loaded", "{before}");
    assert_eq!(before["wit_version"], "0.2.0", "{before}");
    assert!(
        before["capabilities"]
            .as_array()
            .unwrap()
            .contains(&json!("search")),
        "{before}"
    );
    assert_eq!(before["granted_hosts"], json!([emulator.url()]), "{before}");
    assert!(
        !before
            .to_string()
            .contains(&tributary_tests::emulator_key()),
        "never a secret: {before}"
    );

    let mut ids = Vec::new();
    for n in 0..10 {
        ids.push(create_from_peer(&app, n).await);
    }
    wait_until_statuses(&app, &ids, 60, "a download running", |s| {
        s.iter().any(|s| s == "downloading")
    })
    .await;

    // Nothing changed: nothing is compiled or swapped.
    let (status, report) = app
        .send_json(Method::POST, "/api/plugins/reload", json!({}))
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["swapped_in"], json!({}), "{report}");
    assert_eq!(report["unchanged"], json!(["slskd"]), "{report}");

    // A new version (same component: the compile cache has it).
    set_version(&folder, "9.9.1");
    let (status, report) = app
        .send_json(Method::POST, "/api/plugins/reload", json!({}))
        .await;
    assert_eq!(status, 200, "{report}");
    let cached_ms = report["swapped_in"]["slskd"]
        .as_f64()
        .expect("slskd swapped in");
    let (_, now) = plugin(&app, "slskd").await;
    assert_eq!(now["version"], "9.9.1", "{now}");
    assert_eq!(now["compile_cache_hit"], true, "{now}");

    // A new component the cache has never seen: compiled, then swapped in.
    let wasm = folder.join("slskd.wasm");
    let original = std::fs::read(&wasm).unwrap();
    let stamp = format!("{:?}", Instant::now());
    std::fs::write(
        &wasm,
        with_custom_section(&original, "tributary-test", stamp.as_bytes()),
    )
    .unwrap();
    set_version(&folder, "9.9.2");
    let (status, report) = app
        .send_json(Method::POST, "/api/plugins/reload", json!({}))
        .await;
    assert_eq!(status, 200, "{report}");
    let compiled_ms = report["swapped_in"]["slskd"]
        .as_f64()
        .expect("slskd swapped in");
    let (_, now) = plugin(&app, "slskd").await;
    assert_eq!(now["version"], "9.9.2", "{now}");
    assert_eq!(now["compile_cache_hit"], false, "{now}");
    println!(
        "reload of slskd (validate + compile or load + swap): {compiled_ms:.1} ms compiled, {cached_ms:.1} ms from the compile cache; whole reload {:.1} ms",
        report["took_ms"].as_f64().unwrap()
    );

    // A broken replacement is refused; 9.9.2 keeps serving and says why.
    std::fs::write(&wasm, b"\0asm but not really").unwrap();
    set_version(&folder, "9.9.3");
    let (status, report) = app
        .send_json(Method::POST, "/api/plugins/reload", json!({}))
        .await;
    assert_eq!(status, 200, "{report}");
    let refused = report["refused"]["slskd"].as_str().expect("refused");
    assert!(
        refused.contains("not a valid WebAssembly component"),
        "{report}"
    );
    let (_, now) = plugin(&app, "slskd").await;
    assert_eq!(now["state"], "loaded", "{now}");
    assert_eq!(now["version"], "9.9.2", "the old version serves: {now}");
    assert!(
        now["reason"]
            .as_str()
            .unwrap_or("")
            .contains("keeps serving"),
        "{now}"
    );

    wait_until_statuses(&app, &ids, 120, "all 10 completed", |s| {
        s.iter().all(|s| s == "completed")
    })
    .await;
    let (_, stats) = app.get_json("/api/downloads/manager/stats").await;
    assert_eq!(stats["failed_today"], 0, "{stats}");
    assert_eq!(stats["completed_today"], 10, "{stats}");
    let (_, now) = plugin(&app, "slskd").await;
    let calls = now["calls"].as_array().unwrap();
    let enqueues = calls.iter().find(|c| c["export"] == "list-transfers");
    assert!(
        enqueues.is_some_and(|c| c["calls"].as_u64().unwrap() > 0),
        "the serving version is called: {now}"
    );

    // The page's Plugins card shows the same.
    let page = app.get_text("/api/downloads/manager/htmx/plugins").await;
    assert!(
        page.contains("9.9.2") && page.contains("keeps serving"),
        "{page}"
    );
    app.app.shutdown().await;
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_folder_is_picked_up_and_a_removed_plugin_s_downloads_wait() {
    let emulator = Emulator::start(EmulatorConfig {
        speed_factor: 4.0,
        ..test_emulator_config()
    })
    .await
    .unwrap();
    let app = TestApp::start(&emulator).await;
    let folder = app.plugins_dir().join("slskd");

    // The watcher sees plugin.toml change.
    set_version(&folder, "9.8.1");
    let changed = Instant::now();
    loop {
        let (_, now) = plugin(&app, "slskd").await;
        if now["version"] == "9.8.1" {
            break;
        }
        assert!(
            changed.elapsed() < Duration::from_secs(20),
            "the watcher did not reload: {now}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "plugin file change to the new version serving: {} ms",
        changed.elapsed().as_millis()
    );
    // Reading the plugin's files (as a reload does) is no change: the watcher stays quiet.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let (_, listed) = app.get_json("/api/plugins").await;
    let reloads = listed["reloads"].as_u64().unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, again) = app.get_json("/api/plugins").await;
    assert_eq!(
        again["reloads"].as_u64().unwrap(),
        reloads,
        "reloads keep coming"
    );

    // The folder goes away: the plugin leaves service, its downloads wait.
    let aside = tempfile::tempdir().unwrap();
    let parked = aside.path().join("slskd");
    std::fs::rename(&folder, &parked).unwrap();
    let gone = Instant::now();
    loop {
        let (status, _) = plugin(&app, "slskd").await;
        let (_, health) = app.get_json("/api/downloads/manager/health").await;
        if status == 404 && health["providers"][0]["loaded"] == false {
            break;
        }
        assert!(
            gone.elapsed() < Duration::from_secs(20),
            "the removed plugin is still listed: {health}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let id = create_from_peer(&app, 50).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(statuses(&app, std::slice::from_ref(&id)).await, ["waiting"]);

    // Back again: it serves, and the waiting download completes.
    std::fs::rename(&parked, &folder).unwrap();
    wait_until_statuses(
        &app,
        &[id],
        60,
        "completed after the plugin came back",
        |s| s[0] == "completed",
    )
    .await;
    let (_, health) = app.get_json("/api/downloads/manager/health").await;
    assert_eq!(health["providers"][0]["loaded"], true, "{health}");
    app.app.shutdown().await;
    emulator.shutdown().await;
}
