//! `GET /api/downloads/manager/export`: every download (of one status), as JSON or CSV,
//! streamed page by page so a large store never sits in memory.

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
use uuid::Uuid;

use crate::engine::download::{Download, Status};
use crate::store::StoreError;
use crate::view::dto::{UnifiedDownload, timestamp};

const PAGE: usize = 500;
const FORMATS: &[&str] = &["json", "csv"];
/// The specification's ten columns in its order, then ours: a spreadsheet or script written
/// from the specification finds its columns where it expects them.
const CSV_HEADER: [&str; 12] = [
    "ID",
    "Title",
    "Artist",
    "Album",
    "Status",
    "Provider",
    "Progress %",
    "Size",
    "Created At",
    "Error",
    "Size Bytes",
    "Completed At",
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
        let s = state(depot)?;
        // One snapshot for the whole export, and its first page read before the answer
        // starts: a storage error is then a plain error answer, not a cut-off document.
        let snapshot = s.engine.store().snapshot()?;
        let first = snapshot.page(status, None, PAGE)?;
        Ok::<_, ApiError>((format, status, snapshot, first))
    })();
    let (format, status, snapshot, first) = match parsed {
        Ok(p) => p,
        Err(e) => return e.write(res),
    };
    let csv = format == "csv";
    let (tx, rx) = mpsc::channel::<Chunk>(4);
    tokio::task::spawn_blocking(move || {
        let pages = Pages::new(first, |after| snapshot.page(status, after, PAGE));
        write(pages, csv, &tx);
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
        rx.recv().await.map(|chunk| (chunk, rx))
    }));
}

/// Writes the whole export into `tx`. A storage error part-way ends the stream with an error
/// (the client sees the answer cut off, with no closing chunk), never a complete-looking
/// document with rows missing.
fn write<F>(pages: Pages<F>, csv: bool, tx: &mpsc::Sender<Chunk>)
where
    F: FnMut(Option<Uuid>) -> Result<Vec<Download>, StoreError>,
{
    let result = if csv {
        write_csv(pages, tx)
    } else {
        write_json(pages, tx)
    };
    if let Err(e) = result {
        tracing::error!("export stopped part-way: {e}");
        let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
    }
}

/// A piece of the answer, or the error that ends it.
type Chunk = Result<Bytes, std::io::Error>;

/// The export's pages in id order: the first one already read, the rest fetched after the
/// last id seen.
struct Pages<F> {
    next: Option<Vec<Download>>,
    fetch: F,
}

impl<F> Pages<F>
where
    F: FnMut(Option<Uuid>) -> Result<Vec<Download>, StoreError>,
{
    fn new(first: Vec<Download>, fetch: F) -> Pages<F> {
        Pages {
            next: Some(first),
            fetch,
        }
    }

    /// Hands each page to `emit`; stops when the store is walked or the client went away.
    /// Returns the number of rows handed over.
    fn walk(mut self, mut emit: impl FnMut(&[Download]) -> bool) -> Result<usize, StoreError> {
        let mut count = 0;
        while let Some(page) = self.next.take() {
            let Some(last) = page.last().map(|d| d.id) else {
                break;
            };
            count += page.len();
            if !emit(&page) {
                break;
            }
            self.next = Some((self.fetch)(Some(last))?);
        }
        Ok(count)
    }
}

fn send(tx: &mpsc::Sender<Chunk>, bytes: Vec<u8>) -> bool {
    tx.blocking_send(Ok(Bytes::from(bytes))).is_ok()
}

fn write_json<F>(pages: Pages<F>, tx: &mpsc::Sender<Chunk>) -> Result<(), StoreError>
where
    F: FnMut(Option<Uuid>) -> Result<Vec<Download>, StoreError>,
{
    if !send(tx, b"{\"downloads\":[".to_vec()) {
        return Ok(());
    }
    let mut first = true;
    let count = pages.walk(|page| {
        let mut chunk = Vec::new();
        for d in page {
            if !first {
                chunk.push(b',');
            }
            first = false;
            let _ = serde_json::to_writer(&mut chunk, &UnifiedDownload::from(d));
        }
        send(tx, chunk)
    })?;
    // The count goes last, so that it is the number of rows actually written.
    let tail = format!(
        "],\"count\":{count},\"exported_at\":\"{}\"}}",
        timestamp(chrono::Utc::now())
    );
    send(tx, tail.into_bytes());
    Ok(())
}

/// Cells a spreadsheet would run as a formula get a leading apostrophe.
fn neutralise(cell: &str) -> String {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}"),
        _ => cell.to_owned(),
    }
}

fn write_csv<F>(pages: Pages<F>, tx: &mpsc::Sender<Chunk>) -> Result<(), StoreError>
where
    F: FnMut(Option<Uuid>) -> Result<Vec<Download>, StoreError>,
{
    let mut header = csv::Writer::from_writer(Vec::new());
    let _ = header.write_record(CSV_HEADER);
    if !send(tx, header.into_inner().unwrap_or_default()) {
        return Ok(());
    }
    pages.walk(|page| {
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
                u.created_at.clone(),
                neutralise(u.error_message.as_deref().unwrap_or("")),
                u.progress.total_bytes.to_string(),
                u.completed_at.clone().unwrap_or_default(),
            ];
            let _ = w.write_record(&row);
        }
        send(tx, w.into_inner().unwrap_or_default())
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::download::TrackInfo;

    fn download(n: u128) -> Download {
        Download::waiting(
            Uuid::from_u128(n),
            format!("t{n}"),
            TrackInfo {
                title: format!("Title {n}"),
                artist: "Artist".into(),
                album: None,
            },
            chrono::DateTime::UNIX_EPOCH,
        )
    }

    /// Runs an export whose second page fails to read; returns the bytes sent and whether the
    /// stream ended with an error.
    fn export_failing_part_way(csv: bool) -> (String, bool) {
        let (tx, mut rx) = mpsc::channel(16);
        let pages = Pages::new(vec![download(1), download(2)], |_| {
            Err(StoreError::NotFound(Uuid::from_u128(3)))
        });
        write(pages, csv, &tx);
        drop(tx);
        let mut body = Vec::new();
        let mut ended_in_error = false;
        while let Ok(chunk) = rx.try_recv() {
            match chunk {
                Ok(bytes) => {
                    assert!(!ended_in_error, "nothing after the error");
                    body.extend_from_slice(&bytes);
                }
                Err(_) => ended_in_error = true,
            }
        }
        (String::from_utf8(body).unwrap(), ended_in_error)
    }

    #[test]
    fn a_storage_error_part_way_ends_the_stream_with_an_error() {
        let (json, failed) = export_failing_part_way(false);
        assert!(failed, "the JSON stream ends in an error");
        assert!(json.contains("Title 2"), "the rows before it were sent");
        assert!(
            serde_json::from_str::<serde_json::Value>(&json).is_err()
                && !json.contains(",\"count\":"),
            "no complete-looking document: {json}"
        );
        let (csv, failed) = export_failing_part_way(true);
        assert!(failed, "the CSV stream ends in an error");
        assert_eq!(
            csv.lines().count(),
            3,
            "header and the two rows read: {csv}"
        );
    }

    #[test]
    fn an_export_walks_every_page() {
        let (tx, mut rx) = mpsc::channel(16);
        let mut served = 0;
        let pages = Pages::new(vec![download(1), download(2)], |after| {
            served += 1;
            Ok(match after.map(|a| a.as_u128()) {
                Some(2) => vec![download(3)],
                _ => Vec::new(),
            })
        });
        write(pages, false, &tx);
        drop(tx);
        let mut body = Vec::new();
        while let Ok(chunk) = rx.try_recv() {
            body.extend_from_slice(&chunk.unwrap());
        }
        assert_eq!(
            served, 2,
            "the page after the last one is asked for, then no more"
        );
        let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(doc["count"], 3);
        assert_eq!(doc["downloads"][2]["track_info"]["title"], "Title 3");
    }

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
