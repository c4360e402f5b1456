//! What a status that is not a success means, as a [`ProviderError`].

use crate::types::ProviderError;

/// A provider's own reading of a status that is not a success, set per request with
/// [`Request::map_status`](super::Request::map_status). It gets the status and the body;
/// `None` falls back to [`status_error`].
pub type StatusMap<'a> = Box<dyn Fn(u16, &[u8]) -> Option<ProviderError> + 'a>;

/// How much of an error body goes into a message.
const EXCERPT_CHARS: usize = 300;

/// The usual meaning of a status that is not a success.
///
/// | status | error | why |
/// |---|---|---|
/// | 401, 403 | `unauthorized` | the credentials were refused |
/// | 404 | `not-found` | the item asked about does not exist |
/// | 408, 504 | `timed-out` | the service (or a proxy before it) gave up waiting |
/// | 429 | `rate-limited` | try the same call later |
/// | other 5xx | `unreachable` | the service is down or failing |
/// | anything else | `protocol` | an answer the provider did not expect (3xx: redirects are not followed) |
///
/// `context` names the call (e.g. `GET http://…/api/items`); the message adds the status and the
/// start of the body.
pub fn status_error(status: u16, context: &str, body: &[u8]) -> ProviderError {
    let message = refusal_message(status, context, body);
    match status {
        401 | 403 => ProviderError::Unauthorized(message),
        404 => ProviderError::NotFound(message),
        408 | 504 => ProviderError::TimedOut(message),
        429 => ProviderError::RateLimited(message),
        500..=599 => ProviderError::Unreachable(message),
        _ => ProviderError::Protocol(message),
    }
}

/// `"{context}: answered {status}"`, then `": {body}"` when the body says something.
pub fn refusal_message(status: u16, context: &str, body: &[u8]) -> String {
    let excerpt = body_excerpt(body);
    if excerpt.is_empty() {
        format!("{context}: answered {status}")
    } else {
        format!("{context}: answered {status}: {excerpt}")
    }
}

/// The start of a body as text (at most 300 characters), for a message.
pub fn body_excerpt(body: &[u8]) -> String {
    String::from_utf8_lossy(body)
        .trim()
        .chars()
        .take(EXCERPT_CHARS)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(status: u16) -> &'static str {
        match status_error(status, "GET http://h/x", b"") {
            ProviderError::Unauthorized(_) => "unauthorized",
            ProviderError::NotFound(_) => "not-found",
            ProviderError::TimedOut(_) => "timed-out",
            ProviderError::RateLimited(_) => "rate-limited",
            ProviderError::Unreachable(_) => "unreachable",
            ProviderError::Protocol(_) => "protocol",
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn statuses_map_to_their_usual_meaning() {
        let cases = [
            (401, "unauthorized"),
            (403, "unauthorized"),
            (404, "not-found"),
            (408, "timed-out"),
            (504, "timed-out"),
            (429, "rate-limited"),
            (500, "unreachable"),
            (502, "unreachable"),
            (503, "unreachable"),
            (301, "protocol"),
            (400, "protocol"),
            (409, "protocol"),
            (418, "protocol"),
        ];
        for (status, expected) in cases {
            assert_eq!(case(status), expected, "{status}");
        }
    }

    #[test]
    fn messages_carry_the_call_the_status_and_the_start_of_the_body() {
        assert_eq!(
            status_error(404, "GET http://h/x", b"  no such item\n"),
            ProviderError::NotFound("GET http://h/x: answered 404: no such item".into())
        );
        assert_eq!(
            refusal_message(500, "DELETE http://h/x", b""),
            "DELETE http://h/x: answered 500"
        );
        assert_eq!(body_excerpt(&[b'a'; 1000]).len(), 300);
        assert_eq!(body_excerpt(b"\xff\xfeok"), "\u{fffd}\u{fffd}ok");
    }
}
