//! A started emulator with an HTTP client, and waiting on conditions with a deadline.

use std::future::Future;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use slskd_emulator::{Emulator, EmulatorConfig};

pub struct Slskd {
    pub emulator: Emulator,
    client: reqwest::Client,
    key: String,
}

/// An answer: status, and the body as JSON (`Null` when empty).
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
    pub raw: String,
}

impl Slskd {
    pub async fn start(config: EmulatorConfig) -> Slskd {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let key = config.api_key.clone().expect("tests use a key");
        let emulator = Emulator::start(config).await.expect("emulator starts");
        Slskd {
            emulator,
            client: reqwest::Client::builder().build().expect("client"),
            key,
        }
    }

    /// The default emulator sped up `speed` times.
    pub async fn fast(speed: f64) -> Slskd {
        Slskd::start(EmulatorConfig {
            speed_factor: speed,
            ..EmulatorConfig::default()
        })
        .await
    }

    pub async fn send(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        let url = format!("{}/api/v0/{}", self.emulator.url(), path);
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self
            .client
            .request(method, url)
            .header("X-API-Key", &self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let raw = response.text().await.expect("body");
        let body = if raw.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&raw).unwrap_or(Value::Null)
        };
        Answer { status, body, raw }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send("GET", path, None).await
    }

    /// Starts a search and returns its id.
    pub async fn search(&self, body: Value) -> String {
        let answer = self.send("POST", "searches", Some(body)).await;
        assert_eq!(answer.status, StatusCode::OK, "search starts: {answer:?}");
        answer.body["id"].as_str().expect("id").to_owned()
    }

    pub async fn search_state(&self, id: &str) -> Value {
        let answer = self.get(&format!("searches/{id}")).await;
        assert_eq!(answer.status, StatusCode::OK, "search {id}: {answer:?}");
        answer.body
    }

    /// Waits until the search is complete; returns it.
    pub async fn completed_search(&self, id: &str, within: Duration) -> Value {
        wait_for(within, "the search to complete", || async {
            let search = self.search_state(id).await;
            search["isComplete"]
                .as_bool()
                .unwrap_or(false)
                .then_some(search)
        })
        .await
    }

    /// Enqueues files of `user`; returns the answer.
    pub async fn enqueue(&self, user: &str, files: &[(&str, i64)]) -> Answer {
        let body: Vec<Value> = files
            .iter()
            .map(|(filename, size)| json!({"filename": filename, "size": size}))
            .collect();
        self.send(
            "POST",
            &format!("transfers/downloads/{user}"),
            Some(Value::Array(body)),
        )
        .await
    }

    /// Enqueues one file and returns the new transfer's id.
    pub async fn enqueue_one(&self, user: &str, filename: &str, size: i64) -> String {
        let answer = self.enqueue(user, &[(filename, size)]).await;
        assert_eq!(answer.status, StatusCode::CREATED, "enqueue: {answer:?}");
        answer.body["enqueued"][0]["id"]
            .as_str()
            .expect("enqueued id")
            .to_owned()
    }

    pub async fn transfer(&self, user: &str, id: &str) -> Value {
        let answer = self.get(&format!("transfers/downloads/{user}/{id}")).await;
        assert_eq!(answer.status, StatusCode::OK, "transfer {id}: {answer:?}");
        answer.body
    }

    /// Waits until the transfer's state is `state`; returns it.
    pub async fn transfer_in(&self, user: &str, id: &str, state: &str, within: Duration) -> Value {
        wait_for(within, &format!("transfer {id} to be {state}"), || async {
            let t = self.transfer(user, id).await;
            (t["state"] == state).then_some(t)
        })
        .await
    }

    /// Every transfer in `GET /transfers/downloads` (flattened), with `query` appended.
    pub async fn listed(&self, query: &str) -> Vec<Value> {
        let answer = self.get(&format!("transfers/downloads{query}")).await;
        assert_eq!(answer.status, StatusCode::OK);
        answer
            .body
            .as_array()
            .expect("users")
            .iter()
            .flat_map(|u| u["directories"].as_array().cloned().unwrap_or_default())
            .flat_map(|d| d["files"].as_array().cloned().unwrap_or_default())
            .collect()
    }

    /// Whether the emulator considers the transfer settled for good.
    pub fn is_final(&self, id: &str) -> bool {
        let mut world = self.emulator.control().world();
        world.advance(Instant::now());
        world
            .transfers
            .iter()
            .find(|t| t.id.to_string() == id)
            .is_some_and(|t| t.is_final())
    }
}

/// Polls `check` every 10 ms until it yields, or panics after `within`.
pub async fn wait_for<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            started.elapsed() < within,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A filename in a peer's share.
pub fn file(n: u32) -> String {
    format!("@@share\\Music\\Artist\\Album\\{n:02} - Track.flac")
}

/// Seconds between two of slskd's UTC timestamps.
pub fn seconds_between(from: &Value, to: &Value) -> f64 {
    let parse = |v: &Value| {
        chrono::DateTime::parse_from_rfc3339(v.as_str().expect("timestamp")).expect("RFC 3339")
    };
    (parse(to) - parse(from)).as_seconds_f64()
}
