//! Decodes a whole audio file with symphonia and says what it found: how many frames came out,
//! how many the header promised, whether the stream stopped early, whether a packet was bad,
//! and whether the file's own audio checksum (FLAC's STREAMINFO MD5) matched.

use std::path::Path;

use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::errors::Error;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;

use super::Rejection;

pub(super) struct Decoded {
    pub codec: String,
    pub sample_rate: u32,
    pub frames: u64,
    /// The total the header states (FLAC's STREAMINFO), when it does.
    pub promised_frames: Option<u64>,
    /// The stream ended inside a packet (the bytes stop mid-frame).
    pub ended_early: bool,
    /// The first packet that did not decode, said why.
    pub bad_packet: Option<String>,
    /// `Some` when the format carries an audio checksum and the decoder checked it.
    pub checksum_matched: Option<bool>,
}

fn corrupt(what: &str, e: &Error) -> Rejection {
    Rejection::Corrupt(format!("{what}: {e}"))
}

pub(super) fn decode(path: &Path, extension: &str) -> Result<Decoded, Rejection> {
    let file = std::fs::File::open(path).map_err(|e| Rejection::unreadable(path, &e))?;
    let stream = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    hint.with_extension(extension);
    let mut format = symphonia::default::get_probe()
        .probe(
            &hint,
            stream,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(|e| corrupt("not a playable audio file", &e))?;
    let track = format
        .default_track(TrackType::Audio)
        .ok_or_else(|| Rejection::Corrupt("no audio track".into()))?
        .clone();
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .ok_or_else(|| Rejection::Corrupt("no audio codec parameters".into()))?
        .clone();
    let options = AudioDecoderOptions::default().verify(true);
    // Opus has no symphonia decoder: its packets are demuxed and counted, not decoded.
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(&params, &options)
        .ok();
    let codec = decoder.as_ref().map_or_else(
        || extension.to_owned(),
        |d| d.codec_info().short_name.to_owned(),
    );
    let mut found = Decoded {
        codec,
        sample_rate: params.sample_rate.unwrap_or(48_000),
        frames: 0,
        promised_frames: track.num_frames.filter(|n| *n > 0),
        ended_early: false,
        bad_packet: None,
        checksum_matched: None,
    };
    let mut demuxed_end = 0u64;
    loop {
        let packet = match format.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(Error::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                found.ended_early = true;
                break;
            }
            Err(e) => {
                found.bad_packet = Some(format!("the stream breaks off: {e}"));
                break;
            }
        };
        if packet.track_id != track.id {
            continue;
        }
        match decoder.as_mut() {
            Some(decoder) => match decoder.decode(&packet) {
                Ok(buffer) => found.frames += buffer.frames() as u64,
                Err(Error::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    found.ended_early = true;
                    break;
                }
                Err(e) => {
                    found.bad_packet =
                        Some(format!("a packet at {} does not decode: {e}", packet.pts));
                    break;
                }
            },
            None => {
                let end = u64::try_from(packet.pts.get()).unwrap_or(0) + packet.dur.get();
                demuxed_end = demuxed_end.max(end);
            }
        }
    }
    match decoder.as_mut() {
        Some(decoder) if found.bad_packet.is_none() && !found.ended_early => {
            found.checksum_matched = decoder.finalize().verify_ok;
        }
        Some(_) => {}
        None => found.frames = demuxed_end,
    }
    Ok(found)
}
