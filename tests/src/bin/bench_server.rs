//! Serves a store holding 100,000 downloads (1,000 of them waiting unless told otherwise, the
//! queue paused) for load tests from another process:
//! `bench_server <data dir> <plugins dir> <emulator url> [waiting]`; prints the address and
//! serves until killed.

use std::time::Duration;

use tributary::engine::download::Status;
use tributary::engine::manager::NewDownload;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (dir, plugins, url, active) = match args.as_slice() {
        [_, dir, plugins, url] => (dir, plugins, url, 1_000),
        [_, dir, plugins, url, active] => (dir, plugins, url, active.parse()?),
        _ => anyhow::bail!("usage: bench_server <data dir> <plugins dir> <emulator url> [waiting]"),
    };
    let dir = std::path::Path::new(dir);
    let mut config = tributary::config::Config::default();
    config.server.bind = "127.0.0.1:0".parse()?;
    config.server.templates_dir = tributary_tests::repo_root().join("templates");
    config.storage.path = dir.join("bench.redb");
    config.plugins.dir = plugins.into();
    config.plugins.cache_dir = Some(tributary_tests::shared_cache_dir());
    let grant = tributary_tests::grant_for(url, Some(&tributary_tests::emulator_key()));
    config.providers.insert("slskd".into(), grant);
    let app = tributary::app::App::start(&config).await?;
    app.engine.set_paused(true)?;
    let (template, _) = app.engine.create(NewDownload {
        artist: "Template".into(),
        title: "Row".into(),
        ..NewDownload::default()
    })?;
    for batch in 0..10 {
        let rows: Vec<_> = (0..10_000)
            .map(|i| {
                let mut d = template.clone();
                d.id = uuid::Uuid::new_v4();
                d.track_id = d.id.to_string();
                d.track.title = format!("Track {batch}-{i}");
                d.total_bytes = 31_457_280;
                // The template is the first waiting one.
                if batch * 10_000 + i + 1 >= active {
                    d.status = Status::Completed;
                    d.completed_at = Some(chrono::Utc::now() - Duration::from_secs(3600));
                    d.status_since = d.completed_at.unwrap_or(d.created_at);
                    d.bytes_downloaded = d.total_bytes;
                }
                d
            })
            .collect();
        app.engine.store().insert_batch(&rows)?;
    }
    let s = app.engine.stats()?;
    println!(
        "http://{} total {} active {}",
        app.addr,
        app.engine.store().total()?,
        s.total_active
    );
    tributary::app::shutdown_signal().await;
    app.shutdown().await;
    Ok(())
}
