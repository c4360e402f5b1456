//! The live views of a big queue: update events bounded to a window, the delta stream and its
//! reconnects, `/active` pages from one shared answer, and the queue partial's "show more".
//! The queue is paused throughout, so what waits stays waiting and the window is known.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use tributary_tests::{TestApp, fast_emulator};

const M: &str = "/api/downloads/manager";

async fn paused_app(emulator: &slskd_emulator::Emulator) -> TestApp {
    let app = TestApp::start(emulator).await;
    let (status, _) = app
        .send_json(Method::POST, "/api/downloads/pause", json!(null))
        .await;
    assert_eq!(status, 200);
    app
}

async fn create(app: &TestApp, n: usize) -> String {
    let body = app.create("Window", &format!("Track {n:03}")).await;
    body["id"].as_str().unwrap().to_owned()
}

async fn act(app: &TestApp, id: &str, action: &str) {
    let (status, body) = app.act(id, action).await;
    assert_eq!(status, 200, "{action} {id}: {body}");
}

async fn active_ids(app: &TestApp, query: &str) -> (Vec<String>, Value) {
    let (status, body) = app.get_json(&format!("{M}/active{query}")).await;
    assert_eq!(status, 200, "{body}");
    let ids = ids_of(&body["downloads"]);
    (ids, body)
}

fn ids_of(rows: &Value) -> Vec<String> {
    rows.as_array()
        .expect("an array of downloads")
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_owned())
        .collect()
}

struct Event {
    id: u64,
    name: String,
    data: Value,
}

/// An open event stream, read event by event (comments skipped).
struct Stream {
    res: reqwest::Response,
    buffer: String,
}

impl Stream {
    async fn open(app: &TestApp, query: &str, last_event_id: Option<u64>) -> Stream {
        let mut req = app.client.get(app.url(&format!("{M}/events{query}")));
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id.to_string());
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 200);
        Stream {
            res,
            buffer: String::new(),
        }
    }

    async fn next(&mut self) -> Event {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let raw: String = self.buffer.drain(..end + 2).collect();
                if raw.starts_with(':') {
                    continue;
                }
                let field = |name: &str| {
                    raw.lines()
                        .find_map(|l| l.strip_prefix(name))
                        .unwrap_or_else(|| panic!("no {name} in {raw}"))
                        .to_owned()
                };
                return Event {
                    id: field("id: ").parse().unwrap(),
                    name: field("event: "),
                    data: serde_json::from_str(&field("data: ")).unwrap(),
                };
            }
            let chunk = tokio::time::timeout(Duration::from_secs(5), self.res.chunk())
                .await
                .expect("an event in time")
                .unwrap()
                .expect("the stream stays open");
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// Reads events until one satisfies `done`; returns it.
    async fn until(&mut self, what: &str, done: impl Fn(&Event) -> bool) -> Event {
        for _ in 0..20 {
            let event = self.next().await;
            if done(&event) {
                return event;
            }
        }
        panic!("no event with {what} in 20 events");
    }
}

fn removed(event: &Event) -> Vec<String> {
    event.data["removed"]
        .as_array()
        .map(|a| a.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn update_events_carry_what_moves_and_the_first_waiting_within_the_limit() {
    let emulator = fast_emulator().await;
    let app = paused_app(&emulator).await;
    let mut ids = Vec::new();
    for n in 0..12 {
        ids.push(create(&app, n).await);
    }
    // Paused downloads are in motion for the window: always shown, after the waiting ones.
    act(&app, &ids[3], "pause").await;
    act(&app, &ids[7], "pause").await;
    let (all, _) = active_ids(&app, "").await;
    assert_eq!(all.len(), 12);

    let mut stream = Stream::open(&app, "?limit=5", None).await;
    let first = stream.next().await;
    assert_eq!(first.name, "update");
    let shown = ids_of(&first.data["downloads"]);
    let expected: Vec<String> = all[..3].iter().chain(&all[10..]).cloned().collect();
    assert_eq!(
        shown, expected,
        "the first 3 waiting, then both paused ones"
    );
    assert_eq!(first.data["stats"]["total_active"], 12, "stats count all");
    assert_eq!(first.data["stats"]["waiting"], 10);

    let mut unbounded = Stream::open(&app, "", None).await;
    let every = unbounded.next().await;
    assert_eq!(
        ids_of(&every.data["downloads"]),
        all,
        "the default limit (500) holds them all"
    );
    drop((stream, unbounded));
    app.shutdown().await;
    emulator.shutdown().await;
}

#[tokio::test]
async fn refused_stream_and_list_parameters_are_clear_400s() {
    let emulator = fast_emulator().await;
    let app = paused_app(&emulator).await;
    for query in [
        "/events?limit=0",
        "/events?limit=5001",
        "/events?limit=ten",
        "/events?mode=full",
        "/active?limit=0",
        "/active?offset=-1",
        "/active?limit=1.5",
        "/center/htmx/queue?show=0",
        "/center/htmx/queue?show=5001",
    ] {
        // The status first: an event stream opened by mistake would never end its body.
        let res = app
            .client
            .get(app.url(&format!("{M}{query}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 400, "{query}");
        let body: Value = res.json().await.unwrap();
        assert!(body["error"].is_string(), "{query}: {body}");
    }
    let res = app
        .client
        .get(app.url(&format!("{M}/events?mode=delta")))
        .header("last-event-id", "yesterday")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);

    // Each distinct limit is a build per change: only so many at once.
    let mut open = Vec::new();
    for limit in 1..=16 {
        open.push(Stream::open(&app, &format!("?limit={limit}"), None).await);
    }
    let res = app
        .client
        .get(app.url(&format!("{M}/events?limit=17")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 429);
    let body: Value = res.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("limits"), "{body}");
    let mut shared = Stream::open(&app, "?limit=16", None).await;
    assert_eq!(
        shared.next().await.name,
        "update",
        "a limit in use is still served"
    );
    drop(open);
    app.shutdown().await;
    emulator.shutdown().await;
}

#[tokio::test]
async fn the_delta_stream_sends_what_changed_and_catches_up_after_a_reconnect() {
    let emulator = fast_emulator().await;
    let app = paused_app(&emulator).await;
    let mut ids = Vec::new();
    for n in 0..8 {
        ids.push(create(&app, n).await);
    }
    let (all, _) = active_ids(&app, "").await;

    let mut stream = Stream::open(&app, "?limit=4&mode=delta", None).await;
    let snapshot = stream.next().await;
    assert_eq!(snapshot.name, "snapshot");
    assert_eq!(ids_of(&snapshot.data["downloads"]), all[..4]);

    // all[1] leaves: the delta removes it, and all[4] enters the window.
    act(&app, &all[1], "cancel").await;
    let delta = stream
        .until("all[1] removed", |e| removed(e).contains(&all[1]))
        .await;
    assert_eq!(delta.name, "delta");
    assert!(delta.id > snapshot.id, "event ids increase");
    let changed = ids_of(&delta.data["changed"]);
    assert_eq!(changed, vec![all[4].clone()], "only the row that entered");
    assert_eq!(delta.data["stats"]["total_active"], 7);

    // A heartbeat with nothing new: an empty delta with the stats.
    let quiet = stream.next().await;
    assert_eq!(quiet.name, "delta");
    assert!(quiet.id > delta.id);
    assert_eq!(quiet.data["changed"], json!([]));
    assert_eq!(quiet.data["removed"], json!([]));
    let seen = quiet.id;
    drop(stream);

    // Missed while away: a reconnect with Last-Event-ID gets the deltas, not a snapshot.
    act(&app, &all[2], "cancel").await;
    let mut back = Stream::open(&app, "?limit=4&mode=delta", Some(seen)).await;
    let caught_up = back.next().await;
    assert_eq!(caught_up.name, "delta", "{}", caught_up.data);
    assert!(removed(&caught_up).contains(&all[2]), "{}", caught_up.data);
    assert_eq!(ids_of(&caught_up.data["changed"]), vec![all[5].clone()]);
    drop(back);

    // An id the server no longer keeps (or never sent): a fresh snapshot.
    let mut lost = Stream::open(&app, "?limit=4&mode=delta", Some(seen + 1_000_000)).await;
    let fresh = lost.next().await;
    assert_eq!(fresh.name, "snapshot");
    assert_eq!(
        ids_of(&fresh.data["downloads"]),
        vec![
            all[0].clone(),
            all[3].clone(),
            all[4].clone(),
            all[5].clone()
        ]
    );
    drop(lost);
    app.shutdown().await;
    emulator.shutdown().await;
}

#[tokio::test]
async fn active_pages_slice_one_list_and_a_writer_reads_its_write() {
    let emulator = fast_emulator().await;
    let app = paused_app(&emulator).await;
    for n in 0..7 {
        create(&app, n).await;
    }
    let (all, full) = active_ids(&app, "").await;
    assert_eq!(all.len(), 7);
    let (page, body) = active_ids(&app, "?limit=3&offset=2").await;
    assert_eq!(page, all[2..5]);
    assert_eq!(body["stats"], full["stats"], "stats count the whole queue");
    assert!(body["providers_available"].is_array());
    assert_eq!(active_ids(&app, "?offset=6&limit=5").await.0, all[6..]);
    assert_eq!(
        active_ids(&app, "?offset=100").await.0,
        Vec::<String>::new()
    );
    assert_eq!(active_ids(&app, "?limit=2").await.0, all[..2]);

    // The answer is shared until the queue changes; a change shows at once.
    for n in 7..27 {
        let id = create(&app, n).await;
        let (now, _) = active_ids(&app, "").await;
        assert!(now.contains(&id), "a create is seen by the next read");
        act(&app, &id, "pause").await;
        let (_, body) = app.get_json(&format!("/api/downloads/{id}")).await;
        assert_eq!(body["status"], "paused");
        let (after, body) = active_ids(&app, "").await;
        let row = &body["downloads"][after.iter().position(|i| *i == id).unwrap()];
        assert_eq!(row["status"], "paused", "a pause is seen by the next read");
    }
    app.shutdown().await;
    emulator.shutdown().await;
}

#[tokio::test]
async fn the_queue_shows_more_rows_on_request_and_counts_them_all() {
    let emulator = fast_emulator().await;
    let app = paused_app(&emulator).await;
    for n in 0..205 {
        create(&app, n).await;
    }
    let rows = |page: &str| page.matches("id=\"dl-").count();
    let queue = app.get_text(&format!("{M}/center/htmx/queue")).await;
    assert_eq!(rows(&queue), 200);
    assert!(queue.contains("205 active"), "{queue}");
    assert!(
        queue.contains("id=\"show-more\"") && queue.contains("queue?show=400\""),
        "a show-more button: {}",
        &queue[queue.find("show-more").unwrap_or(0)..]
    );
    assert!(queue.contains("Show 5 more"));
    let more = app
        .get_text(&format!("{M}/center/htmx/queue?show=400"))
        .await;
    assert_eq!(rows(&more), 205);
    assert!(!more.contains("id=\"show-more\""), "nothing more to show");
    assert!(
        more.contains("queue?show=400\" hx-trigger=\"rows-stale\""),
        "live refreshes keep the rows shown"
    );
    let filtered = app
        .get_text(&format!("{M}/center/htmx/queue?status=waiting&show=201"))
        .await;
    assert_eq!(rows(&filtered), 201);
    assert!(filtered.contains("205 of 205 active match"));
    assert!(
        filtered.contains("queue?show=401&amp;status=waiting\" hx-target"),
        "{filtered}"
    );
    app.shutdown().await;
    emulator.shutdown().await;
}
