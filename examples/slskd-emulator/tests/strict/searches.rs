//! Searches: inactivity timeout, limits, the network queue, the completion race, cancel,
//! storage until deleted, reused ids and not being logged in.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use slskd_emulator::{AnswerOrder, EmulatorConfig, Fault, Timings, peers};

use crate::common::{Slskd, seconds_between, wait_for};

const PEERS: usize = 10;

#[tokio::test]
async fn a_search_ends_its_timeout_after_the_last_answer_not_after_the_first() {
    // Answers trickle in over 20 s (1 s here); the timeout is 5 s (0.25 s here).
    let slskd = Slskd::fast(20.0).await;
    let posted = Instant::now();
    let answer = slskd
        .send(
            "POST",
            "searches",
            Some(json!({"searchText": "slowsearch boards of canada", "searchTimeout": 5000})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.body["state"], "InProgress");
    assert_eq!(answer.body["isComplete"], false);
    assert_eq!(answer.body["responses"], json!([]));
    let id = answer.body["id"].as_str().unwrap().to_owned();

    let running = wait_for(Duration::from_secs(5), "half the answers", || async {
        let s = slskd.search_state(&id).await;
        (s["responseCount"].as_u64().unwrap_or(0) >= 5 || s["isComplete"] == true).then_some(s)
    })
    .await;
    assert_eq!(running["state"], "InProgress", "{running}");
    assert!(running["fileCount"].as_u64().unwrap() >= 5);
    assert!(
        posted.elapsed() > Duration::from_millis(250),
        "still running after more than its searchTimeout"
    );
    let responses = slskd.get(&format!("searches/{id}/responses")).await;
    assert_eq!(responses.body, json!([]), "no responses while running");

    let done = slskd.completed_search(&id, Duration::from_secs(5)).await;
    assert_eq!(done["state"], "Completed, TimedOut");
    assert_eq!(done["responseCount"], PEERS);
    let took = seconds_between(&done["startedAt"], &done["endedAt"]);
    assert!(
        took >= 1.2,
        "ends a timeout after the last answer (1 s + 0.25 s), took {took}"
    );
}

#[tokio::test]
async fn an_answer_later_than_the_timeout_is_lost() {
    let mut peers = peers::default_peers();
    let late = peers
        .iter_mut()
        .find(|p| p.username == "mp3_maven")
        .unwrap();
    late.search_delay = Duration::from_secs(60);
    let slskd = Slskd::start(EmulatorConfig {
        peers,
        speed_factor: 20.0,
        ..EmulatorConfig::default()
    })
    .await;
    let id = slskd
        .search(json!({"searchText": "aphex twin", "searchTimeout": 2000}))
        .await;
    let done = slskd.completed_search(&id, Duration::from_secs(5)).await;
    assert_eq!(done["state"], "Completed, TimedOut");
    assert_eq!(done["responseCount"], PEERS - 1);
    let responses = wait_for(Duration::from_secs(5), "responses", || async {
        let r = slskd.get(&format!("searches/{id}/responses")).await.body;
        (r.as_array().is_some_and(|a| !a.is_empty())).then_some(r)
    })
    .await;
    let users: Vec<&str> = responses
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["username"].as_str().unwrap())
        .collect();
    assert!(!users.contains(&"mp3_maven"), "{users:?}");
}

#[tokio::test]
async fn response_and_file_limits_end_a_search_early() {
    let slskd = Slskd::fast(20.0).await;
    // A 60 s timeout (3 s here): only the limits can end these searches quickly.
    let by_responses = slskd
        .search(
            json!({"searchText": "burial archangel", "searchTimeout": 60000, "responseLimit": 3}),
        )
        .await;
    let done = slskd
        .completed_search(&by_responses, Duration::from_secs(2))
        .await;
    assert_eq!(done["state"], "Completed, ResponseLimitReached");
    assert_eq!(done["responseCount"], 3);

    let by_files = slskd
        .search(json!({"searchText": "burial archangel", "searchTimeout": "60000", "FILELIMIT": 2}))
        .await;
    let done = slskd
        .completed_search(&by_files, Duration::from_secs(2))
        .await;
    assert_eq!(done["state"], "Completed, FileLimitReached");
    assert_eq!(done["fileCount"], 2);
}

#[tokio::test]
async fn responses_are_readable_only_a_moment_after_completion() {
    let timings = Timings {
        search_responses_lag: Duration::from_secs(10),
        ..Timings::default()
    };
    let slskd = Slskd::start(EmulatorConfig {
        timings,
        speed_factor: 20.0,
        ..EmulatorConfig::default()
    })
    .await;
    let id = slskd
        .search(json!({"searchText": "massive attack teardrop", "searchTimeout": 2000}))
        .await;
    let done = slskd.completed_search(&id, Duration::from_secs(5)).await;
    let count = done["responseCount"].as_u64().unwrap();
    assert!(count > 0);
    let early = slskd.get(&format!("searches/{id}/responses")).await;
    assert_eq!(early.status, StatusCode::OK);
    assert_eq!(
        early.body,
        json!([]),
        "complete, but responses not written yet"
    );
    let with = slskd
        .get(&format!("searches/{id}?includeResponses=true"))
        .await;
    assert_eq!(with.body["responses"], json!([]));
    let responses = wait_for(Duration::from_secs(5), "the responses", || async {
        let r = slskd.get(&format!("searches/{id}/responses")).await.body;
        (r.as_array().is_some_and(|a| !a.is_empty())).then_some(r)
    })
    .await;
    assert_eq!(responses.as_array().unwrap().len() as u64, count);
    assert_eq!(responses[0]["token"], done["token"]);
}

#[tokio::test]
async fn only_two_searches_run_on_the_network_the_third_waits_queued() {
    let slskd = Slskd::fast(20.0).await;
    // Two searches that find nothing and wait out a 20 s (1 s) timeout.
    let first = slskd
        .search(json!({"searchText": "unfindable one", "searchTimeout": 20000}))
        .await;
    let _second = slskd
        .search(json!({"searchText": "unfindable two", "searchTimeout": 20000}))
        .await;
    let answer = slskd
        .send(
            "POST",
            "searches",
            Some(json!({"searchText": "portishead roads", "searchTimeout": 1000})),
        )
        .await;
    assert_eq!(answer.body["state"], "Queued", "{:?}", answer.body);
    let third = answer.body["id"].as_str().unwrap().to_owned();
    let waiting = slskd.search_state(&third).await;
    assert_eq!(waiting["state"], "Queued");
    assert_eq!(waiting["responseCount"], 0);
    assert_eq!(waiting["isComplete"], false);

    let first_done = slskd.completed_search(&first, Duration::from_secs(5)).await;
    assert_eq!(first_done["responseCount"], 0);
    let done = slskd.completed_search(&third, Duration::from_secs(5)).await;
    assert_eq!(done["state"], "Completed, TimedOut");
    assert_eq!(done["responseCount"], PEERS);
    assert!(
        seconds_between(&done["startedAt"], &done["endedAt"]) >= 1.0,
        "it waited for a network slot"
    );
}

#[tokio::test]
async fn a_cancelled_search_keeps_what_it_gathered() {
    let slskd = Slskd::fast(20.0).await;
    let id = slskd
        .search(json!({"searchText": "slowsearch autechre", "searchTimeout": 15000}))
        .await;
    wait_for(Duration::from_secs(5), "two answers", || async {
        let s = slskd.search_state(&id).await;
        (s["responseCount"].as_u64().unwrap_or(0) >= 2).then_some(())
    })
    .await;
    let cancel = slskd.send("PUT", &format!("searches/{id}"), None).await;
    assert_eq!(cancel.status, StatusCode::OK);
    assert!(cancel.raw.is_empty());
    let done = slskd.search_state(&id).await;
    assert_eq!(done["state"], "Completed, Cancelled");
    assert_eq!(done["isComplete"], true);
    let kept = done["responseCount"].as_u64().unwrap();
    assert!((2..PEERS as u64).contains(&kept), "{kept}");
    let responses = wait_for(Duration::from_secs(5), "the kept responses", || async {
        let r = slskd.get(&format!("searches/{id}/responses")).await.body;
        (r.as_array().is_some_and(|a| !a.is_empty())).then_some(r)
    })
    .await;
    assert_eq!(responses.as_array().unwrap().len() as u64, kept);
    let unknown = slskd
        .send("PUT", &format!("searches/{}", uuid::Uuid::new_v4()), None)
        .await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn searches_stay_stored_until_deleted() {
    let slskd = Slskd::fast(20.0).await;
    let first = slskd
        .search(json!({"searchText": "first", "searchTimeout": 1000}))
        .await;
    let second = slskd
        .search(json!({"searchText": "second", "searchTimeout": 1000}))
        .await;
    slskd.completed_search(&first, Duration::from_secs(5)).await;
    slskd
        .completed_search(&second, Duration::from_secs(5))
        .await;
    let listed = slskd.get("searches").await;
    let ids: Vec<&str> = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [first.as_str(), second.as_str()]);
    assert_eq!(slskd.emulator.control().stored_searches(), 2);

    let deleted = slskd
        .send("DELETE", &format!("searches/{first}"), None)
        .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let again = slskd
        .send("DELETE", &format!("searches/{first}"), None)
        .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    assert_eq!(
        slskd.get(&format!("searches/{first}")).await.status,
        StatusCode::NOT_FOUND
    );
    let listed = slskd.get("searches").await.body;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["id"], Value::from(second));
    assert_eq!(slskd.emulator.control().stored_searches(), 1);
}

#[tokio::test]
async fn a_reused_search_id_is_a_500() {
    let slskd = Slskd::fast(20.0).await;
    let id = uuid::Uuid::new_v4().to_string();
    let body = json!({"id": id, "searchText": "anything", "searchTimeout": 1000});
    let first = slskd.send("POST", "searches", Some(body.clone())).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.body["id"], Value::from(id));
    let second = slskd.send("POST", "searches", Some(body)).await;
    assert_eq!(second.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(second.body.is_string(), "a JSON string: {}", second.raw);
}

#[tokio::test]
async fn not_logged_in_a_search_is_409_and_its_record_stays_errored() {
    let slskd = Slskd::fast(20.0).await;
    slskd.emulator.control().set_fault(Fault::NotLoggedIn);
    let id = uuid::Uuid::new_v4().to_string();
    let answer = slskd
        .send(
            "POST",
            "searches",
            Some(json!({"id": id, "searchText": "anything"})),
        )
        .await;
    assert_eq!(answer.status, StatusCode::CONFLICT);
    assert!(answer.body.is_string());
    let stored = slskd.search_state(&id).await;
    assert_eq!(stored["state"], "Completed, Errored");
    assert_eq!(stored["isComplete"], true);
    assert_eq!(slskd.emulator.control().stored_searches(), 1);
}

/// The usernames of a finished search's responses, in slskd's order.
async fn answer_order(slskd: &Slskd, text: &str) -> Vec<String> {
    let id = slskd
        .search(json!({"searchText": text, "searchTimeout": 1000}))
        .await;
    slskd.completed_search(&id, Duration::from_secs(5)).await;
    let responses = wait_for(Duration::from_secs(5), "the responses", || async {
        let r = slskd.get(&format!("searches/{id}/responses")).await.body;
        (r.as_array().is_some_and(|a| !a.is_empty())).then_some(r)
    })
    .await;
    responses
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["username"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn answers_come_in_a_per_query_order_unless_the_peer_list_order_is_asked_for() {
    let slskd = Slskd::fast(20.0).await;
    let one = answer_order(&slskd, "Boards of Canada Roygbiv").await;
    let other = answer_order(&slskd, "Crash Test Track").await;
    assert_eq!(one.len(), PEERS);
    assert_ne!(one, other, "the order depends on the query");
    assert_eq!(one[0], "rejecter", "a failing peer can answer first");

    let listed = Slskd::start(EmulatorConfig {
        answer_order: AnswerOrder::PeerList,
        speed_factor: 20.0,
        ..EmulatorConfig::default()
    })
    .await;
    let order = answer_order(&listed, "Boards of Canada Roygbiv").await;
    let population: Vec<String> = peers::default_peers()
        .into_iter()
        .map(|p| p.username)
        .collect();
    assert_eq!(order, population);
}
