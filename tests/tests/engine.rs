//! The download engine end to end: the real slskd plugin, the emulator, a real redb file.

use std::time::Duration;

use slskd_emulator::{Emulator, EmulatorConfig};
use tributary::engine::download::{FailureCause, Status};
use tributary::engine::manager::{NewDownload, RequestedSource};
use tributary_tests::{
    assert_counters_match, engine_against, fast_emulator, fast_settings, wait_until,
};

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
        ..EmulatorConfig::default()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (_plugins, engine, running) =
        engine_against(&emulator, &dir.path().join("t.redb"), fast_settings()).await;
    let mut ids = Vec::new();
    for n in 0..20 {
        let (d, created) = engine
            .create(track("Artist", &format!("Song Number {n}")))
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
        let source = RequestedSource {
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
        wait >= time::Duration::seconds(47) && wait <= time::Duration::seconds(73),
        "{wait}"
    );
    assert_eq!(engine.stats().unwrap().failed_today, 1);
    running.shutdown().await;
    emulator.shutdown().await;
}
