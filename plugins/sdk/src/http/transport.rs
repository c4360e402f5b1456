//! The host's `http-error` (the request never got an answer) as a [`ProviderError`].

use crate::types::ProviderError;
use crate::wit::tributary::provider::http::HttpError;

/// The meaning of a failed request. `context` names the call (e.g. `GET http://…/api/items`).
///
/// | http-error | provider-error | why |
/// |---|---|---|
/// | `denied` | `unreachable` | the origin is not both declared and granted: to the host the service cannot be reached until the operator grants it |
/// | `invalid-request` | `internal` | the plugin built a bad URL, method or header |
/// | `unreachable` | `unreachable` | connection refused, DNS failure, reset |
/// | `timed-out` | `timed-out` | |
/// | `too-large` | `protocol` | the service answered more than the host accepts |
pub fn transport_error(context: &str, error: HttpError) -> ProviderError {
    match error {
        HttpError::Denied(m) => ProviderError::Unreachable(format!(
            "{context}: the host refused to let the plugin call this origin (it must be declared in plugin.toml's outbound_hosts and granted by the operator): {m}"
        )),
        HttpError::InvalidRequest(m) => {
            ProviderError::Internal(format!("{context}: invalid request: {m}"))
        }
        HttpError::Unreachable(m) => ProviderError::Unreachable(format!("{context}: {m}")),
        HttpError::TimedOut(m) => ProviderError::TimedOut(format!("{context}: {m}")),
        HttpError::TooLarge(limit) => ProviderError::Protocol(format!(
            "{context}: the answer is larger than the host's limit of {limit} bytes"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_http_error_has_its_meaning() {
        let context = "GET http://h/x";
        assert!(matches!(
            transport_error(context, HttpError::Denied("no grant".into())),
            ProviderError::Unreachable(m) if m.starts_with("GET http://h/x: the host refused") && m.ends_with("no grant")
        ));
        assert_eq!(
            transport_error(context, HttpError::InvalidRequest("bad url".into())),
            ProviderError::Internal("GET http://h/x: invalid request: bad url".into())
        );
        assert_eq!(
            transport_error(context, HttpError::Unreachable("refused".into())),
            ProviderError::Unreachable("GET http://h/x: refused".into())
        );
        assert_eq!(
            transport_error(context, HttpError::TimedOut("after 10 s".into())),
            ProviderError::TimedOut("GET http://h/x: after 10 s".into())
        );
        assert_eq!(
            transport_error(context, HttpError::TooLarge(8)),
            ProviderError::Protocol(
                "GET http://h/x: the answer is larger than the host's limit of 8 bytes".into()
            )
        );
    }
}
