//! Write throughput over HTTP: starts the whole service (slskd plugin against an in-process
//! emulator, queue paused so the dispatcher stays out of the way), then
//! 1. `clients` concurrent connections post creates for `secs` seconds: creates per second;
//! 2. the created downloads are cancelled by batches of 500 (`batch_clients` batches in
//!    flight at once): downloads cancelled per second.
//!
//! `write_load [clients] [secs] [batch_clients]` (defaults 64, 10, 1). The clients run on their
//! own single-threaded runtime, so the server keeps its worker threads; both share the machine.
//!
//! `write_load --sizes <dir>` instead bulk-loads 100,000 downloads as `engine_figures` does
//! (nine in ten completed) and prints the redb file size per 10,000.
//!
//! `write_load --write-schema1-fixture <path>` instead writes the migration test's fixture
//! database with this build's store (see `tributary_tests::schema1_fixture`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tributary_tests::{PluginsDir, emulator_key, grant_for, repo_root, shared_cache_dir};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if let [_, flag, path] = args.as_slice()
        && flag == "--write-schema1-fixture"
    {
        return tributary_tests::schema1_fixture::write(std::path::Path::new(path));
    }
    if let [_, flag, dir] = args.as_slice()
        && flag == "--sizes"
    {
        return sizes(std::path::Path::new(dir));
    }
    let arg = |i: usize, default: u64| -> anyhow::Result<u64> {
        Ok(args
            .get(i)
            .map(|a| a.parse())
            .transpose()?
            .unwrap_or(default))
    };
    let (clients, secs, batch_clients) = (arg(1, 64)?, arg(2, 10)?, arg(3, 1)?);

    let server = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let data = tempfile::tempdir()?;
    let plugins = PluginsDir::with(&["plugins/slskd"]);
    let (app, emulator) = server.block_on(async {
        let emulator = slskd_emulator::Emulator::start(Default::default()).await?;
        let mut config = tributary::config::Config::default();
        config.server.bind = "127.0.0.1:0".parse()?;
        config.server.templates_dir = repo_root().join("templates");
        config.storage.path = data.path().join("load.redb");
        config.plugins.dir = plugins.path().to_path_buf();
        config.plugins.cache_dir = Some(shared_cache_dir());
        config.metrics.enabled = true;
        config.providers.insert(
            "slskd".into(),
            grant_for(&emulator.url(), Some(&emulator_key())),
        );
        let app = tributary::app::App::start(&config).await?;
        app.engine.set_paused(true)?;
        anyhow::Ok((app, emulator))
    })?;
    let base = format!("http://{}", app.addr);

    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    client_rt.block_on(async move {
        let client = tributary_tests::http_client_builder()
            .pool_max_idle_per_host(usize::try_from(clients)?)
            .build()?;

        // Creates.
        let stop = Arc::new(AtomicBool::new(false));
        let made = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        let started = Instant::now();
        for c in 0..clients {
            let (client, base, stop, made) =
                (client.clone(), base.clone(), stop.clone(), made.clone());
            tasks.push(tokio::spawn(async move {
                let mut ids = Vec::new();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let res = client
                        .post(format!("{base}/api/downloads"))
                        .json(&serde_json::json!({
                            "title": format!("Song {c}-{n}"),
                            "artist": "Load",
                        }))
                        .send()
                        .await?;
                    anyhow::ensure!(res.status() == 201, "create answered {}", res.status());
                    let body: serde_json::Value = res.json().await?;
                    ids.push(body["id"].as_str().unwrap_or_default().to_owned());
                    made.fetch_add(1, Ordering::Relaxed);
                }
                anyhow::Ok(ids)
            }));
        }
        tokio::time::sleep(Duration::from_secs(secs)).await;
        stop.store(true, Ordering::Relaxed);
        let mut ids = Vec::new();
        for t in tasks {
            ids.extend(t.await??);
        }
        let elapsed = started.elapsed().as_secs_f64();
        println!(
            "creates: {} in {elapsed:.2} s with {clients} clients = {:.0}/s",
            ids.len(),
            ids.len() as f64 / elapsed
        );
        let after_creates = commits(&client, &base).await?;
        println!("  {}", after_creates.since(Commits::default(), ids.len()));

        // Batch cancels, 500 ids a request, in creation order as the queue lists them (the
        // ids are time-ordered UUIDs): the downloads a user selects together were mostly
        // created together.
        ids.sort();
        let batches: Vec<Vec<String>> = ids.chunks(500).map(<[String]>::to_vec).collect();
        let queue = Arc::new(std::sync::Mutex::new(batches));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..batch_clients {
            let (client, base, queue) = (client.clone(), base.clone(), queue.clone());
            tasks.push(tokio::spawn(async move {
                let mut cancelled = 0usize;
                let mut slowest = Duration::ZERO;
                loop {
                    let next = queue.lock().map_err(|_| anyhow::anyhow!("poisoned"))?.pop();
                    let Some(batch) = next else { break };
                    let t = Instant::now();
                    let res = client
                        .post(format!("{base}/api/downloads/batch-action"))
                        .json(&serde_json::json!({"action": "cancel", "download_ids": batch}))
                        .send()
                        .await?;
                    anyhow::ensure!(res.status() == 200, "batch answered {}", res.status());
                    let done = res.json::<BatchReply>().await?.done.len();
                    anyhow::ensure!(done == batch.len(), "batch cancelled {done} of {}", batch.len());
                    cancelled += done;
                    slowest = slowest.max(t.elapsed());
                }
                anyhow::Ok((cancelled, slowest))
            }));
        }
        let (mut cancelled, mut slowest) = (0, Duration::ZERO);
        for t in tasks {
            let (c, s) = t.await??;
            cancelled += c;
            slowest = slowest.max(s);
        }
        let elapsed = started.elapsed().as_secs_f64();
        let after_cancels = commits(&client, &base).await?;
        let requests = cancelled.div_ceil(500).max(1);
        println!(
            "batch cancel: {cancelled} in {elapsed:.2} s ({requests} requests of <= 500, {batch_clients} at a time) = {:.0}/s, {:.0} ms a request on average, slowest {} ms",
            cancelled as f64 / elapsed,
            elapsed * 1000.0 / requests as f64,
            slowest.as_millis()
        );
        println!("  {}", after_cancels.since(after_creates, cancelled));
        anyhow::Ok(())
    })?;

    let size = std::fs::metadata(data.path().join("load.redb"))?.len();
    println!("database file: {size} bytes");
    server.block_on(async {
        app.shutdown().await;
        drop(emulator);
    });
    Ok(())
}

/// What the load client reads of a batch answer: how many were done.
#[derive(serde::Deserialize)]
struct BatchReply {
    done: Vec<serde::de::IgnoredAny>,
}

/// The store's durable commits so far and the time they took, from `/metrics`.
#[derive(Debug, Clone, Copy, Default)]
struct Commits {
    count: f64,
    seconds: f64,
}

impl Commits {
    /// What happened between `earlier` and this reading, for `writes` writes.
    fn since(self, earlier: Commits, writes: usize) -> String {
        let count = self.count - earlier.count;
        let seconds = self.seconds - earlier.seconds;
        format!(
            "{count:.0} commits, {:.1} writes a commit, {:.2} ms a commit on average",
            writes as f64 / count.max(1.0),
            seconds * 1000.0 / count.max(1.0)
        )
    }
}

async fn commits(client: &reqwest::Client, base: &str) -> anyhow::Result<Commits> {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    let read = |name: &str| -> anyhow::Result<f64> {
        let line = text
            .lines()
            .find(|l| l.starts_with(name))
            .ok_or_else(|| anyhow::anyhow!("no {name} in /metrics"))?;
        Ok(line.rsplit(' ').next().unwrap_or_default().parse()?)
    };
    Ok(Commits {
        count: read("tributary_store_commit_duration_seconds_count")?,
        seconds: read("tributary_store_commit_duration_seconds_sum")?,
    })
}

/// The redb file size per 10,000 downloads, loaded in batches of 10,000 as `engine_figures` does.
fn sizes(dir: &std::path::Path) -> anyhow::Result<()> {
    use tributary::engine::download::{Download, TrackInfo};
    let path = dir.join("sizes.redb");
    let _ = std::fs::remove_file(&path);
    let store = tributary::store::Store::open(&path)?;
    let now = chrono::Utc::now();
    let template = Download {
        provider_id: "slskd".into(),
        provider_kind: "soulseek".into(),
        provider_name: "slskd".into(),
        max_retries: 3,
        ..Download::waiting(
            uuid::Uuid::nil(),
            String::new(),
            TrackInfo {
                title: String::new(),
                artist: "Bench Artist".into(),
                album: None,
            },
            now,
        )
    };
    let mut sizes = Vec::new();
    for batch in 0..10 {
        let rows = tributary_tests::stored_batch(&template, batch, now);
        store.insert_batch(&rows)?;
        sizes.push(std::fs::metadata(&path)?.len());
    }
    let per_10k: Vec<String> = sizes
        .windows(2)
        .map(|w| format!("{:.2}", (w[1] as f64 - w[0] as f64) / 1_048_576.0))
        .collect();
    let last = sizes.last().copied().unwrap_or(0);
    println!(
        "redb file: {:.1} MiB for 100,000 downloads ({:.0} bytes a download); growth per 10,000: {} MiB",
        last as f64 / 1_048_576.0,
        last as f64 / 100_000.0,
        per_10k.join(", ")
    );
    Ok(())
}
