//! The slskd provider: Tributary's WIT contract over slskd's REST API (`/api/v0`).
//!
//! Stateless by design: every call may run in a fresh instance, so everything it needs comes
//! from its arguments, its config and slskd itself.

mod api;
mod model;
mod search;
mod states;
mod timefmt;
mod transfers;

use tributary_plugin_sdk::{
    Capabilities, Enqueued, Health, PluginInfo, Provider, ProviderError, SearchProgress, Source,
    TrackQuery, Transfer, TransferRef,
};

struct SlskdProvider;

impl Provider for SlskdProvider {
    fn info() -> PluginInfo {
        PluginInfo {
            id: "slskd".into(),
            kind: "soulseek".into(),
            display_name: "slskd".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            capabilities: Capabilities::SEARCH
                | Capabilities::REMOVE
                | Capabilities::QUEUE_POSITION,
            peer_files: true,
            uri_schemes: Vec::new(),
        }
    }

    fn ping() -> Result<Health, ProviderError> {
        let slskd = api::connect()?;
        // The version call checks the credentials; the server state says whether slskd is
        // logged in to Soulseek (searches 409 and enqueues 500 when it is not).
        let version: String = slskd.get("/api/v0/application/version").send()?.json()?;
        let server: model::ServerState = slskd.get("/api/v0/server").send()?.json()?;
        Ok(Health {
            service_version: Some(version),
            ready: server.is_logged_in,
            detail: if server.is_logged_in {
                "connected and logged in to Soulseek".into()
            } else {
                format!(
                    "slskd is not logged in to Soulseek (state: {})",
                    server.state
                )
            },
        })
    }

    fn start_search(query: TrackQuery) -> Result<String, ProviderError> {
        search::start(&api::connect()?, &query)
    }

    fn poll_search(search_id: String) -> Result<SearchProgress, ProviderError> {
        search::poll(&api::connect()?, &search_id)
    }

    fn end_search(search_id: String) -> Result<(), ProviderError> {
        search::end(&api::connect()?, &search_id)
    }

    fn enqueue(source: Source) -> Result<Enqueued, ProviderError> {
        match source {
            Source::PeerFile(file) => transfers::enqueue(&api::connect()?, &file),
            Source::Uri(u) => Err(ProviderError::Unsupported(format!(
                "slskd fetches files from Soulseek peers, not URIs like {}",
                u.uri
            ))),
        }
    }

    fn list_transfers() -> Result<Vec<Transfer>, ProviderError> {
        transfers::list(&api::connect()?, &transfers::Setup::from_config())
    }

    fn cancel(transfer: TransferRef) -> Result<(), ProviderError> {
        transfers::cancel(&api::connect()?, &transfer)
    }

    fn remove(transfer: TransferRef) -> Result<(), ProviderError> {
        transfers::remove(&api::connect()?, &transfer)
    }

    fn queue_position(transfer: TransferRef) -> Result<Option<u32>, ProviderError> {
        transfers::queue_position(&api::connect()?, &transfer)
    }
}

tributary_plugin_sdk::export_provider!(SlskdProvider);
