//! Tributary against an slskd as strict as the real one (`reference/slskd-api.md`): searches
//! that run long, asynchronous cancels, a download list that only grows unless it is tidied,
//! concurrency guards answering 429, its own retries, remote queue positions, and a state
//! Tributary does not know. Each test is the engine (or the whole service) with the real slskd
//! plugin against the emulator over loopback.

use std::time::{Duration, Instant};

use serde_json::json;
use slskd_emulator::{Emulator, EmulatorConfig, Timings};
use tributary::engine::download::{FailureCause, Status};
use tributary::engine::manager::{DownloadManager, NewDownload, RequestedSource};
use tributary::engine::provider_slot::ProviderOptions;
use tributary_tests::{
    TestApp, engine_against, engine_with_options, fast_settings, test_emulator_config,
};
use uuid::Uuid;

fn track(artist: &str, title: &str) -> NewDownload {
    NewDownload {
        artist: artist.into(),
        title: title.into(),
        ..NewDownload::default()
    }
}

fn from(peer: &str, title: &str, size: u64) -> NewDownload {
    NewDownload {
        artist: "Strict".into(),
        title: title.into(),
        source: Some(RequestedSource::PeerFile {
            peer: peer.into(),
            filename: format!("@@strict\\Music\\{title}\\01 - {title}.flac"),
            size,
        }),
        ..NewDownload::default()
    }
}

/// Waits for `done`, failing with what the downloads look like when it does not come.
async fn wait_for(
    engine: &DownloadManager,
    ids: &[Uuid],
    secs: u64,
    what: &str,
    done: impl Fn(&DownloadManager) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done(engine) {
        if Instant::now() > deadline {
            let seen: Vec<_> = ids
                .iter()
                .map(|id| engine.get(*id).unwrap())
                .map(|d| (d.track.title, d.status, d.status_message, d.attempts))
                .collect();
            panic!("timed out after {secs} s waiting for {what}: {seen:#?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn all(engine: &DownloadManager, ids: &[Uuid], status: Status) -> bool {
    ids.iter()
        .all(|id| engine.get(*id).unwrap().status == status)
}

#[tokio::test]
async fn a_search_whose_answers_take_twenty_seconds_is_waited_for_and_downloads() {
    let speed = 4.0;
    let emulator = Emulator::start(EmulatorConfig {
        speed_factor: speed,
        // 20 s of real time over which the answers trickle in.
        timings: Timings {
            slow_search: Duration::from_secs(20).mul_f64(speed),
            ..Timings::default()
        },
        ..test_emulator_config()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    // slskd's default inactivity timeout: longer than the gaps between the late answers.
    let settings = tributary::engine::settings::EngineSettings {
        search_timeout: Duration::from_secs(15),
        ..fast_settings()
    };
    let (_plugins, engine, running) =
        engine_against(&emulator, &dir.path().join("t.redb"), settings).await;
    let started = Instant::now();
    let (d, _) = engine
        .create(track("Patient", "slowsearch Ballad"))
        .unwrap();
    wait_for(&engine, &[d.id], 60, "the slow search's download", |e| {
        all(e, &[d.id], Status::Completed)
    })
    .await;
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(20),
        "the answers took 20 s, so did the search: {took:?}"
    );
    assert!(engine.get(d.id).unwrap().attempts.is_empty());
    // Read and done with, the search is deleted at slskd: none is left stored.
    wait_for(&engine, &[d.id], 10, "no stored search", |_| {
        emulator.control().stored_searches() == 0
    })
    .await;
    running.shutdown().await;
    emulator.shutdown().await;
}

#[tokio::test]
async fn slskds_list_is_left_empty_after_twenty_completed_and_ten_cancelled_downloads() {
    let emulator = Emulator::start(test_emulator_config()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut settings = fast_settings();
    settings.concurrency_per_provider = 30;
    let (_plugins, engine, running) =
        engine_against(&emulator, &dir.path().join("t.redb"), settings).await;
    let mut finished = Vec::new();
    for n in 0..20 {
        let (d, _) = engine
            .create(from("vinylhoarder", &format!("Kept {}", n + 10), 600_000))
            .unwrap();
        finished.push(d.id);
    }
    let mut cancelled = Vec::new();
    for n in 0..10 {
        let (d, _) = engine
            .create(from("busy_bee", &format!("Dropped {}", n + 10), 600_000))
            .unwrap();
        cancelled.push(d.id);
    }
    // The busy peer keeps them queued: cancel each once slskd holds its transfer.
    wait_for(&engine, &cancelled, 30, "the busy peer's transfers", |e| {
        all(e, &cancelled, Status::Queued)
    })
    .await;
    for id in &cancelled {
        engine.cancel(*id).unwrap();
    }
    wait_for(&engine, &finished, 60, "twenty completed downloads", |e| {
        all(e, &finished, Status::Completed)
    })
    .await;
    let ids: Vec<Uuid> = finished.iter().chain(&cancelled).copied().collect();
    wait_for(
        &engine,
        &ids,
        30,
        "slskd's list to hold none of them",
        |_| emulator.control().download_records() == 0,
    )
    .await;
    assert!(
        emulator.control().transfer_removes() >= 30,
        "each ended transfer was removed: {}",
        emulator.control().transfer_removes()
    );
    running.shutdown().await;
    emulator.shutdown().await;
}

/// Pause then resume, and cancel then retry, of one file, at once: slskd is still cancelling
/// the first transfer (and lists it) when the download wants the file again. The download must
/// end with the new transfer's outcome, never the old one's.
#[tokio::test]
async fn a_paused_or_cancelled_file_taken_up_again_ends_with_the_new_transfer() {
    let emulator = Emulator::start(EmulatorConfig {
        speed_factor: 1.0,
        // slskd's cancel lands well after the DELETE (a slow peer connection), longer than an
        // enqueue takes: the next enqueue of the file meets the old transfer still running.
        timings: Timings {
            cancel: Duration::from_millis(1500),
            ..Timings::default()
        },
        ..test_emulator_config()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    // The operator keeps finished transfers listed: old records of the file stay in view.
    let options = ProviderOptions {
        remove_finished: false,
        ..ProviderOptions::default()
    };
    let (_plugins, engine, running) = engine_with_options(
        &emulator,
        &dir.path().join("t.redb"),
        fast_settings(),
        options,
    )
    .await;
    let (paused, _) = engine
        .create(from("vinylhoarder", "Paused Then Resumed", 3_000_000))
        .unwrap();
    let (cancelled, _) = engine
        .create(from("vinylhoarder", "Cancelled Then Retried", 3_000_000))
        .unwrap();
    let ids = [paused.id, cancelled.id];
    wait_for(&engine, &ids, 30, "both downloading", |e| {
        all(e, &ids, Status::Downloading)
    })
    .await;
    let first: Vec<String> = ids
        .iter()
        .map(|id| engine.get(*id).unwrap().external_id.unwrap())
        .collect();
    engine.pause(paused.id).unwrap();
    engine.resume(paused.id).unwrap();
    engine.cancel(cancelled.id).unwrap();
    engine.retry(cancelled.id).unwrap();
    wait_for(&engine, &ids, 60, "both to complete", |e| {
        all(e, &ids, Status::Completed)
    })
    .await;
    for (id, old) in ids.iter().zip(&first) {
        let d = engine.get(*id).unwrap();
        assert_ne!(
            d.external_id.as_deref(),
            Some(old.as_str()),
            "{}: completed on a new transfer",
            d.track.title
        );
        assert!(
            d.attempts.is_empty(),
            "{}: the old transfer's cancellation is not this download's failure: {:?}",
            d.track.title,
            d.attempts
        );
        assert_eq!(
            d.source.unwrap().peer,
            "vinylhoarder",
            "the same file, taken up again"
        );
    }
    running.shutdown().await;
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_burst_of_twenty_tracks_meets_at_most_twenty_429s() {
    // At slskd's own pace a search POST takes 100 ms and an enqueue 300 ms: calls that overlap
    // meet its guards.
    let emulator = Emulator::start(EmulatorConfig {
        speed_factor: 2.0,
        ..test_emulator_config()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let settings = tributary::engine::settings::EngineSettings {
        concurrency_per_provider: 10,
        ..fast_settings()
    };
    let (_plugins, engine, running) =
        engine_against(&emulator, &dir.path().join("t.redb"), settings).await;
    let mut ids = Vec::new();
    for n in 0..20 {
        ids.push(
            engine
                .create(track("Burst", &format!("Track {}", n + 10)))
                .unwrap()
                .0
                .id,
        );
    }
    wait_for(&engine, &ids, 120, "the burst to complete", |e| {
        all(e, &ids, Status::Completed)
    })
    .await;
    let refused = emulator.control().too_many_requests();
    println!(
        "burst of 20: {refused} answers of 429; {} search POSTs, {} enqueue POSTs",
        emulator.control().search_posts(),
        emulator.control().enqueue_posts()
    );
    assert!(refused <= 20, "{refused} answers of 429");
    running.shutdown().await;
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_state_tributary_does_not_know_keeps_the_download() {
    let emulator = Emulator::start(EmulatorConfig {
        speed_factor: 2.0,
        ..test_emulator_config()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (_plugins, engine, running) =
        engine_against(&emulator, &dir.path().join("t.redb"), fast_settings()).await;
    let (d, _) = engine
        .create(from("vinylhoarder", "Strange State", 6_000_000))
        .unwrap();
    wait_for(&engine, &[d.id], 30, "downloading", |e| {
        all(e, &[d.id], Status::Downloading)
    })
    .await;
    let external = engine.get(d.id).unwrap().external_id;
    // A state from a newer slskd, for longer than the engine gives a vanished transfer.
    emulator
        .control()
        .disguise_states("Completed, Quarantined", Duration::from_secs(3));
    // Look once the engine has listed the transfers a few times under the disguise.
    let lists = emulator.control().transfer_list_gets();
    wait_for(
        &engine,
        &[d.id],
        10,
        "three polls under the disguise",
        |_| emulator.control().transfer_list_gets() >= lists + 3,
    )
    .await;
    let during = engine.get(d.id).unwrap();
    assert_eq!(
        during.status,
        Status::Downloading,
        "the last known state is kept"
    );
    wait_for(&engine, &[d.id], 60, "the download to complete", |e| {
        all(e, &[d.id], Status::Completed)
    })
    .await;
    let after = engine.get(d.id).unwrap();
    assert!(
        after.attempts.is_empty(),
        "never failed: {:?}",
        after.attempts
    );
    assert_eq!(after.external_id, external, "the same transfer all along");
    running.shutdown().await;
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_failure_slskd_retries_by_itself_is_waited_for() {
    let emulator = Emulator::start(EmulatorConfig {
        speed_factor: 4.0,
        ..test_emulator_config()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (_plugins, engine, running) =
        engine_against(&emulator, &dir.path().join("t.redb"), fast_settings()).await;
    // flaky drops every attempt at 40 %; slskd tries it three times, 5 s then 10 s apart.
    let (d, _) = engine
        .create(from("flaky", "Retried By Slskd", 3_000_000))
        .unwrap();
    let mut saw_wait = false;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = engine.get(d.id).unwrap();
        saw_wait |= now
            .status_message
            .as_deref()
            .is_some_and(|m| m.contains("may retry"));
        if !now.attempts.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "flaky never failed for good: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let d = engine.get(d.id).unwrap();
    assert!(saw_wait, "the download said slskd may retry");
    assert_eq!(
        d.attempts.len(),
        1,
        "one failure, after slskd's own three attempts"
    );
    assert_eq!(d.attempts[0].cause, FailureCause::Errored);
    let attempts_at_slskd = emulator
        .control()
        .world()
        .transfers
        .iter()
        .filter(|t| t.username == "flaky")
        .map(|t| t.attempts)
        .max()
        .unwrap_or(0);
    assert_eq!(attempts_at_slskd, 3, "slskd used all its attempts first");
    running.shutdown().await;
    emulator.shutdown().await;
}

#[tokio::test]
async fn the_remote_queue_position_is_asked_for_and_shown() {
    let emulator = Emulator::start(test_emulator_config()).await.unwrap();
    let app = TestApp::start_with(&emulator, |c| {
        c.engine.poll_interval_ms = Some(200);
    })
    .await;
    let (status, created) = app
        .send_json(
            reqwest::Method::POST,
            "/api/downloads",
            json!({"artist": "Waiting", "title": "In Line", "source": {
                "peer": "gatekeeper", "filename": "@@gate\\Music\\In Line\\01 - In Line.flac", "size": 4_000_000
            }}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let shown = loop {
        let (_, active) = app.get_json("/api/downloads/manager/active").await;
        let d = active["downloads"][0].clone();
        if d["queue_position"] == json!(17) {
            break d;
        }
        assert!(Instant::now() < deadline, "no position shown: {d}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(shown["status"], "queued");
    assert!(
        shown["status_message"]
            .as_str()
            .is_some_and(|m| m.contains("position 17")),
        "{shown}"
    );
    // Asked sparingly: once per transfer per 30 s.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(emulator.control().position_gets(), 1);
    app.shutdown().await;
    emulator.shutdown().await;
}
