//! Who may do what: the names the server answers to (DNS rebinding), optional API keys with a
//! role and allowed networks, a session cookie for the browser, same-origin checks on every
//! state-changing request, and security headers.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use salvo::http::header::{self, HeaderValue};
use salvo::http::{Method, StatusCode};
use salvo::prelude::*;
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::host_names::{AllowedHosts, Authority};
use crate::config::{AuthConfig, KeyRole};

pub const SESSION_COOKIE: &str = "tributary_session";
const SESSION_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// The page's policy: scripts and styles from us only, no framing.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
                   frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'";
/// The API docs page loads Swagger UI's own inline bootstrap; it still may not be framed.
const DOCS_CSP: &str = "frame-ancestors 'none'; object-src 'none'";

#[derive(Debug, Clone)]
struct Key {
    name: String,
    secret: String,
    role: KeyRole,
    networks: Vec<IpNet>,
}

#[derive(Debug, Clone)]
struct Session {
    key: String,
    expires: Instant,
}

/// Who is asking, once checked.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key: String,
    pub role: KeyRole,
}

#[derive(Debug, thiserror::Error)]
pub enum AccessConfigError {
    #[error("auth key {name:?}: {problem}")]
    Key { name: String, problem: String },
    #[error("metrics.token must be at least {MIN_SECRET_CHARS} characters")]
    MetricsToken,
}

/// The shortest key or token accepted: guessing one must be hopeless.
pub const MIN_SECRET_CHARS: usize = 16;

/// One `cidrs` entry: a network (`192.168.1.0/24`) or a single address (`::1`).
pub fn parse_network(text: &str) -> Option<IpNet> {
    text.parse::<IpNet>()
        .ok()
        .or_else(|| text.parse::<IpAddr>().ok().map(IpNet::from))
}

/// The path of the Prometheus endpoint, which may also answer to its own token.
pub const METRICS_PATH: &str = "/metrics";

pub struct AccessPolicy {
    keys: Vec<Key>,
    sessions: Mutex<HashMap<String, Session>>,
    metrics_token: Option<String>,
}

impl AccessPolicy {
    pub fn new(config: &AuthConfig) -> Result<AccessPolicy, AccessConfigError> {
        let mut keys = Vec::new();
        for k in &config.keys {
            let err = |problem: &str| AccessConfigError::Key {
                name: k.name.clone(),
                problem: problem.to_owned(),
            };
            if k.key.chars().count() < MIN_SECRET_CHARS {
                return Err(err(&format!(
                    "the key must be at least {MIN_SECRET_CHARS} characters"
                )));
            }
            let networks = k
                .cidrs
                .iter()
                .map(|c| parse_network(c))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| err("every cidrs entry must be like 192.168.1.0/24 or ::1"))?;
            keys.push(Key {
                name: k.name.clone(),
                secret: k.key.clone(),
                role: k.role,
                networks,
            });
        }
        Ok(AccessPolicy {
            keys,
            sessions: Mutex::new(HashMap::new()),
            metrics_token: None,
        })
    }

    /// Lets `/metrics` answer to `token` (sent as `Authorization: Bearer <token>`): scrapers
    /// speak bearer tokens, and a token that can only read metrics is safer in their config
    /// than an API key.
    pub fn with_metrics_token(mut self, token: Option<&str>) -> Result<Self, AccessConfigError> {
        if let Some(t) = token {
            if t.chars().count() < MIN_SECRET_CHARS {
                return Err(AccessConfigError::MetricsToken);
            }
            self.metrics_token = Some(t.to_owned());
        }
        Ok(self)
    }

    /// `None` without a metrics token; otherwise whether the request carries it.
    fn holds_metrics_token(&self, req: &Request) -> Option<bool> {
        let token = self.metrics_token.as_ref()?;
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        Some(bool::from(token.as_bytes().ct_eq(given.as_bytes())))
    }

    /// With no key configured, everyone on the listening address may do everything.
    pub fn enabled(&self) -> bool {
        !self.keys.is_empty()
    }

    fn by_secret(&self, given: &str) -> Option<&Key> {
        // Compare against every key, in constant time, so timing tells nothing.
        let mut found = None;
        for k in &self.keys {
            if bool::from(k.secret.as_bytes().ct_eq(given.as_bytes())) {
                found = Some(k);
            }
        }
        found
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Checks a key for the login form; returns a new session token.
    pub fn login(&self, given: &str, from: Option<IpAddr>) -> Result<String, ApiError> {
        let key = self
            .by_secret(given)
            .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "that key is not valid"))?;
        check_network(key, from)?;
        let token = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let mut sessions = self.sessions();
        let now = Instant::now();
        sessions.retain(|_, s| s.expires > now);
        sessions.insert(
            token.clone(),
            Session {
                key: key.name.clone(),
                expires: now + SESSION_TTL,
            },
        );
        Ok(token)
    }

    pub fn logout(&self, token: &str) {
        self.sessions().remove(token);
    }

    /// Whether the request carries a valid `X-API-Key` usable from its address. A rebinding
    /// page cannot know a key (browsers never add one by themselves, unlike a cookie), so such a
    /// request may use a name that is not in `server.allowed_hosts`.
    fn holds_valid_key(&self, req: &Request) -> bool {
        req.headers()
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .and_then(|given| self.by_secret(given))
            .is_some_and(|key| check_network(key, remote_ip(req)).is_ok())
    }

    /// The caller behind a request's key or session cookie, checked against its networks.
    fn caller(&self, req: &Request) -> Result<Option<Caller>, ApiError> {
        let from = remote_ip(req);
        if let Some(given) = req.headers().get("x-api-key").and_then(|v| v.to_str().ok()) {
            let key = self
                .by_secret(given)
                .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "unknown API key"))?;
            check_network(key, from)?;
            return Ok(Some(Caller {
                key: key.name.clone(),
                role: key.role,
            }));
        }
        let Some(token) = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned()) else {
            return Ok(None);
        };
        let session = self.sessions().get(&token).cloned();
        match session {
            Some(s) if s.expires > Instant::now() => {
                let key =
                    self.keys.iter().find(|k| k.name == s.key).ok_or_else(|| {
                        ApiError::new(StatusCode::UNAUTHORIZED, "session expired")
                    })?;
                check_network(key, from)?;
                Ok(Some(Caller {
                    key: key.name.clone(),
                    role: key.role,
                }))
            }
            _ => Ok(None),
        }
    }
}

fn check_network(key: &Key, from: Option<IpAddr>) -> Result<(), ApiError> {
    if key.networks.is_empty() {
        return Ok(());
    }
    let allowed = from.is_some_and(|ip| {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        key.networks.iter().any(|n| n.contains(&ip))
    });
    if allowed {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("key {:?} may not be used from this address", key.name),
        ))
    }
}

pub fn remote_ip(req: &Request) -> Option<IpAddr> {
    req.remote_addr().clone().into_std().map(|a| a.ip())
}

fn is_public(path: &str) -> bool {
    path == "/login" || path == "/logout" || path.starts_with("/static/") || path == "/favicon.ico"
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The name the request was sent to: the `Host` header, or the authority of an absolute URI.
fn requested_authority(req: &Request) -> Option<Authority> {
    match req.headers().get(header::HOST) {
        Some(value) => value.to_str().ok().and_then(Authority::parse),
        None => req
            .uri()
            .authority()
            .and_then(|a| Authority::parse(a.as_str())),
    }
}

/// Refuses a request sent to a name this server does not answer to (see `host_names`).
fn check_host(req: &Request, hosts: &AllowedHosts, policy: &AccessPolicy) -> Result<(), ApiError> {
    let Some(authority) = requested_authority(req) else {
        return Err(ApiError::bad_request(
            "the request has no valid Host header",
        ));
    };
    if hosts.allows(&authority) || policy.holds_valid_key(req) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::MISDIRECTED_REQUEST,
        format!(
            "this server does not answer to the name {:?}; if it is yours, add it to server.allowed_hosts",
            authority.host
        ),
    ))
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

/// Whether a browser `Origin` is one of ours: a name the operator listed (any scheme and port:
/// a reverse proxy's are its own), or an IP literal or `localhost` naming exactly this server.
/// Compared with the allowed set, never just with the request's own `Host`, which a rebinding
/// page controls.
fn origin_is_ours(origin: &str, requested: Option<&Authority>, hosts: &AllowedHosts) -> bool {
    let Some((scheme, rest)) = origin.split_once("://") else {
        return false;
    };
    let Some(from) = Authority::parse(rest) else {
        return false;
    };
    if hosts.listed(&from.host) {
        return true;
    }
    let Some(to) = requested else {
        return false;
    };
    let port = |a: &Authority| a.port.or_else(|| default_port(scheme));
    hosts.allows(&from) && from.host == to.host && port(&from) == port(to)
}

/// A state-changing request must come from our own page (or from no browser at all).
fn same_origin(req: &Request, hosts: &AllowedHosts) -> Result<(), ApiError> {
    let refuse = |why: &str| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            format!("cross-site request refused: {why}"),
        )
    };
    if let Some(site) = req
        .headers()
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        && !matches!(site, "same-origin" | "none")
    {
        return Err(refuse(&format!("Sec-Fetch-Site is {site}")));
    }
    if let Some(origin) = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        && !origin_is_ours(origin, requested_authority(req).as_ref(), hosts)
    {
        return Err(refuse(&format!("Origin {origin} is not this server")));
    }
    Ok(())
}

fn security_headers(res: &mut Response, path: &str) {
    let h = res.headers_mut();
    let csp = if path.starts_with("/api/docs") {
        DOCS_CSP
    } else {
        CSP
    };
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

/// The hoop every request passes through.
pub struct Gate {
    pub policy: Arc<AccessPolicy>,
    pub hosts: AllowedHosts,
}

#[salvo::async_trait]
impl Handler for Gate {
    async fn handle(
        &self,
        req: &mut Request,
        depot: &mut Depot,
        res: &mut Response,
        ctrl: &mut FlowCtrl,
    ) {
        // What the path decides, read once: the request is lent on below.
        let path = req.uri().path();
        security_headers(res, path);
        let for_metrics = path == METRICS_PATH;
        let public = is_public(path);
        let api = path.starts_with("/api/");
        if let Err(e) = check_host(req, &self.hosts, &self.policy) {
            ctrl.skip_rest();
            return e.write(res);
        }
        if !is_safe(req.method())
            && let Err(e) = same_origin(req, &self.hosts)
        {
            ctrl.skip_rest();
            return e.write(res);
        }
        if for_metrics {
            match self.policy.holds_metrics_token(req) {
                Some(true) => {
                    ctrl.call_next(req, depot, res).await;
                    return;
                }
                // Without keys the token is the only way in.
                Some(false) if !self.policy.enabled() => {
                    ctrl.skip_rest();
                    res.headers_mut()
                        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                    return ApiError::new(
                        StatusCode::UNAUTHORIZED,
                        "the metrics token is required (Authorization: Bearer ...)",
                    )
                    .write(res);
                }
                // No token configured, or keys may be used as well: the rules below.
                _ => {}
            }
        }
        if !self.policy.enabled() || public {
            ctrl.call_next(req, depot, res).await;
            return;
        }
        match self.policy.caller(req) {
            Ok(Some(caller)) => {
                if caller.role == KeyRole::Readonly && !is_safe(req.method()) {
                    ctrl.skip_rest();
                    return ApiError::new(
                        StatusCode::FORBIDDEN,
                        format!("key {:?} is read-only", caller.key),
                    )
                    .write(res);
                }
                depot.insert("caller", caller.key.clone());
                ctrl.call_next(req, depot, res).await;
            }
            Ok(None) => {
                ctrl.skip_rest();
                if api || for_metrics {
                    res.headers_mut().insert(
                        header::WWW_AUTHENTICATE,
                        HeaderValue::from_static("X-API-Key"),
                    );
                    ApiError::new(
                        StatusCode::UNAUTHORIZED,
                        "an API key is required (X-API-Key header, or log in)",
                    )
                    .write(res);
                } else {
                    res.render(Redirect::other("/login"));
                }
            }
            Err(e) => {
                ctrl.skip_rest();
                e.write(res);
            }
        }
    }
}
