//! A plugin built against the frozen WIT 0.1.0 (`tests/plugins/legacy-slskd`, never ported)
//! loads beside the current slskd plugin (0.2.0) and downloads through the engine: old plugins
//! keep working for ever.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use slskd_emulator::{Emulator, EmulatorConfig};
use tributary::engine::download::Status;
use tributary::engine::manager::{DownloadManager, NewDownload, RequestedSource};
use tributary::engine::provider::Provider;
use tributary::engine::provider_slot::ProviderOptions;
use tributary_tests::{
    PluginsDir, emulator_key, fast_settings, grant_for, runtime, test_emulator_config,
};

fn from_peer(title: &str, provider: Option<&str>) -> NewDownload {
    NewDownload {
        artist: "Frozen".into(),
        title: title.into(),
        provider: provider.map(str::to_owned),
        source: Some(RequestedSource::PeerFile {
            peer: "vinylhoarder".into(),
            filename: format!("@@frozen\\Music\\{title}\\01 - {title}.flac"),
            size: 3_000_000,
        }),
        ..NewDownload::default()
    }
}

#[tokio::test]
async fn a_0_1_0_plugin_loads_beside_0_2_0_and_downloads() {
    let emulator = Emulator::start(EmulatorConfig {
        speed_factor: 4.0,
        ..test_emulator_config()
    })
    .await
    .unwrap();
    let plugins = PluginsDir::with(&["plugins/slskd", "tests/plugins/legacy-slskd"]);
    let mut grants = BTreeMap::new();
    for id in ["slskd", "legacy-slskd"] {
        grants.insert(
            id.to_owned(),
            grant_for(&emulator.url(), Some(&emulator_key())),
        );
    }
    let report = runtime().load_dir(plugins.path(), &grants).await;
    assert!(report.refused.is_empty(), "{:?}", report.refused);
    let versions: BTreeMap<String, &str> = report
        .loaded
        .iter()
        .map(|(p, _)| (p.descriptor().id.clone(), p.api_version()))
        .collect();
    assert_eq!(
        versions,
        BTreeMap::from([
            ("legacy-slskd".to_owned(), "0.1.0"),
            ("slskd".to_owned(), "0.2.0")
        ])
    );
    for (p, _) in &report.loaded {
        let health = p.ping().await.expect("ping");
        assert!(health.ready, "{}: {health:?}", p.descriptor().id);
    }

    let dir = tempfile::tempdir().unwrap();
    let store = tributary::store::Store::open(&dir.path().join("t.redb")).unwrap();
    let providers: Vec<(Arc<dyn Provider>, ProviderOptions)> = report
        .loaded
        .iter()
        .map(|(p, _)| (p.clone() as Arc<dyn Provider>, ProviderOptions::default()))
        .collect();
    let engine = DownloadManager::with_options(
        store,
        providers,
        fast_settings(),
        Arc::new(tributary::engine::clock::SystemClock),
    )
    .unwrap();
    let running = engine.start().unwrap();
    let (old, _) = engine
        .create(from_peer("Old Contract", Some("legacy-slskd")))
        .unwrap();
    let (new, _) = engine
        .create(from_peer("New Contract", Some("slskd")))
        .unwrap();
    let started = Instant::now();
    loop {
        let a = engine.get(old.id).unwrap();
        let b = engine.get(new.id).unwrap();
        if a.status == Status::Completed && b.status == Status::Completed {
            assert_eq!(a.provider_id, "legacy-slskd");
            assert_eq!(b.provider_id, "slskd");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "both complete: {:?} {:?} / {:?} {:?}",
            a.status,
            a.error_message,
            b.status,
            b.error_message
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    running.shutdown().await;
    emulator.shutdown().await;
}
