//! Loads a page in headless Chromium and prints its paint timings: `page_timing <url>`.

use std::process::{Command, Stdio};
use std::time::Duration;

use fantoccini::ClientBuilder;
use serde_json::json;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: page_timing <url>"))?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut driver = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let profile = tempfile::tempdir()?;
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"binary": "/usr/bin/chromium", "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1280,900",
            format!("--user-data-dir={}", profile.path().display())]}),
    );
    let c = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await?;
    for run in 0..3 {
        c.goto(&url).await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let t = c
            .execute(
                "const n = performance.getEntriesByType('navigation')[0]; const p = performance.getEntriesByType('paint'); \
                 return {ttfb: n.responseStart, dom: n.domContentLoadedEventEnd, load: n.loadEventEnd, \
                 fcp: (p.find(e => e.name === 'first-contentful-paint') || {}).startTime, bytes: n.transferSize, rows: document.querySelectorAll('.dl').length};",
                vec![],
            )
            .await?;
        println!("run {run}: {t}");
    }
    c.close().await?;
    let _ = driver.kill();
    Ok(())
}
