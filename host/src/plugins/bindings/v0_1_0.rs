//! `tributary:provider@0.1.0`, frozen: its bindings and what its plugins mean in the host's
//! terms. A 0.1.0 plugin takes only peer files; `cancel` with `remove` is its way to drop an
//! ended transfer; it has no `end-search`, `pause`, `resume` or `queue-position` export, so
//! those capabilities are never granted to it whatever its flags say.

use async_trait::async_trait;
use wasmtime::Store;
use wasmtime::component::{HasSelf, InstancePre, Linker};

use super::{Answer, Contract, ContractVersion, Exports, PluginInfo, finite_speed, host_imports};
use crate::engine::provider as core;
use crate::plugins::sandbox::CallState;

mod generated {
    wasmtime::component::bindgen!({
        path: "../wit/v0.1.0",
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
    version: "0.1.0",
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

fn unsupported<T>(what: &str) -> Answer<T> {
    Ok(Err(core::ProviderError::Unsupported(format!(
        "a plugin built for tributary:provider@0.1.0 has no {what}"
    ))))
}

#[async_trait]
impl Exports for Instance {
    async fn info(&self, store: &mut Store<CallState>) -> wasmtime::Result<PluginInfo> {
        let i = self.0.call_info(store).await?;
        Ok(PluginInfo {
            id: i.id,
            kind: i.kind,
            display_name: i.display_name,
            version: i.version,
            capabilities: core::Capabilities {
                search: i.capabilities.contains(wit::Capabilities::SEARCH),
                pause: false,
                queue_position: false,
                remove: true,
            },
            accepts: core::Accepts {
                peer_files: true,
                uri_schemes: Vec::new(),
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
        answer(self.0.call_start_search(store, &query.into()).await)
    }

    async fn poll_search(
        &self,
        store: &mut Store<CallState>,
        id: &str,
    ) -> Answer<core::SearchProgress> {
        answer(self.0.call_poll_search(store, id).await)
    }

    async fn end_search(&self, _store: &mut Store<CallState>, _id: &str) -> Answer<()> {
        // 0.1.0 leaves finished searches to the provider.
        Ok(Ok(()))
    }

    async fn enqueue(
        &self,
        store: &mut Store<CallState>,
        source: &core::Source,
    ) -> Answer<core::Enqueued> {
        let core::Source::PeerFile {
            peer,
            filename,
            size,
        } = source
        else {
            return unsupported("URI sources");
        };
        let source = wit::Source {
            peer: peer.clone(),
            filename: filename.clone(),
            size: *size,
        };
        let id = self.0.call_enqueue(store, &source).await?;
        Ok(id
            .map(|external_id| core::Enqueued {
                external_id,
                requested_at: None,
            })
            .map_err(Into::into))
    }

    async fn list_transfers(&self, store: &mut Store<CallState>) -> Answer<Vec<core::Transfer>> {
        let listed = self.0.call_list_transfers(store).await?;
        Ok(listed
            .map(|all| all.into_iter().map(Into::into).collect())
            .map_err(Into::into))
    }

    async fn cancel(&self, store: &mut Store<CallState>, t: &core::TransferRef) -> Answer<()> {
        answer(
            self.0
                .call_cancel(store, &t.external_id, &t.peer, false)
                .await,
        )
    }

    async fn remove(&self, store: &mut Store<CallState>, t: &core::TransferRef) -> Answer<()> {
        answer(
            self.0
                .call_cancel(store, &t.external_id, &t.peer, true)
                .await,
        )
    }

    async fn pause(&self, _store: &mut Store<CallState>, _t: &core::TransferRef) -> Answer<()> {
        unsupported("pause")
    }

    async fn resume(&self, _store: &mut Store<CallState>, _t: &core::TransferRef) -> Answer<()> {
        unsupported("resume")
    }

    async fn queue_position(
        &self,
        _store: &mut Store<CallState>,
        _t: &core::TransferRef,
    ) -> Answer<Option<u32>> {
        unsupported("queue-position")
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

impl From<&core::TrackQuery> for wit::TrackQuery {
    fn from(q: &core::TrackQuery) -> Self {
        wit::TrackQuery {
            artist: q.artist.clone(),
            title: q.title.clone(),
            album: q.album.clone(),
            duration_secs: q.duration_secs,
            search_timeout_ms: q.search_timeout_ms,
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

impl From<wit::Candidate> for core::Candidate {
    fn from(c: wit::Candidate) -> Self {
        core::Candidate {
            source: core::Source::PeerFile {
                peer: c.peer.clone(),
                filename: c.filename.clone(),
                size: c.size,
            },
            peer: c.peer,
            name: c.filename,
            size: Some(c.size),
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

impl From<wit::Transfer> for core::Transfer {
    fn from(t: wit::Transfer) -> Self {
        core::Transfer {
            external_id: t.external_id,
            peer: t.peer,
            filename: t.filename,
            size: Some(t.size).filter(|s| *s > 0),
            bytes_transferred: t.bytes_transferred,
            speed_bytes_per_sec: finite_speed(t.speed_bytes_per_sec),
            queue_position: t.queue_position,
            state: t.state.into(),
            failure: t.failure.map(Into::into),
            state_detail: None,
            requested_at: None,
            local_path: None,
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
            wit::TransferState::Succeeded => S::Succeeded,
            wit::TransferState::Cancelled => S::Cancelled,
            wit::TransferState::Failed => S::Failed,
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
            },
            message: f.message,
            provider_may_retry: f.provider_may_retry,
        }
    }
}
