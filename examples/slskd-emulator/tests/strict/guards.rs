//! slskd's concurrency guards: one search POST and two enqueue POSTs in flight, the next one
//! answered 429 with slskd's JSON string; the POSTs take time, so the guards matter.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use slskd_emulator::{EmulatorConfig, Limits, TOO_MANY, Timings};

use crate::common::{Slskd, file};

/// Search and enqueue POSTs take 10 s here (half a second at this speed).
async fn slow_posts(limits: Limits) -> Slskd {
    Slskd::start(EmulatorConfig {
        timings: Timings {
            search_post: Duration::from_secs(10),
            enqueue: Duration::from_secs(10),
            ..Timings::default()
        },
        limits,
        speed_factor: 20.0,
        ..EmulatorConfig::default()
    })
    .await
}

#[tokio::test]
async fn a_second_search_post_in_flight_gets_429() {
    let slskd = slow_posts(Limits::default()).await;
    let body = |text: &str| Some(json!({"searchText": text, "searchTimeout": 1000}));
    let started = Instant::now();
    let (a, b) = tokio::join!(
        slskd.send("POST", "searches", body("first")),
        slskd.send("POST", "searches", body("second")),
    );
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::TOO_MANY_REQUESTS]);
    let refused = if a.status == StatusCode::TOO_MANY_REQUESTS {
        a
    } else {
        b
    };
    assert_eq!(refused.body, TOO_MANY, "{}", refused.raw);
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "a POST takes time"
    );
    assert_eq!(slskd.emulator.control().too_many_requests(), 1);
    assert_eq!(slskd.emulator.control().search_posts(), 2);
    assert_eq!(slskd.emulator.control().stored_searches(), 1);
    let after = slskd.send("POST", "searches", body("third")).await;
    assert_eq!(after.status, StatusCode::OK, "free again once answered");
}

#[tokio::test]
async fn the_search_post_limit_is_configurable() {
    let slskd = slow_posts(Limits {
        search_posts: 2,
        ..Limits::default()
    })
    .await;
    let body = |text: &str| Some(json!({"searchText": text}));
    let (a, b) = tokio::join!(
        slskd.send("POST", "searches", body("first")),
        slskd.send("POST", "searches", body("second")),
    );
    assert_eq!((a.status, b.status), (StatusCode::OK, StatusCode::OK));
}

#[tokio::test]
async fn a_third_enqueue_post_in_flight_gets_429() {
    let slskd = slow_posts(Limits::default()).await;
    let (one, two, three) = (file(1), file(2), file(3));
    let (first, second, third) = (
        [(one.as_str(), 1_000)],
        [(two.as_str(), 1_000)],
        [(three.as_str(), 1_000)],
    );
    let started = Instant::now();
    let (a, b, c) = tokio::join!(
        slskd.enqueue("vinylhoarder", &first),
        slskd.enqueue("vinylhoarder", &second),
        slskd.enqueue("mp3_maven", &third),
    );
    let mut statuses = [a.status, b.status, c.status];
    statuses.sort();
    assert_eq!(
        statuses,
        [
            StatusCode::CREATED,
            StatusCode::CREATED,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "an enqueue takes time"
    );
    let control = slskd.emulator.control();
    assert_eq!(control.too_many_requests(), 1);
    assert_eq!(control.enqueue_posts(), 3);
    assert_eq!(control.download_records(), 2);
    // Counted per file whatever the answer.
    assert_eq!(control.enqueue_requests_for("vinylhoarder", &one), 1);
    assert_eq!(control.enqueue_requests_for("vinylhoarder", &two), 1);
    assert_eq!(control.enqueue_requests_for("mp3_maven", &three), 1);
}
