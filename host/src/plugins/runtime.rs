//! The plugin runtime: one wasmtime engine, one linker, the compile cache, and loading.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::{Component, Linker};
use wasmtime::{Config as WasmConfig, Engine};

use super::bindings::{self, WIT_PACKAGE, supported_versions};
use super::compile_cache::{CacheOutcome, CompileCache};
use super::dns::{Lookup, PinnedResolver};
use super::egress::{EgressError, EgressPolicy, OriginPattern};
use super::manifest::{MANIFEST_FILE, Manifest, ManifestError};
use super::sandbox::{CallState, PluginContext, start_epoch_ticker};
use super::wasm_provider::WasmProvider;
use crate::config::ProviderGrant;
use crate::engine::provider::{ProviderDescriptor, ProviderError};

/// HTTP requests one plugin may have in flight at once.
const HTTP_SLOTS_PER_PLUGIN: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("plugin {id} targets {WIT_PACKAGE}@{found}, but this host supports {WIT_PACKAGE}@{}", supported_versions().join(", @"))]
    UnsupportedApi { id: String, found: String },
    #[error(
        "plugin {id}: plugin.toml says api_version {claimed}, but the component was built against {WIT_PACKAGE}@{found}"
    )]
    ApiMismatch {
        id: String,
        claimed: String,
        found: String,
    },
    #[error("plugin {id}: cannot read {path}: {source}")]
    Io {
        id: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("plugin {id}: {path} is not a valid WebAssembly component: {message}")]
    Compile {
        id: String,
        path: PathBuf,
        message: String,
    },
    #[error("plugin {id}: the component does not fit {WIT_PACKAGE}@{api}: {message}")]
    Link {
        id: String,
        api: String,
        message: String,
    },
    #[error("plugin {id}: config key `{key}` is required; set it under [providers.{id}]")]
    MissingConfig { id: String, key: String },
    #[error("plugin {id}: outbound host {entry:?}: {source}")]
    Egress {
        id: String,
        entry: String,
        source: EgressError,
    },
    #[error("plugin {id}: info() failed: {source}")]
    Info { id: String, source: ProviderError },
    #[error("plugin {id}: info() says its id is {reported:?}; plugin.toml says {id:?}")]
    IdMismatch { id: String, reported: String },
    #[error("plugin {id}: cannot build its HTTP client: {message}")]
    Http { id: String, message: String },
    #[error("cannot read the plugins directory {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The runtime itself could not start.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("cannot set up the WebAssembly engine: {0}")]
    Engine(String),
    #[error("cannot start the epoch thread: {0}")]
    Thread(#[from] std::io::Error),
    #[error("cannot use the DNS server for plugins: {0}")]
    Dns(String),
}

fn engine_err(e: wasmtime::Error) -> RuntimeError {
    RuntimeError::Engine(format!("{e:#}"))
}

/// How one plugin was loaded, for the log and for `plugins check`.
#[derive(Debug, Clone)]
pub struct LoadStats {
    pub cache: CacheOutcome,
    pub compile_ms: f64,
    pub wasm_bytes: u64,
}

/// What scanning a plugins directory produced.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub loaded: Vec<(Arc<WasmProvider>, LoadStats)>,
    pub refused: Vec<(PathBuf, LoadError)>,
    /// Plugins the operator disabled.
    pub disabled: Vec<String>,
}

pub struct PluginRuntime {
    engine: Engine,
    linker: Linker<CallState>,
    cache: CompileCache,
    lookup: Lookup,
    min_pin: std::time::Duration,
}

impl PluginRuntime {
    pub fn new(cache_dir: impl Into<PathBuf>) -> Result<PluginRuntime, RuntimeError> {
        let mut config = WasmConfig::new();
        config.epoch_interruption(true);
        let engine = Engine::new(&config).map_err(engine_err)?;
        start_epoch_ticker(&engine)?;
        let mut linker = Linker::new(&engine);
        // WASI is linked because a Rust guest's std imports it; the context denies everything.
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(engine_err)?;
        bindings::link_all(&mut linker).map_err(engine_err)?;
        Ok(PluginRuntime {
            engine,
            linker,
            cache: CompileCache::new(cache_dir),
            lookup: Lookup::System,
            min_pin: super::dns::MIN_PIN,
        })
    }

    /// Plugin host names are looked up at this DNS server instead of the system's.
    pub fn with_dns_server(
        mut self,
        server: Option<std::net::SocketAddr>,
    ) -> Result<Self, RuntimeError> {
        if let Some(addr) = server {
            self.lookup = Lookup::server(addr).map_err(RuntimeError::Dns)?;
        }
        Ok(self)
    }

    /// A plugin host name's resolved address is pinned at least this long (tests shorten it).
    pub fn with_dns_min_pin(mut self, min_pin: std::time::Duration) -> Self {
        self.min_pin = min_pin;
        self
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Loads every `<dir>/<id>/plugin.toml`. A plugin that cannot be loaded is reported and
    /// skipped; the others load.
    pub async fn load_dir(
        &self,
        dir: &Path,
        grants: &BTreeMap<String, ProviderGrant>,
    ) -> LoadReport {
        let mut report = LoadReport::default();
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(source) => {
                report.refused.push((
                    dir.to_path_buf(),
                    LoadError::Dir {
                        path: dir.to_path_buf(),
                        source,
                    },
                ));
                return report;
            }
        };
        let mut folders: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.join(MANIFEST_FILE).is_file())
            .collect();
        folders.sort();
        let empty = ProviderGrant::default();
        for folder in folders {
            let id = folder
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            let grant = grants.get(&id).unwrap_or(&empty);
            if grants.get(&id).is_some_and(|g| !g.enabled) {
                tracing::info!(plugin = %id, "disabled in the config; not loaded");
                report.disabled.push(id);
                continue;
            }
            match self.load(&folder, grant).await {
                Ok(loaded) => report.loaded.push(loaded),
                Err(e) => {
                    tracing::error!("{e}");
                    report.refused.push((folder, e));
                }
            }
        }
        report
    }

    /// Loads one plugin folder under the operator's grant.
    pub async fn load(
        &self,
        folder: &Path,
        grant: &ProviderGrant,
    ) -> Result<(Arc<WasmProvider>, LoadStats), LoadError> {
        let manifest = Manifest::load(folder)?;
        let id = manifest.id.clone();
        let Some(contract) = bindings::contract_for(&manifest.api_version) else {
            return Err(LoadError::UnsupportedApi {
                id,
                found: manifest.api_version,
            });
        };
        let wasm = std::fs::read(&manifest.wasm_path).map_err(|source| LoadError::Io {
            id: id.clone(),
            path: manifest.wasm_path.clone(),
            source,
        })?;
        let digest = manifest.verify_digest(&wasm)?;

        let started = Instant::now();
        let (component, cache) = self
            .cache
            .load_or_compile(&self.engine, &digest, &wasm)
            .map_err(|e| LoadError::Compile {
                id: id.clone(),
                path: manifest.wasm_path.clone(),
                message: format!("{e:#}"),
            })?;
        let compile_ms = started.elapsed().as_secs_f64() * 1000.0;
        self.check_wit_version(&id, &manifest.api_version, &component)?;
        let linked =
            bindings::prepare(contract, &self.linker, &component).map_err(|e| LoadError::Link {
                id: id.clone(),
                api: manifest.api_version.clone(),
                message: format!("{e:#}"),
            })?;

        let (context, resolver, granted_hosts) = self.context_for(&manifest, grant)?;
        // Pin what the granted names resolve to now; a later answer must stay within it.
        for host in &granted_hosts {
            resolver.pin(host).await;
        }
        let context = Arc::new(context);
        let descriptor = ProviderDescriptor {
            id: id.clone(),
            kind: manifest.kind.clone(),
            display_name: manifest.display_name.clone(),
            version: manifest.version.clone(),
            capabilities: Default::default(),
            accepts: Default::default(),
        };
        let mut provider = WasmProvider::new(descriptor, linked, context);
        let info = provider.info().await.map_err(|source| LoadError::Info {
            id: id.clone(),
            source,
        })?;
        if info.id != id {
            return Err(LoadError::IdMismatch {
                id,
                reported: info.id,
            });
        }
        if (
            info.kind.as_str(),
            info.display_name.as_str(),
            info.version.as_str(),
        ) != (
            manifest.kind.as_str(),
            manifest.display_name.as_str(),
            manifest.version.as_str(),
        ) {
            // plugin.toml is what the operator sees and what the API reports.
            tracing::warn!(plugin = %id, "info() says kind {:?}, name {:?}, version {:?}; plugin.toml says {:?}, {:?}, {:?}: plugin.toml wins", info.kind, info.display_name, info.version, manifest.kind, manifest.display_name, manifest.version);
        }
        provider.adopt(&info);
        tracing::info!(
            plugin = %id, version = %manifest.version, api = %manifest.api_version, ?cache,
            "loaded plugin {} ({:.1} ms to compile or load)", manifest.display_name, compile_ms
        );
        Ok((
            Arc::new(provider),
            LoadStats {
                cache,
                compile_ms,
                wasm_bytes: wasm.len() as u64,
            },
        ))
    }

    /// Refuses a component whose `tributary:provider` imports carry another version than its
    /// manifest claims (or one this host does not support).
    fn check_wit_version(
        &self,
        id: &str,
        claimed: &str,
        component: &Component,
    ) -> Result<(), LoadError> {
        let prefix = format!("{WIT_PACKAGE}/");
        for (name, _) in component.component_type().imports(&self.engine) {
            if let Some(rest) = name.strip_prefix(&prefix)
                && let Some((_, version)) = rest.split_once('@')
                && version != claimed
            {
                if bindings::contract_for(version).is_none() {
                    return Err(LoadError::UnsupportedApi {
                        id: id.to_owned(),
                        found: version.to_owned(),
                    });
                }
                return Err(LoadError::ApiMismatch {
                    id: id.to_owned(),
                    claimed: claimed.to_owned(),
                    found: version.to_owned(),
                });
            }
        }
        Ok(())
    }

    fn context_for(
        &self,
        manifest: &Manifest,
        grant: &ProviderGrant,
    ) -> Result<(PluginContext, PinnedResolver, Vec<String>), LoadError> {
        let id = &manifest.id;
        for key in grant.settings.keys() {
            if !manifest.config.contains_key(key) {
                tracing::warn!(plugin = %id, "config key `{key}` is not declared by the plugin; ignored");
            }
        }
        let mut config = BTreeMap::new();
        let mut secrets = Vec::new();
        for (key, spec) in &manifest.config {
            let value = grant
                .settings
                .get(key)
                .map(|v| v.as_text())
                .or_else(|| spec.default.clone());
            match value {
                Some(v) => {
                    if spec.secret {
                        secrets.push(v.clone());
                    }
                    config.insert(key.clone(), v);
                }
                None if spec.required => {
                    return Err(LoadError::MissingConfig {
                        id: id.clone(),
                        key: key.clone(),
                    });
                }
                None => {}
            }
        }
        let egress_err = |entry: &str, source| LoadError::Egress {
            id: id.clone(),
            entry: entry.to_owned(),
            source,
        };
        let mut declared = Vec::new();
        for entry in &manifest.outbound_hosts {
            let origin = match entry.strip_prefix('{').and_then(|e| e.strip_suffix('}')) {
                // A `{key}` entry follows the config value: the plugin may call where it is
                // configured to, and nowhere else.
                Some(key) => match config.get(key) {
                    Some(value) => value.clone(),
                    None => continue,
                },
                None => entry.clone(),
            };
            declared.push(OriginPattern::parse(&origin).map_err(|e| egress_err(entry, e))?);
        }
        let granted = grant
            .allowed_hosts
            .iter()
            .map(|h| OriginPattern::parse(h).map_err(|e| egress_err(h, e)))
            .collect::<Result<Vec<_>, _>>()?;
        let granted_hosts = granted.iter().map(|p| p.host().to_owned()).collect();
        let egress = EgressPolicy::new(declared, granted);
        if egress.is_empty() && !manifest.outbound_hosts.is_empty() {
            tracing::warn!(plugin = %id, "no outbound host is both declared and granted: add allowed_hosts under [providers.{id}]");
        }
        let resolver = PinnedResolver::new(self.lookup.clone()).with_min_pin(self.min_pin);
        let http = outbound_client(resolver.clone()).map_err(|e| LoadError::Http {
            id: id.clone(),
            message: e.to_string(),
        })?;
        let context = PluginContext {
            id: id.clone(),
            config,
            secrets,
            egress,
            limits: grant.limits(),
            http,
            resolver: resolver.clone(),
            http_slots: tokio::sync::Semaphore::new(HTTP_SLOTS_PER_PLUGIN),
        };
        Ok((context, resolver, granted_hosts))
    }
}

/// The client one plugin's requests go through. Redirects are off: following one would leave
/// the allow-list behind. Names resolve through the plugin's pinning resolver.
fn outbound_client(resolver: PinnedResolver) -> Result<reqwest::Client, reqwest::Error> {
    // Several parts of the host may build a client; installing the provider twice is harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(std::time::Duration::from_secs(30))
        .user_agent(concat!("tributary/", env!("CARGO_PKG_VERSION")))
        .dns_resolver(Arc::new(resolver))
        .build()
}
