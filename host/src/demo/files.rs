//! What the demo's aria2 and qBittorrent fetch: real FLAC files made on the spot (so the host's
//! verification passes them), a loopback HTTP server that hands them out at a steady pace (so
//! progress shows), and a `.torrent` of an album for qBittorrent.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sha1::{Digest, Sha1};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The album qBittorrent fetches one track of: (path inside the torrent, seconds).
pub const ALBUM: [(&str, f32); 3] = [
    ("01 - Teardrop (Demo Seed).flac", 20.0),
    ("02 - Angel (Demo Seed).flac", 60.0),
    ("03 - Inertia Creeps (Demo Seed).flac", 15.0),
];

/// A real FLAC track of `seconds`, different for each name.
pub fn track(name: &str, seconds: f32) -> Vec<u8> {
    slskd_emulator::audio::flac(seconds, slskd_emulator::peers::stable_hash(name))
}
const PIECE: usize = 256 * 1024;

/// `len` bytes that differ from file to file.
pub fn content(name: &str, len: usize) -> Vec<u8> {
    let seed = name
        .bytes()
        .fold(7u8, |a, b| a.wrapping_mul(31).wrapping_add(b));
    (0..len)
        .map(|i| ((i / 7) as u8).wrapping_mul(13).wrapping_add(seed))
        .collect()
}

/// Bencoding, as much of it as a torrent needs.
enum Bencode {
    Int(u64),
    Bytes(Vec<u8>),
    List(Vec<Bencode>),
    /// Keys in sorted order, as the format requires.
    Dict(Vec<(&'static str, Bencode)>),
}

impl Bencode {
    fn text(s: &str) -> Bencode {
        Bencode::Bytes(s.as_bytes().to_vec())
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Bencode::Int(n) => out.extend(format!("i{n}e").bytes()),
            Bencode::Bytes(b) => {
                out.extend(format!("{}:", b.len()).bytes());
                out.extend(b);
            }
            Bencode::List(items) => {
                out.push(b'l');
                items.iter().for_each(|i| i.write(out));
                out.push(b'e');
            }
            Bencode::Dict(entries) => {
                out.push(b'd');
                for (k, v) in entries {
                    Bencode::text(k).write(out);
                    v.write(out);
                }
                out.push(b'e');
            }
        }
    }
}

/// Writes `files` (path inside the torrent, bytes) under `dir/<name>` and returns their
/// `.torrent` and its info hash (hex).
pub fn make_torrent(
    dir: &Path,
    name: &str,
    files: &[(&str, Vec<u8>)],
) -> std::io::Result<(Vec<u8>, String)> {
    let root = dir.join(name);
    std::fs::create_dir_all(&root)?;
    let mut all = Vec::new();
    let mut listed = Vec::new();
    for (path, bytes) in files {
        std::fs::write(root.join(path), bytes)?;
        all.extend_from_slice(bytes);
        listed.push(Bencode::Dict(vec![
            ("length", Bencode::Int(bytes.len() as u64)),
            ("path", Bencode::List(vec![Bencode::text(path)])),
        ]));
    }
    let pieces: Vec<u8> = all
        .chunks(PIECE)
        .flat_map(|p| Sha1::digest(p).to_vec())
        .collect();
    let info = Bencode::Dict(vec![
        ("files", Bencode::List(listed)),
        ("name", Bencode::text(name)),
        ("piece length", Bencode::Int(PIECE as u64)),
        ("pieces", Bencode::Bytes(pieces)),
    ]);
    let mut info_bytes = Vec::new();
    info.write(&mut info_bytes);
    let hash = Sha1::digest(&info_bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut torrent = b"d4:info".to_vec();
    torrent.extend(info_bytes);
    torrent.push(b'e');
    Ok((torrent, hash))
}

/// Serves `files` (URL path → bytes) on a loopback port, each at `bytes_per_sec`; returns its
/// address. It runs until the process ends.
pub async fn serve(
    files: HashMap<String, Vec<u8>>,
    bytes_per_sec: usize,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let files = Arc::new(files);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let files = files.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 2048];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let path = String::from_utf8_lossy(&head)
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("/")
                    .to_owned();
                let Some(body) = files.get(&path) else {
                    let _ = stream
                        .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                        .await;
                    return;
                };
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                if stream.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                // Ten slices a second at the pace asked.
                let slice = (bytes_per_sec / 10).max(1);
                for chunk in body.chunks(slice) {
                    if stream.write_all(chunk).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            });
        }
    });
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_torrent_names_its_files_and_hashes_its_info() {
        let dir = tempfile::tempdir().unwrap();
        let (torrent, hash) = make_torrent(
            dir.path(),
            "Album",
            &[
                ("a.flac", content("a.flac", 10)),
                ("b.flac", content("b.flac", 300_000)),
            ],
        )
        .unwrap();
        assert_eq!(hash.len(), 40);
        let text = String::from_utf8_lossy(&torrent);
        assert!(
            text.starts_with("d4:infod5:filesld6:lengthi10e4:pathl6:a.flace"),
            "{text}"
        );
        assert!(text.contains("4:name5:Album12:piece lengthi262144e6:pieces40:"));
        assert_eq!(
            std::fs::read(dir.path().join("Album/b.flac"))
                .unwrap()
                .len(),
            300_000
        );
    }
}
