//! slskd's in-process concurrency guards (0.24+): a few POSTs of a kind may be in flight at
//! once; one more is answered 429 at once rather than queued.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// slskd's 429 body, the same for every guard.
pub const TOO_MANY: &str =
    "Only one concurrent operation is permitted. Wait until the previous request completes";

pub struct InFlight {
    limit: usize,
    current: AtomicUsize,
}

/// A request admitted by an [`InFlight`] guard; its place is given back on drop, so a request
/// whose client hung up frees it too.
pub struct Pass(Arc<InFlight>);

impl InFlight {
    pub fn new(limit: usize) -> Arc<InFlight> {
        Arc::new(InFlight {
            limit,
            current: AtomicUsize::new(0),
        })
    }

    /// A pass if fewer than the limit are in flight.
    pub fn try_enter(self: &Arc<Self>) -> Option<Pass> {
        self.current
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < self.limit).then_some(n + 1)
            })
            .ok()
            .map(|_| Pass(self.clone()))
    }
}

impl Drop for Pass {
    fn drop(&mut self) {
        self.0.current.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_up_to_the_limit_and_frees_on_drop() {
        let guard = InFlight::new(2);
        let a = guard.try_enter().expect("first");
        let _b = guard.try_enter().expect("second");
        assert!(guard.try_enter().is_none());
        drop(a);
        assert!(guard.try_enter().is_some());
    }
}
