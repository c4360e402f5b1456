//! Real audio files, so that what the emulator writes into a downloads folder plays: FLAC
//! through `flacenc`, MP3 through LAME. Always 44.1 kHz stereo 16-bit; the same seed gives the
//! same bytes.

use flacenc::component::BitRepr;
use flacenc::error::Verify;
use mp3lame_encoder::{Bitrate, Builder, FlushGap, InterleavedPcm, Mode, Quality, VbrMode};

pub const SAMPLE_RATE: u32 = 44_100;
pub const CHANNELS: usize = 2;

/// A FLAC file of `seconds` (STREAMINFO carries the sample count and the MD5 of the audio).
pub fn flac(seconds: f32, seed: u64) -> Vec<u8> {
    let pcm = signal(seconds, seed);
    let samples: Vec<i32> = pcm.iter().map(|&s| i32::from(s)).collect();
    let mut config = flacenc::config::Encoder::default();
    // The emulator encodes inside request handlers: no worker threads of its own.
    config.multithread = false;
    let config = config
        .into_verified()
        .expect("flacenc's default configuration is valid");
    let source =
        flacenc::source::MemSource::from_samples(&samples, CHANNELS, 16, SAMPLE_RATE as usize);
    let mut stream = flacenc::encode_with_fixed_block_size(&config, source, config.block_size)
        .expect("in-memory 16-bit stereo samples always encode");
    // flacenc counts the short last block into STREAMINFO's minimum block size; the format
    // excludes it, and decoders that check (symphonia) then take the fixed-size stream for a
    // variable-size one and find no frame at all.
    stream
        .stream_info_mut()
        .set_block_sizes(config.block_size, config.block_size)
        .expect("the configured block size is valid");
    let mut sink = flacenc::bitsink::ByteSink::new();
    stream
        .write(&mut sink)
        .expect("writing to memory cannot fail");
    sink.into_inner()
}

/// A CBR 320 kbps MP3 file of `seconds`, with LAME's Info tag (so decoders trim the encoder's
/// delay and padding and the duration comes out exact).
pub fn mp3(seconds: f32, seed: u64) -> Vec<u8> {
    let pcm = signal(seconds, seed);
    let mut encoder = Builder::new()
        .expect("LAME allocates its state")
        .with_num_channels(CHANNELS as u8)
        .and_then(|b| b.with_sample_rate(SAMPLE_RATE))
        .and_then(|b| b.with_brate(Bitrate::Kbps320))
        .and_then(|b| b.with_mode(Mode::JointStereo))
        .and_then(|b| b.with_vbr_mode(VbrMode::Off))
        .and_then(|b| b.with_quality(Quality::Good))
        .and_then(|b| b.with_to_write_vbr_tag(true))
        .expect("LAME accepts 44.1 kHz stereo CBR 320")
        .build()
        .expect("LAME initialises for 44.1 kHz stereo CBR 320");
    let mut out = Vec::with_capacity(mp3lame_encoder::max_required_buffer_size(pcm.len()));
    encoder
        .encode_to_vec(InterleavedPcm(&pcm), &mut out)
        .expect("the buffer is sized for the whole input");
    out.reserve(7200);
    encoder
        .flush_to_vec::<FlushGap>(&mut out)
        .expect("the buffer holds the last frames");
    // LAME left a blank first frame for the Info tag, which only now has its numbers.
    let mut tag = Vec::with_capacity(encoder.lame_tag_size());
    if encoder.lame_tag_encode_to_vec(&mut tag).is_some() && tag.len() <= out.len() {
        out[..tag.len()].copy_from_slice(&tag);
    }
    out
}

/// [`mp3`] for `mp3`, [`flac`] for anything else.
pub fn for_extension(ext: &str, seconds: f32, seed: u64) -> Vec<u8> {
    if ext.eq_ignore_ascii_case("mp3") {
        mp3(seconds, seed)
    } else {
        flac(seconds, seed)
    }
}

/// Interleaved stereo PCM: two tones whose pitches follow the seed, a slow swell, and a little
/// noise, so that the file neither compresses to nothing nor sounds like a test tone only.
fn signal(seconds: f32, seed: u64) -> Vec<i16> {
    let frames = (f64::from(seconds.max(0.0)) * f64::from(SAMPLE_RATE)).round() as usize;
    let mut rng = SplitMix(seed);
    let low = 110.0 + (rng.next() % 330) as f64;
    let ratio = [1.25, 1.5, 2.0, 1.333][(rng.next() % 4) as usize];
    let high = low * ratio;
    let swell = 0.1 + (rng.next() % 40) as f64 / 100.0;
    let rate = f64::from(SAMPLE_RATE);
    // Short fades: no click at either end.
    let fade = (rate * 0.01) as usize;
    let mut pcm = Vec::with_capacity(frames * CHANNELS);
    for n in 0..frames {
        let t = n as f64 / rate;
        let edge = n.min(frames - 1 - n).min(fade) as f64 / fade.max(1) as f64;
        let level = edge * (0.75 + 0.25 * (std::f64::consts::TAU * swell * t).sin());
        for channel in 0..CHANNELS {
            // The right channel's upper tone is a little late: a stereo image, not mono twice.
            let phase = channel as f64 * 0.7;
            let tone = 0.30 * (std::f64::consts::TAU * low * t).sin()
                + 0.20 * (std::f64::consts::TAU * high * t + phase).sin();
            let noise = (rng.next() % 49) as f64 - 24.0;
            let value = tone * level * f64::from(i16::MAX) + noise;
            pcm.push(
                value
                    .round()
                    .clamp(f64::from(i16::MIN), f64::from(i16::MAX)) as i16,
            );
        }
    }
    pcm
}

/// SplitMix64: a tiny deterministic generator (the same on every platform and run).
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}
