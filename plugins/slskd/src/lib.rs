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
    Capabilities, Health, PluginInfo, Provider, ProviderError, SearchProgress, Source, TrackQuery,
    Transfer,
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
                | Capabilities::CLEAR_FINISHED
                | Capabilities::QUEUE_POSITION,
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

    fn enqueue(source: Source) -> Result<String, ProviderError> {
        transfers::enqueue(&api::connect()?, &source)
    }

    fn list_transfers() -> Result<Vec<Transfer>, ProviderError> {
        transfers::list(&api::connect()?)
    }

    fn cancel(external_id: String, peer: String, remove: bool) -> Result<(), ProviderError> {
        transfers::cancel(&api::connect()?, &external_id, &peer, remove)
    }

    fn clear_finished() -> Result<(), ProviderError> {
        api::connect()?
            .delete("/api/v0/transfers/downloads/all/completed")
            .send()?;
        Ok(())
    }
}

tributary_plugin_sdk::export_provider!(SlskdProvider);
