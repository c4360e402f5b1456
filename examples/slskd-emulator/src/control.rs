//! What tests and the demo can steer at run time (faults, a simulated slskd restart, an outage,
//! login state, disguised transfer states) and what they can read back: request counters per
//! route and per kind of call, and how much the emulated slskd stores.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use salvo::http::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::guard::InFlight;
use crate::settings::Limits;
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

/// The kinds of request (and answer) the emulator counts for tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Counted {
    /// `POST /searches`.
    SearchPost,
    /// `GET /searches`.
    SearchList,
    /// `GET /searches/{id}` and `GET /searches/{id}/responses`.
    SearchPoll,
    /// `PUT /searches/{id}` (cancel).
    SearchCancel,
    /// `DELETE /searches/{id}`.
    SearchDelete,
    /// `POST /transfers/downloads/{user}` (and `/downloads/batches`).
    EnqueuePost,
    /// `GET /transfers/downloads` and `GET /transfers/downloads/{user}`.
    TransferList,
    /// `GET /transfers/downloads/{user}/{id}`.
    TransferGet,
    /// `DELETE /transfers/downloads/{user}/{id}` without `remove=true`.
    TransferCancel,
    /// `DELETE /transfers/downloads/{user}/{id}?remove=true`.
    TransferRemove,
    /// `DELETE /transfers/downloads/all/completed`.
    ClearCompleted,
    /// `GET /transfers/downloads/{user}/{id}/position`.
    PositionGet,
    /// Every 429 answered, from a guard or the `RateLimited` fault.
    TooManyRequests,
}

/// How the emulator is steered and observed. Get it from [`Emulator::control`](crate::Emulator::control).
pub struct Control {
    pub api_key: Option<String>,
    world: Mutex<World>,
    fault: Mutex<Fault>,
    logged_in: AtomicBool,
    requests: AtomicU64,
    by_route: Mutex<BTreeMap<String, u64>>,
    counted: Mutex<BTreeMap<Counted, u64>>,
    /// Enqueue requests received per (username, filename), whatever the answer.
    enqueue_requests: Mutex<BTreeMap<(String, String), u64>>,
    pub(crate) search_posts: Arc<InFlight>,
    pub(crate) enqueue_posts: Arc<InFlight>,
    outages: mpsc::UnboundedSender<Duration>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock is taken over: what it guards is plain data, consistent between
    // statements.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Control {
    pub(crate) fn new(
        api_key: Option<String>,
        world: World,
        limits: Limits,
        outages: mpsc::UnboundedSender<Duration>,
    ) -> Control {
        Control {
            api_key,
            world: Mutex::new(world),
            fault: Mutex::new(Fault::None),
            logged_in: AtomicBool::new(true),
            requests: AtomicU64::new(0),
            by_route: Mutex::new(BTreeMap::new()),
            counted: Mutex::new(BTreeMap::new()),
            enqueue_requests: Mutex::new(BTreeMap::new()),
            search_posts: InFlight::new(limits.search_posts),
            enqueue_posts: InFlight::new(limits.enqueue_posts),
            outages,
        }
    }

    /// The world, as last caught up (call `advance(Instant::now())` on it to see the present).
    pub fn world(&self) -> MutexGuard<'_, World> {
        lock(&self.world)
    }

    /// The world caught up to now.
    fn world_now(&self) -> MutexGuard<'_, World> {
        let mut world = self.world();
        world.advance(Instant::now());
        world
    }

    pub fn fault(&self) -> Fault {
        *lock(&self.fault)
    }

    pub fn set_fault(&self, fault: Fault) {
        *lock(&self.fault) = fault;
        self.logged_in
            .store(fault != Fault::NotLoggedIn, Ordering::SeqCst);
        self.world().logged_in = fault != Fault::NotLoggedIn;
    }

    pub fn logged_in(&self) -> bool {
        self.logged_in.load(Ordering::SeqCst)
    }

    /// Simulates an slskd restart: active downloads fail with "Application shut down" and come
    /// back under new ids a moment later; running searches end with nothing found.
    pub fn restart_slskd(&self) {
        self.world_now().restart(Instant::now());
    }

    /// Asks the server to stop listening for `duration` (connections refused), then come back.
    pub fn request_outage(&self, duration: Duration) {
        let _ = self.outages.send(duration);
    }

    /// For `duration` (real time, not scaled), every unfinished transfer reports `state`, e.g.
    /// `"Completed, Quarantined"` (a flag this client has never seen), instead of its own; then
    /// it carries on where its lifecycle has got to meanwhile.
    pub fn disguise_states(&self, state: &str, duration: Duration) {
        self.disguise(None, state, duration);
    }

    /// As [`Control::disguise_states`], for the transfers from one peer only.
    pub fn disguise_states_of(&self, username: &str, state: &str, duration: Duration) {
        self.disguise(Some(username), state, duration);
    }

    fn disguise(&self, username: Option<&str>, state: &str, duration: Duration) {
        let now = Instant::now();
        let mut world = self.world();
        world.advance(now);
        world.disguise_states(username, state, duration, now);
    }

    pub(crate) fn count(&self, method: &Method, route: &[&str]) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let key = format!(
            "{method} {}",
            route.iter().take(2).copied().collect::<Vec<_>>().join("/")
        );
        *lock(&self.by_route).entry(key).or_default() += 1;
    }

    pub(crate) fn count_kind(&self, kind: Counted) {
        *lock(&self.counted).entry(kind).or_default() += 1;
    }

    pub(crate) fn count_enqueue_request(&self, username: &str, filename: &str) {
        *lock(&self.enqueue_requests)
            .entry((username.to_owned(), filename.to_owned()))
            .or_default() += 1;
    }

    /// Requests served under `/api` so far.
    pub fn request_count(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Requests so far for one route key, e.g. `"GET transfers/downloads"`.
    pub fn route_count(&self, key: &str) -> u64 {
        lock(&self.by_route).get(key).copied().unwrap_or(0)
    }

    /// Requests (or, for [`Counted::TooManyRequests`], answers) of one kind so far.
    pub fn counted(&self, kind: Counted) -> u64 {
        lock(&self.counted).get(&kind).copied().unwrap_or(0)
    }

    /// `POST /searches` received.
    pub fn search_posts(&self) -> u64 {
        self.counted(Counted::SearchPost)
    }

    /// `DELETE /searches/{id}` received.
    pub fn search_deletes(&self) -> u64 {
        self.counted(Counted::SearchDelete)
    }

    /// Search polls received: `GET /searches/{id}` and `GET /searches/{id}/responses`.
    pub fn search_polls(&self) -> u64 {
        self.counted(Counted::SearchPoll)
    }

    /// Enqueue POSTs received, whatever the answer.
    pub fn enqueue_posts(&self) -> u64 {
        self.counted(Counted::EnqueuePost)
    }

    /// How many enqueue requests named this file of this user, whatever the answer (a 429 or
    /// a refusal included).
    pub fn enqueue_requests_for(&self, username: &str, filename: &str) -> u64 {
        lock(&self.enqueue_requests)
            .get(&(username.to_owned(), filename.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// List GETs: `GET /transfers/downloads` and `GET /transfers/downloads/{user}`.
    pub fn transfer_list_gets(&self) -> u64 {
        self.counted(Counted::TransferList)
    }

    /// Transfer DELETEs with `remove=true`.
    pub fn transfer_removes(&self) -> u64 {
        self.counted(Counted::TransferRemove)
    }

    /// Transfer DELETEs without `remove=true` (cancels).
    pub fn transfer_cancels(&self) -> u64 {
        self.counted(Counted::TransferCancel)
    }

    /// `GET .../position` received.
    pub fn position_gets(&self) -> u64 {
        self.counted(Counted::PositionGet)
    }

    /// 429 answers given.
    pub fn too_many_requests(&self) -> u64 {
        self.counted(Counted::TooManyRequests)
    }

    /// Searches stored now (slskd keeps them until `DELETE /searches/{id}`).
    pub fn stored_searches(&self) -> usize {
        self.world().searches.len()
    }

    /// Download records not removed, as of now.
    pub fn download_records(&self) -> usize {
        self.world_now().download_records()
    }

    pub fn stats(&self) -> Value {
        let routes = lock(&self.by_route).clone();
        let counted = lock(&self.counted).clone();
        let world = self.world_now();
        json!({
            "requests": self.request_count(),
            "by_route": routes,
            "counted": counted,
            "fault": self.fault(),
            "transfers": world.transfers.len(),
            "download_records": world.download_records(),
            "searches": world.searches.len(),
        })
    }
}
