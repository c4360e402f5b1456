//! The Download Center's page and HTMX partials over HTTP: the right HTML for each state,
//! filters applied, hostile values escaped.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use tributary_tests::{TestApp, fast_emulator};

const M: &str = "/api/downloads/manager";

async fn html(app: &TestApp, path: &str) -> (u16, String) {
    let res = app.client.get(app.url(path)).send().await.unwrap();
    let status = res.status().as_u16();
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = res.text().await.unwrap();
    if status == 200 {
        assert!(ct.starts_with("text/html"), "{path}: {ct}");
    }
    (status, body)
}

#[tokio::test]
async fn partials_render_states_filters_and_escape_everything() {
    let emulator = fast_emulator().await;
    let app = TestApp::start(&emulator).await;
    app.send_json(Method::POST, "/api/downloads/pause", json!(null))
        .await;
    let hostile = "<script>alert(1)</script>";
    // Named by a hostile client, fetched from a good peer: it completes and lands in history.
    let (_, evil) = app.send_json(Method::POST, "/api/downloads", json!({"artist": "\"><img src=x onerror=alert(2)>", "title": hostile, "album": "A & B",
        "source": {"peer": "vinylhoarder", "filename": "@@vinyl\\Music\\hostile.flac", "size": 500_000}})).await;
    let (_, held) = app
        .send_json(
            Method::POST,
            "/api/downloads",
            json!({"artist": "Hold", "title": "Me"}),
        )
        .await;
    app.send_json(
        Method::POST,
        &format!("/api/downloads/{}/pause", held["id"].as_str().unwrap()),
        json!(null),
    )
    .await;

    for path in ["/", "/download-center", &format!("{M}/center")] {
        let (status, page) = html(&app, path).await;
        assert_eq!(status, 200, "{path}");
        assert!(page.contains("Download Center"));
        assert!(
            page.contains("sse-connect=\"/api/downloads/manager/events?mode=delta\""),
            "the page follows the delta stream"
        );
        assert!(!page.contains(hostile), "{path} must escape titles");
        assert!(
            page.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
            "{path}"
        );
        assert!(!page.contains("<img src=x"), "{path}");
        assert!(page.contains("A &amp; B"));
    }

    let (_, queue) = html(&app, &format!("{M}/center/htmx/queue")).await;
    assert_eq!(queue.matches("class=\"dl status-").count(), 2);
    let (_, paused) = html(&app, &format!("{M}/center/htmx/queue?status=paused")).await;
    assert_eq!(paused.matches("class=\"dl status-").count(), 1);
    assert!(
        paused.contains("status-paused") && paused.contains(">Resume<"),
        "paused rows offer resume"
    );
    assert!(!paused.contains(">Pause<"));
    let (_, waiting) = html(
        &app,
        &format!("{M}/center/htmx/queue?status=waiting&provider=soulseek"),
    )
    .await;
    assert_eq!(waiting.matches("class=\"dl status-").count(), 1);
    assert!(
        waiting.contains(">Pause<") && waiting.contains(">Cancel<") && !waiting.contains(">Retry<")
    );
    let (status, _) = html(&app, &format!("{M}/center/htmx/queue?status=bogus")).await;
    assert_eq!(status, 400);
    let (status, _) = html(&app, &format!("{M}/center/htmx/queue?provider=usenet")).await;
    assert_eq!(status, 400);

    let (_, bar) = html(&app, &format!("{M}/htmx/stats-bar")).await;
    assert!(
        bar.contains("1 waiting") && bar.contains("1 paused") && bar.contains("Resume queue"),
        "{bar}"
    );
    assert!(bar.contains("hx-swap-oob"), "tab counts ride along");
    let (_, list) = html(&app, &format!("{M}/htmx/active-list")).await;
    assert_eq!(list.matches("class=\"dl status-").count(), 2);
    let (_, health) = html(&app, &format!("{M}/htmx/provider-health")).await;
    assert!(health.contains("slskd"));
    let (_, mini) = html(&app, &format!("{M}/htmx/provider-health-mini")).await;
    assert!(mini.contains("slskd: "));

    // A failure shows its error and a retry; the history lists completions.
    app.send_json(Method::POST, "/api/downloads/resume", json!(null))
        .await;
    app.send_json(
        Method::POST,
        "/api/downloads",
        json!({"artist": "Nobody", "title": "unfindable"}),
    )
    .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, failed) = html(&app, &format!("{M}/center/htmx/failed")).await;
        let (_, history) = html(&app, &format!("{M}/center/htmx/history?days=7")).await;
        if failed.contains("status-failed") && history.contains("status-completed") {
            assert!(
                failed.contains("No source found") && failed.contains(">Retry<"),
                "{failed}"
            );
            assert!(history.contains(&evil["id"].as_str().unwrap().to_string()));
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no failure and completion in time"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, _) = html(&app, &format!("{M}/center/htmx/history?days=-3")).await;
    assert_eq!(status, 400);

    let res = app
        .client
        .get(app.url("/static/vendor/htmx.min.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "htmx is served by the host itself");
    assert!(res.text().await.unwrap().contains("htmx"));
    let res = app
        .client
        .get(app.url("/static/../Cargo.toml"))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_client_error());
    app.shutdown().await;
    emulator.shutdown().await;
}

#[tokio::test]
async fn the_history_pages_through_its_window_and_refuses_an_empty_one() {
    use tributary::engine::download::{Download, Status, TrackInfo};
    let emulator = fast_emulator().await;
    let app = TestApp::start(&emulator).await;
    // 620 completions in the last day and one 10 days ago, written straight to the store.
    let now = chrono::Utc::now();
    let completed = |n: u32, at: chrono::DateTime<chrono::Utc>| Download {
        status: Status::Completed,
        completed_at: Some(at),
        ..Download::waiting(
            uuid::Uuid::new_v4(),
            format!("history-{n}"),
            TrackInfo {
                title: format!("Done {n:03}"),
                artist: "Pager".into(),
                album: None,
            },
            at,
        )
    };
    let mut downloads: Vec<Download> = (0..620)
        .map(|n| completed(n, now - chrono::TimeDelta::minutes(i64::from(n) + 1)))
        .collect();
    downloads.push(completed(999, now - chrono::TimeDelta::days(10)));
    app.app.engine.store().insert_batch(&downloads).unwrap();

    let (status, first) = html(&app, &format!("{M}/center/htmx/history?days=7")).await;
    assert_eq!(status, 200);
    assert!(first.contains("1–500 of 620 completed"), "{first}");
    assert!(first.contains("Done 000") && first.contains("Done 499"));
    assert!(!first.contains("Done 500"), "a page holds 500 rows");
    assert!(first.contains("history?days=7&amp;offset=500") && !first.contains("history-newer"));
    let (_, second) = html(&app, &format!("{M}/center/htmx/history?days=7&offset=500")).await;
    assert!(second.contains("501–620 of 620 completed"), "{second}");
    assert!(second.contains("Done 500") && second.contains("Done 619"));
    assert!(second.contains("history-newer") && !second.contains("history-older"));
    let (_, month) = html(&app, &format!("{M}/center/htmx/history?days=30&offset=500")).await;
    assert!(
        month.contains("501–621 of 621") && month.contains("Done 999"),
        "{month}"
    );
    for bad in ["days=0", "days=3651", "offset=-1", "offset=x"] {
        let (status, body) = html(&app, &format!("{M}/center/htmx/history?{bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    app.shutdown().await;
    emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_health_partials_show_healthy_failing_and_testing() {
    use slskd_emulator::Fault;
    let emulator = fast_emulator().await;
    let app = TestApp::start_with(&emulator, |config| {
        // A trial call against a hanging slskd stays in flight this long.
        if let Some(grant) = config.providers.get_mut("slskd") {
            grant.call_timeout_ms = Some(4_000);
        }
    })
    .await;
    let wait_for = async |what: &str, check: &dyn Fn(&str, &str) -> bool| {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let (_, full) = html(&app, &format!("{M}/htmx/provider-health")).await;
            let (_, mini) = html(&app, &format!("{M}/htmx/provider-health-mini")).await;
            if check(&full, &mini) {
                return (full, mini);
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the health partials never showed {what}: {full} {mini}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };

    let (full, _) = wait_for("healthy", &|full, mini| {
        full.contains("state-closed") && mini.contains("slskd: Connected")
    })
    .await;
    assert!(full.contains("Connected · synced"), "{full}");
    assert!(!full.contains("Retry now") && !full.contains("unhealthy"));

    emulator.control().set_fault(Fault::Error500);
    let (full, mini) = wait_for("the breaker open", &|full, _| full.contains("state-open")).await;
    assert!(
        full.contains("Unreachable — next try in") && full.contains("failures)"),
        "{full}"
    );
    assert!(
        full.contains("unhealthy") && full.contains("Retry now"),
        "{full}"
    );
    assert!(
        mini.contains("state-open") && mini.contains("slskd: Disconnected"),
        "{mini}"
    );

    // Retry now against a slskd that hangs: the trial call is in flight, shown as testing.
    emulator.control().set_fault(Fault::Hang { ms: 60_000 });
    let client = app.client.clone();
    let reconnect = client
        .post(app.url(&format!("{M}/providers/slskd/reconnect")))
        .send();
    let trial = tokio::spawn(reconnect);
    let (full, mini) = wait_for("the trial call", &|full, _| {
        full.contains("state-half_open")
    })
    .await;
    assert!(full.contains("Testing the connection…"), "{full}");
    assert!(mini.contains("state-half_open"), "{mini}");
    emulator.control().set_fault(Fault::None);
    trial.await.unwrap().unwrap();
    // That trial timed out; the next one meets a working slskd.
    app.send_json(
        Method::POST,
        &format!("{M}/providers/slskd/reconnect"),
        json!(null),
    )
    .await;
    wait_for("healthy again", &|full, _| full.contains("state-closed")).await;
    app.shutdown().await;
    emulator.shutdown().await;
}
