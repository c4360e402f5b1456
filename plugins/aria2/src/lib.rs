//! aria2 as a Tributary provider: direct HTTP(S) and FTP downloads through aria2's JSON-RPC
//! (`POST /jsonrpc`, the `token:` secret first in `params`, every number sent back as a string).

mod status;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tributary_plugin_sdk::http::{Client, Response};
use tributary_plugin_sdk::{
    Capabilities, Enqueued, Health, PluginInfo, Provider, ProviderError, Source, Transfer,
    TransferRef, clock, config,
};

/// Stopped and waiting downloads read per call; the host removes finished ones.
const PAGE: u32 = 1000;

#[derive(Deserialize)]
struct Reply<T> {
    result: T,
}

/// One JSON-RPC call. aria2 answers failures with HTTP 400 (500 for a parse error) and
/// `{"error": {"code", "message"}}`.
fn rpc<T: DeserializeOwned>(method: &str, params: Vec<Value>) -> Result<T, ProviderError> {
    let token = format!("token:{}", config::get("secret").unwrap_or_default());
    let params: Vec<Value> = std::iter::once(json!(token)).chain(params).collect();
    let body = json!({"jsonrpc": "2.0", "id": "tributary", "method": method, "params": params});
    let answer = Client::new(config::require("url")?)
        .post("/jsonrpc")
        .json(&body)
        .map_status(|status, answer| matches!(status, 400 | 500).then(|| refusal(method, answer)))
        .send()?;
    Ok(answer.json::<Reply<T>>()?.result)
}

fn refusal(method: &str, answer: &Response) -> ProviderError {
    let error: Value = answer.json().unwrap_or_default();
    let message = error["error"]["message"]
        .as_str()
        .unwrap_or("no JSON-RPC error");
    let text = format!("aria2 {method}: {message}");
    match message {
        "Unauthorized" => ProviderError::Unauthorized(format!("{text} (check secret)")),
        m if m.contains("not found") || m.contains("No such download") => {
            ProviderError::NotFound(text)
        }
        _ => ProviderError::Protocol(text),
    }
}

/// A call that takes a GID and answers it back.
fn on_gid(method: &str, t: &TransferRef) -> Result<(), ProviderError> {
    rpc::<String>(method, vec![json!(t.external_id)]).map(drop)
}

struct Aria2;

impl Provider for Aria2 {
    fn info() -> PluginInfo {
        PluginInfo {
            id: "aria2".into(),
            kind: "direct".into(),
            display_name: "aria2".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            capabilities: Capabilities::PAUSE | Capabilities::REMOVE,
            peer_files: false,
            uri_schemes: vec!["http".into(), "https".into(), "ftp".into()],
        }
    }

    fn ping() -> Result<Health, ProviderError> {
        let version: Value = rpc("aria2.getVersion", vec![])?;
        Ok(Health {
            service_version: version["version"].as_str().map(str::to_owned),
            ready: true,
            detail: "aria2 answers".into(),
        })
    }

    fn enqueue(source: Source) -> Result<Enqueued, ProviderError> {
        let Source::Uri(uri) = source else {
            return Err(ProviderError::Unsupported(
                "aria2 takes URIs, not peer files".into(),
            ));
        };
        let options = config::get("dir").map_or(json!({}), |dir| json!({ "dir": dir }));
        let requested_at_ms = clock::now_ms();
        let gid: String = rpc("aria2.addUri", vec![json!([uri.uri]), options])?;
        Ok(Enqueued {
            external_id: gid,
            requested_at_ms: Some(requested_at_ms),
        })
    }

    fn list_transfers() -> Result<Vec<Transfer>, ProviderError> {
        let mut all: Vec<Value> = rpc("aria2.tellActive", vec![])?;
        for method in ["aria2.tellWaiting", "aria2.tellStopped"] {
            all.extend(rpc::<Vec<Value>>(method, vec![json!(0), json!(PAGE)])?);
        }
        Ok(all.iter().filter_map(status::transfer).collect())
    }

    fn cancel(t: TransferRef) -> Result<(), ProviderError> {
        match on_gid("aria2.forceRemove", &t) {
            // A stopped download has nothing left to cancel.
            Err(ProviderError::NotFound(_)) | Ok(()) => Ok(()),
            failed => failed,
        }
    }

    fn remove(t: TransferRef) -> Result<(), ProviderError> {
        on_gid("aria2.removeDownloadResult", &t)
    }

    fn pause(t: TransferRef) -> Result<(), ProviderError> {
        on_gid("aria2.forcePause", &t)
    }

    fn resume(t: TransferRef) -> Result<(), ProviderError> {
        on_gid("aria2.unpause", &t)
    }
}

tributary_plugin_sdk::export_provider!(Aria2);
