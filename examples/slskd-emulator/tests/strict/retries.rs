//! slskd 0.26's automatic retries: errored and timed-out attempts show their failure, go back
//! to `Queued, Locally` with one attempt more, and the last failure is final; rejected,
//! aborted and cancelled transfers are not retried.

use std::time::{Duration, Instant};

use slskd_emulator::{EmulatorConfig, Retry, Timings};

use crate::common::{Slskd, file};

const LONG: Duration = Duration::from_secs(15);

async fn with_retry(retry: Retry) -> Slskd {
    Slskd::start(EmulatorConfig {
        retry,
        timings: Timings {
            // 200 ms here: long enough to be seen for sure.
            failed_attempt_visible: Duration::from_secs(4),
            ..Timings::default()
        },
        speed_factor: 20.0,
        ..EmulatorConfig::default()
    })
    .await
}

/// The (state, attempts) pairs a transfer goes through until it is final.
async fn history(slskd: &Slskd, user: &str, id: &str) -> Vec<(String, u64)> {
    let started = Instant::now();
    let mut seen: Vec<(String, u64)> = Vec::new();
    loop {
        let t = slskd.transfer(user, id).await;
        let now = (
            t["state"].as_str().unwrap().to_owned(),
            t["attempts"].as_u64().unwrap(),
        );
        if now.0.starts_with("Completed") {
            assert!(
                t["endedAt"].is_string(),
                "a failed attempt has endedAt: {t}"
            );
            assert!(t["exception"].is_string(), "and an exception: {t}");
        }
        if seen.last() != Some(&now) {
            seen.push(now);
        }
        if slskd.is_final(id) {
            // What the last poll saw may predate the final step; read it once more.
            let t = slskd.transfer(user, id).await;
            let last = (
                t["state"].as_str().unwrap().to_owned(),
                t["attempts"].as_u64().unwrap(),
            );
            if seen.last() != Some(&last) {
                seen.push(last);
            }
            return seen;
        }
        assert!(started.elapsed() < LONG, "not final in {LONG:?}: {seen:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn contains_in_order(seen: &[(String, u64)], expected: &[(&str, u64)]) -> bool {
    let mut wanted = expected.iter().peekable();
    for (state, attempts) in seen {
        if wanted
            .peek()
            .is_some_and(|(s, a)| s == state && a == attempts)
        {
            wanted.next();
        }
    }
    wanted.peek().is_none()
}

#[tokio::test]
async fn an_errored_attempt_shows_then_is_retried_until_the_attempts_are_used_up() {
    let slskd = with_retry(Retry::default()).await;
    let id = slskd.enqueue_one("flaky", &file(1), 3_000_000).await;
    let seen = history(&slskd, "flaky", &id).await;
    let expected = [
        ("Completed, Errored", 1),
        ("Queued, Locally", 2),
        ("Completed, Errored", 2),
        ("Queued, Locally", 3),
        ("Completed, Errored", 3),
    ];
    assert!(contains_in_order(&seen, &expected), "{seen:?}");
    assert_eq!(seen.last().unwrap(), &("Completed, Errored".to_owned(), 3));
    let t = slskd.transfer("flaky", &id).await;
    assert_eq!(t["exception"], "Transfer failed: Remote connection closed");
}

#[tokio::test]
async fn a_timed_out_attempt_is_retried_too() {
    let slskd = with_retry(Retry::default()).await;
    let id = slskd.enqueue_one("sleepy", &file(1), 3_000_000).await;
    let seen = history(&slskd, "sleepy", &id).await;
    let expected = [
        ("Completed, TimedOut", 1),
        ("Queued, Locally", 2),
        ("Completed, TimedOut", 2),
        ("Queued, Locally", 3),
        ("Completed, TimedOut", 3),
    ];
    assert!(contains_in_order(&seen, &expected), "{seen:?}");
}

#[tokio::test]
async fn rejected_aborted_and_cancelled_transfers_are_not_retried() {
    let slskd = with_retry(Retry::default()).await;
    let rejected = slskd.enqueue_one("rejecter", &file(1), 3_000_000).await;
    let aborted = slskd.enqueue_one("liar", &file(1), 3_000_000).await;
    let cancelled = slskd.enqueue_one("gatekeeper", &file(1), 3_000_000).await;
    slskd
        .transfer_in("gatekeeper", &cancelled, "Queued, Remotely", LONG)
        .await;
    slskd
        .send(
            "DELETE",
            &format!("transfers/downloads/gatekeeper/{cancelled}"),
            None,
        )
        .await;
    for (user, id, state) in [
        ("rejecter", &rejected, "Completed, Rejected"),
        ("liar", &aborted, "Completed, Aborted"),
        ("gatekeeper", &cancelled, "Completed, Cancelled"),
    ] {
        let t = slskd.transfer_in(user, id, state, LONG).await;
        assert_eq!(t["attempts"], 1, "{t}");
        assert!(slskd.is_final(id), "{state} is final at once");
    }
}

#[tokio::test]
async fn the_number_of_attempts_is_configurable() {
    let slskd = with_retry(Retry {
        attempts: 2,
        ..Retry::default()
    })
    .await;
    let id = slskd.enqueue_one("flaky", &file(1), 3_000_000).await;
    let seen = history(&slskd, "flaky", &id).await;
    assert_eq!(seen.last().unwrap(), &("Completed, Errored".to_owned(), 2));

    let once = with_retry(Retry {
        attempts: 1,
        ..Retry::default()
    })
    .await;
    let id = once.enqueue_one("flaky", &file(1), 3_000_000).await;
    once.transfer_in("flaky", &id, "Completed, Errored", LONG)
        .await;
    assert!(once.is_final(&id), "no retries at all");
}
