//! Choosing among search candidates: host policy, the same for every provider.

use std::cmp::Ordering;

use super::download::{ChosenSource, TriedSource};
use super::provider::Candidate;
use super::reputation::Standing;
use super::title_match::{MatchQuality, TitleFit, WantedTrack, match_quality};

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
#[derive(Debug, Clone, Copy, Default)]
pub struct Wanted<'a> {
    pub artist: &'a str,
    pub title: &'a str,
    pub album: Option<&'a str>,
    pub duration_secs: Option<u32>,
}

impl Wanted<'_> {
    fn track(&self) -> WantedTrack<'_> {
        WantedTrack {
            artist: self.artist,
            title: self.title,
            album: self.album,
        }
    }
}

/// How far off the expected duration a file may be and still be the same recording: 6 s or
/// 3 %, whichever is more (a different edit or a live take is further off).
fn duration_fits(wanted: Option<u32>, found: Option<u32>) -> bool {
    match (wanted, found) {
        (Some(w), Some(f)) => {
            let tolerance = 6.max(w * 3 / 100);
            w.abs_diff(f) <= tolerance
        }
        _ => true,
    }
}

impl RankingPolicy {
    fn format_rank(&self, c: &Candidate) -> usize {
        self.formats
            .iter()
            .position(|f| f.accepts(c))
            .unwrap_or(self.formats.len())
    }

    /// The candidates worth trying, best first: audio files whose name holds the wanted track,
    /// not already tried.
    pub fn rank<'c>(
        &self,
        candidates: &'c [Candidate],
        wanted: &Wanted<'_>,
        tried: &[TriedSource],
    ) -> Vec<&'c Candidate> {
        self.rank_positions(candidates, wanted, tried)
            .into_iter()
            .map(|i| &candidates[i])
            .collect()
    }

    /// As [`rank`](Self::rank), by position in `candidates`; equals keep their order.
    pub fn rank_positions(
        &self,
        candidates: &[Candidate],
        wanted: &Wanted<'_>,
        tried: &[TriedSource],
    ) -> Vec<usize> {
        self.rank_positions_by(candidates, wanted, tried, |_| Standing::Good)
    }

    /// As [`rank_positions`](Self::rank_positions), with each candidate's peer judged by its
    /// reputation (`standing` of a position): among files of the same format, a peer that
    /// sent bad files or fails more than it delivers comes after the others.
    pub fn rank_positions_by(
        &self,
        candidates: &[Candidate],
        wanted: &Wanted<'_>,
        tried: &[TriedSource],
        standing: impl Fn(usize) -> Standing,
    ) -> Vec<usize> {
        let track = wanted.track();
        let mut ranked: Vec<(usize, &Candidate, MatchQuality)> = candidates
            .iter()
            .enumerate()
            .filter(|(_, c)| AUDIO_EXTENSIONS.contains(&c.extension.as_str()) && c.size != Some(0))
            .filter(|(_, c)| {
                let key = ChosenSource::from_candidate(c);
                !tried
                    .iter()
                    .any(|t| t.peer == key.peer && t.filename == key.key())
            })
            .filter_map(|(i, c)| match_quality(&track, &c.name).map(|q| (i, c, q)))
            .collect();
        ranked.sort_by(|(ia, a, qa), (ib, b, qb)| {
            self.compare(a, *qa, b, *qb, wanted, standing(*ia), standing(*ib))
        });
        ranked.into_iter().map(|(i, _, _)| i).collect()
    }

    /// A candidate not worth waiting for a better one: the preferred format, the title exact
    /// and the artist named, the right duration, and a peer that can send at once.
    pub fn good_enough(&self, c: &Candidate, wanted: &Wanted<'_>) -> bool {
        let sure = match_quality(&wanted.track(), &c.name)
            .is_some_and(|q| q.title == TitleFit::Exact && q.artist_in_path);
        sure && self.format_rank(c) == 0
            && duration_fits(wanted.duration_secs, c.duration_secs)
            && c.free_slot
            && c.queue_length == 0
    }

    #[allow(clippy::too_many_arguments)]
    fn compare(
        &self,
        a: &Candidate,
        qa: MatchQuality,
        b: &Candidate,
        qb: MatchQuality,
        wanted: &Wanted<'_>,
        sa: Standing,
        sb: Standing,
    ) -> Ordering {
        let off = |c: &Candidate| !duration_fits(wanted.duration_secs, c.duration_secs);
        // Another recording (a clearly different duration) ranks below every one that fits.
        off(a)
            .cmp(&off(b))
            .then_with(|| self.format_rank(a).cmp(&self.format_rank(b)))
            .then_with(|| sa.cmp(&sb))
            .then_with(|| qb.cmp(&qa))
            .then_with(|| b.free_slot.cmp(&a.free_slot))
            .then_with(|| a.queue_length.cmp(&b.queue_length))
            .then_with(|| b.upload_speed.cmp(&a.upload_speed))
            .then_with(|| b.bitrate_kbps.cmp(&a.bitrate_kbps))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::provider::Source;

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
            source: Source::PeerFile {
                peer: peer.into(),
                filename: file.into(),
                size: 1000,
            },
            peer: peer.into(),
            name: file.into(),
            size: Some(1000),
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

    fn song(title: &str) -> Wanted<'_> {
        Wanted {
            artist: "Artist",
            title,
            album: None,
            duration_secs: None,
        }
    }

    fn peers(ranked: &[&Candidate]) -> Vec<String> {
        ranked.iter().map(|c| c.peer.clone()).collect()
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
        let ranked = RankingPolicy::default().rank(&c, &song("Song"), &[]);
        assert_eq!(
            peers(&ranked),
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
        let tried = [TriedSource {
            peer: "c".into(),
            filename: "x\\01 - My Song.flac".into(),
        }];
        let ranked = RankingPolicy::default().rank(&c, &song("My Song"), &tried);
        assert_eq!(peers(&ranked), ["d"]);
    }

    #[test]
    fn a_clearly_different_duration_ranks_below_every_file_that_fits() {
        let mut long_flac = cand("long", "Song.flac", "flac", None, true, 0, 100);
        long_flac.duration_secs = Some(400);
        let mut right_mp3 = cand("right", "Song.mp3", "mp3", Some(320), false, 9, 1);
        right_mp3.duration_secs = Some(204);
        let mut unknown = cand("unknown", "Song.mp3", "mp3", Some(192), false, 9, 1);
        unknown.duration_secs = None;
        let c = vec![long_flac, right_mp3, unknown];
        let wanted = Wanted {
            duration_secs: Some(201),
            ..song("Song")
        };
        let ranked = RankingPolicy::default().rank(&c, &wanted, &[]);
        assert_eq!(peers(&ranked), ["right", "unknown", "long"]);
        // Without a known duration the format decides.
        let ranked = RankingPolicy::default().rank(&c, &song("Song"), &[]);
        assert_eq!(peers(&ranked)[0], "long");
    }

    /// Real shapes of shared files: (wanted artist, title, album, path) → picked or not.
    #[test]
    fn real_world_file_names() {
        let rows: &[(&str, &str, Option<&str>, &str, bool)] = &[
            (
                "Boards of Canada",
                "Wildlife Analysis",
                Some("Music Has the Right to Children"),
                r"@@kzvbq\Music\Boards of Canada\(1998) Music Has the Right to Children\01 - Wildlife Analysis.flac",
                true,
            ),
            (
                "Boards of Canada",
                "Wildlife Analysis",
                None,
                r"@@q1w2e\share\BoC\MHTRTC\01 Wildlife Analysis.mp3",
                true,
            ),
            (
                "The Beatles",
                "Here Comes the Sun",
                Some("Abbey Road"),
                r"@@x\The Beatles\1969 - Abbey Road [FLAC]\07 - Here Comes The Sun (Remastered 2009).flac",
                true,
            ),
            (
                "The Beatles",
                "Here Comes the Sun (Remastered 2009)",
                None,
                r"@@x\Beatles\Abbey Road\07 Here Comes the Sun.flac",
                true,
            ),
            (
                "The Beatles",
                "Here Comes the Sun",
                None,
                r"@@x\Beatles\Live\07 Here Comes the Sun (Live).flac",
                false,
            ),
            (
                "Queen",
                "Bohemian Rhapsody - Live",
                None,
                r"@@x\Queen\Live Aid\02 - Bohemian Rhapsody (Live Aid 1985).mp3",
                true,
            ),
            (
                "Queen",
                "Bohemian Rhapsody",
                None,
                r"@@x\Queen\Hits\Bohemian Rhapsody - Live.mp3",
                false,
            ),
            (
                "Daft Punk",
                "Get Lucky",
                None,
                r"@@x\Daft Punk\RAM\08 - Get Lucky (feat. Pharrell Williams).flac",
                true,
            ),
            (
                "Daft Punk",
                "Get Lucky (feat. Pharrell Williams & Nile Rodgers)",
                None,
                r"@@x\Daft Punk\08 Get Lucky.flac",
                true,
            ),
            (
                "Daft Punk",
                "Get Lucky",
                None,
                r"@@x\Daft Punk\Get Lucky (Radio Edit).mp3",
                false,
            ),
            (
                "Daft Punk",
                "Get Lucky",
                None,
                r"@@x\Remixes\Get Lucky (Daft Punk Remix).mp3",
                false,
            ),
            (
                "Beyoncé",
                "Déjà Vu",
                None,
                r"@@x\Beyonce\B'Day\02 - Deja Vu.flac",
                true,
            ),
            (
                "Sigur Rós",
                "Hoppípolla",
                None,
                r"@@x\Sigur Ros\Takk\03 Hoppipolla.mp3",
                true,
            ),
            (
                "Guns N' Roses",
                "Sweet Child O' Mine",
                None,
                r"@@x\Guns N Roses\Appetite\09 - Sweet Child O Mine.flac",
                true,
            ),
            (
                "Simon & Garfunkel",
                "The Sound of Silence",
                None,
                r"@@x\Simon and Garfunkel\01 The Sound Of Silence.mp3",
                true,
            ),
            (
                "Radiohead",
                "Creep",
                None,
                r"@@x\Radiohead\Pablo Honey\02 - Creep (Acoustic).mp3",
                false,
            ),
            (
                "Radiohead",
                "Creep",
                None,
                r"@@x\Radiohead\Pablo Honey\02 - Creep.mp3",
                true,
            ),
            (
                "Radiohead",
                "Creep",
                None,
                r"@@x\Radiohead\Pablo Honey\03 - Creeping.mp3",
                false,
            ),
            (
                "Blur",
                "Song 2",
                None,
                r"@@x\Blur\Blur\02 - Song 2.flac",
                true,
            ),
            (
                "Blur",
                "Song",
                None,
                r"@@x\Blur\Blur\02 - Song 2.flac",
                false,
            ),
            (
                "The Smashing Pumpkins",
                "1979",
                None,
                r"@@x\Smashing Pumpkins\Mellon Collie\CD2\05 - 1979.flac",
                true,
            ),
            (
                "Joy Division",
                "Love Will Tear Us Apart",
                None,
                "/downloads/Joy Division - Substance/Joy Division - Love Will Tear Us Apart.flac",
                true,
            ),
            (
                "Joy Division",
                "Love Will Tear Us Apart",
                None,
                "/music/joy_division-love_will_tear_us_apart-1980-grp.mp3",
                true,
            ),
            (
                "Massive Attack",
                "Teardrop",
                None,
                r"@@x\VA\Now 42\CD1\1-03 Massive Attack - Teardrop.mp3",
                true,
            ),
            (
                "Massive Attack",
                "Teardrop",
                None,
                "Massive Attack - Mezzanine - 03 - Teardrop.flac",
                true,
            ),
            (
                "Pink Floyd",
                "Another Brick in the Wall, Pt. 2",
                None,
                r"@@x\Pink Floyd\The Wall\CD1\05 - Another Brick In The Wall (Part 2).flac",
                true,
            ),
            (
                "Pink Floyd",
                "Another Brick in the Wall, Pt. 2",
                None,
                r"@@x\Pink Floyd\The Wall\CD1\03 - Another Brick In The Wall (Part 1).flac",
                false,
            ),
            (
                "Fleetwood Mac",
                "Dreams",
                None,
                r"@@x\Fleetwood Mac\Rumours [Vinyl]\B1 Dreams.flac",
                true,
            ),
            (
                "Kate Bush",
                "Running Up That Hill (A Deal with God)",
                None,
                r"@@x\Kate Bush\Hounds of Love\01 Running Up That Hill (A Deal With God).flac",
                true,
            ),
            (
                "Nirvana",
                "Smells Like Teen Spirit",
                None,
                r"@@x\Nirvana\Nevermind\01 - Smells Like Teen Spirit (Karaoke Version).mp3",
                false,
            ),
            (
                "Nirvana",
                "Smells Like Teen Spirit",
                None,
                r"@@x\Nirvana\Nevermind (Deluxe Edition)\01 - Smells Like Teen Spirit (Remastered).flac",
                true,
            ),
            (
                "Coldplay",
                "Yellow",
                None,
                r"@@x\Coldplay\Parachutes\05 - Yellow.m4a",
                true,
            ),
            (
                "Coldplay",
                "Yellow",
                None,
                r"@@x\Coldplay\Parachutes\folder.jpg",
                false,
            ),
        ];
        assert!(rows.len() >= 30);
        let policy = RankingPolicy::default();
        for (artist, title, album, path, want) in rows {
            let ext = path.rsplit('.').next().unwrap_or_default();
            let c = vec![cand("p", path, ext, None, true, 0, 1)];
            let wanted = Wanted {
                artist,
                title,
                album: *album,
                duration_secs: None,
            };
            let picked = !policy.rank(&c, &wanted, &[]).is_empty();
            assert_eq!(picked, *want, "{artist} - {title} vs {path}");
        }
    }

    #[test]
    fn a_good_enough_candidate_is_sure_preferred_and_ready() {
        let policy = RankingPolicy::default();
        let wanted = Wanted {
            duration_secs: Some(200),
            ..song("Song")
        };
        let good = cand(
            "p",
            r"@@x\Artist\Album\01 - Song.flac",
            "flac",
            None,
            true,
            0,
            1,
        );
        assert!(policy.good_enough(&good, &wanted));
        let mp3 = cand(
            "p",
            r"@@x\Artist\Album\01 - Song.mp3",
            "mp3",
            Some(320),
            true,
            0,
            1,
        );
        assert!(!policy.good_enough(&mp3, &wanted));
        let busy = cand(
            "p",
            r"@@x\Artist\Album\01 - Song.flac",
            "flac",
            None,
            false,
            3,
            1,
        );
        assert!(!policy.good_enough(&busy, &wanted));
        let anonymous = cand("p", r"@@x\stuff\01 - Song.flac", "flac", None, true, 0, 1);
        assert!(!policy.good_enough(&anonymous, &wanted));
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
