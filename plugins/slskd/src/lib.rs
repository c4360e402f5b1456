//! The slskd provider: Tributary's WIT contract over slskd's REST API (`/api/v0`).
//!
//! Stateless by design: every call may run in a fresh instance, so everything it needs comes
//! from its arguments, its config and slskd itself.

mod client;
mod model;
mod search;
mod states;
mod timefmt;
mod transfers;

// Generated code: its shape follows the WIT, not our lint settings.
#[allow(clippy::all)]
pub(crate) mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/v0.1.0",
        world: "tributary:provider/provider",
    });
}

use bindings::Guest;
use bindings::tributary::provider::log::{self, Level};
use bindings::tributary::provider::types::{
    Capabilities, Health, PluginInfo, ProviderError, SearchProgress, Source, TrackQuery, Transfer,
};
use client::{Client, Outcome};

struct Slskd;

impl Guest for Slskd {
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
        let client = Client::from_config()?;
        // The version call checks the credentials; the server state says whether slskd is
        // logged in to Soulseek (searches 409 and enqueues 500 when it is not).
        let version: String = client.get_json("/api/v0/application/version", "version")?;
        let server: model::ServerState = client.get_json("/api/v0/server", "server state")?;
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
        search::start(&Client::from_config()?, &query)
    }

    fn poll_search(search_id: String) -> Result<SearchProgress, ProviderError> {
        search::poll(&Client::from_config()?, &search_id)
    }

    fn enqueue(source: Source) -> Result<String, ProviderError> {
        transfers::enqueue(&Client::from_config()?, &source)
    }

    fn list_transfers() -> Result<Vec<Transfer>, ProviderError> {
        transfers::list(&Client::from_config()?)
    }

    fn cancel(external_id: String, peer: String, remove: bool) -> Result<(), ProviderError> {
        transfers::cancel(&Client::from_config()?, &external_id, &peer, remove)
    }

    fn clear_finished() -> Result<(), ProviderError> {
        match Client::from_config()?.send(
            "DELETE",
            "/api/v0/transfers/downloads/all/completed",
            None,
        )? {
            Outcome::Ok { .. } => Ok(()),
            Outcome::Refused(r) => Err(r.into_error("clear finished downloads")),
        }
    }
}

pub(crate) fn warn(message: &str) {
    log::log(Level::Warn, message);
}

bindings::export!(Slskd with_types_in bindings);
