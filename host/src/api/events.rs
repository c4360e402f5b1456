//! `GET /api/downloads/manager/events`: Server-Sent Events from the shared live views.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream;
use salvo::http::HeaderValue;
use salvo::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use salvo::oapi::endpoint;
use salvo::prelude::*;
use tokio::sync::watch;

use super::error::ApiError;
use super::input::{query_choice, query_u32};
use super::live::{DEFAULT_LIMIT, MAX_LIMIT, MAX_WINDOWS, Tick, Window};
use super::state::state;

/// A comment line at least this often keeps proxies from closing an idle stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Update,
    Delta,
}

/// Live updates, at once, after every change and at least every 2 s.
///
/// Default mode: event `update` with `{downloads, stats, timestamp}`. `downloads` holds every
/// download in motion (any active status but `waiting`) and then the first waiting ones in
/// dispatch order while the list stays within `limit` rows (default 500, at most 5000);
/// `stats` always counts the whole queue.
///
/// `?mode=delta`: one `snapshot` event (the update's payload), then `delta` events
/// `{changed, removed, stats, timestamp}`: `changed` holds the rows that are new or differ,
/// `removed` the ids that left the window (finished, cancelled, deleted, or pushed past the
/// limit). Every event has an increasing `id`; a client reconnecting with `Last-Event-ID`
/// gets the deltas it missed, or a fresh snapshot when they are no longer kept.
#[endpoint(
    tags("manager"),
    parameters(
        ("limit" = Option<u32>, Query, description = "Rows per event: 1 to 5000 (default 500)"),
        ("mode" = Option<String>, Query, description = "`update` (default) or `delta`"),
        ("Last-Event-ID" = Option<String>, Header, description = "Delta mode: the last event id seen"),
    ),
    responses(
        (status_code = 200, description = "text/event-stream of `update` events, or `snapshot` then `delta` events"),
        (status_code = 400, description = "A limit or mode that is not accepted"),
    )
)]
pub async fn events(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    match stream_for(req, depot) {
        Ok(body) => {
            let headers = res.headers_mut();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
            headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
            res.stream(body);
        }
        Err(e) => e.write(res),
    }
}

/// Where a client's stream is.
struct Cursor {
    mode: Mode,
    window: Arc<Window>,
    ticks: watch::Receiver<Arc<Tick>>,
    shutdown: watch::Receiver<bool>,
    /// The last build this client was sent.
    sent: u64,
    pending: Option<Bytes>,
    ended: bool,
}

fn stream_for(
    req: &Request,
    depot: &Depot,
) -> Result<impl futures_util::Stream<Item = Result<Bytes, Infallible>> + Send + use<>, ApiError> {
    let s = state(depot)?;
    let limit =
        query_u32(req, "limit", 1..=MAX_LIMIT as u32)?.map_or(DEFAULT_LIMIT, |l| l as usize);
    let mode = match query_choice(req, "mode", &["update", "delta"])?.as_deref() {
        Some("delta") => Mode::Delta,
        _ => Mode::Update,
    };
    let last_seen = match req.headers().get("last-event-id") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    ApiError::bad_request("Last-Event-ID must be an event id this server sent")
                })?,
        ),
    };
    let window = s.live.window(limit).ok_or_else(|| {
        ApiError::new(
            salvo::http::StatusCode::TOO_MANY_REQUESTS,
            format!(
                "{MAX_WINDOWS} other limits are in use by live clients; use one of them or the default ({DEFAULT_LIMIT})"
            ),
        )
    })?;
    // Subscribed before the first build, so no build after it is missed.
    let mut ticks = window.subscribe();
    let first = s.live.current(&s.engine, &window);
    ticks.mark_unchanged();
    let (sent, pending) = match mode {
        Mode::Update => (first.id, first.update()),
        Mode::Delta => match last_seen.and_then(|seen| window.deltas_after(seen)) {
            Some((newest, deltas)) if newest >= first.id => (newest, concat(deltas)),
            _ => (first.id, first.snapshot()),
        },
    };
    let cursor = Cursor {
        mode,
        window,
        ticks,
        shutdown: s.shutdown.clone(),
        sent,
        pending: Some(pending),
        ended: false,
    };
    Ok(stream::unfold(cursor, |mut c| async move {
        loop {
            if c.ended {
                return None;
            }
            if let Some(bytes) = c.pending.take().filter(|b| !b.is_empty()) {
                return Some((Ok::<Bytes, Infallible>(bytes), c));
            }
            if *c.shutdown.borrow() {
                return None;
            }
            tokio::select! {
                changed = c.ticks.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                    let tick = c.ticks.borrow_and_update().clone();
                    c.pending = next_for(&mut c, &tick);
                }
                _ = tokio::time::sleep(KEEP_ALIVE) => {
                    return Some((Ok(Bytes::from_static(b": keep-alive\n\n")), c));
                }
                _ = c.shutdown.changed() => {
                    c.ended = true;
                    return Some((Ok(Bytes::from_static(b": server shutting down\n\n")), c));
                }
            }
        }
    }))
}

/// What a client is sent for a new build: nothing if it has it, the update, or the deltas
/// since the last one it was sent (a snapshot if the ring no longer has them).
fn next_for(c: &mut Cursor, tick: &Tick) -> Option<Bytes> {
    if tick.id <= c.sent {
        return None;
    }
    let (sent, out) = match c.mode {
        Mode::Update => (tick.id, tick.update()),
        Mode::Delta => match c.window.deltas_after(c.sent) {
            Some((newest, deltas)) if newest >= tick.id => (newest, concat(deltas)),
            _ => (tick.id, tick.snapshot()),
        },
    };
    c.sent = sent;
    Some(out)
}

fn concat(parts: Vec<Bytes>) -> Bytes {
    match parts.len() {
        1 => parts.into_iter().next().unwrap_or_default(),
        _ => Bytes::from(parts.concat()),
    }
}
