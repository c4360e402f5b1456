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
    /// How log lines are written to stderr: text (coloured only on a terminal) or json (one
    /// object per line, for log shippers).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

fn init_logging(format: LogFormat) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,wasmtime=warn,cranelift=warn")
    });
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        // Colour codes only where a person reads them: a file or a pipe gets plain text.
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => logs.json().with_ansi(false).init(),
    }
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
    /// Work with config files.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Work with provider plugins.
    Plugins {
        #[command(subcommand)]
        command: PluginsCommand,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Check a config file and report every problem in it at once (the file alone: TRIBUTARY_*
    /// variables are not read). Exits non-zero when there is any.
    Check {
        /// The config file (TOML).
        file: PathBuf,
    },
}

#[derive(Subcommand)]
enum PluginsCommand {
    /// Validate a plugin folder (or a folder of plugins) and say what is wrong with it.
    Check {
        /// A folder holding plugin.toml, or a plugins directory.
        dir: PathBuf,
        /// The host config whose [providers.<id>] grants to apply (optional); each plugin is
        /// then also pinged with it.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Run the conformance kit: every call against a hostile stand-in service must end in
        /// a typed error, and the declared capabilities must be the implemented calls.
        #[arg(long, conflicts_with = "config")]
        conformance: bool,
    },
    /// Write a new provider crate (Cargo.toml, plugin.toml, src/lib.rs) built on the plugin SDK.
    New {
        /// The plugin's id: a-z, 0-9 and '-'; also its folder's name.
        id: String,
        /// The folder to create it in.
        #[arg(long, default_value = "plugins")]
        dir: PathBuf,
    },
}

fn check_config(file: &std::path::Path) -> anyhow::Result<()> {
    let problems = tributary::config::check::check_file(file)?;
    if problems.is_empty() {
        println!("{}: OK", file.display());
        return Ok(());
    }
    for problem in &problems {
        println!("{problem}");
    }
    let n = problems.len();
    anyhow::bail!(
        "{n} problem{} in {}",
        if n == 1 { "" } else { "s" },
        file.display()
    )
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
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
            Command::Config {
                command: ConfigCommand::Check { file },
            } => check_config(&file),
            Command::Plugins {
                command:
                    PluginsCommand::Check {
                        dir,
                        config,
                        conformance: true,
                    },
            } => {
                let config = Config::load(config.as_deref())?;
                tributary::plugins::check::conformance(&dir, &config).await
            }
            Command::Plugins {
                command: PluginsCommand::Check { dir, config, .. },
            } => {
                // With the operator's config, each plugin is also pinged with the operator's grant,
                // so a wrong URL or secret is found before `serve`.
                let ping = config.is_some();
                let config = Config::load(config.as_deref())?;
                tributary::plugins::check::run(&dir, &config, ping).await
            }
            Command::Plugins {
                command: PluginsCommand::New { id, dir },
            } => {
                let made = tributary::plugins::scaffold::new(&dir, &id)?;
                let folder = made.folder.display();
                println!("created {folder} (crate {})", made.package);
                if let tributary::plugins::scaffold::SdkSource::Registry = made.sdk {
                    println!(
                        "it takes tributary-plugin-sdk from crates.io; build it with \
                         `cargo build --target wasm32-wasip2 --profile plugin` and copy the .wasm beside its plugin.toml"
                    );
                } else {
                    println!("build it with `cargo xtask build-plugins`");
                }
                println!("then check it with `tributary plugins check {folder}`");
                Ok(())
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
