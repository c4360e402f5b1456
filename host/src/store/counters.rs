//! The per-status counters and per-minute terminal buckets: what the writes of one commit
//! change in them ([`Deltas`]), and a copy kept in memory ([`Tallies`]) so that statistics are
//! answered without a read transaction. The tables stay the source of truth: the copy is loaded
//! from them at open and moved by the same deltas that were written, after the commit.

use std::collections::BTreeMap;

use redb::{ReadableDatabase, ReadableTable};

use super::StatusCounts;
use super::StoreError;
use super::tables::{COUNTERS, TERMINAL_BUCKETS};
use crate::engine::download::Status;

/// ((status code, unix minute), downloads that reached that terminal status in that minute).
pub type Bucket = ((u8, i64), u64);

/// Changes to the counters made by the writes of one operation or one group.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Deltas {
    counts: [i64; 9],
    /// (status, unix minute) → change.
    buckets: BTreeMap<(u8, i64), i64>,
    /// Whether the operation wrote anything: unknown (`None`) counts as written. A group whose
    /// operations all wrote nothing is not committed: no disk write for a refusal.
    wrote: Option<bool>,
}

impl Deltas {
    /// Says that nothing was written so far (unless something was already).
    pub fn nothing_yet(&mut self) {
        self.wrote.get_or_insert(false);
    }

    pub fn written(&mut self) {
        self.wrote = Some(true);
    }

    /// Whether the writes need a commit.
    pub fn needs_commit(&self) -> bool {
        self.wrote != Some(false)
    }

    pub fn status(&mut self, status: Status, delta: i64) {
        self.counts[usize::from(status.code())] += delta;
    }

    pub fn bucket(&mut self, status: Status, minute: i64, delta: i64) {
        *self.buckets.entry((status.code(), minute)).or_default() += delta;
    }

    /// Adds an operation's changes to its group's.
    pub fn merge(&mut self, other: Deltas) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts) {
            *mine += theirs;
        }
        for (key, delta) in other.buckets {
            *self.buckets.entry(key).or_default() += delta;
        }
    }

    /// Writes the changes into the counter tables, in the transaction about to commit.
    pub fn write(&self, txn: &redb::WriteTransaction) -> Result<(), StoreError> {
        let mut counters = txn.open_table(COUNTERS)?;
        for (code, delta) in (0u8..).zip(self.counts) {
            if delta != 0 {
                let current = counters.get(code)?.map_or(0, |v| v.value());
                counters.insert(code, current.saturating_add_signed(delta))?;
            }
        }
        let mut buckets = txn.open_table(TERMINAL_BUCKETS)?;
        for (&key, &delta) in &self.buckets {
            if delta == 0 {
                continue;
            }
            let current = buckets.get(key)?.map_or(0, |v| v.value());
            match current.checked_add_signed(delta).filter(|n| *n > 0) {
                Some(n) => buckets.insert(key, n)?,
                None => buckets.remove(key)?,
            };
        }
        Ok(())
    }
}

/// The counters as the last commit left them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Tallies {
    counts: [u64; 9],
    buckets: BTreeMap<(u8, i64), u64>,
}

impl Tallies {
    pub fn load(db: &redb::Database) -> Result<Tallies, StoreError> {
        let txn = db.begin_read()?;
        let mut tallies = Tallies::default();
        let counters = txn.open_table(COUNTERS)?;
        for s in Status::ALL {
            tallies.counts[usize::from(s.code())] =
                counters.get(s.code())?.map_or(0, |v| v.value());
        }
        for entry in txn.open_table(TERMINAL_BUCKETS)?.iter()? {
            let (key, n) = entry?;
            tallies.buckets.insert(key.value(), n.value());
        }
        Ok(tallies)
    }

    /// Moves the copy as `Deltas::write` moved the tables.
    pub fn apply(&mut self, deltas: &Deltas) {
        for (count, delta) in self.counts.iter_mut().zip(deltas.counts) {
            *count = count.saturating_add_signed(delta);
        }
        for (&key, &delta) in &deltas.buckets {
            if delta == 0 {
                continue;
            }
            let current = self.buckets.get(&key).copied().unwrap_or(0);
            match current.checked_add_signed(delta).filter(|n| *n > 0) {
                Some(n) => self.buckets.insert(key, n),
                None => self.buckets.remove(&key),
            };
        }
    }

    pub fn counts(&self) -> StatusCounts {
        StatusCounts(self.counts)
    }

    pub fn buckets(&self) -> Vec<Bucket> {
        self.buckets.iter().map(|(k, n)| (*k, *n)).collect()
    }

    /// Downloads now in `status` that reached it in `since_minute` or later.
    pub fn since(&self, status: Status, since_minute: i64) -> u64 {
        let code = status.code();
        self.buckets
            .range((code, since_minute)..=(code, i64::MAX))
            .map(|(_, n)| n)
            .sum()
    }
}
