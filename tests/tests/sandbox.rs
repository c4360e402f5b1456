//! Hostile plugins against the real runtime: each misdeed is stopped, and the host keeps
//! serving — the next call to a healthy plugin works.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tributary::config::{ProviderGrant, SettingValue};
use tributary::engine::provider::{Provider, ProviderError, TrackQuery, TrapKind};
use tributary::plugins::compile_cache::CacheOutcome;
use tributary::plugins::{LoadError, PluginRuntime, WasmProvider};
use tributary_tests::{PluginsDir, fast_emulator, runtime, slskd_against};

fn order(title: &str) -> TrackQuery {
    TrackQuery {
        artist: "x".into(),
        title: title.into(),
        album: None,
        duration_secs: None,
        search_timeout_ms: 1000,
    }
}

fn hostile_grant(url: &str, allowed: &[&str]) -> ProviderGrant {
    let mut settings = BTreeMap::new();
    settings.insert("url".to_owned(), SettingValue::Text(url.to_owned()));
    ProviderGrant {
        enabled: true,
        allowed_hosts: allowed.iter().map(|s| (*s).to_owned()).collect(),
        call_timeout_ms: Some(1_000),
        memory_limit_mb: Some(16),
        settings,
        ..ProviderGrant::default()
    }
}

async fn hostile(grant: &ProviderGrant) -> (PluginsDir, Arc<WasmProvider>) {
    let plugins = PluginsDir::with(&["tests/plugins/hostile"]);
    let (provider, _) = runtime()
        .load(&plugins.folder("hostile"), grant)
        .await
        .expect("hostile plugin loads");
    (plugins, provider)
}

fn trap_kind(result: Result<String, ProviderError>) -> (TrapKind, String) {
    match result {
        Err(ProviderError::Trapped { kind, message }) => (kind, message),
        other => panic!("expected a trap, got {other:?}"),
    }
}

#[tokio::test]
async fn misdeeds_are_stopped_and_the_host_keeps_serving() {
    let emulator = fast_emulator().await;
    let (_slskd_dir, slskd) = slskd_against(&emulator).await;
    let (_dir, plugin) = hostile(&hostile_grant(&emulator.url(), &[&emulator.url()])).await;

    // An infinite loop is interrupted at its deadline.
    let started = Instant::now();
    let (kind, _) = trap_kind(plugin.start_search(&order("spin")).await);
    assert_eq!(kind, TrapKind::Deadline);
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(1_600),
        "spin stopped after {took:?}"
    );
    slskd
        .ping()
        .await
        .expect("a healthy plugin still answers after a spin");
    // A good call in between: three traps in a row would quarantine the plugin (tested below).
    assert_eq!(
        plugin
            .start_search(&order("fine"))
            .await
            .expect("fresh instance"),
        "ok"
    );

    // A guest blocked in a WASI wait is cut off by the outer timeout.
    let started = Instant::now();
    let (kind, _) = trap_kind(plugin.start_search(&order("sleep")).await);
    assert_eq!(kind, TrapKind::Deadline);
    assert!(
        started.elapsed() < Duration::from_millis(1_600),
        "sleep stopped after {:?}",
        started.elapsed()
    );

    // A memory bomb hits the cap.
    let (kind, message) = trap_kind(plugin.start_search(&order("bomb")).await);
    assert_eq!(kind, TrapKind::MemoryLimit, "{message}");
    slskd
        .ping()
        .await
        .expect("a healthy plugin still answers after a memory bomb");
    // A good call in between: three traps in a row would quarantine the plugin (tested below).
    assert_eq!(
        plugin
            .start_search(&order("fine"))
            .await
            .expect("fresh instance"),
        "ok"
    );

    // A panic surfaces as an error with the plugin's own message.
    let (kind, message) = trap_kind(plugin.start_search(&order("panic")).await);
    assert_eq!(kind, TrapKind::Crash);
    assert!(message.contains("panics on purpose"), "{message}");

    // Each trap threw the instance away: the same plugin works on the next call.
    assert_eq!(
        plugin
            .start_search(&order("fine"))
            .await
            .expect("fresh instance"),
        "ok"
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn requests_outside_the_grant_are_refused_without_any_traffic() {
    let emulator = fast_emulator().await;
    // A listener that must never see a connection.
    let watcher = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
    watcher.set_nonblocking(true).expect("nonblocking");
    let forbidden = format!("http://{}/steal", watcher.local_addr().expect("addr"));

    // Declared (via {url}) and granted: the emulator only.
    let (_dir, plugin) = hostile(&hostile_grant(&emulator.url(), &[&emulator.url()])).await;
    let err = plugin
        .start_search(&order(&format!("http:{forbidden}")))
        .await
        .unwrap_err();
    // Refused by our own configuration: not the provider's failure, and it says what to do.
    assert!(
        matches!(&err, ProviderError::Misconfigured(m) if m.contains("does not declare")),
        "{err}"
    );
    let allowed = plugin
        .start_search(&order(&format!("http:{}/health", emulator.url())))
        .await;
    assert_eq!(allowed.expect("granted host answers"), "status 200");

    // Granted by the operator but not declared by the plugin: still refused.
    let (_dir2, plugin) = hostile(&hostile_grant(
        &emulator.url(),
        &[&emulator.url(), &forbidden],
    ))
    .await;
    let err = plugin
        .start_search(&order(&format!("http:{forbidden}")))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ProviderError::Misconfigured(m) if m.contains("does not declare")),
        "{err}"
    );

    // Declared but not granted: refused, and the refusal names the grant to add.
    let (_dir3, plugin) = hostile(&hostile_grant(&emulator.url(), &[])).await;
    let err = plugin
        .start_search(&order(&format!("http:{}/health", emulator.url())))
        .await
        .unwrap_err();
    let fix = format!(
        "add \"{}\" to allowed_hosts under [providers.hostile]",
        emulator.url()
    );
    assert!(
        matches!(&err, ProviderError::Misconfigured(m) if m.contains(&fix)),
        "{err}"
    );
    assert!(
        !err.counts_against_provider(),
        "our own configuration never opens the provider's breaker"
    );

    // Other schemes never pass, and no configuration would let them: the plugin's error.
    let err = plugin
        .start_search(&order("http:file:///etc/passwd"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Denied"), "{err}");

    assert!(
        matches!(watcher.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "a refused request must not reach the network"
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn a_plugin_reads_only_its_declared_config() {
    let mut grant = hostile_grant("http://127.0.0.1:9", &[]);
    grant.settings.insert(
        "undeclared".to_owned(),
        SettingValue::Text("operator value".to_owned()),
    );
    let (_dir, plugin) = hostile(&grant).await;
    assert_eq!(
        plugin.start_search(&order("config:url")).await.unwrap(),
        "http://127.0.0.1:9"
    );
    assert_eq!(
        plugin
            .start_search(&order("config:undeclared"))
            .await
            .unwrap(),
        "<none>"
    );
    assert_eq!(
        plugin.start_search(&order("config:HOME")).await.unwrap(),
        "<none>"
    );
}

/// Collects what tracing writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    /// Captures this thread's logs (so the test must run on a current-thread runtime) until the
    /// guard is dropped.
    fn install() -> (Captured, tracing::subscriber::DefaultGuard) {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        (captured, tracing::subscriber::set_default(subscriber))
    }

    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn plugin_logs_are_tagged_and_secrets_redacted() {
    let (captured, _guard) = Captured::install();

    let (_dir, plugin) = hostile(&hostile_grant("http://127.0.0.1:9", &[])).await;
    assert_eq!(
        plugin.start_search(&order("log-secret")).await.unwrap(),
        "logged"
    );
    let text = captured.text();
    assert!(
        text.contains("plugin=\"hostile\"") || text.contains("plugin=hostile"),
        "{text}"
    );
    assert!(text.contains("the secret is [redacted]"), "{text}");
    assert!(!text.contains("hostile-secret-value"), "{text}");
}

#[tokio::test]
async fn a_plugin_for_an_unknown_wit_version_is_refused_and_the_others_load() {
    let emulator = fast_emulator().await;
    let plugins = PluginsDir::with(&["plugins/slskd", "tests/plugins/future-wit"]);
    let mut grants = BTreeMap::new();
    grants.insert(
        "slskd".to_owned(),
        tributary_tests::slskd_grant(&emulator, Some(&tributary_tests::emulator_key())),
    );
    let report = runtime().load_dir(plugins.path(), &grants).await;
    assert_eq!(report.loaded.len(), 1);
    assert_eq!(report.loaded[0].0.descriptor().id, "slskd");
    assert_eq!(report.refused.len(), 1);
    let message = report.refused[0].1.to_string();
    assert!(
        message.contains("tributary:provider@0.9.0")
            && message.contains("tributary:provider@0.1.0"),
        "{message}"
    );
    report.loaded[0]
        .0
        .ping()
        .await
        .expect("the loaded plugin works");

    // A manifest that lies about the version is caught by the component's own imports.
    let manifest = plugins.folder("future-wit").join("plugin.toml");
    let text = std::fs::read_to_string(&manifest)
        .unwrap()
        .replace("api_version = \"0.9.0\"", "api_version = \"0.1.0\"");
    std::fs::write(&manifest, text).unwrap();
    let err = runtime()
        .load(&plugins.folder("future-wit"), &ProviderGrant::default())
        .await
        .unwrap_err();
    assert!(matches!(err, LoadError::UnsupportedApi { .. }), "{err}");
    assert!(
        err.to_string().contains("@0.9.0") && err.to_string().contains("@0.1.0"),
        "{err}"
    );
    emulator.shutdown().await;
}

#[tokio::test]
async fn broken_plugin_folders_are_refused_with_clear_errors() {
    let plugins = PluginsDir::with(&["tests/plugins/hostile"]);
    let folder = plugins.folder("hostile");
    let manifest = folder.join("plugin.toml");
    let original = std::fs::read_to_string(&manifest).unwrap();
    let rt = runtime();
    let grant = hostile_grant("http://127.0.0.1:9", &[]);

    std::fs::write(
        &manifest,
        format!("sha256 = \"{}\"\n{original}", "0".repeat(64)),
    )
    .unwrap();
    let err = rt.load(&folder, &grant).await.unwrap_err().to_string();
    assert!(err.contains("sha256 mismatch"), "{err}");

    std::fs::write(&manifest, original.replace("kind = \"test\"\n", "")).unwrap();
    let err = rt.load(&folder, &grant).await.unwrap_err().to_string();
    assert!(err.contains("field `kind` is missing"), "{err}");

    std::fs::write(&manifest, original.replace("hostile.wasm", "gone.wasm")).unwrap();
    let err = rt.load(&folder, &grant).await.unwrap_err().to_string();
    assert!(
        err.contains("gone.wasm") && err.contains("does not exist"),
        "{err}"
    );

    std::fs::write(folder.join("junk.wasm"), b"not wasm at all").unwrap();
    std::fs::write(&manifest, original.replace("hostile.wasm", "junk.wasm")).unwrap();
    let err = rt.load(&folder, &grant).await.unwrap_err().to_string();
    assert!(err.contains("not a valid WebAssembly component"), "{err}");

    std::fs::write(
        &manifest,
        original
            .replace("[config.api_key]", "[config.api_key]\nrequired = true")
            .replace("default = \"hostile-secret-value\"", ""),
    )
    .unwrap();
    let err = rt.load(&folder, &grant).await.unwrap_err().to_string();
    assert!(err.contains("`api_key` is required"), "{err}");
}

#[tokio::test]
async fn compiled_plugins_are_cached_on_disk() {
    let cache = tempfile::tempdir().unwrap();
    let plugins = PluginsDir::with(&["tests/plugins/hostile"]);
    let grant = hostile_grant("http://127.0.0.1:9", &[]);
    let first = PluginRuntime::new(cache.path()).unwrap();
    let (_, stats) = first
        .load(&plugins.folder("hostile"), &grant)
        .await
        .unwrap();
    assert_eq!(stats.cache, CacheOutcome::Compiled);
    let second = PluginRuntime::new(cache.path()).unwrap();
    let (plugin, stats) = second
        .load(&plugins.folder("hostile"), &grant)
        .await
        .unwrap();
    assert_eq!(stats.cache, CacheOutcome::Hit);
    assert_eq!(plugin.start_search(&order("fine")).await.unwrap(), "ok");
    let entries: Vec<_> = std::fs::read_dir(cache.path())
        .unwrap()
        .filter_map(Result::ok)
        .collect();
    assert_eq!(entries.len(), 1, "one artifact, no temporary files left");
}

#[tokio::test]
async fn a_plugin_that_keeps_crashing_is_quarantined_then_tried_again() {
    let (_dir, plugin) = hostile(&hostile_grant("http://127.0.0.1:9", &[])).await;
    for _ in 0..3 {
        let (kind, _) = trap_kind(plugin.start_search(&order("panic")).await);
        assert_eq!(kind, TrapKind::Crash);
    }
    let started = Instant::now();
    let err = plugin.start_search(&order("fine")).await.unwrap_err();
    assert!(
        matches!(&err, ProviderError::PluginUnavailable(m) if m.contains("quarantined")),
        "{err}"
    );
    assert!(
        err.counts_against_provider(),
        "a quarantined plugin counts against its breaker"
    );
    assert!(
        started.elapsed() < Duration::from_millis(50),
        "no instance was even made"
    );
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    assert_eq!(
        plugin.start_search(&order("fine")).await.unwrap(),
        "ok",
        "tried again after the wait"
    );
}

/// A real HTTP server on loopback that answers every request with `response` after `delay`,
/// and counts connections (and the most open at once).
struct Stub {
    url: String,
    total: Arc<std::sync::atomic::AtomicUsize>,
    peak: Arc<std::sync::atomic::AtomicUsize>,
}

async fn stub(response: &'static str, delay: Duration) -> Stub {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let total = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let open = Arc::new(AtomicUsize::new(0));
    let (t, p) = (total.clone(), peak.clone());
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            t.fetch_add(1, Ordering::SeqCst);
            let now = open.fetch_add(1, Ordering::SeqCst) + 1;
            p.fetch_max(now, Ordering::SeqCst);
            let open = open.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                tokio::time::sleep(delay).await;
                // In flight until the answer goes out: the client frees its slot only after
                // reading it, so counting past that point would see one request too many.
                open.fetch_sub(1, Ordering::SeqCst);
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    Stub { url, total, peak }
}

#[tokio::test]
async fn a_redirect_out_of_the_grant_is_not_followed() {
    use std::sync::atomic::Ordering;
    let target = stub(
        "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
        Duration::ZERO,
    )
    .await;
    let redirect: &'static str = Box::leak(
        format!("HTTP/1.1 302 Found\r\nlocation: {}/stolen\r\ncontent-length: 0\r\nconnection: close\r\n\r\n", target.url).into_boxed_str(),
    );
    let granted = stub(redirect, Duration::ZERO).await;
    let (_dir, plugin) = hostile(&hostile_grant(&granted.url, &[&granted.url])).await;
    let answer = plugin
        .start_search(&order(&format!("http:{}/go", granted.url)))
        .await
        .unwrap();
    assert_eq!(answer, "status 302", "the plugin sees the redirect itself");
    assert_eq!(granted.total.load(Ordering::SeqCst), 1);
    assert_eq!(
        target.total.load(Ordering::SeqCst),
        0,
        "the redirect target was never contacted"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_flood_is_bounded_and_the_host_stays_responsive() {
    use std::sync::atomic::Ordering;
    let emulator = fast_emulator().await;
    let (_slskd_dir, slskd) = slskd_against(&emulator).await;
    let slow = stub(
        "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        Duration::from_millis(300),
    )
    .await;
    let mut grant = hostile_grant(&slow.url, &[&slow.url]);
    grant.call_timeout_ms = Some(10_000);
    let (_dir, plugin) = hostile(&grant).await;
    let mut calls = Vec::new();
    for _ in 0..40 {
        let plugin = plugin.clone();
        let url = slow.url.clone();
        calls.push(tokio::spawn(async move {
            plugin
                .start_search(&order(&format!("http:{url}/flood")))
                .await
        }));
    }
    // Ping only once the flood fills the plugin's eight slots.
    let flooding = Instant::now();
    while slow.peak.load(Ordering::SeqCst) < 8 {
        assert!(
            flooding.elapsed() < Duration::from_secs(10),
            "the flood never reached 8 requests in flight"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let started = Instant::now();
    slskd
        .ping()
        .await
        .expect("another plugin answers during the flood");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "ping took {:?}",
        started.elapsed()
    );
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap(), "status 200");
    }
    assert_eq!(slow.total.load(Ordering::SeqCst), 40);
    let peak = slow.peak.load(Ordering::SeqCst);
    assert!(
        peak <= 8,
        "at most 8 requests of one plugin in flight, saw {peak}"
    );
    emulator.shutdown().await;
}

/// A real DNS server on loopback: answers every A query with the address currently in `answer`
/// (time-to-live 0, so nothing is cached).
async fn dns_server(answer: Arc<Mutex<std::net::Ipv4Addr>>) -> std::net::SocketAddr {
    use hickory_proto::op::Message;
    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::{RData, Record, RecordType};
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = socket.recv_from(&mut buf).await {
            let Ok(query) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let mut reply = Message::response(query.metadata.id, query.metadata.op_code);
            reply.metadata.recursion_desired = query.metadata.recursion_desired;
            reply.metadata.recursion_available = true;
            reply.add_queries(query.queries.clone());
            for q in &query.queries {
                if q.query_type() == RecordType::A {
                    let ip = *answer.lock().unwrap();
                    reply.add_answer(Record::from_rdata(q.name().clone(), 0, RData::A(A(ip))));
                }
            }
            if let Ok(bytes) = reply.to_vec() {
                let _ = socket.send_to(&bytes, from).await;
            }
        }
    });
    addr
}

#[tokio::test]
async fn a_granted_name_that_rebinds_to_another_address_is_refused() {
    use std::sync::atomic::Ordering;
    // The granted service, on 127.0.0.1; a watcher on 127.0.0.2 at the same port, where a
    // rebinding attacker would want the plugin to go.
    let service = stub(
        "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        Duration::ZERO,
    )
    .await;
    let port = service.url.rsplit(':').next().unwrap().to_owned();
    let watcher = std::net::TcpListener::bind(format!("127.0.0.2:{port}"))
        .expect("127.0.0.2 is loopback too");
    watcher.set_nonblocking(true).unwrap();
    let answer = Arc::new(Mutex::new(std::net::Ipv4Addr::new(127, 0, 0, 1)));
    let dns = dns_server(answer.clone()).await;

    let url = format!("http://rebind.test:{port}");
    let plugins = PluginsDir::with(&["tests/plugins/hostile"]);
    let runtime = PluginRuntime::new(tributary_tests::shared_cache_dir())
        .unwrap()
        .with_dns_server(Some(dns))
        .unwrap();
    let (plugin, _) = runtime
        .load(&plugins.folder("hostile"), &hostile_grant(&url, &[&url]))
        .await
        .unwrap();
    assert_eq!(
        plugin
            .start_search(&order(&format!("http:{url}/ok")))
            .await
            .unwrap(),
        "status 200"
    );
    assert_eq!(service.total.load(Ordering::SeqCst), 1);

    // Rebound while the pin holds: the plugin still reaches the address it was granted with.
    *answer.lock().unwrap() = std::net::Ipv4Addr::new(127, 0, 0, 2);
    assert_eq!(
        plugin
            .start_search(&order(&format!("http:{url}/steal")))
            .await
            .unwrap(),
        "status 200"
    );
    assert_eq!(service.total.load(Ordering::SeqCst), 2);
    assert!(
        matches!(watcher.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the rebound address was never contacted"
    );
}

/// A service on `addr` answering 200 to every request until the handle is dropped.
struct Service {
    served: Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Service {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn service_at(addr: &str) -> Service {
    use std::sync::atomic::Ordering;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let served = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = served.clone();
    let task = tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = socket.read(&mut buf).await;
            let _ = socket
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .await;
        }
    });
    Service { served, task }
}

/// slskd in Docker comes back with a new address: after a failed connection (or once the pin's
/// time is up) the plugin follows its name there, within the network it was granted in, and
/// never out of it.
#[tokio::test]
async fn a_granted_name_is_followed_within_its_network_and_never_out_of_it() {
    use std::sync::atomic::Ordering;
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let first = service_at(&format!("127.0.0.1:{port}")).await;
    let answer = Arc::new(Mutex::new(std::net::Ipv4Addr::new(127, 0, 0, 1)));
    let dns = dns_server(answer.clone()).await;
    let url = format!("http://moving.test:{port}");
    let plugins = PluginsDir::with(&["tests/plugins/hostile"]);
    let runtime = PluginRuntime::new(tributary_tests::shared_cache_dir())
        .unwrap()
        .with_dns_server(Some(dns))
        .unwrap()
        // The pins outlive the test: only a failed connection ends them here.
        .with_dns_min_pin(Duration::from_secs(3600));
    let (plugin, _) = runtime
        .load(&plugins.folder("hostile"), &hostile_grant(&url, &[&url]))
        .await
        .unwrap();
    let query = order(&format!("http:{url}/ok"));
    let get = || plugin.start_search(&query);
    assert_eq!(get().await.unwrap(), "status 200");
    assert_eq!(first.served.load(Ordering::SeqCst), 1);

    // The container restarts on another loopback address.
    drop(first);
    let moved = service_at(&format!("127.0.0.3:{port}")).await;
    *answer.lock().unwrap() = std::net::Ipv4Addr::new(127, 0, 0, 3);
    let refused = get().await.unwrap_err();
    assert!(
        refused.to_string().contains("Unreachable"),
        "the old address is gone: {refused}"
    );
    assert_eq!(
        get().await.unwrap(),
        "status 200",
        "followed to the new address"
    );
    assert_eq!(moved.served.load(Ordering::SeqCst), 1);

    // Then the name moves out of the loopback network: never followed.
    drop(moved);
    *answer.lock().unwrap() = std::net::Ipv4Addr::new(10, 9, 9, 9);
    let _ = get().await;
    let err = get().await.unwrap_err();
    assert!(err.to_string().contains("outside the network"), "{err}");
}

/// A pin ends with its TTL (here at its shortest): the name is then looked up again and
/// followed within its network without any failed connection.
#[tokio::test]
async fn a_pin_ends_with_its_time_and_the_name_is_looked_up_again() {
    use std::sync::atomic::Ordering;
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let first = service_at(&format!("127.0.0.1:{port}")).await;
    let second = service_at(&format!("127.0.0.4:{port}")).await;
    let answer = Arc::new(Mutex::new(std::net::Ipv4Addr::new(127, 0, 0, 1)));
    let dns = dns_server(answer.clone()).await;
    let url = format!("http://ttl.test:{port}");
    let plugins = PluginsDir::with(&["tests/plugins/hostile"]);
    let runtime = PluginRuntime::new(tributary_tests::shared_cache_dir())
        .unwrap()
        .with_dns_server(Some(dns))
        .unwrap()
        .with_dns_min_pin(Duration::from_millis(300));
    let (plugin, _) = runtime
        .load(&plugins.folder("hostile"), &hostile_grant(&url, &[&url]))
        .await
        .unwrap();
    let query = order(&format!("http:{url}/ok"));
    let get = || plugin.start_search(&query);
    *answer.lock().unwrap() = std::net::Ipv4Addr::new(127, 0, 0, 4);
    assert_eq!(get().await.unwrap(), "status 200");
    assert_eq!(
        (
            first.served.load(Ordering::SeqCst),
            second.served.load(Ordering::SeqCst)
        ),
        (1, 0),
        "pinned"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(get().await.unwrap(), "status 200");
    assert_eq!(
        (
            first.served.load(Ordering::SeqCst),
            second.served.load(Ordering::SeqCst)
        ),
        (1, 1),
        "looked up again once the pin ran out"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_plugin_cannot_smuggle_secrets_control_characters_or_bad_ids_through_its_answers() {
    let (captured, _guard) = Captured::install();
    let mut grant = hostile_grant("http://127.0.0.1:9", &[]);
    grant
        .settings
        .insert("poison".into(), SettingValue::Text("yes".into()));
    let (_dir, plugin) = hostile(&grant).await;
    let secret = "hostile-secret-value";
    let clean = |text: &str| {
        !text.contains(secret)
            && !text.contains("forged \u{1b}")
            && !text.chars().any(|c| c.is_control() || c == '\u{202e}')
    };

    // Errors: the secret redacted, the forged line kept on one line, without its escape code.
    let error = plugin
        .start_search(&order("leak-secret"))
        .await
        .unwrap_err();
    assert!(matches!(error, ProviderError::Unauthorized(_)), "{error:?}");
    let message = error.to_string();
    assert!(
        clean(&message) && message.contains("[redacted]"),
        "{message:?}"
    );

    // Health: the same for what it says about itself.
    let health = plugin.ping().await.unwrap();
    assert!(clean(&health.detail), "{:?}", health.detail);
    assert!(clean(health.service_version.as_deref().unwrap()));

    // Candidates: only the clean one is offered to the ranking.
    let search = plugin.start_search(&order("poison")).await.unwrap();
    let progress = plugin.poll_search(&search).await.unwrap();
    let offered: Vec<(&str, &str)> = progress
        .candidates
        .iter()
        .map(|c| (c.peer.as_str(), c.name.as_str()))
        .collect();
    assert_eq!(offered, [("fine_peer", "@@fine\\Music\\Clean.flac")]);

    // Transfers: those with unusable ids or names are not ours; the rest carry clean messages.
    let transfers = plugin.list_transfers().await.unwrap();
    assert_eq!(transfers.len(), 1, "{transfers:?}");
    assert_eq!(transfers[0].external_id, "t-1");
    let failure = &transfers[0].failure.as_ref().unwrap().message;
    assert!(
        clean(failure) && failure.contains("[redacted]"),
        "{failure:?}"
    );

    // An id the host could not hand back verbatim is a protocol error, not a stored id.
    let source = tributary::engine::provider::Source::PeerFile {
        peer: "fine_peer".into(),
        filename: "@@fine\\Music\\Clean.flac".into(),
        size: 1_000,
    };
    assert!(matches!(
        plugin.enqueue(&source).await,
        Err(ProviderError::Protocol(_))
    ));

    let logs = captured.text();
    assert!(!logs.contains(secret), "{logs}");
    assert!(
        logs.lines().all(|l| !l.starts_with("2026-01-01T00:00:00Z")),
        "a forged line reached the log: {logs}"
    );
}
