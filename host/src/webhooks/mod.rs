//! Telling other programs what happened: each configured webhook gets the events it asked
//! for, as a signed JSON POST, at least once, from the outbox in the store (`store::outbox`),
//! retried with backoff until its receiver answers 2xx. The addresses it may reach follow the
//! plugins' rule: public addresses only, unless the operator grants private ones.

mod address;
mod delivery;
mod payload;
mod signing;

pub use address::{AddressError, allowed_address};
pub use delivery::run;
pub use payload::{PAYLOAD_VERSION, payload};
pub use signing::{SIGNATURE_HEADER, sign};

use crate::engine::download_events::EventKind;

/// One `[[webhooks]]` entry, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    /// Names the webhook in the outbox and the logs (default: its URL).
    pub name: String,
    pub url: url::Url,
    /// The events it gets (all when the config names none).
    pub events: Vec<EventKind>,
    /// Signs every body (HMAC-SHA256) when set.
    pub secret: Option<String>,
    /// May reach loopback, private and link-local addresses.
    pub allow_private: bool,
}

impl Webhook {
    pub fn wants(&self, kind: EventKind) -> bool {
        self.events.contains(&kind)
    }
}
