//! Every refusal is a 4xx with `{"error": "...", "detail": ...}`; a 500 is a bug we log.

use salvo::http::StatusCode;
use salvo::prelude::*;
use serde_json::Value;

use crate::engine::manager::EngineError;
use crate::store::{StorageFailure, StoreError};
use crate::view::dto::ErrorBody;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub error: String,
    pub detail: Option<Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, error: impl Into<String>) -> Self {
        ApiError {
            status,
            error: error.into(),
            detail: None,
        }
    }

    pub fn bad_request(error: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error)
    }

    pub fn with_detail(mut self, detail: Value) -> Self {
        self.detail = Some(detail);
        self
    }

    pub fn not_found(error: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, error)
    }

    pub fn write(self, res: &mut Response) {
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            tracing::warn!("{}: {}", self.status, self.error);
        } else if self.status.is_server_error() {
            tracing::error!("{}: {}", self.status, self.error);
        }
        res.status_code(self.status);
        res.render(Json(ErrorBody {
            error: self.error,
            detail: self.detail,
        }));
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        let message = e.to_string();
        match e {
            EngineError::NotFound(_) => ApiError::not_found(message),
            EngineError::Illegal(_)
            | EngineError::Stale(_)
            | EngineError::WrongState(_)
            | EngineError::TrackBusy { .. } => ApiError::new(StatusCode::CONFLICT, message),
            EngineError::Invalid(_) | EngineError::UnknownProvider { .. } => {
                ApiError::bad_request(message)
            }
            EngineError::NoProviderLoaded => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message)
            }
            EngineError::Store(store) => store.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            // Not a bug but the machine: say what happened and what the operator can do. The
            // service is stopping (see `App::until_stopped`); a client retries once it is back.
            StoreError::Failed(failure) => {
                let status = match failure {
                    StorageFailure::DiskFull(_) => StatusCode::INSUFFICIENT_STORAGE,
                    _ => StatusCode::SERVICE_UNAVAILABLE,
                };
                ApiError::new(
                    status,
                    format!(
                        "{failure}: nothing was saved. Tributary is stopping so that nothing is lost; \
                         free space or repair the disk, then start it again"
                    ),
                )
            }
            // Another write sharing the commit failed; this one can simply be sent again.
            aborted @ StoreError::Aborted(_) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, aborted.to_string())
            }
            busy @ StoreError::TrackBusy { .. } => {
                ApiError::new(StatusCode::CONFLICT, busy.to_string())
            }
            other => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, other.to_string()),
        }
    }
}
