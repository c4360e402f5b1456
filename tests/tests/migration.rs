//! A database written by the previous build (schema 1: records as JSON) opens in this one: it
//! is migrated at open, and every record, index and counter reads as it was written. The
//! fixture `tests/fixtures/schema1.redb.gz` was written by `write_load --write-schema1-fixture`
//! built from the commit before the binary records (see `tributary_tests::schema1_fixture`).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use tributary::engine::download::{Download, Status};
use tributary::store::{SCHEMA_VERSION, Store};
use tributary_tests::schema1_fixture as fixture;
use uuid::Uuid;

/// The first byte of a record in the binary format this build writes (format 2).
const RECORD_FORMAT: u8 = 3;

const DOWNLOADS: TableDefinition<u128, &[u8]> = TableDefinition::new("downloads");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// The fixture, unpacked into `dir`.
fn unpack(dir: &Path) -> PathBuf {
    let packed = std::fs::read(tributary_tests::repo_root().join("tests/fixtures/schema1.redb.gz"))
        .expect("fixture");
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(packed.as_slice())
        .read_to_end(&mut bytes)
        .expect("gunzip");
    let path = dir.join("schema1.redb");
    std::fs::write(&path, bytes).expect("write");
    path
}

fn schema_version(db: &redb::Database) -> u64 {
    let txn = db.begin_read().unwrap();
    let meta = txn.open_table(META).unwrap();
    let v = meta.get("schema_version").unwrap().unwrap();
    u64::from_le_bytes(v.value().try_into().unwrap())
}

/// The raw records: id → bytes.
fn raw_records(db: &redb::Database) -> Vec<(u128, Vec<u8>)> {
    let txn = db.begin_read().unwrap();
    let table = txn.open_table(DOWNLOADS).unwrap();
    table
        .iter()
        .unwrap()
        .map(|e| {
            let (k, v) = e.unwrap();
            (k.value(), v.value().to_vec())
        })
        .collect()
}

/// Everything the store answers agrees with the fixture's downloads.
fn check_everything(store: &Store) {
    let expected = fixture::downloads();
    for d in &expected {
        assert_eq!(&store.get(d.id).unwrap().unwrap(), d, "record {}", d.id);
    }
    assert_eq!(store.total().unwrap(), expected.len() as u64);

    // Counters: memory, tables and a full recount agree, and match the fixture.
    let (recount, _) = store.recount().unwrap();
    assert_eq!(store.counts().unwrap(), recount);
    let (stored, buckets) = store.counts_stored().unwrap();
    assert_eq!(stored, recount);
    assert_eq!(store.buckets_in_memory(), buckets);
    for s in Status::ALL {
        let n = expected.iter().filter(|d| d.status == s).count() as u64;
        assert_eq!(recount.get(s), n, "{s}");
    }
    let base = fixture::base_time();
    assert_eq!(store.terminal_since(Status::Completed, base).unwrap(), 2);
    assert_eq!(store.terminal_since(Status::Failed, base).unwrap(), 2);
    assert_eq!(store.terminal_since(Status::Cancelled, base).unwrap(), 1);
    assert_eq!(
        store
            .terminal_since(Status::Completed, base + Duration::from_secs(3600))
            .unwrap(),
        0
    );

    // Indexes.
    let ids = |v: Vec<Download>| v.into_iter().map(|d| d.id).collect::<Vec<Uuid>>();
    for s in Status::ALL {
        let mut want: Vec<Uuid> = expected
            .iter()
            .filter(|d| d.status == s)
            .map(|d| d.id)
            .collect();
        want.sort();
        assert_eq!(ids(store.with_status(s).unwrap()), want, "by status {s}");
    }
    let mut waiting: Vec<&Download> = expected
        .iter()
        .filter(|d| d.status == Status::Waiting)
        .collect();
    waiting.sort_by(|a, b| {
        b.priority
            .cmp(&a.priority)
            .then(a.created_at.cmp(&b.created_at))
    });
    assert_eq!(
        ids(store.waiting_in_order(100).unwrap()),
        waiting.iter().map(|d| d.id).collect::<Vec<_>>()
    );
    for d in &expected {
        let active = store.active_for_track(&d.track_id).unwrap().map(|a| a.id);
        assert_eq!(
            active,
            (!d.status.is_terminal()).then_some(d.id),
            "track of {}",
            d.id
        );
        if let Some(ext) = &d.external_id {
            assert_eq!(store.by_external("slskd", ext).unwrap().unwrap().id, d.id);
        }
    }
    assert_eq!(
        store
            .by_idempotency_key(fixture::IDEMPOTENCY_KEY)
            .unwrap()
            .unwrap()
            .id
            .as_u128(),
        fixture::KEYED_ID
    );
    assert_eq!(
        ids(store
            .retries_due(base + Duration::from_secs(7200), 100)
            .unwrap()),
        vec![Uuid::from_u128(10)]
    );
    assert_eq!(
        ids(store.terminal_newest(Status::Completed, 10).unwrap()),
        vec![Uuid::from_u128(9), Uuid::from_u128(8)]
    );
    let released = store.released("slskd").unwrap();
    assert_eq!(released.len(), 1);
    assert_eq!(released[0].0, "transfer-12");
    assert!(store.flag("paused").unwrap());
}

#[test]
fn a_database_of_the_previous_build_is_migrated_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = unpack(dir.path());
    let json_sizes: Vec<usize> = {
        let db = redb::Database::create(&path).unwrap();
        assert_eq!(schema_version(&db), 1, "the fixture is a schema-1 database");
        let raw = raw_records(&db);
        assert_eq!(raw.len(), fixture::downloads().len());
        assert!(
            raw.iter().all(|(_, v)| v.first() == Some(&b'{')),
            "JSON records"
        );
        raw.iter().map(|(_, v)| v.len()).collect()
    };

    let store = Store::open(&path).unwrap();
    check_everything(&store);
    drop(store);

    let db = redb::Database::create(&path).unwrap();
    assert_eq!(schema_version(&db), SCHEMA_VERSION);
    let raw = raw_records(&db);
    assert!(
        raw.iter().all(|(_, v)| v.first() == Some(&RECORD_FORMAT)),
        "binary records"
    );
    let binary: usize = raw.iter().map(|(_, v)| v.len()).sum();
    let json: usize = json_sizes.iter().sum();
    println!(
        "record bytes for the {} fixture downloads: JSON {json} ({} each), binary {binary} ({} each)",
        raw.len(),
        json / raw.len(),
        binary / raw.len()
    );
    assert!(binary * 2 < json);
    drop(db);

    // And it opens again, unchanged.
    let store = Store::open(&path).unwrap();
    check_everything(&store);
}

/// A migration stopped half-way (some records rewritten, the version still 1) reads and
/// finishes at the next start.
#[test]
fn a_migration_cut_short_finishes_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let migrated = {
        let sub = dir.path().join("done");
        std::fs::create_dir_all(&sub).unwrap();
        let path = unpack(&sub);
        drop(Store::open(&path).unwrap());
        let db = redb::Database::create(&path).unwrap();
        raw_records(&db)
    };
    let path = unpack(dir.path());
    {
        // The first half of the records as a finished chunk would have left them.
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut table = txn.open_table(DOWNLOADS).unwrap();
            for (id, bytes) in migrated.iter().take(migrated.len() / 2) {
                table.insert(*id, bytes.as_slice()).unwrap();
            }
        }
        txn.commit().unwrap();
        assert_eq!(schema_version(&db), 1);
        let raw = raw_records(&db);
        assert!(raw.iter().any(|(_, v)| v.first() == Some(&RECORD_FORMAT)));
        assert!(raw.iter().any(|(_, v)| v.first() == Some(&b'{')));
    }
    let store = Store::open(&path).unwrap();
    check_everything(&store);
    drop(store);
    let db = redb::Database::create(&path).unwrap();
    assert_eq!(schema_version(&db), SCHEMA_VERSION);
    assert!(
        raw_records(&db)
            .iter()
            .all(|(_, v)| v.first() == Some(&RECORD_FORMAT))
    );
}
