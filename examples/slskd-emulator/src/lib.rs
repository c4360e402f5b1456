//! An slskd emulator: a real HTTP server speaking the slskd 0.26 REST API subset that
//! Tributary's slskd plugin uses, with simulated peers, a simulated transfer lifecycle and
//! fault injection. The demo and the tests run against it. It binds loopback only.
//!
//! It is meant to be as strict as the real slskd 0.26, inconvenient behaviours included:
//! - searches: `searchTimeout` is an inactivity timeout, so a search ends `searchTimeout` after
//!   its last answer (or at `responseLimit`/`fileLimit`); at most two run on the network, the
//!   others wait `Queued`; responses are readable only a moment after completion; searches
//!   stay stored until deleted;
//! - transfers: a `DELETE` cancels asynchronously and never removes an unfinished transfer;
//!   nothing is cleared by itself; errored and timed-out attempts are retried (0.26), showing
//!   their failed state for a moment first; re-enqueueing a finished file supersedes its
//!   record;
//! - concurrency guards answer 429 to a second search POST or a third enqueue POST in flight,
//!   and both POSTs take time (peer lookup, connection).
//!
//! Peers (see [`peers::default_peers`]) decide what happens to a download: `vinylhoarder` and
//! `mp3_maven` deliver; `busy_bee` keeps you queued for an hour, its queue position falling;
//! `gatekeeper` keeps you queued forever at a position that never moves; `rejecter`, `sleepy`,
//! `flaky`, `staller`, `ghost` and `liar` fail in slskd's ways.
//!
//! Query words with a meaning:
//! - a query containing "unfindable" finds nothing (it still runs until its timeout);
//! - a query containing "slowsearch" is answered slowly: answers trickle in over
//!   [`Timings::slow_search`] (20 s of slskd time), so the search runs that long plus its
//!   `searchTimeout`. A single late peer is [`Peer::search_delay`].
//!
//! Every duration (the [`Timings`], the [`Retry`] waits, and a search's `searchTimeout`) is
//! slskd time, divided by [`EmulatorConfig::speed_factor`].
//!
//! Real files: with [`EmulatorConfig::downloads_dir`] set, every file a peer offers is real
//! audio ([`audio`]: FLAC or MP3 by its extension) lasting [`EmulatorConfig::track_secs`],
//! generated from its user and file name ([`shares::seed`]); search results advertise its real
//! size and length, and a download that reaches `Completed, Succeeded` is written at that
//! moment to [`expected_path`] (`<downloads_dir>/<remote parent folder>/<name>`, slskd's
//! layout), whole. The peers of [`peers::bad_file_peers`] succeed but leave a bad file:
//! `zeroes` all zero bytes, `cutoff` only its first 60%, `wrongsong` a good file 2.5 tracks
//! long, `scrambler` one with its middle 4 KiB scrambled. Without a downloads folder nothing
//! is written, sizes are made up, and those peers behave as `Normal`.

mod api;
pub mod audio;
mod clock;
pub mod control;
pub mod downloads;
mod guard;
pub mod peers;
pub mod search;
pub mod settings;
pub mod shares;
pub mod transfer;
mod wire;
pub mod world;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use salvo::conn::tcp::TcpAcceptor;
use salvo::prelude::*;
use salvo::server::ServerHandle;
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinHandle;

pub use api::SLSKD_VERSION;
pub use control::{Control, Counted, Fault};
pub use downloads::expected_path;
pub use guard::TOO_MANY;
pub use peers::{Behaviour, Peer};
pub use settings::{AnswerOrder, Limits, Retry, Timings};
use world::World;

#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Must be a loopback address; port 0 picks a free one.
    pub bind: SocketAddr,
    /// `None` runs slskd with authentication disabled.
    pub api_key: Option<String>,
    pub peers: Vec<Peer>,
    pub timings: Timings,
    /// slskd's automatic download retries (default: 3 attempts, 5 s doubling to 60 s).
    pub retry: Retry,
    /// slskd's concurrency limits (default: 1 search POST, 2 enqueue POSTs in flight, 2
    /// searches on the network).
    pub limits: Limits,
    /// The order of a search's answers (default: a different one per query).
    pub answer_order: AnswerOrder,
    /// Speeds transfers up (and every wait down) by this factor.
    pub speed_factor: f64,
    /// Where succeeded downloads are written as real audio files (default `None`: nothing is
    /// written, and search results carry made-up sizes).
    pub downloads_dir: Option<PathBuf>,
    /// How long the real files last, in seconds (default 8); only with `downloads_dir`.
    pub track_secs: f32,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            api_key: Some("emulator-api-key-0123456789".to_owned()),
            peers: peers::default_peers(),
            timings: Timings::default(),
            retry: Retry::default(),
            limits: Limits::default(),
            answer_order: AnswerOrder::default(),
            speed_factor: 1.0,
            downloads_dir: None,
            track_secs: 8.0,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("the emulator binds loopback only; {0} is not a loopback address")]
    NotLoopback(IpAddr),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

struct Running {
    handle: ServerHandle,
    task: JoinHandle<()>,
}

struct Inner {
    addr: SocketAddr,
    control: Arc<Control>,
    running: Mutex<Option<Running>>,
}

/// A running emulator. Dropping it stops nothing; call [`Emulator::shutdown`].
#[derive(Clone)]
pub struct Emulator {
    inner: Arc<Inner>,
}

impl Emulator {
    pub async fn start(config: EmulatorConfig) -> Result<Emulator, EmulatorError> {
        if !config.bind.ip().is_loopback() {
            return Err(EmulatorError::NotLoopback(config.bind.ip()));
        }
        let (outages, mut outage_requests) = mpsc::unbounded_channel();
        let mut world = World::new(
            config.peers,
            config.timings,
            config.retry,
            config.limits,
            config.answer_order,
            config.speed_factor,
        );
        if let Some(dir) = config.downloads_dir {
            world = world.with_downloads(dir, config.track_secs);
        }
        let control = Arc::new(Control::new(config.api_key, world, config.limits, outages));
        let listener = bind(config.bind).await?;
        let addr = listener
            .local_addr()
            .map_err(|source| EmulatorError::Bind {
                addr: config.bind,
                source,
            })?;
        let inner = Arc::new(Inner {
            addr,
            control,
            running: Mutex::new(None),
        });
        inner.serve(listener).await?;
        let weak = Arc::downgrade(&inner);
        tokio::spawn(async move {
            while let Some(duration) = outage_requests.recv().await {
                let Some(inner) = weak.upgrade() else { break };
                // Let the control request that asked for it get its answer first.
                tokio::time::sleep(Duration::from_millis(50)).await;
                inner.stop().await;
                tokio::time::sleep(duration).await;
                if let Err(e) = inner.resume().await {
                    tracing::error!("emulator could not come back: {e}");
                }
            }
        });
        tracing::info!("slskd emulator listening on http://{addr}");
        Ok(Emulator { inner })
    }

    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// The base URL, e.g. `http://127.0.0.1:5030`.
    pub fn url(&self) -> String {
        format!("http://{}", self.inner.addr)
    }

    pub fn control(&self) -> &Control {
        &self.inner.control
    }

    /// Stops listening: connections are refused until [`Emulator::come_back`].
    pub async fn go_down(&self) {
        self.inner.stop().await;
    }

    /// Listens again on the same address.
    pub async fn come_back(&self) -> Result<(), EmulatorError> {
        self.inner.resume().await
    }

    pub async fn shutdown(self) {
        self.inner.stop().await;
    }
}

async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, EmulatorError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| EmulatorError::Bind { addr, source })
}

impl Inner {
    async fn serve(&self, listener: tokio::net::TcpListener) -> Result<(), EmulatorError> {
        let acceptor = TcpAcceptor::try_from(listener).map_err(|source| EmulatorError::Bind {
            addr: self.addr,
            source,
        })?;
        let server = Server::new(acceptor);
        let handle = server.handle();
        let router = Router::with_path("{**rest}").goal(api::Api {
            control: self.control.clone(),
        });
        let task = tokio::spawn(server.serve(router));
        *self.running.lock().await = Some(Running { handle, task });
        Ok(())
    }

    async fn stop(&self) {
        if let Some(running) = self.running.lock().await.take() {
            running.handle.stop_forceful();
            let _ = running.task.await;
        }
    }

    async fn resume(&self) -> Result<(), EmulatorError> {
        if self.running.lock().await.is_some() {
            return Ok(());
        }
        let listener = bind(self.addr).await?;
        self.serve(listener).await
    }
}
