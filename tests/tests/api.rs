//! The HTTP API end to end: real server on loopback, real store, real plugin, emulator.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use tributary_tests::{TestApp, fast_emulator, wait_until};

const M: &str = "/api/downloads/manager";

#[derive(Clone, Copy, Debug)]
enum T {
    Str,
    StrOrNull,
    Int,
    IntOrNull,
    Num,
    Bool,
    Obj,
    Arr,
}

fn check(v: &Value, fields: &[(&str, T)], what: &str) {
    let obj = v
        .as_object()
        .unwrap_or_else(|| panic!("{what} is not an object: {v}"));
    for (name, ty) in fields {
        let f = obj
            .get(*name)
            .unwrap_or_else(|| panic!("{what}.{name} is missing: {v}"));
        let ok = match ty {
            T::Str => f.is_string(),
            T::StrOrNull => f.is_string() || f.is_null(),
            T::Int => f.is_u64() || f.is_i64(),
            T::IntOrNull => f.is_u64() || f.is_i64() || f.is_null(),
            T::Num => f.is_number(),
            T::Bool => f.is_boolean(),
            T::Obj => f.is_object(),
            T::Arr => f.is_array(),
        };
        assert!(ok, "{what}.{name} should be {ty:?}, is {f}");
    }
}

fn check_download(d: &Value) {
    use T::*;
    check(
        d,
        &[
            ("id", Str),
            ("track_id", Str),
            ("track_info", Obj),
            ("provider", Str),
            ("provider_name", Str),
            ("external_id", StrOrNull),
            ("status", Str),
            ("status_message", StrOrNull),
            ("error_message", StrOrNull),
            ("progress", Obj),
            ("created_at", Str),
            ("started_at", StrOrNull),
            ("is_active", Bool),
            ("can_cancel", Bool),
        ],
        "download",
    );
    check(
        &d["track_info"],
        &[
            ("title", Str),
            ("artist", Str),
            ("album", StrOrNull),
            ("display_name", Str),
        ],
        "track_info",
    );
    check(
        &d["progress"],
        &[
            ("percent", Num),
            ("bytes_downloaded", Int),
            ("total_bytes", Int),
            ("speed_bytes_per_sec", Num),
            ("eta_seconds", IntOrNull),
            ("speed_formatted", Str),
            ("eta_formatted", Str),
            ("size_formatted", Str),
        ],
        "progress",
    );
    let display = format!(
        "{} - {}",
        d["track_info"]["artist"].as_str().unwrap(),
        d["track_info"]["title"].as_str().unwrap()
    );
    assert_eq!(d["track_info"]["display_name"], display);
    assert!(d["created_at"].as_str().unwrap().ends_with('Z'));
    let status = d["status"].as_str().unwrap();
    assert!(
        [
            "waiting",
            "pending",
            "queued",
            "downloading",
            "paused",
            "stalled",
            "completed",
            "failed",
            "cancelled"
        ]
        .contains(&status)
    );
}

fn check_stats(s: &Value) {
    use T::*;
    check(
        s,
        &[
            ("waiting", Int),
            ("pending", Int),
            ("queued", Int),
            ("downloading", Int),
            ("paused", Int),
            ("stalled", Int),
            ("completed_today", Int),
            ("failed_today", Int),
            ("total_active", Int),
            ("total_in_progress", Int),
            ("summary_text", Str),
        ],
        "stats",
    );
    let n = |k: &str| s[k].as_u64().unwrap();
    assert_eq!(
        n("total_active"),
        n("waiting") + n("pending") + n("queued") + n("downloading") + n("paused") + n("stalled")
    );
    assert_eq!(
        n("total_in_progress"),
        n("pending") + n("queued") + n("downloading")
    );
}

#[tokio::test]
async fn every_route_answers_with_the_specified_shapes() {
    let emulator = fast_emulator().await;
    let app = TestApp::start(&emulator).await;
    let first = app.create("Boards of Canada", "Roygbiv").await;
    check_download(&first);
    assert_eq!(first["status"], "waiting");
    for n in 0..3 {
        app.create("Artist", &format!("Track {:02}", n + 10)).await;
    }

    let (status, active) = app.get_json(&format!("{M}/active")).await;
    assert_eq!(status, 200);
    check(
        &active,
        &[
            ("downloads", T::Arr),
            ("stats", T::Obj),
            ("providers_available", T::Arr),
        ],
        "active",
    );
    assert_eq!(active["providers_available"], json!(["slskd"]));
    for d in active["downloads"].as_array().unwrap() {
        check_download(d);
        assert_eq!(d["is_active"], true);
    }
    check_stats(&active["stats"]);

    // Stats equal a recount of the active list. Downloads move meanwhile, so take a snapshot
    // that is consistent: /stats before and after the list agree with the list's own stats
    // (no status changed in between). Retry until that happens, then assert.
    let deadline = Instant::now() + Duration::from_secs(20);
    let (stats, active) = loop {
        let (_, before) = app.get_json(&format!("{M}/stats")).await;
        let (_, active) = app.get_json(&format!("{M}/active")).await;
        let (_, after) = app.get_json(&format!("{M}/stats")).await;
        check_stats(&after);
        if before == active["stats"] && after == active["stats"] {
            break (after, active);
        }
        assert!(
            Instant::now() < deadline,
            "no quiet moment to compare stats with the list"
        );
    };
    let listed = active["downloads"].as_array().unwrap();
    let count = |s: &str| listed.iter().filter(|d| d["status"] == s).count() as u64;
    for s in [
        "waiting",
        "pending",
        "queued",
        "downloading",
        "paused",
        "stalled",
    ] {
        assert_eq!(stats[s].as_u64().unwrap(), count(s), "{s}: {active}");
    }
    assert_eq!(stats["total_active"].as_u64().unwrap(), listed.len() as u64);

    let (status, health) = app.get_json(&format!("{M}/health")).await;
    assert_eq!(status, 200);
    check(
        &health,
        &[("providers", T::Arr), ("overall_healthy", T::Bool)],
        "health",
    );
    let p = &health["providers"][0];
    check(
        p,
        &[
            ("provider", T::Str),
            ("provider_name", T::Str),
            ("is_healthy", T::Bool),
            ("circuit_state", T::StrOrNull),
            ("consecutive_failures", T::Int),
            ("last_successful_sync", T::StrOrNull),
            ("seconds_since_last_sync", T::IntOrNull),
            ("seconds_until_recovery_attempt", T::IntOrNull),
            ("error_message", T::StrOrNull),
            ("has_successful_connection", T::Bool),
        ],
        "provider health",
    );
    assert_eq!(p["provider"], "soulseek");
    assert_eq!(p["circuit_state"], "closed");

    // All four finish; the per-download route shows the completion.
    let id = first["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let (_, d) = app.get_json(&format!("/api/downloads/{id}")).await;
        if d["status"] == "completed" {
            check_download(&d);
            assert_eq!(d["progress"]["percent"], 100.0);
            assert_eq!(d["is_active"], false);
            assert_eq!(d["can_cancel"], false);
            break;
        }
        assert!(Instant::now() < deadline, "not completed: {d}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let (status, body) = app
        .send_json(Method::POST, &format!("{M}/retry-all-failed"), json!(null))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"retried": 0, "message": "Queued 0 downloads for retry"})
    );
    let (status, body) = app
        .send_json(Method::DELETE, &format!("{M}/clear-failed"), json!(null))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"deleted": 0, "message": "Removed 0 failed downloads"})
    );
    let (status, body) = app
        .send_json(
            Method::DELETE,
            &format!("{M}/history/clear?days=7"),
            json!(null),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"deleted": 0, "message": "Removed 0 old downloads"})
    );
    let deadline = Instant::now() + Duration::from_secs(40);
    while app.get_json(&format!("{M}/stats")).await.1["completed_today"] != 4 {
        assert!(Instant::now() < deadline, "the four did not complete");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, body) = app
        .send_json(
            Method::DELETE,
            &format!("{M}/history/clear?days=0"),
            json!(null),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"deleted": 4, "message": "Removed 4 old downloads"}),
        "days=0 removes what completed before now"
    );
    let (_, stats) = app.get_json(&format!("{M}/stats")).await;
    assert_eq!(
        stats["completed_today"], 0,
        "the counters follow the deletion"
    );

    let (status, doc) = app.get_json("/api/openapi.json").await;
    assert_eq!(status, 200);
    for path in [
        "/api/downloads",
        "/api/downloads/manager/active",
        "/api/downloads/manager/export",
        "/api/downloads/{id}/priority",
        "/api/plugins",
        "/api/plugins/{id}",
        "/api/plugins/reload",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} is documented");
    }
    app.shutdown().await;
    emulator.shutdown().await;
}

#[tokio::test]
async fn per_download_actions_and_batches() {
    let emulator = fast_emulator().await;
    let app = TestApp::start(&emulator).await;
    let (status, _) = app
        .send_json(Method::POST, "/api/downloads/pause", json!(null))
        .await;
    assert_eq!(status, 200);
    let a = app.create("A", "One").await;
    let b = app.create("B", "Two").await;
    let (status, again) = app
        .send_json(
            Method::POST,
            "/api/downloads",
            json!({"artist": "A", "title": "One", "track_id": a["track_id"]}),
        )
        .await;
    assert_eq!(status, 200, "the same track is not created twice");
    assert_eq!(again["id"], a["id"]);

    let id = a["id"].as_str().unwrap();
    let (status, d) = app
        .send_json(
            Method::PATCH,
            &format!("/api/downloads/{id}/priority"),
            json!({"priority": 7}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(d["priority"], 7);
    let (status, d) = app.act(id, "pause").await;
    assert_eq!((status, d["status"].as_str()), (200, Some("paused")));
    let (status, d) = app.act(id, "resume").await;
    assert_eq!((status, d["status"].as_str()), (200, Some("waiting")));
    let (status, d) = app.act(id, "cancel").await;
    assert_eq!((status, d["status"].as_str()), (200, Some("cancelled")));
    let (status, err) = app.act(id, "pause").await;
    assert_eq!(status, 409, "{err}");
    assert!(err["error"].as_str().unwrap().contains("cancelled"));
    let (status, d) = app.act(id, "retry").await;
    assert_eq!((status, d["status"].as_str()), (200, Some("waiting")));
    // Every action in the wrong state is a conflict with the state named, never a 400.
    for action in ["resume", "retry"] {
        let (status, err) = app.act(id, action).await;
        assert_eq!(status, 409, "{action} of a waiting download: {err}");
        assert!(err["error"].as_str().unwrap().contains("waiting"), "{err}");
    }

    let unknown = "00000000-0000-0000-0000-000000000000";
    let (status, body) = app
        .send_json(
            Method::POST,
            "/api/downloads/batch-action",
            json!({"action": "pause", "download_ids": [a["id"], b["id"], unknown]}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["done"].as_array().unwrap().len(), 2);
    assert_eq!(body["refused"][0]["id"], unknown);
    let (status, body) = app
        .send_json(
            Method::POST,
            "/api/downloads/batch-action",
            json!({"action": "priority", "download_ids": [a["id"]], "priority": 3}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["done"][0]["priority"], 3);
    app.shutdown().await;
    emulator.shutdown().await;
}

/// `/stats` is served from a copy kept until the next commit: every answered write shows in
/// the next `/stats`, however often it was read before.
#[tokio::test]
async fn stats_show_each_write_as_soon_as_it_is_answered() {
    let emulator = fast_emulator().await;
    let app = TestApp::start(&emulator).await;
    app.send_json(Method::POST, "/api/downloads/pause", json!(null))
        .await;
    let counts = async || {
        let mut last = Value::Null;
        // Read twice: the second answer comes from the kept copy.
        for _ in 0..2 {
            let (status, stats) = app.get_json(&format!("{M}/stats")).await;
            assert_eq!(status, 200);
            last = stats;
        }
        let n = |k: &str| last[k].as_u64().unwrap();
        (n("waiting"), n("paused"), n("total_active"))
    };
    assert_eq!(counts().await, (0, 0, 0));
    let a = app.create("Stats", "One").await;
    assert_eq!(counts().await, (1, 0, 1));
    let id = a["id"].as_str().unwrap();
    assert_eq!(app.act(id, "pause").await.0, 200);
    assert_eq!(counts().await, (0, 1, 1));
    assert_eq!(app.act(id, "cancel").await.0, 200);
    assert_eq!(counts().await, (0, 0, 0));
    app.shutdown().await;
    emulator.shutdown().await;
}

/// Creates sent together share durable commits (each answered after its own commit), and a
/// batch action is one commit however many downloads it moves.
#[tokio::test]
async fn concurrent_creates_share_commits_and_a_batch_is_one_commit() {
    let emulator = fast_emulator().await;
    let app = TestApp::start(&emulator).await;
    app.send_json(Method::POST, "/api/downloads/pause", json!(null))
        .await;
    let store = app.app.engine.store();
    let n = 64;
    let before = store.commits();
    let mut requests = Vec::new();
    for i in 0..n {
        let (client, url) = (app.client.clone(), app.url("/api/downloads"));
        requests.push(tokio::spawn(async move {
            let res = client
                .post(url)
                .json(&json!({"artist": "Group", "title": format!("Song {i}")}))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 201);
            res.json::<Value>().await.unwrap()
        }));
    }
    let mut ids = Vec::new();
    for r in requests {
        let d = r.await.unwrap();
        // Answered means stored.
        let id: uuid::Uuid = d["id"].as_str().unwrap().parse().unwrap();
        assert!(store.get(id).unwrap().is_some());
        ids.push(d["id"].clone());
    }
    let commits = store.commits() - before;
    assert!(commits < n, "{commits} commits for {n} concurrent creates");

    let unknown = "00000000-0000-0000-0000-000000000000";
    let mut batch = ids.clone();
    batch.push(json!(unknown));
    let before = store.commits();
    let (status, body) = app
        .send_json(
            Method::POST,
            "/api/downloads/batch-action",
            json!({"action": "cancel", "download_ids": batch}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["done"].as_array().unwrap().len(), ids.len());
    assert_eq!(body["refused"][0]["id"], unknown);
    assert_eq!(store.commits() - before, 1, "one commit for the batch");
    let (_, stats) = app.get_json(&format!("{M}/stats")).await;
    assert_eq!(stats["total_active"], 0, "{stats}");

    // One track sent many times at once (written together): one download, one 201.
    let mut same = Vec::new();
    for _ in 0..16 {
        let (client, url) = (app.client.clone(), app.url("/api/downloads"));
        same.push(tokio::spawn(async move {
            let res = client
                .post(url)
                .json(&json!({"artist": "Once", "title": "Only", "track_id": "only-once"}))
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap()["id"].clone())
        }));
    }
    let mut answers = Vec::new();
    for r in same {
        answers.push(r.await.unwrap());
    }
    assert_eq!(
        answers.iter().filter(|(s, _)| *s == 201).count(),
        1,
        "{answers:?}"
    );
    assert!(
        answers
            .iter()
            .all(|(s, id)| (*s == 201 || *s == 200) && *id == answers[0].1)
    );
    let (_, stats) = app.get_json(&format!("{M}/stats")).await;
    assert_eq!(stats["total_active"], 1, "{stats}");
    tributary_tests::assert_counters_match(&app.app.engine);
    app.shutdown().await;
    emulator.shutdown().await;
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_and_changes_nothing() {
    let emulator = fast_emulator().await;
    let app = TestApp::start(&emulator).await;
    app.send_json(Method::POST, "/api/downloads/pause", json!(null))
        .await;
    let a = app.create("A", "Kept").await;
    let id = a["id"].as_str().unwrap();
    let before = app.get_json(&format!("{M}/export")).await.1["downloads"].clone();

    let raw = |method: Method, path: &str, content_type: Option<&str>, body: &str| {
        let mut req = app
            .client
            .request(method, app.url(path))
            .body(body.to_owned());
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        req
    };
    let cases: Vec<(reqwest::RequestBuilder, u16)> = vec![
        (
            raw(Method::GET, &format!("{M}/export?format=xml"), None, ""),
            400,
        ),
        (
            raw(Method::GET, &format!("{M}/export?status=done"), None, ""),
            400,
        ),
        (
            raw(
                Method::DELETE,
                &format!("{M}/history/clear?days=-1"),
                None,
                "",
            ),
            400,
        ),
        (
            raw(
                Method::DELETE,
                &format!("{M}/history/clear?days=abc"),
                None,
                "",
            ),
            400,
        ),
        (
            raw(
                Method::DELETE,
                &format!("{M}/history/clear?days=99999"),
                None,
                "",
            ),
            400,
        ),
        (raw(Method::GET, "/api/downloads/not-a-uuid", None, ""), 400),
        (
            raw(
                Method::GET,
                "/api/downloads/00000000-0000-0000-0000-000000000000",
                None,
                "",
            ),
            404,
        ),
        (
            raw(
                Method::POST,
                "/api/downloads",
                Some("application/json"),
                "{\"title\": ",
            ),
            400,
        ),
        (
            raw(
                Method::POST,
                "/api/downloads",
                Some("text/plain"),
                "{\"title\":\"a\",\"artist\":\"b\"}",
            ),
            415,
        ),
        (
            raw(
                Method::POST,
                "/api/downloads",
                Some("application/json"),
                "{\"title\":\"\",\"artist\":\"b\"}",
            ),
            400,
        ),
        (
            raw(
                Method::POST,
                "/api/downloads",
                Some("application/json"),
                "{\"title\":\"a\",\"artist\":\"b\",\"evil\":1}",
            ),
            400,
        ),
        (
            raw(
                Method::POST,
                "/api/downloads",
                Some("application/json"),
                "{\"title\":\"a\",\"artist\":\"b\",\"priority\":\"high\"}",
            ),
            400,
        ),
        (
            raw(
                Method::POST,
                "/api/downloads",
                Some("application/json"),
                "{\"title\":\"a\",\"artist\":\"b\",\"provider\":\"nope\"}",
            ),
            400,
        ),
        (
            raw(
                Method::POST,
                "/api/downloads",
                Some("application/json"),
                &format!("{{\"title\":\"{}\",\"artist\":\"b\"}}", "x".repeat(100_000)),
            ),
            413,
        ),
        (
            raw(
                Method::PATCH,
                &format!("/api/downloads/{id}/priority"),
                Some("application/json"),
                "{\"priority\": 100000}",
            ),
            400,
        ),
        (
            raw(
                Method::POST,
                "/api/downloads/batch-action",
                Some("application/json"),
                "{\"action\":\"explode\",\"download_ids\":[]}",
            ),
            400,
        ),
        (
            raw(
                Method::POST,
                "/api/downloads/batch-action",
                Some("application/json"),
                "{\"action\":\"pause\",\"download_ids\":[\"x\"]}",
            ),
            400,
        ),
        (
            raw(
                Method::POST,
                "/api/downloads/batch-action",
                Some("application/json"),
                "{\"action\":\"priority\",\"download_ids\":[]}",
            ),
            400,
        ),
        (raw(Method::GET, "/api/nothing/here", None, ""), 404),
    ];
    for (request, expected) in cases {
        let request = request.build().unwrap();
        let what = format!("{} {}", request.method(), request.url());
        let res = app.client.execute(request).await.unwrap();
        let status = res.status().as_u16();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        assert_eq!(status, expected, "{what}: {body}");
        assert!(
            body["error"].is_string(),
            "{what}: an error body, got {body}"
        );
    }
    let after = app.get_json(&format!("{M}/export")).await.1["downloads"].clone();
    assert_eq!(before, after, "refused requests change nothing");
    app.shutdown().await;
    emulator.shutdown().await;
}

#[tokio::test]
async fn export_round_trips_through_real_parsers() {
    let emulator = fast_emulator().await;
    let app = TestApp::start(&emulator).await;
    app.send_json(Method::POST, "/api/downloads/pause", json!(null))
        .await;
    let titles = [
        "Plain",
        "Quote \"this\"",
        "Comma, separated",
        "Björk – Jóga ☃",
        "=HYPERLINK(\"http://x\")",
        "@SUM(A1)",
    ];
    for t in titles {
        app.create("Artist, \"The\"", t).await;
    }
    let (status, json_export) = app.get_json(&format!("{M}/export?format=json")).await;
    assert_eq!(status, 200);
    assert_eq!(json_export["count"], titles.len());
    assert!(json_export["exported_at"].as_str().unwrap().ends_with('Z'));
    let json_titles: Vec<&str> = json_export["downloads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["track_info"]["title"].as_str().unwrap())
        .collect();
    for t in titles {
        assert!(json_titles.contains(&t), "{t}");
    }

    let res = app
        .client
        .get(app.url(&format!("{M}/export?format=csv&status=waiting")))
        .send()
        .await
        .unwrap();
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    let text = res.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers = reader.headers().unwrap().clone();
    // The specification's ten columns first, in its order; ours only after them.
    let spec = [
        "ID",
        "Title",
        "Artist",
        "Album",
        "Status",
        "Provider",
        "Progress %",
        "Size",
        "Created At",
        "Error",
    ];
    assert_eq!(headers.iter().take(10).collect::<Vec<_>>(), spec);
    assert_eq!(
        headers.iter().skip(10).collect::<Vec<_>>(),
        ["Size Bytes", "Completed At"]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), titles.len());
    let csv_titles: Vec<&str> = rows.iter().map(|r| &r[1]).collect();
    for t in [
        "Plain",
        "Quote \"this\"",
        "Comma, separated",
        "Björk – Jóga ☃",
        "'=HYPERLINK(\"http://x\")",
        "'@SUM(A1)",
    ] {
        assert!(csv_titles.contains(&t), "{t} in {csv_titles:?}");
    }
    assert!(rows.iter().all(|r| &r[2] == "Artist, \"The\""));
    let (_, none) = app.get_json(&format!("{M}/export?status=completed")).await;
    assert_eq!(none["count"], 0, "a status filter is exact");
    app.shutdown().await;
    emulator.shutdown().await;
}

#[tokio::test]
async fn sse_sends_at_once_on_change_and_notices_disconnects() {
    let emulator = fast_emulator().await;
    let app = TestApp::start(&emulator).await;
    app.send_json(Method::POST, "/api/downloads/pause", json!(null))
        .await;

    let started = Instant::now();
    let mut res = app
        .client
        .get(app.url(&format!("{M}/events")))
        // Browsers ask for gzip on every request: the stream must still leave uncompressed,
        // or an encoder's buffer would hold the updates back.
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    assert!(res.headers().get("content-encoding").is_none());
    let mut buffer = String::new();
    let next_event = async |res: &mut reqwest::Response, buffer: &mut String| -> String {
        loop {
            if let Some(end) = buffer.find("\n\n") {
                let event: String = buffer.drain(..end + 2).collect();
                if event.starts_with(':') {
                    continue;
                }
                return event;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(5), res.chunk())
                .await
                .expect("an event in time")
                .unwrap()
                .unwrap();
            buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    };
    let first = next_event(&mut res, &mut buffer).await;
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "the first event comes at once"
    );
    assert!(
        first.contains("event: update") && first.contains("retry: ") && first.starts_with("id: "),
        "{first}"
    );
    let data: Value = serde_json::from_str(
        first
            .lines()
            .find_map(|l| l.strip_prefix("data: "))
            .unwrap(),
    )
    .unwrap();
    check(
        &data,
        &[
            ("downloads", T::Arr),
            ("stats", T::Obj),
            ("timestamp", T::Str),
        ],
        "update",
    );

    let changed_at = Instant::now();
    let created = app.create("Live", "Update").await;
    loop {
        let event = next_event(&mut res, &mut buffer).await;
        if event.contains(created["id"].as_str().unwrap()) {
            break;
        }
    }
    assert!(
        changed_at.elapsed() < Duration::from_secs(1),
        "an update within 1 s of the change: {:?}",
        changed_at.elapsed()
    );

    assert_eq!(app.app.live.clients(), 1);
    drop(res);
    wait_until(
        Duration::from_secs(5),
        "the server to notice the disconnect",
        || app.app.live.clients() == 0,
    )
    .await;

    // A change while nobody listens: the next client's first event already has it.
    let unseen = app.create("Quiet", "Change").await;
    let mut res = app
        .client
        .get(app.url(&format!("{M}/events")))
        .send()
        .await
        .unwrap();
    let mut buffer = String::new();
    let first = next_event(&mut res, &mut buffer).await;
    assert!(
        first.contains(unseen["id"].as_str().unwrap()),
        "the first event after an idle spell is fresh: {first}"
    );
    drop(res);
    app.shutdown().await;
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_hundred_sse_clients_cost_the_provider_nothing_extra() {
    let emulator = fast_emulator().await;
    let app = TestApp::start(&emulator).await;
    let key = "GET transfers/downloads";
    let sample = |secs: u64| {
        let control = emulator.control();
        async move {
            let before = control.request_count();
            tokio::time::sleep(Duration::from_secs(secs)).await;
            control.request_count() - before
        }
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let alone = sample(3).await;
    let mut clients = Vec::new();
    for _ in 0..100 {
        clients.push(
            app.client
                .get(app.url(&format!("{M}/events")))
                .send()
                .await
                .unwrap(),
        );
    }
    wait_until(Duration::from_secs(5), "100 clients connected", || {
        app.app.live.clients() >= 100
    })
    .await;
    let crowded = sample(3).await;
    assert!(
        crowded <= alone + 2,
        "100 SSE clients made {crowded} provider calls in 3 s, one poller alone {alone}"
    );
    assert!(emulator.control().route_count(key) > 0);
    drop(clients);
    app.shutdown().await;
    emulator.shutdown().await;
}

#[tokio::test]
async fn plugin_secrets_never_appear_in_any_answer() {
    let emulator = fast_emulator().await;
    let app = TestApp::start(&emulator).await;
    let secret = tributary_tests::emulator_key();
    app.create("Secret", "Keeper").await;
    // A failure whose message comes from the provider, and an unreachable provider.
    app.send_json(
        Method::POST,
        "/api/downloads",
        json!({"artist": "Nobody", "title": "unfindable"}),
    )
    .await;
    emulator.go_down().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !app.get_json(&format!("{M}/health")).await.1["providers"][0]["error_message"].is_string()
    {
        assert!(Instant::now() < deadline, "the outage was never reported");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let pages = [
        format!("{M}/active"),
        format!("{M}/stats"),
        format!("{M}/health"),
        format!("{M}/export?format=json"),
        format!("{M}/export?format=csv"),
        format!("{M}/htmx/provider-health"),
        format!("{M}/htmx/provider-health-mini"),
        format!("{M}/center"),
        format!("{M}/center/htmx/failed"),
        format!("{M}/htmx/plugins"),
        "/api/plugins".to_owned(),
        "/api/plugins/slskd".to_owned(),
        "/api/openapi.json".to_owned(),
    ];
    for path in pages {
        let body = app.get_text(&path).await;
        assert!(!body.contains(&secret), "{path} leaks the plugin's api_key");
    }
    let (_, health) = app.get_json(&format!("{M}/health")).await;
    assert!(
        health["providers"][0]["error_message"].is_string(),
        "the outage is reported: {health}"
    );
    app.shutdown().await;
    emulator.shutdown().await;
}

/// Fetches `path` asking for gzip; returns the encoding the server chose and the decoded body.
async fn fetch_gzip(app: &TestApp, path: &str) -> (Option<String>, Vec<u8>) {
    let res = app
        .client
        .get(app.url(path))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{path}");
    let encoding = res
        .headers()
        .get("content-encoding")
        .map(|v| v.to_str().unwrap().to_owned());
    let raw = res.bytes().await.unwrap();
    let body = if encoding.as_deref() == Some("gzip") {
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&raw[..]), &mut out)
            .expect("valid gzip");
        out
    } else {
        raw.to_vec()
    };
    (encoding, body)
}

#[tokio::test]
async fn large_answers_are_gzipped_for_clients_that_accept_it() {
    let emulator = fast_emulator().await;
    let app = TestApp::start(&emulator).await;
    app.send_json(Method::POST, "/api/downloads/pause", json!(null))
        .await;
    for n in 0..40 {
        app.create("Gzip", &format!("Track {:02}", n + 10)).await;
    }
    let plain = app
        .client
        .get(app.url(&format!("{M}/active")))
        .send()
        .await
        .unwrap();
    assert!(
        plain.headers().get("content-encoding").is_none(),
        "only when asked"
    );
    let plain: Value = plain.json().await.unwrap();

    let (encoding, body) = fetch_gzip(&app, &format!("{M}/active")).await;
    assert_eq!(encoding.as_deref(), Some("gzip"));
    let decoded: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(decoded["downloads"], plain["downloads"]);

    for path in [
        "/",
        "/static/center.css",
        &format!("{M}/center/htmx/queue"),
        &format!("{M}/export?format=csv"),
    ] {
        let (encoding, body) = fetch_gzip(&app, path).await;
        assert_eq!(encoding.as_deref(), Some("gzip"), "{path}");
        assert!(std::str::from_utf8(&body).unwrap().contains("Gzip") || path.ends_with(".css"));
    }
    // Small answers are not worth it.
    let (encoding, _) = fetch_gzip(&app, &format!("{M}/stats")).await;
    assert_eq!(encoding, None);
    app.shutdown().await;
    emulator.shutdown().await;
}
