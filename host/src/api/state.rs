//! What every handler reaches through the depot.

use bytes::Bytes;
use salvo::Depot;
use salvo::http::StatusCode;
use salvo::prelude::*;
use serde::Serialize;

use super::error::ApiError;
use super::live::LiveFeed;
use crate::engine::manager::DownloadManager;

#[derive(Clone)]
pub struct AppState {
    pub engine: DownloadManager,
    pub live: LiveFeed,
    /// `/active`'s answer (and the queue's rows), shared until the queue changes.
    pub active_lists: super::active_list::ActiveLists,
    /// `/stats`'s answer, shared until the counters change.
    pub stats_bodies: super::stats_body::StatsBodies,
    /// The plugins in service: listing and reload.
    pub plugins: std::sync::Arc<crate::plugin_service::PluginService>,
    /// Fires when the server shuts down (SSE streams end).
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    pub templates: crate::view::templates::Templates,
    /// Shown on the page when the server is reachable from the network without a key.
    pub insecure_notice: Option<String>,
    /// The key policy, when keys are configured.
    pub access: Option<std::sync::Arc<super::access::AccessPolicy>>,
}

/// The state is shared behind one `Arc`: taking it is one count, whatever it holds.
pub fn state(depot: &Depot) -> Result<std::sync::Arc<AppState>, ApiError> {
    depot
        .get_typed::<std::sync::Arc<AppState>>()
        .cloned()
        .map_err(|_| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "application state missing",
            )
        })
}

/// Runs engine work that writes, or reads much, on the blocking pool: a durable commit (shared
/// with other requests' writes) or a long read must not hold up the async worker threads.
pub async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work).await.unwrap_or_else(|e| {
        Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the request's work stopped: {e}"),
        ))
    })
}

/// Writes a JSON answer or the error.
pub fn reply<T: Serialize + Send>(res: &mut Response, result: Result<T, ApiError>) {
    // Serialised into one buffer: salvo's `Json` writes through a writer that grows its
    // buffer piece by piece, which showed in the profile of `/stats` under load.
    reply_json(
        res,
        result.and_then(|value| {
            serde_json::to_vec(&value).map(Bytes::from).map_err(|e| {
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("the answer could not be written as JSON: {e}"),
                )
            })
        }),
    );
}

/// Writes an answer already serialised as JSON, or the error.
pub fn reply_json(res: &mut Response, result: Result<Bytes, ApiError>) {
    match result {
        Ok(body) => {
            res.headers_mut().insert(
                salvo::http::header::CONTENT_TYPE,
                salvo::http::HeaderValue::from_static("application/json; charset=utf-8"),
            );
            res.body(body);
        }
        Err(e) => e.write(res),
    }
}
