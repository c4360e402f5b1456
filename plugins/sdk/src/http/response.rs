//! A response as the provider reads it: status, headers, body, JSON, cookies.

use serde::de::DeserializeOwned;

use crate::types::ProviderError;

/// An answer from the provider's service.
///
/// [`Request::send`](super::Request::send) only returns responses whose status is a success
/// (or one the request accepted with [`accept_status`](super::Request::accept_status)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    context: String,
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    /// A response as if received; `context` names the call in error messages (e.g.
    /// `GET http://…/api/items`). For tests and for decoding a body that did not come from
    /// [`Request::send`](super::Request::send).
    pub fn new(
        context: impl Into<String>,
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    ) -> Response {
        Response {
            context: context.into(),
            status,
            headers,
            body,
        }
    }

    /// The call this answers, e.g. `GET http://…/api/items`.
    pub fn context(&self) -> &str {
        &self.context
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// True for a 2xx status.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Every header, in the order received.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The first value of header `name` (compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body's bytes.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body, taken.
    pub fn into_body(self) -> Vec<u8> {
        self.body
    }

    /// The body as text; bytes that are not UTF-8 become `�`.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// True when the body is empty or only whitespace (many APIs answer 201/204 with nothing).
    pub fn is_body_blank(&self) -> bool {
        self.body.iter().all(u8::is_ascii_whitespace)
    }

    /// Parses the body as JSON into `T`. When it does not fit, the error names the field that
    /// did not parse (e.g. `items[3].size`), so a changed API is found at once.
    ///
    /// The error converts into [`ProviderError::Protocol`] with `?`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, JsonError> {
        decode_json(&self.context, &self.body)
    }

    /// The cookies the response sets (`Set-Cookie` headers), name and value only.
    pub fn cookies(&self) -> Vec<Cookie> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("set-cookie"))
            .filter_map(|(_, v)| Cookie::parse_set_cookie(v))
            .collect()
    }

    /// The value of the cookie `name` the response sets, if it sets it (the last one wins, as
    /// in a browser).
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies()
            .into_iter()
            .rev()
            .find(|c| c.name == name)
            .map(|c| c.value)
    }
}

/// One cookie from a `Set-Cookie` header. Its attributes (`Path`, `Expires`, `HttpOnly`, …) are
/// not kept: a plugin keeps no state between calls, so it only ever sends a cookie back within
/// one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cookie {
    /// The cookie's name.
    pub name: String,
    /// The cookie's value, as sent (quotes included, if any).
    pub value: String,
}

impl Cookie {
    /// Reads `name=value` from a `Set-Cookie` header value; `None` when it has no name.
    pub fn parse_set_cookie(header: &str) -> Option<Cookie> {
        let pair = header.split(';').next()?;
        let (name, value) = pair.split_once('=')?;
        let name = name.trim();
        if name.is_empty() {
            return None;
        }
        Some(Cookie {
            name: name.to_owned(),
            value: value.trim().to_owned(),
        })
    }
}

/// A JSON body that does not fit the type asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{context}: {}", describe(.path, .message))]
pub struct JsonError {
    context: String,
    path: String,
    message: String,
}

impl JsonError {
    /// Where in the document parsing stopped, e.g. `items[3].size`; `.` for the document
    /// itself (not JSON at all, or the wrong kind of value at the top).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What was wrong there, as serde_json says it.
    pub fn message(&self) -> &str {
        &self.message
    }
}

fn describe(path: &str, message: &str) -> String {
    if path == "." {
        format!("the answer is not the JSON expected: {message}")
    } else {
        format!("field `{path}` of the JSON answer does not parse: {message}")
    }
}

impl From<JsonError> for ProviderError {
    /// The service answered something the provider cannot read.
    fn from(error: JsonError) -> Self {
        ProviderError::Protocol(error.to_string())
    }
}

/// Parses `body` as JSON into `T`, naming the field that did not parse.
pub(crate) fn decode_json<T: DeserializeOwned>(context: &str, body: &[u8]) -> Result<T, JsonError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| JsonError {
        context: context.to_owned(),
        path: e.path().to_string(),
        message: e.inner().to_string(),
    })?;
    // Trailing garbage after the value is an error too, as in `serde_json::from_slice`.
    deserializer.end().map_err(|e| JsonError {
        context: context.to_owned(),
        path: ".".into(),
        message: e.to_string(),
    })?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Listing {
        items: Vec<Item>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Item {
        id: String,
        size: u64,
    }

    fn response(body: &str) -> Response {
        Response::new(
            "GET http://h/items",
            200,
            Vec::new(),
            body.as_bytes().to_vec(),
        )
    }

    #[test]
    fn json_errors_name_the_field_that_did_not_parse() {
        let error = response(r#"{"items":[{"id":"a","size":1},{"id":"b","size":"big"}]}"#)
            .json::<Listing>()
            .unwrap_err();
        assert_eq!(error.path(), "items[1].size");
        let message = ProviderError::from(error);
        assert!(
            matches!(&message, ProviderError::Protocol(m)
                if m.starts_with("GET http://h/items: field `items[1].size` of the JSON answer does not parse: invalid type: string \"big\"")),
            "{message:?}"
        );
    }

    #[test]
    fn missing_fields_and_non_json_are_explained() {
        let error = response(r#"{"items":[{"size":1}]}"#)
            .json::<Listing>()
            .unwrap_err();
        assert_eq!(error.path(), "items[0]");
        assert!(error.message().contains("missing field `id`"), "{error}");

        let error = response("<html>oops</html>").json::<Listing>().unwrap_err();
        assert_eq!(error.path(), ".");
        assert!(
            error
                .to_string()
                .starts_with("GET http://h/items: the answer is not the JSON expected"),
            "{error}"
        );
        let error = response(r#"{"items":[]} trailing"#)
            .json::<Listing>()
            .unwrap_err();
        assert_eq!(error.path(), ".");
    }

    #[test]
    fn good_json_parses() {
        let listing: Listing = response(r#"{"items":[{"id":"a","size":1}]}"#)
            .json()
            .unwrap();
        assert_eq!(listing.items.len(), 1);
    }

    #[test]
    fn set_cookie_headers_are_read_by_name() {
        let response = Response::new(
            "POST http://h/login",
            200,
            vec![
                ("Content-Type".into(), "text/plain".into()),
                (
                    "Set-Cookie".into(),
                    "SID=abc123; Path=/; HttpOnly; SameSite=Strict".into(),
                ),
                ("set-cookie".into(), "theme=\"dark\"".into()),
                ("Set-Cookie".into(), "=nameless".into()),
                ("Set-Cookie".into(), "SID=newer; Max-Age=60".into()),
            ],
            b"Ok.".to_vec(),
        );
        assert_eq!(
            response.cookies(),
            vec![
                Cookie {
                    name: "SID".into(),
                    value: "abc123".into()
                },
                Cookie {
                    name: "theme".into(),
                    value: "\"dark\"".into()
                },
                Cookie {
                    name: "SID".into(),
                    value: "newer".into()
                },
            ]
        );
        assert_eq!(response.cookie("SID").as_deref(), Some("newer"));
        assert_eq!(response.cookie("missing"), None);
        assert_eq!(response.header("content-type"), Some("text/plain"));
    }
}
