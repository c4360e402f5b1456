//! The engine process killed with SIGKILL at random moments in the middle of its work (200
//! downloads, 20 kills) and started again on the same redb file each time: every download is
//! still there, none is duplicated, all finish, and the counters equal a recount after every
//! kill.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use slskd_emulator::{Emulator, EmulatorConfig};
use tributary::engine::download::Status;
use tributary::store::Store;
use tributary_tests::PluginsDir;

const DOWNLOADS: usize = 200;
const KILLS: usize = 20;

fn worker(db: &std::path::Path, plugins: &std::path::Path, url: &str) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_engine_worker"))
        .arg(db)
        .arg(plugins)
        .arg(url)
        .arg(DOWNLOADS.to_string())
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the worker")
}

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_mid_flight_loses_and_duplicates_nothing() {
    let emulator = Emulator::start(EmulatorConfig {
        speed_factor: 10.0,
        ..tributary_tests::test_emulator_config()
    })
    .await
    .unwrap();
    let plugins = PluginsDir::with(&["plugins/slskd"]);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.redb");
    let url = emulator.url();

    let mut kills = 0;
    let mut final_line = None;
    for round in 0..KILLS + 3 {
        let mut child = worker(&db, plugins.path(), &url);
        let stdout = child.stdout.take().unwrap();
        // Kill after a random share of the work in the first rounds; then let it finish.
        let kill_at_completed = (round < KILLS).then(|| fastrand::usize(round * 9..round * 9 + 9));
        let started = Instant::now();
        let lines = tokio::task::spawn_blocking(move || {
            let mut seen = Vec::new();
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let done_enough = kill_at_completed.is_some_and(|k| {
                    line.split(' ')
                        .nth(1)
                        .and_then(|n| n.parse::<usize>().ok())
                        .is_some_and(|c| c >= k)
                });
                seen.push(line);
                if done_enough {
                    break;
                }
            }
            seen
        })
        .await
        .unwrap();
        let last = lines.last().cloned().unwrap_or_default();
        if last.starts_with("done") {
            let status = child.wait().unwrap();
            assert!(status.success(), "the worker failed: {status}");
            final_line = Some(last);
            break;
        }
        child.kill().expect("SIGKILL");
        child.wait().unwrap();
        kills += 1;
        // Between lives, the file is consistent: counters equal a recount, nothing duplicated.
        let store = Store::open(&db).unwrap();
        let (recount, all) = store.recount().unwrap();
        assert_eq!(store.counts().unwrap(), recount, "after kill {kills}");
        assert!(
            all.len() <= DOWNLOADS,
            "after kill {kills}: {} downloads",
            all.len()
        );
        drop(store);
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "round {round} took too long"
        );
    }
    assert_eq!(kills, KILLS, "the worker was killed {kills} times");
    println!("crash test: {DOWNLOADS} downloads, {kills} SIGKILLs, 0 lost, 0 duplicated");
    let final_line = final_line.expect("the worker finished after the kills");
    assert_eq!(final_line, format!("done {DOWNLOADS} 0 {DOWNLOADS}"));

    let store = Store::open(&db).unwrap();
    let (recount, all) = store.recount().unwrap();
    assert_eq!(store.counts().unwrap(), recount);
    assert_eq!(all.len(), DOWNLOADS, "nothing lost, nothing duplicated");
    assert!(all.iter().all(|d| d.status == Status::Completed));
    for i in 0..DOWNLOADS {
        assert!(
            store
                .by_idempotency_key(&format!("crash-{i}"))
                .unwrap()
                .is_some()
        );
    }
    // Each file went to slskd once: every enqueue slskd ever took is a transfer record, and
    // records stay (removed ones too, flagged), so a second enqueue of a file shows here.
    let mut enqueued: std::collections::BTreeMap<String, usize> = Default::default();
    for t in emulator.control().world().transfers.iter() {
        *enqueued.entry(t.filename.clone()).or_default() += 1;
    }
    assert_eq!(enqueued.len(), DOWNLOADS, "every download reached slskd");
    let twice: Vec<_> = enqueued.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "enqueued more than once: {twice:?}");
    emulator.shutdown().await;
}
