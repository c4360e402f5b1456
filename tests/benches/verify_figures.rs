//! Figures for the closing note: how fast a finished file is verified (MB/s, FLAC and MP3,
//! the whole decode with FLAC's MD5), and how long importing one into the library takes.
//! `cargo bench -p tributary-tests --bench verify_figures` (a release build).

use std::time::{Duration, Instant};

use tributary::library::{Conflict, ImportMode, LibrarySettings, TrackFields, import};
use tributary::verify::{Expectation, verify_file};

const SECONDS: f32 = 240.0;
const FILES: usize = 4;

fn main() {
    let dir = tempfile::tempdir().unwrap();
    for (ext, encode) in [
        (
            "flac",
            slskd_emulator::audio::flac as fn(f32, u64) -> Vec<u8>,
        ),
        ("mp3", slskd_emulator::audio::mp3),
    ] {
        let mut bytes = 0u64;
        let mut spent = Duration::ZERO;
        for n in 0..FILES {
            let path = dir.path().join(format!("track-{n}.{ext}"));
            let data = encode(SECONDS, n as u64);
            std::fs::write(&path, &data).unwrap();
            let expected = Expectation {
                size: Some(data.len() as u64),
                duration: Some(Duration::from_secs_f32(SECONDS)),
                tolerance: Duration::from_secs(3),
            };
            // Warm the page cache as a just-written download is.
            let _ = std::fs::read(&path).unwrap();
            let started = Instant::now();
            let verified = verify_file(&path, &expected).expect("a good file verifies");
            spent += started.elapsed();
            bytes += verified.bytes;
        }
        println!(
            "verify {ext}: {FILES} files of {SECONDS} s, {:.1} MB in {:.2} s: {:.1} MB/s",
            bytes as f64 / 1e6,
            spent.as_secs_f64(),
            bytes as f64 / 1e6 / spent.as_secs_f64()
        );
    }
    for mode in [ImportMode::Move, ImportMode::Copy, ImportMode::Hardlink] {
        let library = LibrarySettings {
            dir: dir.path().join(format!("library-{mode:?}")),
            mode,
            template: tributary::library::DEFAULT_TEMPLATE.to_owned(),
            on_conflict: Conflict::KeepBoth,
        };
        let mut spent = Duration::ZERO;
        let runs = 50;
        for n in 0..runs {
            let path = dir.path().join(format!("import-{n}.flac"));
            std::fs::write(&path, vec![1u8; 5_000_000]).unwrap();
            let track = TrackFields {
                artist: "Artist".into(),
                album: Some("Album".into()),
                title: format!("Title {n}"),
                track: Some(n),
            };
            let started = Instant::now();
            import(&path, &track, &library).unwrap();
            spent += started.elapsed();
        }
        println!(
            "import ({mode:?}, 5 MB files): {:.2} ms per file",
            spent.as_secs_f64() * 1000.0 / f64::from(runs)
        );
    }
}
