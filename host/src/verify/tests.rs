use std::time::Duration;

use super::decode::Decoded;
use super::judgement::{judge_audio, judge_bytes};
use super::scan::Scanned;
use super::*;

fn scanned(bytes: u64, all_zero: bool) -> Scanned {
    Scanned {
        bytes,
        sha256: String::new(),
        all_zero,
    }
}

#[test]
fn byte_verdicts() {
    let cases: [(Scanned, Option<u64>, Option<&str>); 6] = [
        (scanned(100, false), Some(100), None),
        (scanned(100, false), None, None),
        (scanned(0, true), Some(100), Some("truncated")),
        (scanned(100, true), Some(100), Some("corrupt")),
        (scanned(60, false), Some(100), Some("truncated")),
        (scanned(120, false), Some(100), Some("size mismatch")),
    ];
    for (s, expected, verdict) in cases {
        let got = judge_bytes(&s, expected).err().map(|r| r.to_string());
        match verdict {
            None => assert_eq!(got, None, "{} bytes", s.bytes),
            Some(start) => assert!(
                got.as_deref().is_some_and(|g| g.starts_with(start)),
                "{} bytes, expected {expected:?}: {got:?}",
                s.bytes
            ),
        }
    }
}

fn decoded(frames: u64) -> Decoded {
    Decoded {
        codec: "flac".into(),
        sample_rate: 44_100,
        frames,
        promised_frames: Some(44_100 * 8),
        ended_early: false,
        bad_packet: None,
        checksum_matched: Some(true),
    }
}

#[test]
fn audio_verdicts() {
    let eight = Expectation {
        size: None,
        duration: Some(Duration::from_secs(8)),
        tolerance: Duration::from_secs(3),
    };
    let cause = |d: Decoded| judge_audio(d, &eight).err().map(|r| r.to_string());
    assert_eq!(cause(decoded(44_100 * 8)), None);
    let mut md5 = decoded(44_100 * 8);
    md5.checksum_matched = Some(false);
    assert!(cause(md5).unwrap().starts_with("corrupt"));
    let mut bad = decoded(44_100 * 4);
    bad.bad_packet = Some("crc".into());
    assert!(cause(bad).unwrap().starts_with("corrupt"));
    let mut early = decoded(44_100 * 8);
    early.ended_early = true;
    assert!(cause(early).unwrap().starts_with("truncated"));
    assert!(cause(decoded(44_100 * 5)).unwrap().starts_with("truncated"));
    let mut long = decoded(44_100 * 20);
    long.promised_frames = None;
    assert!(cause(long).unwrap().starts_with("wrong duration"));
    assert!(cause(decoded(0)).unwrap().starts_with("corrupt"));
}

#[test]
fn duration_tolerance_is_seconds_or_two_percent() {
    let s = Duration::from_secs;
    assert!(duration_fits(s(182), s(180), s(3)));
    assert!(!duration_fits(s(184), s(180), s(3)));
    assert!(duration_fits(s(3590), s(3600), s(3)), "2% of an hour");
    assert!(!duration_fits(s(20), s(8), s(3)));
}
