//! slskd's REST API over the host's `http` import: auth, status codes to typed errors.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::de::DeserializeOwned;

use crate::bindings::tributary::provider::types::ProviderError;
use crate::bindings::tributary::provider::{config, http};

/// Usernames go into paths as JavaScript's `encodeURIComponent` would encode them.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

pub fn encode_segment(text: &str) -> String {
    utf8_percent_encode(text, PATH_SEGMENT).to_string()
}

/// An answer that is not 2xx: the status and slskd's message (a JSON string, or empty).
#[derive(Debug)]
pub struct Refusal {
    pub status: u16,
    pub message: String,
}

impl Refusal {
    /// The usual meaning of an slskd status for calls that are not about one peer.
    pub fn into_error(self, what: &str) -> ProviderError {
        let text = if self.message.is_empty() {
            format!("{what}: slskd answered {}", self.status)
        } else {
            format!("{what}: slskd answered {}: {}", self.status, self.message)
        };
        match self.status {
            401 | 403 => ProviderError::Unauthorized(text),
            404 => ProviderError::NotFound(text),
            // 409: slskd is not connected and logged in to Soulseek.
            409 => ProviderError::Unreachable(text),
            429 => ProviderError::RateLimited(text),
            _ => ProviderError::Protocol(text),
        }
    }
}

pub enum Outcome {
    Ok { body: Vec<u8> },
    Refused(Refusal),
}

pub struct Client {
    base: String,
    api_key: Option<String>,
}

impl Client {
    pub fn from_config() -> Result<Client, ProviderError> {
        let base = config::get("url")
            .ok_or_else(|| ProviderError::Internal("config key `url` has no value".into()))?;
        let api_key = config::get("api_key").filter(|k| !k.is_empty());
        Ok(Client {
            base: base.trim_end_matches('/').to_owned(),
            api_key,
        })
    }

    /// Sends one request to `{url}{path}`; transport failures become typed errors, any status
    /// comes back for the caller to interpret.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        json: Option<&serde_json::Value>,
    ) -> Result<Outcome, ProviderError> {
        let mut headers = vec![("accept".to_owned(), "application/json".to_owned())];
        if let Some(key) = &self.api_key {
            headers.push(("x-api-key".to_owned(), key.clone()));
        }
        let body = match json {
            Some(value) => {
                headers.push(("content-type".to_owned(), "application/json".to_owned()));
                Some(
                    serde_json::to_vec(value)
                        .map_err(|e| ProviderError::Internal(e.to_string()))?,
                )
            }
            None => None,
        };
        let request = http::Request {
            method: method.to_owned(),
            url: format!("{}{}", self.base, path),
            headers,
            body,
            timeout_ms: None,
        };
        let response = http::send(&request).map_err(|e| match e {
            http::HttpError::Denied(m) => ProviderError::Unreachable(format!(
                "the host refused to let the plugin call {}: {m}",
                self.base
            )),
            http::HttpError::InvalidRequest(m) => {
                ProviderError::Internal(format!("invalid request: {m}"))
            }
            http::HttpError::Unreachable(m) => {
                ProviderError::Unreachable(format!("slskd at {}: {m}", self.base))
            }
            http::HttpError::TimedOut(m) => {
                ProviderError::TimedOut(format!("slskd at {}: {m}", self.base))
            }
            http::HttpError::TooLarge(limit) => ProviderError::Protocol(format!(
                "slskd's answer to {method} {path} is larger than {limit} bytes"
            )),
        })?;
        if (200..300).contains(&response.status) {
            Ok(Outcome::Ok {
                body: response.body,
            })
        } else {
            Ok(Outcome::Refused(Refusal {
                status: response.status,
                message: message_of(&response.body),
            }))
        }
    }

    /// GET and parse JSON; any non-2xx is an error with its usual meaning.
    pub fn get_json<T: DeserializeOwned>(
        &self,
        path: &str,
        what: &str,
    ) -> Result<T, ProviderError> {
        match self.send("GET", path, None)? {
            Outcome::Ok { body } => parse(&body, what),
            Outcome::Refused(r) => Err(r.into_error(what)),
        }
    }
}

/// slskd's error bodies are empty or a JSON string holding the message.
fn message_of(body: &[u8]) -> String {
    match serde_json::from_slice::<String>(body) {
        Ok(message) => message,
        Err(_) => String::from_utf8_lossy(body).chars().take(300).collect(),
    }
}

pub fn parse<T: DeserializeOwned>(body: &[u8], what: &str) -> Result<T, ProviderError> {
    serde_json::from_slice(body).map_err(|e| {
        ProviderError::Protocol(format!("{what}: slskd sent JSON we cannot read: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_encoded_like_encode_uri_component() {
        assert_eq!(encode_segment("dj/shadow 99"), "dj%2Fshadow%2099");
        assert_eq!(encode_segment("a-b_c.d~e!(x)*'"), "a-b_c.d~e!(x)*'");
        assert_eq!(encode_segment("björk"), "bj%C3%B6rk");
    }

    #[test]
    fn error_bodies_are_read_as_json_strings_or_text() {
        assert_eq!(
            message_of(b"\"User x appears to be offline\""),
            "User x appears to be offline"
        );
        assert_eq!(message_of(b""), "");
        assert_eq!(message_of(b"oops"), "oops");
    }
}
