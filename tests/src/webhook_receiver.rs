//! A webhook receiver on loopback for tests: records every request (headers and body) and
//! answers 200, or 503 while told to refuse.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use salvo::conn::tcp::TcpAcceptor;
use salvo::prelude::*;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub event_id: String,
    pub kind: String,
    pub signature: Option<String>,
    pub body: Vec<u8>,
    /// It answered 2xx (the delivery is done from the sender's side).
    pub accepted: bool,
    pub received_at: chrono::DateTime<chrono::Utc>,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    /// From the event (its `timestamp`) to its arrival here.
    pub fn latency(&self) -> chrono::Duration {
        let at = self.json()["timestamp"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .expect("a timestamp");
        self.received_at - at.with_timezone(&chrono::Utc)
    }
}

#[derive(Clone)]
struct Shared {
    refuse: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Received>>>,
}

#[salvo::async_trait]
impl Handler for Shared {
    async fn handle(
        &self,
        req: &mut Request,
        _depot: &mut Depot,
        res: &mut Response,
        _ctrl: &mut FlowCtrl,
    ) {
        let header = |name: &str| {
            req.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let (event_id, kind, signature) = (
            header("x-tributary-delivery").unwrap_or_default(),
            header("x-tributary-event").unwrap_or_default(),
            header("x-tributary-signature"),
        );
        let body = req.payload().await.map(|b| b.to_vec()).unwrap_or_default();
        let accepted = !self.refuse.load(Ordering::SeqCst);
        self.seen.lock().unwrap().push(Received {
            event_id,
            kind,
            signature,
            body,
            accepted,
            received_at: chrono::Utc::now(),
        });
        if !accepted {
            res.status_code(StatusCode::SERVICE_UNAVAILABLE);
        }
    }
}

pub struct WebhookReceiver {
    pub addr: SocketAddr,
    shared: Shared,
    handle: salvo::server::ServerHandle,
}

impl WebhookReceiver {
    pub async fn start() -> WebhookReceiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Shared {
            refuse: Arc::new(AtomicBool::new(false)),
            seen: Arc::new(Mutex::new(Vec::new())),
        };
        let server = Server::new(TcpAcceptor::try_from(listener).unwrap());
        let handle = server.handle();
        let router = Router::with_path("{**rest}").goal(shared.clone());
        tokio::spawn(server.serve(router));
        WebhookReceiver {
            addr,
            shared,
            handle,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Answer 503 (`true`) or 200 from now on.
    pub fn refuse(&self, refuse: bool) {
        self.shared.refuse.store(refuse, Ordering::SeqCst);
    }

    pub fn seen(&self) -> Vec<Received> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// The requests answered 2xx, one per event id (a redelivery is dropped, as a receiver
    /// deduplicating by id would).
    pub fn accepted_once_each(&self) -> Vec<Received> {
        let mut out: Vec<Received> = Vec::new();
        for r in self.seen().into_iter().filter(|r| r.accepted) {
            if !out.iter().any(|o| o.event_id == r.event_id) {
                out.push(r);
            }
        }
        out
    }

    pub fn stop(self) {
        self.handle.stop_forceful();
    }
}
