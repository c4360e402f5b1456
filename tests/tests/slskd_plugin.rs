//! The slskd plugin, loaded by the real runtime, against the slskd emulator over loopback.

use std::time::{Duration, Instant};

use slskd_emulator::{Emulator, EmulatorConfig, Fault, Timings};
use tributary::engine::provider::{
    FailureReason, Provider, ProviderError, TrackQuery, TransferRef, TransferState,
};
use tributary::engine::ranking::{RankingPolicy, Wanted};
use tributary_tests::{
    PluginsDir, emulator_key, fast_emulator, runtime, slskd_against, slskd_grant, source_from,
    wait_for_transfer,
};

const LONG: Duration = Duration::from_secs(30);

fn query(artist: &str, title: &str) -> TrackQuery {
    TrackQuery {
        artist: artist.into(),
        title: title.into(),
        album: None,
        duration_secs: None,
        search_timeout_ms: 5_000,
    }
}

/// Polls a search to completion; also returns whether any poll said "complete" without
/// candidates (which would mean the response race was not handled).
async fn search(
    provider: &dyn Provider,
    q: &TrackQuery,
) -> Vec<tributary::engine::provider::Candidate> {
    let id = provider.start_search(q).await.expect("search starts");
    let started = Instant::now();
    loop {
        let progress = provider.poll_search(&id).await.expect("poll");
        if progress.complete {
            return progress.candidates;
        }
        assert!(started.elapsed() < LONG, "search never completed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn search_enqueue_and_follow_to_success() {
    let emulator = fast_emulator().await;
    let (_plugins, slskd) = slskd_against(&emulator).await;

    let health = slskd.ping().await.expect("ping");
    assert!(health.ready);
    assert_eq!(
        health.service_version.as_deref(),
        Some(slskd_emulator::SLSKD_VERSION)
    );

    let candidates = search(slskd.as_ref(), &query("Boards of Canada", "Roygbiv")).await;
    assert!(candidates.len() >= 5, "{candidates:?}");
    let flac = candidates
        .iter()
        .find(|c| c.peer == "vinylhoarder")
        .expect("vinylhoarder offers it");
    assert_eq!(
        flac.extension, "flac",
        "the extension is derived from the name when slskd sends none"
    );
    assert!(flac.free_slot);
    let busy = candidates
        .iter()
        .find(|c| c.peer == "busy_bee")
        .expect("busy_bee offers it");
    assert!(!busy.free_slot);
    assert_eq!(busy.queue_length, 42);

    let ranked = RankingPolicy::default().rank(
        &candidates,
        &Wanted {
            artist: "Boards of Canada",
            title: "Roygbiv",
            album: None,
            duration_secs: None,
        },
        &[],
    );
    let best = ranked[0];
    let source = best.source.clone();
    let id = slskd.enqueue(&source).await.expect("enqueue").external_id;
    assert!(!id.is_empty());

    let done = wait_for_transfer(slskd.as_ref(), &source, LONG, |t| {
        t.state == TransferState::Succeeded
    })
    .await;
    assert_eq!(done.external_id, id);
    assert_eq!(Some(done.bytes_transferred), source.size());
    assert!(done.failure.is_none());

    slskd.remove(&done.reference()).await.expect("remove");
    let left = slskd.list_transfers().await.expect("list");
    assert!(
        left.iter().all(|t| t.external_id != id),
        "removed transfers are gone from the list"
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn every_failure_maps_to_its_neutral_state_and_reason() {
    let emulator = fast_emulator().await;
    let (_plugins, slskd) = slskd_against(&emulator).await;
    let cases = [
        (
            "rejecter",
            TransferState::Failed,
            Some(FailureReason::Rejected),
        ),
        (
            "sleepy",
            TransferState::Failed,
            Some(FailureReason::TimedOut),
        ),
        ("flaky", TransferState::Failed, Some(FailureReason::Errored)),
        (
            "liar",
            TransferState::Failed,
            Some(FailureReason::SizeMismatch),
        ),
    ];
    let mut sources = Vec::new();
    for (peer, _, _) in &cases {
        let source = source_from(peer, "Failure Case");
        slskd
            .enqueue(&source)
            .await
            .unwrap_or_else(|e| panic!("enqueue from {peer}: {e}"));
        sources.push(source);
    }
    for ((peer, state, reason), source) in cases.iter().zip(&sources) {
        // slskd retries timed-out and errored downloads by itself: wait for the last attempt.
        let t = wait_for_transfer(slskd.as_ref(), source, LONG, |t| {
            t.state == *state && t.failure.as_ref().is_some_and(|f| !f.provider_may_retry)
        })
        .await;
        let failure = t.failure.expect("a failure carries its reason");
        assert_eq!(Some(failure.reason), *reason, "{peer}");
        assert!(!failure.message.is_empty(), "{peer}");
    }

    // A stalled peer stays in progress with its bytes stuck; detecting that is the host's job.
    let stall = source_from("staller", "Stall Case");
    slskd.enqueue(&stall).await.expect("enqueue staller");
    let first = wait_for_transfer(slskd.as_ref(), &stall, LONG, |t| {
        t.state == TransferState::InProgress && t.bytes_transferred > 0
    })
    .await;
    // This peer stops sending at 30 %: once the transfer is there, it stays there, in
    // progress, on every later look.
    let stall_point = stall.size().unwrap_or(0) * 3 / 10;
    let stuck = wait_for_transfer(slskd.as_ref(), &stall, LONG, |t| {
        t.bytes_transferred + 1 >= stall_point
    })
    .await;
    let later = wait_for_transfer(slskd.as_ref(), &stall, LONG, |_| true).await;
    assert_eq!(later.bytes_transferred, stuck.bytes_transferred);
    assert_eq!(later.state, TransferState::InProgress);
    assert!(later.bytes_transferred <= stall.size().unwrap_or(0) * 3 / 10);
    assert!(later.bytes_transferred >= first.bytes_transferred);

    // A busy peer keeps us in its queue.
    let queued = source_from("busy_bee", "Queue Case");
    slskd.enqueue(&queued).await.expect("enqueue busy");
    wait_for_transfer(slskd.as_ref(), &queued, LONG, |t| {
        t.state == TransferState::QueuedRemotely
    })
    .await;

    // An offline peer fails the enqueue itself.
    let offline = slskd
        .enqueue(&source_from("ghost", "Offline Case"))
        .await
        .unwrap_err();
    assert!(
        matches!(offline, ProviderError::PeerOffline(_)),
        "{offline}"
    );

    // Cancelling ends a transfer as cancelled; removing drops the ended record.
    let cancel = source_from("busy_bee", "Cancel Case");
    let id = slskd
        .enqueue(&cancel)
        .await
        .expect("enqueue to cancel")
        .external_id;
    let reference = TransferRef {
        external_id: id.clone(),
        peer: cancel.peer(),
    };
    slskd.cancel(&reference).await.expect("cancel");
    let t = wait_for_transfer(slskd.as_ref(), &cancel, LONG, |t| {
        t.state == TransferState::Cancelled
    })
    .await;
    assert_eq!(t.external_id, id);
    slskd.remove(&reference).await.expect("remove");
    let listed = slskd.list_transfers().await.expect("list");
    assert!(
        listed.iter().all(|t| t.external_id != id),
        "a removed transfer is no longer listed"
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn enqueueing_an_active_file_again_returns_the_active_transfer() {
    let emulator = fast_emulator().await;
    let (_plugins, slskd) = slskd_against(&emulator).await;
    let source = source_from("busy_bee", "Twice");
    let first = slskd.enqueue(&source).await.expect("first enqueue");
    let second = slskd.enqueue(&source).await.expect("second enqueue");
    assert_eq!(first, second);
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_search_that_finds_nothing_completes_empty() {
    let emulator = fast_emulator().await;
    let (_plugins, slskd) = slskd_against(&emulator).await;
    let found = search(slskd.as_ref(), &query("Nobody", "unfindable track")).await;
    assert!(found.is_empty());
    emulator.shutdown().await;
}

#[tokio::test]
async fn responses_written_after_completion_are_waited_for() {
    // slskd marks a search complete a moment before its responses are readable; make the
    // moment long, so a poll lands in it for sure.
    let timings = Timings {
        search: Duration::from_millis(200),
        search_responses_lag: Duration::from_millis(1500),
        ..Timings::default()
    };
    let emulator = Emulator::start(EmulatorConfig {
        timings,
        ..tributary_tests::test_emulator_config()
    })
    .await
    .expect("emulator");
    let (_plugins, slskd) = slskd_against(&emulator).await;
    let found = search(slskd.as_ref(), &query("Aphex Twin", "Avril 14th")).await;
    assert!(
        !found.is_empty(),
        "the first complete poll must carry the responses"
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_wrong_api_key_is_unauthorized() {
    let emulator = fast_emulator().await;
    let plugins = PluginsDir::with(&["plugins/slskd"]);
    let grant = slskd_grant(&emulator, Some("not-the-key-at-all"));
    let (slskd, _) = runtime()
        .load(&plugins.folder("slskd"), &grant)
        .await
        .expect("loads");
    assert!(matches!(
        slskd.ping().await,
        Err(ProviderError::Unauthorized(_))
    ));
    assert!(matches!(
        slskd.list_transfers().await,
        Err(ProviderError::Unauthorized(_))
    ));
    emulator.shutdown().await;
}

#[tokio::test]
async fn an_emulator_that_is_down_is_unreachable_and_then_back() {
    let emulator = fast_emulator().await;
    let (_plugins, slskd) = slskd_against(&emulator).await;
    slskd.ping().await.expect("up");
    emulator.go_down().await;
    let started = Instant::now();
    let err = slskd.list_transfers().await.unwrap_err();
    assert!(matches!(err, ProviderError::Unreachable(_)), "{err}");
    assert!(err.counts_against_provider());
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "a refused connection fails fast"
    );
    emulator.come_back().await.expect("back");
    slskd.list_transfers().await.expect("works again");
    emulator.shutdown().await;
}

#[tokio::test]
async fn injected_faults_become_typed_errors() {
    let emulator = fast_emulator().await;
    let (_plugins, slskd) = slskd_against(&emulator).await;

    emulator.control().set_fault(Fault::InvalidJson);
    let err = slskd.list_transfers().await.unwrap_err();
    assert!(matches!(err, ProviderError::Protocol(_)), "{err}");

    emulator.control().set_fault(Fault::Error500);
    let err = slskd.list_transfers().await.unwrap_err();
    assert!(matches!(err, ProviderError::Protocol(_)), "{err}");

    emulator.control().set_fault(Fault::RateLimited);
    let err = slskd.start_search(&query("A", "Song")).await.unwrap_err();
    assert!(matches!(err, ProviderError::RateLimited(_)), "{err}");

    emulator.control().set_fault(Fault::NotLoggedIn);
    let health = slskd.ping().await.expect("ping answers");
    assert!(!health.ready);
    let err = slskd
        .start_search(&query("Boards", "Roygbiv"))
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::Unreachable(_)), "{err}");

    emulator.control().set_fault(Fault::None);
    slskd.list_transfers().await.expect("healthy again");
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_hanging_slskd_is_cut_off_at_the_call_deadline() {
    let emulator = fast_emulator().await;
    let plugins = PluginsDir::with(&["plugins/slskd"]);
    let mut grant = slskd_grant(&emulator, Some(&emulator_key()));
    grant.call_timeout_ms = Some(1_000);
    let (slskd, _) = runtime()
        .load(&plugins.folder("slskd"), &grant)
        .await
        .expect("loads");
    emulator.control().set_fault(Fault::Hang { ms: 60_000 });
    let started = Instant::now();
    let err = slskd.list_transfers().await.unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(
            err,
            ProviderError::TimedOut(_) | ProviderError::Trapped { .. }
        ),
        "{err}"
    );
    assert!(took < Duration::from_millis(1_800), "took {took:?}");
    emulator.control().set_fault(Fault::None);
    slskd.ping().await.expect("the next call works");
    emulator.shutdown().await;
}

#[tokio::test]
async fn after_an_slskd_restart_the_transfer_is_found_again_by_user_and_filename() {
    let timings = Timings {
        restart_reenqueue: Duration::from_millis(1500),
        ..Timings::default()
    };
    let emulator = Emulator::start(EmulatorConfig {
        timings,
        speed_factor: 2.0,
        ..tributary_tests::test_emulator_config()
    })
    .await
    .expect("emulator");
    let (_plugins, slskd) = slskd_against(&emulator).await;
    let source = source_from("vinylhoarder", "Restart Case");
    let old_id = slskd.enqueue(&source).await.expect("enqueue").external_id;
    wait_for_transfer(slskd.as_ref(), &source, LONG, |t| {
        t.state == TransferState::InProgress
    })
    .await;

    emulator.control().restart_slskd();
    let interrupted = wait_for_transfer(slskd.as_ref(), &source, LONG, |t| {
        t.state == TransferState::Failed
    })
    .await;
    assert_eq!(interrupted.external_id, old_id);
    let failure = interrupted.failure.expect("failure");
    assert_eq!(failure.reason, FailureReason::ProviderRestarted);
    assert!(
        failure.provider_may_retry,
        "slskd re-enqueues after a restart"
    );

    let again = wait_for_transfer(slskd.as_ref(), &source, LONG, |t| t.external_id != old_id).await;
    let listed = slskd.list_transfers().await.expect("list");
    assert!(
        listed.iter().all(|t| t.external_id != old_id),
        "the superseded record is no longer listed"
    );
    let done = wait_for_transfer(slskd.as_ref(), &source, LONG, |t| {
        t.state == TransferState::Succeeded
    })
    .await;
    assert_eq!(done.external_id, again.external_id);
    emulator.shutdown().await;
}
