//! What 100 downloads cost slskd: the requests the engine sends the (strict) emulator, by kind,
//! from creation until every download has completed and slskd's list is tidy again.
//!
//! `cargo bench -p tributary-tests --bench slskd_requests`

use std::time::{Duration, Instant};

use slskd_emulator::{Counted, Emulator, EmulatorConfig};
use tributary::engine::download::Status;
use tributary::engine::manager::NewDownload;
use tributary_tests::{engine_against, fast_settings, test_emulator_config};

const DOWNLOADS: usize = 100;

#[tokio::main]
async fn main() {
    let emulator = Emulator::start(EmulatorConfig {
        speed_factor: 20.0,
        ..test_emulator_config()
    })
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (_plugins, engine, running) =
        engine_against(&emulator, &dir.path().join("t.redb"), fast_settings()).await;
    let started = Instant::now();
    for n in 0..DOWNLOADS {
        engine
            .create(NewDownload {
                artist: "Bench".into(),
                title: format!("Request Count {}", n + 100),
                ..NewDownload::default()
            })
            .unwrap();
    }
    loop {
        let s = engine.stats().unwrap();
        if s.total_active == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "not done: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let took = started.elapsed();
    // The last transfers are removed on the polls after their completion.
    let tidy_until = Instant::now() + Duration::from_secs(5);
    while emulator.control().download_records() > 0 && Instant::now() < tidy_until {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let completed = engine.with_status(Status::Completed).unwrap().len();
    let c = emulator.control();
    println!(
        "{DOWNLOADS} downloads, {completed} completed in {:.1} s",
        took.as_secs_f64()
    );
    for (label, kind) in [
        ("search POSTs", Counted::SearchPost),
        (
            "search polls (GET /searches/{id}, /responses)",
            Counted::SearchPoll,
        ),
        ("search stops (PUT)", Counted::SearchCancel),
        ("search DELETEs", Counted::SearchDelete),
        ("enqueue POSTs", Counted::EnqueuePost),
        ("transfer list GETs", Counted::TransferList),
        ("transfer GETs by id", Counted::TransferGet),
        (
            "transfer cancels (DELETE remove=false)",
            Counted::TransferCancel,
        ),
        (
            "transfer removals (DELETE remove=true)",
            Counted::TransferRemove,
        ),
        ("clear completed", Counted::ClearCompleted),
        ("position GETs", Counted::PositionGet),
        ("answers of 429", Counted::TooManyRequests),
    ] {
        println!("  {label}: {}", c.counted(kind));
    }
    println!(
        "  left in slskd: {} download records, {} searches",
        c.download_records(),
        c.stored_searches()
    );
    running.shutdown().await;
    emulator.shutdown().await;
}
