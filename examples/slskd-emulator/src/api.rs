//! The HTTP surface: slskd's `/api/v0` subset, `/health`, and `/emulator/*` for control.
//!
//! Routing is done by hand so that it matches slskd's quirks: case-insensitive routes, a
//! tolerated trailing slash, percent-encoded usernames (`%2F` included) and empty 404s.

use std::sync::Arc;
use std::time::{Duration, Instant};

use percent_encoding::percent_decode_str;
use salvo::http::{HeaderValue, Method, StatusCode, header};
use salvo::prelude::*;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::control::{Control, Fault};
use crate::wire;
use crate::world::EnqueueRefusal;

/// The version string a real 0.26.0 release reports.
pub const SLSKD_VERSION: &str = "0.26.0.0";

pub struct Api {
    pub control: Arc<Control>,
}

fn empty(res: &mut Response, status: StatusCode) {
    res.status_code(status);
}

fn json_body(res: &mut Response, status: StatusCode, value: &Value) {
    res.status_code(status);
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    res.body(value.to_string());
}

/// slskd's error style: a JSON string holding the message.
fn message(res: &mut Response, status: StatusCode, text: &str) {
    json_body(res, status, &json!(text));
}

fn segments(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect()
}

fn query_flag(req: &Request, key: &str) -> bool {
    req.query::<String>(key)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SearchRequest {
    search_text: Option<String>,
}

#[derive(Deserialize)]
struct EnqueueFile {
    filename: Option<String>,
    #[serde(default)]
    size: i64,
}

#[salvo::async_trait]
impl Handler for Api {
    async fn handle(
        &self,
        req: &mut Request,
        _depot: &mut Depot,
        res: &mut Response,
        _ctrl: &mut FlowCtrl,
    ) {
        let path = req.uri().path().to_owned();
        let segs = segments(&path);
        let lower: Vec<String> = segs.iter().map(|s| s.to_ascii_lowercase()).collect();
        let lower: Vec<&str> = lower.iter().map(String::as_str).collect();
        let method = req.method().clone();

        if lower.first() == Some(&"emulator") {
            return self.control_route(req, res, &method, &lower[1..]).await;
        }
        if lower.as_slice() == ["health"] {
            res.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
            res.body("Healthy");
            return;
        }
        if lower.len() < 2 || lower[0] != "api" || lower[1] != "v0" {
            return empty(res, StatusCode::NOT_FOUND);
        }
        self.control.count(&method, &lower[2..]);
        match self.control.fault() {
            Fault::None | Fault::NotLoggedIn => {}
            Fault::Error500 => {
                return message(res, StatusCode::INTERNAL_SERVER_ERROR, "Injected fault");
            }
            Fault::RateLimited => {
                return message(
                    res,
                    StatusCode::TOO_MANY_REQUESTS,
                    "Only one concurrent operation is permitted. Wait until the previous request completes",
                );
            }
            Fault::InvalidJson => {
                res.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                res.body("{\"this is\": not json");
                return;
            }
            Fault::Hang { ms } | Fault::Slow { ms } => {
                tokio::time::sleep(Duration::from_millis(ms)).await
            }
        }
        let rest = &lower[2..];
        if rest == ["session", "enabled"] {
            return json_body(res, StatusCode::OK, &json!(self.control.api_key.is_some()));
        }
        if let Some(expected) = &self.control.api_key {
            let given = req.headers().get("x-api-key").and_then(|v| v.to_str().ok());
            if given != Some(expected.as_str()) {
                res.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                return empty(res, StatusCode::UNAUTHORIZED);
            }
        }
        if matches!(method, Method::POST | Method::PUT)
            && !req
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/json"))
            && !(method == Method::PUT && rest.first() == Some(&"searches"))
        {
            return empty(res, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        }
        // Original-case segments, for usernames and ids.
        let raw = &segs[2..];
        self.api_route(req, res, &method, rest, raw).await;
    }
}

impl Api {
    async fn api_route(
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
            (&Method::GET, ["session"]) => empty(res, StatusCode::OK),
            (&Method::GET, ["application", "version"]) => {
                json_body(res, StatusCode::OK, &json!(SLSKD_VERSION))
            }
            (&Method::GET, ["server"]) => {
                let value = if c.logged_in() {
                    json!({"address": "vps.slsknet.org", "ipEndPoint": "208.76.170.59:2271", "state": "Connected, LoggedIn",
                        "isConnected": true, "isConnecting": false, "isLoggedIn": true, "isLoggingIn": false, "isTransitioning": false})
                } else {
                    json!({"state": "Disconnected", "isConnected": false, "isConnecting": false, "isLoggedIn": false,
                        "isLoggingIn": false, "isTransitioning": false})
                };
                json_body(res, StatusCode::OK, &value);
            }
            (&Method::POST, ["searches"]) => {
                let Ok(body) = req.payload().await.map(|b| b.to_vec()) else {
                    return empty(res, StatusCode::BAD_REQUEST);
                };
                let text = match serde_json::from_slice::<SearchRequest>(&body) {
                    Ok(SearchRequest {
                        search_text: Some(t),
                    }) if !t.trim().is_empty() => t,
                    _ => {
                        return message(
                            res,
                            StatusCode::BAD_REQUEST,
                            "SearchText may not be null or empty",
                        );
                    }
                };
                if !c.logged_in() {
                    return message(
                        res,
                        StatusCode::CONFLICT,
                        "The server connection must be connected and logged in to perform a search (currently: Disconnected)",
                    );
                }
                let mut world = c.world();
                world.advance(now);
                let id = world.start_search(&text, now);
                let view = world.view_search(id, now).map(|v| wire::search(&v, false));
                drop(world);
                json_body(res, StatusCode::OK, &view.unwrap_or(Value::Null));
            }
            (&Method::GET, ["searches"]) => {
                let mut world = c.world();
                world.advance(now);
                let ids: Vec<Uuid> = world.searches.iter().map(|s| s.id).collect();
                let all: Vec<Value> = ids
                    .iter()
                    .filter_map(|id| world.view_search(*id, now))
                    .map(|v| wire::search(&v, false))
                    .collect();
                json_body(res, StatusCode::OK, &Value::Array(all));
            }
            (_, ["searches", id, tail @ ..]) => {
                let Ok(id) = Uuid::parse_str(id) else {
                    return empty(res, StatusCode::NOT_FOUND);
                };
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
                            let responses = v.responses.map(wire::responses).unwrap_or_default();
                            json_body(res, StatusCode::OK, &Value::Array(responses));
                        }
                        None => empty(res, StatusCode::NOT_FOUND),
                    },
                    (&Method::PUT, []) => {
                        let status = if world.cancel_search(id) {
                            StatusCode::OK
                        } else {
                            StatusCode::NOT_FOUND
                        };
                        empty(res, status);
                    }
                    (&Method::DELETE, []) => {
                        let status = if world.delete_search(id) {
                            StatusCode::NO_CONTENT
                        } else {
                            StatusCode::NOT_FOUND
                        };
                        empty(res, status);
                    }
                    _ => empty(res, StatusCode::NOT_FOUND),
                }
            }
            (&Method::GET, ["transfers", "downloads"]) => {
                let include_removed = query_flag(req, "includeRemoved");
                let mut world = c.world();
                world.advance(now);
                let users = wire::grouped(
                    world
                        .transfers
                        .iter()
                        .filter(|t| include_removed || !t.removed),
                );
                json_body(res, StatusCode::OK, &Value::Array(users));
            }
            (&Method::DELETE, ["transfers", "downloads", "all", "completed"]) => {
                let mut world = c.world();
                world.advance(now);
                world.clear_completed();
                empty(res, StatusCode::NO_CONTENT);
            }
            (&Method::GET, ["transfers", "downloads", _user]) => {
                let user = &raw[2];
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
                let value = wire::grouped(mine.into_iter()).pop().unwrap_or(Value::Null);
                json_body(res, StatusCode::OK, &value);
            }
            (&Method::POST, ["transfers", "downloads", _user]) => {
                let user = raw[2].clone();
                let Ok(body) = req.payload().await.map(|b| b.to_vec()) else {
                    return empty(res, StatusCode::BAD_REQUEST);
                };
                let files = match serde_json::from_slice::<Vec<EnqueueFile>>(&body) {
                    Ok(files) if files.is_empty() => {
                        return message(
                            res,
                            StatusCode::BAD_REQUEST,
                            "At least one file is required",
                        );
                    }
                    Ok(files) => files,
                    Err(e) => return message(res, StatusCode::BAD_REQUEST, &e.to_string()),
                };
                let mut wanted = Vec::new();
                for f in files {
                    let Some(filename) = f.filename else {
                        return message(
                            res,
                            StatusCode::BAD_REQUEST,
                            "One or more files in the request are null",
                        );
                    };
                    if filename.split(['\\', '/']).any(|s| s == "..") {
                        return message(
                            res,
                            StatusCode::BAD_REQUEST,
                            "One or more files in the request contain a dangerous path traversal segment",
                        );
                    }
                    if wanted.iter().any(|(n, _)| *n == filename) {
                        return message(
                            res,
                            StatusCode::INTERNAL_SERVER_ERROR,
                            "Two or more files in request are duplicated (Parameter 'files')",
                        );
                    }
                    wanted.push((filename, f.size));
                }
                let mut world = c.world();
                world.advance(now);
                match world.enqueue(&user, &wanted, now) {
                    Ok((enqueued, failed)) => {
                        let enqueued: Vec<Value> =
                            enqueued.iter().map(|t| wire::transfer(t, true)).collect();
                        json_body(
                            res,
                            StatusCode::CREATED,
                            &json!({"enqueued": enqueued, "failed": failed}),
                        );
                    }
                    Err(EnqueueRefusal::Offline(text)) => {
                        message(res, StatusCode::INTERNAL_SERVER_ERROR, &text)
                    }
                    Err(EnqueueRefusal::NotLoggedIn) => message(
                        res,
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "The server connection must be connected and logged in to perform this operation",
                    ),
                }
            }
            (&Method::GET, ["transfers", "downloads", _user, id]) => {
                let Ok(id) = Uuid::parse_str(id) else {
                    return empty(res, StatusCode::BAD_REQUEST);
                };
                let mut world = c.world();
                world.advance(now);
                match world.transfers.iter().find(|t| t.id == id) {
                    Some(t) => json_body(res, StatusCode::OK, &wire::transfer(t, false)),
                    None => empty(res, StatusCode::NOT_FOUND),
                }
            }
            (&Method::DELETE, ["transfers", "downloads", _user, id]) => {
                let Ok(id) = Uuid::parse_str(id) else {
                    return empty(res, StatusCode::BAD_REQUEST);
                };
                let mut world = c.world();
                world.advance(now);
                world.cancel(id, query_flag(req, "remove"));
                empty(res, StatusCode::NO_CONTENT);
            }
            (&Method::GET, ["transfers", "downloads", _user, id, "position"]) => {
                let Ok(id) = Uuid::parse_str(id) else {
                    return empty(res, StatusCode::BAD_REQUEST);
                };
                let mut world = c.world();
                world.advance(now);
                match world.transfers.iter().find(|t| t.id == id) {
                    Some(t) if t.phase == crate::world::Phase::QueuedRemotely => {
                        json_body(res, StatusCode::OK, &json!(7))
                    }
                    Some(_) => message(
                        res,
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "Failed to retrieve queue position",
                    ),
                    None => empty(res, StatusCode::NOT_FOUND),
                }
            }
            _ => empty(res, StatusCode::NOT_FOUND),
        }
    }

    /// `/emulator/*`: fault injection and inspection, never faulted themselves.
    async fn control_route(
        &self,
        req: &mut Request,
        res: &mut Response,
        method: &Method,
        rest: &[&str],
    ) {
        match (method, rest) {
            (&Method::GET, ["stats"]) => json_body(res, StatusCode::OK, &self.control.stats()),
            (&Method::POST, ["fault"]) => {
                let Ok(body) = req.payload().await.map(|b| b.to_vec()) else {
                    return empty(res, StatusCode::BAD_REQUEST);
                };
                match serde_json::from_slice::<Fault>(&body) {
                    Ok(fault) => {
                        self.control.set_fault(fault);
                        json_body(res, StatusCode::OK, &json!({"fault": fault}));
                    }
                    Err(e) => message(res, StatusCode::BAD_REQUEST, &e.to_string()),
                }
            }
            (&Method::POST, ["restart"]) => {
                self.control.restart_slskd();
                json_body(res, StatusCode::OK, &json!({"restarted": true}));
            }
            (&Method::POST, ["down"]) => {
                let ms = req.query::<u64>("ms").unwrap_or(5_000).min(600_000);
                self.control.request_outage(Duration::from_millis(ms));
                json_body(res, StatusCode::ACCEPTED, &json!({"down_for_ms": ms}));
            }
            _ => empty(res, StatusCode::NOT_FOUND),
        }
    }
}
