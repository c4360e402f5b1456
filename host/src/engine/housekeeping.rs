//! Forgets what the store need not keep: idempotency keys past their time. Without this the
//! key table would grow with every keyed request for ever.

use std::sync::Arc;
use std::time::Duration;

use super::core::Core;

/// How often expired keys are looked for; a key lives at most this much past its time, but
/// a create never honours an expired key in the meantime (the store checks its age).
const EVERY: Duration = Duration::from_secs(10 * 60);
/// Keys forgotten per write transaction, so one sweep never holds the writer long.
const BATCH: usize = 1_000;

pub(super) async fn run(core: Arc<Core>) {
    let mut stop = core.stopping();
    loop {
        sweep(&core);
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = stop.changed() => return,
        }
    }
}

fn sweep(core: &Core) {
    let before = core.now() - core.settings().idempotency_key_ttl;
    let mut forgotten = 0;
    loop {
        match core.store().expire_idempotency_keys(before, BATCH) {
            Ok(0) => break,
            Ok(n) => forgotten += n,
            Err(e) => {
                tracing::error!("forgetting expired idempotency keys: {e}");
                return;
            }
        }
    }
    if forgotten > 0 {
        tracing::info!("forgot {forgotten} expired idempotency keys");
    }
}
