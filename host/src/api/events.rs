//! `GET /api/downloads/manager/events`: Server-Sent Events from the shared live feed.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream;
use salvo::http::HeaderValue;
use salvo::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use salvo::oapi::endpoint;
use salvo::prelude::*;

use super::state::state;

/// A comment line at least this often keeps proxies from closing an idle stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Live updates: event `update` with `{downloads, stats, timestamp}`, at once, after every
/// change and at least every 2 s.
#[endpoint(tags("manager"), responses((status_code = 200, description = "text/event-stream of `update` events")))]
pub async fn events(depot: &mut Depot, res: &mut Response) {
    let s = match state(depot) {
        Ok(s) => s,
        Err(e) => return e.write(res),
    };
    let first = s.live.current(&s.engine);
    let mut frames = s.live.subscribe();
    frames.mark_unchanged();
    let shutdown = s.shutdown.clone();
    let headers = res.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    let body = stream::unfold(
        (Some(first.bytes.clone()), frames, shutdown, false),
        |(pending, mut frames, mut shutdown, ended)| async move {
            if ended {
                return None;
            }
            if let Some(bytes) = pending {
                return Some((
                    Ok::<Bytes, Infallible>(bytes),
                    (None, frames, shutdown, false),
                ));
            }
            if *shutdown.borrow() {
                return None;
            }
            tokio::select! {
                changed = frames.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                    let bytes = frames.borrow_and_update().bytes.clone();
                    Some((Ok(bytes), (None, frames, shutdown, false)))
                }
                _ = tokio::time::sleep(KEEP_ALIVE) => Some((Ok(Bytes::from_static(b": keep-alive\n\n")), (None, frames, shutdown, false))),
                _ = shutdown.changed() => Some((Ok(Bytes::from_static(b": server shutting down\n\n")), (None, frames, shutdown, true))),
            }
        },
    );
    res.stream(body);
}
