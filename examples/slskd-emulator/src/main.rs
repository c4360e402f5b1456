//! `slskd-emulator`: run the emulated slskd on its own, e.g. to point a Tributary at it.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use slskd_emulator::{Emulator, EmulatorConfig};

#[derive(Parser)]
#[command(
    about = "An slskd 0.26 API emulator with simulated peers and fault injection (loopback only)"
)]
struct Args {
    /// Loopback address to listen on.
    #[arg(long, default_value = "127.0.0.1:5030")]
    bind: SocketAddr,
    /// The API key clients must send as X-API-Key.
    #[arg(
        long,
        default_value = "emulator-api-key-0123456789",
        conflicts_with = "no_auth"
    )]
    api_key: String,
    /// Run with authentication disabled.
    #[arg(long)]
    no_auth: bool,
    /// Make transfers this many times faster (and every wait shorter).
    #[arg(long, default_value_t = 1.0)]
    speed_factor: f64,
    /// Write succeeded downloads into this folder as real audio files (slskd's layout).
    #[arg(long)]
    downloads_dir: Option<PathBuf>,
    /// How long those files last, in seconds.
    #[arg(long, default_value_t = 8.0)]
    track_secs: f32,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    let args = Args::parse();
    let config = EmulatorConfig {
        bind: args.bind,
        api_key: (!args.no_auth).then_some(args.api_key),
        speed_factor: args.speed_factor,
        downloads_dir: args.downloads_dir,
        track_secs: args.track_secs,
        ..EmulatorConfig::default()
    };
    let emulator = Emulator::start(config).await?;
    println!(
        "slskd emulator on {} (control: POST {}/emulator/fault, /emulator/restart, /emulator/down?ms=, /emulator/disguise; GET /emulator/stats)",
        emulator.url(),
        emulator.url()
    );
    tokio::signal::ctrl_c().await?;
    emulator.shutdown().await;
    Ok(())
}
