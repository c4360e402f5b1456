//! Outbound HTTP over the host's `http` import.
//!
//! The host only lets a request through to an origin the plugin declared in `plugin.toml`
//! (`outbound_hosts`) *and* the operator granted; it follows no redirects, caps the body's size
//! and never waits past the call's deadline.
//!
//! - [`Request`] builds a request (query parameters, headers, auth, cookies, JSON or form body)
//!   and [`send`](Request::send)s it; [`Client`] holds a base URL and the headers every request
//!   to that service carries.
//! - [`Response`] reads the answer: [`json`](Response::json) names the field that did not parse,
//!   [`cookie`](Response::cookie) reads `Set-Cookie`.
//! - Errors are [`ProviderError`](crate::types::ProviderError)s already: [`transport_error`] for
//!   a request that got no answer, [`status_error`] for a status that is not a success, which a
//!   request can read its own way with [`Request::map_status`].
//!
//! Only [`Request::send`] calls the host; building ([`Request::build`]) and reading
//! ([`PreparedRequest::finish`]) are plain functions, tested natively.

mod auth;
mod client;
mod encode;
mod request;
mod response;
mod status;
mod transport;

pub use client::Client;
pub use encode::path_segment;
pub use request::{Method, PreparedRequest, Request};
pub use response::{Cookie, JsonError, Response};
pub use status::{StatusMap, body_excerpt, refusal_message, status_error};
pub use transport::transport_error;

/// Why the host could not complete a request (the WIT's `http-error`).
pub use crate::wit::tributary::provider::http::HttpError;
/// The request record of the WIT's `http` interface, as the host receives it.
pub use crate::wit::tributary::provider::http::Request as WireRequest;
/// The response record of the WIT's `http` interface, as the host returns it.
pub use crate::wit::tributary::provider::http::Response as WireResponse;

/// What the host's `http.send` answers.
pub type WireOutcome = Result<WireResponse, HttpError>;

/// A `GET` of `url`.
pub fn get<'a>(url: impl Into<String>) -> Request<'a> {
    Request::new(Method::Get, url)
}

/// A `POST` to `url`.
pub fn post<'a>(url: impl Into<String>) -> Request<'a> {
    Request::new(Method::Post, url)
}

/// A `PUT` to `url`.
pub fn put<'a>(url: impl Into<String>) -> Request<'a> {
    Request::new(Method::Put, url)
}

/// A `PATCH` of `url`.
pub fn patch<'a>(url: impl Into<String>) -> Request<'a> {
    Request::new(Method::Patch, url)
}

/// A `DELETE` of `url`.
pub fn delete<'a>(url: impl Into<String>) -> Request<'a> {
    Request::new(Method::Delete, url)
}

/// The one call into the host's `http` import.
fn send_through_host(request: &WireRequest) -> WireOutcome {
    crate::wit::tributary::provider::http::send(request)
}
