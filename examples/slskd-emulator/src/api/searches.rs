//! `/api/v0/searches`: start (guarded, and taking a moment), list, poll, read responses,
//! cancel, delete.

use std::time::{Duration, Instant};

use salvo::http::{Method, StatusCode};
use salvo::prelude::*;
use serde_json::Value;
use uuid::Uuid;

use super::{Api, empty, field, int_field, json_body, json_payload, message, query_flag};
use crate::search::SearchOptions;
use crate::wire;
use crate::world::SearchRefusal;

/// A parsed `POST /searches` body.
struct SearchRequest {
    id: Option<Uuid>,
    text: String,
    options: SearchOptions,
}

fn parse(body: &Value) -> Result<SearchRequest, String> {
    let Some(object) = body.as_object() else {
        return Err("The request body must be a JSON object".to_owned());
    };
    let text = match field(object, "searchText") {
        Some(Value::String(t)) if !t.trim().is_empty() => t.clone(),
        _ => return Err("SearchText may not be null or empty".to_owned()),
    };
    let id = match field(object, "id") {
        None => None,
        Some(Value::String(s)) => Some(Uuid::parse_str(s).map_err(|_| {
            "The JSON value could not be converted to System.Guid. Path: $.id".to_owned()
        })?),
        Some(_) => {
            return Err("The JSON value could not be converted to System.Guid. Path: $.id".into());
        }
    };
    let defaults = SearchOptions::default();
    let count = |name: &str, default: usize| -> Result<usize, String> {
        Ok(int_field(object, name)?.map_or(default, |n| n.max(0) as usize))
    };
    let options = SearchOptions {
        timeout: int_field(object, "searchTimeout")?.map_or(defaults.timeout, |ms| {
            Duration::from_millis(ms.max(0) as u64)
        }),
        response_limit: count("responseLimit", defaults.response_limit)?,
        file_limit: count("fileLimit", defaults.file_limit)?,
        filter_responses: match field(object, "filterResponses") {
            None => defaults.filter_responses,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                return Err(
                    "The JSON value could not be converted to System.Boolean. Path: $.filterResponses"
                        .to_owned(),
                );
            }
        },
        minimum_response_file_count: count(
            "minimumResponseFileCount",
            defaults.minimum_response_file_count,
        )?,
        maximum_peer_queue_length: int_field(object, "maximumPeerQueueLength")?
            .unwrap_or(defaults.maximum_peer_queue_length),
        minimum_peer_upload_speed: int_field(object, "minimumPeerUploadSpeed")?
            .unwrap_or(defaults.minimum_peer_upload_speed),
    };
    Ok(SearchRequest { id, text, options })
}

impl Api {
    /// `rest` is the path after `searches`.
    pub(super) async fn searches(
        &self,
        req: &mut Request,
        res: &mut Response,
        method: &Method,
        rest: &[&str],
    ) {
        let c = &self.control;
        match (method, rest) {
            (&Method::POST, []) => self.start_search(req, res).await,
            (&Method::GET, []) => {
                let now = Instant::now();
                let mut world = c.world();
                world.advance(now);
                let all: Vec<Value> = world
                    .searches
                    .ids()
                    .into_iter()
                    .filter_map(|id| world.view_search(id, now))
                    .map(|v| wire::search(&v, false))
                    .collect();
                json_body(res, StatusCode::OK, &Value::Array(all));
            }
            (_, [id, tail @ ..]) => {
                let Ok(id) = Uuid::parse_str(id) else {
                    return empty(res, StatusCode::NOT_FOUND);
                };
                let now = Instant::now();
                let mut world = c.world();
                world.advance(now);
                match (method, tail) {
                    (&Method::GET, []) => match world.view_search(id, now) {
                        Some(v) => json_body(
                            res,
                            StatusCode::OK,
                            &wire::search(&v, query_flag(req, "includeResponses")),
                        ),
                        None => empty(res, StatusCode::NOT_FOUND),
                    },
                    (&Method::GET, ["responses"]) => match world.view_search(id, now) {
                        Some(v) => {
                            let responses = v
                                .responses
                                .map(|r| wire::responses(r, v.search.token))
                                .unwrap_or_default();
                            json_body(res, StatusCode::OK, &Value::Array(responses));
                        }
                        None => empty(res, StatusCode::NOT_FOUND),
                    },
                    (&Method::PUT, []) => {
                        let status = if world.cancel_search(id, now) {
                            StatusCode::OK
                        } else {
                            StatusCode::NOT_FOUND
                        };
                        empty(res, status);
                    }
                    (&Method::DELETE, []) => {
                        let status = if world.delete_search(id, now) {
                            StatusCode::NO_CONTENT
                        } else {
                            StatusCode::NOT_FOUND
                        };
                        empty(res, status);
                    }
                    _ => empty(res, StatusCode::NOT_FOUND),
                }
            }
            _ => empty(res, StatusCode::NOT_FOUND),
        }
    }

    /// `POST /searches`: one in flight at a time (else 429); it takes a moment, then answers
    /// with the search as it stands (`InProgress`, or `Queued` behind two others).
    async fn start_search(&self, req: &mut Request, res: &mut Response) {
        let Some(_pass) = self.control.search_posts.try_enter() else {
            return self.too_many(res);
        };
        let request = match json_payload(req).await.and_then(|body| parse(&body)) {
            Ok(request) => request,
            Err(text) => return message(res, StatusCode::BAD_REQUEST, &text),
        };
        self.take(|t| t.search_post).await;
        // Real files are encoded before the world is locked, so that a search's encoding does
        // not hold up every other request.
        let encoding = self.control.world().prepare_search(&request.text);
        if let Some(encoding) = encoding {
            let _ = tokio::task::spawn_blocking(encoding).await;
        }
        let now = Instant::now();
        let mut world = self.control.world();
        world.advance(now);
        match world.start_search(request.id, &request.text, request.options, now) {
            Ok(id) => {
                let view = world.view_search(id, now).map(|v| wire::search(&v, false));
                json_body(res, StatusCode::OK, &view.unwrap_or(Value::Null));
            }
            Err(refusal @ SearchRefusal::DuplicateId) => {
                message(res, StatusCode::INTERNAL_SERVER_ERROR, &refusal.to_string())
            }
            Err(refusal @ SearchRefusal::NotLoggedIn) => {
                message(res, StatusCode::CONFLICT, &refusal.to_string())
            }
        }
    }
}
