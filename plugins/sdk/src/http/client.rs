//! A service's base URL and the headers every request to it carries.

use super::auth;
use super::request::{Method, Request};

/// Requests to one service: its base URL, plus headers (auth, `accept`) and a timeout sent with
/// every request.
///
/// A plugin keeps no state between calls, so make one per call, from config:
///
/// ```no_run
/// use tributary_plugin_sdk::{config, http, ProviderError};
/// # fn f() -> Result<(), ProviderError> {
/// let service = http::Client::new(config::require("url")?)
///     .header("accept", "application/json")
///     .api_key("x-api-key", &config::require("api_key")?);
/// let version: String = service.get("/api/version").send()?.json()?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    base_url: String,
    headers: Vec<(String, String)>,
    timeout_ms: Option<u32>,
}

impl Client {
    /// A client for the service at `base_url` (a trailing `/` is dropped; paths start with `/`).
    pub fn new(base_url: impl Into<String>) -> Client {
        let base_url: String = base_url.into();
        Client {
            base_url: base_url.trim_end_matches('/').to_owned(),
            headers: Vec::new(),
            timeout_ms: None,
        }
    }

    /// The base URL, without a trailing `/`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Sends this header with every request.
    pub fn header(mut self, name: &str, value: &str) -> Client {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sends this header with every request, replacing any of the same name.
    fn set_header(mut self, name: &str, value: &str) -> Client {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// HTTP basic auth on every request.
    pub fn basic_auth(self, user: &str, password: Option<&str>) -> Client {
        self.set_header(auth::AUTHORIZATION, &auth::basic(user, password))
    }

    /// Bearer auth on every request.
    pub fn bearer_auth(self, token: &str) -> Client {
        self.set_header(auth::AUTHORIZATION, &auth::bearer(token))
    }

    /// An API key in header `header` on every request.
    pub fn api_key(self, header: &str, key: &str) -> Client {
        self.set_header(header, key)
    }

    /// The timeout of every request (see [`Request::timeout_ms`]).
    pub fn timeout_ms(mut self, timeout_ms: u32) -> Client {
        self.timeout_ms = Some(timeout_ms);
        self
    }

    /// A request to `{base_url}{path}` with the client's headers; `path` is used as given, so
    /// encode what goes into it with [`path_segment`](super::path_segment).
    pub fn request<'a>(&self, method: Method, path: &str) -> Request<'a> {
        let mut request = Request::new(method, format!("{}{path}", self.base_url));
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        match self.timeout_ms {
            Some(timeout_ms) => request.timeout_ms(timeout_ms),
            None => request,
        }
    }

    /// A `GET` of `{base_url}{path}`.
    pub fn get<'a>(&self, path: &str) -> Request<'a> {
        self.request(Method::Get, path)
    }

    /// A `POST` to `{base_url}{path}`.
    pub fn post<'a>(&self, path: &str) -> Request<'a> {
        self.request(Method::Post, path)
    }

    /// A `PUT` to `{base_url}{path}`.
    pub fn put<'a>(&self, path: &str) -> Request<'a> {
        self.request(Method::Put, path)
    }

    /// A `PATCH` of `{base_url}{path}`.
    pub fn patch<'a>(&self, path: &str) -> Request<'a> {
        self.request(Method::Patch, path)
    }

    /// A `DELETE` of `{base_url}{path}`.
    pub fn delete<'a>(&self, path: &str) -> Request<'a> {
        self.request(Method::Delete, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_join_the_base_url_and_carry_the_clients_headers() {
        let client = Client::new("http://127.0.0.1:5030/")
            .header("accept", "application/json")
            .api_key("x-api-key", "old")
            .api_key("X-Api-Key", "k")
            .timeout_ms(900);
        assert_eq!(client.base_url(), "http://127.0.0.1:5030");
        let prepared = client
            .delete("/api/v0/items/1")
            .query("remove", true)
            .build()
            .unwrap();
        let wire = prepared.wire();
        assert_eq!(wire.method, "DELETE");
        assert_eq!(wire.url, "http://127.0.0.1:5030/api/v0/items/1?remove=true");
        assert_eq!(
            wire.headers,
            vec![
                ("accept".to_owned(), "application/json".to_owned()),
                ("X-Api-Key".to_owned(), "k".to_owned()),
            ]
        );
        assert_eq!(wire.timeout_ms, Some(900));
    }

    #[test]
    fn a_request_can_replace_the_clients_auth() {
        let client = Client::new("http://h").bearer_auth("client");
        let prepared = client.get("/x").bearer_auth("request").build().unwrap();
        let auth: Vec<_> = prepared
            .wire()
            .headers
            .iter()
            .filter(|(n, _)| n == "authorization")
            .collect();
        assert_eq!(auth.len(), 1);
        assert_eq!(auth[0].1, "Bearer request");
    }
}
