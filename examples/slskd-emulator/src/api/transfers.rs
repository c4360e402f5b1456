//! `/api/v0/transfers/downloads`: list, enqueue (guarded, and taking a moment), get, cancel or
//! remove, clear completed, queue position.

use std::time::Instant;

use salvo::http::{Method, StatusCode};
use salvo::prelude::*;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{Api, empty, field, int_field, json_body, json_payload, message, query_flag};
use crate::wire;
use crate::world::PositionRefusal;

/// The files of an enqueue body, validated as slskd 0.26 does.
fn files(body: &Value) -> Result<Vec<(String, i64)>, (StatusCode, String)> {
    let bad = |text: &str| (StatusCode::BAD_REQUEST, text.to_owned());
    let Some(items) = body.as_array() else {
        return Err(bad("The request body must be a JSON array of files"));
    };
    if items.is_empty() {
        return Err(bad("At least one file is required"));
    }
    let mut wanted: Vec<(String, i64)> = Vec::new();
    for item in items {
        let Some(object) = item.as_object() else {
            return Err(bad("One or more files in the request are null"));
        };
        let Some(Value::String(filename)) = field(object, "filename") else {
            return Err(bad("One or more files in the request are null"));
        };
        if filename.split(['\\', '/']).any(|s| s == "..") {
            return Err(bad(
                "One or more files in the request contain a dangerous path traversal segment",
            ));
        }
        // A missing size is 0, which the peer's file will not match.
        let size = int_field(object, "size").map_err(|e| bad(&e))?.unwrap_or(0);
        if wanted.iter().any(|(n, _)| n == filename) {
            return Err((
                StatusCode::INTERNAL_SERVER_ERROR,
                "Two or more files in request are duplicated (Parameter 'files')".to_owned(),
            ));
        }
        wanted.push((filename.clone(), size));
    }
    Ok(wanted)
}

impl Api {
    /// `rest` and `raw` are the path after `transfers/downloads` (lowercased and as sent).
    pub(super) async fn transfers(
        &self,
        req: &mut Request,
        res: &mut Response,
        method: &Method,
        rest: &[&str],
        raw: &[String],
    ) {
        let now = Instant::now();
        let c = &self.control;
        match (method, rest) {
            (&Method::GET, []) => {
                let include_removed = query_flag(req, "includeRemoved");
                let mut world = c.world();
                world.advance(now);
                let users = wire::grouped(
                    world
                        .transfers
                        .iter()
                        .filter(|t| include_removed || !t.removed),
                    |t| world.shown_state(t, now),
                );
                json_body(res, StatusCode::OK, &Value::Array(users));
            }
            (&Method::DELETE, ["all", "completed"]) => {
                let mut world = c.world();
                world.advance(now);
                world.clear_completed();
                empty(res, StatusCode::NO_CONTENT);
            }
            (&Method::GET, [_user]) => {
                let user = &raw[0];
                let mut world = c.world();
                world.advance(now);
                let mine: Vec<_> = world
                    .transfers
                    .iter()
                    .filter(|t| t.username == *user && !t.removed)
                    .collect();
                if mine.is_empty() {
                    return empty(res, StatusCode::NOT_FOUND);
                }
                let value = wire::grouped(mine.into_iter(), |t| world.shown_state(t, now))
                    .pop()
                    .unwrap_or(Value::Null);
                json_body(res, StatusCode::OK, &value);
            }
            (&Method::POST, [_user]) => self.enqueue(req, res, &raw[0]).await,
            (&Method::GET, [_user, id]) => {
                let Ok(id) = Uuid::parse_str(id) else {
                    return empty(res, StatusCode::BAD_REQUEST);
                };
                let mut world = c.world();
                world.advance(now);
                // By id only, removed records included.
                match world.transfers.iter().find(|t| t.id == id) {
                    Some(t) => json_body(
                        res,
                        StatusCode::OK,
                        &wire::transfer(t, world.shown_state(t, now), false),
                    ),
                    None => empty(res, StatusCode::NOT_FOUND),
                }
            }
            (&Method::DELETE, [_user, id]) => {
                let Ok(id) = Uuid::parse_str(id) else {
                    return empty(res, StatusCode::BAD_REQUEST);
                };
                let mut world = c.world();
                world.advance(now);
                world.cancel(id, query_flag(req, "remove"), now);
                // 0.24.2+: 204 for any well-formed id, known or not.
                empty(res, StatusCode::NO_CONTENT);
            }
            (&Method::GET, [_user, id, "position"]) => {
                let Ok(id) = Uuid::parse_str(id) else {
                    return empty(res, StatusCode::BAD_REQUEST);
                };
                let answer = {
                    let mut world = c.world();
                    world.advance(now);
                    world.queue_position(id, now)
                };
                match answer {
                    Ok(place) => json_body(res, StatusCode::OK, &json!(place)),
                    Err(PositionRefusal::Unknown) => empty(res, StatusCode::NOT_FOUND),
                    Err(refusal @ PositionRefusal::NoAnswer { wait, .. }) => {
                        tokio::time::sleep(wait).await;
                        message(res, StatusCode::INTERNAL_SERVER_ERROR, &refusal.to_string());
                    }
                    Err(refusal @ PositionRefusal::Offline(_)) => {
                        message(res, StatusCode::INTERNAL_SERVER_ERROR, &refusal.to_string())
                    }
                }
            }
            _ => empty(res, StatusCode::NOT_FOUND),
        }
    }

    /// `POST /transfers/downloads/{user}`: two in flight at most (else 429); it takes the time
    /// of a peer lookup and connection, then inserts `Queued, Locally` records.
    async fn enqueue(&self, req: &mut Request, res: &mut Response, user: &str) {
        let c = &self.control;
        let body = match json_payload(req).await {
            Ok(body) => body,
            Err(text) => return message(res, StatusCode::BAD_REQUEST, &text),
        };
        // Counted per file whatever the answer, so a test can tell how often a file was asked.
        for item in body.as_array().into_iter().flatten() {
            if let Some(Value::String(filename)) =
                item.as_object().and_then(|o| field(o, "filename"))
            {
                c.count_enqueue_request(user, filename);
            }
        }
        let Some(_pass) = c.enqueue_posts.try_enter() else {
            return self.too_many(res);
        };
        let wanted = match files(&body) {
            Ok(wanted) => wanted,
            Err((status, text)) => return message(res, status, &text),
        };
        self.take(|t| t.enqueue).await;
        let now = Instant::now();
        let mut world = c.world();
        world.advance(now);
        match world.enqueue(user, &wanted, now) {
            Ok(done) => {
                let enqueued: Vec<Value> = done
                    .transfers
                    .iter()
                    .map(|t| wire::transfer(t, t.phase.state(), true))
                    .collect();
                // 0.26 reports refusals as (filename, message) tuples, which System.Text.Json
                // writes as `{}` (the reference's [inferred] note): a client learns nothing
                // from them but their number.
                let failed = vec![json!({}); done.refused.len()];
                json_body(
                    res,
                    StatusCode::CREATED,
                    &json!({"enqueued": enqueued, "failed": failed}),
                );
            }
            Err(refusal) => message(res, StatusCode::INTERNAL_SERVER_ERROR, &refusal.to_string()),
        }
    }
}
