//! The emulated slskd's state: transfers moving through slskd's lifecycle, searches, and the
//! server connection. Time advances lazily: every read first catches the world up to now.

use std::time::{Duration, Instant};

use time::OffsetDateTime;
use uuid::Uuid;

use crate::peers::{Behaviour, Peer, Timings, stable_hash};

/// Where a simulated transfer is in slskd's lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    QueuedLocally,
    Requested,
    QueuedRemotely,
    Initializing,
    InProgress,
    Succeeded,
    Cancelled,
    TimedOut,
    Errored,
    Rejected,
    Aborted,
}

impl Phase {
    /// slskd's flags string for the phase.
    pub fn state(self) -> &'static str {
        match self {
            Phase::QueuedLocally => "Queued, Locally",
            Phase::Requested => "Requested",
            Phase::QueuedRemotely => "Queued, Remotely",
            Phase::Initializing => "Initializing",
            Phase::InProgress => "InProgress",
            Phase::Succeeded => "Completed, Succeeded",
            Phase::Cancelled => "Completed, Cancelled",
            Phase::TimedOut => "Completed, TimedOut",
            Phase::Errored => "Completed, Errored",
            Phase::Rejected => "Completed, Rejected",
            Phase::Aborted => "Completed, Aborted",
        }
    }

    pub fn is_completed(self) -> bool {
        matches!(
            self,
            Phase::Succeeded
                | Phase::Cancelled
                | Phase::TimedOut
                | Phase::Errored
                | Phase::Rejected
                | Phase::Aborted
        )
    }
}

#[derive(Debug, Clone)]
pub struct SimTransfer {
    pub id: Uuid,
    pub username: String,
    pub filename: String,
    pub size: i64,
    pub phase: Phase,
    pub requested_at: OffsetDateTime,
    pub enqueued_at: Option<OffsetDateTime>,
    pub started_at: Option<OffsetDateTime>,
    pub ended_at: Option<OffsetDateTime>,
    pub bytes: f64,
    pub average_speed: f64,
    pub exception: Option<String>,
    pub attempts: u32,
    pub removed: bool,
    behaviour: Behaviour,
    speed: f64,
    /// When the current phase began (monotonic).
    phase_since: Instant,
}

#[derive(Debug, Clone)]
pub struct SimSearch {
    pub id: Uuid,
    pub text: String,
    pub token: u32,
    pub started_at: OffsetDateTime,
    pub ended_at: Option<OffsetDateTime>,
    pub cancelled: bool,
    started: Instant,
    /// Everything the search will find; revealed once it completes (plus the lag).
    found: Vec<Found>,
}

/// One peer's answer to a search.
#[derive(Debug, Clone)]
pub struct Found {
    pub peer: Peer,
    pub files: Vec<FoundFile>,
}

#[derive(Debug, Clone)]
pub struct FoundFile {
    pub filename: String,
    pub size: i64,
    pub length: u32,
}

/// What a search shows at one moment.
pub struct SearchView<'a> {
    pub search: &'a SimSearch,
    pub complete: bool,
    pub response_count: usize,
    pub file_count: usize,
    /// `None` while the responses are not readable yet.
    pub responses: Option<&'a [Found]>,
}

pub struct World {
    pub peers: Vec<Peer>,
    pub timings: Timings,
    /// Multiplies transfer speeds; divides every other duration.
    pub speed_factor: f64,
    pub logged_in: bool,
    pub transfers: Vec<SimTransfer>,
    pub searches: Vec<SimSearch>,
    next_token: u32,
    /// Transfers interrupted by a simulated restart, re-enqueued at this moment.
    pending_reenqueue: Option<(Instant, Vec<Uuid>)>,
}

/// Why an enqueue was refused (slskd answers 500 with the message).
#[derive(Debug)]
pub enum EnqueueRefusal {
    Offline(String),
    NotLoggedIn,
}

/// Queries containing this word find nothing (to test "not found").
pub const UNFINDABLE_WORD: &str = "unfindable";

impl World {
    pub fn new(peers: Vec<Peer>, timings: Timings, speed_factor: f64) -> World {
        World {
            peers,
            timings,
            speed_factor: speed_factor.max(0.001),
            logged_in: true,
            transfers: Vec::new(),
            searches: Vec::new(),
            next_token: 19_431,
            pending_reenqueue: None,
        }
    }

    fn scaled(&self, d: Duration) -> Duration {
        d.div_f64(self.speed_factor)
    }

    fn peer(&self, username: &str) -> Peer {
        self.peers
            .iter()
            .find(|p| p.username == username)
            .cloned()
            .unwrap_or_else(|| Peer::new(username, Behaviour::Normal, "flac"))
    }

    /// Catches every transfer and search up to `now`.
    pub fn advance(&mut self, now: Instant) {
        if let Some((at, ids)) = self.pending_reenqueue.take() {
            if now >= at {
                self.reenqueue(&ids, now);
            } else {
                self.pending_reenqueue = Some((at, ids));
            }
        }
        let t = self.timings;
        let durations = [
            self.scaled(t.queued_locally),
            self.scaled(t.requested),
            self.scaled(t.queued_remotely),
            self.scaled(t.initializing),
            self.scaled(t.time_out_after),
            self.scaled(t.slow_queue),
        ];
        for transfer in &mut self.transfers {
            transfer.advance(now, durations, self.speed_factor);
        }
        let search_time = self.scaled(t.search);
        for search in &mut self.searches {
            if search.ended_at.is_none() && now.duration_since(search.started) >= search_time {
                search.ended_at = Some(OffsetDateTime::now_utc());
            }
        }
    }

    pub fn start_search(&mut self, text: &str, now: Instant) -> Uuid {
        let token = self.next_token;
        self.next_token += 1;
        let found = if text.to_lowercase().contains(UNFINDABLE_WORD) {
            Vec::new()
        } else {
            self.results_for(text)
        };
        let search = SimSearch {
            id: Uuid::new_v4(),
            text: text.to_owned(),
            token,
            started_at: OffsetDateTime::now_utc(),
            ended_at: None,
            cancelled: false,
            started: now,
            found,
        };
        let id = search.id;
        self.searches.push(search);
        id
    }

    /// Deterministic results: every peer offers the track; sizes follow the query text.
    fn results_for(&self, text: &str) -> Vec<Found> {
        let clean: String = text
            .chars()
            .map(|c| {
                if c.is_alphanumeric() || c == ' ' {
                    c
                } else {
                    ' '
                }
            })
            .collect();
        let words = clean.split_whitespace().collect::<Vec<_>>().join(" ");
        self.peers
            .iter()
            .map(|peer| {
                let h = stable_hash(&format!("{words}|{}", peer.username));
                let length = 150 + (h % 200) as u32;
                let size = match peer.extension {
                    "mp3" => i64::from(length) * 40_000,
                    _ => i64::from(length) * 110_000 + (h % 1000) as i64,
                };
                let share = &peer.username.chars().take(5).collect::<String>();
                Found {
                    peer: peer.clone(),
                    files: vec![FoundFile {
                        filename: format!(
                            "@@{share}\\Music\\{words}\\01 - {words}.{}",
                            peer.extension
                        ),
                        size,
                        length,
                    }],
                }
            })
            .collect()
    }

    pub fn view_search(&self, id: Uuid, now: Instant) -> Option<SearchView<'_>> {
        let search = self.searches.iter().find(|s| s.id == id)?;
        let elapsed = now.duration_since(search.started);
        let search_time = self.scaled(self.timings.search);
        let complete = search.ended_at.is_some() || search.cancelled;
        // While running, counts grow; the responses themselves only appear after completion.
        let shown = if complete {
            search.found.len()
        } else {
            let fraction = elapsed.as_secs_f64() / search_time.as_secs_f64().max(1e-9);
            ((search.found.len() as f64) * fraction).floor() as usize
        };
        let readable =
            complete && elapsed >= search_time + self.scaled(self.timings.search_responses_lag);
        Some(SearchView {
            search,
            complete,
            response_count: shown,
            file_count: search.found.iter().take(shown).map(|f| f.files.len()).sum(),
            responses: (readable || search.cancelled).then_some(search.found.as_slice()),
        })
    }

    pub fn cancel_search(&mut self, id: Uuid) -> bool {
        match self.searches.iter_mut().find(|s| s.id == id) {
            Some(s) => {
                s.cancelled = true;
                s.ended_at.get_or_insert_with(OffsetDateTime::now_utc);
                true
            }
            None => false,
        }
    }

    pub fn delete_search(&mut self, id: Uuid) -> bool {
        let before = self.searches.len();
        self.searches.retain(|s| s.id != id);
        before != self.searches.len()
    }

    /// Enqueues files for one user; returns the new records and the files skipped because an
    /// active transfer of the same file exists.
    pub fn enqueue(
        &mut self,
        username: &str,
        files: &[(String, i64)],
        now: Instant,
    ) -> Result<(Vec<SimTransfer>, Vec<String>), EnqueueRefusal> {
        if !self.logged_in {
            return Err(EnqueueRefusal::NotLoggedIn);
        }
        let peer = self.peer(username);
        if peer.behaviour == Behaviour::Offline {
            return Err(EnqueueRefusal::Offline(format!(
                "User {username} appears to be offline"
            )));
        }
        let mut enqueued = Vec::new();
        let mut failed = Vec::new();
        for (filename, size) in files {
            let active = self.transfers.iter().any(|t| {
                t.username == username
                    && t.filename == *filename
                    && !t.phase.is_completed()
                    && !t.removed
            });
            if active {
                failed.push(filename.clone());
                continue;
            }
            // Re-enqueueing a finished file supersedes its old record.
            for old in self
                .transfers
                .iter_mut()
                .filter(|t| t.username == username && t.filename == *filename)
            {
                old.removed = true;
            }
            let transfer = SimTransfer::new(&peer, filename, *size, now);
            enqueued.push(transfer.clone());
            self.transfers.push(transfer);
        }
        Ok((enqueued, failed))
    }

    /// Cancels a transfer (slskd does it asynchronously; here it is immediate).
    pub fn cancel(&mut self, id: Uuid, remove: bool) {
        if let Some(t) = self.transfers.iter_mut().find(|t| t.id == id) {
            if !t.phase.is_completed() {
                t.finish(Phase::Cancelled, Some("The operation was canceled."));
            } else if remove {
                t.removed = true;
            }
        }
    }

    pub fn clear_completed(&mut self) {
        for t in self.transfers.iter_mut().filter(|t| t.phase.is_completed()) {
            t.removed = true;
        }
    }

    /// Simulates an slskd restart: every active download ends `Completed, Errored` with
    /// "Application shut down", and is re-enqueued under a new id a moment later.
    pub fn restart(&mut self, now: Instant) {
        let mut interrupted = Vec::new();
        for t in self
            .transfers
            .iter_mut()
            .filter(|t| !t.phase.is_completed() && !t.removed)
        {
            t.finish(Phase::Errored, Some("Application shut down"));
            interrupted.push(t.id);
        }
        self.searches.clear();
        let at = now + self.scaled(self.timings.restart_reenqueue);
        self.pending_reenqueue = Some((at, interrupted));
    }

    fn reenqueue(&mut self, ids: &[Uuid], now: Instant) {
        let mut fresh = Vec::new();
        for t in self
            .transfers
            .iter_mut()
            .filter(|t| ids.contains(&t.id) && !t.removed)
        {
            t.removed = true;
            let peer = self
                .peers
                .iter()
                .find(|p| p.username == t.username)
                .cloned();
            let peer = peer.unwrap_or_else(|| Peer::new(&t.username, Behaviour::Normal, "flac"));
            fresh.push(SimTransfer::new(&peer, &t.filename, t.size, now));
        }
        self.transfers.extend(fresh);
    }
}

impl SimTransfer {
    fn new(peer: &Peer, filename: &str, size: i64, now: Instant) -> SimTransfer {
        SimTransfer {
            id: Uuid::new_v4(),
            username: peer.username.clone(),
            filename: filename.to_owned(),
            size,
            phase: Phase::QueuedLocally,
            requested_at: OffsetDateTime::now_utc(),
            enqueued_at: None,
            started_at: None,
            ended_at: None,
            bytes: 0.0,
            average_speed: 0.0,
            exception: None,
            attempts: 0,
            removed: false,
            behaviour: peer.behaviour,
            speed: peer.send_speed,
            phase_since: now,
        }
    }

    fn enter(&mut self, phase: Phase, at: Instant) {
        self.phase = phase;
        self.phase_since = at;
    }

    fn finish(&mut self, phase: Phase, exception: Option<&str>) {
        let now = OffsetDateTime::now_utc();
        self.phase = phase;
        self.ended_at = Some(now);
        self.started_at.get_or_insert(now);
        self.exception = exception.map(str::to_owned);
        if matches!(phase, Phase::TimedOut | Phase::Errored)
            && exception != Some("Application shut down")
        {
            // The emulator does not retry: it reports the state slskd 0.26 shows once its
            // automatic retries are used up.
            self.attempts = 3;
        }
    }

    /// Moves through the lifecycle up to `now`. `d` holds the scaled durations of queued
    /// locally, requested, queued remotely, initializing, time-out and slow queue.
    fn advance(&mut self, now: Instant, d: [Duration; 6], speed_factor: f64) {
        let [
            queued_locally,
            requested,
            queued_remotely,
            initializing,
            time_out,
            slow_queue,
        ] = d;
        loop {
            let since = self.phase_since;
            let elapsed = now.saturating_duration_since(since);
            match self.phase {
                Phase::QueuedLocally if elapsed >= queued_locally => {
                    self.attempts = 1;
                    self.enter(Phase::Requested, since + queued_locally);
                }
                Phase::Requested => match self.behaviour {
                    Behaviour::Reject if elapsed >= requested => {
                        self.finish(Phase::Rejected, Some("Transfer rejected: File not shared."));
                    }
                    Behaviour::TimeOut if elapsed >= time_out => {
                        self.finish(
                            Phase::TimedOut,
                            Some("The wait timed out after 15000 milliseconds"),
                        );
                    }
                    Behaviour::Reject | Behaviour::TimeOut => return,
                    _ if elapsed >= requested => {
                        self.enqueued_at = Some(OffsetDateTime::now_utc());
                        self.enter(Phase::QueuedRemotely, since + requested);
                    }
                    _ => return,
                },
                Phase::QueuedRemotely => {
                    let wait = if self.behaviour == Behaviour::SlowQueue {
                        slow_queue
                    } else {
                        queued_remotely
                    };
                    if elapsed < wait {
                        return;
                    }
                    self.enter(Phase::Initializing, since + wait);
                }
                Phase::Initializing if elapsed >= initializing => {
                    if self.behaviour == Behaviour::SizeMismatch {
                        let remote = self.size + 1;
                        let message = format!(
                            "Transfer aborted: the remote size of {remote} does not match expected size {}",
                            self.size
                        );
                        self.finish(Phase::Aborted, Some(&message));
                        return;
                    }
                    self.started_at = Some(OffsetDateTime::now_utc());
                    self.enter(Phase::InProgress, since + initializing);
                }
                Phase::InProgress => {
                    let speed = self.speed * speed_factor;
                    let size = self.size.max(0) as f64;
                    let limit = match self.behaviour {
                        Behaviour::ErrorMidway => size * 0.4,
                        Behaviour::Stall => size * 0.3,
                        _ => size,
                    };
                    let sent = (speed * elapsed.as_secs_f64()).min(limit);
                    self.bytes = sent;
                    // A stalled transfer's average decays to nothing; a finished one keeps it.
                    self.average_speed = if sent < limit || self.behaviour != Behaviour::Stall {
                        speed
                    } else {
                        0.0
                    };
                    if sent >= limit {
                        match self.behaviour {
                            Behaviour::ErrorMidway => self.finish(
                                Phase::Errored,
                                Some("Transfer failed: Remote connection closed"),
                            ),
                            Behaviour::Stall => {}
                            _ => self.finish(Phase::Succeeded, None),
                        }
                    }
                    return;
                }
                _ => return,
            }
        }
    }
}
