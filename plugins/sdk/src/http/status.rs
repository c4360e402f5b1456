//! What a status that is not a success means, as a [`ProviderError`].

use std::rc::Rc;

use super::response::Response;
use crate::types::ProviderError;

/// A provider's own reading of a status that is not a success, set on a
/// [`Client`](super::Client) or a [`Request`](super::Request) with `map_status`. It gets the
/// status and the whole answer (its [`context`](Response::context), body and headers); `None`
/// passes the status on (to the client's map, then to [`status_error`]).
pub type StatusMap<'a> = Rc<dyn Fn(u16, &Response) -> Option<ProviderError> + 'a>;

/// How much of an error body goes into a message.
const EXCERPT_CHARS: usize = 300;

/// The meaning of a status that is not a success: the first of `maps` (asked last-added first)
/// that has one, else [`status_error`].
pub(crate) fn meaning(maps: &[StatusMap<'_>], answer: &Response) -> ProviderError {
    maps.iter()
        .rev()
        .find_map(|map| map(answer.status(), answer))
        .unwrap_or_else(|| status_error(answer))
}

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
/// The message is [`refusal_message`]'s.
pub fn status_error(answer: &Response) -> ProviderError {
    let message = refusal_message(answer);
    match answer.status() {
        401 | 403 => ProviderError::Unauthorized(message),
        404 => ProviderError::NotFound(message),
        408 | 504 => ProviderError::TimedOut(message),
        429 => ProviderError::RateLimited(message),
        500..=599 => ProviderError::Unreachable(message),
        _ => ProviderError::Protocol(message),
    }
}

/// `"{context}: answered {status}"`, then `": {body}"` when the body says something.
pub fn refusal_message(answer: &Response) -> String {
    let excerpt = body_excerpt(answer.body());
    let (context, status) = (answer.context(), answer.status());
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

    fn answer(status: u16, body: &str) -> Response {
        Response::new(
            "GET http://h/x",
            status,
            Vec::new(),
            body.as_bytes().to_vec(),
        )
    }

    fn case(status: u16) -> &'static str {
        match status_error(&answer(status, "")) {
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
            status_error(&answer(404, "  no such item\n")),
            ProviderError::NotFound("GET http://h/x: answered 404: no such item".into())
        );
        assert_eq!(
            refusal_message(&answer(500, "")),
            "GET http://h/x: answered 500"
        );
        assert_eq!(body_excerpt(&[b'a'; 1000]).len(), 300);
        assert_eq!(body_excerpt(b"\xff\xfeok"), "\u{fffd}\u{fffd}ok");
    }

    #[test]
    fn the_last_map_with_an_answer_wins_then_the_usual_meaning() {
        let general: StatusMap<'_> =
            Rc::new(|status, _| (status >= 500).then(|| ProviderError::Protocol("general".into())));
        let specific: StatusMap<'_> = Rc::new(|status, answer| {
            (status == 500 && answer.text() == "offline")
                .then(|| ProviderError::PeerOffline("specific".into()))
        });
        let maps = [general, specific];
        assert_eq!(
            meaning(&maps, &answer(500, "offline")),
            ProviderError::PeerOffline("specific".into())
        );
        assert_eq!(
            meaning(&maps, &answer(500, "boom")),
            ProviderError::Protocol("general".into())
        );
        assert!(matches!(
            meaning(&maps, &answer(401, "")),
            ProviderError::Unauthorized(_)
        ));
    }
}
