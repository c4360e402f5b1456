//! The body of an event: `{id, type, version, timestamp, data: {download}}`, the download as
//! the REST API shows it (at the moment of the event).

use crate::store::outbox::StoredEvent;
use crate::view::dto::UnifiedDownload;
use serde_json::json;

/// Bumped when the body changes in a way a receiver would notice.
pub const PAYLOAD_VERSION: u32 = 1;

pub fn payload(event: &StoredEvent) -> Vec<u8> {
    let timestamp = chrono::DateTime::from_timestamp_millis(event.at_ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let body = json!({
        "id": event.id,
        "type": event.kind.as_str(),
        "version": PAYLOAD_VERSION,
        "timestamp": timestamp,
        "data": { "download": UnifiedDownload::from(&event.download) },
    });
    serde_json::to_vec(&body).unwrap_or_default()
}
