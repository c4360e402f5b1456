//! Searches as Soulseek.NET runs them for slskd:
//! - at most [`Limits::network_searches`](crate::settings::Limits) run on the network at once;
//!   the others wait in state `Queued`;
//! - peers' answers trickle in; `searchTimeout` is an *inactivity* timeout, re-armed by every
//!   answer, so the search completes `searchTimeout` after the last answer (`TimedOut`), or at
//!   once when `responseLimit` or `fileLimit` is reached;
//! - while it runs only the counts grow; the responses are readable a moment after it
//!   completes (slskd writes the final state first);
//! - a record stays until it is deleted.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::clock::Clock;
use crate::peers::Peer;

/// Queries containing this word find nothing (to test "not found").
pub const UNFINDABLE_WORD: &str = "unfindable";
/// Queries containing this word are answered slowly, over
/// [`Timings::slow_search`](crate::Timings::slow_search), so the search runs much longer than
/// its `searchTimeout`.
pub const SLOW_SEARCH_WORD: &str = "slowsearch";

/// How a search ended (its `SearchStates` flag besides `Completed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchEnd {
    TimedOut,
    ResponseLimitReached,
    FileLimitReached,
    Cancelled,
    Errored,
}

impl SearchEnd {
    pub fn state(self) -> &'static str {
        match self {
            SearchEnd::TimedOut => "Completed, TimedOut",
            SearchEnd::ResponseLimitReached => "Completed, ResponseLimitReached",
            SearchEnd::FileLimitReached => "Completed, FileLimitReached",
            SearchEnd::Cancelled => "Completed, Cancelled",
            SearchEnd::Errored => "Completed, Errored",
        }
    }
}

/// What `POST /searches` asked for (slskd's defaults when a field is missing).
#[derive(Debug, Clone, Copy)]
pub struct SearchOptions {
    /// Inactivity timeout, in slskd time (the world scales it).
    pub timeout: Duration,
    pub response_limit: usize,
    pub file_limit: usize,
    pub filter_responses: bool,
    pub minimum_response_file_count: usize,
    pub maximum_peer_queue_length: i64,
    pub minimum_peer_upload_speed: i64,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            timeout: Duration::from_millis(15_000),
            response_limit: 250,
            file_limit: 25_000,
            filter_responses: true,
            minimum_response_file_count: 1,
            maximum_peer_queue_length: i64::from(i32::MAX),
            minimum_peer_upload_speed: 0,
        }
    }
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

#[derive(Debug, Clone)]
pub struct SimSearch {
    pub id: Uuid,
    pub text: String,
    pub token: u32,
    pub started_at: DateTime<Utc>,
    posted: Instant,
    /// Scaled inactivity timeout.
    timeout: Duration,
    response_limit: usize,
    file_limit: usize,
    /// When it got a network slot; `None` while `Queued`.
    on_network: Option<Instant>,
    /// The answers it will get, by arrival time after reaching the network.
    answers: Vec<(Duration, Found)>,
    end: Option<Ended>,
}

#[derive(Debug, Clone, Copy)]
struct Ended {
    at: Instant,
    how: SearchEnd,
    /// How many answers (from the start of `answers`) it kept.
    kept: usize,
}

/// What a search shows at one moment.
pub struct SearchView<'a> {
    pub search: &'a SimSearch,
    pub state: &'static str,
    pub complete: bool,
    pub ended_at: Option<DateTime<Utc>>,
    pub response_count: usize,
    pub file_count: usize,
    /// `None` while the responses are not readable (running, or just completed).
    pub responses: Option<&'a [(Duration, Found)]>,
}

impl SimSearch {
    /// Answers counted by `now` (all of them before the end, the kept ones after).
    fn counted(&self, now: Instant) -> usize {
        if let Some(end) = self.end {
            return end.kept;
        }
        match self.on_network {
            Some(start) => self
                .answers
                .iter()
                .take_while(|(offset, _)| start + *offset <= now)
                .count(),
            None => 0,
        }
    }

    /// When and how a search on the network will end, given its answers.
    fn scheduled_end(&self) -> Option<Ended> {
        let start = self.on_network?;
        if self.end.is_some() {
            return None;
        }
        let mut deadline = start + self.timeout;
        let (mut responses, mut files) = (0, 0);
        for (offset, found) in &self.answers {
            let at = start + *offset;
            if at > deadline {
                // A silence longer than the timeout ends the search; later answers are lost.
                break;
            }
            responses += 1;
            files += found.files.len();
            if responses >= self.response_limit {
                return Some(Ended {
                    at,
                    how: SearchEnd::ResponseLimitReached,
                    kept: responses,
                });
            }
            if files >= self.file_limit {
                return Some(Ended {
                    at,
                    how: SearchEnd::FileLimitReached,
                    kept: responses,
                });
            }
            deadline = at + self.timeout;
        }
        Some(Ended {
            at: deadline,
            how: SearchEnd::TimedOut,
            kept: responses,
        })
    }

    fn is_running(&self) -> bool {
        self.on_network.is_some() && self.end.is_none()
    }
}

/// Every stored search, and the network slots they compete for.
pub struct Searches {
    list: Vec<SimSearch>,
    /// One entry per free network slot: since when it is free.
    free_slots: Vec<Instant>,
    next_token: u32,
    clock: Clock,
    responses_lag: Duration,
}

impl Searches {
    pub fn new(clock: Clock, network_searches: usize, responses_lag: Duration) -> Searches {
        Searches {
            list: Vec::new(),
            free_slots: vec![clock.origin(); network_searches.max(1)],
            next_token: 19_431,
            clock,
            responses_lag,
        }
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub fn contains(&self, id: Uuid) -> bool {
        self.list.iter().any(|s| s.id == id)
    }

    pub fn ids(&self) -> Vec<Uuid> {
        self.list.iter().map(|s| s.id).collect()
    }

    fn take_token(&mut self) -> u32 {
        let token = self.next_token;
        self.next_token = self.next_token.wrapping_add(1);
        token
    }

    /// Stores a new search; it goes on the network as soon as a slot is free.
    /// `answers` are arrival offsets in slskd time (scaled here).
    pub fn start(
        &mut self,
        id: Uuid,
        text: &str,
        options: SearchOptions,
        answers: Vec<(Duration, Found)>,
        now: Instant,
    ) {
        let clock = self.clock;
        let mut answers: Vec<(Duration, Found)> = answers
            .into_iter()
            .map(|(offset, found)| (clock.scaled(offset), found))
            .collect();
        answers.sort_by_key(|(offset, _)| *offset);
        let search = SimSearch {
            id,
            text: text.to_owned(),
            token: self.take_token(),
            started_at: clock.wall(now),
            posted: now,
            timeout: clock.scaled(options.timeout),
            response_limit: options.response_limit,
            file_limit: options.file_limit,
            on_network: None,
            answers,
            end: None,
        };
        self.list.push(search);
        self.advance(now);
    }

    /// Stores a search that failed at once (slskd keeps the record of a 409 search).
    pub fn start_errored(&mut self, id: Uuid, text: &str, now: Instant) {
        let search = SimSearch {
            id,
            text: text.to_owned(),
            token: self.take_token(),
            started_at: self.clock.wall(now),
            posted: now,
            timeout: Duration::ZERO,
            response_limit: 0,
            file_limit: 0,
            on_network: None,
            answers: Vec::new(),
            end: Some(Ended {
                at: now,
                how: SearchEnd::Errored,
                kept: 0,
            }),
        };
        self.list.push(search);
    }

    /// Plays the searches forward to `now`, in time order: the earliest end first, its slot
    /// going to the oldest waiting search.
    pub fn advance(&mut self, now: Instant) {
        loop {
            while !self.free_slots.is_empty() {
                let Some(waiting) = self
                    .list
                    .iter_mut()
                    .find(|s| s.on_network.is_none() && s.end.is_none())
                else {
                    break;
                };
                let (slot, _) = self
                    .free_slots
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, free)| **free)
                    .expect("not empty");
                let free_since = self.free_slots.swap_remove(slot);
                waiting.on_network = Some(free_since.max(waiting.posted));
            }
            let next = self
                .list
                .iter_mut()
                .filter_map(|s| s.scheduled_end().map(|e| (e, s)))
                .min_by_key(|(e, _)| e.at);
            match next {
                Some((end, search)) if end.at <= now => {
                    search.end = Some(end);
                    self.free_slots.push(end.at);
                }
                _ => break,
            }
        }
    }

    /// `PUT /searches/{id}`: ends it now, keeping what it gathered. `false` if unknown.
    pub fn cancel(&mut self, id: Uuid, now: Instant) -> bool {
        self.advance(now);
        let Some(search) = self.list.iter_mut().find(|s| s.id == id) else {
            return false;
        };
        if search.end.is_none() {
            let kept = search.counted(now);
            if search.is_running() {
                self.free_slots.push(now);
            }
            search.end = Some(Ended {
                at: now,
                how: SearchEnd::Cancelled,
                kept,
            });
        }
        self.advance(now);
        true
    }

    /// `DELETE /searches/{id}`: forgets it (stopping it first). `false` if unknown.
    pub fn delete(&mut self, id: Uuid, now: Instant) -> bool {
        self.advance(now);
        let Some(index) = self.list.iter().position(|s| s.id == id) else {
            return false;
        };
        let search = self.list.remove(index);
        if search.is_running() {
            self.free_slots.push(now);
        }
        self.advance(now);
        true
    }

    /// A restart: what was running is rewritten `Completed, TimedOut` with nothing found (as
    /// slskd does at its next start); finished searches stay as they were.
    pub fn restart(&mut self, now: Instant) {
        self.advance(now);
        for search in self.list.iter_mut().filter(|s| s.end.is_none()) {
            if search.is_running() {
                self.free_slots.push(now);
            }
            search.answers.clear();
            search.end = Some(Ended {
                at: now,
                how: SearchEnd::TimedOut,
                kept: 0,
            });
        }
    }

    pub fn view(&self, id: Uuid, now: Instant) -> Option<SearchView<'_>> {
        let search = self.list.iter().find(|s| s.id == id)?;
        let counted = search.counted(now);
        let answers = &search.answers[..counted.min(search.answers.len())];
        let state = match (search.end, search.on_network) {
            (Some(end), _) => end.how.state(),
            (None, None) => "Queued",
            (None, Some(_)) => "InProgress",
        };
        let readable = search
            .end
            .is_some_and(|end| now >= end.at + self.responses_lag);
        Some(SearchView {
            search,
            state,
            complete: search.end.is_some(),
            ended_at: search.end.map(|end| self.clock.wall(end.at)),
            response_count: counted,
            file_count: answers.iter().map(|(_, f)| f.files.len()).sum(),
            responses: readable.then_some(answers),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peers::{Behaviour, Peer};

    fn answer(secs: u64) -> (Duration, Found) {
        let peer = Peer::new(&format!("peer{secs}"), Behaviour::Normal, "flac");
        let file = FoundFile {
            filename: format!("@@p\\{secs}.flac"),
            size: 1,
            length: 1,
        };
        (
            Duration::from_secs(secs),
            Found {
                peer,
                files: vec![file],
            },
        )
    }

    fn options(timeout_secs: u64) -> SearchOptions {
        SearchOptions {
            timeout: Duration::from_secs(timeout_secs),
            ..SearchOptions::default()
        }
    }

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn the_timeout_counts_from_the_last_answer_and_a_long_silence_ends_it() {
        let mut searches = Searches::new(Clock::new(1.0), 2, Duration::ZERO);
        let t0 = Instant::now();
        let id = Uuid::new_v4();
        let answers = vec![answer(1), answer(2), answer(10)];
        searches.start(id, "x", options(5), answers, t0);
        searches.advance(t0 + 6 * S);
        let running = searches.view(id, t0 + 6 * S).unwrap();
        assert_eq!((running.state, running.response_count), ("InProgress", 2));
        assert!(running.responses.is_none());
        searches.advance(t0 + 8 * S);
        let done = searches.view(id, t0 + 8 * S).unwrap();
        assert_eq!(done.state, "Completed, TimedOut");
        assert_eq!(
            done.response_count, 2,
            "the answer after 8 s of silence is lost"
        );
        assert_eq!(done.ended_at, Some(searches.clock.wall(t0 + 7 * S)));
    }

    #[test]
    fn a_third_search_waits_for_a_network_slot() {
        let mut searches = Searches::new(Clock::new(1.0), 2, Duration::ZERO);
        let t0 = Instant::now();
        let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        searches.start(a, "a", options(10), Vec::new(), t0);
        searches.start(b, "b", options(20), Vec::new(), t0);
        searches.start(c, "c", options(5), vec![answer(1)], t0);
        let state = |searches: &mut Searches, id, at: Duration| {
            searches.advance(t0 + at);
            searches.view(id, t0 + at).unwrap().state
        };
        assert_eq!(state(&mut searches, c, 9 * S), "Queued");
        assert_eq!(state(&mut searches, a, 11 * S), "Completed, TimedOut");
        assert_eq!(state(&mut searches, c, 11 * S), "InProgress");
        // On the network from 10 s, its answer at 11 s, then 5 s of silence.
        assert_eq!(state(&mut searches, c, 15 * S), "InProgress");
        assert_eq!(state(&mut searches, c, 17 * S), "Completed, TimedOut");
        assert_eq!(state(&mut searches, b, 17 * S), "InProgress");
    }
}
