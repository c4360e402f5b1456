//! `GET /metrics` end to end: off by default, the Prometheus text format when on, counters that
//! follow what the engine and the HTTP server did, and the access rules (keys, or its token).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tributary::config::{ApiKeyConfig, KeyRole};
use tributary_tests::{TestApp, fast_emulator};

/// One sample line: name, labels, value.
#[derive(Debug, Clone)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Parses the text format strictly: every line is `# HELP name text`, `# TYPE name type` or a
/// sample `name{label="value",...} number`; anything else fails with the line.
fn parse(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    let mut typed = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, _) = rest.split_once(' ').unwrap_or((rest, ""));
            assert!(is_name(name), "bad HELP line: {line}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE has a type");
            assert!(is_name(name), "bad TYPE line: {line}");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "bad TYPE line: {line}"
            );
            typed.insert(name.to_owned(), kind.to_owned());
            continue;
        }
        assert!(!line.starts_with('#'), "unknown comment: {line}");
        let (head, value) = line.rsplit_once(' ').expect("a sample has a value");
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value in: {line}")),
        };
        let (name, labels) = match head.split_once('{') {
            None => (head, BTreeMap::new()),
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').expect("labels end with }");
                (name, parse_labels(body, line))
            }
        };
        assert!(is_name(name), "bad metric name in: {line}");
        // Every sample belongs to a declared family (histograms add _bucket, _sum, _count).
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| typed.get(*f).is_some_and(|t| t == "histogram"))
            })
            .unwrap_or(name);
        assert!(typed.contains_key(family), "sample without a TYPE: {line}");
        samples.push(Sample {
            name: name.to_owned(),
            labels,
            value,
        });
    }
    samples
}

fn parse_labels(body: &str, line: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut rest = body;
    while !rest.is_empty() {
        let (key, after) = rest
            .split_once("=\"")
            .unwrap_or_else(|| panic!("bad labels: {line}"));
        assert!(is_name(key), "bad label name in: {line}");
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c @ ('\\' | '"'))) => value.push(c),
                    _ => panic!("bad escape in: {line}"),
                },
                Some((i, '"')) => break i,
                Some((_, c)) => value.push(c),
                None => panic!("unterminated label value: {line}"),
            }
        };
        labels.insert(key.to_owned(), value);
        rest = &after[end + 1..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
    labels
}

/// The sum of the samples named `name` whose labels include all of `with`.
/// (family, labels the samples must carry, their sum).
type Expected<'a> = (&'a str, &'a [(&'a str, &'a str)], f64);

fn total(samples: &[Sample], name: &str, with: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name)
        .filter(|s| {
            with.iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
        .sum()
}

async fn scrape(app: &TestApp) -> (StatusCode, Option<String>, String) {
    let res = app.client.get(app.url("/metrics")).send().await.unwrap();
    let status = res.status();
    let kind = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, kind, res.text().await.unwrap())
}

#[tokio::test]
async fn metrics_are_off_unless_enabled() {
    let emulator = fast_emulator().await;
    let app = TestApp::start(&emulator).await;
    let (status, _, _) = scrape(&app).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.shutdown().await;
    emulator.shutdown().await;
}

#[tokio::test]
async fn the_exposition_parses_and_follows_what_happened() {
    let emulator = fast_emulator().await;
    let app = TestApp::start_with(&emulator, |c| c.metrics.enabled = true).await;

    // Two downloads cancelled, one that completes.
    let mut cancelled = Vec::new();
    for n in 0..2 {
        let d = app.create("Artist", &format!("Track {:02}", n + 10)).await;
        let id = d["id"].as_str().unwrap().to_owned();
        let (status, body) = app.act(&id, "cancel").await;
        assert_eq!(status, 200, "{body}");
        cancelled.push(id);
    }
    let done = app.create("Boards of Canada", "Roygbiv").await;
    let done_id = done["id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(40);
    let size = loop {
        let (_, d) = app.get_json(&format!("/api/downloads/{done_id}")).await;
        if d["status"] == "completed" {
            break d["progress"]["total_bytes"].as_f64().unwrap();
        }
        assert!(Instant::now() < deadline, "not completed: {d}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(size > 0.0);

    // One that nothing is found for: a failure by cause (its retry is a minute away).
    let lost = app.create("Nobody", "unfindable song").await;
    let lost_id = lost["id"].as_str().unwrap().to_owned();
    loop {
        let (_, d) = app.get_json(&format!("/api/downloads/{lost_id}")).await;
        if d["status"] == "failed" {
            break;
        }
        assert!(Instant::now() < deadline, "not failed: {d}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // One event-stream client, held open during the scrape.
    let stream = app
        .client
        .get(app.url("/api/downloads/manager/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), StatusCode::OK);

    let (status, kind, text) = scrape(&app).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(
        kind.as_deref(),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let samples = parse(&text);

    // (family, labels the samples must carry, their sum), counted from what happened above:
    // downloads by status (the store), creates, transitions and failures (the engine's
    // commits), bytes (every byte of the completed file seen arriving), and HTTP requests by
    // route pattern, never by raw path.
    let expected: [Expected; 11] = [
        ("tributary_downloads", &[("status", "cancelled")], 2.0),
        ("tributary_downloads", &[("status", "completed")], 1.0),
        (
            "tributary_downloads_created_total",
            &[("provider", "slskd")],
            4.0,
        ),
        (
            "tributary_download_transitions_total",
            &[("to", "cancelled"), ("provider", "slskd")],
            2.0,
        ),
        (
            "tributary_download_transitions_total",
            &[("to", "completed")],
            1.0,
        ),
        (
            "tributary_download_failures_total",
            &[("provider", "slskd"), ("cause", "not_found")],
            1.0,
        ),
        ("tributary_download_failures_total", &[], 1.0),
        ("tributary_active_downloads", &[], 0.0),
        (
            "tributary_downloaded_bytes_total",
            &[("provider", "slskd")],
            size,
        ),
        (
            "tributary_http_requests_total",
            &[
                ("method", "POST"),
                ("route", "/api/downloads/{id}/cancel"),
                ("status", "200"),
            ],
            2.0,
        ),
        (
            "tributary_http_requests_total",
            &[
                ("method", "POST"),
                ("route", "/api/downloads"),
                ("status", "201"),
            ],
            4.0,
        ),
    ];
    for (family, labels, sum) in expected {
        assert_eq!(
            total(&samples, family, labels),
            sum,
            "{family} {labels:?}\n{text}"
        );
    }
    for id in cancelled.iter().chain([&done_id, &lost_id]) {
        assert!(
            !text.contains(id.as_str()),
            "a download id in a label: {text}"
        );
    }

    // The provider's circuit, the plugin's calls and their durations, the SSE client.
    assert_eq!(
        total(
            &samples,
            "tributary_provider_circuit_state",
            &[("provider", "slskd"), ("state", "closed")]
        ),
        1.0,
        "{text}"
    );
    assert_eq!(
        total(
            &samples,
            "tributary_provider_circuit_state",
            &[("provider", "slskd"), ("state", "open")]
        ),
        0.0,
        "{text}"
    );
    let listed = total(
        &samples,
        "tributary_plugin_calls_total",
        &[("plugin", "slskd"), ("call", "list-transfers")],
    );
    assert!(listed > 0.0, "{text}");
    let count = total(
        &samples,
        "tributary_plugin_call_duration_seconds_count",
        &[("plugin", "slskd"), ("call", "list-transfers")],
    );
    let inf = total(
        &samples,
        "tributary_plugin_call_duration_seconds_bucket",
        &[
            ("plugin", "slskd"),
            ("call", "list-transfers"),
            ("le", "+Inf"),
        ],
    );
    // The calls counter and the histogram are read from the same statistics, but calls go on
    // between the two families: the histogram is read after, so it has at least as many.
    assert!(count >= listed && inf == count, "{text}");
    assert_eq!(total(&samples, "tributary_sse_clients", &[]), 1.0, "{text}");
    drop(stream);

    // Every write above was committed: at least one durable commit, each counted once, with
    // the time it took.
    let commits = total(
        &samples,
        "tributary_store_commit_duration_seconds_count",
        &[],
    );
    let commits_inf = total(
        &samples,
        "tributary_store_commit_duration_seconds_bucket",
        &[("le", "+Inf")],
    );
    let commits_sum = total(&samples, "tributary_store_commit_duration_seconds_sum", &[]);
    assert!(commits >= 4.0 && commits_inf == commits, "{text}");
    assert!(commits_sum > 0.0, "{text}");

    // A second scrape sees the first as a request to /metrics.
    let (_, _, text) = scrape(&app).await;
    let samples = parse(&text);
    assert!(
        total(
            &samples,
            "tributary_http_requests_total",
            &[("route", "/metrics"), ("status", "200")]
        ) >= 1.0,
        "{text}"
    );
    app.shutdown().await;
    emulator.shutdown().await;
}

const READER: &str = "reader-key-0123456789abcdef";
const TOKEN: &str = "scraper-token-0123456789";

#[tokio::test]
async fn keys_guard_metrics_and_its_token_opens_it() {
    let emulator = fast_emulator().await;
    let app = TestApp::start_with(&emulator, |c| {
        c.metrics.enabled = true;
        c.metrics.token = Some(TOKEN.into());
        c.auth.keys = vec![ApiKeyConfig {
            name: "reader".into(),
            key: READER.into(),
            role: KeyRole::Readonly,
            cidrs: vec![],
        }];
    })
    .await;
    let get = |auth: Option<(&'static str, String)>| {
        let mut req = app.client.get(app.url("/metrics"));
        if let Some((h, v)) = auth {
            req = req.header(h, v);
        }
        async move { req.send().await.unwrap().status() }
    };
    assert_eq!(get(None).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        get(Some((
            "authorization",
            "Bearer wrong-token-0123456789".into()
        )))
        .await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        get(Some(("x-api-key", READER.into()))).await,
        StatusCode::OK
    );
    assert_eq!(
        get(Some(("authorization", format!("Bearer {TOKEN}")))).await,
        StatusCode::OK
    );
    // The token opens /metrics only.
    let res = app
        .client
        .get(app.url("/api/downloads/manager/stats"))
        .header("authorization", format!("Bearer {TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    app.shutdown().await;
    emulator.shutdown().await;
}

#[tokio::test]
async fn without_keys_a_configured_token_is_required() {
    let emulator = fast_emulator().await;
    let app = TestApp::start_with(&emulator, |c| {
        c.metrics.enabled = true;
        c.metrics.token = Some(TOKEN.into());
    })
    .await;
    let (status, _, _) = scrape(&app).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let res = app
        .client
        .get(app.url("/metrics"))
        .header("authorization", format!("Bearer {TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // Everything else stays open, as without a token.
    let (status, _) = app.get_json("/api/downloads/manager/stats").await;
    assert_eq!(status, 200);
    app.shutdown().await;
    emulator.shutdown().await;
}
