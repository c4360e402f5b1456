//! `tributary plugins check <dir>`: load plugins the way the server would, and report.

use std::path::Path;

use anyhow::bail;

use super::manifest::MANIFEST_FILE;
use super::runtime::PluginRuntime;
use crate::config::{Config, ProviderGrant};
use crate::engine::provider::Provider;

/// Checks one plugin folder, or every plugin in a plugins directory. Fails when any plugin
/// would be refused, or (with `ping`) when a loaded plugin cannot reach its service with the
/// operator's config.
pub async fn run(dir: &Path, config: &Config, ping: bool) -> anyhow::Result<()> {
    let cache = tempfile_dir()?;
    let runtime = PluginRuntime::new(cache.path())?.with_dns_server(config.plugins.dns_server)?;
    let (single, scan_dir) = if dir.join(MANIFEST_FILE).is_file() {
        (true, dir.parent().unwrap_or(Path::new(".")).to_path_buf())
    } else {
        (false, dir.to_path_buf())
    };
    let mut refused = 0;
    if single {
        let id = dir
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default();
        let grant = config
            .providers
            .get(&id)
            .cloned()
            .unwrap_or_else(ProviderGrant::default);
        match runtime.load(dir, &grant).await {
            Ok((p, stats)) => {
                println!(
                    "ok   {} — {} {} ({} KB, {:?})",
                    dir.display(),
                    p.descriptor().display_name,
                    p.descriptor().version,
                    stats.wasm_bytes / 1024,
                    p.descriptor().capabilities
                );
                if ping && !pinged(p.as_ref()).await {
                    refused += 1;
                }
            }
            Err(e) => {
                refused += 1;
                println!("FAIL {}: {e}", dir.display());
            }
        }
    } else {
        let report = runtime.load_dir(&scan_dir, &config.providers).await;
        for (p, stats) in &report.loaded {
            println!(
                "ok   {} — {} {} ({} KB)",
                p.descriptor().id,
                p.descriptor().display_name,
                p.descriptor().version,
                stats.wasm_bytes / 1024
            );
            if ping && !pinged(p.as_ref()).await {
                refused += 1;
            }
        }
        for id in &report.disabled {
            println!("off  {id} (disabled in the config)");
        }
        for (path, e) in &report.refused {
            refused += 1;
            println!("FAIL {}: {e}", path.display());
        }
        if report.loaded.is_empty() && report.refused.is_empty() {
            println!(
                "no plugin folders (with {MANIFEST_FILE}) in {}",
                scan_dir.display()
            );
        }
    }
    if refused > 0 {
        bail!("{refused} plugin(s) would be refused or cannot reach their service");
    }
    Ok(())
}

/// Pings a loaded plugin with the operator's grant and says what came back.
async fn pinged(provider: &dyn Provider) -> bool {
    let id = &provider.descriptor().id;
    match provider.ping().await {
        Ok(health) if health.ready => {
            println!("ok   {id}: ping answered ready{}", detail(&health.detail));
            true
        }
        Ok(health) => {
            println!(
                "FAIL {id}: ping answered not ready{}",
                detail(&health.detail)
            );
            false
        }
        Err(e) => {
            println!("FAIL {id}: ping failed: {e}");
            false
        }
    }
}

fn detail(text: &str) -> String {
    if text.is_empty() {
        String::new()
    } else {
        format!(" ({text})")
    }
}

/// Runs the conformance kit on one plugin folder, or on every plugin in a plugins directory.
/// Fails when any plugin fails any check.
pub async fn conformance(dir: &Path, config: &Config) -> anyhow::Result<()> {
    let cache = tempfile_dir()?;
    let runtime = PluginRuntime::new(cache.path())?.with_dns_server(config.plugins.dns_server)?;
    let folders: Vec<std::path::PathBuf> = if dir.join(MANIFEST_FILE).is_file() {
        vec![dir.to_path_buf()]
    } else {
        let mut found: Vec<_> = std::fs::read_dir(dir)?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.join(MANIFEST_FILE).is_file())
            .collect();
        found.sort();
        found
    };
    if folders.is_empty() {
        bail!(
            "no plugin folders (with {MANIFEST_FILE}) in {}",
            dir.display()
        );
    }
    let mut failed = 0;
    for folder in folders {
        let report = super::conformance::run(&folder, &runtime).await?;
        println!("{} ({})", report.plugin, folder.display());
        for finding in &report.findings {
            match &finding.verdict {
                Ok(said) => println!("  ok   {}: {said}", finding.what),
                Err(why) => println!("  FAIL {}: {why}", finding.what),
            }
        }
        let failures = report.failures();
        println!(
            "  {}: {} checks, {failures} failed",
            report.plugin,
            report.findings.len()
        );
        if failures > 0 {
            failed += 1;
        }
    }
    if failed > 0 {
        bail!("{failed} plugin(s) failed the conformance kit");
    }
    Ok(())
}

/// A throw-away compile cache, so checking never writes beside the operator's data.
fn tempfile_dir() -> std::io::Result<tempfile::TempDir> {
    tempfile::Builder::new().prefix("tributary-check").tempdir()
}
