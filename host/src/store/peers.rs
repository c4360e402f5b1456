//! Peer reputation records: (provider id, peer) → `PeerRecord` as JSON (a statistic, read and
//! written whole; JSON lets it gain fields without a new format).

use redb::{ReadableDatabase, ReadableTable};

use super::tables::PEERS;
use super::{Store, StoreError};
use crate::engine::reputation::PeerRecord;

impl Store {
    pub fn peer(&self, provider_id: &str, peer: &str) -> Result<Option<PeerRecord>, StoreError> {
        self.checked(|| {
            let txn = self.db.begin_read()?;
            let table = txn.open_table(PEERS)?;
            Ok(table
                .get((provider_id, peer))?
                .and_then(|v| serde_json::from_slice(v.value()).ok()))
        })
    }

    /// Every peer of a provider with a record, by name.
    pub fn peers(&self, provider_id: &str) -> Result<Vec<(String, PeerRecord)>, StoreError> {
        self.checked(|| {
            let txn = self.db.begin_read()?;
            let table = txn.open_table(PEERS)?;
            let mut out = Vec::new();
            for entry in table.range((provider_id, "")..)? {
                let (key, value) = entry?;
                let (provider, peer) = key.value();
                if provider != provider_id {
                    break;
                }
                if let Ok(r) = serde_json::from_slice(value.value()) {
                    out.push((peer.to_owned(), r));
                }
            }
            Ok(out)
        })
    }

    /// Replaces a peer's record with what `change` makes of it (the default when it has none).
    pub fn update_peer(
        &self,
        provider_id: &str,
        peer: &str,
        change: impl FnOnce(&PeerRecord) -> PeerRecord,
    ) -> Result<(), StoreError> {
        self.write(|txn, _| {
            let mut table = txn.open_table(PEERS)?;
            let before: PeerRecord = table
                .get((provider_id, peer))?
                .and_then(|v| serde_json::from_slice(v.value()).ok())
                .unwrap_or_default();
            let after = serde_json::to_vec(&change(&before)).unwrap_or_default();
            table.insert((provider_id, peer), after.as_slice())?;
            Ok(())
        })
    }
}
