//! The plugins found in the plugins directory, and reloading them while the server runs.
//!
//! A reload scans the directory and compares each folder's files (plugin.toml and the wasm it
//! names) with what serves now: an unchanged plugin costs nothing; a new or changed one is
//! validated and compiled before it replaces the old one, so a broken version is refused and the
//! old one keeps serving; a plugin whose folder is gone is taken out of service. What changed is
//! returned for the caller to hand to the engine: this module knows nothing of downloads.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use super::compile_cache::CacheOutcome;
use super::manifest::{MANIFEST_FILE, Manifest};
use super::runtime::PluginRuntime;
use super::wasm_provider::WasmProvider;
use crate::config::ProviderGrant;
use crate::engine::provider::Provider;

/// Where a plugin stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PluginState {
    /// Serving (possibly quarantined for a while after crashes: see [`PluginEntry::quarantined`]).
    Loaded,
    /// Could not be loaded; `reason` says why.
    Refused,
    /// `enabled = false` in the operator's config.
    Disabled,
}

impl PluginState {
    pub fn as_str(self) -> &'static str {
        match self {
            PluginState::Loaded => "loaded",
            PluginState::Refused => "refused",
            PluginState::Disabled => "disabled",
        }
    }
}

/// What plugin.toml says, kept for the plugin's listing.
#[derive(Debug, Clone)]
pub struct ManifestFacts {
    pub name: String,
    pub kind: String,
    pub version: String,
    pub api_version: String,
    /// The origins it declares, `{key}` entries filled from non-secret config values.
    pub declared_hosts: Vec<String>,
}

impl ManifestFacts {
    fn of(manifest: &Manifest, grant: &ProviderGrant) -> Self {
        let declared_hosts = manifest
            .outbound_hosts
            .iter()
            .map(|entry| {
                let key = entry.strip_prefix('{').and_then(|e| e.strip_suffix('}'));
                match key {
                    Some(key) if !manifest.config.get(key).is_some_and(|k| k.secret) => grant
                        .settings
                        .get(key)
                        .map(|v| v.as_text())
                        .or_else(|| manifest.config.get(key).and_then(|k| k.default.clone()))
                        .and_then(|value| origin_of(&value))
                        .unwrap_or_else(|| entry.clone()),
                    _ => entry.clone(),
                }
            })
            .collect();
        Self {
            name: manifest.display_name.clone(),
            kind: manifest.kind.clone(),
            version: manifest.version.clone(),
            api_version: manifest.api_version.clone(),
            declared_hosts,
        }
    }
}

/// One plugin folder as the registry knows it.
#[derive(Debug, Clone)]
pub struct PluginEntry {
    pub id: String,
    pub folder: PathBuf,
    pub state: PluginState,
    /// Why it is refused, or why its latest replacement was refused while this one serves.
    pub reason: Option<String>,
    /// Of the serving version, or of the refused files when none serves.
    pub manifest: Option<ManifestFacts>,
    pub provider: Option<Arc<WasmProvider>>,
    /// sha256 of the serving (or refused) wasm.
    pub sha256: Option<String>,
    pub granted_hosts: Vec<String>,
    pub loaded_at: Option<DateTime<Utc>>,
    /// How the serving version was loaded: from the compile cache or compiled, and how long.
    pub load_ms: Option<f64>,
    pub cache: Option<CacheOutcome>,
    /// The files that serve now.
    stamp: Option<String>,
    /// The files last refused, so that the same broken files are not tried on every reload.
    refused_stamp: Option<String>,
}

impl PluginEntry {
    /// `Some(why)` while crash-loop protection keeps the plugin from being called.
    pub fn quarantined(&self) -> Option<String> {
        self.provider.as_ref().and_then(|p| p.quarantined())
    }
}

/// What one reload did.
#[derive(Debug, Default)]
pub struct ReloadReport {
    /// Newly serving plugins (new, or a new version swapped in): hand each to the engine.
    pub installed: Vec<Arc<WasmProvider>>,
    /// Plugins whose folder is gone: take each out of the engine.
    pub removed: Vec<String>,
    /// Plugins (or replacements) refused, with the reason. A refused replacement leaves the
    /// old version serving.
    pub refused: Vec<(String, String)>,
    pub unchanged: Vec<String>,
    pub disabled: Vec<String>,
    /// Per installed plugin: milliseconds to validate, compile (or load from cache) and check.
    pub load_ms: BTreeMap<String, (f64, CacheOutcome)>,
    pub took_ms: f64,
}

pub struct PluginRegistry {
    runtime: PluginRuntime,
    dir: PathBuf,
    grants: BTreeMap<String, ProviderGrant>,
    entries: Mutex<BTreeMap<String, PluginEntry>>,
    /// One reload at a time: triggers that arrive together wait and then find nothing changed.
    reloading: tokio::sync::Mutex<()>,
}

impl PluginRegistry {
    pub fn new(
        runtime: PluginRuntime,
        dir: impl Into<PathBuf>,
        grants: BTreeMap<String, ProviderGrant>,
    ) -> Self {
        Self {
            runtime,
            dir: dir.into(),
            grants,
            entries: Mutex::new(BTreeMap::new()),
            reloading: tokio::sync::Mutex::new(()),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, PluginEntry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn list(&self) -> Vec<PluginEntry> {
        self.entries().values().cloned().collect()
    }

    pub fn get(&self, id: &str) -> Option<PluginEntry> {
        self.entries().get(id).cloned()
    }

    /// Scans the plugins directory and brings the registry in line with it.
    pub async fn reload(&self) -> ReloadReport {
        let _one_at_a_time = self.reloading.lock().await;
        let started = Instant::now();
        let mut report = ReloadReport::default();
        let folders = match plugin_folders(&self.dir) {
            Ok(folders) => folders,
            Err(e) => {
                // An unreadable directory (mounted late, a typo) changes nothing that serves.
                let reason = format!(
                    "cannot read the plugins directory {}: {e}",
                    self.dir.display()
                );
                tracing::error!("{reason}");
                report
                    .refused
                    .push((self.dir.display().to_string(), reason));
                report.took_ms = started.elapsed().as_secs_f64() * 1000.0;
                return report;
            }
        };
        let gone: Vec<String> = self
            .entries()
            .keys()
            .filter(|id| !folders.contains_key(*id))
            .cloned()
            .collect();
        for id in gone {
            self.entries().remove(&id);
            tracing::info!(plugin = %id, "plugin folder removed: taken out of service");
            report.removed.push(id);
        }
        let empty = ProviderGrant::default();
        for (id, folder) in folders {
            let grant = self.grants.get(&id).unwrap_or(&empty);
            if !grant.enabled {
                self.entries()
                    .insert(id.clone(), disabled_entry(&id, &folder));
                report.disabled.push(id);
                continue;
            }
            let stamp = stamp_of(&folder);
            let previous = self.get(&id);
            if let Some(prev) = &previous
                && (prev.stamp == stamp
                    || (prev.refused_stamp.is_some() && prev.refused_stamp == stamp))
            {
                report.unchanged.push(id);
                continue;
            }
            self.load_one(&id, &folder, grant, stamp, previous, &mut report)
                .await;
        }
        report.took_ms = started.elapsed().as_secs_f64() * 1000.0;
        report
    }

    async fn load_one(
        &self,
        id: &str,
        folder: &Path,
        grant: &ProviderGrant,
        stamp: Option<String>,
        previous: Option<PluginEntry>,
        report: &mut ReloadReport,
    ) {
        let manifest = Manifest::load(folder).ok();
        let facts = manifest.as_ref().map(|m| ManifestFacts::of(m, grant));
        let sha256 = manifest
            .as_ref()
            .and_then(|m| std::fs::read(&m.wasm_path).ok())
            .map(|wasm| hex::encode(Sha256::digest(&wasm)));
        let granted_hosts = grant.allowed_hosts.clone();
        match self.runtime.load(folder, grant).await {
            Ok((provider, stats)) => {
                let replaced = previous.as_ref().is_some_and(|p| p.provider.is_some());
                tracing::info!(
                    plugin = %id, version = %provider.descriptor().version,
                    "{} in {:.1} ms ({:?})",
                    if replaced { "new version swapped in" } else { "plugin loaded" },
                    stats.compile_ms, stats.cache
                );
                report
                    .load_ms
                    .insert(id.to_owned(), (stats.compile_ms, stats.cache));
                report.installed.push(provider.clone());
                self.entries().insert(
                    id.to_owned(),
                    PluginEntry {
                        id: id.to_owned(),
                        folder: folder.to_path_buf(),
                        state: PluginState::Loaded,
                        reason: None,
                        manifest: facts,
                        provider: Some(provider),
                        sha256,
                        granted_hosts,
                        loaded_at: Some(Utc::now()),
                        load_ms: Some(stats.compile_ms),
                        cache: Some(stats.cache),
                        stamp,
                        refused_stamp: None,
                    },
                );
            }
            Err(e) => {
                let reason = e.to_string();
                let entry = match previous {
                    // The old version keeps serving; the listing says why the new one did not.
                    Some(prev) if prev.provider.is_some() => {
                        tracing::error!(plugin = %id, "new version refused, the old one keeps serving: {reason}");
                        PluginEntry {
                            reason: Some(format!(
                                "a new version was refused (the loaded one keeps serving): {reason}"
                            )),
                            refused_stamp: stamp,
                            ..prev
                        }
                    }
                    _ => {
                        tracing::error!(plugin = %id, "not loaded: {reason}");
                        PluginEntry {
                            id: id.to_owned(),
                            folder: folder.to_path_buf(),
                            state: PluginState::Refused,
                            reason: Some(reason.clone()),
                            manifest: facts,
                            provider: None,
                            sha256,
                            granted_hosts,
                            loaded_at: None,
                            load_ms: None,
                            cache: None,
                            stamp: None,
                            refused_stamp: stamp,
                        }
                    }
                };
                self.entries().insert(id.to_owned(), entry);
                report.refused.push((id.to_owned(), reason));
            }
        }
    }
}

fn disabled_entry(id: &str, folder: &Path) -> PluginEntry {
    PluginEntry {
        id: id.to_owned(),
        folder: folder.to_path_buf(),
        state: PluginState::Disabled,
        reason: Some(format!(
            "disabled in the config ([providers.{id}] enabled = false)"
        )),
        manifest: None,
        provider: None,
        sha256: None,
        granted_hosts: Vec::new(),
        loaded_at: None,
        load_ms: None,
        cache: None,
        stamp: None,
        refused_stamp: None,
    }
}

/// The origin of a configured URL (scheme, host, port): never its path, query or credentials.
fn origin_of(value: &str) -> Option<String> {
    let url = url::Url::parse(value).ok()?;
    let origin = url.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}

/// `<dir>/<id>/plugin.toml` folders by id.
fn plugin_folders(dir: &Path) -> std::io::Result<BTreeMap<String, PathBuf>> {
    let mut folders = BTreeMap::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.join(MANIFEST_FILE).is_file()
            && let Some(id) = path.file_name().map(|f| f.to_string_lossy().into_owned())
        {
            folders.insert(id, path);
        }
    }
    Ok(folders)
}

/// A digest of a plugin's files: plugin.toml and the wasm it names. `None` when plugin.toml
/// cannot be read.
fn stamp_of(folder: &Path) -> Option<String> {
    let manifest = std::fs::read(folder.join(MANIFEST_FILE)).ok()?;
    let mut hasher = Sha256::new();
    hasher.update(&manifest);
    if let Ok(m) = Manifest::load(folder)
        && let Ok(wasm) = std::fs::read(&m.wasm_path)
    {
        hasher.update([0]);
        hasher.update(&wasm);
    }
    Some(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::origin_of;

    #[test]
    fn a_shown_origin_never_carries_credentials_or_a_path() {
        assert_eq!(
            origin_of("http://user:pass@slskd.lan:5030/api?key=1").as_deref(),
            Some("http://slskd.lan:5030")
        );
        assert_eq!(origin_of("not a url"), None);
    }
}
