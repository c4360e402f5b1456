//! A hostile stand-in for the service a plugin talks to: a raw HTTP/1.1 server on loopback that
//! answers every request with one misbehaviour at a time (so the kit controls each byte,
//! including resets that no HTTP framework would send).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One way of failing a plugin's request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misbehaviour {
    ServerError,
    InvalidJson,
    /// A body past the host's response cap.
    HugeBody,
    /// An answer later than the plugin's HTTP timeout.
    Slow,
    /// An HTML page where JSON was expected.
    WrongContentType,
    /// A redirect elsewhere (the host never follows one).
    Redirect,
    /// The connection is reset before any answer.
    Reset,
}

impl Misbehaviour {
    pub const ALL: [Misbehaviour; 7] = [
        Misbehaviour::ServerError,
        Misbehaviour::InvalidJson,
        Misbehaviour::HugeBody,
        Misbehaviour::Slow,
        Misbehaviour::WrongContentType,
        Misbehaviour::Redirect,
        Misbehaviour::Reset,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Misbehaviour::ServerError => "500 errors",
            Misbehaviour::InvalidJson => "invalid JSON",
            Misbehaviour::HugeBody => "a huge body",
            Misbehaviour::Slow => "a slow answer",
            Misbehaviour::WrongContentType => "a wrong content type",
            Misbehaviour::Redirect => "a redirect",
            Misbehaviour::Reset => "a connection reset",
        }
    }
}

pub struct StandIn {
    pub url: String,
    behaviour: Arc<AtomicUsize>,
    requests: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

/// What the stand-in needs to know of the limits the plugin runs under.
#[derive(Debug, Clone, Copy)]
pub struct StandInLimits {
    pub slow_by: Duration,
    pub huge_bytes: usize,
}

impl StandIn {
    pub async fn start(limits: StandInLimits) -> std::io::Result<StandIn> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let behaviour = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicU64::new(0));
        let task = {
            let behaviour = behaviour.clone();
            let requests = requests.clone();
            tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let now = Misbehaviour::ALL[behaviour.load(Ordering::SeqCst)];
                    let requests = requests.clone();
                    tokio::spawn(async move {
                        let _ = answer(stream, now, limits, &requests).await;
                    });
                }
            })
        };
        Ok(StandIn {
            url,
            behaviour,
            requests,
            task,
        })
    }

    pub fn set(&self, misbehaviour: Misbehaviour) {
        let index = Misbehaviour::ALL
            .iter()
            .position(|m| *m == misbehaviour)
            .unwrap_or(0);
        self.behaviour.store(index, Ordering::SeqCst);
    }

    /// Requests received so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(
    mut stream: TcpStream,
    misbehaviour: Misbehaviour,
    limits: StandInLimits,
    requests: &AtomicU64,
) -> std::io::Result<()> {
    read_request_head(&mut stream).await?;
    requests.fetch_add(1, Ordering::SeqCst);
    let (status, content_type, body): (&str, &str, Vec<u8>) = match misbehaviour {
        Misbehaviour::ServerError => (
            "500 Internal Server Error",
            "application/json",
            br#"{"error":"stand-in failure"}"#.to_vec(),
        ),
        Misbehaviour::InvalidJson => (
            "200 OK",
            "application/json",
            br#"{"id": "abc", "state": [1, 2,"#.to_vec(),
        ),
        Misbehaviour::HugeBody => {
            let mut body = b"[".to_vec();
            while body.len() < limits.huge_bytes {
                body.extend_from_slice(br#"{"id":"x","filename":"y","size":1},"#);
            }
            body.extend_from_slice(b"{}]");
            ("200 OK", "application/json", body)
        }
        Misbehaviour::Slow => {
            tokio::time::sleep(limits.slow_by).await;
            ("200 OK", "application/json", b"[]".to_vec())
        }
        Misbehaviour::WrongContentType => (
            "200 OK",
            "text/html",
            b"<!doctype html><title>Login</title><p>Please sign in".to_vec(),
        ),
        Misbehaviour::Redirect => {
            let head = "HTTP/1.1 302 Found\r\nlocation: http://192.0.2.1/elsewhere\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
            return stream.write_all(head.as_bytes()).await;
        }
        Misbehaviour::Reset => {
            // Linger 0: close() sends RST instead of FIN.
            stream.set_zero_linger()?;
            drop(stream);
            return Ok(());
        }
    };
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(&body).await?;
    stream.shutdown().await
}

/// Reads the request: its head and the body its content-length announces (ignored, but read:
/// closing a socket with unread data would reset it, and only `Reset` should).
async fn read_request_head(stream: &mut TcpStream) -> std::io::Result<()> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut buf).await?;
        if n == 0 || seen.len() > 64 * 1024 {
            return Ok(());
        }
        seen.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&seen[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body = seen.len() - head_end;
    while body < length.min(1 << 20) {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        body += n;
    }
    Ok(())
}
