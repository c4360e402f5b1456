//! The redb tables. Keys are chosen so that each query is one range scan.

use redb::TableDefinition;

/// id → the download as JSON.
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
