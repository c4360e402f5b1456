//! The assembled service: store, plugins, engine, live feed and HTTP server, started from a
//! [`Config`] and stopped gracefully.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::watch;

use crate::api::access::AccessPolicy;
use crate::api::host_names::AllowedHosts;
use crate::api::live::LiveFeed;
use crate::api::{AppState, HttpServer, router, service};
use crate::config::Config;
use crate::engine::clock::SystemClock;
use crate::engine::manager::{DownloadManager, Running};
use crate::engine::provider::Provider;
use crate::engine::provider_slot::ProviderOptions;
use crate::plugin_service::PluginService;
use crate::plugins::{PluginRegistry, PluginRuntime};
use crate::store::{StorageFailure, Store};
use crate::view::templates::Templates;

/// Requests in flight get this long to finish at shutdown.
const HTTP_GRACE: Duration = Duration::from_secs(5);

pub struct App {
    pub addr: SocketAddr,
    pub engine: DownloadManager,
    pub live: LiveFeed,
    running: Running,
    storage: watch::Receiver<Option<StorageFailure>>,
    storage_path: std::path::PathBuf,
    server: HttpServer,
    stop: watch::Sender<bool>,
    live_task: tokio::task::JoinHandle<()>,
    reload_task: tokio::task::JoinHandle<()>,
    webhook_task: tokio::task::JoinHandle<()>,
    pub plugins: Arc<PluginService>,
}

impl App {
    pub async fn start(config: &Config) -> anyhow::Result<App> {
        let settings = config
            .engine_settings()
            .map_err(anyhow::Error::msg)
            .context("invalid [engine], [verify] or [library] settings")?;
        let templates = Templates::load(&config.server.templates_dir, config.server.dev_templates).with_context(|| {
            format!(
                "the Download Center templates are missing at {} (run from the repository root, or set server.templates_dir)",
                config.server.templates_dir.display()
            )
        })?;
        let access = Arc::new(
            AccessPolicy::new(&config.auth)?.with_metrics_token(config.metrics.token.as_deref())?,
        );
        let hosts = AllowedHosts::new(&config.server.allowed_hosts)?;
        let insecure_notice = if !access.enabled() && !config.server.bind.ip().is_loopback() {
            if !config.auth.allow_unauthenticated_remote {
                anyhow::bail!(
                    "refusing to listen on {} without an API key: anyone on that network could control Tributary. \
                     Add [[auth.keys]], bind to 127.0.0.1, or set auth.allow_unauthenticated_remote = true",
                    config.server.bind
                );
            }
            let notice = "Tributary is reachable from the network without an API key (auth.allow_unauthenticated_remote is set).";
            tracing::warn!("{notice}");
            Some(notice.to_owned())
        } else {
            None
        };
        let webhooks = config
            .webhooks()
            .map_err(anyhow::Error::msg)
            .context("invalid [[webhooks]]")?;
        let store = Store::open(&config.storage.path)?;
        store.record_events(!webhooks.is_empty());
        let storage = store.failures();
        let runtime = PluginRuntime::new(config.plugin_cache_dir())?
            .with_dns_server(config.plugins.dns_server)?;
        let registry = PluginRegistry::new(runtime, &config.plugins.dir, config.providers.clone());
        let report = registry.reload().await;
        if report.installed.is_empty() {
            tracing::warn!(
                "no provider plugin loaded from {}: creating a download is refused (503) until one is; stored downloads wait for theirs (plugins reload when their folder changes, on SIGHUP, or on POST /api/plugins/reload)",
                config.plugins.dir.display()
            );
        }
        let options: BTreeMap<String, ProviderOptions> = config
            .providers
            .iter()
            .map(|(id, grant)| (id.clone(), grant.options()))
            .collect();
        let providers: Vec<(Arc<dyn Provider>, ProviderOptions)> = report
            .installed
            .iter()
            .map(|p| {
                let options = options.get(&p.descriptor().id).cloned().unwrap_or_default();
                (p.clone() as Arc<dyn Provider>, options)
            })
            .collect();
        let engine =
            DownloadManager::with_options(store, providers, settings, Arc::new(SystemClock))?;
        let plugins = Arc::new(PluginService::new(registry, engine.clone(), options));
        let running = engine.start()?;

        let listener = HttpServer::bind(config.server.bind)
            .with_context(|| format!("cannot listen on {}", config.server.bind))?;
        let (stop, stop_rx) = watch::channel(false);
        let live = LiveFeed::new();
        let live_task = tokio::spawn(live.clone().run(engine.clone(), stop_rx.clone()));
        let reload_task = plugins
            .clone()
            .spawn_triggers(config.plugins.watch, stop_rx.clone());
        // Deliveries left in the outbox by an earlier run go out too.
        let webhook_task = tokio::spawn(crate::webhooks::run(
            engine.clone(),
            webhooks,
            stop_rx.clone(),
        ));
        let state = AppState {
            engine: engine.clone(),
            live: live.clone(),
            active_lists: Default::default(),
            stats_bodies: Default::default(),
            plugins: plugins.clone(),
            shutdown: stop_rx,
            templates,
            insecure_notice,
            access: access.enabled().then(|| access.clone()),
        };
        let metrics = config.metrics.enabled.then(|| engine.metrics().clone());
        let routes = router(state, access, hosts, config.metrics.enabled);
        let server = HttpServer::start(listener, service(routes, metrics))?;
        tracing::info!("Tributary listening on http://{}", server.addr);
        Ok(App {
            addr: server.addr,
            engine,
            live,
            running,
            storage,
            storage_path: config.storage.path.clone(),
            server,
            stop,
            live_task,
            reload_task,
            webhook_task,
            plugins,
        })
    }

    /// Waits until the service should stop: `Ok` on SIGINT or SIGTERM, an error naming the cause
    /// when the database has failed for good (a full disk, an I/O error). Then call `shutdown`.
    /// Carrying on without a database would acknowledge changes that are never saved.
    pub async fn until_stopped(&self) -> anyhow::Result<()> {
        let mut storage = self.storage.clone();
        let failure = async {
            loop {
                if let Some(failure) = storage.borrow_and_update().clone() {
                    return failure;
                }
                if storage.changed().await.is_err() {
                    // The store is gone: only a signal can end the wait now.
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::select! {
            _ = shutdown_signal() => Ok(()),
            failure = failure => {
                tracing::error!("{failure}: stopping so that nothing is lost");
                Err(anyhow::anyhow!(
                    "Tributary stopped: {failure} (database {}). Everything acknowledged before \
                     this is saved; free space or repair the disk, then start Tributary again",
                    self.storage_path.display()
                ))
            }
        }
    }

    /// Stops taking requests, ends SSE streams, lets the write in progress finish, stops the
    /// engine's tasks.
    pub async fn shutdown(self) {
        self.stop.send_replace(true);
        self.server.stop(HTTP_GRACE).await;
        let _ = self.live_task.await;
        let _ = self.reload_task.await;
        let _ = self.webhook_task.await;
        self.running.shutdown().await;
        tracing::info!("stopped");
    }
}

/// Waits for SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
