//! The redb tables. Keys are chosen so that each query is one range scan.

use redb::{Table, TableDefinition, TableError, WriteTransaction};

/// id → the download (`encoding`'s format).
pub const DOWNLOADS: TableDefinition<u128, &[u8]> = TableDefinition::new("downloads");
/// (status, id): downloads by status.
pub const BY_STATUS: TableDefinition<(u8, u128), ()> = TableDefinition::new("by_status");
/// (-priority, created ms, id): waiting downloads in dispatch order.
pub const DISPATCH: TableDefinition<(i64, i64, u128), ()> = TableDefinition::new("dispatch_order");
/// (status, terminal ms, id): completed/failed/cancelled downloads by the time they got there.
pub const BY_TERMINAL: TableDefinition<(u8, i64, u128), ()> =
    TableDefinition::new("by_terminal_time");
/// (provider id, external id) → id.
pub const BY_EXTERNAL: TableDefinition<(&str, &str), u128> = TableDefinition::new("by_external_id");
/// track id → the id of its non-terminal download (duplicate protection).
pub const ACTIVE_TRACK: TableDefinition<&str, u128> = TableDefinition::new("active_track");
/// client idempotency key → id.
pub const IDEMPOTENCY: TableDefinition<&str, u128> = TableDefinition::new("idempotency_keys");
/// (created ms, key): idempotency keys by age, so expired ones are found without a scan.
pub const IDEMPOTENCY_BY_AGE: TableDefinition<(i64, &str), ()> =
    TableDefinition::new("idempotency_keys_by_age");
/// status → number of downloads in it.
pub const COUNTERS: TableDefinition<u8, u64> = TableDefinition::new("status_counters");
/// (status, unix minute) → downloads that reached that terminal status in that minute.
pub const TERMINAL_BUCKETS: TableDefinition<(u8, i64), u64> =
    TableDefinition::new("terminal_minute_buckets");
/// (retry ms, id): failed downloads waiting for an automatic retry.
pub const RETRY_DUE: TableDefinition<(i64, u128), ()> = TableDefinition::new("retry_due");
/// schema version, global pause flag.
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// provider id → its circuit breaker as JSON.
pub const BREAKERS: TableDefinition<&str, &[u8]> = TableDefinition::new("circuit_breakers");
/// (provider id, external id) → a transfer no download follows any more (as JSON): it is
/// cancelled until it ends, then removed from the provider's list.
pub const RELEASED: TableDefinition<(&str, &str), &[u8]> =
    TableDefinition::new("released_transfers");
/// event id (UUID v7, so in time order) → an event not yet fanned out to the webhooks.
pub const EVENTS: TableDefinition<u128, &[u8]> = TableDefinition::new("event_outbox");
/// (event id, webhook name) → one delivery waiting for its receiver, as JSON.
pub const DELIVERIES: TableDefinition<(u128, &str), &[u8]> =
    TableDefinition::new("webhook_deliveries");
/// (provider id, peer) → the peer's reputation as JSON.
pub const PEERS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("peer_reputation");

/// The tables a download's record and indexes live in, each opened on first use and then
/// kept for the rest of one write operation: an opening looks the table up in redb's table
/// tree and checks its types, which cost more than the writes themselves when done per record,
/// and a change touches only some of them (a create four of the eight).
pub(super) struct DownloadTables<'t> {
    txn: &'t WriteTransaction,
    records: Option<Table<'t, u128, &'static [u8]>>,
    by_status: Option<Table<'t, (u8, u128), ()>>,
    dispatch: Option<Table<'t, (i64, i64, u128), ()>>,
    by_terminal: Option<Table<'t, (u8, i64, u128), ()>>,
    by_external: Option<Table<'t, (&'static str, &'static str), u128>>,
    active_track: Option<Table<'t, &'static str, u128>>,
    retry_due: Option<Table<'t, (i64, u128), ()>>,
    released: Option<Table<'t, (&'static str, &'static str), &'static [u8]>>,
    events: Option<Table<'t, u128, &'static [u8]>>,
    /// Changes record the events they make (webhooks are configured).
    pub record_events: bool,
}

/// The accessor of one lazily opened table.
macro_rules! opened {
    ($field:ident, $definition:ident, $key:ty, $value:ty) => {
        pub fn $field(&mut self) -> Result<&mut Table<'t, $key, $value>, TableError> {
            let txn = self.txn;
            match &mut self.$field {
                Some(table) => Ok(table),
                slot @ None => Ok(slot.insert(txn.open_table($definition)?)),
            }
        }
    };
}

impl<'t> DownloadTables<'t> {
    pub fn new(txn: &'t WriteTransaction, record_events: bool) -> DownloadTables<'t> {
        DownloadTables {
            events: None,
            record_events,
            txn,
            records: None,
            by_status: None,
            dispatch: None,
            by_terminal: None,
            by_external: None,
            active_track: None,
            retry_due: None,
            released: None,
        }
    }

    opened!(records, DOWNLOADS, u128, &'static [u8]);
    opened!(by_status, BY_STATUS, (u8, u128), ());
    opened!(dispatch, DISPATCH, (i64, i64, u128), ());
    opened!(by_terminal, BY_TERMINAL, (u8, i64, u128), ());
    opened!(by_external, BY_EXTERNAL, (&'static str, &'static str), u128);
    opened!(active_track, ACTIVE_TRACK, &'static str, u128);
    opened!(retry_due, RETRY_DUE, (i64, u128), ());
    opened!(events, EVENTS, u128, &'static [u8]);
    opened!(
        released,
        RELEASED,
        (&'static str, &'static str),
        &'static [u8]
    );
}
