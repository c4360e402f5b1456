//! The whole service in a process of its own, for tests that kill it: `app_worker CONFIG`
//! starts Tributary from that config file, prints `listening <addr>`, and serves until it is
//! stopped or killed.

use std::path::Path;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let path = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: app_worker CONFIG"))?;
    let config = tributary::config::Config::load(Some(Path::new(&path)))?;
    let app = tributary::app::App::start(&config).await?;
    println!("listening {}", app.addr);
    let stopped = app.until_stopped().await;
    app.shutdown().await;
    stopped
}
