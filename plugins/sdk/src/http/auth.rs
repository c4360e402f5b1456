//! The values of the `authorization` header for the usual schemes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// The header carrying credentials for basic and bearer auth.
pub(crate) const AUTHORIZATION: &str = "authorization";

/// `Basic base64(user:password)` (RFC 7617); no password is an empty one.
pub(crate) fn basic(user: &str, password: Option<&str>) -> String {
    let credentials = format!("{user}:{}", password.unwrap_or_default());
    format!("Basic {}", STANDARD.encode(credentials))
}

/// `Bearer <token>` (RFC 6750).
pub(crate) fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_base64_of_user_colon_password() {
        // RFC 7617's own example.
        assert_eq!(
            basic("Aladdin", Some("open sesame")),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(basic("user", None), "Basic dXNlcjo=");
    }

    #[test]
    fn bearer_tokens_are_sent_as_given() {
        assert_eq!(bearer("abc.def"), "Bearer abc.def");
    }
}
