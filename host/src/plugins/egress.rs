//! Which origins a plugin may call: what it declares, intersected with what the operator grants.
//! Deny by default; origins are compared as (scheme, host, port), never as string prefixes.

use url::Url;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EgressError {
    #[error("{0:?} is not an origin like \"http://host:port\" (a port may be \"*\")")]
    BadPattern(String),
    #[error("not a valid absolute URL: {0}")]
    BadUrl(String),
    #[error("scheme {0:?} is not allowed: only http and https")]
    Scheme(String),
    #[error(
        "{origin} is not granted to this plugin (declared by the plugin: {declared}; granted by the operator: {granted})"
    )]
    NotGranted {
        origin: String,
        declared: String,
        granted: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Port {
    Any,
    Exact(u16),
}

/// One allowed origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginPattern {
    scheme: String,
    host: String,
    port: Port,
}

impl OriginPattern {
    /// Parses `scheme://host[:port|:*]`. Any path is ignored; the port defaults to the scheme's.
    pub fn parse(text: &str) -> Result<OriginPattern, EgressError> {
        let bad = || EgressError::BadPattern(text.to_owned());
        let (any_port, parsable) = match text.trim_end_matches('/').strip_suffix(":*") {
            Some(rest) => (true, rest.to_owned()),
            None => (false, text.to_owned()),
        };
        let url = Url::parse(&parsable).map_err(|_| bad())?;
        let scheme = url.scheme().to_owned();
        if scheme != "http" && scheme != "https" {
            return Err(EgressError::Scheme(scheme));
        }
        let host = url.host_str().ok_or_else(bad)?.to_ascii_lowercase();
        let port = if any_port {
            Port::Any
        } else {
            Port::Exact(url.port_or_known_default().ok_or_else(bad)?)
        };
        Ok(OriginPattern { scheme, host, port })
    }

    /// The host name or address, lower-case.
    pub fn host(&self) -> &str {
        &self.host
    }

    fn matches(&self, origin: &Origin) -> bool {
        self.scheme == origin.scheme
            && self.host == origin.host
            && match self.port {
                Port::Any => true,
                Port::Exact(p) => p == origin.port,
            }
    }
}

impl std::fmt::Display for OriginPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.port {
            Port::Any => write!(f, "{}://{}:*", self.scheme, self.host),
            Port::Exact(p) => write!(f, "{}://{}:{}", self.scheme, self.host, p),
        }
    }
}

/// The origin of a concrete request URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub scheme: String,
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

/// Parses a request URL and returns it with its origin.
pub fn origin_of(url: &str) -> Result<(Url, Origin), EgressError> {
    let parsed = Url::parse(url).map_err(|e| EgressError::BadUrl(format!("{url}: {e}")))?;
    let scheme = parsed.scheme().to_owned();
    if scheme != "http" && scheme != "https" {
        return Err(EgressError::Scheme(scheme));
    }
    let host = parsed
        .host_str()
        .ok_or_else(|| EgressError::BadUrl(format!("{url}: no host")))?
        .to_ascii_lowercase();
    let port = parsed
        .port_or_known_default()
        .ok_or_else(|| EgressError::BadUrl(format!("{url}: no port")))?;
    Ok((parsed, Origin { scheme, host, port }))
}

/// The plugin's effective egress: declared ∩ granted.
#[derive(Debug, Clone, Default)]
pub struct EgressPolicy {
    declared: Vec<OriginPattern>,
    granted: Vec<OriginPattern>,
}

impl EgressPolicy {
    pub fn new(declared: Vec<OriginPattern>, granted: Vec<OriginPattern>) -> Self {
        Self { declared, granted }
    }

    /// Checks a URL; returns it parsed when both the plugin declared and the operator granted
    /// its origin.
    pub fn check(&self, url: &str) -> Result<Url, EgressError> {
        let (parsed, origin) = origin_of(url)?;
        let declared = self.declared.iter().any(|p| p.matches(&origin));
        let granted = self.granted.iter().any(|p| p.matches(&origin));
        if declared && granted {
            Ok(parsed)
        } else {
            Err(EgressError::NotGranted {
                origin: origin.to_string(),
                declared: list(&self.declared),
                granted: list(&self.granted),
            })
        }
    }

    /// When `url` is refused because of the operator's configuration rather than the URL
    /// itself, what to change, in words an operator can act on.
    pub fn config_fix(&self, plugin: &str, url: &str) -> Option<String> {
        let (_, origin) = origin_of(url).ok()?;
        let declared = self.declared.iter().any(|p| p.matches(&origin));
        let granted = self.granted.iter().any(|p| p.matches(&origin));
        match (declared, granted) {
            (true, true) => None,
            (true, false) => Some(format!(
                "{origin} is not granted to plugin {plugin}: add \"{origin}\" to allowed_hosts under [providers.{plugin}]"
            )),
            (false, _) => Some(format!(
                "plugin {plugin} does not declare {origin} (it declares {}): check its url under [providers.{plugin}]",
                list(&self.declared)
            )),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.declared.is_empty() || self.granted.is_empty()
    }
}

fn list(patterns: &[OriginPattern]) -> String {
    if patterns.is_empty() {
        "none".to_owned()
    } else {
        patterns
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(declared: &[&str], granted: &[&str]) -> EgressPolicy {
        let parse = |v: &[&str]| v.iter().map(|p| OriginPattern::parse(p).unwrap()).collect();
        EgressPolicy::new(parse(declared), parse(granted))
    }

    #[test]
    fn only_the_intersection_is_allowed() {
        let p = policy(
            &["http://127.0.0.1:5030", "http://example.com"],
            &["http://127.0.0.1:5030"],
        );
        assert!(p.check("http://127.0.0.1:5030/api/v0/searches").is_ok());
        assert!(matches!(
            p.check("http://example.com/"),
            Err(EgressError::NotGranted { .. })
        ));
        assert!(matches!(
            p.check("http://127.0.0.1:5031/"),
            Err(EgressError::NotGranted { .. })
        ));
    }

    #[test]
    fn deny_by_default() {
        assert!(
            policy(&["http://127.0.0.1:5030"], &[])
                .check("http://127.0.0.1:5030/")
                .is_err()
        );
        assert!(
            policy(&[], &["http://127.0.0.1:5030"])
                .check("http://127.0.0.1:5030/")
                .is_err()
        );
    }

    #[test]
    fn prefix_tricks_do_not_pass() {
        let p = policy(&["http://127.0.0.1:5030"], &["http://127.0.0.1:5030"]);
        for url in [
            "http://127.0.0.1:50301/",
            "http://127.0.0.1:5030.evil.com/",
            "http://127.0.0.1:5030@evil.com/",
            "https://127.0.0.1:5030/",
            "file:///etc/passwd",
            "http://127.0.0.2:5030/",
        ] {
            assert!(p.check(url).is_err(), "{url} passed");
        }
        // The userinfo form really targets the declared host, so it is allowed.
        assert!(p.check("http://evil@127.0.0.1:5030/").is_ok());
    }

    #[test]
    fn default_and_wildcard_ports() {
        let p = policy(
            &["https://example.com", "http://localhost:*"],
            &["https://example.com:443", "http://localhost:*"],
        );
        assert!(p.check("https://example.com/x").is_ok());
        assert!(p.check("https://EXAMPLE.com:443/x").is_ok());
        assert!(p.check("http://localhost:1234/").is_ok());
        assert!(p.check("https://example.com:8443/").is_err());
    }

    #[test]
    fn bad_patterns_are_refused() {
        assert!(OriginPattern::parse("127.0.0.1:5030").is_err());
        assert!(OriginPattern::parse("ftp://x").is_err());
        assert!(OriginPattern::parse("").is_err());
    }
}
