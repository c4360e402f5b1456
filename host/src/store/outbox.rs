//! The webhook outbox. An event is recorded in the same write as the change it tells of (see
//! `write_download`), so a crash loses neither. The deliverer then fans each event out into one
//! delivery per webhook that wants it (in one write: the event goes, its deliveries come), and
//! each delivery stays until its receiver has taken it. At-least-once: a crash after a
//! receiver took a delivery and before it was deleted sends it again, with the same id.

use redb::{ReadableDatabase, ReadableTable};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::tables::{DELIVERIES, EVENTS};
use super::{Store, StoreError, decode, encode};
use crate::engine::download::Download;
use crate::engine::download_events::EventKind;

/// An event as recorded: its type, when, and the download as it was then.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub id: Uuid,
    pub kind: EventKind,
    pub at_ms: i64,
    pub download: Download,
}

#[derive(Serialize, Deserialize)]
struct EventRecord {
    kind: u8,
    at_ms: i64,
    download_id: u128,
    /// The download in `encoding`'s format (which keeps its id in the table key).
    download: Vec<u8>,
}

fn corrupt(id: Uuid, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        id,
        message: e.to_string(),
    }
}

/// One event on its way to one webhook.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    /// The request body, fixed when the event was fanned out: every retry sends the same.
    pub body: Vec<u8>,
    pub kind: String,
    pub attempts: u32,
    /// Not before this moment (ms since the epoch).
    pub next_at_ms: i64,
    /// When the event happened (ms since the epoch), for the latency.
    pub event_at_ms: i64,
    pub last_error: Option<String>,
}

pub(super) fn record_event(
    table: &mut redb::Table<'_, u128, &'static [u8]>,
    kind: EventKind,
    d: &Download,
) -> Result<(), StoreError> {
    let record = EventRecord {
        kind: kind.code(),
        at_ms: chrono::Utc::now().timestamp_millis(),
        download_id: d.id.as_u128(),
        download: encode(d)?,
    };
    let bytes = postcard::to_stdvec(&record).map_err(|e| corrupt(d.id, e))?;
    // v7: time-ordered, so the table reads in the order events happened.
    table.insert(Uuid::now_v7().as_u128(), bytes.as_slice())?;
    Ok(())
}

impl Store {
    /// Whether changes record events (only when webhooks are configured: nobody would take
    /// them otherwise).
    pub fn record_events(&self, on: bool) {
        self.events_on
            .store(on, std::sync::atomic::Ordering::SeqCst);
    }

    pub(super) fn events_on(&self) -> bool {
        self.events_on.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The oldest events not yet fanned out.
    pub fn events(&self, limit: usize) -> Result<Vec<StoredEvent>, StoreError> {
        self.checked(|| {
            let txn = self.db.begin_read()?;
            let table = txn.open_table(EVENTS)?;
            let mut out = Vec::new();
            for entry in table.iter()?.take(limit) {
                let (key, value) = entry?;
                let id = Uuid::from_u128(key.value());
                let record: EventRecord =
                    postcard::from_bytes(value.value()).map_err(|e| corrupt(id, e))?;
                let Some(kind) = EventKind::from_code(record.kind) else {
                    continue;
                };
                let download = decode(record.download_id, &record.download)?;
                out.push(StoredEvent {
                    id,
                    kind,
                    at_ms: record.at_ms,
                    download,
                });
            }
            Ok(out)
        })
    }

    /// Replaces an event by its deliveries (keyed by webhook name), in one write.
    pub fn fan_out(
        &self,
        event: Uuid,
        deliveries: &[(String, Delivery)],
    ) -> Result<(), StoreError> {
        let encoded = deliveries
            .iter()
            .map(|(hook, d)| Ok((hook.as_str(), serde_json::to_vec(d)?)))
            .collect::<Result<Vec<_>, serde_json::Error>>()
            .map_err(|e| corrupt(event, e))?;
        self.write(|txn, _| {
            txn.open_table(EVENTS)?.remove(event.as_u128())?;
            let mut table = txn.open_table(DELIVERIES)?;
            for (hook, bytes) in &encoded {
                table.insert((event.as_u128(), *hook), bytes.as_slice())?;
            }
            Ok(())
        })
    }

    /// Deliveries due at `now_ms`, oldest event first.
    pub fn due_deliveries(
        &self,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<(Uuid, String, Delivery)>, StoreError> {
        self.checked(|| {
            let txn = self.db.begin_read()?;
            let table = txn.open_table(DELIVERIES)?;
            let mut out = Vec::new();
            for entry in table.iter()? {
                let (key, value) = entry?;
                let Ok(d) = serde_json::from_slice::<Delivery>(value.value()) else {
                    continue;
                };
                if d.next_at_ms <= now_ms {
                    let (event, hook) = key.value();
                    out.push((Uuid::from_u128(event), hook.to_owned(), d));
                    if out.len() >= limit {
                        break;
                    }
                }
            }
            Ok(out)
        })
    }

    /// A delivery taken (or given up): it goes.
    pub fn delivery_done(&self, event: Uuid, hook: &str) -> Result<(), StoreError> {
        self.write(|txn, _| {
            txn.open_table(DELIVERIES)?
                .remove((event.as_u128(), hook))?;
            Ok(())
        })
    }

    /// A delivery to try again later.
    pub fn delivery_retry(&self, event: Uuid, hook: &str, d: &Delivery) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(d).map_err(|e| corrupt(event, e))?;
        self.write(|txn, _| {
            let mut table = txn.open_table(DELIVERIES)?;
            // Only a delivery still waiting is updated: one given up meanwhile stays gone.
            if table.get((event.as_u128(), hook))?.is_some() {
                table.insert((event.as_u128(), hook), bytes.as_slice())?;
            }
            Ok(())
        })
    }
}
