//! The test hooks: counters per kind of call, stored searches and download records, and a
//! transfer state disguised as one a client has never seen.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use slskd_emulator::{Counted, Fault};

use crate::common::{Slskd, file};

const LONG: Duration = Duration::from_secs(10);

#[tokio::test]
async fn every_kind_of_call_is_counted() {
    let slskd = Slskd::fast(20.0).await;
    let control = slskd.emulator.control();
    let id = slskd
        .search(json!({"searchText": "counted", "searchTimeout": 1000}))
        .await;
    slskd.completed_search(&id, LONG).await;
    let polls = control.search_polls();
    assert!(polls >= 1);
    slskd.get(&format!("searches/{id}/responses")).await;
    assert_eq!(control.search_polls(), polls + 1);
    assert_eq!(control.stored_searches(), 1);
    slskd.send("DELETE", &format!("searches/{id}"), None).await;
    assert_eq!(control.search_deletes(), 1);
    assert_eq!(control.stored_searches(), 0);
    assert_eq!(control.search_posts(), 1);

    let t = slskd.enqueue_one("gatekeeper", &file(1), 1_000).await;
    slskd.enqueue("gatekeeper", &[(&file(1), 1_000)]).await;
    assert_eq!(control.enqueue_posts(), 2);
    assert_eq!(control.enqueue_requests_for("gatekeeper", &file(1)), 2);
    assert_eq!(control.download_records(), 1);

    slskd.listed("").await;
    slskd.get("transfers/downloads/gatekeeper").await;
    assert_eq!(control.transfer_list_gets(), 2);
    slskd.transfer("gatekeeper", &t).await;
    assert_eq!(control.counted(Counted::TransferGet), 1);
    slskd
        .transfer_in("gatekeeper", &t, "Queued, Remotely", LONG)
        .await;
    slskd
        .get(&format!("transfers/downloads/gatekeeper/{t}/position"))
        .await;
    assert_eq!(control.position_gets(), 1);
    let path = format!("transfers/downloads/gatekeeper/{t}");
    slskd.send("DELETE", &path, None).await;
    slskd
        .send("DELETE", &format!("{path}?remove=false"), None)
        .await;
    slskd
        .send("DELETE", &format!("{path}?remove=true"), None)
        .await;
    assert_eq!(control.transfer_cancels(), 2);
    assert_eq!(control.transfer_removes(), 1);

    control.set_fault(Fault::RateLimited);
    let limited = slskd.get("transfers/downloads").await;
    control.set_fault(Fault::None);
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(control.too_many_requests(), 1);
    assert_eq!(
        control.transfer_list_gets(),
        3,
        "counted whatever the answer"
    );
    let stats = slskd.emulator.control().stats();
    assert_eq!(stats["counted"]["too_many_requests"], 1);
}

#[tokio::test]
async fn a_disguised_state_shows_for_a_while_then_the_transfer_carries_on() {
    let slskd = Slskd::fast(10.0).await;
    // 30 MB at 15 MB/s: two seconds of transfer.
    let id = slskd
        .enqueue_one("vinylhoarder", &file(1), 30_000_000)
        .await;
    slskd
        .emulator
        .control()
        .disguise_states("Completed, Quarantined", Duration::from_millis(500));
    let odd = slskd.transfer("vinylhoarder", &id).await;
    assert_eq!(odd["state"], "Completed, Quarantined");
    let listed = slskd.listed("").await;
    assert_eq!(listed[0]["state"], "Completed, Quarantined");
    let done = slskd
        .transfer_in("vinylhoarder", &id, "Completed, Succeeded", LONG)
        .await;
    assert_eq!(done["bytesTransferred"], 30_000_000);
}

#[tokio::test]
async fn a_disguise_can_be_limited_to_one_peer() {
    let slskd = Slskd::fast(10.0).await;
    let odd = slskd.enqueue_one("gatekeeper", &file(1), 1_000).await;
    let plain = slskd.enqueue_one("busy_bee", &file(1), 1_000).await;
    slskd.emulator.control().disguise_states_of(
        "gatekeeper",
        "Queued, Remotely, Teleporting",
        Duration::from_secs(60),
    );
    let t = slskd.transfer("gatekeeper", &odd).await;
    assert_eq!(t["state"], "Queued, Remotely, Teleporting");
    let t = slskd.transfer("busy_bee", &plain).await;
    assert_ne!(t["state"], "Queued, Remotely, Teleporting");
}
