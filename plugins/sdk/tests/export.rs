//! `export_provider!` from another crate, the way a plugin uses it: a provider without search
//! compiles with only the required calls, and its exports answer through the SDK's adapter.

use tributary_plugin_sdk::{
    Capabilities, Enqueued, Health, PeerFile, PluginInfo, Provider, ProviderError, Source,
    TrackQuery, Transfer, TransferRef,
};

struct Minimal;

impl Provider for Minimal {
    fn info() -> PluginInfo {
        PluginInfo {
            id: "minimal".into(),
            kind: "test".into(),
            display_name: "Minimal".into(),
            version: "0.0.1".into(),
            capabilities: Capabilities::empty(),
            peer_files: true,
            uri_schemes: Vec::new(),
        }
    }

    fn ping() -> Result<Health, ProviderError> {
        Ok(Health {
            service_version: None,
            ready: true,
            detail: "fine".into(),
        })
    }

    fn enqueue(source: Source) -> Result<Enqueued, ProviderError> {
        let Source::PeerFile(f) = source else {
            return Err(ProviderError::Unsupported("peer files only".into()));
        };
        Ok(Enqueued {
            external_id: format!("{}/{}", f.peer, f.filename),
            requested_at_ms: None,
        })
    }

    fn list_transfers() -> Result<Vec<Transfer>, ProviderError> {
        Ok(Vec::new())
    }

    fn cancel(_: TransferRef) -> Result<(), ProviderError> {
        Ok(())
    }
}

tributary_plugin_sdk::export_provider!(Minimal);

#[test]
fn the_exported_provider_answers_and_lacks_only_what_it_did_not_implement() {
    use tributary_plugin_sdk::wit::Guest;
    type Exported = tributary_plugin_sdk::__private::Exported<Minimal>;

    assert_eq!(Exported::info().id, "minimal");
    assert!(Exported::ping().unwrap().ready);
    let id = Exported::enqueue(Source::PeerFile(PeerFile {
        peer: "p".into(),
        filename: "f".into(),
        size: 1,
    }))
    .unwrap();
    assert_eq!(id.external_id, "p/f");
    let query = TrackQuery {
        artist: "a".into(),
        title: "t".into(),
        album: None,
        duration_secs: None,
        search_timeout_ms: 1,
    };
    assert!(matches!(
        Exported::start_search(query),
        Err(ProviderError::Unsupported(m)) if m.contains("does not provide the `search` capability")
    ));
}
