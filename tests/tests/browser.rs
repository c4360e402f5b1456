//! The Download Center in a real headless Chromium (Debian's, driven through chromedriver),
//! against the running server and the emulator.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use slskd_emulator::{Emulator, EmulatorConfig};
use tributary_tests::{TestApp, repo_root};

/// chromedriver's own log endpoint: the browser console, to find errors.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }
    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (
            http::Method::POST,
            Some(json!({"type": "browser"}).to_string()),
        )
    }
}

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn browser(user_data: &std::path::Path) -> (Driver, Client) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let driver = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver (Debian's chromium-driver; `cargo xtask test` installs it)");
    let driver = Driver(driver);
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "chromedriver did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--disable-dev-shm-usage", "--window-size=1280,900", format!("--user-data-dir={}", user_data.display())],
        }),
    );
    caps.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let client = ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a browser session");
    (driver, client)
}

async fn text_of(c: &Client, css: &str) -> String {
    c.find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn wait(c: &Client, what: &str, timeout: Duration, check: impl AsyncFn(&Client) -> bool) {
    let started = Instant::now();
    while started.elapsed() < timeout {
        if check(c).await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    panic!("timed out after {timeout:?} waiting for {what}");
}

async fn click(c: &Client, css: &str) {
    c.find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css} to click: {e}"))
        .click()
        .await
        .unwrap();
}

async fn exists(c: &Client, css: &str) -> bool {
    c.find(Locator::Css(css)).await.is_ok()
}

async fn js(c: &Client, script: &str) -> Value {
    c.execute(script, vec![]).await.unwrap()
}

fn artifacts() -> PathBuf {
    let dir = repo_root().join("test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread")]
async fn the_download_center_works_in_a_real_browser() {
    let emulator = Emulator::start(EmulatorConfig {
        speed_factor: 2.0,
        ..tributary_tests::test_emulator_config()
    })
    .await
    .unwrap();
    let app = TestApp::start(&emulator).await;
    // Something hostile and something failed, before the page loads.
    let (status, _) = app
        .send_json(
            reqwest::Method::POST,
            "/api/downloads",
            // From a peer that keeps it queued: it stays on the page.
            json!({"artist": "Mallory", "title": "<script>alert(1)</script>", "source": {
                "peer": "busy_bee", "filename": "@@busy\\<script>alert(1)</script>.flac", "size": 1000
            }}),
        )
        .await;
    assert_eq!(status, 201);
    app.send_json(
        reqwest::Method::POST,
        "/api/downloads",
        json!({"artist": "Nobody", "title": "unfindable tune"}),
    )
    .await;

    let profile = tempfile::tempdir().unwrap();
    let (_driver, c) = browser(profile.path()).await;
    c.goto(&app.base).await.unwrap();
    wait(
        &c,
        "the live connection",
        Duration::from_secs(10),
        async |c| text_of(c, "#live-state").await == "Live",
    )
    .await;
    js(&c, "window.__sameDocument = 'yes'; return null;").await;

    // Hostile titles show as text.
    wait(
        &c,
        "the hostile title",
        Duration::from_secs(10),
        async |c| {
            let titles: Vec<String> = {
                let mut out = Vec::new();
                for e in c.find_all(Locator::Css(".dl-title")).await.unwrap() {
                    out.push(e.text().await.unwrap_or_default());
                }
                out
            };
            titles.iter().any(|t| t == "<script>alert(1)</script>")
        },
    )
    .await;
    assert!(c.get_alert_text().await.is_err(), "no script ran");

    // Add a download through the form; its progress moves to done without a reload.
    c.find(Locator::Css("#add-artist"))
        .await
        .unwrap()
        .send_keys("Boards of Canada")
        .await
        .unwrap();
    c.find(Locator::Css("#add-title"))
        .await
        .unwrap()
        .send_keys("Roygbiv")
        .await
        .unwrap();
    click(&c, "#add-form button[type=submit]").await;
    let mut seen_progress = Vec::new();
    let mut in_place = Vec::new();
    let mut roygbiv_id = None;
    let started = Instant::now();
    loop {
        // Each row element gets a number when first seen: a row updated in place keeps its
        // number, a row fetched again is a new element with a new one.
        let row = js(&c, "const r = [...document.querySelectorAll('.dl')].find(r => r.querySelector('.dl-title').textContent === 'Roygbiv'); \
                           if (!r) return null; r.__element = r.__element || (window.__elements = (window.__elements || 0) + 1); \
                           return {id: r.id.slice(3), element: r.__element, progress: r.querySelector('progress') ? Number(r.querySelector('progress').value) : null};")
            .await;
        if let Some(id) = row["id"].as_str() {
            roygbiv_id = Some(id.to_owned());
        }
        if let Some(v) = row["progress"].as_f64() {
            seen_progress.push(v);
            in_place.push((row["element"].as_u64().unwrap(), v));
        }
        if row.is_null() && !seen_progress.is_empty() {
            break; // it left the queue: finished one way or another
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "Roygbiv never finished; saw {seen_progress:?}"
        );
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    // Leaving the queue is not the same as completing: ask the API how it ended.
    let roygbiv_id = roygbiv_id.expect("the row had an id");
    let (_, roygbiv) = app.get_json(&format!("/api/downloads/{roygbiv_id}")).await;
    assert_eq!(roygbiv["status"], "completed", "{roygbiv}");
    let moving: Vec<f64> = seen_progress
        .iter()
        .copied()
        .filter(|v| *v > 0.0 && *v < 100.0)
        .collect();
    assert!(
        moving.len() >= 2 && moving.windows(2).any(|w| w[1] > w[0]),
        "the bar advanced live: {seen_progress:?}"
    );
    assert!(
        in_place
            .windows(2)
            .any(|w| w[0].0 == w[1].0 && w[0].1 > 0.0 && w[1].1 > w[0].1 && w[1].1 < 100.0),
        "the bar advanced in one element, from the deltas: (element, percent) {in_place:?}"
    );
    assert_eq!(
        js(&c, "return window.__sameDocument;").await,
        "yes",
        "no reload happened"
    );
    assert_eq!(text_of(&c, "#add-artist").await, "", "the form was reset");

    // History shows it done.
    click(&c, "#tab-history").await;
    wait(&c, "the history tab", Duration::from_secs(5), async |c| {
        exists(c, "#panel[data-tab=history] .dl.status-completed").await
    })
    .await;
    assert_eq!(
        js(
            &c,
            "return document.querySelector('#tab-history').getAttribute('aria-selected');"
        )
        .await,
        "true"
    );

    // Failed tab, retry all (with its confirmation), clear failed (refused once, then accepted).
    wait(&c, "a failure", Duration::from_secs(20), async |c| {
        text_of(c, "#count-failed").await == "1"
    })
    .await;
    click(&c, "#tab-failed").await;
    wait(&c, "the failed tab", Duration::from_secs(5), async |c| {
        exists(c, "#panel[data-tab=failed] .dl.status-failed").await
    })
    .await;
    let failed_id = js(
        &c,
        "return document.querySelector('#panel .dl.status-failed').id.slice(3);",
    )
    .await;
    let failed_id = failed_id.as_str().unwrap().to_owned();
    let attempts = |d: &Value| d["attempts"].as_u64().unwrap();
    assert_eq!(
        attempts(&app.get_json(&format!("/api/downloads/{failed_id}")).await.1),
        1
    );
    click(&c, "#retry-all").await;
    assert_eq!(
        c.get_alert_text().await.unwrap(),
        "Retry every failed download?"
    );
    c.accept_alert().await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while attempts(&app.get_json(&format!("/api/downloads/{failed_id}")).await.1) < 2 {
        assert!(Instant::now() < deadline, "retry-all did not search again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    wait(
        &c,
        "the failure again",
        Duration::from_secs(20),
        async |c| text_of(c, "#count-failed").await == "1",
    )
    .await;
    click(&c, "#clear-failed").await;
    c.dismiss_alert().await.unwrap();
    // htmx would have sent the request at once on a confirmation; wait until none is in flight.
    wait(&c, "htmx to be idle", Duration::from_secs(5), async |c| {
        !exists(c, ".htmx-request").await
    })
    .await;
    assert_eq!(
        app.get_json("/api/downloads/manager/export?status=failed")
            .await
            .1["count"],
        1,
        "a dismissed confirmation changes nothing"
    );
    click(&c, "#clear-failed").await;
    c.accept_alert().await.unwrap();
    wait(
        &c,
        "the failed list to empty",
        Duration::from_secs(10),
        async |c| text_of(c, "#count-failed").await == "0",
    )
    .await;
    click(&c, "#tab-failed").await;
    wait(
        &c,
        "the empty failed tab",
        Duration::from_secs(5),
        async |c| exists(c, "#panel[data-tab=failed] .empty").await,
    )
    .await;

    // Queue tab and a status filter.
    let (_, paused) = app
        .send_json(
            reqwest::Method::POST,
            "/api/downloads",
            json!({"artist": "Hold", "title": "Me Back"}),
        )
        .await;
    app.send_json(
        reqwest::Method::POST,
        &format!("/api/downloads/{}/pause", paused["id"].as_str().unwrap()),
        json!(null),
    )
    .await;
    app.send_json(reqwest::Method::POST, "/api/downloads/pause", json!(null))
        .await;
    app.send_json(
        reqwest::Method::POST,
        "/api/downloads",
        json!({"artist": "Still", "title": "Waiting"}),
    )
    .await;
    click(&c, "#tab-queue").await;
    wait(&c, "the queue tab", Duration::from_secs(5), async |c| {
        exists(c, "#panel[data-tab=queue]").await
    })
    .await;
    // Let htmx finish settling the new panel, as a person would before reaching for the filter.
    wait(&c, "htmx to settle", Duration::from_secs(5), async |c| {
        !exists(c, ".htmx-settling, .htmx-swapping, .htmx-request").await
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    c.find(Locator::Css("#filter-status"))
        .await
        .unwrap()
        .select_by_value("paused")
        .await
        .unwrap();
    wait(&c, "only paused rows", Duration::from_secs(5), async |c| {
        js(c, "const rows = [...document.querySelectorAll('#panel .dl')]; return rows.length > 0 && rows.every(r => r.dataset.status === 'paused');")
            .await
            == true
    })
    .await;
    // The filter survives live refreshes: wait for two of them.
    js(&c, "window.__settled = 0; document.body.addEventListener('htmx:afterSettle', () => window.__settled++); return null;").await;
    wait(
        &c,
        "two live refreshes",
        Duration::from_secs(10),
        async |c| {
            js(c, "return window.__settled;")
                .await
                .as_u64()
                .unwrap_or(0)
                >= 2
        },
    )
    .await;
    assert_eq!(
        js(&c, "return document.querySelector('#filter-status').value;").await,
        "paused"
    );
    assert_eq!(js(&c, "return [...document.querySelectorAll('#panel .dl')].every(r => r.dataset.status === 'paused');").await, true);

    // No console errors along the way. A known error is logged last, so an empty or broken
    // log cannot pass for a clean one.
    js(&c, "console.error('tributary-console-probe'); return null;").await;
    let log = c.issue_cmd(BrowserLog).await.unwrap();
    let entries = log.as_array().expect("the browser log is a list");
    let errors: Vec<&Value> = entries.iter().filter(|e| e["level"] == "SEVERE").collect();
    assert!(
        errors.last().is_some_and(|e| e["message"]
            .as_str()
            .unwrap_or("")
            .contains("tributary-console-probe")),
        "the probe reached the log: {entries:?}"
    );
    assert_eq!(errors.len(), 1, "console errors: {errors:?}");

    // Screenshots: desktop and phone width.
    std::fs::write(
        artifacts().join("center-desktop.png"),
        c.screenshot().await.unwrap(),
    )
    .unwrap();
    c.set_window_size(375, 900).await.unwrap();
    wait(&c, "the narrow window", Duration::from_secs(5), async |c| {
        js(c, "return window.innerWidth;")
            .await
            .as_u64()
            .unwrap_or(u64::MAX)
            <= 375
    })
    .await;
    let overflow = js(
        &c,
        "return document.documentElement.scrollWidth > window.innerWidth;",
    )
    .await;
    assert_eq!(overflow, false, "nothing wider than a 375 px screen");
    std::fs::write(
        artifacts().join("center-375.png"),
        c.screenshot().await.unwrap(),
    )
    .unwrap();

    c.close().await.unwrap();
    app.shutdown().await;
    emulator.shutdown().await;
}
