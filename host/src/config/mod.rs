//! The host's configuration: a TOML file, every key overridable from the environment.
//!
//! Environment keys are `TRIBUTARY_` + the TOML path with `__` between levels, e.g.
//! `TRIBUTARY_SERVER__BIND=0.0.0.0:8765` or `TRIBUTARY_PROVIDERS__SLSKD__API_KEY=...`.

pub mod check;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Toml};
use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {0} does not exist")]
    Missing(PathBuf),
    #[error("invalid configuration: {0}")]
    Invalid(#[from] Box<figment::Error>),
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub storage: StorageConfig,
    #[serde(default)]
    pub plugins: PluginsConfig,
    /// What the operator grants each plugin, keyed by plugin id.
    #[serde(default)]
    pub providers: BTreeMap<String, ProviderGrant>,
    #[serde(default)]
    pub engine: EngineConfig,
    #[serde(default)]
    pub auth: AuthConfig,
    #[serde(default)]
    pub metrics: MetricsConfig,
    #[serde(default)]
    pub verify: VerifyConfig,
    /// Off unless `dir` is set.
    #[serde(default)]
    pub library: LibraryConfig,
    #[serde(default)]
    pub webhooks: Vec<WebhookConfig>,
}

/// One `[[webhooks]]` entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub url: String,
    /// Names it in the logs and the outbox; default its URL.
    pub name: Option<String>,
    /// DownloadFileComplete, DownloadFileFailed, DownloadFileRejected; default all.
    #[serde(default)]
    pub events: Vec<String>,
    /// Signs each body: `X-Tributary-Signature: sha256=<HMAC-SHA256 hex>`.
    pub secret: Option<String>,
    /// May reach loopback, private and link-local addresses (default: public ones only).
    #[serde(default)]
    pub allow_private: bool,
}

impl WebhookConfig {
    pub fn webhook(&self) -> Result<crate::webhooks::Webhook, String> {
        use crate::engine::download_events::EventKind;
        let url = url::Url::parse(&self.url)
            .map_err(|e| format!("webhooks: url {:?} is not a URL: {e}", self.url))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(format!(
                "webhooks: url {:?} must be an http:// or https:// URL with a host",
                self.url
            ));
        }
        let events = if self.events.is_empty() {
            EventKind::ALL.to_vec()
        } else {
            self.events
                .iter()
                .map(|e| {
                    EventKind::parse(e).ok_or_else(|| {
                        format!(
                            "webhooks: unknown event {e:?} (the events are {})",
                            EventKind::ALL.map(EventKind::as_str).join(", ")
                        )
                    })
                })
                .collect::<Result<_, _>>()?
        };
        if self.secret.as_deref().is_some_and(str::is_empty) {
            return Err(
                "webhooks: secret must not be empty (leave it out to send unsigned)".into(),
            );
        }
        Ok(crate::webhooks::Webhook {
            name: self.name.clone().unwrap_or_else(|| self.url.clone()),
            url,
            events,
            secret: self.secret.clone(),
            allow_private: self.allow_private,
        })
    }
}

/// `[library]`: importing verified files into the music library. Off unless `dir` is set.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LibraryConfig {
    pub dir: Option<PathBuf>,
    /// move (default), copy or hardlink.
    pub mode: Option<crate::library::ImportMode>,
    /// Default `{artist}/{album}/{track:02} - {title}.{ext}`.
    pub template: Option<String>,
    /// keep_both (default: the new file gets " (2)") or skip.
    pub on_conflict: Option<crate::library::Conflict>,
}

impl LibraryConfig {
    pub fn settings(&self) -> Result<Option<crate::library::LibrarySettings>, String> {
        let Some(dir) = &self.dir else {
            return Ok(None);
        };
        let template = self
            .template
            .clone()
            .unwrap_or_else(|| crate::library::DEFAULT_TEMPLATE.to_owned());
        let unknown = crate::library::unknown_fields(&template);
        if !unknown.is_empty() {
            return Err(format!(
                "library.template: unknown field {{{}}} (the fields are artist, album, title, track, ext)",
                unknown.join("}, {")
            ));
        }
        if template.trim().is_empty() {
            return Err("library.template must not be empty".into());
        }
        Ok(Some(crate::library::LibrarySettings {
            dir: dir.clone(),
            mode: self.mode.unwrap_or_default(),
            template,
            on_conflict: self.on_conflict.unwrap_or_default(),
        }))
    }
}

/// `[verify]`: checking finished files before they count as completed. On by default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyConfig {
    pub enabled: Option<bool>,
    /// Where rejected files go; by default `quarantine/` beside the database.
    pub quarantine_dir: Option<PathBuf>,
    /// Files checked at once: 1 or 2 (default 1).
    pub parallel: Option<usize>,
    /// How far a file's length may be from the track's (default 3 s, or 2% if more).
    pub duration_tolerance_secs: Option<u64>,
}

impl VerifyConfig {
    /// Applies the section to `s`; `beside` is the database's folder.
    pub fn apply(
        &self,
        s: &mut crate::engine::settings::VerifySettings,
        beside: &Path,
    ) -> Result<(), String> {
        if let Some(v) = self.enabled {
            s.enabled = v;
        }
        s.quarantine_dir = self
            .quarantine_dir
            .clone()
            .unwrap_or_else(|| beside.join("quarantine"));
        if let Some(v) = self.parallel {
            if !(1..=2).contains(&v) {
                return Err("verify.parallel must be 1 or 2".into());
            }
            s.parallel = v;
        }
        if let Some(v) = self.duration_tolerance_secs {
            if v > 600 {
                return Err("verify.duration_tolerance_secs must be at most 600".into());
            }
            s.duration_tolerance = Duration::from_secs(v);
        }
        Ok(())
    }
}

/// `[metrics]`: `GET /metrics` in the Prometheus text format. Off unless enabled.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    #[serde(default)]
    pub enabled: bool,
    /// A token a scraper may send as `Authorization: Bearer <token>` instead of an API key.
    /// With it set, `/metrics` needs the token (or a key, when keys are configured).
    #[serde(default)]
    pub token: Option<String>,
}

impl std::fmt::Debug for MetricsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token itself never reaches a log.
        f.debug_struct("MetricsConfig")
            .field("enabled", &self.enabled)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .finish()
    }
}

/// `[auth]`: optional API keys. With none, only loopback binds are allowed (unless the
/// operator says otherwise).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    #[serde(default)]
    pub keys: Vec<ApiKeyConfig>,
    /// Serve a non-loopback address with no key configured (everyone there controls Tributary).
    #[serde(default)]
    pub allow_unauthenticated_remote: bool,
}

/// One `[[auth.keys]]` entry, sent by clients as `X-API-Key`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    pub name: String,
    pub key: String,
    #[serde(default)]
    pub role: KeyRole,
    /// Networks the key may be used from (e.g. "192.168.1.0/24"); any when empty.
    #[serde(default)]
    pub cidrs: Vec<String>,
}

impl std::fmt::Debug for ApiKeyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key itself never reaches a log.
        f.debug_struct("ApiKeyConfig")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("cidrs", &self.cidrs)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyRole {
    /// GET only.
    #[default]
    Readonly,
    /// Everything.
    Admin,
}

/// `[engine]`: queue policy. Every key is optional; the defaults are the design's.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    pub concurrency_per_provider: Option<usize>,
    pub poll_interval_ms: Option<u64>,
    pub stall_timeout_secs: Option<u64>,
    pub queue_timeout_secs: Option<u64>,
    pub stall_grace_secs: Option<u64>,
    pub search_timeout_secs: Option<u64>,
    /// The longest the engine waits for one provider's search to complete (default 120).
    pub search_max_secs: Option<u64>,
    pub max_retries: Option<u32>,
    /// Delays before automatic retries, e.g. [60, 300, 900].
    pub retry_backoff_secs: Option<Vec<u64>>,
    /// Best first, e.g. ["flac", "mp3:320", "mp3"].
    pub preferred_formats: Option<Vec<String>>,
    /// How long a client's idempotency key is remembered (default 24).
    pub idempotency_key_hours: Option<u64>,
}

impl EngineConfig {
    pub fn settings(&self) -> Result<crate::engine::settings::EngineSettings, String> {
        use crate::engine::ranking::FormatPreference;
        let mut s = crate::engine::settings::EngineSettings::default();
        if let Some(v) = self.concurrency_per_provider {
            if v == 0 {
                return Err("engine.concurrency_per_provider must be at least 1".into());
            }
            s.concurrency_per_provider = v;
        }
        if let Some(v) = self.poll_interval_ms {
            s.poll_interval = Duration::from_millis(v.max(100));
        }
        if let Some(v) = self.stall_timeout_secs {
            s.stall_timeout = Duration::from_secs(v);
        }
        if let Some(v) = self.queue_timeout_secs {
            s.queue_timeout = Duration::from_secs(v);
        }
        if let Some(v) = self.stall_grace_secs {
            s.stall_grace = Duration::from_secs(v);
        }
        if let Some(v) = self.search_timeout_secs {
            s.search_timeout = Duration::from_secs(v.clamp(1, 300));
        }
        if let Some(v) = self.search_max_secs {
            if v == 0 {
                return Err("engine.search_max_secs must be at least 1".into());
            }
            s.search_max = Duration::from_secs(v.min(3600));
        }
        if let Some(v) = self.max_retries {
            s.retry.max_retries = v;
        }
        if let Some(v) = &self.retry_backoff_secs {
            if v.is_empty() {
                return Err("engine.retry_backoff_secs must not be empty".into());
            }
            s.retry.backoff = v.iter().map(|secs| Duration::from_secs(*secs)).collect();
        }
        if let Some(v) = self.idempotency_key_hours {
            if !(1..=8760).contains(&v) {
                return Err("engine.idempotency_key_hours must be from 1 to 8760".into());
            }
            s.idempotency_key_ttl = Duration::from_secs(v * 3600);
        }
        if let Some(list) = &self.preferred_formats {
            s.ranking.formats = list
                .iter()
                .map(|f| {
                    FormatPreference::parse(f).ok_or_else(|| {
                        format!(
                            "engine.preferred_formats: {f:?} is not like \"flac\" or \"mp3:320\""
                        )
                    })
                })
                .collect::<Result<_, _>>()?;
        }
        Ok(s)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    #[serde(default = "default_bind")]
    pub bind: SocketAddr,
    /// The Download Center's templates, static files and installed front-end packages.
    #[serde(default = "default_templates_dir")]
    pub templates_dir: PathBuf,
    /// Re-read templates from disk on every request (for working on them).
    #[serde(default)]
    pub dev_templates: bool,
    /// Host names this server answers to besides IP literals and `localhost` (e.g. the name a
    /// reverse proxy forwards, or "nas.lan"); `*.example.com` covers the subdomains. Any other
    /// name is refused, which stops DNS-rebinding pages.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            bind: default_bind(),
            templates_dir: default_templates_dir(),
            dev_templates: false,
            allowed_hosts: Vec::new(),
        }
    }
}

fn default_templates_dir() -> PathBuf {
    PathBuf::from("./templates")
}

fn default_bind() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8765))
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    #[serde(default = "default_storage_path")]
    pub path: PathBuf,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            path: default_storage_path(),
        }
    }
}

fn default_storage_path() -> PathBuf {
    PathBuf::from("./data/tributary.redb")
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginsConfig {
    /// `<dir>/<id>/plugin.toml` plus the `.wasm` it names.
    #[serde(default = "default_plugins_dir")]
    pub dir: PathBuf,
    /// Where compiled plugins are cached; by default `plugin-cache/` beside the database.
    #[serde(default)]
    pub cache_dir: Option<PathBuf>,
    /// A DNS server for plugin host names (e.g. "192.168.1.1:53"); the system's by default.
    #[serde(default)]
    pub dns_server: Option<SocketAddr>,
    /// Reload plugins when their folder changes (SIGHUP and the API reload in any case).
    #[serde(default = "default_true")]
    pub watch: bool,
}

impl Default for PluginsConfig {
    fn default() -> Self {
        Self {
            dir: default_plugins_dir(),
            cache_dir: None,
            dns_server: None,
            watch: true,
        }
    }
}

fn default_plugins_dir() -> PathBuf {
    PathBuf::from("./plugins")
}

/// A plugin's grant: sandbox settings and the plugin's own config values, in one section.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ProviderGrant {
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Origins (`scheme://host:port`) this plugin may call; intersected with what it declares.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Hard deadline of one plugin call.
    #[serde(default)]
    pub call_timeout_ms: Option<u64>,
    /// Cap on the plugin's linear memory.
    #[serde(default)]
    pub memory_limit_mb: Option<u64>,
    /// Timeout of one outbound HTTP request.
    #[serde(default)]
    pub http_timeout_ms: Option<u64>,
    /// Cap on one HTTP response body.
    #[serde(default)]
    pub max_response_bytes: Option<u64>,
    /// Remove a transfer from the provider's list once its download has ended (default on).
    #[serde(default)]
    pub remove_finished: Option<bool>,
    /// Searches and enqueues sent to this provider at once (default 1 each: slskd answers 429
    /// past one search and two enqueues).
    #[serde(default)]
    pub search_concurrency: Option<usize>,
    #[serde(default)]
    pub enqueue_concurrency: Option<usize>,
    /// How the provider's file paths read here, e.g. `[["/downloads", "/mnt/slskd/downloads"]]`
    /// for slskd in a container (as Lidarr's remote path mappings).
    #[serde(default)]
    pub path_map: Vec<[String; 2]>,
    /// Every other key is a config value for the plugin (`url`, `api_key`, ...).
    #[serde(flatten)]
    pub settings: BTreeMap<String, SettingValue>,
}

fn default_true() -> bool {
    true
}

/// A plugin config value as written in TOML or the environment; plugins receive it as text.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum SettingValue {
    Text(String),
    Integer(i64),
    Float(f64),
    Bool(bool),
}

impl SettingValue {
    pub fn as_text(&self) -> String {
        match self {
            SettingValue::Text(s) => s.clone(),
            SettingValue::Integer(i) => i.to_string(),
            SettingValue::Float(f) => f.to_string(),
            SettingValue::Bool(b) => b.to_string(),
        }
    }
}

/// The sandbox limits one plugin runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SandboxLimits {
    pub call_timeout: Duration,
    pub memory_bytes: usize,
    pub http_timeout: Duration,
    pub max_response_bytes: u64,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        Self {
            call_timeout: Duration::from_secs(10),
            memory_bytes: 64 * 1024 * 1024,
            http_timeout: Duration::from_secs(10),
            max_response_bytes: 8 * 1024 * 1024,
        }
    }
}

impl ProviderGrant {
    /// The engine's options for this provider.
    pub fn options(&self) -> crate::engine::provider_slot::ProviderOptions {
        let d = crate::engine::provider_slot::ProviderOptions::default();
        crate::engine::provider_slot::ProviderOptions {
            remove_finished: self.remove_finished.unwrap_or(d.remove_finished),
            search_turns: self.search_concurrency.unwrap_or(d.search_turns).max(1),
            enqueue_turns: self.enqueue_concurrency.unwrap_or(d.enqueue_turns).max(1),
            config_fingerprint: self.fingerprint(),
            path_map: self
                .path_map
                .iter()
                .map(|[from, to]| (from.clone(), to.clone()))
                .collect(),
        }
    }

    /// A digest of what the operator granted and configured (hosts and every plugin setting):
    /// state recorded under another one (a breaker opened by a wrong URL or key) is reset.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for host in &self.allowed_hosts {
            h.update(host.as_bytes());
            h.update([0]);
        }
        h.update([1]);
        for (key, value) in &self.settings {
            h.update(key.as_bytes());
            h.update([0]);
            h.update(value.as_text().as_bytes());
            h.update([0]);
        }
        hex::encode(&h.finalize()[..8])
    }

    pub fn limits(&self) -> SandboxLimits {
        let d = SandboxLimits::default();
        SandboxLimits {
            call_timeout: self
                .call_timeout_ms
                .map_or(d.call_timeout, Duration::from_millis),
            memory_bytes: self.memory_limit_mb.map_or(d.memory_bytes, |mb| {
                usize::try_from(mb * 1024 * 1024).unwrap_or(usize::MAX)
            }),
            http_timeout: self
                .http_timeout_ms
                .map_or(d.http_timeout, Duration::from_millis),
            max_response_bytes: self.max_response_bytes.unwrap_or(d.max_response_bytes),
        }
    }
}

impl Config {
    /// Reads `path` (when given) and then the `TRIBUTARY_*` environment over it.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let mut figment = Figment::new();
        if let Some(path) = path {
            if !path.exists() {
                return Err(ConfigError::Missing(path.to_path_buf()));
            }
            figment = figment.merge(Toml::file(path));
        }
        Self::extract(figment.merge(Env::prefixed("TRIBUTARY_").split("__")))
    }

    /// Parses a TOML document (no environment): for tests and generated configs.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        Self::extract(Figment::new().merge(Toml::string(text)))
    }

    fn extract(figment: Figment) -> Result<Config, ConfigError> {
        figment
            .extract()
            .map_err(|e| ConfigError::Invalid(Box::new(e)))
    }

    /// Every `[[webhooks]]` entry, checked; names must differ.
    pub fn webhooks(&self) -> Result<Vec<crate::webhooks::Webhook>, String> {
        let hooks = self
            .webhooks
            .iter()
            .map(WebhookConfig::webhook)
            .collect::<Result<Vec<_>, _>>()?;
        for (i, h) in hooks.iter().enumerate() {
            if hooks[..i].iter().any(|other| other.name == h.name) {
                return Err(format!("webhooks: two webhooks are named {:?}", h.name));
            }
        }
        Ok(hooks)
    }

    /// The engine's settings: `[engine]`, `[verify]` and `[library]`.
    pub fn engine_settings(&self) -> Result<crate::engine::settings::EngineSettings, String> {
        let mut s = self.engine.settings()?;
        let beside = self
            .storage
            .path
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        self.verify.apply(&mut s.verify, &beside)?;
        s.library = self.library.settings()?;
        Ok(s)
    }

    /// Where compiled plugins are cached.
    pub fn plugin_cache_dir(&self) -> PathBuf {
        self.plugins.cache_dir.clone().unwrap_or_else(|| {
            self.storage
                .path
                .parent()
                .map_or_else(|| PathBuf::from("plugin-cache"), |p| p.join("plugin-cache"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_operator_contract() {
        let c = Config::from_toml("").unwrap();
        assert_eq!(c.server.bind.to_string(), "127.0.0.1:8765");
        assert_eq!(c.storage.path, PathBuf::from("./data/tributary.redb"));
        assert_eq!(c.plugins.dir, PathBuf::from("./plugins"));
        assert_eq!(c.plugin_cache_dir(), PathBuf::from("./data/plugin-cache"));
    }

    #[test]
    fn provider_sections_split_sandbox_settings_from_plugin_values() {
        let c = Config::from_toml(
            r#"
            [providers.slskd]
            url = "http://127.0.0.1:5030"
            api_key = "secret"
            allowed_hosts = ["http://127.0.0.1:5030"]
            call_timeout_ms = 2500
            retries = 3
            "#,
        )
        .unwrap();
        let g = &c.providers["slskd"];
        assert!(g.enabled);
        assert_eq!(g.allowed_hosts, vec!["http://127.0.0.1:5030"]);
        assert_eq!(g.limits().call_timeout, Duration::from_millis(2500));
        assert_eq!(g.limits().memory_bytes, 64 * 1024 * 1024);
        assert_eq!(g.settings["url"].as_text(), "http://127.0.0.1:5030");
        assert_eq!(g.settings["retries"].as_text(), "3");
        assert!(!g.settings.contains_key("allowed_hosts"));
    }

    #[test]
    fn the_example_configuration_is_valid() {
        let c = Config::from_toml(include_str!("../../../tributary.example.toml")).unwrap();
        assert_eq!(c.server.bind.to_string(), "127.0.0.1:8765");
        assert!(c.providers.contains_key("slskd"));
        c.engine.settings().unwrap();
    }

    #[test]
    fn unknown_top_level_keys_are_refused() {
        let err = Config::from_toml("[sever]\nbind = \"x\"").unwrap_err();
        assert!(err.to_string().contains("sever"), "{err}");
    }

    #[test]
    // figment's Jail fixes the closure's error type; its size is not ours to choose.
    #[allow(clippy::result_large_err)]
    fn environment_overrides_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.toml");
        std::fs::write(&path, "[server]\nbind = \"127.0.0.1:1\"\n").unwrap();
        figment::Jail::expect_with(|jail| {
            jail.set_env("TRIBUTARY_SERVER__BIND", "127.0.0.1:9999");
            jail.set_env("TRIBUTARY_PROVIDERS__SLSKD__API_KEY", "from-env");
            let c = Config::load(Some(&path)).unwrap();
            assert_eq!(c.server.bind.to_string(), "127.0.0.1:9999");
            assert_eq!(
                c.providers["slskd"].settings["api_key"].as_text(),
                "from-env"
            );
            Ok(())
        });
    }
}
