//! A slskd provider written against `tributary:provider@0.1.0` with raw wit-bindgen, as plugins
//! were before the SDK, and frozen with that contract: it must keep loading and working on
//! every later host. It takes explicit sources only (no search) and reads slskd's transfers.

#[allow(clippy::all)]
mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit/v0.1.0",
        world: "tributary:provider/provider",
    });
}

use bindings::Guest;
use bindings::tributary::provider::types::{
    Capabilities, FailureReason, Health, PluginInfo, ProviderError, SearchProgress, Source,
    TrackQuery, Transfer, TransferFailure, TransferState,
};
use bindings::tributary::provider::{config, http};
use serde_json::Value;

struct Legacy;

fn call(method: &str, path: &str, body: Option<Value>) -> Result<Value, ProviderError> {
    let base = config::get("url").unwrap_or_default();
    let mut headers = vec![("accept".to_owned(), "application/json".to_owned())];
    if let Some(key) = config::get("api_key") {
        headers.push(("x-api-key".to_owned(), key));
    }
    if body.is_some() {
        headers.push(("content-type".to_owned(), "application/json".to_owned()));
    }
    let answer = http::send(&http::Request {
        method: method.to_owned(),
        url: format!("{}{path}", base.trim_end_matches('/')),
        headers,
        body: body.map(|b| b.to_string().into_bytes()),
        timeout_ms: Some(5_000),
    })
    .map_err(|e| ProviderError::Unreachable(format!("{e:?}")))?;
    let text = String::from_utf8_lossy(&answer.body).into_owned();
    match answer.status {
        200..=299 if text.trim().is_empty() => Ok(Value::Null),
        200..=299 => {
            serde_json::from_str(&text).map_err(|e| ProviderError::Protocol(e.to_string()))
        }
        401 | 403 => Err(ProviderError::Unauthorized(text)),
        429 => Err(ProviderError::RateLimited(text)),
        404 => Err(ProviderError::NotFound(text)),
        status => Err(ProviderError::Unreachable(format!("{status}: {text}"))),
    }
}

/// `"Completed, Succeeded"` and friends, as far as this old plugin ever knew them.
fn state_of(text: &str) -> (TransferState, Option<TransferFailure>) {
    let has = |flag: &str| text.split(',').any(|f| f.trim().eq_ignore_ascii_case(flag));
    let failed = |reason, message: &str| {
        Some(TransferFailure {
            reason,
            message: message.to_owned(),
            provider_may_retry: false,
        })
    };
    if has("Succeeded") {
        (TransferState::Succeeded, None)
    } else if has("Cancelled") {
        (TransferState::Cancelled, None)
    } else if has("Rejected") {
        (TransferState::Failed, failed(FailureReason::Rejected, text))
    } else if has("Completed") {
        (TransferState::Failed, failed(FailureReason::Errored, text))
    } else if has("InProgress") {
        (TransferState::InProgress, None)
    } else if has("Initializing") {
        (TransferState::Initializing, None)
    } else if has("Remotely") {
        (TransferState::QueuedRemotely, None)
    } else if has("Requested") {
        (TransferState::Requested, None)
    } else {
        (TransferState::QueuedLocally, None)
    }
}

fn transfer_of(file: &Value) -> Option<Transfer> {
    let (state, failure) = state_of(file["state"].as_str()?);
    Some(Transfer {
        external_id: file["id"].as_str()?.to_owned(),
        peer: file["username"].as_str()?.to_owned(),
        filename: file["filename"].as_str()?.to_owned(),
        size: file["size"].as_u64().unwrap_or(0),
        bytes_transferred: file["bytesTransferred"].as_u64().unwrap_or(0),
        speed_bytes_per_sec: file["averageSpeed"].as_f64().unwrap_or(0.0),
        queue_position: None,
        state,
        failure,
    })
}

fn encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Guest for Legacy {
    fn info() -> PluginInfo {
        PluginInfo {
            id: "legacy-slskd".into(),
            kind: "legacy".into(),
            display_name: "slskd (WIT 0.1.0)".into(),
            version: "0.1.0".into(),
            capabilities: Capabilities::empty(),
        }
    }

    fn ping() -> Result<Health, ProviderError> {
        let version = call("GET", "/api/v0/application/version", None)?;
        let server = call("GET", "/api/v0/server", None)?;
        Ok(Health {
            service_version: version.as_str().map(str::to_owned),
            ready: server["isLoggedIn"].as_bool().unwrap_or(false),
            detail: String::new(),
        })
    }

    fn start_search(_query: TrackQuery) -> Result<String, ProviderError> {
        Err(ProviderError::Internal(
            "this provider takes explicit sources only".into(),
        ))
    }

    fn poll_search(_search_id: String) -> Result<SearchProgress, ProviderError> {
        Err(ProviderError::Internal(
            "this provider takes explicit sources only".into(),
        ))
    }

    fn enqueue(source: Source) -> Result<String, ProviderError> {
        let path = format!("/api/v0/transfers/downloads/{}", encode(&source.peer));
        let body = serde_json::json!([{ "filename": source.filename, "size": source.size }]);
        let answer = call("POST", &path, Some(body))?;
        answer["enqueued"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["filename"] == source.filename.as_str())
            .and_then(|t| t["id"].as_str())
            .map(str::to_owned)
            .ok_or_else(|| {
                ProviderError::Rejected(format!("slskd did not enqueue {}", source.filename))
            })
    }

    fn list_transfers() -> Result<Vec<Transfer>, ProviderError> {
        let users = call("GET", "/api/v0/transfers/downloads", None)?;
        Ok(users
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|u| u["directories"].as_array().into_iter().flatten())
            .flat_map(|d| d["files"].as_array().into_iter().flatten())
            .filter_map(transfer_of)
            .collect())
    }

    fn cancel(external_id: String, peer: String, remove: bool) -> Result<(), ProviderError> {
        let path = format!(
            "/api/v0/transfers/downloads/{}/{}?remove={remove}",
            encode(&peer),
            encode(&external_id)
        );
        call("DELETE", &path, None).map(|_| ())
    }

    fn clear_finished() -> Result<(), ProviderError> {
        call("DELETE", "/api/v0/transfers/downloads/all/completed", None).map(|_| ())
    }
}

bindings::export!(Legacy with_types_in bindings);
