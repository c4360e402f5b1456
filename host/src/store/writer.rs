//! Group commit: write operations that arrive together share one write transaction and one
//! durable commit, and none is answered before that commit is on disk.
//!
//! There is no separate writer thread: each caller runs its own operation, on its own thread,
//! in the open transaction (one at a time, under a lock), then waits; the caller that finds
//! nobody else about to join (or the group full) commits for all of them and wakes them. So
//! the operations can borrow from their caller (the engine's edits do) without being sent
//! anywhere, and while one group's commit waits for the disk the next group gathers. redb
//! allows one write transaction at a time, so the next group opens its transaction when the
//! commit is done.
//!
//! An operation that refuses (not found, track busy, an edit's own error) must do so before
//! its first write: it then wrote nothing, and the others in the group are untouched. An
//! operation that fails on storage (or panics) may have written half of itself: the whole
//! group is dropped, uncommitted, and every member hears of the failure.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, RwLock};

use redb::{Database, WriteTransaction};

use super::commit_times::CommitTimes;
use super::counters::{Deltas, Tallies};
use super::{StorageFailure, StoreError};

/// At most this many operations share a commit, so that a steady stream of writers still
/// gets its commits (and a group's answers do not wait behind an endless queue).
const GROUP_CAP: usize = 1024;

/// Why a group was not committed, as every member hears it.
#[derive(Debug, Clone)]
enum GroupFailure {
    Storage(StorageFailure),
    Other(String),
}

impl GroupFailure {
    fn of(e: &StoreError) -> GroupFailure {
        match e {
            StoreError::Failed(f) => GroupFailure::Storage(f.clone()),
            other => GroupFailure::Other(other.to_string()),
        }
    }

    fn error(self) -> StoreError {
        match self {
            GroupFailure::Storage(f) => StoreError::Failed(f),
            GroupFailure::Other(message) => StoreError::Aborted(message),
        }
    }
}

/// Whether an operation's error may come after some of its writes: then its group cannot
/// commit. The others are refusals, which come before any write.
fn aborts_group(e: &StoreError) -> bool {
    !matches!(
        e,
        StoreError::NotFound(_) | StoreError::TrackBusy { .. } | StoreError::Corrupt { .. }
    )
}

#[derive(Default)]
struct State {
    /// The transaction of the group being filled, once its first operation has run.
    txn: Option<WriteTransaction>,
    /// The number of the group being filled (from 1).
    group: u64,
    /// Operations run in it so far.
    ops: usize,
    deltas: Deltas,
    /// Some operation of the group wrote something (else it is not committed).
    touched: bool,
    /// Set when an operation of the group failed on storage or panicked.
    poisoned: Option<GroupFailure>,
    /// Callers that arrived and have not run their operation yet.
    arriving: usize,
    /// A group's commit is under way (no transaction can be opened meanwhile).
    committing: bool,
    /// Every group up to this number is finished (committed or dropped).
    finished: u64,
    /// Groups that were dropped, and why (kept until their members have read it).
    failed: BTreeMap<u64, (GroupFailure, usize)>,
}

pub(super) struct Writer {
    state: Mutex<State>,
    turn: Condvar,
    /// The counters as of the last commit.
    tallies: RwLock<Tallies>,
    /// Commits since open (how well writes are grouped); moved only after the tallies, so a
    /// reader that saw a number reads tallies at least that new.
    commits: AtomicU64,
    /// How long each durable commit took.
    commit_times: CommitTimes,
}

impl Writer {
    pub fn new(tallies: Tallies) -> Writer {
        Writer {
            state: Mutex::new(State {
                group: 1,
                ..State::default()
            }),
            turn: Condvar::new(),
            tallies: RwLock::new(tallies),
            commits: AtomicU64::new(0),
            commit_times: CommitTimes::default(),
        }
    }

    pub fn tallies(&self) -> std::sync::RwLockReadGuard<'_, Tallies> {
        self.tallies.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn commits(&self) -> u64 {
        self.commits.load(Ordering::Acquire)
    }

    pub fn commit_times(&self) -> &CommitTimes {
        &self.commit_times
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn wait<'a>(&self, guard: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.turn.wait(guard).unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `op` in the current group's transaction and returns its result once the group is
    /// durably committed (or the group's failure). `op` records what it changes in the
    /// counters in the `Deltas` it is given.
    pub fn write<R>(
        &self,
        db: &Database,
        op: impl FnOnce(&WriteTransaction, &mut Deltas) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        in_place(|| self.write_here(db, op))
    }

    fn write_here<R>(
        &self,
        db: &Database,
        op: impl FnOnce(&WriteTransaction, &mut Deltas) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let mut st = self.lock();
        st.arriving += 1;
        // A group that is full, being committed or already lost is not joined: the next is.
        while st.committing || st.ops >= GROUP_CAP || st.poisoned.is_some() {
            st = self.wait(st);
        }
        st.arriving -= 1;
        let mine = st.group;
        if st.txn.is_none() && st.poisoned.is_none() {
            match db.begin_write() {
                Ok(txn) => st.txn = Some(txn),
                Err(e) => st.poisoned = Some(GroupFailure::of(&e.into())),
            }
        }
        st.ops += 1;
        let mut panicked = None;
        let outcome = match (&st.txn, &st.poisoned) {
            (Some(txn), None) => {
                let mut deltas = Deltas::default();
                match catch_unwind(AssertUnwindSafe(|| op(txn, &mut deltas))) {
                    Ok(Ok(value)) => {
                        st.touched |= deltas.needs_commit();
                        st.deltas.merge(deltas);
                        Some(Ok(value))
                    }
                    Ok(Err(e)) => {
                        if aborts_group(&e) {
                            st.poisoned = Some(GroupFailure::of(&e));
                        }
                        Some(Err(e))
                    }
                    Err(payload) => {
                        st.poisoned = Some(GroupFailure::Other(
                            "a write grouped with this one panicked".into(),
                        ));
                        panicked = Some(payload);
                        None
                    }
                }
            }
            // The group is lost already: the operation is not run.
            _ => None,
        };

        while st.finished < mine {
            let my_turn = !st.committing
                && st.group == mine
                && (st.arriving == 0 || st.ops >= GROUP_CAP || st.poisoned.is_some());
            if my_turn {
                let txn = st.txn.take();
                let deltas = std::mem::take(&mut st.deltas);
                let touched = std::mem::take(&mut st.touched);
                let poisoned = st.poisoned.take();
                let members = st.ops;
                st.committing = true;
                st.group += 1;
                st.ops = 0;
                drop(st);
                let result = match poisoned {
                    // Dropping the transaction rolls the whole group back.
                    Some(f) => Err(f),
                    None => self.commit(txn, &deltas, touched),
                };
                st = self.lock();
                st.committing = false;
                st.finished = mine;
                if let Err(f) = result {
                    st.failed.insert(mine, (f, members));
                }
                self.turn.notify_all();
            } else {
                st = self.wait(st);
            }
        }
        let failure = match st.failed.get_mut(&mine) {
            Some((f, readers)) => {
                let f = f.clone();
                *readers -= 1;
                if *readers == 0 {
                    st.failed.remove(&mine);
                }
                Some(f)
            }
            None => None,
        };
        drop(st);
        if let Some(payload) = panicked {
            resume_unwind(payload);
        }
        match (outcome, failure) {
            // The operation that sank the group hears its own error.
            (Some(Err(e)), Some(_)) if aborts_group(&e) => Err(e),
            (_, Some(f)) => Err(f.error()),
            (Some(result), None) => result,
            (None, None) => Err(StoreError::Aborted("the write was not run".into())),
        }
    }

    /// Writes the group's counter changes, commits, and only then moves the in-memory copy.
    fn commit(
        &self,
        txn: Option<WriteTransaction>,
        deltas: &Deltas,
        touched: bool,
    ) -> Result<(), GroupFailure> {
        let Some(txn) = txn else {
            return Ok(());
        };
        if !touched {
            // Only refusals and no-op edits: nothing to make durable.
            return txn.abort().map_err(|e| GroupFailure::of(&e.into()));
        }
        let started = std::time::Instant::now();
        let done = deltas
            .write(&txn)
            .and_then(|()| txn.commit().map_err(StoreError::from));
        match done {
            Ok(()) => {
                self.commit_times.record(started.elapsed());
                self.tallies
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .apply(deltas);
                self.commits.fetch_add(1, Ordering::Release);
                Ok(())
            }
            Err(e) => Err(GroupFailure::of(&e)),
        }
    }
}

/// Runs a blocking write. On a worker thread of a multi-threaded tokio runtime the worker is
/// handed over first, so that waiting for the disk does not hold up other tasks; elsewhere
/// (a blocking-pool thread, a plain thread, a single-threaded runtime, which cannot hand over)
/// it just runs.
fn in_place<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}
