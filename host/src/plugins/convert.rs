//! WIT values to the engine's provider types. This is the one place that knows both; an older
//! WIT version gets its own conversions here when the next version is released.

use super::bindings::latest::tributary::provider::types as wit;
use crate::engine::provider as core;

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

impl From<wit::Capabilities> for core::Capabilities {
    fn from(c: wit::Capabilities) -> Self {
        core::Capabilities {
            search: c.contains(wit::Capabilities::SEARCH),
            pause: c.contains(wit::Capabilities::PAUSE),
            clear_finished: c.contains(wit::Capabilities::CLEAR_FINISHED),
            queue_position: c.contains(wit::Capabilities::QUEUE_POSITION),
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
            peer: c.peer,
            filename: c.filename,
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

impl From<&core::Source> for wit::Source {
    fn from(s: &core::Source) -> Self {
        wit::Source {
            peer: s.peer.clone(),
            filename: s.filename.clone(),
            size: s.size,
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
            speed_bytes_per_sec: if t.speed_bytes_per_sec.is_finite() {
                t.speed_bytes_per_sec.max(0.0)
            } else {
                0.0
            },
            queue_position: t.queue_position,
            state: t.state.into(),
            failure: t.failure.map(Into::into),
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
