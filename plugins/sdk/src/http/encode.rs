//! Percent-encoding of the parts of a URL a provider fills in.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Everything but RFC 3986's unreserved characters: a key or value then means the same to every
/// server, whatever it does with `+`, `&`, `=` or `;`.
const QUERY_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// What JavaScript's `encodeURIComponent` leaves alone: the encoding web APIs (and the web UIs
/// they were written for) expect of a name put into a path.
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

/// Encodes `text` for one path segment, as `encodeURIComponent` would: `/`, `?`, `#`, `%` and
/// spaces are escaped, so a user name like `dj/shadow 99` stays one segment.
///
/// ```
/// use tributary_plugin_sdk::http::path_segment;
/// assert_eq!(path_segment("dj/shadow 99"), "dj%2Fshadow%2099");
/// ```
pub fn path_segment(text: &str) -> String {
    utf8_percent_encode(text, PATH_SEGMENT).to_string()
}

/// Encodes one query key or value (spaces become `%20`, never `+`).
pub(crate) fn query_component(text: &str) -> String {
    utf8_percent_encode(text, QUERY_COMPONENT).to_string()
}

/// `url` with `pairs` appended to its query string (after any query it already has).
pub(crate) fn with_query(url: &str, pairs: &[(String, String)]) -> String {
    if pairs.is_empty() {
        return url.to_owned();
    }
    // A fragment is never sent; the query goes before it.
    let (base, fragment) = match url.split_once('#') {
        Some((base, fragment)) => (base, Some(fragment)),
        None => (url, None),
    };
    let mut out = base.to_owned();
    let mut separator = if base.contains('?') {
        if base.ends_with('?') || base.ends_with('&') {
            ""
        } else {
            "&"
        }
    } else {
        "?"
    };
    for (key, value) in pairs {
        out.push_str(separator);
        out.push_str(&query_component(key));
        out.push('=');
        out.push_str(&query_component(value));
        separator = "&";
    }
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(fragment);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn path_segments_are_encoded_like_encode_uri_component() {
        assert_eq!(path_segment("dj/shadow 99"), "dj%2Fshadow%2099");
        assert_eq!(path_segment("a-b_c.d~e!(x)*'"), "a-b_c.d~e!(x)*'");
        assert_eq!(path_segment("björk"), "bj%C3%B6rk");
        assert_eq!(path_segment("50%?#"), "50%25%3F%23");
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            with_query(
                "http://h/api",
                &pairs(&[("q", "Boards of Canada & co"), ("x", "a+b=c;d/é")])
            ),
            "http://h/api?q=Boards%20of%20Canada%20%26%20co&x=a%2Bb%3Dc%3Bd%2F%C3%A9"
        );
    }

    #[test]
    fn query_pairs_follow_an_existing_query_and_precede_a_fragment() {
        assert_eq!(
            with_query("http://h/p?a=1", &pairs(&[("b", "2")])),
            "http://h/p?a=1&b=2"
        );
        assert_eq!(
            with_query("http://h/p?", &pairs(&[("b", "2")])),
            "http://h/p?b=2"
        );
        assert_eq!(
            with_query("http://h/p#top", &pairs(&[("b", "2"), ("c", "")])),
            "http://h/p?b=2&c=#top"
        );
        assert_eq!(with_query("http://h/p", &[]), "http://h/p");
    }
}
