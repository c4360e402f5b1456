//! The generated audio files play, last as long as asked, and depend on their seed only.

use std::time::Instant;

use slskd_emulator::audio;

use crate::playback::play;

#[test]
fn a_flac_file_decodes_to_the_end_with_its_md5_verified() {
    let started = Instant::now();
    let bytes = audio::flac(8.0, 7);
    eprintln!("8 s FLAC: {} bytes in {:?}", bytes.len(), started.elapsed());
    let played = play(&bytes, "flac").expect("the FLAC file plays");
    assert_eq!(played.format, "flac");
    assert_eq!(played.sample_rate, 44_100);
    assert_eq!(played.channels, 2);
    assert!((played.seconds - 8.0).abs() < 0.1, "{played:?}");
    assert_eq!(
        played.verified,
        Some(true),
        "STREAMINFO's MD5 matches the audio"
    );
}

#[test]
fn an_mp3_file_decodes_to_the_end_at_the_asked_length() {
    let started = Instant::now();
    let bytes = audio::mp3(8.0, 7);
    eprintln!("8 s MP3: {} bytes in {:?}", bytes.len(), started.elapsed());
    let played = play(&bytes, "mp3").expect("the MP3 file plays");
    assert_eq!(played.format, "mp3");
    assert_eq!(played.sample_rate, 44_100);
    assert_eq!(played.channels, 2);
    assert!((played.seconds - 8.0).abs() < 0.2, "{played:?}");
    // CBR 320 kbps: 40,000 bytes a second, give or take a frame and the Info tag.
    let expected = 8.0 * 40_000.0;
    assert!(
        (bytes.len() as f64 - expected).abs() < 5_000.0,
        "{} bytes",
        bytes.len()
    );
}

#[test]
fn the_same_seed_gives_the_same_bytes_and_another_seed_others() {
    // (`assert!`, not `assert_eq!`: a failure would print every byte.)
    assert!(audio::flac(1.0, 3) == audio::flac(1.0, 3), "FLAC by seed");
    assert!(
        audio::flac(1.0, 3) != audio::flac(1.0, 4),
        "FLAC of another seed"
    );
    assert!(audio::mp3(1.0, 3) == audio::mp3(1.0, 3), "MP3 by seed");
}

#[test]
fn the_extension_picks_the_format() {
    assert_eq!(&audio::for_extension("flac", 0.5, 1)[..4], b"fLaC");
    assert_eq!(&audio::for_extension("", 0.5, 1)[..4], b"fLaC");
    let mp3 = audio::for_extension("mp3", 0.5, 1);
    assert!(mp3 == audio::mp3(0.5, 1), "the MP3 of the seed");
    assert_eq!(play(&mp3, "mp3").map(|p| p.format), Ok("mp3"));
}
