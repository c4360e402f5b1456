//! slskd's REST API: where it is, its API key, and what its error statuses mean.

use tributary_plugin_sdk::http::{Client, Response};
use tributary_plugin_sdk::{ProviderError, config};

/// The configured slskd, spoken to in JSON; its error statuses read the slskd way.
pub fn connect() -> Result<Client, ProviderError> {
    let client = Client::new(config::require("url")?)
        .header("accept", "application/json")
        .map_status(|_, answer| Some(refused(answer)));
    // slskd may run with authentication disabled: then there is no key.
    Ok(match config::get("api_key") {
        Some(key) => client.api_key("x-api-key", &key),
        None => client,
    })
}

/// The usual meaning of an slskd status for calls that are not about one peer.
fn refused(answer: &Response) -> ProviderError {
    let message = message_of(answer);
    let text = if message.is_empty() {
        format!("{}: slskd answered {}", answer.context(), answer.status())
    } else {
        format!(
            "{}: slskd answered {}: {message}",
            answer.context(),
            answer.status()
        )
    };
    match answer.status() {
        401 | 403 => ProviderError::Unauthorized(text),
        404 => ProviderError::NotFound(text),
        // 409: slskd is not connected and logged in to Soulseek.
        409 => ProviderError::Unreachable(text),
        429 => ProviderError::RateLimited(text),
        _ => ProviderError::Protocol(text),
    }
}

/// slskd's error bodies are empty or a JSON string holding the message.
pub fn message_of(answer: &Response) -> String {
    match serde_json::from_slice::<String>(answer.body()) {
        Ok(message) => message,
        Err(_) => answer.text().chars().take(300).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str) -> Response {
        Response::new("GET /x", status, Vec::new(), body.as_bytes().to_vec())
    }

    #[test]
    fn error_bodies_are_read_as_json_strings_or_text() {
        let message = |body| message_of(&answer(500, body));
        assert_eq!(
            message("\"User x appears to be offline\""),
            "User x appears to be offline"
        );
        assert_eq!(message(""), "");
        assert_eq!(message("oops"), "oops");
    }

    #[test]
    fn statuses_mean_what_they_mean_at_slskd() {
        assert_eq!(
            refused(&answer(409, "\"not logged in\"")),
            ProviderError::Unreachable("GET /x: slskd answered 409: not logged in".into())
        );
        assert_eq!(
            refused(&answer(500, "")),
            ProviderError::Protocol("GET /x: slskd answered 500".into())
        );
        assert!(matches!(
            refused(&answer(403, "")),
            ProviderError::Unauthorized(_)
        ));
        assert!(matches!(
            refused(&answer(429, "")),
            ProviderError::RateLimited(_)
        ));
    }
}
