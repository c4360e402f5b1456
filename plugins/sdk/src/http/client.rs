//! A service's base URL and what every request to it carries: headers, a timeout, the
//! service's meaning of its error statuses.

use std::fmt;
use std::rc::Rc;

use super::auth;
use super::request::{Method, Request};
use super::response::Response;
use super::status::StatusMap;
use crate::types::ProviderError;

/// Requests to one service: its base URL, plus headers (auth, `accept`), a timeout and a
/// reading of error statuses ([`map_status`](Client::map_status)) shared by every request.
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
#[derive(Clone)]
pub struct Client {
    base_url: String,
    headers: Vec<(String, String)>,
    timeout_ms: Option<u32>,
    status_map: Option<StatusMap<'static>>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.base_url)
            .field("timeout_ms", &self.timeout_ms)
            .field("status_map", &self.status_map.is_some())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for the service at `base_url` (a trailing `/` is dropped; paths start with `/`).
    pub fn new(base_url: impl Into<String>) -> Client {
        let base_url: String = base_url.into();
        Client {
            base_url: base_url.trim_end_matches('/').to_owned(),
            headers: Vec::new(),
            timeout_ms: None,
            status_map: None,
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

    /// The service's own meaning of error statuses, for every request (see
    /// [`Request::map_status`]; a request's own map is asked first). A later call replaces an
    /// earlier one.
    pub fn map_status(
        mut self,
        map: impl Fn(u16, &Response) -> Option<ProviderError> + 'static,
    ) -> Client {
        self.status_map = Some(Rc::new(map));
        self
    }

    /// A request to `{base_url}{path}` with the client's headers; `path` is used as given, so
    /// encode what goes into it with [`path_segment`](super::path_segment).
    pub fn request<'a>(&self, method: Method, path: &str) -> Request<'a> {
        let mut request = Request::new(method, format!("{}{path}", self.base_url));
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        if let Some(timeout_ms) = self.timeout_ms {
            request = request.timeout_ms(timeout_ms);
        }
        match &self.status_map {
            Some(map) => request.with_status_map(map.clone()),
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
    fn the_clients_status_map_serves_every_request_after_the_requests_own() {
        let client = Client::new("http://h").map_status(|status, answer| {
            (status == 409)
                .then(|| ProviderError::Unreachable(format!("{}: busy", answer.context())))
        });
        let answer = |status| {
            Ok(crate::http::WireResponse {
                status,
                headers: Vec::new(),
                body: Vec::new(),
            })
        };
        assert_eq!(
            client.get("/x").build().unwrap().finish(answer(409)),
            Err(ProviderError::Unreachable("GET http://h/x: busy".into()))
        );
        let own = client
            .get("/x")
            .map_status(|status, _| (status == 409).then(|| ProviderError::Rejected("own".into())));
        assert_eq!(
            own.build().unwrap().finish(answer(409)),
            Err(ProviderError::Rejected("own".into()))
        );
        assert!(matches!(
            client.get("/x").build().unwrap().finish(answer(404)),
            Err(ProviderError::NotFound(_))
        ));
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
