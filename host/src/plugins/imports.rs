//! The host imports a plugin may call: `http`, `config`, `log`, `clock`, in the host's own
//! terms. Each WIT version's bindings module adapts its generated traits to these.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;

use super::sandbox::CallState;

/// Longest log line a plugin may write; the rest is cut.
const MAX_LOG_LINE: usize = 4096;
const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"];

/// One outbound request, as every WIT version's `http.request` carries it.
pub struct HttpRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    pub timeout_ms: Option<u32>,
}

pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Why a request got no response (every WIT version's `http-error`).
pub enum HttpError {
    Denied(String),
    InvalidRequest(String),
    Unreachable(String),
    TimedOut(String),
    TooLarge(u64),
}

pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// `http.send`: checked against the plugin's egress policy, bounded in time and size.
pub async fn send(
    state: &mut CallState,
    req: HttpRequest,
) -> wasmtime::Result<Result<HttpResponse, HttpError>> {
    use HttpError as E;
    let ctx = state.context.clone();
    let url = match ctx.egress.check(&req.url) {
        Ok(url) => url,
        Err(e) => {
            tracing::warn!(plugin = %ctx.id, "refused outbound request: {e}");
            // The call's outcome is then our configuration's doing, whatever the plugin
            // makes of this answer.
            if let Some(fix) = ctx.egress.config_fix(&ctx.id, &req.url) {
                state.denied.get_or_insert(fix);
            }
            return Ok(Err(E::Denied(e.to_string())));
        }
    };
    let deadline = tokio::time::Instant::from_std(state.deadline);
    if !METHODS.contains(&req.method.as_str()) {
        return Ok(Err(E::InvalidRequest(format!(
            "method {:?} is not allowed",
            req.method
        ))));
    }
    let method = reqwest::Method::from_bytes(req.method.as_bytes())
        .map_err(|e| wasmtime::Error::msg(format!("method checked above: {e}")))?;
    // Never wait past the call's own deadline, nor past the operator's HTTP timeout.
    let asked = req
        .timeout_ms
        .map_or(Duration::MAX, |ms| Duration::from_millis(u64::from(ms)));
    let timeout = asked.min(ctx.limits.http_timeout).min(state.remaining());
    if timeout.is_zero() {
        return Ok(Err(E::TimedOut("the call's deadline has passed".into())));
    }
    let host = url.host_str().map(str::to_owned);
    let mut builder = ctx.http.request(method, url).timeout(timeout);
    for (name, value) in &req.headers {
        let name = match reqwest::header::HeaderName::from_bytes(name.as_bytes()) {
            Ok(n) if n != reqwest::header::HOST => n,
            _ => {
                return Ok(Err(E::InvalidRequest(format!(
                    "header name {name:?} is not allowed"
                ))));
            }
        };
        let Ok(value) = reqwest::header::HeaderValue::from_str(value) else {
            return Ok(Err(E::InvalidRequest(format!(
                "header {name} has an invalid value"
            ))));
        };
        builder = builder.header(name, value);
    }
    if let Some(body) = req.body {
        builder = builder.body(body);
    }
    let Ok(_slot) = ctx.http_slots.acquire().await else {
        return Ok(Err(E::Unreachable("the plugin is shutting down".into())));
    };
    let response = match tokio::time::timeout(timeout, builder.send()).await {
        Err(_) => {
            return Ok(Err(E::TimedOut(format!("no answer within {timeout:?}"))));
        }
        Ok(Err(e)) => {
            if e.is_connect()
                && let Some(host) = &host
            {
                // The service may have moved (a container back with a new address).
                ctx.resolver.mark_stale(host);
            }
            return Ok(Err(classify_reqwest(&e)));
        }
        Ok(Ok(r)) => r,
    };
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect();
    let cap = ctx.limits.max_response_bytes;
    if response.content_length().is_some_and(|len| len > cap) {
        return Ok(Err(E::TooLarge(cap)));
    }
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    let read = tokio::time::timeout_at(deadline, async {
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| classify_reqwest(&e))?;
            if body.len() as u64 + chunk.len() as u64 > cap {
                return Err(E::TooLarge(cap));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(())
    })
    .await;
    match read {
        Err(_) => Ok(Err(E::TimedOut(
            "the response body did not arrive in time".into(),
        ))),
        Ok(Err(e)) => Ok(Err(e)),
        Ok(Ok(())) => Ok(Ok(HttpResponse {
            status,
            headers,
            body,
        })),
    }
}

fn classify_reqwest(e: &reqwest::Error) -> HttpError {
    let text = error_chain(e);
    if e.is_timeout() {
        HttpError::TimedOut(text)
    } else if e.is_builder() {
        HttpError::InvalidRequest(text)
    } else {
        HttpError::Unreachable(text)
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// `config.get`: the plugin's own declared keys only.
pub fn config_get(state: &CallState, key: &str) -> Option<String> {
    state.context.config.get(key).cloned()
}

/// `log.log`: into the host's tracing, tagged with the plugin id, secrets redacted.
pub fn log(state: &CallState, level: LogLevel, message: &str) {
    let line = sanitize_log_line(message, &state.context.secrets);
    let plugin = state.context.id.as_str();
    match level {
        LogLevel::Trace => tracing::trace!(plugin, "{line}"),
        LogLevel::Debug => tracing::debug!(plugin, "{line}"),
        LogLevel::Info => tracing::info!(plugin, "{line}"),
        LogLevel::Warn => tracing::warn!(plugin, "{line}"),
        LogLevel::Error => tracing::error!(plugin, "{line}"),
    }
}

/// `clock.now-ms`.
pub fn now_ms() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

/// One printable line: secrets redacted, control characters escaped, length capped.
pub fn sanitize_log_line(message: &str, secrets: &[String]) -> String {
    let mut text = message.to_owned();
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        text = text.replace(secret.as_str(), "[redacted]");
    }
    let mut line = String::with_capacity(text.len().min(MAX_LOG_LINE));
    for c in text.chars() {
        if line.len() >= MAX_LOG_LINE {
            line.push('…');
            break;
        }
        if c.is_control() {
            line.extend(c.escape_default());
        } else {
            line.push(c);
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_are_redacted_escaped_and_capped() {
        let secrets = vec!["hunter2".to_owned(), String::new()];
        assert_eq!(
            sanitize_log_line("key=hunter2\nnext", &secrets),
            "key=[redacted]\\nnext"
        );
        let long = "x".repeat(10_000);
        assert!(sanitize_log_line(&long, &secrets).chars().count() <= MAX_LOG_LINE + 1);
    }
}
