//! The emulated slskd's state: download records, searches, and the server connection. Time
//! advances lazily: every read first catches the world up to now ([`World::advance`]).
//!
//! Nothing here is cleared by itself: finished, failed and cancelled records stay listed until
//! they are removed, and searches stay until they are deleted.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::clock::Clock;
use crate::downloads::Downloads;
use crate::peers::{Behaviour, Peer, stable_hash};
use crate::search::{Found, FoundFile, SearchOptions, SearchView, Searches};
use crate::settings::{AnswerOrder, Limits, Retry, Timings};
use crate::shares::Shares;
use crate::transfer::{Context, SHUT_DOWN, SimTransfer};

pub use crate::search::{SLOW_SEARCH_WORD, UNFINDABLE_WORD};
pub use crate::transfer::Phase;

pub struct World {
    pub peers: Vec<Peer>,
    pub timings: Timings,
    pub retry: Retry,
    pub answer_order: AnswerOrder,
    pub logged_in: bool,
    /// Every download record, removed ones included, in insertion order.
    pub transfers: Vec<SimTransfer>,
    pub searches: Searches,
    clock: Clock,
    /// Transfers interrupted by a simulated restart, re-enqueued at this moment.
    pending_reenqueue: Option<(Instant, Vec<Uuid>)>,
    /// Unfinished transfers reporting a state not their own, for a while.
    disguise: Option<Disguise>,
    /// Where succeeded downloads are written, as real files; `None` writes nothing.
    downloads: Option<Downloads>,
}

/// A state string shown instead of the real one until `until` (by every unfinished transfer,
/// or only by those of `username`).
struct Disguise {
    state: String,
    until: Instant,
    username: Option<String>,
}

/// Why an enqueue was refused (slskd answers 500 with the message).
#[derive(Debug, thiserror::Error)]
pub enum EnqueueRefusal {
    #[error("User {0} appears to be offline")]
    Offline(String),
    #[error("The server connection must be connected and logged in to perform this operation")]
    NotLoggedIn,
}

/// Why a search was refused.
#[derive(Debug, thiserror::Error)]
pub enum SearchRefusal {
    /// slskd answers 500: the id is the primary key of its search table.
    #[error(
        "An error occurred while saving the entity changes. See the inner exception for details."
    )]
    DuplicateId,
    /// slskd answers 409, and keeps the search record (`Completed, Errored`).
    #[error(
        "The server connection must be connected and logged in to perform a search (currently: Disconnected)"
    )]
    NotLoggedIn,
}

/// Why `GET .../position` has no number (slskd answers 404, or 500 with the message).
#[derive(Debug, thiserror::Error)]
pub enum PositionRefusal {
    #[error("no such transfer")]
    Unknown,
    /// The peer did not answer; slskd only says so after waiting `wait` (scaled). The message
    /// names the timeout in slskd time, as Soulseek.NET's does.
    #[error("The wait timed out after {} milliseconds", timeout.as_millis())]
    NoAnswer { wait: Duration, timeout: Duration },
    #[error("User {0} appears to be offline")]
    Offline(String),
}

/// What an accepted enqueue did.
pub struct Enqueued {
    pub transfers: Vec<SimTransfer>,
    /// Files refused because an active record of them exists.
    pub refused: Vec<String>,
}

impl World {
    pub fn new(
        peers: Vec<Peer>,
        timings: Timings,
        retry: Retry,
        limits: Limits,
        answer_order: AnswerOrder,
        speed_factor: f64,
    ) -> World {
        let clock = Clock::new(speed_factor);
        World {
            peers,
            timings,
            retry,
            answer_order,
            logged_in: true,
            transfers: Vec::new(),
            searches: Searches::new(
                clock,
                limits.network_searches,
                clock.scaled(timings.search_responses_lag),
            ),
            clock,
            pending_reenqueue: None,
            disguise: None,
            downloads: None,
        }
    }

    /// Writes every download that succeeds into `dir` (slskd's layout), as real audio lasting
    /// `track_secs`; search results then advertise those files' real sizes and lengths.
    pub fn with_downloads(mut self, dir: PathBuf, track_secs: f32) -> World {
        self.downloads = Some(Downloads::new(dir, track_secs));
        self
    }

    pub fn clock(&self) -> Clock {
        self.clock
    }

    fn context(&self) -> Context {
        Context {
            clock: self.clock,
            timings: self.timings,
            retry: self.retry,
        }
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
                self.reenqueue(&ids, at);
            } else {
                self.pending_reenqueue = Some((at, ids));
            }
        }
        let cx = self.context();
        let mut succeeded = Vec::new();
        for (k, transfer) in self.transfers.iter_mut().enumerate() {
            let before = transfer.phase;
            transfer.advance(now, &cx);
            // Succeeded is final: a record enters it once, in the step written here.
            if transfer.phase == Phase::Succeeded && before != Phase::Succeeded {
                succeeded.push(k);
            }
        }
        if let Some(downloads) = &self.downloads {
            for k in succeeded {
                let t = &self.transfers[k];
                let peer = self.peer(&t.username);
                if let Err(e) = downloads.deliver(&peer, &t.filename) {
                    tracing::error!(
                        "emulator could not write the download of {}: {e}",
                        t.filename
                    );
                }
            }
        }
        self.searches.advance(now);
    }

    /// The encoding a search for `text` will need (its peers' real files), to be run before
    /// [`World::start_search`] without the world locked; `None` when there is nothing to encode.
    pub fn prepare_search(&self, text: &str) -> Option<impl FnOnce() + Send + 'static> {
        let shares = self.downloads.as_ref()?.shares().clone();
        if text.to_lowercase().contains(UNFINDABLE_WORD) {
            return None;
        }
        let words = search_words(text);
        let offers: Vec<(Peer, String)> = self
            .peers
            .iter()
            .map(|peer| (peer.clone(), offered_filename(peer, &words)))
            .collect();
        Some(move || shares.prepare(&offers))
    }

    /// Starts a search under `id` (or a new one); returns its id.
    pub fn start_search(
        &mut self,
        id: Option<Uuid>,
        text: &str,
        options: SearchOptions,
        now: Instant,
    ) -> Result<Uuid, SearchRefusal> {
        let id = id.unwrap_or_else(Uuid::new_v4);
        if self.searches.contains(id) {
            return Err(SearchRefusal::DuplicateId);
        }
        if !self.logged_in {
            self.searches.start_errored(id, text, now);
            return Err(SearchRefusal::NotLoggedIn);
        }
        let answers = if text.to_lowercase().contains(UNFINDABLE_WORD) {
            Vec::new()
        } else {
            self.answers_for(text, &options)
        };
        self.searches.start(id, text, options, answers, now);
        Ok(id)
    }

    /// Deterministic answers: every peer offers the track, sizes follow the query text (or are
    /// the real files' sizes, with a downloads folder), and so does the order of the answers
    /// (unless [`AnswerOrder::PeerList`]). Offsets are slskd time after reaching the network.
    fn answers_for(&self, text: &str, options: &SearchOptions) -> Vec<(Duration, Found)> {
        let words = search_words(text);
        let spread = if words.to_lowercase().contains(SLOW_SEARCH_WORD) {
            self.timings.slow_search
        } else {
            self.timings.search
        };
        let mut order: Vec<&Peer> = self.peers.iter().collect();
        if self.answer_order == AnswerOrder::PerQuery {
            order.sort_by_key(|peer| stable_hash(&format!("{words}|order|{}", peer.username)));
        }
        let n = order.len().max(1) as u32;
        let shares = self.downloads.as_ref().map(|d| &**d.shares());
        order
            .into_iter()
            .enumerate()
            .map(|(k, peer)| {
                // Evenly spaced over the spread, so no silence outlasts a sane timeout.
                let offset = spread * (k as u32 + 1) / n + peer.search_delay;
                (offset, found(peer, &words, shares))
            })
            .filter(|(_, found)| passes_filter(found, options))
            .collect()
    }

    pub fn view_search(&self, id: Uuid, now: Instant) -> Option<SearchView<'_>> {
        self.searches.view(id, now)
    }

    pub fn cancel_search(&mut self, id: Uuid, now: Instant) -> bool {
        self.searches.cancel(id, now)
    }

    pub fn delete_search(&mut self, id: Uuid, now: Instant) -> bool {
        self.searches.delete(id, now)
    }

    /// Enqueues files for one user. A file with an active record is refused; one whose
    /// previous record is final gets a new record, the old one being superseded (removed).
    pub fn enqueue(
        &mut self,
        username: &str,
        files: &[(String, i64)],
        now: Instant,
    ) -> Result<Enqueued, EnqueueRefusal> {
        if !self.logged_in {
            return Err(EnqueueRefusal::NotLoggedIn);
        }
        let peer = self.peer(username);
        if peer.behaviour == Behaviour::Offline {
            return Err(EnqueueRefusal::Offline(username.to_owned()));
        }
        let mut transfers = Vec::new();
        let mut refused = Vec::new();
        for (filename, size) in files {
            let same = |t: &&mut SimTransfer| {
                t.username == username && t.filename == *filename && !t.removed
            };
            if self
                .transfers
                .iter_mut()
                .filter(same)
                .any(|t| !t.is_final())
            {
                refused.push(filename.clone());
                continue;
            }
            for old in self.transfers.iter_mut().filter(same) {
                old.removed = true;
            }
            let transfer = SimTransfer::new(&peer, filename, *size, now, &self.clock);
            transfers.push(transfer.clone());
            self.transfers.push(transfer);
        }
        Ok(Enqueued { transfers, refused })
    }

    /// `DELETE .../{id}?remove=`: an unfinished transfer is cancelled (a moment later) and
    /// stays listed, whatever `remove` says; a completed one is soft-removed if asked.
    pub fn cancel(&mut self, id: Uuid, remove: bool, now: Instant) {
        if let Some(t) = self.transfers.iter_mut().find(|t| t.id == id) {
            if remove && t.phase.is_completed() {
                t.remove();
            } else {
                t.request_cancel(now);
            }
        }
    }

    /// `DELETE /transfers/downloads/all/completed`.
    pub fn clear_completed(&mut self) {
        for t in self
            .transfers
            .iter_mut()
            .filter(|t| !t.removed && t.phase.is_completed())
        {
            t.remove();
        }
    }

    /// `GET .../{id}/position`: asks the peer, and writes the answer into the record.
    pub fn queue_position(&mut self, id: Uuid, now: Instant) -> Result<u32, PositionRefusal> {
        let cx = self.context();
        let timeout = self.timings.position_timeout;
        let wait = self.clock.scaled(timeout);
        let t = self
            .transfers
            .iter_mut()
            .find(|t| t.id == id)
            .ok_or(PositionRefusal::Unknown)?;
        if t.behaviour() == Behaviour::Offline {
            return Err(PositionRefusal::Offline(t.username.clone()));
        }
        let place = t
            .queue_position(now, &cx)
            .ok_or(PositionRefusal::NoAnswer { wait, timeout })?;
        t.place_in_queue = Some(place);
        Ok(place)
    }

    /// Until `duration` from now, unfinished transfers (of `username`, or all) report `state`
    /// (e.g. a flag a future slskd might add) instead of their own; then they carry on as
    /// before. A later call replaces an earlier one.
    pub fn disguise_states(
        &mut self,
        username: Option<&str>,
        state: &str,
        duration: Duration,
        now: Instant,
    ) {
        self.disguise = Some(Disguise {
            state: state.to_owned(),
            until: now + duration,
            username: username.map(str::to_owned),
        });
    }

    /// The state a transfer reports on the wire at `now`.
    pub fn shown_state<'a>(&'a self, t: &'a SimTransfer, now: Instant) -> &'a str {
        match &self.disguise {
            Some(d)
                if now < d.until
                    && !t.is_final()
                    && d.username.as_ref().is_none_or(|u| *u == t.username) =>
            {
                &d.state
            }
            _ => t.phase.state(),
        }
    }

    /// Download records not removed.
    pub fn download_records(&self) -> usize {
        self.transfers.iter().filter(|t| !t.removed).count()
    }

    /// Simulates an slskd restart: every unfinished download ends `Completed, Errored` with
    /// "Application shut down", and is re-enqueued under a new id a moment later; running
    /// searches end with nothing found.
    pub fn restart(&mut self, now: Instant) {
        let cx = self.context();
        let mut interrupted = Vec::new();
        for t in self
            .transfers
            .iter_mut()
            .filter(|t| !t.is_final() && !t.removed)
        {
            t.interrupt(SHUT_DOWN, now, &cx);
            interrupted.push(t.id);
        }
        self.searches.restart(now);
        let at = now + self.clock.scaled(self.timings.restart_reenqueue);
        self.pending_reenqueue = Some((at, interrupted));
    }

    fn reenqueue(&mut self, ids: &[Uuid], at: Instant) {
        let mut fresh = Vec::new();
        for t in self
            .transfers
            .iter_mut()
            .filter(|t| ids.contains(&t.id) && !t.removed)
        {
            t.removed = true;
            fresh.push((t.username.clone(), t.filename.clone(), t.size));
        }
        for (username, filename, size) in fresh {
            let peer = self.peer(&username);
            let transfer = SimTransfer::new(&peer, &filename, size, at, &self.clock);
            self.transfers.push(transfer);
        }
    }
}

/// A query's words: letters, digits and single spaces.
fn search_words(text: &str) -> String {
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
    clean.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The file a peer offers for a query: the track under a folder named after the query.
fn offered_filename(peer: &Peer, words: &str) -> String {
    let share = &peer.username.chars().take(5).collect::<String>();
    format!("@@{share}\\Music\\{words}\\01 - {words}.{}", peer.extension)
}

/// One peer's answer. Without real files, its size and length are made up from the query;
/// with them, they are the real file's.
fn found(peer: &Peer, words: &str, shares: Option<&Shares>) -> Found {
    let filename = offered_filename(peer, words);
    let (size, length) = match shares {
        Some(shares) => {
            let bytes = shares.file(peer, &filename);
            let seconds = shares.seconds(peer.behaviour);
            (bytes.len() as i64, seconds.round() as u32)
        }
        None => {
            let h = stable_hash(&format!("{words}|{}", peer.username));
            let length = 150 + (h % 200) as u32;
            let size = match peer.extension {
                "mp3" => i64::from(length) * 40_000,
                _ => i64::from(length) * 110_000 + (h % 1000) as i64,
            };
            (size, length)
        }
    };
    Found {
        peer: peer.clone(),
        files: vec![FoundFile {
            filename,
            size,
            length,
        }],
    }
}

/// slskd's response filter (`filterResponses` and its three options).
fn passes_filter(found: &Found, options: &SearchOptions) -> bool {
    !options.filter_responses
        || (found.files.len() >= options.minimum_response_file_count
            && found.peer.queue_length <= options.maximum_peer_queue_length
            && found.peer.upload_speed >= options.minimum_peer_upload_speed)
}
