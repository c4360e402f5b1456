//! What one plugin call runs inside: a fresh store with WASI that grants nothing, a memory cap,
//! a wall-clock deadline enforced by epoch interruption, and the plugin's granted context.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime::{Engine, Store, StoreLimits, StoreLimitsBuilder, UpdateDeadline};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::egress::EgressPolicy;
use crate::config::SandboxLimits;

/// How often the epoch ticker advances: the resolution of call deadlines.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// How much of a plugin's stderr is kept (a panic message or an allocator abort lands there).
const STDERR_CAPACITY: usize = 16 * 1024;

/// Everything a plugin was granted, shared by all its calls.
#[derive(Debug)]
pub struct PluginContext {
    pub id: String,
    /// The plugin's effective config: operator values over manifest defaults, declared keys only.
    pub config: BTreeMap<String, String>,
    /// Values of secret keys, redacted from anything the plugin logs.
    pub secrets: Vec<String>,
    pub egress: EgressPolicy,
    pub limits: SandboxLimits,
    pub http: reqwest::Client,
    /// The name pins behind `http` (a failed connection makes a name be looked up again).
    pub resolver: super::dns::PinnedResolver,
    /// Bounds how many HTTP requests of this plugin are in flight at once.
    pub http_slots: tokio::sync::Semaphore,
}

/// The data of one plugin call's store.
pub struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
    pub(super) deadline: Instant,
    pub(super) context: Arc<PluginContext>,
    pub(super) stderr: MemoryOutputPipe,
    /// Set when the host refused a request for want of a grant: the call failed because of our
    /// configuration, not the provider.
    pub(super) denied: Option<String>,
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl CallState {
    /// Time left before the call's deadline.
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}

/// A new store for one call, armed with the deadline and the memory cap.
pub fn new_store(engine: &Engine, context: Arc<PluginContext>) -> Store<CallState> {
    let stderr = MemoryOutputPipe::new(STDERR_CAPACITY);
    // No preopened directories, no environment, no arguments, no sockets, no name lookups:
    // a plugin's only doors are the host imports.
    let wasi = WasiCtxBuilder::new()
        .stderr(stderr.clone())
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .build();
    let limits = StoreLimitsBuilder::new()
        .memory_size(context.limits.memory_bytes)
        .instances(16)
        .tables(32)
        .memories(8)
        .trap_on_grow_failure(true)
        .build();
    let deadline = Instant::now() + context.limits.call_timeout;
    let mut store = Store::new(
        engine,
        CallState {
            wasi,
            table: ResourceTable::new(),
            limits,
            deadline,
            context,
            stderr,
            denied: None,
        },
    );
    store.limiter(|state| &mut state.limits);
    // Yield to the runtime at every tick so a spinning guest never holds a runtime thread,
    // and interrupt it once the wall-clock deadline has passed.
    store.epoch_deadline_callback(|ctx| {
        if Instant::now() >= ctx.data().deadline {
            Ok(UpdateDeadline::Interrupt)
        } else {
            Ok(UpdateDeadline::Yield(1))
        }
    });
    store.set_epoch_deadline(1);
    store
}

/// Drives `engine.increment_epoch()` from a dedicated OS thread: a tokio task would be starved
/// by a guest spinning on the runtime's threads. The thread ends when the engine is dropped.
pub fn start_epoch_ticker(engine: &Engine) -> std::io::Result<()> {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("wasm-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .map(drop)
}
