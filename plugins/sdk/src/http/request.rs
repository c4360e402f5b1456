//! Building a request, and reading what came back for it: everything around the host's `send`
//! that can be tested without a host.

use std::fmt;
use std::rc::Rc;

use serde::Serialize;

use super::encode::with_query;
use super::response::Response;
use super::status::{StatusMap, meaning};
use super::transport::transport_error;
use super::{WireOutcome, WireRequest, auth};
use crate::types::ProviderError;

/// An HTTP method the host's `http` import accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `GET`
    Get,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `PATCH`
    Patch,
    /// `DELETE`
    Delete,
    /// `HEAD`
    Head,
}

impl Method {
    /// The method's name on the wire, e.g. `"GET"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Head => "HEAD",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A request being built; [`send`](Request::send) it through the host.
///
/// ```no_run
/// use tributary_plugin_sdk::http;
/// # fn f() -> Result<(), tributary_plugin_sdk::ProviderError> {
/// #[derive(serde::Deserialize)]
/// struct Item { id: String }
///
/// let items: Vec<Item> = http::get("http://127.0.0.1:8080/api/items")
///     .query("q", "Boards of Canada")
///     .bearer_auth("token")
///     .send()?
///     .json()?;
/// # Ok(()) }
/// ```
///
/// A status that is not a success becomes an error with its usual meaning
/// ([`status_error`](super::status_error)); [`map_status`](Request::map_status) reads it the
/// provider's way instead, [`accept_status`](Request::accept_status) lets it through.
pub struct Request<'a> {
    method: Method,
    url: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    cookies: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    timeout_ms: Option<u32>,
    accepted: Accepted,
    /// Asked last-added first; see `map_status`.
    status_maps: Vec<StatusMap<'a>>,
    /// A builder step that failed (a body that does not serialize); reported by `build`, so that
    /// building stays one chain.
    error: Option<ProviderError>,
}

/// Names the call only: headers, cookies, query and body may carry credentials.
impl fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("call", &self.context())
            .field("timeout_ms", &self.timeout_ms)
            .field("accepted", &self.accepted)
            .field("status_maps", &self.status_maps.len())
            .finish_non_exhaustive()
    }
}

impl<'a> Request<'a> {
    /// A request for `url`, an absolute `http://` or `https://` URL.
    pub fn new(method: Method, url: impl Into<String>) -> Request<'a> {
        Request {
            method,
            url: url.into(),
            query: Vec::new(),
            headers: Vec::new(),
            cookies: Vec::new(),
            body: None,
            timeout_ms: None,
            accepted: Accepted::Successes(Vec::new()),
            status_maps: Vec::new(),
            error: None,
        }
    }

    /// Adds a query parameter; key and value are percent-encoded (a space becomes `%20`).
    pub fn query(mut self, key: &str, value: impl fmt::Display) -> Self {
        self.query.push((key.to_owned(), value.to_string()));
        self
    }

    /// Adds a header (a second one of the same name is sent too).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets a header, replacing any of the same name (compared case-insensitively).
    pub fn set_header(mut self, name: &str, value: &str) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// HTTP basic auth: `authorization: Basic …` from the user and password.
    pub fn basic_auth(self, user: &str, password: Option<&str>) -> Self {
        self.set_header(auth::AUTHORIZATION, &auth::basic(user, password))
    }

    /// Bearer auth: `authorization: Bearer <token>`.
    pub fn bearer_auth(self, token: &str) -> Self {
        self.set_header(auth::AUTHORIZATION, &auth::bearer(token))
    }

    /// An API key in a header of the service's choosing, e.g. `api_key("x-api-key", key)`.
    pub fn api_key(self, header: &str, key: &str) -> Self {
        self.set_header(header, key)
    }

    /// Sends a cookie (all of them go in one `cookie` header), e.g. a session cookie read with
    /// [`Response::cookie`] from a login answer.
    pub fn cookie(mut self, name: &str, value: &str) -> Self {
        self.cookies.push((name.to_owned(), value.to_owned()));
        self
    }

    /// A JSON body (`content-type: application/json`).
    pub fn json<T: Serialize + ?Sized>(mut self, body: &T) -> Self {
        match serde_json::to_vec(body) {
            Ok(bytes) => self.body_with_type(bytes, "application/json"),
            Err(e) => {
                self.error = Some(ProviderError::Internal(format!(
                    "the JSON body of {} does not serialize: {e}",
                    self.context()
                )));
                self
            }
        }
    }

    /// A form body (`content-type: application/x-www-form-urlencoded`) from anything serde
    /// serializes as pairs: a struct, a map, or a slice of `(key, value)` tuples.
    pub fn form<T: Serialize + ?Sized>(mut self, body: &T) -> Self {
        match serde_urlencoded::to_string(body) {
            Ok(text) => self.body_with_type(text.into_bytes(), "application/x-www-form-urlencoded"),
            Err(e) => {
                self.error = Some(ProviderError::Internal(format!(
                    "the form body of {} does not serialize: {e}",
                    self.context()
                )));
                self
            }
        }
    }

    /// A body of any type.
    pub fn body_with_type(mut self, body: impl Into<Vec<u8>>, content_type: &str) -> Self {
        self.body = Some(body.into());
        self.set_header("content-type", content_type)
    }

    /// How long to wait for the answer; the host caps it at its own limit and never waits past
    /// the call's deadline.
    pub fn timeout_ms(mut self, timeout_ms: u32) -> Self {
        self.timeout_ms = Some(timeout_ms);
        self
    }

    /// Lets `status` through [`send`](Request::send) as if it were a success, for a status that
    /// is an answer rather than a failure here (e.g. 404 meaning "none yet").
    pub fn accept_status(mut self, status: u16) -> Self {
        if let Accepted::Successes(extra) = &mut self.accepted {
            extra.push(status);
        }
        self
    }

    /// Lets every status through [`send`](Request::send): the provider reads
    /// [`Response::status`] itself. Failed requests (no answer at all) are still errors.
    pub fn accept_any_status(mut self) -> Self {
        self.accepted = Accepted::Any;
        self
    }

    /// Reads a status that is not a success the provider's way: `map` gets the status and the
    /// answer and returns the error, or `None` to pass it on: to maps set earlier (e.g. by the
    /// [`Client`](super::Client)), then to the usual meaning
    /// ([`status_error`](super::status_error)).
    ///
    /// ```no_run
    /// # use tributary_plugin_sdk::{http, ProviderError};
    /// # fn f() -> Result<(), ProviderError> {
    /// http::post("http://127.0.0.1:8080/api/downloads")
    ///     .json(&serde_json::json!({"file": "a.flac"}))
    ///     .map_status(|status, _answer| match status {
    ///         // This service says 409 for "already downloading".
    ///         409 => Some(ProviderError::Rejected("already downloading".into())),
    ///         _ => None,
    ///     })
    ///     .send()?;
    /// # Ok(()) }
    /// ```
    pub fn map_status(
        mut self,
        map: impl Fn(u16, &Response) -> Option<ProviderError> + 'a,
    ) -> Self {
        self.status_maps.push(Rc::new(map));
        self
    }

    /// Adds a map shared with others (a client's).
    pub(crate) fn with_status_map(mut self, map: StatusMap<'a>) -> Self {
        self.status_maps.push(map);
        self
    }

    /// The call as error messages name it: method and URL without its query string (which
    /// often carries keys).
    pub fn context(&self) -> String {
        let url = self.url.split(['?', '#']).next().unwrap_or_default();
        format!("{} {url}", self.method)
    }

    /// The request as the host's `http` import takes it, with what is needed to read the
    /// answer. Fails only when a body did not serialize.
    pub fn build(self) -> Result<PreparedRequest<'a>, ProviderError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        let context = self.context();
        let mut headers = self.headers;
        if !self.cookies.is_empty() {
            let cookies = self
                .cookies
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect::<Vec<_>>()
                .join("; ");
            headers.push(("cookie".to_owned(), cookies));
        }
        Ok(PreparedRequest {
            wire: WireRequest {
                method: self.method.as_str().to_owned(),
                url: with_query(&self.url, &self.query),
                headers,
                body: self.body,
                timeout_ms: self.timeout_ms,
            },
            context,
            accepted: self.accepted,
            status_maps: self.status_maps,
        })
    }

    /// Sends the request through the host and returns the answer when its status is a success
    /// (or accepted); otherwise the error the status means.
    pub fn send(self) -> Result<Response, ProviderError> {
        let prepared = self.build()?;
        let outcome = super::send_through_host(prepared.wire());
        prepared.finish(outcome)
    }
}

/// Which statuses [`Request::send`] returns as a [`Response`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum Accepted {
    /// 2xx, and these.
    Successes(Vec<u16>),
    /// Every status.
    Any,
}

impl Accepted {
    fn admits(&self, status: u16) -> bool {
        match self {
            Accepted::Successes(extra) => (200..300).contains(&status) || extra.contains(&status),
            Accepted::Any => true,
        }
    }
}

/// A built request: what goes to the host, and how to read what comes back.
pub struct PreparedRequest<'a> {
    wire: WireRequest,
    context: String,
    accepted: Accepted,
    status_maps: Vec<StatusMap<'a>>,
}

/// Names the call only, like [`Request`]'s.
impl fmt::Debug for PreparedRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreparedRequest")
            .field("call", &self.context)
            .field("accepted", &self.accepted)
            .finish_non_exhaustive()
    }
}

impl PreparedRequest<'_> {
    /// The request exactly as it goes to the host's `http.send`.
    pub fn wire(&self) -> &WireRequest {
        &self.wire
    }

    /// The call as error messages name it, e.g. `GET http://…/api/items`.
    pub fn context(&self) -> &str {
        &self.context
    }

    /// Reads what the host's `http.send` answered: a failed request becomes its
    /// [`transport_error`](super::transport_error), a status that is not a success (nor
    /// accepted) the error it means, anything else the [`Response`].
    pub fn finish(self, outcome: WireOutcome) -> Result<Response, ProviderError> {
        let wire = outcome.map_err(|e| transport_error(&self.context, e))?;
        let answer = Response::new(self.context, wire.status, wire.headers, wire.body);
        if self.accepted.admits(answer.status()) {
            Ok(answer)
        } else {
            Err(meaning(&self.status_maps, &answer))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::wit::tributary::provider::http::{HttpError, Response as WireResponse};

    fn header<'r>(wire: &'r WireRequest, name: &str) -> Vec<&'r str> {
        wire.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn answer(status: u16, body: &str) -> WireOutcome {
        Ok(WireResponse {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.as_bytes().to_vec(),
        })
    }

    #[test]
    fn a_request_carries_method_url_query_headers_and_timeout() {
        let prepared = Request::new(Method::Delete, "http://h:1/api/x/a%20b")
            .query("remove", true)
            .query("note", "a b&c")
            .header("accept", "application/json")
            .header("x-trace", "1")
            .header("x-trace", "2")
            .timeout_ms(1500)
            .build()
            .unwrap();
        let wire = prepared.wire();
        assert_eq!(wire.method, "DELETE");
        assert_eq!(
            wire.url,
            "http://h:1/api/x/a%20b?remove=true&note=a%20b%26c"
        );
        assert_eq!(header(wire, "x-trace"), ["1", "2"]);
        assert_eq!(wire.timeout_ms, Some(1500));
        assert_eq!(wire.body, None);
        assert_eq!(prepared.context(), "DELETE http://h:1/api/x/a%20b");
    }

    #[test]
    fn auth_sets_one_authorization_header_or_the_api_key_header() {
        let wire = super::super::get("http://h/")
            .basic_auth("Aladdin", Some("open sesame"))
            .bearer_auth("t0k3n")
            .api_key("X-API-Key", "k1")
            .api_key("x-api-key", "k2")
            .build()
            .unwrap()
            .wire()
            .clone();
        assert_eq!(header(&wire, "authorization"), ["Bearer t0k3n"]);
        assert_eq!(header(&wire, "x-api-key"), ["k2"]);
        let wire = super::super::get("http://h/")
            .basic_auth("Aladdin", Some("open sesame"))
            .build()
            .unwrap()
            .wire()
            .clone();
        assert_eq!(
            header(&wire, "authorization"),
            ["Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="]
        );
    }

    #[test]
    fn json_and_form_bodies_carry_their_content_type() {
        let wire = super::super::post("http://h/")
            .json(&serde_json::json!({"a": [1, 2]}))
            .build()
            .unwrap()
            .wire()
            .clone();
        assert_eq!(wire.body.as_deref(), Some(&b"{\"a\":[1,2]}"[..]));
        assert_eq!(header(&wire, "content-type"), ["application/json"]);

        let mut form = BTreeMap::new();
        form.insert("password", "p@ss word&=");
        form.insert("username", "admin");
        let wire = super::super::post("http://h/login")
            .form(&form)
            .build()
            .unwrap()
            .wire()
            .clone();
        assert_eq!(
            String::from_utf8(wire.body.clone().unwrap()).unwrap(),
            "password=p%40ss+word%26%3D&username=admin"
        );
        assert_eq!(
            header(&wire, "content-type"),
            ["application/x-www-form-urlencoded"]
        );
        let wire = super::super::post("http://h/login")
            .form(&[("a", "1"), ("b", "x y")])
            .build()
            .unwrap()
            .wire()
            .clone();
        assert_eq!(wire.body.as_deref(), Some(&b"a=1&b=x+y"[..]));
    }

    #[test]
    fn a_body_that_does_not_serialize_fails_the_build() {
        let mut bad = BTreeMap::new();
        bad.insert(vec![1u8], 1);
        let error = super::super::post("http://h/x?key=secret")
            .json(&bad)
            .build()
            .unwrap_err();
        assert!(
            matches!(&error, ProviderError::Internal(m) if m.starts_with("the JSON body of POST http://h/x does not serialize")),
            "{error:?}"
        );
    }

    #[test]
    fn cookies_go_in_one_header() {
        let wire = super::super::get("http://h/")
            .cookie("SID", "abc")
            .cookie("theme", "dark")
            .build()
            .unwrap()
            .wire()
            .clone();
        assert_eq!(header(&wire, "cookie"), ["SID=abc; theme=dark"]);
    }

    #[test]
    fn a_success_is_the_response() {
        let response = super::super::get("http://h/x")
            .build()
            .unwrap()
            .finish(answer(201, "[1]"))
            .unwrap();
        assert_eq!(response.status(), 201);
        assert_eq!(response.json::<Vec<u8>>().unwrap(), [1]);
        assert_eq!(response.context(), "GET http://h/x");
    }

    #[test]
    fn a_failure_status_has_its_usual_meaning_unless_overridden() {
        let error = super::super::get("http://h/x")
            .build()
            .unwrap()
            .finish(answer(503, "down for maintenance"))
            .unwrap_err();
        assert_eq!(
            error,
            ProviderError::Unreachable("GET http://h/x: answered 503: down for maintenance".into())
        );

        let remote = "alice";
        let overridden = || {
            super::super::post("http://h/x").map_status(|status, answer| match status {
                // Borrowing from the caller is fine: the map lives as long as the request.
                500 if answer.body().starts_with(b"offline") => {
                    Some(ProviderError::PeerOffline(format!("{remote} is offline")))
                }
                _ => None,
            })
        };
        assert_eq!(
            overridden()
                .build()
                .unwrap()
                .finish(answer(500, "offline"))
                .unwrap_err(),
            ProviderError::PeerOffline("alice is offline".into())
        );
        // `None` falls back to the usual meaning.
        assert!(matches!(
            overridden()
                .build()
                .unwrap()
                .finish(answer(500, "boom"))
                .unwrap_err(),
            ProviderError::Unreachable(_)
        ));
        assert!(matches!(
            overridden()
                .build()
                .unwrap()
                .finish(answer(401, ""))
                .unwrap_err(),
            ProviderError::Unauthorized(_)
        ));
    }

    #[test]
    fn an_accepted_status_is_an_answer() {
        let response = super::super::get("http://h/x")
            .accept_status(404)
            .build()
            .unwrap()
            .finish(answer(404, ""))
            .unwrap();
        assert_eq!(response.status(), 404);
        let response = super::super::delete("http://h/x")
            .accept_any_status()
            .build()
            .unwrap()
            .finish(answer(500, "no"))
            .unwrap();
        assert!(!response.is_success());
    }

    #[test]
    fn a_failed_request_has_its_transport_meaning() {
        let error = super::super::get("http://h/x?k=secret")
            .build()
            .unwrap()
            .finish(Err(HttpError::TimedOut("after 10 s".into())))
            .unwrap_err();
        assert_eq!(
            error,
            ProviderError::TimedOut("GET http://h/x: after 10 s".into())
        );
    }
}
