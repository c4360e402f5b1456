//! HTTP figures with a big queue (100,000 stored, 13,000 of them waiting), each beside the
//! framework's own ceiling where that fits: `/stats` req/s, `/active` MB/s, and the live events
//! with 1,000 clients (first-event latency, events per client in 20 s, server CPU and RSS).
//!
//! `cargo bench -p tributary-tests --bench http_figures` (after `cargo xtask build-plugins`).
//! Needs `wrk` (Debian's package). The server under test and the bare salvo server run as
//! their own release processes (`bench_server`, `bare_salvo`); the load comes from this one.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use slskd_emulator::{Emulator, EmulatorConfig};
use tributary_tests::PluginsDir;

const ACTIVE: usize = 13_000;
const SSE_CLIENTS: usize = 1_000;
const SSE_SECS: u64 = 20;

struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn spawn(program: &str, args: &[&str]) -> Server {
        let mut child = Command::new(program)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("the server prints its address");
        let url = line
            .split_whitespace()
            .next()
            .expect("an address")
            .to_owned();
        Server { child, url }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `wrk`'s requests and bytes per second.
fn wrk(url: &str, connections: u32, secs: u32) -> (f64, f64) {
    let out = Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{connections}"),
            &format!("-d{secs}s"),
            url,
        ])
        .output()
        .expect("wrk runs (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout);
    let field = |name: &str| -> &str {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in wrk's output:\n{text}"))
            .trim()
    };
    let rps: f64 = field("Requests/sec:").parse().expect("a number");
    let transfer = field("Transfer/sec:");
    let (number, unit) = transfer.split_at(
        transfer
            .find(|c: char| c.is_alphabetic())
            .unwrap_or(transfer.len()),
    );
    let scale = match unit {
        "GB" => 1e9 * 1.073_741_824,
        "MB" => 1_048_576.0,
        "KB" => 1024.0,
        _ => 1.0,
    };
    (rps, number.parse::<f64>().unwrap_or(0.0) * scale)
}

/// (CPU seconds used so far, RSS now, peak RSS) of a process, from /proc.
fn usage(pid: u32) -> (f64, u64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (ticks / 100.0, kib("VmRSS:") * 1024, kib("VmHWM:") * 1024)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1_048_576.0
}

struct SseClient {
    first_event: Option<Duration>,
    events: usize,
    bytes: usize,
}

async fn sse_client(client: reqwest::Client, url: String) -> SseClient {
    let started = Instant::now();
    let mut out = SseClient {
        first_event: None,
        events: 0,
        bytes: 0,
    };
    let deadline = started + Duration::from_secs(SSE_SECS);
    let Ok(Ok(mut res)) =
        tokio::time::timeout(Duration::from_secs(SSE_SECS), client.get(&url).send()).await
    else {
        return out;
    };
    let mut tail = Vec::new();
    while let Ok(Ok(Some(chunk))) = tokio::time::timeout_at(deadline.into(), res.chunk()).await {
        out.bytes += chunk.len();
        tail.extend_from_slice(&chunk);
        // Count "event:" lines; keep only an unfinished line between chunks.
        let text = String::from_utf8_lossy(&tail).into_owned();
        let (done, rest) = text.rsplit_once('\n').unwrap_or(("", &text));
        let n = done.lines().filter(|l| l.starts_with("event: ")).count();
        if n > 0 && out.first_event.is_none() {
            out.first_event = Some(started.elapsed());
        }
        out.events += n;
        tail = rest.as_bytes().to_vec();
    }
    out
}

async fn sse_run(server: &Server, query: &str, change_id: &str) {
    let client = tributary_tests::http_client_builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let (cpu_before, _, _) = usage(server.pid());
    let wall = Instant::now();
    // The queue changes meanwhile: one download's priority, 5 times a second.
    let changer = {
        let client = client.clone();
        let url = format!("{}/api/downloads/{change_id}/priority", server.url);
        tokio::spawn(async move {
            for n in 0.. {
                let _ = client
                    .patch(&url)
                    .json(&serde_json::json!({ "priority": n % 10 }))
                    .send()
                    .await;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    let url = format!("{}/api/downloads/manager/events{query}", server.url);
    let tasks: Vec<_> = (0..SSE_CLIENTS)
        .map(|_| tokio::spawn(sse_client(client.clone(), url.clone())))
        .collect();
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.expect("client task"));
    }
    changer.abort();
    let secs = wall.elapsed().as_secs_f64();
    let (cpu_after, rss, peak) = usage(server.pid());
    let mut firsts: Vec<f64> = results
        .iter()
        .filter_map(|r| r.first_event.map(|d| d.as_secs_f64()))
        .collect();
    firsts.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        firsts
            .get(((firsts.len() as f64 * p) as usize).min(firsts.len().saturating_sub(1)))
            .copied()
            .unwrap_or(f64::NAN)
    };
    let none = results.iter().filter(|r| r.first_event.is_none()).count();
    let mut events: Vec<usize> = results.iter().map(|r| r.events).collect();
    events.sort_unstable();
    let bytes: usize = results.iter().map(|r| r.bytes).sum();
    println!(
        "sse{query}: {SSE_CLIENTS} clients, {ACTIVE} active: first event p50 {:.3} s, p90 {:.3} s, max {:.3} s; {none} got none in {SSE_SECS} s; events per client in {SSE_SECS} s: median {} (min {}); {:.1} KB per event on average; server CPU {:.0}% of one core, RSS {:.0} MiB (peak {:.0} MiB)",
        pct(0.5),
        pct(0.9),
        firsts.last().copied().unwrap_or(f64::NAN),
        events[events.len() / 2],
        events[0],
        bytes as f64 / events.iter().sum::<usize>().max(1) as f64 / 1024.0,
        (cpu_after - cpu_before) / secs * 100.0,
        mib(rss),
        mib(peak),
    );
}

#[tokio::main]
async fn main() {
    let emulator = Emulator::start(EmulatorConfig::default()).await.unwrap();
    let plugins = PluginsDir::with(&["plugins/slskd"]);
    let dir = tempfile::tempdir().unwrap();
    let server = Server::spawn(
        env!("CARGO_BIN_EXE_bench_server"),
        &[
            dir.path().to_str().unwrap(),
            plugins.path().to_str().unwrap(),
            &emulator.url(),
            &ACTIVE.to_string(),
        ],
    );
    let (_, rss, _) = usage(server.pid());
    println!(
        "server: {} ({:.0} MiB RSS after loading)",
        server.url,
        mib(rss)
    );
    let client = tributary_tests::http_client_builder().build().unwrap();
    let get = async |path: &str| {
        client
            .get(format!("{}{path}", server.url))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
    };

    // /stats beside a bare salvo route answering the same bytes, alternating.
    let stats = get("/api/downloads/manager/stats").await;
    let stats_file = dir.path().join("stats.json");
    std::fs::write(&stats_file, &stats).unwrap();
    let bare = Server::spawn(
        env!("CARGO_BIN_EXE_bare_salvo"),
        &[stats_file.to_str().unwrap()],
    );
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        theirs.push(wrk(&format!("{}/stats", bare.url), 64, 5).0);
        ours.push(
            wrk(
                &format!("{}/api/downloads/manager/stats", server.url),
                64,
                5,
            )
            .0,
        );
    }
    drop(bare);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    println!(
        "/stats: {:.0} req/s; bare salvo {:.0} req/s; ratio {:.2} (3 alternating 5 s runs each, 64 connections)",
        mean(&ours),
        mean(&theirs),
        mean(&ours) / mean(&theirs)
    );

    // /active with every active download, beside bare salvo serving the same body.
    let active = get("/api/downloads/manager/active").await;
    let active_file = dir.path().join("active.json");
    std::fs::write(&active_file, &active).unwrap();
    let bare = Server::spawn(
        env!("CARGO_BIN_EXE_bare_salvo"),
        &[active_file.to_str().unwrap()],
    );
    let (bare_rps, bare_bps) = wrk(&format!("{}/active", bare.url), 8, 10);
    drop(bare);
    let (rps, bps) = wrk(
        &format!("{}/api/downloads/manager/active", server.url),
        8,
        10,
    );
    println!(
        "/active: {:.1} MB a body; {rps:.1} req/s = {:.0} MB/s; bare salvo {bare_rps:.1} req/s = {:.0} MB/s; ratio {:.2} (8 connections, 10 s)",
        active.len() as f64 / 1e6,
        bps / 1e6,
        bare_bps / 1e6,
        rps / bare_rps
    );
    let page = get("/api/downloads/manager/active?limit=100&offset=6000").await;
    println!(
        "/active?limit=100: {:.1} KB a page",
        page.len() as f64 / 1024.0
    );

    // The live events, 1,000 clients at once, while the queue changes.
    let change_id =
        serde_json::from_slice::<serde_json::Value>(&page).unwrap()["downloads"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
    sse_run(&server, "", &change_id).await;
    sse_run(&server, "?mode=delta", &change_id).await;
    drop(server);
    emulator.shutdown().await;
}
