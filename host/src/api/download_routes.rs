//! `/api/downloads/*`: create a download and act on one, many, or the whole queue.

use salvo::http::StatusCode;
use salvo::oapi::{ToSchema, endpoint};
use salvo::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::error::ApiError;
use super::input::{json_body, path_uuid};
use super::state::{blocking, reply, state};
use crate::engine::manager::{DownloadManager, Edit, EngineError, NewDownload, RequestedSource};
use crate::view::dto::{ErrorBody, UnifiedDownload};

/// At most this many ids in one batch action.
pub const MAX_BATCH: usize = 1000;

/// The exact file to fetch: either a file a peer holds (`peer`, `filename`, `size`: slskd), or
/// a `uri` (a magnet link, the URL of a .torrent, or the URL of the file itself) with, for a
/// URI naming several files, the `file` wanted inside it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceBody {
    /// The peer holding the file (with `filename` and `size`).
    pub peer: Option<String>,
    /// The peer's full path of the file.
    pub filename: Option<String>,
    /// Size in bytes: required with `peer`, optional with `uri`.
    pub size: Option<u64>,
    /// A magnet link, a .torrent URL or a file URL (instead of `peer` and `filename`).
    pub uri: Option<String>,
    /// With `uri`: the file wanted inside a multi-file source, by path or name.
    pub file: Option<String>,
}

impl SourceBody {
    fn into_requested(self) -> Result<RequestedSource, ApiError> {
        match self {
            SourceBody {
                peer: Some(peer),
                filename: Some(filename),
                size: Some(size),
                uri: None,
                file: None,
            } => Ok(RequestedSource::PeerFile {
                peer,
                filename,
                size,
            }),
            SourceBody {
                peer: None,
                filename: None,
                uri: Some(uri),
                file,
                size,
            } => Ok(RequestedSource::Uri { uri, file, size }),
            _ => Err(ApiError::bad_request(
                "source is either {\"peer\", \"filename\", \"size\"} or {\"uri\", \"file\"?, \"size\"?}",
            )),
        }
    }
}

/// A track to download.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    pub title: String,
    pub artist: String,
    pub album: Option<String>,
    /// Your id for the track; an active download of the same track is returned, not duplicated.
    pub track_id: Option<String>,
    /// Higher goes first (-1000 to 1000, default 0).
    pub priority: Option<i32>,
    /// The track's length in seconds, when known: files of a clearly different length rank
    /// below those that fit.
    pub duration_secs: Option<u32>,
    /// A provider id ("slskd") or kind ("soulseek"): the download stays with it. By default
    /// the provider that takes the source; without a source, every provider that can search is
    /// searched at once and the download goes where the best file is (and on to the others
    /// when that one fails or its provider is down).
    pub provider: Option<String>,
    /// Fetch exactly this file instead of searching.
    pub source: Option<SourceBody>,
    /// A retried request with the same key gets the same download.
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriorityBody {
    pub priority: i32,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum BatchAction {
    Cancel,
    Pause,
    Resume,
    Retry,
    Priority,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchBody {
    pub action: BatchAction,
    pub download_ids: Vec<String>,
    pub priority: Option<i32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BatchRefusal {
    pub id: String,
    pub error: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BatchResponse {
    pub action: BatchAction,
    pub done: Vec<UnifiedDownload>,
    pub refused: Vec<BatchRefusal>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QueuePaused {
    pub paused: bool,
}

/// Creates a download: 201 with the new one, or 200 with the active download of the same track.
#[endpoint(
    tags("downloads"),
    request_body = CreateBody,
    responses((status_code = 201, body = UnifiedDownload), (status_code = 200, body = UnifiedDownload), (status_code = 400, body = ErrorBody), (status_code = 503, body = ErrorBody, description = "No provider plugin is loaded: nothing was created"))
)]
pub async fn create(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let header_key = req
        .headers()
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let result = async {
        let body: CreateBody = json_body(req).await?;
        let s = state(depot)?;
        let request = NewDownload {
            title: body.title,
            artist: body.artist,
            album: body.album,
            track_id: body.track_id,
            priority: body.priority,
            duration_secs: body.duration_secs,
            provider: body.provider,
            source: body.source.map(SourceBody::into_requested).transpose()?,
            idempotency_key: body.idempotency_key.or(header_key),
        };
        Ok::<_, ApiError>(s.engine.create_together(request).await?)
    }
    .await;
    match result {
        Ok((d, created)) => {
            res.status_code(if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            });
            res.render(Json(UnifiedDownload::from(&d)));
        }
        Err(e) => e.write(res),
    }
}

/// One download.
#[endpoint(
    tags("downloads"),
    parameters(("id" = String, Path, description = "Download UUID")),
    responses((status_code = 200, body = UnifiedDownload), (status_code = 404, body = ErrorBody))
)]
pub async fn get_one(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    reply(res, act(req, depot, |e, id| e.get(id)).await);
}

/// Runs an action on the download the path names, on the blocking pool.
async fn act(
    req: &Request,
    depot: &Depot,
    action: impl FnOnce(
        &DownloadManager,
        Uuid,
    ) -> Result<crate::engine::download::Download, EngineError>
    + Send
    + 'static,
) -> Result<UnifiedDownload, ApiError> {
    let id = path_uuid(req, "id")?;
    let s = state(depot)?;
    blocking(move || Ok(UnifiedDownload::from(&action(&s.engine, id)?))).await
}

/// Cancels a download (and its transfer at the provider).
#[endpoint(
    tags("downloads"),
    parameters(("id" = String, Path, description = "Download UUID")),
    responses((status_code = 200, body = UnifiedDownload), (status_code = 409, body = ErrorBody))
)]
pub async fn cancel(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    reply(res, act(req, depot, |e, id| e.cancel(id)).await);
}

/// Puts a failed or cancelled download back in the queue.
#[endpoint(
    tags("downloads"),
    parameters(("id" = String, Path, description = "Download UUID")),
    responses((status_code = 200, body = UnifiedDownload), (status_code = 400, body = ErrorBody))
)]
pub async fn retry(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    reply(res, act(req, depot, |e, id| e.retry(id)).await);
}

/// Holds a download back (an active transfer is cancelled at the provider and starts over on resume).
#[endpoint(
    tags("downloads"),
    parameters(("id" = String, Path, description = "Download UUID")),
    responses((status_code = 200, body = UnifiedDownload), (status_code = 409, body = ErrorBody))
)]
pub async fn pause(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    reply(res, act(req, depot, |e, id| e.pause(id)).await);
}

/// Puts a paused download back in the queue.
#[endpoint(
    tags("downloads"),
    parameters(("id" = String, Path, description = "Download UUID")),
    responses((status_code = 200, body = UnifiedDownload), (status_code = 400, body = ErrorBody))
)]
pub async fn resume(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    reply(res, act(req, depot, |e, id| e.resume(id)).await);
}

/// Changes a download's priority (higher goes first).
#[endpoint(
    tags("downloads"),
    parameters(("id" = String, Path, description = "Download UUID")),
    request_body = PriorityBody,
    responses((status_code = 200, body = UnifiedDownload), (status_code = 400, body = ErrorBody))
)]
pub async fn set_priority(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let result = async {
        let id = path_uuid(req, "id")?;
        let body: PriorityBody = json_body(req).await?;
        let s = state(depot)?;
        blocking(move || {
            Ok(UnifiedDownload::from(
                &s.engine.set_priority(id, body.priority)?,
            ))
        })
        .await
    }
    .await;
    reply(res, result);
}

/// One action on many downloads; says per id what was done and what was refused.
#[endpoint(
    tags("downloads"),
    request_body = BatchBody,
    responses((status_code = 200, body = BatchResponse), (status_code = 400, body = ErrorBody))
)]
pub async fn batch(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let result = async {
        let body: BatchBody = json_body(req).await?;
        if body.download_ids.is_empty() || body.download_ids.len() > MAX_BATCH {
            return Err(ApiError::bad_request(format!(
                "download_ids must hold 1 to {MAX_BATCH} ids"
            )));
        }
        let ids = body
            .download_ids
            .iter()
            .map(|raw| Uuid::parse_str(raw).map_err(|_| raw.clone()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|raw| {
                ApiError::bad_request("every download id must be a UUID")
                    .with_detail(serde_json::json!(raw))
            })?;
        let priority = match (body.action, body.priority) {
            (BatchAction::Priority, None) => {
                return Err(ApiError::bad_request(
                    "the priority action needs `priority`",
                ));
            }
            (_, p) => p.unwrap_or(0),
        };
        let edit = match body.action {
            BatchAction::Cancel => Edit::Cancel,
            BatchAction::Pause => Edit::Pause,
            BatchAction::Resume => Edit::Resume,
            BatchAction::Retry => Edit::Retry,
            BatchAction::Priority => Edit::Priority(priority),
        };
        let s = state(depot)?;
        // One transaction for the whole batch.
        let outcomes = {
            let ids = ids.clone();
            blocking(move || Ok(s.engine.act_on_many(&ids, edit)?)).await?
        };
        let mut done = Vec::new();
        let mut refused = Vec::new();
        for (id, outcome) in ids.into_iter().zip(outcomes) {
            match outcome {
                Ok(d) => done.push(UnifiedDownload::from(&d)),
                Err(EngineError::Store(e)) => return Err(e.into()),
                Err(e) => refused.push(BatchRefusal {
                    id: id.to_string(),
                    error: e.to_string(),
                }),
            }
        }
        Ok(BatchResponse {
            action: body.action,
            done,
            refused,
        })
    }
    .await;
    reply(res, result);
}

/// Stops dispatching new downloads (transfers under way go on).
#[endpoint(tags("downloads"), responses((status_code = 200, body = QueuePaused)))]
pub async fn pause_queue(depot: &mut Depot, res: &mut Response) {
    let result = match state(depot) {
        Ok(s) => {
            blocking(move || {
                Ok(s.engine
                    .set_paused(true)
                    .map(|()| QueuePaused { paused: true })?)
            })
            .await
        }
        Err(e) => Err(e),
    };
    reply(res, result);
}

/// Dispatches again.
#[endpoint(tags("downloads"), responses((status_code = 200, body = QueuePaused)))]
pub async fn resume_queue(depot: &mut Depot, res: &mut Response) {
    let result = match state(depot) {
        Ok(s) => {
            blocking(move || {
                Ok(s.engine
                    .set_paused(false)
                    .map(|()| QueuePaused { paused: false })?)
            })
            .await
        }
        Err(e) => Err(e),
    };
    reply(res, result);
}
