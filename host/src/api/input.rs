//! Reading requests strictly: JSON bodies with the right content type and size, UUIDs, query
//! values from a known set. Each refusal says what was wrong.

use salvo::http::StatusCode;
use salvo::prelude::*;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::error::ApiError;

/// Largest JSON body we read.
pub const MAX_BODY: usize = 64 * 1024;

pub async fn json_body<T: DeserializeOwned>(req: &mut Request) -> Result<T, ApiError> {
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type
        .trim_start()
        .to_ascii_lowercase()
        .starts_with("application/json")
    {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the body must be JSON (Content-Type: application/json)",
        ));
    }
    let bytes = req.payload_with_max_size(MAX_BODY).await.map_err(|_| {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than {MAX_BODY} bytes or unreadable"),
        )
    })?;
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::bad_request("the body is not valid JSON for this request")
            .with_detail(serde_json::json!(e.to_string()))
    })
}

pub fn path_uuid(req: &Request, name: &str) -> Result<Uuid, ApiError> {
    let raw = req.param::<String>(name).unwrap_or_default();
    Uuid::parse_str(&raw).map_err(|_| {
        ApiError::bad_request(format!("{name} must be a UUID")).with_detail(serde_json::json!(raw))
    })
}

/// An optional query value that must be one of `accepted`.
pub fn query_choice(
    req: &Request,
    name: &str,
    accepted: &[&str],
) -> Result<Option<String>, ApiError> {
    match req.query::<String>(name) {
        None => Ok(None),
        Some(v) if accepted.contains(&v.as_str()) => Ok(Some(v)),
        Some(v) => Err(ApiError::bad_request(format!("unknown {name} {v:?}"))
            .with_detail(serde_json::json!({ "accepted": accepted }))),
    }
}

/// An optional whole-number query value within `range`: anything else is refused, never
/// quietly moved into the range.
pub fn query_u32(
    req: &Request,
    name: &str,
    range: std::ops::RangeInclusive<u32>,
) -> Result<Option<u32>, ApiError> {
    let Some(raw) = req.queries().get(name).cloned() else {
        return Ok(None);
    };
    match raw.trim().parse::<u32>() {
        Ok(v) if range.contains(&v) => Ok(Some(v)),
        _ => Err(ApiError::bad_request(format!(
            "{name} must be a whole number from {} to {}",
            range.start(),
            range.end()
        ))
        .with_detail(serde_json::json!(raw))),
    }
}
