//! `GET /api/downloads/manager/export`: every download (of one status), as JSON or CSV,
//! streamed page by page so a large store never sits in memory.

use std::convert::Infallible;

use bytes::Bytes;
use futures_util::stream;
use salvo::http::HeaderValue;
use salvo::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use salvo::oapi::endpoint;
use salvo::prelude::*;
use tokio::sync::mpsc;

use super::error::ApiError;
use super::input::query_choice;
use super::state::state;
use crate::engine::download::{Download, Status};
use crate::store::Store;
use crate::view::dto::{UnifiedDownload, timestamp};

const PAGE: usize = 500;
const FORMATS: &[&str] = &["json", "csv"];
const CSV_HEADER: [&str; 12] = [
    "ID",
    "Title",
    "Artist",
    "Album",
    "Status",
    "Provider",
    "Progress %",
    "Size",
    "Size Bytes",
    "Created At",
    "Completed At",
    "Error",
];

fn statuses() -> Vec<&'static str> {
    Status::ALL.iter().map(|s| s.as_str()).collect()
}

/// Downloads as JSON (`{downloads, count, exported_at}`) or a CSV attachment.
#[endpoint(
    tags("manager"),
    parameters(
        ("format" = Option<String>, Query, description = "json (default) or csv"),
        ("status" = Option<String>, Query, description = "Only downloads in this status")
    ),
    responses((status_code = 200, description = "JSON or CSV"), (status_code = 400, body = crate::view::dto::ErrorBody))
)]
pub async fn export(req: &mut Request, depot: &mut Depot, res: &mut Response) {
    let parsed = (|| {
        let format = query_choice(req, "format", FORMATS)?.unwrap_or_else(|| "json".into());
        let status = query_choice(req, "status", &statuses())?.and_then(|s| Status::parse(&s));
        Ok::<_, ApiError>((format, status, state(depot)?))
    })();
    let (format, status, s) = match parsed {
        Ok(p) => p,
        Err(e) => return e.write(res),
    };
    let csv = format == "csv";
    let (tx, rx) = mpsc::channel::<Bytes>(4);
    let engine = s.engine.clone();
    tokio::task::spawn_blocking(move || {
        let result = if csv {
            write_csv(engine.store(), status, &tx)
        } else {
            write_json(engine.store(), status, &tx)
        };
        if let Err(e) = result {
            tracing::error!("export stopped: {e}");
        }
    });
    let headers = res.headers_mut();
    if csv {
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("text/csv; charset=utf-8"),
        );
        let name = format!(
            "attachment; filename=\"downloads-{}.csv\"",
            &timestamp(chrono::Utc::now())[..10]
        );
        if let Ok(v) = HeaderValue::from_str(&name) {
            headers.insert(CONTENT_DISPOSITION, v);
        }
    } else {
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    res.stream(stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    }));
}

/// Walks the store page by page; `emit` gets each page. Stops when the client went away.
fn walk(
    store: &Store,
    status: Option<Status>,
    mut emit: impl FnMut(&[Download]) -> bool,
) -> Result<usize, crate::store::StoreError> {
    let mut after = None;
    let mut count = 0;
    loop {
        let page = store.page(status, after, PAGE)?;
        let Some(last) = page.last() else {
            return Ok(count);
        };
        after = Some(last.id);
        count += page.len();
        if !emit(&page) {
            return Ok(count);
        }
    }
}

fn write_json(
    store: &Store,
    status: Option<Status>,
    tx: &mpsc::Sender<Bytes>,
) -> Result<(), crate::store::StoreError> {
    if tx
        .blocking_send(Bytes::from_static(b"{\"downloads\":["))
        .is_err()
    {
        return Ok(());
    }
    let mut first = true;
    let count = walk(store, status, |page| {
        let mut chunk = Vec::new();
        for d in page {
            if !first {
                chunk.push(b',');
            }
            first = false;
            let _ = serde_json::to_writer(&mut chunk, &UnifiedDownload::from(d));
        }
        tx.blocking_send(Bytes::from(chunk)).is_ok()
    })?;
    // The count goes last, so that it is the number of rows actually written.
    let tail = format!(
        "],\"count\":{count},\"exported_at\":\"{}\"}}",
        timestamp(chrono::Utc::now())
    );
    let _ = tx.blocking_send(Bytes::from(tail));
    Ok(())
}

/// Cells a spreadsheet would run as a formula get a leading apostrophe.
fn neutralise(cell: &str) -> String {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}"),
        _ => cell.to_owned(),
    }
}

fn write_csv(
    store: &Store,
    status: Option<Status>,
    tx: &mpsc::Sender<Bytes>,
) -> Result<(), crate::store::StoreError> {
    let mut header = csv::Writer::from_writer(Vec::new());
    let _ = header.write_record(CSV_HEADER);
    if tx
        .blocking_send(Bytes::from(header.into_inner().unwrap_or_default()))
        .is_err()
    {
        return Ok(());
    }
    walk(store, status, |page| {
        let mut w = csv::Writer::from_writer(Vec::new());
        for d in page {
            let u = UnifiedDownload::from(d);
            let row = [
                u.id.clone(),
                neutralise(&u.track_info.title),
                neutralise(&u.track_info.artist),
                neutralise(u.track_info.album.as_deref().unwrap_or("")),
                u.status.clone(),
                neutralise(&u.provider_name),
                format!("{:.1}", u.progress.percent),
                u.progress.size_formatted.clone(),
                u.progress.total_bytes.to_string(),
                u.created_at.clone(),
                u.completed_at.clone().unwrap_or_default(),
                neutralise(u.error_message.as_deref().unwrap_or("")),
            ];
            let _ = w.write_record(&row);
        }
        tx.blocking_send(Bytes::from(w.into_inner().unwrap_or_default()))
            .is_ok()
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_neutralised() {
        assert_eq!(neutralise("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(neutralise("+1"), "'+1");
        assert_eq!(neutralise("-2"), "'-2");
        assert_eq!(neutralise("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(neutralise("Björk"), "Björk");
        assert_eq!(neutralise(""), "");
    }
}
