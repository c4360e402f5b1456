//! Creates that arrive together are written together: one operation in the store's group
//! commit, run on one blocking thread, for every create waiting when it starts. Written one by
//! one, each create cost a hand-off to a blocking thread and a turn at the writer's lock, and
//! under load those thread switches, not the inserts, were where the time went.
//!
//! Each create is still answered only once its own commit is durable.

use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use super::core::Core;
use super::download::Download;
use crate::store::{Inserted, StorageFailure, StoreError};

/// At most this many creates share one write, so a steady stream still gets its answers.
const MOST_AT_ONCE: usize = 512;

type Reply = oneshot::Sender<Result<(Download, Inserted), StoreError>>;

struct Waiting {
    download: Download,
    idempotency_key: Option<String>,
    reply: Reply,
}

#[derive(Default)]
struct Queue {
    waiting: Vec<Waiting>,
    /// A task is writing the waiting creates (and will take any that arrive meanwhile).
    draining: bool,
}

#[derive(Default)]
pub(super) struct GroupedCreates {
    queue: Mutex<Queue>,
}

impl GroupedCreates {
    /// Writes `download` (unless its key or track already names one) together with the other
    /// creates waiting; returns it with what the store did.
    pub async fn insert(
        self: &Arc<Self>,
        core: &Arc<Core>,
        download: Download,
        idempotency_key: Option<String>,
    ) -> Result<(Download, Inserted), StoreError> {
        let (reply, answer) = oneshot::channel();
        let start = {
            let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
            queue.waiting.push(Waiting {
                download,
                idempotency_key,
                reply,
            });
            !std::mem::replace(&mut queue.draining, true)
        };
        if start {
            // Its own task: a client that hangs up must not stop the others' writes.
            tokio::spawn(drain(self.clone(), core.clone()));
        }
        answer.await.unwrap_or_else(|_| {
            Err(StoreError::Aborted(
                "the create was dropped before it was written (the service is stopping)".into(),
            ))
        })
    }

    /// The next creates to write, or `None` (and no longer draining) when there are none.
    fn next_group(&self) -> Option<Vec<Waiting>> {
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        if queue.waiting.is_empty() {
            queue.draining = false;
            return None;
        }
        let take = queue.waiting.len().min(MOST_AT_ONCE);
        let rest = queue.waiting.split_off(take);
        Some(std::mem::replace(&mut queue.waiting, rest))
    }
}

async fn drain(queue: Arc<GroupedCreates>, core: Arc<Core>) {
    while let Some(group) = queue.next_group() {
        let (items, replies): (Vec<_>, Vec<_>) = group
            .into_iter()
            .map(|w| ((w.download, w.idempotency_key), w.reply))
            .unzip();
        let core = core.clone();
        let written = tokio::task::spawn_blocking(move || {
            let keys_valid_since = core.now() - core.settings().idempotency_key_ttl;
            let result = core
                .store()
                .insert_many_unless_known(&items, keys_valid_since);
            (items, result)
        })
        .await;
        match written {
            Ok((items, Ok(inserted))) => {
                for ((reply, (download, _)), inserted) in
                    replies.into_iter().zip(items).zip(inserted)
                {
                    let _ = reply.send(Ok((download, inserted)));
                }
            }
            Ok((_, Err(e))) => {
                for reply in replies {
                    let _ = reply.send(Err(shared(&e)));
                }
            }
            Err(e) => {
                for reply in replies {
                    let _ = reply.send(Err(StoreError::Aborted(format!(
                        "the write of this create stopped: {e}"
                    ))));
                }
            }
        }
    }
}

/// What each member of a failed group hears: the storage failure itself (the disk is full:
/// 507), else that nothing of it was written.
fn shared(e: &StoreError) -> StoreError {
    match e {
        StoreError::Failed(f) => StoreError::Failed(StorageFailure::clone(f)),
        other => StoreError::Aborted(other.to_string()),
    }
}
