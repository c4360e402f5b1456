//! Real files: with a downloads folder, a succeeded download is written where slskd puts it,
//! at the size its search result advertised, and plays; the bad-file peers report success but
//! leave a bad file, each its own way.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use slskd_emulator::peers::{self, Peer};
use slskd_emulator::{EmulatorConfig, audio, expected_path, shares};
use tempfile::TempDir;

use crate::common::{Slskd, wait_for};
use crate::playback::play;

const LONG: Duration = Duration::from_secs(20);
const TRACK_SECS: f32 = 8.0;

/// An emulator of `peers` writing into a fresh folder, 20 times faster than slskd.
async fn with_files(peers: Vec<Peer>) -> (Slskd, TempDir) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let slskd = Slskd::start(EmulatorConfig {
        peers,
        speed_factor: 20.0,
        downloads_dir: Some(dir.path().to_owned()),
        track_secs: TRACK_SECS,
        ..EmulatorConfig::default()
    })
    .await;
    (slskd, dir)
}

fn peer(username: &str) -> Peer {
    peers::default_peers()
        .into_iter()
        .chain(peers::bad_file_peers())
        .find(|p| p.username == username)
        .expect("a known peer")
}

/// Searches for `text` and returns each user's offered file (`filename`, `size`, `length`...).
async fn offered(slskd: &Slskd, text: &str) -> HashMap<String, Value> {
    let id = slskd
        .search(json!({"searchText": text, "searchTimeout": 2000}))
        .await;
    slskd.completed_search(&id, LONG).await;
    let responses = wait_for(LONG, "the responses", || async {
        let r = slskd.get(&format!("searches/{id}/responses")).await.body;
        r.as_array().is_some_and(|a| !a.is_empty()).then_some(r)
    })
    .await;
    responses
        .as_array()
        .expect("responses")
        .iter()
        .map(|r| {
            let user = r["username"].as_str().expect("username").to_owned();
            (user, r["files"][0].clone())
        })
        .collect()
}

/// Downloads `user`'s file until `Completed, Succeeded`; returns the file's search result and
/// the final transfer.
async fn download(slskd: &Slskd, user: &str, text: &str) -> (Value, Value) {
    let file = offered(slskd, text)
        .await
        .remove(user)
        .expect("the user answers");
    let (filename, size) = name_and_size(&file);
    let id = slskd.enqueue_one(user, filename, size).await;
    let done = slskd
        .transfer_in(user, &id, "Completed, Succeeded", LONG)
        .await;
    (file, done)
}

fn name_and_size(file: &Value) -> (&str, i64) {
    (
        file["filename"].as_str().expect("filename"),
        file["size"].as_i64().expect("size"),
    )
}

fn written(dir: &TempDir, filename: &str) -> Vec<u8> {
    let path = expected_path(dir.path(), filename);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{} is written: {e}", path.display()))
}

/// The good file `user` shares as `filename` (FLAC, one track long).
fn good_flac(user: &str, filename: &str) -> Vec<u8> {
    audio::flac(TRACK_SECS, shares::seed(user, filename))
}

/// Every entry under `dir`, recursively (a temporary file left behind would show here).
fn entries(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).expect("readable folder") {
        let path = entry.expect("entry").path();
        found.push(path.display().to_string());
        if path.is_dir() {
            found.extend(entries(&path));
        }
    }
    found
}

#[tokio::test]
async fn a_flac_download_lands_whole_where_slskd_puts_it_and_only_once_it_succeeded() {
    // Slow enough to be seen in progress: one second for the file here.
    let mut hoarder = peer("vinylhoarder");
    hoarder.send_speed = 30_000.0;
    let (slskd, dir) = with_files(vec![hoarder]).await;
    let file = offered(&slskd, "Real Files").await.remove("vinylhoarder");
    let file = file.expect("vinylhoarder answers");
    let (filename, size) = name_and_size(&file);
    assert_eq!(file["length"], 8, "the real file's length");

    let id = slskd.enqueue_one("vinylhoarder", filename, size).await;
    let path = expected_path(dir.path(), filename);
    assert_eq!(
        path,
        dir.path().join("Real Files").join("01 - Real Files.flac")
    );
    slskd
        .transfer_in("vinylhoarder", &id, "InProgress", LONG)
        .await;
    assert!(!path.exists(), "nothing is written before the end");
    let done = slskd
        .transfer_in("vinylhoarder", &id, "Completed, Succeeded", LONG)
        .await;
    assert_eq!(done["bytesTransferred"], size);

    let bytes = written(&dir, filename);
    assert_eq!(bytes.len() as i64, size, "the advertised size");
    let played = play(&bytes, "flac").expect("the download plays");
    assert_eq!(played.format, "flac");
    assert!((played.seconds - 8.0).abs() < 0.1, "{played:?}");
    assert_eq!(played.verified, Some(true));
    assert_eq!(
        entries(dir.path()).len(),
        2,
        "one folder, one file, no temporary file left: {:?}",
        entries(dir.path())
    );

    // A second download of the file replaces what is there.
    std::fs::write(&path, b"damaged since").expect("overwritable");
    let again = slskd.enqueue_one("vinylhoarder", filename, size).await;
    slskd
        .transfer_in("vinylhoarder", &again, "Completed, Succeeded", LONG)
        .await;
    assert!(written(&dir, filename) == bytes, "the good file again");
}

#[tokio::test]
async fn an_mp3_download_is_a_real_mp3_of_the_advertised_size() {
    let (slskd, dir) = with_files(vec![peer("mp3_maven")]).await;
    let (file, _) = download(&slskd, "mp3_maven", "real mp3").await;
    let (filename, size) = name_and_size(&file);
    assert!(filename.ends_with(".mp3"), "{filename}");
    assert_eq!(file["length"], 8);
    let bytes = written(&dir, filename);
    assert_eq!(bytes.len() as i64, size);
    let played = play(&bytes, "mp3").expect("the download plays");
    assert_eq!(played.format, "mp3");
    assert!((played.seconds - 8.0).abs() < 0.2, "{played:?}");
}

#[tokio::test]
async fn zeroes_succeeds_with_a_file_of_zero_bytes_only() {
    let (slskd, dir) = with_files(vec![peer("zeroes")]).await;
    let (file, done) = download(&slskd, "zeroes", "bad one").await;
    let (filename, size) = name_and_size(&file);
    assert_eq!(done["bytesTransferred"], size);
    let bytes = written(&dir, filename);
    assert_eq!(bytes.len() as i64, size, "the advertised size");
    assert!(bytes.iter().all(|&b| b == 0), "only zeros");
}

#[tokio::test]
async fn cutoff_reports_every_byte_but_writes_the_first_60_percent() {
    let (slskd, dir) = with_files(vec![peer("cutoff")]).await;
    let (file, done) = download(&slskd, "cutoff", "bad two").await;
    let (filename, size) = name_and_size(&file);
    assert_eq!(done["bytesTransferred"], size, "reports the whole file");
    let good = good_flac("cutoff", filename);
    assert_eq!(good.len() as i64, size);
    let bytes = written(&dir, filename);
    assert_eq!(bytes.len(), good.len() * 6 / 10);
    assert!(bytes == good[..bytes.len()], "the start of the good file");
}

#[tokio::test]
async fn wrongsong_sends_a_good_file_two_and_a_half_tracks_long() {
    let (slskd, dir) = with_files(vec![peer("wrongsong")]).await;
    let (file, _) = download(&slskd, "wrongsong", "bad three").await;
    let (filename, size) = name_and_size(&file);
    assert_eq!(file["length"], 20, "advertises its own length");
    let bytes = written(&dir, filename);
    assert_eq!(bytes.len() as i64, size, "advertises its own size");
    let played = play(&bytes, "flac").expect("a good file");
    assert!((played.seconds - 20.0).abs() < 0.1, "{played:?}");
    assert_eq!(played.verified, Some(true));
}

#[tokio::test]
async fn scrambler_sends_the_right_size_with_its_middle_scrambled() {
    let (slskd, dir) = with_files(vec![peer("scrambler")]).await;
    let (file, _) = download(&slskd, "scrambler", "bad four").await;
    let (filename, size) = name_and_size(&file);
    let good = good_flac("scrambler", filename);
    let bytes = written(&dir, filename);
    assert_eq!(bytes.len() as i64, size, "the advertised size");
    assert_eq!(bytes.len(), good.len());
    let differ = bytes.iter().zip(&good).filter(|(a, b)| a != b).count();
    assert!((4_000..=4_096).contains(&differ), "{differ} bytes differ");
    // A frame fails its CRC and is skipped, so the audio no longer matches STREAMINFO's MD5.
    match play(&bytes, "flac") {
        Err(_) => {}
        Ok(played) => assert_eq!(played.verified, Some(false), "{played:?}"),
    }
}

#[tokio::test]
async fn without_a_downloads_folder_the_bad_file_peers_deliver_like_any_other() {
    let slskd = Slskd::start(EmulatorConfig {
        peers: peers::bad_file_peers(),
        speed_factor: 20.0,
        ..EmulatorConfig::default()
    })
    .await;
    let offers = offered(&slskd, "no files").await;
    assert_eq!(offers.len(), 4);
    let mut ids = Vec::new();
    for (user, file) in &offers {
        let (filename, size) = name_and_size(file);
        assert!(size > 1_000_000, "a made-up size: {size}");
        ids.push((user, slskd.enqueue_one(user, filename, size).await));
    }
    for (user, id) in ids {
        slskd
            .transfer_in(user, &id, "Completed, Succeeded", LONG)
            .await;
    }
}
