//! What tests and the demo can steer at run time: faults, a simulated slskd restart, an outage,
//! login state; and the request counters they assert on.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use salvo::http::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::world::World;

/// A fault applied to every `/api` request until cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "fault", rename_all = "snake_case")]
pub enum Fault {
    #[default]
    None,
    /// 500 with a JSON string body.
    Error500,
    /// 429, as slskd's concurrency guards answer.
    RateLimited,
    /// 200 with a body that is not JSON.
    InvalidJson,
    /// Waits `ms` before answering at all (use more than the caller's timeout).
    Hang { ms: u64 },
    /// Waits `ms`, then answers normally.
    Slow { ms: u64 },
    /// slskd is up but not logged in to Soulseek: searches 409, enqueues 500.
    NotLoggedIn,
}

pub struct Control {
    pub api_key: Option<String>,
    world: Mutex<World>,
    fault: Mutex<Fault>,
    logged_in: AtomicBool,
    requests: AtomicU64,
    by_route: Mutex<BTreeMap<String, u64>>,
    outages: mpsc::UnboundedSender<Duration>,
}

impl Control {
    pub(crate) fn new(
        api_key: Option<String>,
        world: World,
        outages: mpsc::UnboundedSender<Duration>,
    ) -> Control {
        Control {
            api_key,
            world: Mutex::new(world),
            fault: Mutex::new(Fault::None),
            logged_in: AtomicBool::new(true),
            requests: AtomicU64::new(0),
            by_route: Mutex::new(BTreeMap::new()),
            outages,
        }
    }

    /// The world, caught up to now by the caller (`advance`). A poisoned lock is taken over:
    /// the world is plain data and stays consistent between statements.
    pub fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn fault(&self) -> Fault {
        *self.fault.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_fault(&self, fault: Fault) {
        *self.fault.lock().unwrap_or_else(|p| p.into_inner()) = fault;
        self.logged_in
            .store(fault != Fault::NotLoggedIn, Ordering::SeqCst);
        self.world().logged_in = fault != Fault::NotLoggedIn;
    }

    pub fn logged_in(&self) -> bool {
        self.logged_in.load(Ordering::SeqCst)
    }

    /// Simulates an slskd restart: active downloads fail with "Application shut down" and come
    /// back under new ids a moment later.
    pub fn restart_slskd(&self) {
        let mut world = self.world();
        world.advance(Instant::now());
        world.restart(Instant::now());
    }

    /// Asks the server to stop listening for `duration` (connections refused), then come back.
    pub fn request_outage(&self, duration: Duration) {
        let _ = self.outages.send(duration);
    }

    pub(crate) fn count(&self, method: &Method, route: &[&str]) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let key = format!(
            "{method} {}",
            route.iter().take(2).copied().collect::<Vec<_>>().join("/")
        );
        *self
            .by_route
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key)
            .or_default() += 1;
    }

    /// Requests served under `/api` so far.
    pub fn request_count(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Requests so far for one route key, e.g. `"GET transfers/downloads"`.
    pub fn route_count(&self, key: &str) -> u64 {
        self.by_route
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .copied()
            .unwrap_or(0)
    }

    pub fn stats(&self) -> Value {
        let routes = self
            .by_route
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let world = self.world();
        json!({
            "requests": self.request_count(),
            "by_route": routes,
            "fault": self.fault(),
            "transfers": world.transfers.len(),
            "searches": world.searches.len(),
        })
    }
}
