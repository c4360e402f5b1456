//! A process that runs the real engine (store, slskd plugin, dispatcher, reconciler) against an
//! emulator, creates downloads (idempotently) and exits when none is active. The crash tests
//! kill it with SIGKILL at random moments and start it again on the same database.
//!
//! `engine_worker <db> <plugins dir> <emulator url> <count>`; prints `progress <completed>
//! <active>` lines and finally `done <completed> <failed> <total>`.

use std::sync::Arc;
use std::time::Duration;

use tributary::engine::clock::SystemClock;
use tributary::engine::manager::{DownloadManager, NewDownload};
use tributary::engine::provider::Provider;
use tributary::store::Store;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, db, plugins, url, count] = args.as_slice() else {
        anyhow::bail!("usage: engine_worker <db> <plugins dir> <emulator url> <count>");
    };
    let count: usize = count.parse()?;
    let grant = tributary_tests::grant_for(url, Some(&tributary_tests::emulator_key()));
    let runtime = tributary_tests::runtime();
    let (slskd, _) = runtime
        .load(&std::path::Path::new(plugins).join("slskd"), &grant)
        .await?;
    let store = Store::open(std::path::Path::new(db))?;
    let settings = tributary::engine::settings::EngineSettings {
        concurrency_per_provider: 5,
        ..tributary_tests::fast_settings()
    };
    let providers: Vec<Arc<dyn Provider>> = vec![slskd];
    let engine = DownloadManager::new(store, providers, settings, Arc::new(SystemClock))?;
    let running = engine.start()?;
    for i in 0..count {
        engine.create(NewDownload {
            artist: "Crash Test".into(),
            title: format!("Track {}", i + 1000),
            idempotency_key: Some(format!("crash-{i}")),
            ..NewDownload::default()
        })?;
    }
    loop {
        let s = engine.stats()?;
        println!("progress {} {}", s.completed_today, s.total_active);
        if s.total_active == 0 {
            let (recount, _) = engine.store().recount()?;
            anyhow::ensure!(
                recount == engine.store().counts()?,
                "counters disagree with a recount"
            );
            println!(
                "done {} {} {}",
                s.completed_today,
                s.failed_today,
                engine.store().total()?
            );
            running.shutdown().await;
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
