//! A logged-in WebUI session. qBittorrent answers every API call with 403 until `auth/login`
//! has set the `SID` cookie, and refuses requests whose `Referer`/`Origin` is not its own
//! origin (its CSRF check). A plugin keeps nothing between calls, so each call logs in first.

use tributary_plugin_sdk::http::{Client, Request};
use tributary_plugin_sdk::{ProviderError, config};

pub struct Session {
    client: Client,
    sid: String,
    /// The WebUI API version, e.g. (2, 8, 19).
    pub api: (u32, u32, u32),
}

/// "2.8.19" → (2, 8, 19); missing parts are 0.
fn parse_version(text: &str) -> (u32, u32, u32) {
    let mut parts = text.trim().split('.').map(|p| p.parse().unwrap_or(0));
    let mut next = || parts.next().unwrap_or(0);
    (next(), next(), next())
}

/// The WebUI's client, with the origin headers its CSRF check wants.
fn client() -> Result<Client, ProviderError> {
    let url = config::require("url")?;
    let origin = url.trim_end_matches('/').to_owned();
    Ok(Client::new(origin.clone())
        .header("Referer", &origin)
        .header("Origin", &origin))
}

impl Session {
    pub fn open() -> Result<Session, ProviderError> {
        let client = client()?;
        let user = config::get("username").unwrap_or_else(|| "admin".into());
        let password = config::get("password").unwrap_or_default();
        let answer = client
            .post("/api/v2/auth/login")
            .form(&[("username", user.as_str()), ("password", password.as_str())])
            .map_status(|status, _| {
                (status == 403).then(|| {
                    ProviderError::Unauthorized(
                        "qBittorrent has banned this address after failed log-ins".into(),
                    )
                })
            })
            .send()?;
        // A refused log-in is "Fails." with 200 and no cookie.
        let sid = answer.cookie("SID").ok_or_else(|| {
            ProviderError::Unauthorized(format!(
                "qBittorrent refused the log-in of {user:?} (check username and password)"
            ))
        })?;
        Session::with(client, sid)
    }

    /// The session of an earlier call, by its `SID`: qBittorrent keeps a search with the
    /// session that started it.
    pub fn resume(sid: String) -> Result<Session, ProviderError> {
        Session::with(client()?, sid)
    }

    fn with(client: Client, sid: String) -> Result<Session, ProviderError> {
        let version = client
            .get("/api/v2/app/webapiVersion")
            .cookie("SID", &sid)
            .map_status(|status, _| {
                (status == 403).then(|| {
                    ProviderError::Unauthorized("the qBittorrent session has expired".into())
                })
            })
            .send()?
            .text();
        Ok(Session {
            client,
            sid,
            api: parse_version(&version),
        })
    }

    /// The session's `SID` cookie.
    pub fn sid(&self) -> &str {
        &self.sid
    }

    pub fn get<'a>(&self, path: &str) -> Request<'a> {
        self.client.get(path).cookie("SID", &self.sid)
    }

    pub fn post<'a>(&self, path: &str) -> Request<'a> {
        self.client.post(path).cookie("SID", &self.sid)
    }

    /// The calls that hold and continue torrents: API 2.11 (qBittorrent 5) renamed `pause` and
    /// `resume` to `stop` and `start`.
    pub fn hold_calls(&self) -> (&'static str, &'static str) {
        if self.api >= (2, 11, 0) {
            ("/api/v2/torrents/stop", "/api/v2/torrents/start")
        } else {
            ("/api/v2/torrents/pause", "/api/v2/torrents/resume")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_version;

    #[test]
    fn versions_compare_by_number() {
        assert_eq!(parse_version("2.8.19\n"), (2, 8, 19));
        assert!(parse_version("2.11.2") >= (2, 11, 0));
        assert!(parse_version("2.9") < (2, 11, 0));
        assert_eq!(parse_version("x"), (0, 0, 0));
    }
}
