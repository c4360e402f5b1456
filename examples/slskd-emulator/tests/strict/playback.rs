//! Whether bytes play: probed and decoded to the end with symphonia, strictly (any packet that
//! fails to decode fails the whole file), FLAC checked against its STREAMINFO MD5.

use std::io::Cursor;

use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;

/// A file decoded to its end.
#[derive(Debug)]
pub struct Played {
    /// The container as symphonia found it by its content (`flac`, `mp3`...).
    pub format: &'static str,
    pub seconds: f64,
    pub sample_rate: u32,
    pub channels: usize,
    /// The decoder's own check (FLAC: the audio's MD5 against STREAMINFO's), when it has one.
    pub verified: Option<bool>,
}

/// Decodes every packet of `bytes`; the first error is the answer.
pub fn play(bytes: &[u8], extension: &str) -> Result<Played, String> {
    let source = MediaSourceStream::new(Box::new(Cursor::new(bytes.to_vec())), Default::default());
    let mut hint = Hint::new();
    hint.with_extension(extension);
    let mut format = symphonia::default::get_probe()
        .probe(
            &hint,
            source,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(|e| format!("probe: {e}"))?;
    let found = format.format_info().short_name;
    let track = format
        .default_track(TrackType::Audio)
        .ok_or("no audio track")?;
    let track_id = track.id;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .ok_or("no audio codec parameters")?
        .clone();
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default().verify(true))
        .map_err(|e| format!("decoder: {e}"))?;
    let mut frames = 0u64;
    while let Some(packet) = format
        .next_packet()
        .map_err(|e| format!("packet after {frames} frames: {e}"))?
    {
        if packet.track_id != track_id {
            continue;
        }
        let decoded = decoder
            .decode(&packet)
            .map_err(|e| format!("decode after {frames} frames: {e}"))?;
        frames += decoded.frames() as u64;
    }
    let sample_rate = params.sample_rate.ok_or("no sample rate")?;
    Ok(Played {
        format: found,
        seconds: frames as f64 / f64::from(sample_rate),
        sample_rate,
        channels: params.channels.as_ref().map_or(0, |c| c.count()),
        verified: decoder.finalize().verify_ok,
    })
}
