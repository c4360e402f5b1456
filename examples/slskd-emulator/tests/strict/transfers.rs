//! Transfers: asynchronous cancel, what `remove` does, DELETE's answers, nothing cleared by
//! itself, superseding re-enqueues, and the peers' own endings.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use slskd_emulator::{EmulatorConfig, Timings};

use crate::common::{Slskd, file, wait_for};

const LONG: Duration = Duration::from_secs(10);

/// Cancels land half a second after the DELETE here.
async fn slow_cancels() -> Slskd {
    Slskd::start(EmulatorConfig {
        timings: Timings {
            cancel: Duration::from_secs(5),
            ..Timings::default()
        },
        speed_factor: 10.0,
        ..EmulatorConfig::default()
    })
    .await
}

#[tokio::test]
async fn a_cancel_lands_a_moment_after_the_delete() {
    let slskd = slow_cancels().await;
    let id = slskd.enqueue_one("gatekeeper", &file(1), 5_000_000).await;
    slskd
        .transfer_in("gatekeeper", &id, "Queued, Remotely", LONG)
        .await;
    let delete = slskd
        .send(
            "DELETE",
            &format!("transfers/downloads/gatekeeper/{id}?remove=false"),
            None,
        )
        .await;
    assert_eq!(delete.status, StatusCode::NO_CONTENT);
    let right_after = slskd.transfer("gatekeeper", &id).await;
    assert_eq!(
        right_after["state"], "Queued, Remotely",
        "the cancel is asynchronous"
    );
    let cancelled = slskd
        .transfer_in("gatekeeper", &id, "Completed, Cancelled", LONG)
        .await;
    assert_eq!(cancelled["exception"], "The operation was canceled.");
    assert!(cancelled["endedAt"].is_string());
    assert_eq!(cancelled["removed"], false);
    assert_eq!(slskd.emulator.control().transfer_cancels(), 1);
}

#[tokio::test]
async fn remove_true_cancels_an_unfinished_transfer_but_only_removes_a_completed_one() {
    let slskd = slow_cancels().await;
    let id = slskd.enqueue_one("gatekeeper", &file(2), 5_000_000).await;
    slskd
        .transfer_in("gatekeeper", &id, "Queued, Remotely", LONG)
        .await;
    let path = format!("transfers/downloads/gatekeeper/{id}?remove=true");
    assert_eq!(
        slskd.send("DELETE", &path, None).await.status,
        StatusCode::NO_CONTENT
    );
    slskd
        .transfer_in("gatekeeper", &id, "Completed, Cancelled", LONG)
        .await;
    let listed = slskd.listed("").await;
    assert_eq!(listed.len(), 1, "still listed: {listed:?}");
    assert_eq!(listed[0]["removed"], false);

    assert_eq!(
        slskd.send("DELETE", &path, None).await.status,
        StatusCode::NO_CONTENT
    );
    let removed = slskd.transfer("gatekeeper", &id).await;
    assert_eq!(removed["removed"], true, "GET by id still returns it");
    assert!(slskd.listed("").await.is_empty());
    assert_eq!(slskd.listed("?includeRemoved=true").await.len(), 1);
    assert_eq!(
        slskd.get("transfers/downloads/gatekeeper").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(slskd.emulator.control().transfer_removes(), 2);
}

#[tokio::test]
async fn delete_answers_204_for_any_guid_and_an_empty_400_otherwise() {
    let slskd = Slskd::fast(10.0).await;
    let unknown = uuid::Uuid::new_v4();
    for remove in ["true", "false"] {
        let answer = slskd
            .send(
                "DELETE",
                &format!("transfers/downloads/someone/{unknown}?remove={remove}"),
                None,
            )
            .await;
        assert_eq!(answer.status, StatusCode::NO_CONTENT);
    }
    let answer = slskd
        .send("DELETE", "transfers/downloads/someone/not-a-guid", None)
        .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.raw.is_empty());
}

#[tokio::test]
async fn nothing_is_cleared_by_itself() {
    let slskd = Slskd::fast(10.0).await;
    let done = slskd.enqueue_one("vinylhoarder", &file(1), 1_000_000).await;
    let rejected = slskd.enqueue_one("rejecter", &file(2), 1_000_000).await;
    let aborted = slskd.enqueue_one("liar", &file(3), 1_000_000).await;
    slskd
        .transfer_in("vinylhoarder", &done, "Completed, Succeeded", LONG)
        .await;
    slskd
        .transfer_in("rejecter", &rejected, "Completed, Rejected", LONG)
        .await;
    slskd
        .transfer_in("liar", &aborted, "Completed, Aborted", LONG)
        .await;
    // Something later happens; the finished records are all still there.
    let later = slskd.enqueue_one("mp3_maven", &file(4), 1_000_000).await;
    slskd
        .transfer_in("mp3_maven", &later, "Completed, Succeeded", LONG)
        .await;
    let listed = slskd.listed("").await;
    assert_eq!(listed.len(), 4, "{listed:?}");
    assert!(listed.iter().all(|t| t["removed"] == false));
    assert_eq!(slskd.emulator.control().download_records(), 4);

    let clear = slskd
        .send("DELETE", "transfers/downloads/all/completed", None)
        .await;
    assert_eq!(clear.status, StatusCode::NO_CONTENT);
    assert!(slskd.listed("").await.is_empty());
    let all = slskd.listed("?includeRemoved=true").await;
    assert_eq!(all.len(), 4);
    assert!(all.iter().all(|t| t["removed"] == true));
    assert_eq!(slskd.emulator.control().download_records(), 0);
}

#[tokio::test]
async fn reenqueueing_a_finished_file_supersedes_its_record() {
    let slskd = Slskd::fast(10.0).await;
    let first = slskd.enqueue_one("vinylhoarder", &file(1), 1_000_000).await;
    slskd
        .transfer_in("vinylhoarder", &first, "Completed, Succeeded", LONG)
        .await;
    let second = slskd.enqueue_one("vinylhoarder", &file(1), 1_000_000).await;
    assert_ne!(first, second, "a new record, a new id");
    let old = slskd.transfer("vinylhoarder", &first).await;
    assert_eq!(old["removed"], true, "superseded");
    let listed = slskd.listed("").await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], Value::from(second));
}

#[tokio::test]
async fn reenqueueing_an_active_file_is_refused_in_failed() {
    let slskd = Slskd::fast(10.0).await;
    let first = slskd.enqueue_one("gatekeeper", &file(1), 1_000_000).await;
    let again = slskd
        .enqueue(
            "gatekeeper",
            &[(&file(1), 1_000_000), (&file(2), 1_000_000)],
        )
        .await;
    assert_eq!(again.status, StatusCode::CREATED);
    let enqueued = again.body["enqueued"].as_array().unwrap();
    assert_eq!(enqueued.len(), 1);
    assert_eq!(enqueued[0]["filename"], Value::from(file(2)));
    // 0.26 writes each refusal as an empty object (a C# tuple System.Text.Json skips).
    assert_eq!(again.body["failed"], json!([{}]));
    let old = slskd.transfer("gatekeeper", &first).await;
    assert_eq!(old["removed"], false);
    assert_eq!(slskd.emulator.control().download_records(), 2);
}

#[tokio::test]
async fn each_peer_still_ends_its_own_way() {
    let slskd = Slskd::fast(10.0).await;
    let offline = slskd.enqueue("ghost", &[(&file(1), 1_000)]).await;
    assert_eq!(offline.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(offline.body, "User ghost appears to be offline");

    let good = slskd.enqueue_one("vinylhoarder", &file(1), 1_000_000).await;
    let queued = slskd.enqueue_one("busy_bee", &file(1), 1_000_000).await;
    let rejected = slskd.enqueue_one("rejecter", &file(1), 1_000_000).await;
    let stalled = slskd.enqueue_one("staller", &file(1), 1_000_000).await;
    let aborted = slskd.enqueue_one("liar", &file(1), 1_000_000).await;

    let t = slskd
        .transfer_in("vinylhoarder", &good, "Completed, Succeeded", LONG)
        .await;
    assert_eq!(t["attempts"], 1);
    assert_eq!(t["bytesTransferred"], 1_000_000);
    assert!(t["requestedAt"].as_str().is_some_and(|s| !s.ends_with('Z')));
    assert!(t["endedAt"].as_str().is_some_and(|s| s.ends_with('Z')));
    slskd
        .transfer_in("busy_bee", &queued, "Queued, Remotely", LONG)
        .await;
    let t = slskd
        .transfer_in("rejecter", &rejected, "Completed, Rejected", LONG)
        .await;
    assert_eq!(t["startedAt"], t["endedAt"]);
    assert_eq!(t["exception"], "Transfer rejected: File not shared.");
    let t = wait_for(LONG, "the stall", || async {
        let t = slskd.transfer("staller", &stalled).await;
        let bytes = t["bytesTransferred"].as_i64().unwrap();
        (t["averageSpeed"].as_f64() == Some(0.0) && (299_999..=300_000).contains(&bytes))
            .then_some(t)
    })
    .await;
    assert_eq!(t["state"], "InProgress");
    assert!(t.get("remainingTime").is_none());
    let t = slskd
        .transfer_in("liar", &aborted, "Completed, Aborted", LONG)
        .await;
    assert!(t["exception"].as_str().unwrap().contains("does not match"));
}

#[tokio::test]
async fn a_restart_fails_unfinished_downloads_and_reenqueues_them_under_new_ids() {
    let slskd = Slskd::fast(10.0).await;
    let id = slskd.enqueue_one("gatekeeper", &file(1), 1_000).await;
    let search = slskd
        .search(json!({"searchText": "before restart", "searchTimeout": 60000}))
        .await;
    slskd
        .transfer_in("gatekeeper", &id, "Queued, Remotely", LONG)
        .await;
    slskd.emulator.control().restart_slskd();
    let old = slskd.transfer("gatekeeper", &id).await;
    assert_eq!(old["state"], "Completed, Errored");
    assert_eq!(old["exception"], "Application shut down");
    let fresh = wait_for(LONG, "the re-enqueued record", || async {
        let listed = slskd.listed("").await;
        listed
            .into_iter()
            .find(|t| t["filename"] == file(1).as_str() && t["id"] != id.as_str())
    })
    .await;
    assert_eq!(fresh["username"], "gatekeeper");
    assert_eq!(slskd.transfer("gatekeeper", &id).await["removed"], true);
    // The search that was running is kept, ended with nothing found.
    let stopped = slskd.search_state(&search).await;
    assert_eq!(stopped["state"], "Completed, TimedOut");
    assert_eq!(stopped["responseCount"], 0);
}
