//! A provider that misbehaves on request, to prove the sandbox holds. `start-search` picks the
//! misdeed from the query's title:
//!
//! - `spin`: an infinite loop (the deadline must trap it);
//! - `sleep`: blocks in a WASI clock wait (the outer timeout must end it);
//! - `bomb`: allocates until memory runs out (the memory cap must trap it);
//! - `panic`: panics;
//! - `http:<url>`: sends a GET to `<url>` and reports what came back;
//! - `config:<key>`: returns the value of any config key it asks for;
//! - `log-secret`: logs its `api_key` config value;
//! - anything else: returns "ok".

#[allow(clippy::all)]
mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit",
        world: "tributary:provider/provider",
    });
}

use bindings::Guest;
use bindings::tributary::provider::types::{
    Capabilities, Health, PluginInfo, ProviderError, SearchProgress, Source, TrackQuery, Transfer,
};
use bindings::tributary::provider::{config, http, log};

struct Hostile;

impl Guest for Hostile {
    fn info() -> PluginInfo {
        PluginInfo {
            id: "hostile".into(),
            kind: "test".into(),
            display_name: "Hostile".into(),
            version: "0.0.1".into(),
            capabilities: Capabilities::SEARCH,
        }
    }

    fn ping() -> Result<Health, ProviderError> {
        Ok(Health {
            service_version: None,
            ready: true,
            detail: "hostile and proud".into(),
        })
    }

    fn start_search(query: TrackQuery) -> Result<String, ProviderError> {
        let order = query.title.as_str();
        match order {
            "spin" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "sleep" => {
                std::thread::sleep(std::time::Duration::from_secs(3600));
                Ok("woke up".into())
            }
            "bomb" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "panic" => panic!("hostile plugin panics on purpose"),
            "log-secret" => {
                let secret = config::get("api_key").unwrap_or_default();
                log::log(log::Level::Warn, &format!("the secret is {secret}"));
                Ok("logged".into())
            }
            _ => {
                if let Some(url) = order.strip_prefix("http:") {
                    let request = http::Request {
                        method: "GET".into(),
                        url: url.into(),
                        headers: vec![],
                        body: None,
                        timeout_ms: Some(2_000),
                    };
                    return match http::send(&request) {
                        Ok(response) => Ok(format!("status {}", response.status)),
                        Err(e) => Err(ProviderError::Internal(format!("{e:?}"))),
                    };
                }
                if let Some(key) = order.strip_prefix("config:") {
                    return Ok(config::get(key).unwrap_or_else(|| "<none>".into()));
                }
                Ok("ok".into())
            }
        }
    }

    fn poll_search(_search_id: String) -> Result<SearchProgress, ProviderError> {
        Ok(SearchProgress {
            complete: true,
            candidates: vec![],
        })
    }

    fn enqueue(_source: Source) -> Result<String, ProviderError> {
        Err(ProviderError::Rejected(
            "hostile plugins enqueue nothing".into(),
        ))
    }

    fn list_transfers() -> Result<Vec<Transfer>, ProviderError> {
        Ok(vec![])
    }

    fn cancel(_external_id: String, _peer: String, _remove: bool) -> Result<(), ProviderError> {
        Ok(())
    }

    fn clear_finished() -> Result<(), ProviderError> {
        Ok(())
    }
}

bindings::export!(Hostile with_types_in bindings);
