//! The HTTP surface: slskd's `/api/v0` subset, `/health`, and `/emulator/*` for control.
//! Searches and transfers have their own modules; this one dispatches, authenticates, injects
//! faults and counts.
//!
//! Routing is done by hand so that it matches slskd's quirks: case-insensitive routes, a
//! tolerated trailing slash, percent-encoded usernames (`%2F` included) and empty 404s.

mod searches;
mod transfers;

use std::sync::Arc;
use std::time::Duration;

use percent_encoding::percent_decode_str;
use salvo::http::{HeaderValue, Method, StatusCode, header};
use salvo::prelude::*;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::control::{Control, Counted, Fault};
use crate::guard::TOO_MANY;

/// The version string a real 0.26.0 release reports.
pub const SLSKD_VERSION: &str = "0.26.0.0";

pub struct Api {
    pub control: Arc<Control>,
}

/// An empty body. Explicitly empty: salvo would otherwise write its own error page for a 4xx
/// or 5xx without a body, where slskd sends nothing.
pub(crate) fn empty(res: &mut Response, status: StatusCode) {
    res.status_code(status);
    res.body(Vec::<u8>::new());
}

pub(crate) fn json_body(res: &mut Response, status: StatusCode, value: &Value) {
    res.status_code(status);
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    res.body(value.to_string());
}

/// slskd's error style: a JSON string holding the message.
pub(crate) fn message(res: &mut Response, status: StatusCode, text: &str) {
    json_body(res, status, &json!(text));
}

fn segments(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect()
}

pub(crate) fn query_flag(req: &Request, key: &str) -> bool {
    req.query::<String>(key)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// A body field, its name matched case-insensitively (as slskd's deserialiser does).
pub(crate) fn field<'a>(object: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    object
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value)
        .filter(|value| !value.is_null())
}

/// An integer field; slskd also accepts numbers sent as strings.
pub(crate) fn int_field(object: &Map<String, Value>, name: &str) -> Result<Option<i64>, String> {
    match field(object, name) {
        None => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| {
            format!("The JSON value could not be converted to an integer. Path: $.{name}")
        }),
        Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| {
            format!("The JSON value could not be converted to an integer. Path: $.{name}")
        }),
        Some(_) => Err(format!(
            "The JSON value could not be converted to an integer. Path: $.{name}"
        )),
    }
}

/// The body as JSON, or slskd's 400.
pub(crate) async fn json_payload(req: &mut Request) -> Result<Value, String> {
    let body = req.payload().await.map_err(|e| e.to_string())?.to_vec();
    serde_json::from_slice(&body).map_err(|e| e.to_string())
}

/// What kind of call a request is, for the test counters.
fn classify(method: &Method, rest: &[&str], remove: bool) -> Option<Counted> {
    Some(match (method, rest) {
        (&Method::POST, ["searches"]) => Counted::SearchPost,
        (&Method::GET, ["searches"]) => Counted::SearchList,
        (&Method::GET, ["searches", _] | ["searches", _, "responses"]) => Counted::SearchPoll,
        (&Method::PUT, ["searches", _]) => Counted::SearchCancel,
        (&Method::DELETE, ["searches", _]) => Counted::SearchDelete,
        (&Method::POST, ["transfers", "downloads", _]) => Counted::EnqueuePost,
        (&Method::GET, ["transfers", "downloads"] | ["transfers", "downloads", _]) => {
            Counted::TransferList
        }
        (&Method::DELETE, ["transfers", "downloads", "all", "completed"]) => {
            Counted::ClearCompleted
        }
        (&Method::GET, ["transfers", "downloads", _, _]) => Counted::TransferGet,
        (&Method::DELETE, ["transfers", "downloads", _, _]) if remove => Counted::TransferRemove,
        (&Method::DELETE, ["transfers", "downloads", _, _]) => Counted::TransferCancel,
        (&Method::GET, ["transfers", "downloads", _, _, "position"]) => Counted::PositionGet,
        _ => return None,
    })
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
        if let Some(kind) = classify(&method, &lower[2..], query_flag(req, "remove")) {
            self.control.count_kind(kind);
        }
        match self.control.fault() {
            Fault::None | Fault::NotLoggedIn => {}
            Fault::Error500 => {
                return message(res, StatusCode::INTERNAL_SERVER_ERROR, "Injected fault");
            }
            Fault::RateLimited => return self.too_many(res),
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
    /// slskd's 429, counted.
    pub(crate) fn too_many(&self, res: &mut Response) {
        self.control.count_kind(Counted::TooManyRequests);
        message(res, StatusCode::TOO_MANY_REQUESTS, TOO_MANY);
    }

    /// Sleeps a stretch of slskd time (scaled by the speed factor).
    pub(crate) async fn take(&self, pick: impl Fn(&crate::Timings) -> Duration) {
        let wait = {
            let world = self.control.world();
            world.clock().scaled(pick(&world.timings))
        };
        tokio::time::sleep(wait).await;
    }

    async fn api_route(
        &self,
        req: &mut Request,
        res: &mut Response,
        method: &Method,
        rest: &[&str],
        raw: &[String],
    ) {
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
            (_, ["searches", ..]) => self.searches(req, res, method, &rest[1..]).await,
            (_, ["transfers", "downloads", ..]) => {
                self.transfers(req, res, method, &rest[2..], &raw[2..])
                    .await
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
            (&Method::POST, ["disguise"]) => {
                #[derive(Deserialize)]
                struct Disguise {
                    state: String,
                    ms: u64,
                    username: Option<String>,
                }
                let Ok(body) = req.payload().await.map(|b| b.to_vec()) else {
                    return empty(res, StatusCode::BAD_REQUEST);
                };
                match serde_json::from_slice::<Disguise>(&body) {
                    Ok(d) => {
                        let duration = Duration::from_millis(d.ms);
                        match &d.username {
                            Some(user) => self.control.disguise_states_of(user, &d.state, duration),
                            None => self.control.disguise_states(&d.state, duration),
                        }
                        json_body(res, StatusCode::OK, &json!({"state": d.state, "ms": d.ms}));
                    }
                    Err(e) => message(res, StatusCode::BAD_REQUEST, &e.to_string()),
                }
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
