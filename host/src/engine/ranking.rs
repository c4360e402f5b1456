//! Choosing among search candidates: host policy, the same for every provider.

use std::cmp::Ordering;

use super::provider::{Candidate, Source};

/// Extensions that are audio files; anything else a search turns up (cover art, cue sheets,
/// playlists) is never picked.
const AUDIO_EXTENSIONS: &[&str] = &[
    "flac", "mp3", "m4a", "aac", "ogg", "opus", "wav", "aiff", "aif", "alac", "wma", "ape", "wv",
];

/// One rung of the format ladder: an extension, optionally with a minimum bitrate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatPreference {
    pub extension: String,
    pub min_bitrate_kbps: Option<u32>,
}

impl FormatPreference {
    /// Parses `flac`, `mp3:320`.
    pub fn parse(text: &str) -> Option<FormatPreference> {
        let (ext, bitrate) = match text.split_once(':') {
            Some((e, b)) => (e, Some(b.parse().ok()?)),
            None => (text, None),
        };
        let extension = ext.trim().to_ascii_lowercase();
        (!extension.is_empty()).then_some(FormatPreference {
            extension,
            min_bitrate_kbps: bitrate,
        })
    }

    fn accepts(&self, c: &Candidate) -> bool {
        c.extension == self.extension
            && self
                .min_bitrate_kbps
                .is_none_or(|min| c.bitrate_kbps.is_some_and(|b| b >= min))
    }
}

#[derive(Debug, Clone)]
pub struct RankingPolicy {
    /// Best first; a format not listed ranks after all listed ones.
    pub formats: Vec<FormatPreference>,
}

impl Default for RankingPolicy {
    fn default() -> Self {
        let formats = ["flac", "mp3:320", "mp3", "m4a", "ogg"]
            .iter()
            .filter_map(|f| FormatPreference::parse(f))
            .collect();
        RankingPolicy { formats }
    }
}

/// What the track is, for matching candidates against it.
#[derive(Debug, Clone, Default)]
pub struct Wanted<'a> {
    pub title: &'a str,
    pub duration_secs: Option<u32>,
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() > 1)
        .map(str::to_lowercase)
        .collect()
}

impl RankingPolicy {
    fn format_rank(&self, c: &Candidate) -> usize {
        self.formats
            .iter()
            .position(|f| f.accepts(c))
            .unwrap_or(self.formats.len())
    }

    /// The candidates worth trying, best first: audio files whose name carries the title's
    /// words, not already tried (`excluded`).
    pub fn rank<'c>(
        &self,
        candidates: &'c [Candidate],
        wanted: &Wanted<'_>,
        excluded: &[Source],
    ) -> Vec<&'c Candidate> {
        let title_words = words(wanted.title);
        let mut ranked: Vec<&Candidate> = candidates
            .iter()
            .filter(|c| AUDIO_EXTENSIONS.contains(&c.extension.as_str()) && c.size > 0)
            .filter(|c| {
                !excluded
                    .iter()
                    .any(|s| s.peer == c.peer && s.filename == c.filename)
            })
            .filter(|c| {
                let name = c
                    .filename
                    .rsplit(['\\', '/'])
                    .next()
                    .unwrap_or(&c.filename)
                    .to_lowercase();
                title_words.iter().all(|w| name.contains(w.as_str()))
            })
            .collect();
        ranked.sort_by(|a, b| self.compare(a, b, wanted));
        ranked
    }

    fn compare(&self, a: &Candidate, b: &Candidate, wanted: &Wanted<'_>) -> Ordering {
        let duration_off = |c: &Candidate| match (wanted.duration_secs, c.duration_secs) {
            (Some(w), Some(d)) => w.abs_diff(d),
            _ => 0,
        };
        self.format_rank(a)
            .cmp(&self.format_rank(b))
            // More than 5 s off the expected duration is probably another version.
            .then_with(|| (duration_off(a) > 5).cmp(&(duration_off(b) > 5)))
            .then_with(|| b.free_slot.cmp(&a.free_slot))
            .then_with(|| a.queue_length.cmp(&b.queue_length))
            .then_with(|| b.upload_speed.cmp(&a.upload_speed))
            .then_with(|| b.bitrate_kbps.cmp(&a.bitrate_kbps))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(
        peer: &str,
        file: &str,
        ext: &str,
        bitrate: Option<u32>,
        free: bool,
        queue: u64,
        speed: u64,
    ) -> Candidate {
        Candidate {
            peer: peer.into(),
            filename: file.into(),
            size: 1000,
            extension: ext.into(),
            bitrate_kbps: bitrate,
            bit_depth: None,
            sample_rate_hz: None,
            duration_secs: Some(200),
            free_slot: free,
            queue_length: queue,
            upload_speed: speed,
        }
    }

    #[test]
    fn format_ladder_then_slots_queue_and_speed() {
        let c = vec![
            cand(
                "mp3low",
                "x\\Song.mp3",
                "mp3",
                Some(192),
                true,
                0,
                9_000_000,
            ),
            cand("mp3hi", "x\\Song.mp3", "mp3", Some(320), true, 0, 1),
            cand("flacbusy", "x\\Song.flac", "flac", None, false, 40, 1),
            cand("flacfree", "x\\Song.flac", "flac", None, true, 3, 1),
            cand("flacfast", "x\\Song.flac", "flac", None, true, 3, 100),
        ];
        let wanted = Wanted {
            title: "Song",
            duration_secs: None,
        };
        let order: Vec<&str> = RankingPolicy::default()
            .rank(&c, &wanted, &[])
            .iter()
            .map(|c| c.peer.as_str())
            .collect();
        assert_eq!(
            order,
            ["flacfast", "flacfree", "flacbusy", "mp3hi", "mp3low"]
        );
    }

    #[test]
    fn non_audio_other_titles_and_tried_sources_are_dropped() {
        let c = vec![
            cand("a", "x\\cover.jpg", "jpg", None, true, 0, 1),
            cand("b", "x\\Other Song.flac", "flac", None, true, 0, 1),
            cand("c", "x\\01 - My Song.flac", "flac", None, true, 0, 1),
            cand("d", "x\\01 - My Song.flac", "flac", None, true, 0, 1),
        ];
        let tried = [Source {
            peer: "c".into(),
            filename: "x\\01 - My Song.flac".into(),
            size: 1000,
        }];
        let wanted = Wanted {
            title: "My Song",
            duration_secs: None,
        };
        let order: Vec<&str> = RankingPolicy::default()
            .rank(&c, &wanted, &tried)
            .iter()
            .map(|c| c.peer.as_str())
            .collect();
        assert_eq!(order, ["d"]);
    }

    #[test]
    fn a_wrong_duration_ranks_after_a_right_one_of_the_same_format() {
        let mut long = cand("long", "Song.flac", "flac", None, true, 0, 100);
        long.duration_secs = Some(400);
        let right = cand("right", "Song.flac", "flac", None, false, 9, 1);
        let c = vec![long, right];
        let wanted = Wanted {
            title: "Song",
            duration_secs: Some(201),
        };
        let order: Vec<&str> = RankingPolicy::default()
            .rank(&c, &wanted, &[])
            .iter()
            .map(|c| c.peer.as_str())
            .collect();
        assert_eq!(order, ["right", "long"]);
    }

    #[test]
    fn format_preferences_parse() {
        assert_eq!(
            FormatPreference::parse("MP3:320"),
            Some(FormatPreference {
                extension: "mp3".into(),
                min_bitrate_kbps: Some(320)
            })
        );
        assert_eq!(FormatPreference::parse("mp3:fast"), None);
        assert_eq!(FormatPreference::parse(""), None);
    }
}
