//! Every refusal is a 4xx with `{"error": "...", "detail": ...}`; a 500 is a bug we log.

use salvo::http::StatusCode;
use salvo::prelude::*;
use serde_json::Value;

use crate::engine::manager::EngineError;
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
        if self.status.is_server_error() {
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
        match &e {
            EngineError::NotFound(_) => ApiError::not_found(e.to_string()),
            EngineError::Illegal(_) | EngineError::Stale(_) => {
                ApiError::new(StatusCode::CONFLICT, e.to_string())
            }
            EngineError::Invalid(_) | EngineError::UnknownProvider { .. } => {
                ApiError::bad_request(e.to_string())
            }
            EngineError::Store(_) => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
            }
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }
}
