//! A fixed set of downloads, one or more in every state, with every optional field used
//! somewhere: what the schema-1 fixture database (`tests/fixtures/schema1.redb.gz`) holds, so
//! that the migration test can check each record it reads back against what was written.
//! `write_load --write-schema1-fixture <path>` wrote it, built from the commit before records
//! became binary (JSON records, schema 1).

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use uuid::Uuid;

use tributary::engine::download::{
    Attempt, ChosenSource, Download, FailureCause, Status, TrackInfo, TriedSource,
};

/// The time the fixture was "written" (sub-millisecond digits kept on purpose).
pub fn base_time() -> DateTime<Utc> {
    Utc.timestamp_opt(1_714_564_800, 123_456_789)
        .single()
        .unwrap_or_default()
}

pub const KEYED_ID: u128 = 1;
pub const IDEMPOTENCY_KEY: &str = "fixture-key";
/// Inserted as QUEUED with a transfer, then cancelled: leaves a released transfer.
pub const RELEASED_ID: u128 = 12;

fn at(secs: u64) -> DateTime<Utc> {
    base_time() + Duration::from_secs(secs)
}

fn source(n: u128, uri: bool) -> ChosenSource {
    ChosenSource {
        peer: format!("peer-{n}"),
        filename: format!("@@music\\Artist\\Album\\{n:02} Song.flac"),
        size: 31_457_280 + u64::try_from(n).unwrap_or(0),
        format: Some("flac".into()),
        bitrate_kbps: if uri { None } else { Some(1411) },
        uri: uri.then(|| format!("magnet:?xt=urn:btih:{n:040}")),
        file: uri.then(|| "Album/01 Song.flac".to_owned()),
    }
}

/// The downloads, as stored once the fixture's writes are done.
pub fn downloads() -> Vec<Download> {
    let statuses = [
        Status::Waiting,     // 1 (keyed)
        Status::Waiting,     // 2
        Status::Pending,     // 3
        Status::Queued,      // 4
        Status::Downloading, // 5
        Status::Paused,      // 6
        Status::Stalled,     // 7
        Status::Completed,   // 8
        Status::Completed,   // 9
        Status::Failed,      // 10 (retry due)
        Status::Failed,      // 11 (gave up)
        Status::Cancelled,   // 12 (released)
    ];
    let mut out = Vec::new();
    for (i, status) in statuses.into_iter().enumerate() {
        let n = u128::try_from(i).unwrap_or(0) + 1;
        let id = Uuid::from_u128(n);
        let secs = u64::try_from(n).unwrap_or(0) * 61;
        let mut d = Download {
            provider_id: "slskd".into(),
            provider_kind: "soulseek".into(),
            provider_name: "slskd".into(),
            max_retries: 3,
            priority: i32::try_from(n % 3).unwrap_or(0) - 1,
            // Half of them carry the caller's own track id, half the default (the id).
            ..Download::waiting(
                id,
                if n % 2 == 0 {
                    format!("spotify:track:{n:022}")
                } else {
                    id.to_string()
                },
                TrackInfo {
                    title: format!("Song {n} — ünïcode"),
                    artist: "Artist".into(),
                    album: (n % 3 != 0).then(|| "Album".to_owned()),
                },
                at(secs),
            )
        };
        d.status = status;
        d.status_since = at(secs + 30);
        d.updated_at = at(secs + 31);
        d.duration_secs = (n % 2 == 1).then_some(200);
        if status != Status::Waiting {
            d.source = Some(source(n, n == 5));
            d.source_fixed = n == 5;
        }
        if matches!(
            status,
            Status::Queued | Status::Downloading | Status::Stalled | Status::Paused
        ) {
            d.external_id = Some(format!("transfer-{n}"));
            d.transfer_requested_at = Some(at(secs + 5));
        }
        match status {
            Status::Queued => {
                d.queue_position = Some(7);
                d.status_message = Some("Queued at peer-4: position 7 in the peer's queue".into());
            }
            Status::Downloading | Status::Stalled => {
                d.started_at = Some(at(secs + 10));
                d.bytes_downloaded = 1_234_567;
                d.total_bytes = 31_457_280;
                d.speed_bytes_per_sec = 524_288.5;
            }
            Status::Completed => {
                d.completed_at = Some(at(secs + 40));
                d.bytes_downloaded = 31_457_280;
                d.total_bytes = 31_457_280;
                d.local_path = Some(format!("/music/Artist/Album/{n:02} Song.flac"));
            }
            Status::Failed => {
                d.failure_cause = Some(if n == 10 {
                    FailureCause::PeerOffline
                } else {
                    FailureCause::NotFound
                });
                d.error_message = Some("peer offline".into());
                d.retry_count = if n == 10 { 1 } else { 3 };
                d.next_retry_at = (n == 10).then(|| at(secs + 600));
                d.tried_sources.push(TriedSource {
                    peer: "peer-x".into(),
                    filename: "a.flac".into(),
                });
                d.attempts.push(Attempt {
                    source: Some(TriedSource {
                        peer: "peer-x".into(),
                        filename: "a.flac".into(),
                    }),
                    cause: FailureCause::PeerOffline,
                    message: "peer offline".into(),
                    at: at(secs + 20),
                });
                d.attempts.push(Attempt {
                    source: None,
                    cause: FailureCause::NotFound,
                    message: "nothing found".into(),
                    at: at(secs + 25),
                });
            }
            Status::Cancelled => {
                d.status_message = Some("Cancelled".into());
            }
            _ => {}
        }
        out.push(d);
    }
    out
}

/// The released record's queued form, before it was cancelled.
pub fn released_before(cancelled: &Download) -> Download {
    let mut d = cancelled.clone();
    d.status = Status::Queued;
    d.status_message = None;
    d.external_id = Some("transfer-12".into());
    d.status_since = d.created_at;
    d
}

/// Writes the fixture with the store of this build.
pub fn write(path: &std::path::Path) -> anyhow::Result<()> {
    use tributary::store::{Inserted, Store};
    let _ = std::fs::remove_file(path);
    let store = Store::open(path)?;
    let all = downloads();
    let plain: Vec<Download> = all
        .iter()
        .filter(|d| ![KEYED_ID, RELEASED_ID].contains(&d.id.as_u128()))
        .cloned()
        .collect();
    store.insert_batch(&plain)?;
    let keyed = all
        .iter()
        .find(|d| d.id.as_u128() == KEYED_ID)
        .ok_or_else(|| anyhow::anyhow!("no keyed download"))?;
    let created = store.insert_unless_known(keyed, Some(IDEMPOTENCY_KEY), DateTime::UNIX_EPOCH)?;
    anyhow::ensure!(
        matches!(created, Inserted::Created),
        "keyed download not created"
    );
    let cancelled = all
        .iter()
        .find(|d| d.id.as_u128() == RELEASED_ID)
        .ok_or_else(|| anyhow::anyhow!("no released download"))?
        .clone();
    store.insert_batch(&[released_before(&cancelled)])?;
    let id = cancelled.id;
    store
        .update::<std::convert::Infallible>(id, move |d| {
            *d = cancelled;
            Ok(())
        })?
        .map_err(|e| match e {})?;
    store.set_flag("paused", true)?;
    anyhow::ensure!(store.counts()? == store.recount()?.0, "counters disagree");
    Ok(())
}
