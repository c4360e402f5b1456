//! Persistence in redb: downloads, the secondary indexes the queries need, and per-status
//! counters written in the same transaction as every change, so statistics are O(1) and never
//! disagree with the list. Every write is a durable commit before the caller announces it;
//! writes that arrive together share one commit (`writer`).

mod commit_times;
pub mod counters;
mod encoding;
pub mod outbox;
mod peers;
mod tables;
mod writer;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, WriteTransaction};
use tokio::sync::watch;
use uuid::Uuid;

use crate::engine::breaker::Breaker;
use crate::engine::download::{Download, Status};
use crate::engine::download_events::events_of;
pub use commit_times::{COMMIT_DURATION_BOUNDS, CommitHistogram};
use counters::{Deltas, Tallies};
use tables::*;
use writer::Writer;

/// The schema this build writes. Opening a database written by a newer build is refused.
/// 1: records as JSON. 2: records in `encoding`'s binary format 1 (schema 1 is migrated at
/// open). 3: records may be in binary format 2, which a schema-2 build cannot read. 4: records
/// may be in binary format 3 (a verified file, a library path), which a schema-3 build cannot
/// read.
pub const SCHEMA_VERSION: u64 = 4;

/// Schema-1 records rewritten per transaction by the migration.
const MIGRATION_CHUNK: usize = 2000;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database {path}: {message}")]
    Open { path: PathBuf, message: String },
    #[error(
        "the database {path} was written by a newer Tributary (schema {found}; this build knows up to {SCHEMA_VERSION}); upgrade Tributary or use another storage path"
    )]
    NewerSchema { path: PathBuf, found: u64 },
    #[error(transparent)]
    Failed(#[from] StorageFailure),
    #[error("database error: {0}")]
    Db(redb::Error),
    #[error("stored record {id} cannot be read: {message}")]
    Corrupt { id: Uuid, message: String },
    #[error("download {0} not found")]
    NotFound(Uuid),
    /// The write shared its commit with one that failed: nothing of it was written.
    #[error("nothing was written: {0}")]
    Aborted(String),
    /// A change would make a second active download of one track.
    #[error("track {track} already has an active download ({holder})")]
    TrackBusy { track: String, holder: Uuid },
}

/// The database file could not be written or read. redb refuses every later operation once a
/// write has failed, until the file is opened again; so the first failure is kept and stands
/// for all of them, and whoever runs the store stops rather than carrying on without it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorageFailure {
    #[error("the disk holding the database is full ({0})")]
    DiskFull(String),
    #[error("the database file cannot be written or read ({0})")]
    Io(String),
    #[error("the database refused an operation after an earlier storage error")]
    AfterEarlierFailure,
}

impl From<redb::Error> for StoreError {
    fn from(e: redb::Error) -> Self {
        match e {
            redb::Error::Io(io) => StoreError::Failed(match io.kind() {
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => {
                    StorageFailure::DiskFull(io.to_string())
                }
                _ => StorageFailure::Io(io.to_string()),
            }),
            redb::Error::PreviousIo | redb::Error::DatabaseClosed => {
                StoreError::Failed(StorageFailure::AfterEarlierFailure)
            }
            other => StoreError::Db(other),
        }
    }
}

macro_rules! db_err {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                redb::Error::from(e).into()
            }
        }
    )*};
}
db_err!(
    redb::StorageError,
    redb::TableError,
    redb::TransactionError,
    redb::CommitError
);

/// Per-status counts, read from the counters table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatusCounts(pub [u64; 9]);

impl StatusCounts {
    pub fn get(&self, s: Status) -> u64 {
        self.0[usize::from(s.code())]
    }
}

pub struct Store {
    db: Database,
    /// The first storage failure, once there is one; see [`StorageFailure`].
    failure: watch::Sender<Option<StorageFailure>>,
    /// Groups writes into shared commits and keeps the counters in memory.
    writer: Writer,
    /// Changes record webhook events (see `outbox`).
    events_on: std::sync::atomic::AtomicBool,
}

/// A read transaction: every read through it sees the store at the moment it was taken.
pub struct Snapshot {
    txn: redb::ReadTransaction,
}

impl Snapshot {
    /// One page of downloads in id order, after `after`, optionally of one status: exports walk
    /// the store this way without holding it all in memory.
    pub fn page(
        &self,
        status: Option<Status>,
        after: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<Download>, StoreError> {
        let start = after.map_or(0, |a| a.as_u128().saturating_add(1));
        if after.is_some_and(|a| a.as_u128() == u128::MAX) {
            return Ok(Vec::new());
        }
        let records = self.txn.open_table(DOWNLOADS)?;
        let mut out = Vec::new();
        match status {
            None => {
                for entry in records.range(start..)?.take(limit) {
                    let (k, v) = entry?;
                    out.push(decode(k.value(), v.value())?);
                }
            }
            Some(s) => {
                let index = self.txn.open_table(BY_STATUS)?;
                for entry in index
                    .range((s.code(), start)..=(s.code(), u128::MAX))?
                    .take(limit)
                {
                    let id = entry?.0.value().1;
                    if let Some(raw) = records.get(id)? {
                        out.push(decode(id, raw.value())?);
                    }
                }
            }
        }
        Ok(out)
    }
}

/// Set once the idempotency keys of a database written before they expired are indexed by age.
const KEYS_BY_AGE_FLAG: &str = "idempotency_keys_by_age";

/// Indexes every idempotency key by the creation time of its download (a database from a build
/// whose keys never expired); a key whose download is gone counts as oldest.
fn index_keys_by_age(txn: &WriteTransaction) -> Result<(), StoreError> {
    let keys = txn.open_table(IDEMPOTENCY)?;
    let records = txn.open_table(DOWNLOADS)?;
    let mut by_age = txn.open_table(IDEMPOTENCY_BY_AGE)?;
    for entry in keys.iter()? {
        let (key, id) = entry?;
        let id = id.value();
        let created = match records.get(id)? {
            Some(raw) => millis(decode(id, raw.value())?.created_at),
            None => i64::MIN,
        };
        by_age.insert((created, key.value()), ())?;
    }
    Ok(())
}

/// What `insert_unless_known` did.
#[derive(Debug)]
pub enum Inserted {
    Created,
    /// The key or the track already had this download; nothing was written.
    Existing(Box<Download>),
}

/// What `update` hands back: the record before and after.
pub struct Updated {
    pub before: Download,
    pub after: Download,
}

fn encode(d: &Download) -> Result<Vec<u8>, StoreError> {
    encoding::encode(d).map_err(|e| StoreError::Corrupt {
        id: d.id,
        message: e.to_string(),
    })
}

fn decode(id: u128, bytes: &[u8]) -> Result<Download, StoreError> {
    encoding::decode(Uuid::from_u128(id), bytes).map_err(|e| StoreError::Corrupt {
        id: Uuid::from_u128(id),
        message: e.to_string(),
    })
}

/// One record's outcome in `update_many`: its edit's verdict, or why the store refused it
/// (not found, track busy, unreadable).
pub type EachUpdated<E> = Result<Result<Updated, E>, StoreError>;

/// Reads a download, lets `change` modify it, and writes it back in `txn`. Refusals (not
/// found, `change`'s error, track busy) come before any write.
fn update_in<E>(
    t: &mut DownloadTables,
    deltas: &mut Deltas,
    id: Uuid,
    change: impl FnOnce(&mut Download) -> Result<(), E>,
) -> Result<Result<Updated, E>, StoreError> {
    deltas.nothing_yet();
    let before = {
        let Some(raw) = t.records()?.get(id.as_u128())? else {
            return Err(StoreError::NotFound(id));
        };
        decode(id.as_u128(), raw.value())?
    };
    let mut after = before.clone();
    if let Err(e) = change(&mut after) {
        return Ok(Err(e));
    }
    if after != before {
        write_download(t, deltas, Some(&before), Some(&after))?;
    }
    Ok(Ok(Updated { before, after }))
}

/// Rewrites schema-1 (JSON) records in the current format, `MIGRATION_CHUNK` a transaction,
/// and records the new schema in the last one. Each chunk commits on its own: after a crash
/// the version still says 1, both forms read, and the next start carries on. A record that
/// cannot be read is left as it is (reading it fails, as it did before). Returns how many were
/// rewritten.
fn migrate(db: &Database) -> Result<usize, StoreError> {
    let version = {
        let txn = db.begin_read()?;
        let meta = txn.open_table(META)?;
        meta.get("schema_version")?.map(|v| u64_from(v.value()))
    };
    if version.is_some_and(|v| v >= SCHEMA_VERSION) {
        return Ok(0);
    }
    let mut next = Some(0u128);
    let mut rewritten = 0;
    while let Some(start) = next {
        let txn = db.begin_write()?;
        {
            let mut records = txn.open_table(DOWNLOADS)?;
            let chunk = records
                .range(start..)?
                .take(MIGRATION_CHUNK)
                .map(|e| e.map(|(k, v)| (k.value(), v.value().to_vec())))
                .collect::<Result<Vec<_>, _>>()?;
            next = match chunk.last() {
                Some((last, _)) if chunk.len() == MIGRATION_CHUNK => last.checked_add(1),
                _ => None,
            };
            for (id, raw) in chunk {
                if encoding::is_current(&raw) {
                    continue;
                }
                match decode(id, &raw) {
                    Ok(d) => {
                        records.insert(id, encode(&d)?.as_slice())?;
                        rewritten += 1;
                    }
                    Err(e) => tracing::warn!("migration leaves a record as it was: {e}"),
                }
            }
        }
        if next.is_none() {
            txn.open_table(META)?
                .insert("schema_version", SCHEMA_VERSION.to_le_bytes().as_slice())?;
        }
        txn.commit()?;
    }
    if rewritten > 0 {
        tracing::info!(
            "database migrated to schema {SCHEMA_VERSION}: {rewritten} records rewritten"
        );
    }
    Ok(rewritten)
}

fn minute(t: DateTime<Utc>) -> i64 {
    t.timestamp().div_euclid(60)
}

fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

impl Store {
    /// Opens (or creates) the database file, creating its folder.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let open_err = |message: String| StoreError::Open {
            path: path.to_path_buf(),
            message,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| open_err(format!("cannot create {}: {e}", dir.display())))?;
        }
        let db = Database::create(path).map_err(|e| open_err(e.to_string()))?;
        let ready = prepare(&db, path)
            .and_then(|()| migrate(&db))
            .and_then(|_| Tallies::load(&db));
        match ready {
            Ok(tallies) => Ok(Store {
                db,
                failure: watch::Sender::new(None),
                writer: Writer::new(tallies),
                events_on: std::sync::atomic::AtomicBool::new(false),
            }),
            Err(StoreError::Failed(failure)) => Err(open_err(failure.to_string())),
            Err(other) => Err(other),
        }
    }

    /// Runs a write in the current group's transaction (see `writer`); answers once it is
    /// durable. `op` must refuse before its first write.
    fn write<R>(
        &self,
        op: impl FnOnce(&WriteTransaction, &mut Deltas) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        self.checked(|| self.writer.write(&self.db, op))
    }

    /// Says when the store has failed for good (see [`StorageFailure`]): the service should stop.
    pub fn failures(&self) -> watch::Receiver<Option<StorageFailure>> {
        self.failure.subscribe()
    }

    /// Runs one operation; a storage failure is latched, and every later one reports the first.
    fn checked<T>(&self, op: impl FnOnce() -> Result<T, StoreError>) -> Result<T, StoreError> {
        op().map_err(|e| match e {
            StoreError::Failed(failure) => {
                self.failure.send_if_modified(|first| {
                    let new = first.is_none();
                    first.get_or_insert(failure);
                    new
                });
                StoreError::Failed(
                    self.failure
                        .borrow()
                        .clone()
                        .unwrap_or(StorageFailure::AfterEarlierFailure),
                )
            }
            other => other,
        })
    }
}

/// Checks the schema version and creates every table.
fn prepare(db: &Database, path: &Path) -> Result<(), StoreError> {
    let txn = db.begin_write()?;
    {
        let mut meta = txn.open_table(META)?;
        let found = meta.get("schema_version")?.map(|v| u64_from(v.value()));
        match found {
            Some(v) if v > SCHEMA_VERSION => {
                return Err(StoreError::NewerSchema {
                    path: path.to_path_buf(),
                    found: v,
                });
            }
            Some(_) => {}
            None => {
                meta.insert("schema_version", SCHEMA_VERSION.to_le_bytes().as_slice())?;
            }
        }
        // Create every table, so that reads never meet a missing one.
        txn.open_table(DOWNLOADS)?;
        txn.open_table(BY_STATUS)?;
        txn.open_table(DISPATCH)?;
        txn.open_table(BY_TERMINAL)?;
        txn.open_table(BY_EXTERNAL)?;
        txn.open_table(ACTIVE_TRACK)?;
        txn.open_table(IDEMPOTENCY)?;
        txn.open_table(IDEMPOTENCY_BY_AGE)?;
        txn.open_table(COUNTERS)?;
        txn.open_table(TERMINAL_BUCKETS)?;
        txn.open_table(BREAKERS)?;
        txn.open_table(RETRY_DUE)?;
        txn.open_table(RELEASED)?;
        txn.open_table(PEERS)?;
        txn.open_table(EVENTS)?;
        txn.open_table(DELIVERIES)?;
        if meta.get(KEYS_BY_AGE_FLAG)?.is_none() {
            index_keys_by_age(&txn)?;
            meta.insert(KEYS_BY_AGE_FLAG, [1u8].as_slice())?;
        }
    }
    txn.commit()?;
    Ok(())
}

/// Adds `d` unless its idempotency key or its track already names a download (see
/// [`Store::insert_unless_known`]); refuses before writing anything.
fn insert_one(
    txn: &WriteTransaction,
    t: &mut DownloadTables,
    deltas: &mut Deltas,
    d: &Download,
    idempotency_key: Option<&str>,
    keys_valid_since: DateTime<Utc>,
) -> Result<Inserted, StoreError> {
    let existing = {
        let by_key = match idempotency_key {
            Some(key) => txn.open_table(IDEMPOTENCY)?.get(key)?.map(|v| v.value()),
            None => None,
        };
        let by_track = t
            .active_track()?
            .get(d.track_id.as_str())?
            .map(|v| v.value());
        let records = t.records()?;
        let load = |id: u128| -> Result<Option<Download>, StoreError> {
            records.get(id)?.map(|r| decode(id, r.value())).transpose()
        };
        let keyed = match by_key {
            Some(id) => load(id)?.filter(|k| k.created_at >= keys_valid_since),
            None => None,
        };
        match (keyed, by_track) {
            (Some(keyed), _) => Some(keyed),
            (None, Some(id)) => load(id)?,
            (None, None) => None,
        }
    };
    if let Some(existing) = existing {
        deltas.nothing_yet();
        return Ok(Inserted::Existing(Box::new(existing)));
    }
    write_download(t, deltas, None, Some(d))?;
    if let Some(key) = idempotency_key {
        txn.open_table(IDEMPOTENCY)?.insert(key, d.id.as_u128())?;
        txn.open_table(IDEMPOTENCY_BY_AGE)?
            .insert((millis(d.created_at), key), ())?;
    }
    Ok(Inserted::Created)
}

impl Store {
    /// Adds a new download unless its idempotency key was seen (by a download created at or
    /// after `keys_valid_since`: older keys have expired) or its track already has an active
    /// download — checked in the same write transaction, so two concurrent requests cannot both
    /// create one.
    pub fn insert_unless_known(
        &self,
        d: &Download,
        idempotency_key: Option<&str>,
        keys_valid_since: DateTime<Utc>,
    ) -> Result<Inserted, StoreError> {
        self.write(|txn, deltas| {
            insert_one(
                txn,
                &mut DownloadTables::new(txn, self.events_on()),
                deltas,
                d,
                idempotency_key,
                keys_valid_since,
            )
        })
    }

    /// As [`insert_unless_known`](Self::insert_unless_known) for each `(download, key)`, in
    /// order, as one write: a later one sees the earlier ones (two creates of one track make
    /// one download).
    pub fn insert_many_unless_known(
        &self,
        items: &[(Download, Option<String>)],
        keys_valid_since: DateTime<Utc>,
    ) -> Result<Vec<Inserted>, StoreError> {
        self.write(|txn, deltas| {
            let mut t = DownloadTables::new(txn, self.events_on());
            items
                .iter()
                .map(|(d, key)| {
                    insert_one(txn, &mut t, deltas, d, key.as_deref(), keys_valid_since)
                })
                .collect()
        })
    }

    /// Forgets up to `limit` idempotency keys of downloads created before `before` (a key
    /// reused since then for a newer download stays); returns how many were forgotten.
    pub fn expire_idempotency_keys(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<usize, StoreError> {
        self.write(|txn, _| {
            let mut by_age = txn.open_table(IDEMPOTENCY_BY_AGE)?;
            let mut keys = txn.open_table(IDEMPOTENCY)?;
            let records = txn.open_table(DOWNLOADS)?;
            let old: Vec<(i64, String)> = by_age
                .range((i64::MIN, "")..(millis(before), ""))?
                .take(limit)
                .map(|e| e.map(|(k, _)| (k.value().0, k.value().1.to_owned())))
                .collect::<Result<_, _>>()?;
            // Decide everything first: an unreadable record refuses before any write.
            let mut forget = Vec::new();
            for (_, key) in &old {
                let Some(id) = keys.get(key.as_str())?.map(|v| v.value()) else {
                    continue;
                };
                let still_fresh = match records.get(id)? {
                    Some(raw) => decode(id, raw.value())?.created_at >= before,
                    None => false,
                };
                if !still_fresh {
                    forget.push(key.as_str());
                }
            }
            for (ms, key) in &old {
                by_age.remove((*ms, key.as_str()))?;
            }
            for key in &forget {
                keys.remove(*key)?;
            }
            Ok(forget.len())
        })
    }

    /// Adds many new downloads in one durable transaction (imports, benchmarks). Unlike
    /// `insert_unless_known` it does not look for duplicates: the caller vouches for them.
    pub fn insert_batch(&self, downloads: &[Download]) -> Result<(), StoreError> {
        self.write(|txn, deltas| {
            let mut t = DownloadTables::new(txn, self.events_on());
            for d in downloads {
                write_download(&mut t, deltas, None, Some(d))?;
            }
            Ok(())
        })
    }

    /// Reads a download, lets `change` modify it, and writes it back with its indexes and
    /// counters in one transaction. When `change` fails nothing is written.
    pub fn update<E>(
        &self,
        id: Uuid,
        change: impl FnOnce(&mut Download) -> Result<(), E>,
    ) -> Result<Result<Updated, E>, StoreError> {
        self.write(|txn, deltas| {
            update_in(
                &mut DownloadTables::new(txn, self.events_on()),
                deltas,
                id,
                change,
            )
        })
    }

    /// `update` for many downloads in one transaction: each gets its own verdict, and one
    /// that is refused (not found, `change`'s error, track busy) writes nothing and leaves
    /// the others be. Fails as a whole only on a storage failure.
    pub fn update_many<E>(
        &self,
        ids: &[Uuid],
        mut change: impl FnMut(&mut Download) -> Result<(), E>,
    ) -> Result<Vec<EachUpdated<E>>, StoreError> {
        self.write(|txn, deltas| {
            let mut t = DownloadTables::new(txn, self.events_on());
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                match update_in(&mut t, deltas, *id, &mut change) {
                    Err(
                        e @ (StoreError::NotFound(_)
                        | StoreError::TrackBusy { .. }
                        | StoreError::Corrupt { .. }),
                    ) => out.push(Err(e)),
                    Err(e) => return Err(e),
                    Ok(verdict) => out.push(Ok(verdict)),
                }
            }
            Ok(out)
        })
    }

    /// Removes downloads; returns how many were removed.
    pub fn delete(&self, ids: &[Uuid]) -> Result<usize, StoreError> {
        self.write(|txn, deltas| {
            let mut t = DownloadTables::new(txn, self.events_on());
            // Read them all first: an unreadable record refuses before any write.
            let mut existing = Vec::new();
            for id in ids {
                if let Some(raw) = t.records()?.get(id.as_u128())? {
                    existing.push(decode(id.as_u128(), raw.value())?);
                }
            }
            for d in &existing {
                write_download(&mut t, deltas, Some(d), None)?;
            }
            Ok(existing.len())
        })
    }

    pub fn get(&self, id: Uuid) -> Result<Option<Download>, StoreError> {
        self.checked(|| {
            let txn = self.db.begin_read()?;
            let table = txn.open_table(DOWNLOADS)?;
            let raw = table.get(id.as_u128())?;
            raw.map(|r| decode(id.as_u128(), r.value())).transpose()
        })
    }

    fn load_ids(&self, ids: impl IntoIterator<Item = u128>) -> Result<Vec<Download>, StoreError> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(DOWNLOADS)?;
        let mut out = Vec::new();
        for id in ids {
            if let Some(raw) = table.get(id)? {
                out.push(decode(id, raw.value())?);
            }
        }
        Ok(out)
    }

    /// Every download in one status.
    pub fn with_status(&self, status: Status) -> Result<Vec<Download>, StoreError> {
        self.checked(|| {
            let ids = {
                let txn = self.db.begin_read()?;
                let index = txn.open_table(BY_STATUS)?;
                let code = status.code();
                index
                    .range((code, 0u128)..=(code, u128::MAX))?
                    .map(|e| e.map(|(k, _)| k.value().1))
                    .collect::<Result<Vec<_>, _>>()?
            };
            self.load_ids(ids)
        })
    }

    /// The store as it is now, for reads that must agree with each other (an export's pages).
    /// Writers go on meanwhile; the snapshot does not see them.
    pub fn snapshot(&self) -> Result<Snapshot, StoreError> {
        self.checked(|| {
            Ok(Snapshot {
                txn: self.db.begin_read()?,
            })
        })
    }

    /// Waiting downloads in dispatch order: priority high to low, then oldest first.
    pub fn waiting_in_order(&self, limit: usize) -> Result<Vec<Download>, StoreError> {
        self.checked(|| {
            let ids = {
                let txn = self.db.begin_read()?;
                let index = txn.open_table(DISPATCH)?;
                index
                    .iter()?
                    .take(limit)
                    .map(|e| e.map(|(k, _)| k.value().2))
                    .collect::<Result<Vec<_>, _>>()?
            };
            self.load_ids(ids)
        })
    }

    /// Terminal downloads of `status` that reached it before `before` (oldest first).
    pub fn terminal_before(
        &self,
        status: Status,
        before: DateTime<Utc>,
    ) -> Result<Vec<Download>, StoreError> {
        self.checked(|| {
            let ids = {
                let txn = self.db.begin_read()?;
                let index = txn.open_table(BY_TERMINAL)?;
                let code = status.code();
                index
                    .range((code, i64::MIN, 0u128)..(code, millis(before), 0u128))?
                    .map(|e| e.map(|(k, _)| k.value().2))
                    .collect::<Result<Vec<_>, _>>()?
            };
            self.load_ids(ids)
        })
    }

    /// Terminal downloads of `status`, newest first, at most `limit`.
    pub fn terminal_newest(
        &self,
        status: Status,
        limit: usize,
    ) -> Result<Vec<Download>, StoreError> {
        self.checked(|| {
            let ids = {
                let txn = self.db.begin_read()?;
                let index = txn.open_table(BY_TERMINAL)?;
                let code = status.code();
                index
                    .range((code, i64::MIN, 0u128)..=(code, i64::MAX, u128::MAX))?
                    .rev()
                    .take(limit)
                    .map(|e| e.map(|(k, _)| k.value().2))
                    .collect::<Result<Vec<_>, _>>()?
            };
            self.load_ids(ids)
        })
    }

    /// One page of the downloads that reached a terminal `status` at or after `since`, newest
    /// first, and how many there are in all (read together, so they agree).
    pub fn terminal_page_since(
        &self,
        status: Status,
        since: DateTime<Utc>,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<Download>, usize), StoreError> {
        self.checked(|| {
            let txn = self.db.begin_read()?;
            let index = txn.open_table(BY_TERMINAL)?;
            let code = status.code();
            let range = (code, millis(since), 0u128)..=(code, i64::MAX, u128::MAX);
            let total = index.range(range.clone())?.count();
            let ids = index
                .range(range)?
                .rev()
                .skip(offset)
                .take(limit)
                .map(|e| e.map(|(k, _)| k.value().2))
                .collect::<Result<Vec<_>, _>>()?;
            let records = txn.open_table(DOWNLOADS)?;
            let mut page = Vec::with_capacity(ids.len());
            for id in ids {
                if let Some(raw) = records.get(id)? {
                    page.push(decode(id, raw.value())?);
                }
            }
            Ok((page, total))
        })
    }

    /// Failed downloads whose automatic retry is due at `now`.
    pub fn retries_due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Download>, StoreError> {
        self.checked(|| {
            let ids = {
                let txn = self.db.begin_read()?;
                let index = txn.open_table(RETRY_DUE)?;
                index
                    .range((i64::MIN, 0u128)..=(millis(now), u128::MAX))?
                    .take(limit)
                    .map(|e| e.map(|(k, _)| k.value().1))
                    .collect::<Result<Vec<_>, _>>()?
            };
            self.load_ids(ids)
        })
    }

    pub fn by_external(
        &self,
        provider_id: &str,
        external_id: &str,
    ) -> Result<Option<Download>, StoreError> {
        self.checked(|| {
            let id = {
                let txn = self.db.begin_read()?;
                let index = txn.open_table(BY_EXTERNAL)?;
                index.get((provider_id, external_id))?.map(|v| v.value())
            };
            Ok(self.load_ids(id)?.pop())
        })
    }

    /// The non-terminal download of a track, if one exists.
    pub fn active_for_track(&self, track_id: &str) -> Result<Option<Download>, StoreError> {
        self.checked(|| {
            let id = {
                let txn = self.db.begin_read()?;
                txn.open_table(ACTIVE_TRACK)?
                    .get(track_id)?
                    .map(|v| v.value())
            };
            Ok(self.load_ids(id)?.pop())
        })
    }

    pub fn by_idempotency_key(&self, key: &str) -> Result<Option<Download>, StoreError> {
        self.checked(|| {
            let id = {
                let txn = self.db.begin_read()?;
                txn.open_table(IDEMPOTENCY)?.get(key)?.map(|v| v.value())
            };
            Ok(self.load_ids(id)?.pop())
        })
    }

    /// Per-status counts: from memory, as the last commit left the counters table.
    pub fn counts(&self) -> Result<StatusCounts, StoreError> {
        Ok(self.writer.tallies().counts())
    }

    /// How many downloads now in `status` reached it at or after `since` (minute resolution):
    /// a bounded sum over the per-minute buckets kept in memory.
    pub fn terminal_since(&self, status: Status, since: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(self.writer.tallies().since(status, minute(since)))
    }

    /// The counters as the tables hold them (what the copy in memory must equal).
    pub fn counts_stored(&self) -> Result<(StatusCounts, Vec<counters::Bucket>), StoreError> {
        self.checked(|| {
            let txn = self.db.begin_read()?;
            let table = txn.open_table(COUNTERS)?;
            let mut counts = StatusCounts::default();
            for s in Status::ALL {
                counts.0[usize::from(s.code())] = table.get(s.code())?.map_or(0, |v| v.value());
            }
            let mut buckets = Vec::new();
            for entry in txn.open_table(TERMINAL_BUCKETS)?.iter()? {
                let (k, v) = entry?;
                buckets.push((k.value(), v.value()));
            }
            Ok((counts, buckets))
        })
    }

    /// Durable commits since open: fewer than writes when writes were grouped. Counters read
    /// after this are at least as new as the commit it counts.
    pub fn commits(&self) -> u64 {
        self.writer.commits()
    }

    /// How long the durable commits since open took.
    pub fn commit_durations(&self) -> CommitHistogram {
        self.writer.commit_times().histogram()
    }

    /// The per-minute buckets as kept in memory (for comparing with `counts_stored`).
    pub fn buckets_in_memory(&self) -> Vec<counters::Bucket> {
        self.writer.tallies().buckets()
    }

    /// Counts by a full scan of the records: what the counters must always equal.
    pub fn recount(&self) -> Result<(StatusCounts, Vec<Download>), StoreError> {
        self.checked(|| {
            let txn = self.db.begin_read()?;
            let table = txn.open_table(DOWNLOADS)?;
            let mut counts = StatusCounts::default();
            let mut all = Vec::new();
            for entry in table.iter()? {
                let (k, v) = entry?;
                let d = decode(k.value(), v.value())?;
                counts.0[usize::from(d.status.code())] += 1;
                all.push(d);
            }
            Ok((counts, all))
        })
    }

    pub fn total(&self) -> Result<u64, StoreError> {
        self.checked(|| {
            let txn = self.db.begin_read()?;
            Ok(txn.open_table(DOWNLOADS)?.len()?)
        })
    }

    pub fn flag(&self, name: &str) -> Result<bool, StoreError> {
        self.checked(|| {
            let txn = self.db.begin_read()?;
            let meta = txn.open_table(META)?;
            Ok(meta.get(name)?.is_some_and(|v| v.value() == [1]))
        })
    }

    pub fn set_flag(&self, name: &str, on: bool) -> Result<(), StoreError> {
        self.write(|txn, _| {
            txn.open_table(META)?
                .insert(name, [u8::from(on)].as_slice())?;
            Ok(())
        })
    }

    /// Records a transfer no download follows (one enqueued for a download that changed
    /// meanwhile); `write_download` records the others.
    pub fn release(
        &self,
        provider_id: &str,
        external_id: &str,
        released: &Released,
    ) -> Result<(), StoreError> {
        self.write(|txn, _| {
            txn.open_table(RELEASED)?.insert(
                (provider_id, external_id),
                serde_json::to_vec(released).unwrap_or_default().as_slice(),
            )?;
            Ok(())
        })
    }

    /// The transfers of one provider that no download follows, by external id.
    pub fn released(&self, provider_id: &str) -> Result<Vec<(String, Released)>, StoreError> {
        self.checked(|| {
            let txn = self.db.begin_read()?;
            let table = txn.open_table(RELEASED)?;
            let mut out = Vec::new();
            for entry in table.range((provider_id, "")..)? {
                let (k, v) = entry?;
                let (provider, external) = k.value();
                if provider != provider_id {
                    break;
                }
                if let Ok(r) = serde_json::from_slice(v.value()) {
                    out.push((external.to_owned(), r));
                }
            }
            Ok(out)
        })
    }

    /// Replaces a released transfer's entry (`Some`) or forgets it (`None`).
    pub fn set_released(
        &self,
        provider_id: &str,
        external_id: &str,
        entry: Option<&Released>,
    ) -> Result<(), StoreError> {
        self.write(|txn, _| {
            let mut table = txn.open_table(RELEASED)?;
            match entry {
                Some(r) => {
                    table.insert(
                        (provider_id, external_id),
                        serde_json::to_vec(r).unwrap_or_default().as_slice(),
                    )?;
                }
                None => {
                    table.remove((provider_id, external_id))?;
                }
            }
            Ok(())
        })
    }

    pub fn breaker(&self, provider_id: &str) -> Result<Option<Breaker>, StoreError> {
        self.checked(|| {
            let txn = self.db.begin_read()?;
            let table = txn.open_table(BREAKERS)?;
            Ok(table
                .get(provider_id)?
                .and_then(|v| serde_json::from_slice(v.value()).ok()))
        })
    }

    pub fn save_breaker(&self, provider_id: &str, breaker: &Breaker) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(breaker).unwrap_or_default();
        self.write(|txn, _| {
            txn.open_table(BREAKERS)?
                .insert(provider_id, bytes.as_slice())?;
            Ok(())
        })
    }
}

fn u64_from(bytes: &[u8]) -> u64 {
    bytes.try_into().map(u64::from_le_bytes).unwrap_or(0)
}

/// A transfer no download follows any more: what the provider's list still holds of an old
/// attempt (a cancelled, paused, failed-over or finished download). It is cancelled until it has
/// ended, then removed from the provider's list, so the list does not grow for ever.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Released {
    pub peer: String,
    pub filename: String,
    /// When it was released, ms since the epoch.
    pub since_ms: i64,
    /// The provider has shown it ended (or no longer lists it).
    #[serde(default)]
    pub ended: bool,
    /// Polls in a row it was not listed.
    #[serde(default)]
    pub missing_polls: u32,
    /// When a cancel was last sent, ms since the epoch.
    #[serde(default)]
    pub cancelled_at_ms: Option<i64>,
}

/// The transfer `before` followed and `after` no longer follows (or follows to its end).
fn released_by(before: &Download, after: Option<&Download>) -> Option<(String, Released)> {
    if before.status.is_terminal() {
        return None;
    }
    let external = before.external_id.clone()?;
    let still_followed = after.is_some_and(|a| {
        a.external_id.as_deref() == Some(external.as_str()) && !a.status.is_terminal()
    });
    if still_followed {
        return None;
    }
    let (peer, filename) = before
        .source
        .as_ref()
        .map(|s| (s.peer.clone(), s.filename.clone()))
        .unwrap_or_default();
    let at = after.map_or(before.updated_at, |a| a.updated_at);
    Some((
        external,
        Released {
            peer,
            filename,
            since_ms: millis(at),
            ended: false,
            missing_polls: 0,
            cancelled_at_ms: None,
        },
    ))
}

/// Replaces `before` by `after` (either may be absent) in the record table, every index and
/// every counter. The one place indexes are maintained, so they cannot drift apart.
fn write_download(
    t: &mut DownloadTables,
    deltas: &mut Deltas,
    before: Option<&Download>,
    after: Option<&Download>,
) -> Result<(), StoreError> {
    if let Some(new) = after
        && !new.status.is_terminal()
        && let Some(holder) = t
            .active_track()?
            .get(new.track_id.as_str())?
            .map(|v| v.value())
        && holder != new.id.as_u128()
    {
        return Err(StoreError::TrackBusy {
            track: new.track_id.clone(),
            holder: Uuid::from_u128(holder),
        });
    }
    // Encoded before any write, so that a record that cannot be encoded writes nothing.
    let encoded = after.map(encode).transpose()?;
    deltas.written();
    if t.record_events {
        for kind in events_of(before, after) {
            if let Some(d) = after {
                outbox::record_event(t.events()?, kind, d)?;
            }
        }
    }
    if let Some(old) = before
        && let Some((external, entry)) = released_by(old, after)
    {
        t.released()?.insert(
            (old.provider_id.as_str(), external.as_str()),
            serde_json::to_vec(&entry).unwrap_or_default().as_slice(),
        )?;
    }

    if let Some(old) = before {
        let id = old.id.as_u128();
        t.by_status()?.remove((old.status.code(), id))?;
        deltas.status(old.status, -1);
        if old.status == Status::Waiting {
            t.dispatch()?
                .remove((-i64::from(old.priority), millis(old.created_at), id))?;
        }
        if let Some(at) = old.terminal_at() {
            t.by_terminal()?
                .remove((old.status.code(), millis(at), id))?;
            deltas.bucket(old.status, minute(at), -1);
        }
        if let Some(ext) = &old.external_id {
            t.by_external()?
                .remove((old.provider_id.as_str(), ext.as_str()))?;
        }
        if let (Status::Failed, Some(at)) = (old.status, old.next_retry_at) {
            t.retry_due()?.remove((millis(at), id))?;
        }
        if !old.status.is_terminal() {
            t.active_track()?.remove(old.track_id.as_str())?;
        }
        if after.is_none() {
            t.records()?.remove(id)?;
        }
    }
    if let (Some(new), Some(encoded)) = (after, encoded) {
        let id = new.id.as_u128();
        t.records()?.insert(id, encoded.as_slice())?;
        t.by_status()?.insert((new.status.code(), id), ())?;
        deltas.status(new.status, 1);
        if new.status == Status::Waiting {
            t.dispatch()?
                .insert((-i64::from(new.priority), millis(new.created_at), id), ())?;
        }
        if let Some(at) = new.terminal_at() {
            t.by_terminal()?
                .insert((new.status.code(), millis(at), id), ())?;
            deltas.bucket(new.status, minute(at), 1);
        }
        if let Some(ext) = &new.external_id {
            t.by_external()?
                .insert((new.provider_id.as_str(), ext.as_str()), id)?;
        }
        if let (Status::Failed, Some(at)) = (new.status, new.next_retry_at) {
            t.retry_due()?.insert((millis(at), id), ())?;
        }
        if !new.status.is_terminal() {
            t.active_track()?.insert(new.track_id.as_str(), id)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::download::{FailureCause, TrackInfo};
    use std::time::Duration;

    fn download(n: u32, now: DateTime<Utc>) -> Download {
        Download {
            provider_id: "slskd".into(),
            provider_kind: "soulseek".into(),
            provider_name: "slskd".into(),
            max_retries: 3,
            ..Download::waiting(
                Uuid::new_v4(),
                format!("track-{n}"),
                TrackInfo {
                    title: format!("Song {n}"),
                    artist: "Artist".into(),
                    album: None,
                },
                now,
            )
        }
    }

    fn set(store: &Store, id: Uuid, f: impl FnOnce(&mut Download)) {
        store
            .update::<()>(id, |d| {
                f(d);
                Ok(())
            })
            .unwrap()
            .unwrap();
    }

    #[test]
    fn counters_and_indexes_follow_every_change() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.redb")).unwrap();
        let now = Utc::now();
        let mut ids = Vec::new();
        for n in 0..40 {
            let mut d = download(n, now + Duration::from_millis(u64::from(n)));
            d.priority = i32::try_from(n % 3).unwrap();
            assert!(matches!(
                store
                    .insert_unless_known(&d, None, DateTime::UNIX_EPOCH)
                    .unwrap(),
                Inserted::Created
            ));
            ids.push(d.id);
        }
        let statuses = [
            Status::Pending,
            Status::Queued,
            Status::Downloading,
            Status::Completed,
            Status::Failed,
            Status::Cancelled,
            Status::Paused,
        ];
        for (i, id) in ids.iter().enumerate().take(35) {
            let status = statuses[i % statuses.len()];
            set(&store, *id, |d| {
                d.status = status;
                d.status_since = now;
                d.external_id = status.occupies_provider().then(|| format!("ext-{i}"));
                if status == Status::Completed {
                    d.completed_at = Some(now);
                }
                if status == Status::Failed {
                    d.failure_cause = Some(FailureCause::NotFound);
                    d.next_retry_at = Some(now + Duration::from_secs(60));
                }
            });
        }
        let (recount, all) = store.recount().unwrap();
        assert_eq!(store.counts().unwrap(), recount);
        assert_eq!(all.len(), 40);
        assert_eq!(store.counts().unwrap().get(Status::Waiting), 5);

        // Dispatch order: priority high to low, then oldest first.
        let waiting = store.waiting_in_order(100).unwrap();
        let keys: Vec<(i32, DateTime<Utc>)> =
            waiting.iter().map(|d| (d.priority, d.created_at)).collect();
        let mut sorted = keys.clone();
        sorted.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        assert_eq!(keys, sorted);

        let completed = store
            .terminal_since(Status::Completed, now - Duration::from_secs(60))
            .unwrap();
        assert_eq!(completed, recount.get(Status::Completed));
        assert_eq!(
            store
                .terminal_before(Status::Completed, now + Duration::from_secs(1))
                .unwrap()
                .len() as u64,
            completed
        );
        assert!(store.by_external("slskd", "ext-0").unwrap().is_some());
        assert_eq!(
            store
                .retries_due(now + Duration::from_secs(61), 100)
                .unwrap()
                .len() as u64,
            recount.get(Status::Failed)
        );
        assert!(store.retries_due(now, 100).unwrap().is_empty());

        // Deleting removes every trace.
        let failed: Vec<Uuid> = store
            .with_status(Status::Failed)
            .unwrap()
            .iter()
            .map(|d| d.id)
            .collect();
        let since = now - Duration::from_secs(60);
        let failed_lately = store.terminal_since(Status::Failed, since).unwrap();
        assert_eq!(failed_lately, failed.len() as u64);
        assert_eq!(store.delete(&failed).unwrap(), failed.len());
        assert_eq!(store.counts().unwrap().get(Status::Failed), 0);
        // A sum asked for before the commit follows it.
        assert_eq!(store.terminal_since(Status::Failed, since).unwrap(), 0);
        assert!(
            store
                .retries_due(now + Duration::from_secs(61), 100)
                .unwrap()
                .is_empty()
        );
        assert_eq!(store.counts().unwrap(), store.recount().unwrap().0);
    }

    #[test]
    fn a_refused_change_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.redb")).unwrap();
        let d = download(1, Utc::now());
        assert!(matches!(
            store
                .insert_unless_known(&d, Some("key-1"), DateTime::UNIX_EPOCH)
                .unwrap(),
            Inserted::Created
        ));
        let refused = store.update(d.id, |d| {
            d.status = Status::Completed;
            Err("no")
        });
        assert!(matches!(refused, Ok(Err("no"))));
        assert_eq!(store.get(d.id).unwrap().unwrap().status, Status::Waiting);
        assert_eq!(store.by_idempotency_key("key-1").unwrap().unwrap().id, d.id);
        assert_eq!(store.active_for_track("track-1").unwrap().unwrap().id, d.id);
    }

    /// Creates written as one operation see each other: a second of one track, or a second
    /// use of one key, finds the first; the rest are created, in one commit.
    #[test]
    fn creates_written_together_see_each_other() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.redb")).unwrap();
        let now = Utc::now();
        let first = download(1, now);
        let same_track = download(1, now);
        let keyed = download(2, now);
        let same_key = download(3, now);
        let other = download(4, now);
        let items = vec![
            (first.clone(), None),
            (same_track, None),
            (keyed.clone(), Some("k".to_owned())),
            (same_key, Some("k".to_owned())),
            (other.clone(), None),
        ];
        let before = store.commits();
        let inserted = store.insert_many_unless_known(&items, now).unwrap();
        assert_eq!(store.commits() - before, 1);
        let outcome: Vec<Option<Uuid>> = inserted
            .iter()
            .map(|i| match i {
                Inserted::Created => None,
                Inserted::Existing(d) => Some(d.id),
            })
            .collect();
        assert_eq!(
            outcome,
            vec![None, Some(first.id), None, Some(keyed.id), None]
        );
        assert_eq!(store.counts().unwrap().get(Status::Waiting), 3);
        for d in [&first, &keyed, &other] {
            assert!(store.get(d.id).unwrap().is_some());
        }
        assert_eq!(store.by_idempotency_key("k").unwrap().unwrap().id, keyed.id);
    }

    #[test]
    fn idempotency_keys_expire() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.redb")).unwrap();
        let now = Utc::now();
        let day = Duration::from_secs(24 * 3600);
        let old = download(1, now - day - Duration::from_secs(60));
        let recent = download(2, now - Duration::from_secs(60));
        for (d, key) in [(&old, "old"), (&recent, "recent")] {
            assert!(matches!(
                store.insert_unless_known(d, Some(key), now - day).unwrap(),
                Inserted::Created
            ));
        }
        // A key within its time finds its download; an expired one is free again.
        let again = download(3, now);
        assert!(matches!(
            store.insert_unless_known(&again, Some("recent"), now - day).unwrap(),
            Inserted::Existing(d) if d.id == recent.id
        ));
        let reused = download(4, now);
        assert!(matches!(
            store
                .insert_unless_known(&reused, Some("old"), now - day)
                .unwrap(),
            Inserted::Created
        ));
        assert_eq!(
            store.by_idempotency_key("old").unwrap().unwrap().id,
            reused.id
        );
        // The sweep forgets keys of downloads older than a day, not the reused one.
        let stale = download(5, now - day - Duration::from_secs(30));
        store
            .insert_unless_known(&stale, Some("stale"), now - day - day)
            .unwrap();
        assert_eq!(store.expire_idempotency_keys(now - day, 1000).unwrap(), 1);
        assert!(store.by_idempotency_key("stale").unwrap().is_none());
        assert_eq!(
            store.by_idempotency_key("old").unwrap().unwrap().id,
            reused.id
        );
        assert_eq!(
            store.by_idempotency_key("recent").unwrap().unwrap().id,
            recent.id
        );
        assert_eq!(store.expire_idempotency_keys(now - day, 1000).unwrap(), 0);
        assert_eq!(store.expire_idempotency_keys(now + day, 1000).unwrap(), 2);
        assert!(store.by_idempotency_key("recent").unwrap().is_none());
    }

    #[test]
    fn keys_of_a_database_from_before_expiry_are_indexed_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.redb");
        let now = Utc::now();
        let old = download(1, now - Duration::from_secs(48 * 3600));
        {
            let store = Store::open(&path).unwrap();
            store
                .insert_unless_known(&old, Some("legacy"), DateTime::UNIX_EPOCH)
                .unwrap();
        }
        // As the previous build left it: the key, but neither its age index nor the flag.
        {
            let db = Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            txn.delete_table(IDEMPOTENCY_BY_AGE).unwrap();
            txn.open_table(META)
                .unwrap()
                .remove(KEYS_BY_AGE_FLAG)
                .unwrap();
            txn.commit().unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(
            store
                .expire_idempotency_keys(now - Duration::from_secs(24 * 3600), 1000)
                .unwrap(),
            1,
            "the old key was indexed at open and expires"
        );
        assert!(store.by_idempotency_key("legacy").unwrap().is_none());
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.redb");
        drop(Store::open(&path).unwrap());
        {
            let db = Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(META)
                .unwrap()
                .insert("schema_version", 99u64.to_le_bytes().as_slice())
                .unwrap();
            txn.commit().unwrap();
        }
        let err = Store::open(&path).err().expect("refused");
        assert!(err.to_string().contains("schema 99"), "{err}");
    }

    #[test]
    fn data_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.redb");
        let d = download(7, Utc::now());
        {
            let store = Store::open(&path).unwrap();
            assert!(matches!(
                store
                    .insert_unless_known(&d, None, DateTime::UNIX_EPOCH)
                    .unwrap(),
                Inserted::Created
            ));
            store.set_flag("paused", true).unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.get(d.id).unwrap().unwrap(), d);
        assert!(store.flag("paused").unwrap());
    }

    /// Memory, tables and a recount agree.
    fn assert_counters_agree(store: &Store) {
        let (stored, buckets) = store.counts_stored().unwrap();
        assert_eq!(store.counts().unwrap(), stored, "memory vs table counts");
        assert_eq!(
            stored,
            store.recount().unwrap().0,
            "table counts vs recount"
        );
        assert_eq!(
            store.buckets_in_memory(),
            buckets,
            "memory vs table buckets"
        );
    }

    #[test]
    fn counters_in_memory_follow_commits_not_refusals_and_survive_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.redb");
        let now = Utc::now();
        let store = Store::open(&path).unwrap();
        let ds: Vec<Download> = (0..12).map(|n| download(n, now)).collect();
        store.insert_batch(&ds[..6]).unwrap();
        for d in &ds[6..] {
            store
                .insert_unless_known(d, Some(&format!("k{}", d.id)), DateTime::UNIX_EPOCH)
                .unwrap();
        }
        // A duplicate track: nothing written.
        let mut twin = download(100, now);
        twin.track_id = ds[0].track_id.clone();
        assert!(matches!(
            store
                .insert_unless_known(&twin, None, DateTime::UNIX_EPOCH)
                .unwrap(),
            Inserted::Existing(_)
        ));
        for (i, d) in ds.iter().enumerate().take(8) {
            let status = [
                Status::Completed,
                Status::Failed,
                Status::Cancelled,
                Status::Downloading,
            ][i % 4];
            set(&store, d.id, |d| {
                d.status = status;
                d.status_since = now - Duration::from_secs(60 * i as u64);
            });
        }
        assert_counters_agree(&store);
        // Refused changes: the closure's error, a missing record, a busy track.
        let before = store.counts().unwrap();
        assert!(matches!(
            store.update(ds[9].id, |d| {
                d.status = Status::Completed;
                Err("no")
            }),
            Ok(Err("no"))
        ));
        assert!(matches!(
            store.update::<()>(Uuid::new_v4(), |_| Ok(())),
            Err(StoreError::NotFound(_))
        ));
        let busy_track = ds[10].track_id.clone();
        assert!(matches!(
            store.update::<()>(ds[0].id, |d| {
                d.status = Status::Waiting;
                d.track_id = busy_track;
                Ok(())
            }),
            Err(StoreError::TrackBusy { .. })
        ));
        assert_eq!(store.counts().unwrap(), before);
        assert_counters_agree(&store);
        // Many at once, with a refusal among them.
        let verdicts = store
            .update_many(&[ds[3].id, ds[8].id, Uuid::new_v4(), ds[9].id], |d| {
                if d.status == Status::Downloading {
                    return Err("downloading");
                }
                d.status = Status::Completed;
                d.completed_at = Some(now);
                Ok(())
            })
            .unwrap();
        assert!(matches!(verdicts[0], Ok(Err("downloading"))));
        assert!(matches!(verdicts[1], Ok(Ok(_))));
        assert!(matches!(verdicts[2], Err(StoreError::NotFound(_))));
        assert!(matches!(verdicts[3], Ok(Ok(_))));
        assert_eq!(
            store.get(ds[3].id).unwrap().unwrap().status,
            Status::Downloading
        );
        assert_counters_agree(&store);
        assert_eq!(store.delete(&[ds[1].id, ds[2].id]).unwrap(), 2);
        assert_counters_agree(&store);
        let memory = (store.counts().unwrap(), store.buckets_in_memory());
        let completed = store
            .terminal_since(Status::Completed, now - Duration::from_secs(3600))
            .unwrap();
        assert_eq!(completed, store.recount().unwrap().0.get(Status::Completed));
        drop(store);

        let store = Store::open(&path).unwrap();
        assert_eq!((store.counts().unwrap(), store.buckets_in_memory()), memory);
        assert_counters_agree(&store);
    }

    #[test]
    fn concurrent_writes_share_commits_and_each_gets_its_own_answer() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.redb")).unwrap();
        let now = Utc::now();
        let threads = 16;
        let each = 40u32;
        let start = store.commits();
        std::thread::scope(|scope| {
            for t in 0..threads {
                let store = &store;
                scope.spawn(move || {
                    for i in 0..each {
                        let d = download(t * 1000 + i, now);
                        store
                            .insert_unless_known(&d, None, DateTime::UNIX_EPOCH)
                            .unwrap();
                        // Every other edit refuses: it must leave its record alone, and the
                        // writes grouped with it must stand.
                        let refused = i % 2 == 0;
                        let result = store
                            .update(d.id, |r| {
                                r.status = Status::Paused;
                                if refused { Err(()) } else { Ok(()) }
                            })
                            .unwrap();
                        assert_eq!(result.is_err(), refused);
                        let stored = store.get(d.id).unwrap().unwrap();
                        let want = if refused {
                            Status::Waiting
                        } else {
                            Status::Paused
                        };
                        assert_eq!(stored.status, want);
                    }
                });
            }
        });
        let writes = u64::from(threads * each) * 2;
        let commits = store.commits() - start;
        assert_eq!(store.total().unwrap(), u64::from(threads * each));
        assert_eq!(store.counts().unwrap().get(Status::Paused), writes / 4);
        assert_counters_agree(&store);
        assert!(
            commits < writes * 3 / 4,
            "{commits} commits for {writes} writes: not grouped"
        );
    }
}
