//! `tributary:provider@0.2.0`: its bindings and their conversions to the host's types.

use async_trait::async_trait;
use wasmtime::Store;
use wasmtime::component::{HasSelf, InstancePre, Linker};

use super::{
    Answer, Contract, ContractVersion, Exports, PluginInfo, finite_speed, host_imports,
    time_from_ms,
};
use crate::engine::provider as core;
use crate::plugins::sandbox::CallState;

mod generated {
    wasmtime::component::bindgen!({
        path: "../wit/v0.2.0",
        world: "tributary:provider/provider",
        imports: {
            "tributary:provider/http.send": async | trappable,
            default: trappable,
        },
        exports: { default: async },
    });
}
use generated as v;
use generated::tributary::provider::types as wit;

host_imports!(v);

pub(super) const CONTRACT: ContractVersion = ContractVersion {
    version: "0.2.0",
    link,
    prepare,
};

fn link(linker: &mut Linker<CallState>) -> wasmtime::Result<()> {
    v::Provider::add_to_linker::<_, HasSelf<CallState>>(linker, |s| s)
}

fn prepare(pre: InstancePre<CallState>) -> wasmtime::Result<Box<dyn Contract>> {
    Ok(Box::new(Linked(v::ProviderPre::new(pre)?)))
}

struct Linked(v::ProviderPre<CallState>);

#[async_trait]
impl Contract for Linked {
    fn version(&self) -> &'static str {
        CONTRACT.version
    }

    fn engine(&self) -> &wasmtime::Engine {
        self.0.engine()
    }

    async fn instantiate(
        &self,
        store: &mut Store<CallState>,
    ) -> wasmtime::Result<Box<dyn Exports>> {
        Ok(Box::new(Instance(self.0.instantiate_async(store).await?)))
    }
}

struct Instance(v::Provider);

fn answer<T, U: Into<T>>(r: wasmtime::Result<Result<U, wit::ProviderError>>) -> Answer<T> {
    r.map(|r| r.map(Into::into).map_err(Into::into))
}

fn reference(t: &core::TransferRef) -> wit::TransferRef {
    wit::TransferRef {
        external_id: t.external_id.clone(),
        peer: t.peer.clone(),
    }
}

#[async_trait]
impl Exports for Instance {
    async fn info(&self, store: &mut Store<CallState>) -> wasmtime::Result<PluginInfo> {
        let i = self.0.call_info(store).await?;
        let c = i.capabilities;
        Ok(PluginInfo {
            id: i.id,
            kind: i.kind,
            display_name: i.display_name,
            version: i.version,
            capabilities: core::Capabilities {
                search: c.contains(wit::Capabilities::SEARCH),
                pause: c.contains(wit::Capabilities::PAUSE),
                queue_position: c.contains(wit::Capabilities::QUEUE_POSITION),
                remove: c.contains(wit::Capabilities::REMOVE),
            },
            accepts: core::Accepts {
                peer_files: i.peer_files,
                uri_schemes: i
                    .uri_schemes
                    .into_iter()
                    .map(|s| s.trim_end_matches(':').to_ascii_lowercase())
                    .collect(),
            },
        })
    }

    async fn ping(&self, store: &mut Store<CallState>) -> Answer<core::Health> {
        answer(self.0.call_ping(store).await)
    }

    async fn start_search(
        &self,
        store: &mut Store<CallState>,
        query: &core::TrackQuery,
    ) -> Answer<String> {
        let query = wit::TrackQuery {
            artist: query.artist.clone(),
            title: query.title.clone(),
            album: query.album.clone(),
            duration_secs: query.duration_secs,
            search_timeout_ms: query.search_timeout_ms,
        };
        answer(self.0.call_start_search(store, &query).await)
    }

    async fn poll_search(
        &self,
        store: &mut Store<CallState>,
        id: &str,
    ) -> Answer<core::SearchProgress> {
        answer(self.0.call_poll_search(store, id).await)
    }

    async fn end_search(&self, store: &mut Store<CallState>, id: &str) -> Answer<()> {
        answer(self.0.call_end_search(store, id).await)
    }

    async fn enqueue(
        &self,
        store: &mut Store<CallState>,
        source: &core::Source,
    ) -> Answer<core::Enqueued> {
        answer(self.0.call_enqueue(store, &source.into()).await)
    }

    async fn list_transfers(&self, store: &mut Store<CallState>) -> Answer<Vec<core::Transfer>> {
        let listed = self.0.call_list_transfers(store).await?;
        Ok(listed
            .map(|all| all.into_iter().map(Into::into).collect())
            .map_err(Into::into))
    }

    async fn cancel(&self, store: &mut Store<CallState>, t: &core::TransferRef) -> Answer<()> {
        answer(self.0.call_cancel(store, &reference(t)).await)
    }

    async fn remove(&self, store: &mut Store<CallState>, t: &core::TransferRef) -> Answer<()> {
        answer(self.0.call_remove_transfer(store, &reference(t)).await)
    }

    async fn pause(&self, store: &mut Store<CallState>, t: &core::TransferRef) -> Answer<()> {
        answer(self.0.call_pause_transfer(store, &reference(t)).await)
    }

    async fn resume(&self, store: &mut Store<CallState>, t: &core::TransferRef) -> Answer<()> {
        answer(self.0.call_resume_transfer(store, &reference(t)).await)
    }

    async fn queue_position(
        &self,
        store: &mut Store<CallState>,
        t: &core::TransferRef,
    ) -> Answer<Option<u32>> {
        answer(self.0.call_queue_position(store, &reference(t)).await)
    }
}

impl From<wit::ProviderError> for core::ProviderError {
    fn from(e: wit::ProviderError) -> Self {
        use core::ProviderError as E;
        match e {
            wit::ProviderError::Unreachable(m) => E::Unreachable(m),
            wit::ProviderError::TimedOut(m) => E::TimedOut(m),
            wit::ProviderError::Unauthorized(m) => E::Unauthorized(m),
            wit::ProviderError::RateLimited(m) => E::RateLimited(m),
            wit::ProviderError::NotFound(m) => E::NotFound(m),
            wit::ProviderError::Rejected(m) => E::Rejected(m),
            wit::ProviderError::PeerOffline(m) => E::PeerOffline(m),
            wit::ProviderError::Busy(m) => E::Busy(m),
            wit::ProviderError::Unsupported(m) => E::Unsupported(m),
            wit::ProviderError::Protocol(m) => E::Protocol(m),
            wit::ProviderError::Internal(m) => E::Internal(m),
        }
    }
}

impl From<wit::Health> for core::Health {
    fn from(h: wit::Health) -> Self {
        core::Health {
            service_version: h.service_version,
            ready: h.ready,
            detail: h.detail,
        }
    }
}

impl From<wit::SearchProgress> for core::SearchProgress {
    fn from(p: wit::SearchProgress) -> Self {
        core::SearchProgress {
            complete: p.complete,
            candidates: p.candidates.into_iter().map(Into::into).collect(),
        }
    }
}

impl From<wit::Source> for core::Source {
    fn from(s: wit::Source) -> Self {
        match s {
            wit::Source::PeerFile(f) => core::Source::PeerFile {
                peer: f.peer,
                filename: f.filename,
                size: f.size,
            },
            wit::Source::Uri(u) => core::Source::Uri {
                uri: u.uri,
                file: u.file,
                size: u.size,
            },
        }
    }
}

impl From<&core::Source> for wit::Source {
    fn from(s: &core::Source) -> Self {
        match s {
            core::Source::PeerFile {
                peer,
                filename,
                size,
            } => wit::Source::PeerFile(wit::PeerFile {
                peer: peer.clone(),
                filename: filename.clone(),
                size: *size,
            }),
            core::Source::Uri { uri, file, size } => wit::Source::Uri(wit::UriSource {
                uri: uri.clone(),
                file: file.clone(),
                size: *size,
            }),
        }
    }
}

impl From<wit::Candidate> for core::Candidate {
    fn from(c: wit::Candidate) -> Self {
        core::Candidate {
            source: c.source.into(),
            peer: c.peer,
            name: c.name,
            size: c.size,
            extension: c.extension,
            bitrate_kbps: c.bitrate_kbps,
            bit_depth: c.bit_depth,
            sample_rate_hz: c.sample_rate_hz,
            duration_secs: c.duration_secs,
            free_slot: c.free_slot,
            queue_length: c.queue_length,
            upload_speed: c.upload_speed,
        }
    }
}

impl From<wit::Enqueued> for core::Enqueued {
    fn from(e: wit::Enqueued) -> Self {
        core::Enqueued {
            external_id: e.external_id,
            requested_at: e.requested_at_ms.and_then(time_from_ms),
        }
    }
}

impl From<wit::Transfer> for core::Transfer {
    fn from(t: wit::Transfer) -> Self {
        core::Transfer {
            external_id: t.external_id,
            peer: t.peer,
            filename: t.filename,
            size: t.size,
            bytes_transferred: t.bytes_transferred,
            speed_bytes_per_sec: finite_speed(t.speed_bytes_per_sec),
            queue_position: t.queue_position,
            state: t.state.into(),
            failure: t.failure.map(Into::into),
            state_detail: t.state_detail,
            requested_at: t.requested_at_ms.and_then(time_from_ms),
            local_path: t.local_path,
        }
    }
}

impl From<wit::TransferState> for core::TransferState {
    fn from(s: wit::TransferState) -> Self {
        use core::TransferState as S;
        match s {
            wit::TransferState::QueuedLocally => S::QueuedLocally,
            wit::TransferState::Requested => S::Requested,
            wit::TransferState::QueuedRemotely => S::QueuedRemotely,
            wit::TransferState::Initializing => S::Initializing,
            wit::TransferState::InProgress => S::InProgress,
            wit::TransferState::Paused => S::Paused,
            wit::TransferState::Succeeded => S::Succeeded,
            wit::TransferState::Cancelled => S::Cancelled,
            wit::TransferState::Failed => S::Failed,
            wit::TransferState::Unknown => S::Unknown,
        }
    }
}

impl From<wit::TransferFailure> for core::TransferFailure {
    fn from(f: wit::TransferFailure) -> Self {
        use core::FailureReason as R;
        core::TransferFailure {
            reason: match f.reason {
                wit::FailureReason::Rejected => R::Rejected,
                wit::FailureReason::TimedOut => R::TimedOut,
                wit::FailureReason::Errored => R::Errored,
                wit::FailureReason::PeerOffline => R::PeerOffline,
                wit::FailureReason::SizeMismatch => R::SizeMismatch,
                wit::FailureReason::ProviderRestarted => R::ProviderRestarted,
                wit::FailureReason::NotFound => R::NotFound,
                wit::FailureReason::NoSpace => R::NoSpace,
            },
            message: f.message,
            provider_may_retry: f.provider_may_retry,
        }
    }
}
