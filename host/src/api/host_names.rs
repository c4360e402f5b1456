//! Which names this server answers to: the defence against DNS rebinding.
//!
//! A web page the user visits can rebind its own name to 127.0.0.1 and then talk to Tributary
//! as a same-origin page: the browser sends `Host: evil.example:8765`. Rebinding needs a name, so
//! a request is served only when its `Host` is an IP literal, `localhost` (or a name under
//! `.localhost`, which browsers resolve to loopback themselves), or a name the operator lists in
//! `server.allowed_hosts` (needed behind a reverse proxy or for a LAN name). Transmission fixed
//! the same hole (CVE-2018-5702) with such a list.

use std::net::IpAddr;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AllowedHostError {
    #[error(
        "server.allowed_hosts entry {0:?} is not a host name (write it like \"music.example.com\" or \"*.example.com\", without scheme, port or path)"
    )]
    NotAName(String),
}

/// One entry of `server.allowed_hosts`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    /// Exactly this name.
    Exact(String),
    /// Any name ending in `.suffix` (written `*.suffix`).
    Subdomains(String),
}

/// The names this server answers to, beyond IP literals and `localhost`.
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts {
    listed: Vec<Pattern>,
}

/// A `Host` (or `Origin` authority) split into its name and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authority {
    /// Lower-case, without brackets or a trailing dot.
    pub host: String,
    pub port: Option<u16>,
}

impl Authority {
    /// Parses `name`, `name:port`, `1.2.3.4:port` or `[::1]:port`. `None` when malformed.
    pub fn parse(text: &str) -> Option<Authority> {
        let text = text.trim();
        if text.is_empty() || text.contains(['/', '@', '?', '#', ' ']) {
            return None;
        }
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (inside, after) = rest.split_once(']')?;
            inside.parse::<std::net::Ipv6Addr>().ok()?;
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':')?.parse().ok()?),
            };
            (inside, port)
        } else {
            match text.rsplit_once(':') {
                Some((h, p)) if !h.contains(':') => (h, Some(p.parse().ok()?)),
                Some(_) => return None,
                None => (text, None),
            }
        };
        let host = host.trim_end_matches('.');
        if host.is_empty() {
            return None;
        }
        Some(Authority {
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    fn is_ip_literal(&self) -> bool {
        self.host.parse::<IpAddr>().is_ok()
    }
}

/// A name made of DNS labels (letters, digits, hyphens, underscores), as an operator writes it.
fn is_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

impl AllowedHosts {
    pub fn new(entries: &[String]) -> Result<AllowedHosts, AllowedHostError> {
        let listed = entries
            .iter()
            .map(|entry| {
                let name = entry.trim().trim_end_matches('.').to_ascii_lowercase();
                let (pattern, bare) = match name.strip_prefix("*.") {
                    Some(suffix) => (Pattern::Subdomains(suffix.to_owned()), suffix.to_owned()),
                    None => (Pattern::Exact(name.clone()), name.clone()),
                };
                if is_dns_name(&bare) {
                    Ok(pattern)
                } else {
                    Err(AllowedHostError::NotAName(entry.clone()))
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(AllowedHosts { listed })
    }

    /// Whether the operator listed this name (any port: a proxy's port is its own).
    pub fn listed(&self, host: &str) -> bool {
        self.listed.iter().any(|p| match p {
            Pattern::Exact(name) => name == host,
            Pattern::Subdomains(suffix) => host
                .strip_suffix(suffix.as_str())
                .is_some_and(|rest| rest.ends_with('.')),
        })
    }

    /// Whether a request for this name may be served.
    pub fn allows(&self, authority: &Authority) -> bool {
        authority.is_ip_literal()
            || authority.host == "localhost"
            || authority.host.ends_with(".localhost")
            || self.listed(&authority.host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(list: &[&str]) -> AllowedHosts {
        AllowedHosts::new(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn authorities_parse_as_browsers_send_them() {
        let cases = [
            ("127.0.0.1:8765", Some(("127.0.0.1", Some(8765)))),
            ("[::1]:8765", Some(("::1", Some(8765)))),
            ("[::1]", Some(("::1", None))),
            ("LocalHost.:80", Some(("localhost", Some(80)))),
            ("music.example.com", Some(("music.example.com", None))),
            ("evil.example:8765", Some(("evil.example", Some(8765)))),
            ("", None),
            (":80", None),
            ("a:b", None),
            ("::1", None),
            ("[nothex]:1", None),
            ("x/y", None),
            ("user@host", None),
            ("host:99999", None),
        ];
        for (text, want) in cases {
            let got = Authority::parse(text);
            let want = want.map(|(h, p)| Authority {
                host: h.to_owned(),
                port: p,
            });
            assert_eq!(got, want, "{text:?}");
        }
    }

    #[test]
    fn ip_literals_localhost_and_listed_names_are_allowed_nothing_else() {
        let allowed = hosts(&["music.example.com", "*.lan"]);
        let cases = [
            ("127.0.0.1:8765", true),
            ("192.168.1.20:8765", true),
            ("[::1]:8765", true),
            ("localhost:8765", true),
            ("app.localhost:8765", true),
            ("music.example.com", true),
            ("MUSIC.example.com:443", true),
            ("nas.lan:8765", true),
            ("evil.example:8765", false),
            ("example.com", false),
            ("lan", false),
            ("evillan", false),
            ("music.example.com.evil.example", false),
            ("localhost.evil.example", false),
            ("2130706433:8765", false),
        ];
        for (text, want) in cases {
            let a = Authority::parse(text).unwrap();
            assert_eq!(allowed.allows(&a), want, "{text}");
        }
    }

    #[test]
    fn entries_must_be_bare_names() {
        for bad in [
            "http://music.example.com",
            "music.example.com:443",
            "music.example.com/x",
            "",
            "*.",
            "a..b",
        ] {
            assert!(
                AllowedHosts::new(&[bad.to_owned()]).is_err(),
                "{bad:?} accepted"
            );
        }
        assert!(AllowedHosts::new(&["Music.Example.com.".to_owned()]).is_ok());
    }
}
