//! Shared set-up for the end-to-end tests: real plugins built by `cargo xtask build-plugins`,
//! copied into a temporary plugins directory, loaded by the real runtime, talking to a real
//! emulator on loopback.

pub mod schema1_fixture;
pub mod webhook_receiver;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use slskd_emulator::{Emulator, EmulatorConfig};
use tributary::config::{ProviderGrant, SettingValue};
use tributary::engine::provider::{Provider, Source, Transfer};
use tributary::engine::provider_slot::ProviderOptions;
use tributary::plugins::{PluginRuntime, WasmProvider};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// A built plugin folder in the repository, e.g. `plugins/slskd`.
pub fn plugin_source(folder: &str) -> PathBuf {
    let dir = repo_root().join(folder);
    let has_wasm = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .any(|e| e.path().extension().is_some_and(|x| x == "wasm"))
        })
        .unwrap_or(false);
    assert!(
        has_wasm,
        "{} has no built .wasm: run `cargo xtask build-plugins` (or `cargo xtask test`)",
        dir.display()
    );
    dir
}

/// A temporary plugins directory holding copies of repository plugin folders.
pub struct PluginsDir {
    pub dir: tempfile::TempDir,
}

impl PluginsDir {
    pub fn with(folders: &[&str]) -> PluginsDir {
        let dir = tempfile::tempdir().expect("temp dir");
        for folder in folders {
            let source = plugin_source(folder);
            let name = source.file_name().expect("folder name");
            let target = dir.path().join(name);
            std::fs::create_dir_all(&target).expect("plugin folder");
            for entry in std::fs::read_dir(&source)
                .expect("read plugin folder")
                .filter_map(Result::ok)
            {
                let path = entry.path();
                let keep = path.extension().is_some_and(|x| x == "wasm")
                    || path.file_name().is_some_and(|n| n == "plugin.toml");
                if keep {
                    std::fs::copy(&path, target.join(entry.file_name())).expect("copy plugin file");
                }
            }
        }
        PluginsDir { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn folder(&self, id: &str) -> PathBuf {
        self.dir.path().join(id)
    }
}

/// A compile cache shared by the test processes, so each test does not recompile the plugins.
pub fn shared_cache_dir() -> PathBuf {
    repo_root().join("target").join("test-plugin-cache")
}

pub fn runtime() -> PluginRuntime {
    PluginRuntime::new(shared_cache_dir()).expect("plugin runtime")
}

/// The grant an operator would write for the slskd plugin against `emulator`.
pub fn slskd_grant(emulator: &Emulator, api_key: Option<&str>) -> ProviderGrant {
    grant_for(&emulator.url(), api_key)
}

/// The grant for the slskd plugin against an slskd at `url`.
pub fn grant_for(url: &str, api_key: Option<&str>) -> ProviderGrant {
    let mut settings = BTreeMap::new();
    settings.insert("url".to_owned(), SettingValue::Text(url.to_owned()));
    if let Some(key) = api_key {
        settings.insert("api_key".to_owned(), SettingValue::Text(key.to_owned()));
    }
    ProviderGrant {
        enabled: true,
        allowed_hosts: vec![url.to_owned()],
        settings,
        ..ProviderGrant::default()
    }
}

pub fn emulator_key() -> String {
    EmulatorConfig::default()
        .api_key
        .expect("the default emulator has a key")
}

/// The emulator's config for tests: sped up, and with peers answering searches in the order
/// they are listed (good peers first), so that a test that expects a download to come from a
/// good peer is deterministic. Tests of fail-over ask for the per-query order themselves.
pub fn test_emulator_config() -> EmulatorConfig {
    EmulatorConfig {
        speed_factor: 8.0,
        answer_order: slskd_emulator::AnswerOrder::PeerList,
        ..EmulatorConfig::default()
    }
}

/// An emulator sped up for tests.
pub async fn fast_emulator() -> Emulator {
    Emulator::start(test_emulator_config())
        .await
        .expect("emulator")
}

/// The slskd plugin loaded against `emulator` with the right key.
pub async fn slskd_against(emulator: &Emulator) -> (PluginsDir, Arc<WasmProvider>) {
    let plugins = PluginsDir::with(&["plugins/slskd"]);
    let grant = slskd_grant(emulator, Some(&emulator_key()));
    let (provider, _) = runtime()
        .load(&plugins.folder("slskd"), &grant)
        .await
        .expect("slskd plugin loads");
    (plugins, provider)
}

/// Polls the provider's transfers until `done` holds for the one matching `source`, or panics
/// after `timeout`.
pub async fn wait_for_transfer(
    provider: &dyn Provider,
    source: &Source,
    timeout: Duration,
    done: impl Fn(&Transfer) -> bool,
) -> Transfer {
    let started = Instant::now();
    let mut last = None;
    while started.elapsed() < timeout {
        let transfers = provider.list_transfers().await.expect("list transfers");
        if let Some(t) = transfers
            .iter()
            .find(|t| t.peer == source.peer() && t.filename == source.name() && done(t))
        {
            return t.clone();
        }
        last = Some(transfers);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "transfer {source:?} did not reach the expected state in {timeout:?}; last seen: {last:?}"
    );
}

/// A source from one of the emulator's peers.
pub fn source_from(peer: &str, title: &str) -> Source {
    Source::PeerFile {
        peer: peer.to_owned(),
        filename: format!("@@test\\Music\\{title}\\01 - {title}.flac"),
        size: 3_000_000,
    }
}

/// An engine over a fresh store in `dir`, with the slskd plugin against `emulator`, tuned for
/// tests (fast polls; the caller may shorten the stall and breaker timings further).
pub async fn engine_against(
    emulator: &Emulator,
    db: &Path,
    settings: tributary::engine::settings::EngineSettings,
) -> (
    PluginsDir,
    tributary::engine::manager::DownloadManager,
    tributary::engine::manager::Running,
) {
    engine_with_options(emulator, db, settings, ProviderOptions::default()).await
}

/// As [`engine_against`], with the operator's options for the slskd provider.
pub async fn engine_with_options(
    emulator: &Emulator,
    db: &Path,
    settings: tributary::engine::settings::EngineSettings,
    options: ProviderOptions,
) -> (
    PluginsDir,
    tributary::engine::manager::DownloadManager,
    tributary::engine::manager::Running,
) {
    let (plugins, slskd) = slskd_against(emulator).await;
    let (manager, running) = engine_over(slskd, options, db, settings);
    (plugins, manager, running)
}

/// A started engine over a fresh store at `db` with one provider.
pub fn engine_over(
    provider: Arc<dyn Provider>,
    options: ProviderOptions,
    db: &Path,
    settings: tributary::engine::settings::EngineSettings,
) -> (
    tributary::engine::manager::DownloadManager,
    tributary::engine::manager::Running,
) {
    let store = tributary::store::Store::open(db).expect("store");
    let manager = tributary::engine::manager::DownloadManager::with_options(
        store,
        vec![(provider, options)],
        settings,
        Arc::new(tributary::engine::clock::SystemClock),
    )
    .expect("engine");
    let running = manager.start().expect("engine starts");
    (manager, running)
}

/// Waits until download `id` is in `status`; panics after `within` with where it stands.
pub async fn wait_for_status(
    engine: &tributary::engine::manager::DownloadManager,
    id: uuid::Uuid,
    within: Duration,
    status: tributary::engine::download::Status,
) {
    let started = Instant::now();
    loop {
        let d = engine.get(id).expect("the download exists");
        if d.status == status {
            return;
        }
        assert!(
            started.elapsed() < within,
            "{status:?} within {within:?}: {:?} {:?} {:?}",
            d.status,
            d.status_message,
            d.error_message
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A loopback port nobody listens on now (for a daemon the test starts).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Waits until the daemon `child` (started with its stderr piped) listens on `port`; panics
/// with what it said if it exits, or after 20 s.
pub async fn until_listening(child: &mut std::process::Child, port: u16, name: &str) {
    use std::io::Read;
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            let mut said = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut said);
            }
            panic!("{name} exited ({status}): {said}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{name} does not listen on {port}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Settings for tests against a sped-up emulator.
pub fn fast_settings() -> tributary::engine::settings::EngineSettings {
    tributary::engine::settings::EngineSettings {
        poll_interval: Duration::from_millis(200),
        dispatch_interval: Duration::from_millis(100),
        search_timeout: Duration::from_secs(2),
        search_poll: Duration::from_millis(100),
        progress_persist_interval: Duration::from_millis(500),
        ..Default::default()
    }
}

/// Waits until `done` holds for the engine's statistics/records, or panics after `timeout`.
pub async fn wait_until(timeout: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while started.elapsed() < timeout {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out after {timeout:?} waiting for {what}");
}

/// The store's counters must always equal a full recount.
pub fn assert_counters_match(manager: &tributary::engine::manager::DownloadManager) {
    let counts = manager.store().counts().expect("counts");
    let (recount, _) = manager.store().recount().expect("recount");
    assert_eq!(counts, recount, "counters disagree with a recount");
}

/// A reqwest client builder for tests. reqwest is built without a bundled TLS provider (the
/// host picks ring), so every client must be built after one is installed; doing it here keeps
/// a test from passing or panicking depending on which test of the binary ran first.
pub fn http_client_builder() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}

/// Batch `batch` of 10,000 stored downloads for the store benchmarks, made from `template`:
/// nine in ten completed (spread over the last few days), the rest as the template is.
pub fn stored_batch(
    template: &tributary::engine::download::Download,
    batch: u64,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<tributary::engine::download::Download> {
    (0..10_000u64)
        .map(|i| {
            let mut d = template.clone();
            d.id = uuid::Uuid::new_v4();
            d.track_id = d.id.to_string();
            d.track.title = format!("Stored {batch}-{i}");
            if i % 10 != 0 {
                d.status = tributary::engine::download::Status::Completed;
                d.completed_at = Some(now - Duration::from_secs((i % 5000) * 60));
                d.status_since = d.completed_at.unwrap_or(now);
                d.bytes_downloaded = 30_000_000;
                d.total_bytes = 30_000_000;
            }
            d
        })
        .collect()
}

/// The whole service (store, plugins, engine, HTTP) on a loopback port, against `emulator`.
pub struct TestApp {
    pub app: tributary::app::App,
    pub base: String,
    pub client: reqwest::Client,
    _data: tempfile::TempDir,
    _plugins: PluginsDir,
}

impl TestApp {
    pub async fn start(emulator: &Emulator) -> TestApp {
        Self::start_with(emulator, |_| {}).await
    }

    /// Starts with the test config adjusted by `adjust` (e.g. to add API keys).
    pub async fn start_with(
        emulator: &Emulator,
        adjust: impl FnOnce(&mut tributary::config::Config),
    ) -> TestApp {
        let plugins = PluginsDir::with(&["plugins/slskd"]);
        let data = tempfile::tempdir().expect("data dir");
        let mut config = tributary::config::Config::default();
        config.server.bind = "127.0.0.1:0".parse().expect("addr");
        config.storage.path = data.path().join("t.redb");
        config.plugins.dir = plugins.path().to_path_buf();
        config.plugins.cache_dir = Some(shared_cache_dir());
        config
            .providers
            .insert("slskd".into(), slskd_grant(emulator, Some(&emulator_key())));
        config.server.templates_dir = repo_root().join("templates");
        config.engine.poll_interval_ms = Some(200);
        config.engine.search_timeout_secs = Some(2);
        adjust(&mut config);
        let app = tributary::app::App::start(&config)
            .await
            .expect("app starts");
        let base = format!("http://{}", app.addr);
        // No connection pool: a server that refuses a request without reading its body closes
        // the connection, and a pooled client could race to reuse it.
        let client = http_client_builder()
            .pool_max_idle_per_host(0)
            .build()
            .expect("client");
        TestApp {
            app,
            base,
            client,
            _data: data,
            _plugins: plugins,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The folder of the database (and of what lives beside it: the quarantine).
    pub fn app_data_dir(&self) -> &Path {
        self._data.path()
    }

    /// The plugins directory the server loads from (a copy: tests may change it).
    pub fn plugins_dir(&self) -> &Path {
        self._plugins.path()
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .send()
            .await
            .expect("request")
    }

    pub async fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let res = self.get(path).await;
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// The answer's body as text (a page or partial), whatever the status.
    pub async fn get_text(&self, path: &str) -> String {
        self.get(path).await.text().await.expect("a text body")
    }

    pub async fn send_json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let res = self
            .client
            .request(method, self.url(path))
            .json(&body)
            .send()
            .await
            .expect("request");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// `POST /api/downloads` for a track; expects 201 and returns the download.
    pub async fn create(&self, artist: &str, title: &str) -> serde_json::Value {
        let (status, body) = self
            .send_json(
                reqwest::Method::POST,
                "/api/downloads",
                serde_json::json!({"artist": artist, "title": title}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body
    }

    /// A per-download action without a body: `POST /api/downloads/{id}/{action}`.
    pub async fn act(&self, id: &str, action: &str) -> (u16, serde_json::Value) {
        self.send_json(
            reqwest::Method::POST,
            &format!("/api/downloads/{id}/{action}"),
            serde_json::Value::Null,
        )
        .await
    }

    pub async fn shutdown(self) {
        self.app.shutdown().await;
    }
}

/// `wasm` with a custom section appended: the same component, another sha256 (so the compile
/// cache has never seen it).
pub fn with_custom_section(wasm: &[u8], name: &str, payload: &[u8]) -> Vec<u8> {
    fn leb128(mut n: usize, out: &mut Vec<u8>) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                out.push(byte);
                return;
            }
            out.push(byte | 0x80);
        }
    }
    let mut body = Vec::new();
    leb128(name.len(), &mut body);
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(payload);
    let mut out = wasm.to_vec();
    out.push(0); // custom section id
    leb128(body.len(), &mut out);
    out.extend_from_slice(&body);
    out
}
