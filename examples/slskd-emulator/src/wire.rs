//! The emulated world as slskd writes it: camelCase, null keys left out, `requestedAt` and
//! `enqueuedAt` without a zone, `startedAt`/`endedAt` with `Z`, TimeSpans as `hh:mm:ss.fffffff`.

use chrono::{DateTime, Timelike, Utc};
use serde_json::{Map, Value, json};

use std::time::Duration;

use crate::search::{Found, SearchView};
use crate::transfer::SimTransfer;

/// `2026-08-22T18:04:11.5120346`: seven fractional digits, trailing zeros trimmed.
fn local_timestamp(t: DateTime<Utc>) -> String {
    let base = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let fraction = format!("{:07}", t.nanosecond() / 100);
    let fraction = fraction.trim_end_matches('0');
    if fraction.is_empty() {
        base
    } else {
        format!("{base}.{fraction}")
    }
}

fn utc_timestamp(t: DateTime<Utc>) -> String {
    format!("{}Z", local_timestamp(t))
}

/// .NET "c" TimeSpan: `[d.]hh:mm:ss[.fffffff]`, the fraction dropped when zero.
pub fn timespan(seconds: f64) -> String {
    let ticks = (seconds.max(0.0) * 10_000_000.0).round() as u64;
    let (whole, fraction) = (ticks / 10_000_000, ticks % 10_000_000);
    let (days, rest) = (whole / 86_400, whole % 86_400);
    let clock = format!(
        "{:02}:{:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    );
    let clock = if days > 0 {
        format!("{days}.{clock}")
    } else {
        clock
    };
    if fraction == 0 {
        clock
    } else {
        format!("{clock}.{fraction:07}")
    }
}

fn put(map: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(v) = value {
        map.insert(key.to_owned(), v);
    }
}

/// `state` is what the transfer reports (its own state, unless disguised);
/// `requested_at_with_zone`: the enqueue answer holds in-memory values, which do carry `Z`.
pub fn transfer(t: &SimTransfer, state: &str, requested_at_with_zone: bool) -> Value {
    let now = Utc::now();
    let bytes = t.bytes.floor() as i64;
    let remaining = t.size - bytes;
    let mut m = Map::new();
    m.insert("id".into(), json!(t.id));
    m.insert("username".into(), json!(t.username));
    m.insert("direction".into(), json!("Download"));
    m.insert("filename".into(), json!(t.filename));
    m.insert("size".into(), json!(t.size));
    m.insert("state".into(), json!(state));
    let requested = if requested_at_with_zone {
        utc_timestamp(t.requested_at)
    } else {
        local_timestamp(t.requested_at)
    };
    m.insert("requestedAt".into(), json!(requested));
    put(
        &mut m,
        "enqueuedAt",
        t.enqueued_at.map(|e| json!(local_timestamp(e))),
    );
    put(
        &mut m,
        "startedAt",
        t.started_at.map(|s| json!(utc_timestamp(s))),
    );
    put(
        &mut m,
        "endedAt",
        t.ended_at.map(|e| json!(utc_timestamp(e))),
    );
    m.insert("bytesTransferred".into(), json!(bytes));
    m.insert("averageSpeed".into(), json!(t.average_speed));
    put(&mut m, "placeInQueue", t.place_in_queue.map(|p| json!(p)));
    put(&mut m, "exception", t.exception.as_ref().map(|e| json!(e)));
    m.insert("attempts".into(), json!(t.attempts));
    m.insert("removed".into(), json!(t.removed));
    m.insert("bytesRemaining".into(), json!(remaining));
    if let Some(started) = t.started_at {
        let end = t.ended_at.unwrap_or(now);
        m.insert(
            "elapsedTime".into(),
            json!(timespan((end - started).as_seconds_f64())),
        );
    }
    let percent = if t.size > 0 {
        bytes as f64 / t.size as f64 * 100.0
    } else {
        0.0
    };
    m.insert("percentComplete".into(), json!(percent));
    if t.average_speed > 0.0 {
        m.insert(
            "remainingTime".into(),
            json!(timespan(remaining.max(0) as f64 / t.average_speed)),
        );
    }
    Value::Object(m)
}

/// One directory's files, in insertion order.
type Directory = (String, Vec<Value>);

/// `GET /transfers/downloads`: grouped by user, then by directory, in insertion order.
pub fn grouped<'a>(
    transfers: impl Iterator<Item = &'a SimTransfer>,
    state: impl Fn(&'a SimTransfer) -> &'a str,
) -> Vec<Value> {
    let mut users: Vec<(String, Vec<Directory>)> = Vec::new();
    for t in transfers {
        let separator = if t.filename.contains('/') { '/' } else { '\\' };
        let directory = t
            .filename
            .rsplit_once(separator)
            .map_or("", |(d, _)| d)
            .to_owned();
        let user = match users.iter().position(|(u, _)| *u == t.username) {
            Some(i) => &mut users[i].1,
            None => {
                users.push((t.username.clone(), Vec::new()));
                &mut users.last_mut().expect("just pushed").1
            }
        };
        let file = transfer(t, state(t), false);
        match user.iter_mut().find(|(d, _)| *d == directory) {
            Some((_, files)) => files.push(file),
            None => user.push((directory, vec![file])),
        }
    }
    users
        .into_iter()
        .map(|(username, dirs)| user_response(&username, dirs))
        .collect()
}

pub fn user_response(username: &str, dirs: Vec<Directory>) -> Value {
    let directories: Vec<Value> = dirs
        .into_iter()
        .map(|(directory, files)| json!({"directory": directory, "fileCount": files.len(), "files": files}))
        .collect();
    json!({"username": username, "directories": directories})
}

pub fn search(view: &SearchView<'_>, include_responses: bool) -> Value {
    let s = view.search;
    let mut m = Map::new();
    put(
        &mut m,
        "endedAt",
        view.ended_at.map(|e| json!(utc_timestamp(e))),
    );
    m.insert("fileCount".into(), json!(view.file_count));
    m.insert("id".into(), json!(s.id));
    m.insert("isComplete".into(), json!(view.complete));
    m.insert("lockedFileCount".into(), json!(0));
    m.insert("responseCount".into(), json!(view.response_count));
    let responses = match (include_responses, view.responses) {
        (true, Some(found)) => responses(found, s.token),
        _ => Vec::new(),
    };
    m.insert("responses".into(), Value::Array(responses));
    m.insert("searchText".into(), json!(s.text));
    m.insert("startedAt".into(), json!(utc_timestamp(s.started_at)));
    m.insert("state".into(), json!(view.state));
    m.insert("token".into(), json!(s.token));
    Value::Object(m)
}

/// Responses in arrival order (each with its arrival offset, which is not written).
/// `token` is the search's, which every response carries.
pub fn responses(found: &[(Duration, Found)], token: u32) -> Vec<Value> {
    found
        .iter()
        .map(|(_, f)| {
            let files: Vec<Value> = f
                .files
                .iter()
                .map(|file| {
                    let mut m = Map::new();
                    put(
                        &mut m,
                        "bitDepth",
                        (f.peer.extension == "flac").then(|| json!(16)),
                    );
                    put(&mut m, "bitRate", f.peer.bit_rate.map(|b| json!(b)));
                    m.insert("code".into(), json!(1));
                    // slskd often sends an empty extension; flac files here do.
                    let extension = if f.peer.extension == "flac" {
                        ""
                    } else {
                        f.peer.extension
                    };
                    m.insert("extension".into(), json!(extension));
                    m.insert("filename".into(), json!(file.filename));
                    m.insert("length".into(), json!(file.length));
                    put(
                        &mut m,
                        "sampleRate",
                        (f.peer.extension == "flac").then(|| json!(44_100)),
                    );
                    m.insert("size".into(), json!(file.size));
                    m.insert("isLocked".into(), json!(false));
                    Value::Object(m)
                })
                .collect();
            json!({
                "fileCount": files.len(),
                "files": files,
                "hasFreeUploadSlot": f.peer.free_slot,
                "lockedFileCount": 0,
                "lockedFiles": [],
                "queueLength": f.peer.queue_length,
                "token": token,
                "uploadSpeed": f.peer.upload_speed,
                "username": f.peer.username,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeDelta, TimeZone};

    #[test]
    fn timespans_follow_dotnet() {
        assert_eq!(timespan(0.0), "00:00:00");
        assert_eq!(timespan(85.1758398), "00:01:25.1758398");
        assert_eq!(timespan(93_784.0), "1.02:03:04");
    }

    #[test]
    fn timestamps_trim_zeros_and_mark_only_utc_fields() {
        let t =
            Utc.with_ymd_and_hms(2026, 8, 22, 18, 4, 11).unwrap() + TimeDelta::milliseconds(512);
        assert_eq!(local_timestamp(t), "2026-08-22T18:04:11.512");
        assert_eq!(utc_timestamp(t), "2026-08-22T18:04:11.512Z");
        let whole = Utc.with_ymd_and_hms(2026, 8, 22, 18, 4, 11).unwrap();
        assert_eq!(local_timestamp(whole), "2026-08-22T18:04:11");
    }
}
