//! What `/api/plugins` shows of each plugin: never a secret (granted origins are not secrets;
//! config values are not shown at all).

use std::collections::BTreeMap;

use salvo::oapi::ToSchema;
use serde::{Deserialize, Serialize};

use super::dto::timestamp;
use crate::engine::provider::Provider;
use crate::plugins::{CacheOutcome, ExportSummary, PluginEntry, PluginState, ReloadReport};

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PluginDto {
    pub id: String,
    pub name: Option<String>,
    pub version: Option<String>,
    /// The `tributary:provider` WIT version it was built against.
    pub wit_version: Option<String>,
    /// The network, e.g. soulseek (the downloads' `provider` field).
    pub kind: Option<String>,
    /// search, pause, queue-position, remove.
    pub capabilities: Vec<String>,
    /// sha256 of the wasm component.
    pub sha256: Option<String>,
    /// loaded, refused, quarantined or disabled.
    pub state: String,
    /// Why it is refused, quarantined or disabled, or why a new version was refused while this
    /// one keeps serving.
    pub reason: Option<String>,
    /// Origins the plugin declares it calls.
    pub declared_hosts: Vec<String>,
    /// Origins the operator granted it (`allowed_hosts`).
    pub granted_hosts: Vec<String>,
    pub loaded_at: Option<String>,
    /// Milliseconds the serving version took to validate, compile (or load from the compile
    /// cache) and check.
    pub load_ms: Option<f64>,
    /// Whether the serving version came from the compile cache.
    pub compile_cache_hit: Option<bool>,
    /// Per export since it was loaded.
    pub calls: Vec<ExportCallsDto>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ExportCallsDto {
    pub export: String,
    pub calls: u64,
    /// Failed calls by error kind.
    pub errors: BTreeMap<String, u64>,
    pub traps: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PluginsResponse {
    pub plugins: Vec<PluginDto>,
    /// The directory scanned.
    pub dir: String,
    /// Reloads since start, the first load included.
    pub reloads: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReloadResponse {
    /// Plugins now serving a new (or first) version, with the milliseconds it took.
    pub swapped_in: BTreeMap<String, f64>,
    pub removed: Vec<String>,
    /// Refused plugins or replacements, with the reason (an old version keeps serving).
    pub refused: BTreeMap<String, String>,
    pub unchanged: Vec<String>,
    pub took_ms: f64,
}

impl From<&ReloadReport> for ReloadResponse {
    fn from(r: &ReloadReport) -> Self {
        ReloadResponse {
            swapped_in: r
                .load_ms
                .iter()
                .map(|(id, (ms, _))| (id.clone(), *ms))
                .collect(),
            removed: r.removed.clone(),
            refused: r.refused.iter().cloned().collect(),
            unchanged: r.unchanged.clone(),
            took_ms: r.took_ms,
        }
    }
}

impl From<&ExportSummary> for ExportCallsDto {
    fn from(s: &ExportSummary) -> Self {
        ExportCallsDto {
            export: s.export.clone(),
            calls: s.calls,
            errors: s.errors.clone(),
            traps: s.traps,
            p50_ms: s.p50_ms,
            p99_ms: s.p99_ms,
        }
    }
}

impl From<&PluginEntry> for PluginDto {
    fn from(e: &PluginEntry) -> Self {
        let quarantined = e.quarantined();
        let state = match (e.state, &quarantined) {
            (PluginState::Loaded, Some(_)) => "quarantined",
            (state, _) => state.as_str(),
        };
        let descriptor = e.provider.as_ref().map(|p| p.descriptor().clone());
        let capabilities = descriptor
            .as_ref()
            .map(|d| {
                let c = d.capabilities;
                [
                    (c.search, "search"),
                    (c.pause, "pause"),
                    (c.queue_position, "queue-position"),
                    (c.remove, "remove"),
                ]
                .into_iter()
                .filter(|(has, _)| *has)
                .map(|(_, name)| name.to_owned())
                .collect()
            })
            .unwrap_or_default();
        let m = e.manifest.as_ref();
        PluginDto {
            id: e.id.clone(),
            name: m.map(|m| m.name.clone()),
            version: m.map(|m| m.version.clone()),
            wit_version: m.map(|m| m.api_version.clone()),
            kind: m.map(|m| m.kind.clone()),
            capabilities,
            sha256: e.sha256.clone(),
            state: state.to_owned(),
            reason: quarantined.or_else(|| e.reason.clone()),
            declared_hosts: m.map(|m| m.declared_hosts.clone()).unwrap_or_default(),
            granted_hosts: e.granted_hosts.clone(),
            loaded_at: e.loaded_at.map(timestamp),
            load_ms: e.load_ms,
            compile_cache_hit: e.cache.map(|c| c == CacheOutcome::Hit),
            calls: e
                .provider
                .as_ref()
                .map(|p| p.call_stats().iter().map(ExportCallsDto::from).collect())
                .unwrap_or_default(),
        }
    }
}
