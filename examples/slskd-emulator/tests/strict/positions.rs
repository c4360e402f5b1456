//! `GET .../position`: a bare integer from the peer, kept in `placeInQueue` until the next
//! state change; falling for a busy peer, frozen for one that never serves; 400/404/500.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use slskd_emulator::{EmulatorConfig, Timings};

use crate::common::{Slskd, file, wait_for};

const LONG: Duration = Duration::from_secs(10);

/// busy_bee keeps a file queued 20 s (1 s here), its position falling from 42 meanwhile.
async fn quick_queue() -> Slskd {
    Slskd::start(EmulatorConfig {
        timings: Timings {
            slow_queue: Duration::from_secs(20),
            ..Timings::default()
        },
        speed_factor: 20.0,
        ..EmulatorConfig::default()
    })
    .await
}

async fn position(slskd: &Slskd, user: &str, id: &str) -> u64 {
    let answer = slskd
        .get(&format!("transfers/downloads/{user}/{id}/position"))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{answer:?}");
    assert!(
        answer.raw.trim().parse::<u64>().is_ok(),
        "a bare integer: {}",
        answer.raw
    );
    answer.body.as_u64().unwrap()
}

#[tokio::test]
async fn a_busy_peers_position_falls_and_is_kept_until_the_next_state_change() {
    let slskd = quick_queue().await;
    let id = slskd.enqueue_one("busy_bee", &file(1), 1_000_000).await;
    let queued = slskd
        .transfer_in("busy_bee", &id, "Queued, Remotely", LONG)
        .await;
    assert!(queued.get("placeInQueue").is_none(), "only after /position");
    let first = position(&slskd, "busy_bee", &id).await;
    assert!(first > 0 && first <= 42, "{first}");
    let stored = slskd.transfer("busy_bee", &id).await;
    if stored["state"] == "Queued, Remotely" {
        assert_eq!(stored["placeInQueue"], first);
    }
    wait_for(LONG, "the position to fall", || async {
        (position(&slskd, "busy_bee", &id).await < first).then_some(())
    })
    .await;
    let moved = wait_for(LONG, "the transfer to leave the queue", || async {
        let t = slskd.transfer("busy_bee", &id).await;
        (t["state"] != "Queued, Remotely").then_some(t)
    })
    .await;
    assert!(
        moved.get("placeInQueue").is_none(),
        "dropped at the state change: {moved}"
    );
    assert!(slskd.emulator.control().position_gets() >= 2);
}

#[tokio::test]
async fn a_peer_that_never_serves_keeps_its_position() {
    let slskd = quick_queue().await;
    let stuck = slskd.enqueue_one("gatekeeper", &file(1), 1_000_000).await;
    let busy = slskd.enqueue_one("busy_bee", &file(1), 1_000_000).await;
    slskd
        .transfer_in("gatekeeper", &stuck, "Queued, Remotely", LONG)
        .await;
    slskd
        .transfer_in("busy_bee", &busy, "Queued, Remotely", LONG)
        .await;
    let frozen = position(&slskd, "gatekeeper", &stuck).await;
    let start = position(&slskd, "busy_bee", &busy).await;
    // In the time the busy peer's queue moved by three, the other did not move at all.
    wait_for(LONG, "the busy queue to move", || async {
        (position(&slskd, "busy_bee", &busy).await + 3 <= start).then_some(())
    })
    .await;
    assert_eq!(position(&slskd, "gatekeeper", &stuck).await, frozen);
    let t = slskd.transfer("gatekeeper", &stuck).await;
    assert_eq!(t["state"], "Queued, Remotely");
    assert_eq!(t["placeInQueue"], frozen);
}

#[tokio::test]
async fn position_refusals_follow_slskd() {
    let slskd = quick_queue().await;
    let bad = slskd
        .get("transfers/downloads/someone/not-a-guid/position")
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.raw.is_empty());
    let unknown = slskd
        .get(&format!(
            "transfers/downloads/someone/{}/position",
            uuid::Uuid::new_v4()
        ))
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert!(unknown.raw.is_empty());

    // sleepy never answers: slskd waits 5 s (250 ms here), then gives up with a 500.
    let id = slskd.enqueue_one("sleepy", &file(1), 1_000_000).await;
    let asked = Instant::now();
    let answer = slskd
        .get(&format!("transfers/downloads/sleepy/{id}/position"))
        .await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(answer.body, "The wait timed out after 5000 milliseconds");
    assert!(asked.elapsed() >= Duration::from_millis(250));
}
