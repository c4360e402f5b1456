//! `cargo xtask <command>`: the project's commands, so a fresh machine with only the Rust
//! toolchain can run the demo and the tests.
//!
//! - `build-plugins`: builds every plugin (each folder of `plugins/` or `tests/plugins/` with a
//!   `plugin.toml`) for wasm32-wasip2 with the `plugin` profile (adding the target if missing)
//!   and puts each `.wasm` beside its `plugin.toml`, named as the manifest's `wasm` key says.
//! - `build-assets`: installs the Download Center's front-end packages from the npm registry.
//! - `demo`: builds the plugins and assets, then runs `tributary demo` against the built-in slskd
//!   emulator.
//! - `test`: builds the plugins, checks formatting and clippy, then runs every test (host,
//!   emulator, plugins, end to end).

mod plugins;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use plugins::PluginCrate;

#[derive(Parser)]
#[command(about = "Tributary project commands")]
struct Args {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build every plugin for wasm32-wasip2 and place it beside its plugin.toml.
    BuildPlugins,
    /// Install the Download Center's front-end packages (htmx) from the npm registry.
    BuildAssets,
    /// Build the plugins and run the demo against the built-in slskd emulator.
    Demo {
        /// Extra arguments for `tributary demo`.
        #[arg(trailing_var_arg = true)]
        args: Vec<String>,
    },
    /// Build the plugins and run every test.
    Test,
}

const WASM_TARGET: &str = "wasm32-wasip2";

/// Linted for wasm too, though it is no plugin: every plugin is built with it.
const SDK_PACKAGE: &str = "tributary-plugin-sdk";

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let root = workspace_root();
    match args.command {
        Cmd::BuildPlugins => build_plugins(&root),
        Cmd::BuildAssets => build_assets(&root),
        Cmd::Demo { args } => {
            build_plugins(&root)?;
            build_assets(&root)?;
            let mut cmd = cargo(&root);
            cmd.args(["run", "--package", "tributary", "--", "demo"])
                .args(args);
            run(cmd)
        }
        Cmd::Test => {
            build_plugins(&root)?;
            build_assets(&root)?;
            ensure_browser()?;
            ensure_daemons()?;
            lint(&root)?;
            let mut suites = cargo(&root);
            // Every suite runs even after one fails, so a CI log names all the failures at once.
            suites.args(["test", "--workspace", "--no-fail-fast"]);
            // Test plugins exist to be loaded by the suites; they have no tests of their own.
            for plugin in plugins::discover(&root)? {
                if plugin.is_test_plugin(&root) {
                    suites.args(["--exclude", &plugin.package]);
                }
            }
            run(suites)
        }
    }
}

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Installs Debian packages when a command is missing (CI and fresh machines run as root).
fn apt_install(packages: &[&str]) -> anyhow::Result<()> {
    let mut update = Command::new("apt-get");
    update.arg("update").arg("-qq");
    run(update)?;
    let mut install = Command::new("apt-get");
    install
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive");
    run(install)
}

/// htmx and its extensions, from the npm registry, into templates/node_modules (served by the host).
fn build_assets(root: &Path) -> anyhow::Result<()> {
    if !have("npm") {
        apt_install(&["nodejs", "npm"])?;
    }
    let templates = root.join("templates");
    if templates
        .join("node_modules/htmx.org/dist/htmx.min.js")
        .is_file()
        && templates.join("node_modules/htmx-ext-sse/sse.js").is_file()
        && templates
            .join("node_modules/htmx-ext-json-enc/json-enc.js")
            .is_file()
    {
        return Ok(());
    }
    let mut npm = Command::new("npm");
    npm.args(["ci", "--no-audit", "--no-fund"])
        .current_dir(&templates);
    run(npm)
}

/// The browser tests drive Debian's Chromium through chromedriver.
fn ensure_browser() -> anyhow::Result<()> {
    if have("chromium") && have("chromedriver") {
        return Ok(());
    }
    apt_install(&["chromium", "chromium-driver"])
}

/// The aria2 and qBittorrent plugins are tested against Debian's real aria2c and
/// qbittorrent-nox.
fn ensure_daemons() -> anyhow::Result<()> {
    // qBittorrent's search plugins are Python scripts it runs with python3.
    let missing: Vec<&str> = [
        ("aria2c", "aria2"),
        ("qbittorrent-nox", "qbittorrent-nox"),
        ("python3", "python3"),
    ]
    .into_iter()
    .filter(|(program, _)| !have(program))
    .map(|(_, package)| package)
    .collect();
    if missing.is_empty() {
        return Ok(());
    }
    apt_install(&missing)
}

/// Formatting and clippy, native and wasm: a lint failure fails the test command.
fn lint(root: &Path) -> anyhow::Result<()> {
    let mut fmt = cargo(root);
    fmt.args(["fmt", "--all", "--check"]);
    run(fmt)?;
    let mut native = cargo(root);
    native.args(["clippy", "--all-targets", "--", "-D", "warnings"]);
    run(native)?;
    let mut wasm = cargo(root);
    wasm.args([
        "clippy",
        "--profile",
        plugins::PLUGIN_PROFILE,
        "--target",
        WASM_TARGET,
    ])
    .args(["--package", SDK_PACKAGE]);
    for plugin in plugins::discover(root)? {
        wasm.args(["--package", &plugin.package]);
    }
    wasm.args(["--", "-D", "warnings"]);
    run(wasm)
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn cargo(root: &Path) -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root);
    cmd
}

fn run(mut cmd: Command) -> anyhow::Result<()> {
    eprintln!("xtask: running {cmd:?}");
    let status = cmd.status().with_context(|| format!("starting {cmd:?}"))?;
    if !status.success() {
        bail!("{cmd:?} failed with {status}");
    }
    Ok(())
}

fn ensure_wasm_target() -> anyhow::Result<()> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .context("running rustup (the plugins need the wasm32-wasip2 target)")?;
    if String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|l| l.trim() == WASM_TARGET)
    {
        return Ok(());
    }
    let mut add = Command::new("rustup");
    add.args(["target", "add", WASM_TARGET]);
    run(add)
}

fn build_plugins(root: &Path) -> anyhow::Result<()> {
    ensure_wasm_target()?;
    let plugins = plugins::discover(root)?;
    if plugins.is_empty() {
        bail!(
            "no plugin folders (with plugin.toml) under {:?}",
            plugins::PLUGIN_PARENTS
        );
    }
    let mut build = cargo(root);
    build.args([
        "build",
        "--profile",
        plugins::PLUGIN_PROFILE,
        "--target",
        WASM_TARGET,
    ]);
    for plugin in &plugins {
        build.args(["--package", &plugin.package]);
    }
    run(build)?;
    let target_dir =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    for plugin in &plugins {
        place(plugin, &target_dir)?;
    }
    Ok(())
}

/// Copies one built component beside its plugin.toml.
fn place(plugin: &PluginCrate, target_dir: &Path) -> anyhow::Result<()> {
    let built = plugin.built_wasm(target_dir, WASM_TARGET);
    let placed = plugin.folder.join(&plugin.wasm);
    std::fs::copy(&built, &placed)
        .with_context(|| format!("copying {} to {}", built.display(), placed.display()))?;
    let size = std::fs::metadata(&placed).map(|m| m.len()).unwrap_or(0);
    eprintln!("xtask: {} ({} KB)", placed.display(), size / 1024);
    Ok(())
}
