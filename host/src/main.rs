//! The `tributary` command.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tributary::config::Config;

#[derive(Parser)]
#[command(
    version,
    about = "Tributary: a self-hosted download manager for music libraries"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        /// The config file (TOML); every key can also come from TRIBUTARY_* variables.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Run the server against the built-in slskd emulator with a few downloads queued.
    Demo(tributary::demo::DemoOptions),
    /// Work with provider plugins.
    Plugins {
        #[command(subcommand)]
        command: PluginsCommand,
    },
}

#[derive(Subcommand)]
enum PluginsCommand {
    /// Validate a plugin folder (or a folder of plugins) and say what is wrong with it.
    Check {
        /// A folder holding plugin.toml, or a plugins directory.
        dir: PathBuf,
        /// The host config whose [providers.<id>] grants to apply (optional).
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("info,wasmtime=warn,cranelift=warn")
            }),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve { config } => {
                let config = Config::load(config.as_deref())?;
                let app = tributary::app::App::start(&config).await?;
                let outcome = app.until_stopped().await;
                tracing::info!("shutting down");
                app.shutdown().await;
                outcome
            }
            Command::Demo(options) => tributary::demo::run(options).await,
            Command::Plugins {
                command: PluginsCommand::Check { dir, config },
            } => {
                let config = Config::load(config.as_deref())?;
                tributary::plugins::check::run(&dir, &config).await
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
