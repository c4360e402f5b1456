//! The demo's aria2 and qBittorrent: Debian's `aria2c` and `qbittorrent-nox`, started on
//! loopback ports with their own folders when they are installed, and stopped with the demo.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::config::{ProviderGrant, SettingValue};

/// qBittorrent 4.5's WebUI user and password until they are changed.
const QB_USER: &str = "admin";
const QB_PASSWORD: &str = "adminadmin";

/// A daemon the demo started; killed when dropped.
pub struct Daemon {
    child: Child,
    /// Its API's origin.
    pub url: String,
    /// Its torrent port (qBittorrent).
    pub peer_port: u16,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `program` is installed.
pub fn installed(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Waits until `child` listens on `port`, or says why not.
async fn until_listening(child: &mut Child, port: u16, name: &str) -> anyhow::Result<()> {
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(status) = child.try_wait()? {
            bail!("{name} exited at start ({status})");
        }
        if started.elapsed() > Duration::from_secs(20) {
            bail!("{name} did not listen on port {port} within 20 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

fn grant(url: &str, settings: &[(&str, &str)]) -> ProviderGrant {
    ProviderGrant {
        enabled: true,
        allowed_hosts: vec![url.to_owned()],
        settings: settings
            .iter()
            .map(|(k, v)| ((*k).to_owned(), SettingValue::Text((*v).to_owned())))
            .collect(),
        ..ProviderGrant::default()
    }
}

/// aria2c with RPC on loopback, saving into `dir`, and the aria2 plugin's grant for it.
pub async fn aria2(dir: &Path) -> anyhow::Result<(Daemon, ProviderGrant)> {
    std::fs::create_dir_all(dir)?;
    let port = free_port()?;
    let secret = uuid::Uuid::new_v4().simple().to_string();
    let mut child = Command::new("aria2c")
        .args([
            "--no-conf",
            "--enable-rpc",
            "--rpc-listen-all=false",
            &format!("--rpc-listen-port={port}"),
            &format!("--rpc-secret={secret}"),
            &format!("--dir={}", dir.display()),
            "--file-allocation=none",
            "--summary-interval=0",
            "--disable-ipv6=true",
            &format!("--stop-with-process={}", std::process::id()),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting aria2c")?;
    until_listening(&mut child, port, "aria2c").await?;
    let url = format!("http://127.0.0.1:{port}");
    let grant = grant(&url, &[("url", &url), ("secret", &secret)]);
    Ok((
        Daemon {
            child,
            url,
            peer_port: 0,
        },
        grant,
    ))
}

/// qbittorrent-nox with its own profile under `profile`, saving into `save`, DHT, PeX and LSD
/// off (the demo introduces its peers itself).
pub async fn qbittorrent(profile: &Path, save: &Path) -> anyhow::Result<Daemon> {
    let (web, peer_port) = (free_port()?, free_port()?);
    let config = profile.join("qBittorrent/config");
    std::fs::create_dir_all(&config)?;
    std::fs::write(
        config.join("qBittorrent.conf"),
        format!(
            "[LegalNotice]\nAccepted=true\n\n[BitTorrent]\nSession\\DHTEnabled=false\nSession\\PeXEnabled=false\nSession\\LSDEnabled=false\nSession\\Port={peer_port}\nSession\\Interface=lo\nSession\\DefaultSavePath={}\n\n[Preferences]\nWebUI\\Address=127.0.0.1\nWebUI\\Port={web}\nConnection\\PortRangeMin={peer_port}\n",
            save.display()
        ),
    )?;
    let mut child = Command::new("qbittorrent-nox")
        .arg(format!("--profile={}", profile.display()))
        .arg(format!("--webui-port={web}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting qbittorrent-nox")?;
    until_listening(&mut child, web, "qbittorrent-nox").await?;
    Ok(Daemon {
        child,
        url: format!("http://127.0.0.1:{web}"),
        peer_port,
    })
}

/// The qBittorrent plugin's grant for `daemon`.
pub fn qbittorrent_grant(daemon: &Daemon) -> ProviderGrant {
    grant(
        &daemon.url,
        &[
            ("url", &daemon.url),
            ("username", QB_USER),
            ("password", QB_PASSWORD),
        ],
    )
}

/// A logged-in WebUI client for one qBittorrent.
pub struct WebUi {
    http: reqwest::Client,
    url: String,
    sid: String,
}

impl WebUi {
    pub async fn login(daemon: &Daemon) -> anyhow::Result<WebUi> {
        // reqwest is built without a TLS provider of its own; installing it twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::new();
        let answer = http
            .post(format!("{}/api/v2/auth/login", daemon.url))
            .header("Referer", &daemon.url)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[("username", QB_USER), ("password", QB_PASSWORD)]))
            .send()
            .await?;
        let sid = answer
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|c| c.split(';').next()?.strip_prefix("SID="))
            .map(str::to_owned)
            .context("qBittorrent refused the demo's log-in")?;
        Ok(WebUi {
            http,
            url: daemon.url.clone(),
            sid,
        })
    }

    /// A WebUI call with a form body; its answer as text.
    pub async fn call(&self, path: &str, fields: &[(&str, &str)]) -> anyhow::Result<String> {
        let answer = self
            .http
            .post(format!("{}/api/v2/{path}", self.url))
            .header("Referer", &self.url)
            .header("Cookie", format!("SID={}", self.sid))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(fields))
            .send()
            .await?
            .error_for_status()?;
        Ok(answer.text().await?)
    }
}

fn form(fields: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}
