//! The download engine end to end: the real slskd plugin, the emulator, a real redb file.

use std::time::Duration;

use slskd_emulator::{Emulator, EmulatorConfig};
use tributary::engine::download::{FailureCause, Status};
use tributary::engine::manager::{NewDownload, RequestedSource};
use tributary_tests::{
    assert_counters_match, engine_against, fast_emulator, fast_settings, wait_until,
};
use uuid::Uuid;

fn track(artist: &str, title: &str) -> NewDownload {
    NewDownload {
        artist: artist.into(),
        title: title.into(),
        ..NewDownload::default()
    }
}

#[tokio::test]
async fn twenty_downloads_complete_within_the_concurrency_limit() {
    let emulator = Emulator::start(EmulatorConfig {
        speed_factor: 20.0,
        ..tributary_tests::test_emulator_config()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (_plugins, engine, running) =
        engine_against(&emulator, &dir.path().join("t.redb"), fast_settings()).await;
    let mut ids = Vec::new();
    for n in 0..20 {
        let (d, created) = engine
            .create(track("Artist", &format!("Song Number {}", n + 10)))
            .unwrap();
        assert!(created);
        ids.push(d.id);
    }
    let mut max_occupied = 0;
    let started = std::time::Instant::now();
    loop {
        let s = engine.stats().unwrap();
        max_occupied = max_occupied.max(s.pending + s.queued + s.downloading + s.stalled);
        if s.completed_today == 20 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "not done: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        max_occupied <= 3,
        "at most 3 at the provider at once, saw {max_occupied}"
    );
    assert!(max_occupied >= 2, "the limit is used, saw {max_occupied}");
    for id in ids {
        let d = engine.get(id).unwrap();
        assert_eq!(d.status, Status::Completed);
        assert!(d.completed_at.is_some() && d.started_at.is_some());
        assert_eq!(d.bytes_downloaded, d.total_bytes);
        assert_eq!(
            d.source.as_ref().unwrap().format.as_deref(),
            Some("flac"),
            "flac ranks first"
        );
    }
    assert_counters_match(&engine);
    running.shutdown().await;
    emulator.shutdown().await;
}

#[tokio::test]
async fn each_failure_leads_to_its_cause_and_another_source() {
    let emulator = fast_emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let (_plugins, engine, running) =
        engine_against(&emulator, &dir.path().join("t.redb"), fast_settings()).await;
    let cases = [
        ("rejecter", FailureCause::Rejected),
        ("sleepy", FailureCause::TimedOut),
        ("flaky", FailureCause::Errored),
        ("liar", FailureCause::SizeMismatch),
        ("ghost", FailureCause::PeerOffline),
    ];
    let mut ids = Vec::new();
    for (peer, _) in &cases {
        let title = format!("Case {peer}");
        let source = RequestedSource::PeerFile {
            peer: (*peer).into(),
            filename: format!("@@x\\Music\\{title}\\01 - {title}.flac"),
            size: 2_000_000,
        };
        let (d, _) = engine
            .create(NewDownload {
                source: Some(source),
                ..track("Artist", &title)
            })
            .unwrap();
        ids.push(d.id);
    }
    wait_until(
        Duration::from_secs(60),
        "every case to complete from another source",
        || {
            ids.iter()
                .all(|id| engine.get(*id).unwrap().status == Status::Completed)
        },
    )
    .await;
    for ((peer, cause), id) in cases.iter().zip(&ids) {
        let d = engine.get(*id).unwrap();
        assert_eq!(d.attempts[0].cause, *cause, "{peer}: {:?}", d.attempts);
        assert!(
            d.has_tried(peer, &d.attempts[0].source.as_ref().unwrap().filename),
            "{peer}"
        );
        assert_ne!(
            d.source.as_ref().unwrap().peer,
            *peer,
            "{peer}: another source was chosen"
        );
        assert_eq!(d.retry_count, 1);
    }
    assert_counters_match(&engine);
    running.shutdown().await;
    emulator.shutdown().await;
}

#[tokio::test]
async fn nothing_found_fails_with_not_found_and_a_later_retry() {
    let emulator = fast_emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let (_plugins, engine, running) =
        engine_against(&emulator, &dir.path().join("t.redb"), fast_settings()).await;
    let (d, _) = engine.create(track("Nobody", "unfindable song")).unwrap();
    wait_until(Duration::from_secs(20), "not found", || {
        engine.get(d.id).unwrap().status == Status::Failed
    })
    .await;
    let d = engine.get(d.id).unwrap();
    assert_eq!(d.failure_cause, Some(FailureCause::NotFound));
    let next = d.next_retry_at.expect("a later retry is scheduled");
    let wait = next - d.status_since;
    assert!(
        wait >= chrono::TimeDelta::seconds(47) && wait <= chrono::TimeDelta::seconds(73),
        "{wait}"
    );
    assert_eq!(engine.stats().unwrap().failed_today, 1);
    running.shutdown().await;
    emulator.shutdown().await;
}

/// Ids are time-ordered: downloads created together are stored side by side (a batch action
/// over them writes a few pages of the store, not one per download), and a walk of the store
/// in id order (the exports) meets them in the order they were created.
#[tokio::test]
async fn ids_follow_creation_order() {
    let emulator = fast_emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let (_plugins, engine, running) =
        engine_against(&emulator, &dir.path().join("t.redb"), fast_settings()).await;
    engine.set_paused(true).unwrap();
    let created: Vec<Uuid> = (0..50)
        .map(|n| {
            engine
                .create(track("Order", &format!("Song {n}")))
                .unwrap()
                .0
                .id
        })
        .collect();
    assert!(
        created.windows(2).all(|w| w[0] < w[1]),
        "ids out of creation order: {created:?}"
    );
    let walked: Vec<Uuid> = engine
        .store()
        .snapshot()
        .unwrap()
        .page(None, None, 100)
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(walked, created);
    // The engine's tasks were never polled (nothing above awaited): they still stop.
    assert_eq!(running.shutdown().await, 0, "engine tasks left running");
    emulator.shutdown().await;
}

fn source(peer: &str, title: &str) -> RequestedSource {
    RequestedSource::PeerFile {
        peer: peer.into(),
        filename: format!("@@x\\Music\\{title}\\01 - {title}.flac"),
        size: 2_000_000,
    }
}

#[tokio::test]
async fn a_stall_is_detected_and_recovered_from_another_source() {
    let emulator = fast_emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let settings = tributary::engine::settings::EngineSettings {
        stall_timeout: Duration::from_millis(800),
        stall_grace: Duration::from_millis(800),
        ..fast_settings()
    };
    let (_plugins, engine, running) =
        engine_against(&emulator, &dir.path().join("t.redb"), settings).await;
    let (d, _) = engine
        .create(NewDownload {
            source: Some(source("staller", "Stall Song")),
            ..track("A", "Stall Song")
        })
        .unwrap();
    let mut rx = engine.subscribe();
    let mut saw_stalled = false;
    wait_until(
        Duration::from_secs(30),
        "stall, then completion elsewhere",
        || {
            let now = engine.get(d.id).unwrap();
            saw_stalled |= now.status == Status::Stalled;
            now.status == Status::Completed
        },
    )
    .await;
    assert!(saw_stalled, "the download was seen stalled");
    let d = engine.get(d.id).unwrap();
    assert_eq!(d.attempts[0].cause, FailureCause::Stalled);
    assert_eq!(
        d.attempts.len(),
        1,
        "the new source did not inherit the old stall: {:?}",
        d.attempts
    );
    assert_ne!(d.source.unwrap().peer, "staller");
    assert!(rx.has_changed().unwrap());
    rx.mark_unchanged();
    running.shutdown().await;
    emulator.shutdown().await;
}

#[tokio::test]
async fn an_outage_opens_the_breaker_fails_nothing_and_the_queue_resumes() {
    let emulator = fast_emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = fast_settings();
    settings.breaker.recovery = Duration::from_millis(800);
    let (_plugins, engine, running) =
        engine_against(&emulator, &dir.path().join("t.redb"), settings).await;
    emulator.go_down().await;
    let mut ids = Vec::new();
    for n in 0..4 {
        ids.push(
            engine
                .create(track("Artist", &format!("Outage {}", n + 10)))
                .unwrap()
                .0
                .id,
        );
    }
    wait_until(Duration::from_secs(10), "the breaker to open", || {
        engine.health()[0].circuit_state == tributary::engine::breaker::CircuitState::Open
    })
    .await;
    let health = &engine.health()[0];
    assert!(health.consecutive_failures >= 3);
    assert!(
        health
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("unreachable"),
        "{health:?}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    let s = engine.stats().unwrap();
    assert_eq!(s.failed_today, 0, "an outage fails nothing: {s:?}");
    assert_eq!(s.waiting, 4, "{s:?}");

    emulator.come_back().await.unwrap();
    wait_until(
        Duration::from_secs(30),
        "the queue to finish after the outage",
        || engine.stats().unwrap().completed_today == 4,
    )
    .await;
    assert_eq!(
        engine.health()[0].circuit_state,
        tributary::engine::breaker::CircuitState::Closed
    );
    assert!(engine.health()[0].last_success.is_some());
    assert_counters_match(&engine);
    running.shutdown().await;
    emulator.shutdown().await;
}

#[tokio::test]
async fn downloads_finish_across_an_slskd_restart_with_new_ids() {
    let timings = slskd_emulator::Timings {
        restart_reenqueue: Duration::from_millis(600),
        ..Default::default()
    };
    let emulator = Emulator::start(EmulatorConfig {
        timings,
        speed_factor: 2.0,
        ..tributary_tests::test_emulator_config()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (_plugins, engine, running) =
        engine_against(&emulator, &dir.path().join("t.redb"), fast_settings()).await;
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(
            engine
                .create(track("Artist", &format!("Restart {}", n + 10)))
                .unwrap()
                .0
                .id,
        );
    }
    wait_until(Duration::from_secs(20), "transfers in progress", || {
        engine.stats().unwrap().downloading >= 1
    })
    .await;
    let before: Vec<Option<String>> = ids
        .iter()
        .map(|id| engine.get(*id).unwrap().external_id)
        .collect();
    emulator.control().restart_slskd();
    let all_done = || {
        ids.iter()
            .all(|id| engine.get(*id).unwrap().status == Status::Completed)
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !all_done() {
        assert!(
            std::time::Instant::now() < deadline,
            "not all completed after the restart: {:#?}",
            ids.iter()
                .map(|id| engine.get(*id).unwrap())
                .map(|d| (d.status, d.status_message, d.attempts))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut changed = 0;
    for (id, old) in ids.iter().zip(before) {
        let d = engine.get(*id).unwrap();
        assert!(
            d.attempts.is_empty(),
            "a restart is not a failure: {:?}",
            d.attempts
        );
        if old.is_some() && d.external_id != old {
            changed += 1;
        }
    }
    assert!(
        changed >= 1,
        "at least one transfer was re-created under a new id"
    );
    assert_counters_match(&engine);
    running.shutdown().await;
    emulator.shutdown().await;
}

#[tokio::test]
async fn user_actions_follow_the_transition_table() {
    // busy_bee keeps a file queued for 3 s here (24 s of emulated time): long enough to pause
    // it while queued, short enough for the resumed download to finish.
    let emulator = Emulator::start(EmulatorConfig {
        timings: slskd_emulator::Timings {
            slow_queue: Duration::from_secs(24),
            ..Default::default()
        },
        ..tributary_tests::test_emulator_config()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (_plugins, engine, running) =
        engine_against(&emulator, &dir.path().join("t.redb"), fast_settings()).await;

    // Duplicates: same track id, same idempotency key.
    let (a, created) = engine
        .create(NewDownload {
            track_id: Some("trk-1".into()),
            ..track("A", "Dup")
        })
        .unwrap();
    assert!(created);
    let (again, created) = engine
        .create(NewDownload {
            track_id: Some("trk-1".into()),
            ..track("A", "Dup")
        })
        .unwrap();
    assert!(!created);
    assert_eq!(again.id, a.id);
    let (k1, _) = engine
        .create(NewDownload {
            idempotency_key: Some("k".into()),
            ..track("A", "Key")
        })
        .unwrap();
    let (k2, created) = engine
        .create(NewDownload {
            idempotency_key: Some("k".into()),
            ..track("A", "Key")
        })
        .unwrap();
    assert!(!created);
    assert_eq!(k1.id, k2.id);

    // Validation.
    assert!(engine.create(track("", "x")).is_err());
    assert!(engine.create(track("a", "bad\u{0}title")).is_err());
    assert!(
        engine
            .create(NewDownload {
                provider: Some("nope".into()),
                ..track("a", "b")
            })
            .is_err()
    );

    // Pause an active transfer: cancelled at the provider, kept paused; resume finishes it.
    let (slow, _) = engine
        .create(NewDownload {
            source: Some(source("busy_bee", "Slow Queue")),
            ..track("A", "Slow Queue")
        })
        .unwrap();
    wait_until(Duration::from_secs(10), "queued at the peer", || {
        engine.get(slow.id).unwrap().status == Status::Queued
    })
    .await;
    let ext = engine.get(slow.id).unwrap().external_id.unwrap();
    let paused = engine.pause(slow.id).unwrap();
    assert_eq!(paused.status, Status::Paused);
    assert!(paused.external_id.is_none());
    wait_until(
        Duration::from_secs(5),
        "the transfer to be cancelled at slskd",
        || {
            emulator
                .control()
                .world()
                .transfers
                .iter()
                .any(|t| t.id.to_string() == ext && t.phase.is_completed())
        },
    )
    .await;
    assert!(engine.resume(a.id).is_err(), "only paused downloads resume");
    let resumed = engine.resume(slow.id).unwrap();
    assert_eq!(resumed.status, Status::Waiting);
    wait_until(
        Duration::from_secs(30),
        "the resumed download to finish",
        || engine.get(slow.id).unwrap().status == Status::Completed,
    )
    .await;
    let finished = engine.get(slow.id).unwrap();
    assert_eq!(finished.bytes_downloaded, finished.total_bytes);
    assert!(finished.attempts.is_empty(), "a pause is no failure");

    // Cancel (idempotent), then illegal actions on the cancelled record are typed errors.
    let (held, _) = engine
        .create(NewDownload {
            source: Some(source("busy_bee", "Held Back")),
            ..track("A", "Held Back")
        })
        .unwrap();
    let cancelled = engine.cancel(held.id).unwrap();
    assert_eq!(cancelled.status, Status::Cancelled);
    assert_eq!(engine.cancel(held.id).unwrap().status, Status::Cancelled);
    let err = engine.pause(held.id).unwrap_err();
    assert!(
        matches!(err, tributary::engine::manager::EngineError::Illegal(_)),
        "{err}"
    );
    let retried = engine.retry(held.id).unwrap();
    assert_eq!(retried.status, Status::Waiting);
    assert_eq!(retried.retry_count, 0);
    assert_eq!(
        retried.source.as_ref().unwrap().peer,
        "busy_bee",
        "a cancel is no failure: the source stays"
    );
    engine.cancel(held.id).unwrap();

    // Priority reorders the waiting queue.
    engine.set_paused(true).unwrap();
    let (low, _) = engine.create(track("A", "Low Priority")).unwrap();
    let (high, _) = engine
        .create(NewDownload {
            priority: Some(5),
            ..track("A", "High Priority")
        })
        .unwrap();
    let order: Vec<_> = engine
        .store()
        .waiting_in_order(10)
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect();
    let at = |id: Uuid| {
        order
            .iter()
            .position(|o| *o == id)
            .expect("in the waiting queue")
    };
    assert!(at(high.id) < at(low.id), "higher priority first: {order:?}");
    engine.set_priority(low.id, 10).unwrap();
    let order: Vec<_> = engine
        .store()
        .waiting_in_order(10)
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(order[0], low.id);
    assert!(engine.set_priority(low.id, 5000).is_err());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        engine.get(low.id).unwrap().status,
        Status::Waiting,
        "nothing is dispatched while paused"
    );
    engine.set_paused(false).unwrap();
    wait_until(Duration::from_secs(30), "all to complete", || {
        let s = engine.stats().unwrap();
        s.total_active == 0
    })
    .await;
    let done = engine.get(a.id).unwrap();
    assert_eq!(done.status, Status::Completed);
    let err = engine.cancel(a.id).unwrap_err();
    assert_eq!(
        err.to_string(),
        "a completed download cannot become cancelled"
    );
    assert!(
        engine.retry(a.id).is_err(),
        "a completed download is not retried"
    );
    assert_counters_match(&engine);
    running.shutdown().await;
    emulator.shutdown().await;
}

#[tokio::test]
async fn stale_provider_data_never_revives_a_finished_download() {
    let emulator = fast_emulator().await;
    let dir = tempfile::tempdir().unwrap();
    let mut settings = fast_settings();
    settings.retry.max_retries = 0;
    let (_plugins, engine, running) =
        engine_against(&emulator, &dir.path().join("t.redb"), settings).await;
    let (d, _) = engine
        .create(NewDownload {
            source: Some(source("rejecter", "Stale")),
            ..track("A", "Stale")
        })
        .unwrap();
    wait_until(Duration::from_secs(10), "final failure", || {
        engine.get(d.id).unwrap().status == Status::Failed
    })
    .await;
    let failed = engine.get(d.id).unwrap();
    assert_eq!(failed.failure_cause, Some(FailureCause::Rejected));
    assert!(failed.next_retry_at.is_none(), "no retries left");
    // slskd still lists the rejected transfer; polls must not touch the record.
    let generation = *engine.subscribe().borrow();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        engine.get(d.id).unwrap(),
        failed,
        "the same snapshot changes nothing"
    );
    assert_eq!(*engine.subscribe().borrow(), generation);

    // A manual retry never reuses the stale transfer, and ends elsewhere.
    engine.retry(d.id).unwrap();
    wait_until(
        Duration::from_secs(20),
        "completion after the retry",
        || engine.get(d.id).unwrap().status == Status::Completed,
    )
    .await;
    let done = engine.get(d.id).unwrap();
    assert_ne!(done.source.unwrap().peer, "rejecter");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(engine.get(d.id).unwrap().status, Status::Completed);
    running.shutdown().await;
    emulator.shutdown().await;
}
