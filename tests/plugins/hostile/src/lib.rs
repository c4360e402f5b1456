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
//! - `leak-secret`: fails with its `api_key` and a forged log line in the error message;
//! - `poison`: a search whose candidates carry control characters, bidi overrides, huge and
//!   secret-bearing names, and one clean candidate;
//! - anything else: returns "ok".
//!
//! With config `poison = "yes"`, `ping`, `list-transfers` and `enqueue` answer the same way.

#[allow(clippy::all)]
mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit/v0.1.0",
        world: "tributary:provider/provider",
    });
}

use bindings::Guest;
use bindings::tributary::provider::types::{
    Candidate, Capabilities, FailureReason, Health, PluginInfo, ProviderError, SearchProgress,
    Source, TrackQuery, Transfer, TransferFailure, TransferState,
};
use bindings::tributary::provider::{config, http, log};

struct Hostile;

fn secret() -> String {
    config::get("api_key").unwrap_or_default()
}

fn poisoned() -> bool {
    config::get("poison").as_deref() == Some("yes")
}

/// A line that would pass for one of the host's own log lines if printed raw.
const FORGED: &str = "\n2026-01-01T00:00:00Z ERROR tributary: forged \u{1b}[31mline";

fn candidate(peer: &str, filename: &str) -> Candidate {
    Candidate {
        peer: peer.into(),
        filename: filename.into(),
        size: 1_000,
        extension: "flac".into(),
        bitrate_kbps: None,
        bit_depth: None,
        sample_rate_hz: None,
        duration_secs: None,
        free_slot: true,
        queue_length: 0,
        upload_speed: 1_000_000,
    }
}

fn transfer(id: &str, peer: &str, message: String) -> Transfer {
    Transfer {
        external_id: id.into(),
        peer: peer.into(),
        filename: "@@share\\a.flac".into(),
        size: 1_000,
        bytes_transferred: 0,
        speed_bytes_per_sec: 0.0,
        queue_position: None,
        state: TransferState::Failed,
        failure: Some(TransferFailure {
            reason: FailureReason::Errored,
            message,
            provider_may_retry: false,
        }),
    }
}

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
        if poisoned() {
            return Ok(Health {
                service_version: Some(format!("1.0 {}", secret())),
                ready: true,
                detail: format!("proud of {}{FORGED}", secret()),
            });
        }
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
            "leak-secret" => Err(ProviderError::Unauthorized(format!(
                "refused key {}{FORGED}",
                secret()
            ))),
            "poison" => Ok("poison".into()),
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

    fn poll_search(search_id: String) -> Result<SearchProgress, ProviderError> {
        let candidates = if search_id == "poison" {
            vec![
                candidate("evil\npeer", "@@evil\\a.flac"),
                candidate("ok", &"x".repeat(5_000)),
                candidate("ok", "@@ok\\\u{202e}calf.exe"),
                candidate("ok", &format!("@@ok\\{}.flac", secret())),
                candidate("", "@@ok\\nobody.flac"),
                candidate("fine_peer", "@@fine\\Music\\Clean.flac"),
            ]
        } else {
            vec![]
        };
        Ok(SearchProgress {
            complete: true,
            candidates,
        })
    }

    fn enqueue(_source: Source) -> Result<String, ProviderError> {
        if poisoned() {
            return Ok(format!("id{FORGED}"));
        }
        Err(ProviderError::Rejected(
            "hostile plugins enqueue nothing".into(),
        ))
    }

    fn list_transfers() -> Result<Vec<Transfer>, ProviderError> {
        if !poisoned() {
            return Ok(vec![]);
        }
        Ok(vec![
            transfer("bad\nid", "peer", "x".into()),
            transfer("t-2", "evil\u{1b}peer", "x".into()),
            transfer("t-1", "peer", format!("lost with {}{FORGED}", secret())),
        ])
    }

    fn cancel(_external_id: String, _peer: String, _remove: bool) -> Result<(), ProviderError> {
        Ok(())
    }

    fn clear_finished() -> Result<(), ProviderError> {
        Ok(())
    }
}

bindings::export!(Hostile with_types_in bindings);
