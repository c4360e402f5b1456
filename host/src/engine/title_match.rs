//! Does a provider's file path hold the wanted track, and how surely?
//!
//! Shares name files in many ways: `01 - Title.flac`, `01 Artist - Title.mp3`,
//! `Artist - Album - 03 - Title.flac`, scene style `03-artist-title-group.mp3`, with or
//! without `(Remastered 2011)`, `feat. X`, accents or apostrophes. [`match_quality`] reads
//! the file name as a list of *segments* (text between ` - ` separators, and bracket
//! groups), finds the run of segments that spells the wanted title, and accounts for every
//! other word: a track number, the artist, the album, a version qualifier, a `feat.` credit,
//! or noise such as `[FLAC]`. Words it cannot account for inside the title's own segment
//! reject the file (`Another Song` is not `Song`, `Song 2` is not `Song`), and so does an
//! unknown bracket group, number or `Part N` after the title (`Song (Interlude)`), or any
//! unknown segment after a one-word or self-titled title (`Intro - Outro`); other unknown
//! segments (a compilation name before the title, a site name after it) only lower the
//! quality. Title words in another order match as [`TitleFit::Reordered`], only when the
//! segment holds exactly the title's words.
//!
//! Known limit: a number of up to three digits right before the title reads as a track
//! number, so a wanted `Problems` would match `99 Problems`.
//!
//! Version qualifiers come in two classes:
//!
//! * **Same recording** (optional on either side, a mismatch only costs quality): remaster,
//!   remastered, digital, mono, stereo, deluxe / expanded / anniversary / special edition,
//!   bonus track, hidden track, explicit, clean, album / LP / single / original version,
//!   original mix, reissue, a bare year such as `(2011)`, soundtrack credits (`From "Film"`).
//! * **Different recording** (must agree, or the file is rejected): live (also unplugged,
//!   session, concert), acoustic, demo, remix (rework, bootleg, mashup, dub, VIP, any other
//!   named mix such as `Club Mix`), instrumental, karaoke, cover / tribute, edit (radio
//!   edit, radio version), extended, reprise, a cappella, alternate take / outtake /
//!   rehearsal, sped up / slowed / nightcore, and a named version (`Taylor's Version`,
//!   `Piano Version`). A wanted `Title - Live` requires a live file; a plain wanted title
//!   rejects a live file. When two names of the same kind carry details that share no word
//!   (`Skrillex Remix` vs `Diplo Remix`, `Live 1986` vs `Live 1992`), they are different too.
//!
//! Folders (and unexplained file-name segments before the title, which name a release the
//! same way) are read for the artist and album, and for one soft signal: a release named
//! "live" (or acoustic, demo, remix, instrumental, karaoke) satisfies a wanted live track
//! whose file name lacks the word, and costs a plain wanted track one extra word. They never
//! reject outright because album names such as "Live Through This" use the same words.
//! A wanted album that is itself live (`Live at Leeds`) also allows files marked live when
//! the wanted title is not, since live albums' metadata seldom repeats "(Live)".

use std::cmp::Ordering;
use std::collections::BTreeSet;

/// The track a ranker is looking for, as its metadata names it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WantedTrack<'a> {
    /// Credited artist; a `feat. X` part is optional when matching.
    pub artist: &'a str,
    /// Track title, possibly with qualifiers such as `(Remastered 2011)` or `- Live`.
    pub title: &'a str,
    /// Album title, when known; only used to recognise folders and file-name segments.
    pub album: Option<&'a str>,
}

/// How closely the file name spells the title. Later variants are better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TitleFit {
    /// Every title word is there, but not in the wanted order.
    Reordered,
    /// The title words appear in order, with nothing unexplained inside the title segment.
    Exact,
}

/// How well a path matches a [`WantedTrack`]; a greater value is a better match.
///
/// Fields are compared in declaration order: title fit first, then whether the artist and
/// the album appear in the path, then fewer extra words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MatchQuality {
    /// How the title itself matched.
    pub title: TitleFit,
    /// The artist's name appears in the file name or in a folder of the path.
    pub artist_in_path: bool,
    /// The album's name appears in the file name or in a folder of the path.
    pub album_in_path: bool,
    /// Words the matcher could not account for or that differ between the two sides:
    /// unknown segments, same-recording qualifier words present on only one side, differing
    /// details of a shared qualifier, one for any `feat.` difference, one for a version
    /// that only a folder name states. Fewer is better; saturates at 255.
    pub extra_words: u8,
}

impl Ord for MatchQuality {
    fn cmp(&self, other: &Self) -> Ordering {
        self.title
            .cmp(&other.title)
            .then(self.artist_in_path.cmp(&other.artist_in_path))
            .then(self.album_in_path.cmp(&other.album_in_path))
            // Reversed: fewer unexplained words is the better match.
            .then(other.extra_words.cmp(&self.extra_words))
    }
}

impl PartialOrd for MatchQuality {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Whether `remote_path` (a provider's full path, `\` or `/` separated) holds the wanted
/// track: `None` when it does not, otherwise how well it matches.
///
/// Pure, and cheap enough (a few small allocations for the words of the path) for a ranker
/// to call on every candidate of a search.
pub fn match_quality(wanted: &WantedTrack<'_>, remote_path: &str) -> Option<MatchQuality> {
    let want = Prepared::new(wanted);
    if want.title.is_empty() {
        return None;
    }
    let mut components: Vec<&str> = remote_path
        .split(['/', '\\'])
        .filter(|c| !c.is_empty())
        .collect();
    let file_name = components.pop()?;
    let folders: Vec<Vec<String>> = components.iter().map(|c| words(&fold(c))).collect();
    let stem = fold(strip_extension(file_name));
    // Scene releases use `-` between fields and `_` for spaces, with no spaces at all.
    let scene = !stem.contains(char::is_whitespace) && stem.contains('-');
    let segments: Vec<FileSegment> = segments(&stem, scene)
        .into_iter()
        .map(FileSegment::new)
        .filter(|s| !s.words.is_empty() || !s.credits.is_empty())
        .collect();
    let file = FileName { segments, folders };

    let mut best: Option<MatchQuality> = None;
    for start in 0..file.segments.len() {
        for end in start..file.segments.len() {
            if !file.segments[end].may_hold_title() {
                break;
            }
            if let Some(q) = file.judge_run(&want, start, end) {
                best = best.max(Some(q));
            }
        }
    }
    best
}

// ---------------------------------------------------------------------------------------
// Normalisation

/// ASCII, lower case, `&` spelled out, apostrophes dropped (`Don't` = `Dont`).
fn fold(text: &str) -> String {
    // Unknown characters become a space rather than deunicode's `[?]`, which would
    // otherwise read as a bracket group.
    let ascii = deunicode::deunicode_with_tofu(text, " ");
    let mut out = String::with_capacity(ascii.len());
    for c in ascii.chars() {
        match c {
            '&' => out.push_str(" and "),
            '\'' | '`' => {}
            c => out.push(c.to_ascii_lowercase()),
        }
    }
    out
}

/// Drops a file extension (`.flac`, `.mp3`, `.m4a`); a trailing `.2` is not one.
fn strip_extension(name: &str) -> &str {
    match name.rsplit_once('.') {
        Some((stem, ext))
            if !stem.is_empty()
                && (1..=5).contains(&ext.len())
                && ext.chars().all(|c| c.is_ascii_alphanumeric())
                && ext.chars().any(|c| c.is_ascii_alphabetic()) =>
        {
            stem
        }
        _ => name,
    }
}

/// Folded text into canonical words: punctuation and separators split words, dotted
/// acronyms join (`R.E.M.` = `REM`), spelling variants meet (`Pt.` = `Part`,
/// `Part II` = `Part 2`, `'n'` = `and`, `02` = `2`).
fn words(folded: &str) -> Vec<String> {
    let mut raw: Vec<String> = Vec::new();
    for token in folded.split_whitespace() {
        if let Some(acronym) = dotted_acronym(token) {
            raw.push(acronym);
            continue;
        }
        raw.extend(
            token
                .split(|c: char| !c.is_ascii_alphanumeric())
                .filter(|w| !w.is_empty())
                .map(str::to_owned),
        );
    }
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for word in raw {
        // `Don_t` (an apostrophe some tools replace) reads as `dont`.
        if word == "t"
            && let Some(prev) = out.last_mut()
            && prev.ends_with('n')
        {
            prev.push('t');
            continue;
        }
        let numbered = out
            .last()
            .is_some_and(|p| matches!(p.as_str(), "part" | "volume" | "chapter" | "act" | "book"));
        let word = match roman(&word) {
            Some(n) if numbered => n.to_string(),
            _ => canonical(word),
        };
        out.push(word);
    }
    out
}

/// `r.e.m.` -> `rem`: only single letters between the dots.
fn dotted_acronym(token: &str) -> Option<String> {
    let pieces: Vec<&str> = token.trim_end_matches('.').split('.').collect();
    let letters = pieces.len() >= 2
        && pieces
            .iter()
            .all(|p| p.len() == 1 && p.chars().all(|c| c.is_ascii_alphabetic()));
    letters.then(|| pieces.concat())
}

fn roman(word: &str) -> Option<u32> {
    const NUMERALS: [&str; 20] = [
        "i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x", "xi", "xii", "xiii", "xiv",
        "xv", "xvi", "xvii", "xviii", "xix", "xx",
    ];
    NUMERALS
        .iter()
        .position(|n| *n == word)
        .map(|i| i as u32 + 1)
}

/// One spelling for words that are written several ways.
fn canonical(word: String) -> String {
    if word.len() > 1 && word.bytes().all(|b| b.is_ascii_digit()) {
        let trimmed = word.trim_start_matches('0');
        return if trimmed.is_empty() { "0" } else { trimmed }.to_owned();
    }
    let same = match word.as_str() {
        "pt" => "part",
        "vol" => "volume",
        "n" => "and",
        "ft" | "featuring" => "feat",
        "remastered" | "remasterd" | "remasters" | "remastering" | "remasterisation"
        | "remasterization" => "remaster",
        "rmx" | "remixed" | "remixes" => "remix",
        "demos" => "demo",
        "instrumentals" | "inst" | "instr" => "instrumental",
        "sessions" => "session",
        "covers" => "cover",
        "edits" => "edit",
        "versions" => "version",
        "acappella" | "cappella" | "capella" => "acapella",
        "disk" => "disc",
        _ => return word,
    };
    same.to_owned()
}

// ---------------------------------------------------------------------------------------
// Segments

/// Text between separators, or one bracket group, as words.
#[derive(Debug)]
struct Segment {
    words: Vec<String>,
    bracketed: bool,
}

/// Splits folded text at ` - ` style separators and around `(…)`, `[…]`, `{…}`.
///
/// A dash only separates when it touches a space, `_` or `.` (or is doubled), so `Jay-Z`
/// and `1-03` stay inside one segment; in `scene` mode every dash separates.
fn segments(text: &str, scene: bool) -> Vec<Segment> {
    fn push(out: &mut Vec<Segment>, text: &mut String, bracketed: bool) {
        let w = words(text);
        if !w.is_empty() {
            out.push(Segment {
                words: w,
                bracketed,
            });
        }
        text.clear();
    }
    let chars: Vec<char> = text.chars().collect();
    let spacing = |c: Option<&char>| c.is_none_or(|c| c.is_whitespace() || matches!(c, '_' | '.'));
    let mut out = Vec::new();
    let mut current = String::new();
    let mut group = String::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if depth > 0 {
            match c {
                '(' | '[' | '{' => {
                    depth += 1;
                    group.push(' ');
                }
                ')' | ']' | '}' => {
                    depth -= 1;
                    if depth == 0 {
                        push(&mut out, &mut group, true);
                    } else {
                        group.push(' ');
                    }
                }
                c => group.push(c),
            }
            i += 1;
            continue;
        }
        match c {
            '(' | '[' | '{' => {
                push(&mut out, &mut current, false);
                depth = 1;
            }
            ')' | ']' | '}' | '_' => current.push(' '),
            '-' => {
                let start = i;
                while chars.get(i + 1) == Some(&'-') {
                    i += 1;
                }
                let separates = scene
                    || i > start
                    || spacing(start.checked_sub(1).map(|j| &chars[j]))
                    || spacing(chars.get(i + 1));
                if separates {
                    push(&mut out, &mut current, false);
                } else {
                    current.push('-');
                }
            }
            c => current.push(c),
        }
        i += 1;
    }
    push(&mut out, &mut current, false);
    push(&mut out, &mut group, true);
    out
}

/// Cuts a `feat. X` credit off a segment: `(feat. X)`, `(with X)`, `(prod. X)` whole,
/// or `Title feat. X` from the marker on. Returns (words, credited words).
fn split_credit(words: Vec<String>, bracketed: bool) -> (Vec<String>, Vec<String>) {
    let leads = |w: &str| matches!(w, "feat" | "with" | "prod" | "produced");
    if bracketed && words.first().is_some_and(|w| leads(w)) {
        return (Vec::new(), credit_words(&words[1..]));
    }
    match words.iter().position(|w| w == "feat") {
        Some(at) => (words[..at].to_vec(), credit_words(&words[at + 1..])),
        None => (words, Vec::new()),
    }
}

/// Credited names without the joining words, so `X & Y` and `X, Y` compare equal.
fn credit_words(words: &[String]) -> Vec<String> {
    words
        .iter()
        .filter(|w| !matches!(w.as_str(), "and" | "by" | "feat" | "with" | "x" | "vs"))
        .cloned()
        .collect()
}

// ---------------------------------------------------------------------------------------
// Qualifiers

/// Kinds of "different recording" qualifier; see the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Live,
    Acoustic,
    Demo,
    Remix,
    Instrumental,
    Karaoke,
    Cover,
    Edit,
    Extended,
    Reprise,
    Acapella,
    Alternate,
    Altered,
    Version,
}

fn strong_kind(word: &str) -> Option<Kind> {
    Some(match word {
        "live" | "unplugged" | "session" | "concert" => Kind::Live,
        "acoustic" => Kind::Acoustic,
        "demo" => Kind::Demo,
        "remix" | "rework" | "reworked" | "bootleg" | "mashup" | "dub" | "vip" => Kind::Remix,
        "instrumental" => Kind::Instrumental,
        "karaoke" => Kind::Karaoke,
        "cover" | "tribute" => Kind::Cover,
        "edit" | "radio" => Kind::Edit,
        "extended" => Kind::Extended,
        "reprise" => Kind::Reprise,
        "acapella" => Kind::Acapella,
        "alternate" | "alt" | "outtake" | "rehearsal" => Kind::Alternate,
        "sped" | "slowed" | "nightcore" => Kind::Altered,
        _ => return None,
    })
}

/// Folder words that mark a whole release as another recording (a live album).
fn folder_kind(word: &str) -> Option<Kind> {
    match word {
        "live" | "unplugged" | "concert" => Some(Kind::Live),
        "acoustic" => Some(Kind::Acoustic),
        "demo" => Some(Kind::Demo),
        "remix" => Some(Kind::Remix),
        "instrumental" => Some(Kind::Instrumental),
        "karaoke" => Some(Kind::Karaoke),
        _ => None,
    }
}

/// Words that name the same recording in another packaging.
fn is_same_marker(word: &str) -> bool {
    matches!(
        word,
        "remaster"
            | "mastered"
            | "digital"
            | "digitally"
            | "mono"
            | "stereo"
            | "deluxe"
            | "edition"
            | "expanded"
            | "anniversary"
            | "special"
            | "bonus"
            | "track"
            | "hidden"
            | "explicit"
            | "clean"
            | "dirty"
            | "censored"
            | "uncensored"
            | "album"
            | "lp"
            | "single"
            | "original"
            | "reissue"
            | "soundtrack"
            | "ost"
    )
}

fn is_filler(word: &str) -> bool {
    matches!(
        word,
        "at" | "the"
            | "from"
            | "in"
            | "on"
            | "of"
            | "a"
            | "an"
            | "for"
            | "by"
            | "with"
            | "and"
            | "to"
    )
}

fn is_year(word: &str) -> bool {
    word.len() == 4
        && word
            .parse::<u32>()
            .is_ok_and(|y| (1900..=2099).contains(&y))
}

/// File-name decoration that says nothing about the recording: `[FLAC]`, `(320 kbps)`,
/// `(Official Video)`, `[www.example.com]`.
fn is_noise(words: &[String]) -> bool {
    const NOISE: &[&str] = &[
        "flac",
        "mp3",
        "m4a",
        "aac",
        "ogg",
        "opus",
        "wav",
        "alac",
        "aiff",
        "kbps",
        "kbit",
        "khz",
        "bit",
        "24bit",
        "16bit",
        "lossless",
        "vinyl",
        "web",
        "webrip",
        "cdrip",
        "vinylrip",
        "rip",
        "hq",
        "hd",
        "hires",
        "official",
        "audio",
        "video",
        "music",
        "lyric",
        "lyrics",
        "visualizer",
        "visualiser",
        "clip",
        "mv",
        "www",
        "com",
        "net",
        "org",
        "ru",
        "cdq",
        "itunes",
        "spotify",
        "bandcamp",
        "youtube",
    ];
    let noisy = |w: &String| NOISE.contains(&w.as_str()) || w.ends_with("kbps");
    !words.is_empty()
        && words.iter().any(noisy)
        && (words.iter().any(|w| w == "www")
            || words
                .iter()
                .all(|w| noisy(w) || w.bytes().all(|b| b.is_ascii_digit())))
}

/// What a qualifier-looking group of words means.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Qualifier {
    /// Same recording; the words (markers, years, details) only weigh on quality.
    Same(Vec<String>),
    /// Another recording of these kinds, with distinguishing details (`Skrillex`, `1986`).
    Different(BTreeSet<Kind>, Vec<String>),
}

/// Reads a group of words as a version qualifier, or `None` when it is ordinary title text.
///
/// `strict` is for unbracketed text (a wanted title's `- Something`, or words trailing the
/// title in the same segment), where a lone same-recording word next to unknown words is
/// more likely part of a title ("Special Friend") than a qualifier.
fn classify(words: &[String], strict: bool) -> Option<Qualifier> {
    let mut kinds = BTreeSet::new();
    let mut weak = None;
    let mut same_marker = false;
    let mut details = Vec::new();
    let mut kept = Vec::new();
    for w in words {
        if let Some(k) = strong_kind(w) {
            kinds.insert(k);
        } else if w == "version" {
            weak = weak.or(Some(Kind::Version));
        } else if w == "mix" {
            weak = Some(Kind::Remix);
        } else if is_same_marker(w) {
            same_marker = true;
            kept.push(w.clone());
        } else if is_year(w) {
            kept.push(w.clone());
        } else if !is_filler(w) {
            details.push(w.clone());
            kept.push(w.clone());
        }
    }
    let years: Vec<String> = words.iter().filter(|w| is_year(w)).cloned().collect();
    let with_years = |mut d: Vec<String>| {
        d.extend(years.iter().cloned());
        d
    };
    if !kinds.is_empty() {
        return Some(Qualifier::Different(kinds, with_years(details)));
    }
    if let Some(kind) = weak
        && !details.is_empty()
        && !same_marker
    {
        // A named version or mix (`Piano Version`, `Club Mix`) is another recording;
        // `Album Version` or `Original Mix` is not.
        return Some(Qualifier::Different(
            BTreeSet::from([kind]),
            with_years(details),
        ));
    }
    let soundtrack = words.first().is_some_and(|w| w == "from");
    let only_years = !words.is_empty() && words.iter().all(|w| is_year(w));
    if soundtrack || only_years || same_marker || weak.is_some() {
        if strict && !soundtrack && !details.is_empty() {
            return None;
        }
        return Some(Qualifier::Same(kept));
    }
    None
}

/// The version a title names, gathered from all of its qualifiers.
#[derive(Debug, Default, Clone)]
struct Version {
    kinds: BTreeSet<Kind>,
    details: Vec<String>,
    same: Vec<String>,
    credits: Vec<String>,
}

impl Version {
    fn add(&mut self, q: Qualifier) {
        match q {
            Qualifier::Same(words) => self.same.extend(words),
            Qualifier::Different(kinds, details) => {
                self.kinds.extend(kinds);
                self.details.extend(details);
            }
        }
    }
}

/// Number of words in one multiset but not the other.
fn symmetric_difference(a: &[String], b: &[String]) -> usize {
    let mut a: Vec<&String> = a.iter().collect();
    let mut b: Vec<&String> = b.iter().collect();
    a.sort();
    b.sort();
    let (mut i, mut j, mut differ) = (0, 0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(b[j]) {
            Ordering::Less => (differ, i) = (differ + 1, i + 1),
            Ordering::Greater => (differ, j) = (differ + 1, j + 1),
            Ordering::Equal => (i, j) = (i + 1, j + 1),
        }
    }
    differ + (a.len() - i) + (b.len() - j)
}

// ---------------------------------------------------------------------------------------
// The wanted side

/// A title split into its core words and its version.
fn parse_title(text: &str) -> (Vec<String>, Version) {
    let mut core = Vec::new();
    let mut version = Version::default();
    let mut seen_text = false;
    for seg in segments(&fold(text), false) {
        let (words, credits) = split_credit(seg.words, seg.bracketed);
        version.credits.extend(credits);
        if words.is_empty() {
            continue;
        }
        // The first unbracketed text is the title itself, even if it reads like a
        // qualifier ("Live Forever", "Demo").
        if !seen_text && !seg.bracketed {
            seen_text = true;
            core.extend(words);
            continue;
        }
        match classify(&words, !seg.bracketed) {
            Some(q) => version.add(q),
            None => core.extend(words),
        }
    }
    (core, version)
}

/// The wanted track in canonical words, prepared once per call.
struct Prepared {
    title: Vec<String>,
    /// Without a leading "the": shares write both `The Beatles` and `Beatles, The`.
    artist: Vec<String>,
    album: Vec<String>,
    version: Version,
}

impl Prepared {
    fn new(wanted: &WantedTrack<'_>) -> Prepared {
        let (title, mut version) = parse_title(wanted.title);
        let mut artist = Vec::new();
        for seg in segments(&fold(wanted.artist), false) {
            let (words, credits) = split_credit(seg.words, seg.bracketed);
            version.credits.extend(credits);
            if !seg.bracketed {
                artist.extend(words);
            }
        }
        if artist.first().is_some_and(|w| w == "the") && artist.len() > 1 {
            artist.remove(0);
        }
        let album = wanted.album.map(|a| parse_title(a).0).unwrap_or_default();
        Prepared {
            title,
            artist,
            album,
            version,
        }
    }

    /// Length of the artist's name at `words[at..]`, with an optional "the" either side.
    fn artist_at(&self, words: &[String], at: usize) -> Option<usize> {
        if self.artist.is_empty() {
            return None;
        }
        let skip = usize::from(words.get(at).is_some_and(|w| w == "the"));
        for lead in [skip, 0] {
            if words[at + lead..].starts_with(&self.artist) {
                let end = at + lead + self.artist.len();
                let trail = usize::from(words.get(end).is_some_and(|w| w == "the"));
                return Some(lead + self.artist.len() + trail);
            }
        }
        None
    }

    fn album_at(&self, words: &[String], at: usize) -> Option<usize> {
        (!self.album.is_empty() && words[at..].starts_with(&self.album)).then_some(self.album.len())
    }

    /// Accounts for `words` as artist, album and (when `numbers` allows) track numbers.
    fn explain(&self, words: &[String], numbers: Numbers) -> Explained {
        let mut e = Explained::default();
        let mut at = 0;
        while at < words.len() {
            if let Some(n) = self.artist_at(words, at) {
                e.artist = true;
                at += n;
            } else if let Some(n) = self.album_at(words, at) {
                e.album = true;
                at += n;
            } else if let Some(n) = numbers.at(words, at) {
                at += n;
            } else {
                e.unexplained += 1;
                at += 1;
            }
        }
        e
    }
}

/// Which numbers may stand before a title.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Numbers {
    /// None: a number after the title is part of another title (`Song 2`).
    None,
    /// Track, disc and vinyl-side numbers (`01`, `1-03`, `A1`, `CD1`), but not a year
    /// inside the title's own segment, so `1979` is never mistaken for a track number.
    Tracks,
    /// Track numbers and years, for whole segments such as `2011 - Album - 03 - Title`.
    TracksAndYears,
}

impl Numbers {
    /// Length of the number at `words[at..]`, if one stands there.
    fn at(self, words: &[String], at: usize) -> Option<usize> {
        let w = words[at].as_str();
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let track = |s: &str| digits(s) && s.len() <= 3;
        match self {
            Numbers::None => None,
            _ if track(w) => Some(1),
            Numbers::TracksAndYears if is_year(w) => Some(1),
            _ => {
                let mut chars = w.chars();
                let first = chars.next()?;
                let rest = chars.as_str();
                // Vinyl side and position: A1, B12.
                if ('a'..='h').contains(&first) && (1..=2).contains(&rest.len()) && digits(rest) {
                    return Some(1);
                }
                for disc in ["cd", "disc", "side", "track"] {
                    if let Some(n) = w.strip_prefix(disc) {
                        if track(n) {
                            return Some(1);
                        }
                        let next = words.get(at + 1).map(String::as_str);
                        if n.is_empty() && next.is_some_and(|n| track(n) || n.len() == 1) {
                            return Some(2);
                        }
                    }
                }
                None
            }
        }
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct Explained {
    unexplained: usize,
    artist: bool,
    album: bool,
}

// ---------------------------------------------------------------------------------------
// The file side

#[derive(Debug)]
struct FileSegment {
    words: Vec<String>,
    bracketed: bool,
    credits: Vec<String>,
    noise: bool,
    qualifier: Option<Qualifier>,
}

impl FileSegment {
    fn new(seg: Segment) -> FileSegment {
        let noise = is_noise(&seg.words);
        let (words, credits) = split_credit(seg.words, seg.bracketed);
        let qualifier = classify(&words, false);
        FileSegment {
            words,
            bracketed: seg.bracketed,
            credits,
            noise,
            qualifier,
        }
    }

    /// Can this segment be (part of) the title? Bracket groups can (`(I Can't Get No)
    /// Satisfaction`) unless they read as a qualifier, a credit or noise.
    fn may_hold_title(&self) -> bool {
        !self.words.is_empty() && (!self.bracketed || (self.qualifier.is_none() && !self.noise))
    }
}

struct FileName {
    segments: Vec<FileSegment>,
    folders: Vec<Vec<String>>,
}

/// How a run of segments spelled the title.
struct RunFit {
    title: TitleFit,
    explained: Explained,
    qualifier: Option<Qualifier>,
}

/// Does `words` (one run of segments) spell the title, with anything else before it a
/// track number or the artist, and anything after it the artist or a qualifier?
fn fit_run(want: &Prepared, words: &[String]) -> Option<RunFit> {
    let t = want.title.len();
    if words.len() < t {
        return None;
    }
    for pos in 0..=words.len() - t {
        if words[pos..pos + t] != want.title[..] {
            continue;
        }
        let before = want.explain(&words[..pos], Numbers::Tracks);
        if before.unexplained > 0 {
            continue;
        }
        let rest = &words[pos + t..];
        let after = want.explain(rest, Numbers::None);
        let explained = Explained {
            unexplained: 0,
            artist: before.artist || after.artist,
            album: before.album || after.album,
        };
        if after.unexplained == 0 {
            return Some(RunFit {
                title: TitleFit::Exact,
                explained,
                qualifier: None,
            });
        }
        // Scene names carry qualifiers without brackets: `title_live`, `title_remastered`.
        if let Some(q) = classify(rest, true) {
            return Some(RunFit {
                title: TitleFit::Exact,
                explained: before,
                qualifier: Some(q),
            });
        }
    }
    // One word cannot be reordered; two or more may be, if nothing else is in the way.
    if t >= 2 {
        let mut sorted_title = want.title.clone();
        sorted_title.sort();
        // The title's words must be the whole tail of the run, so only one split is possible.
        let k = words.len() - t;
        let before = want.explain(&words[..k], Numbers::Tracks);
        let mut rest = words[k..].to_vec();
        rest.sort();
        if before.unexplained == 0 && rest == sorted_title {
            return Some(RunFit {
                title: TitleFit::Reordered,
                explained: before,
                qualifier: None,
            });
        }
    }
    None
}

fn contains_words(haystack: &[String], needle: &[String]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

impl FileName {
    /// The quality of reading segments `start..=end` as the title, or `None` if the rest
    /// of the name contradicts it.
    fn judge_run(&self, want: &Prepared, start: usize, end: usize) -> Option<MatchQuality> {
        let run: Vec<String> = self.segments[start..=end]
            .iter()
            .flat_map(|s| s.words.iter().cloned())
            .collect();
        let fit = fit_run(want, &run)?;
        let mut artist = fit.explained.artist;
        let mut album = fit.explained.album;
        let mut extra = 0usize;
        let mut version = Version::default();
        let mut context = Vec::new();
        if let Some(q) = fit.qualifier {
            version.add(q);
        }
        // A self-titled track ("Bad Company" by Bad Company) could be the artist or album
        // field; an unknown segment after it is then more likely the real title.
        let ambiguous = want.title == want.artist || want.title == want.album;

        for (k, seg) in self.segments.iter().enumerate() {
            version.credits.extend(seg.credits.iter().cloned());
            if (start..=end).contains(&k) || seg.noise || seg.words.is_empty() {
                continue;
            }
            let after = k > end;
            let numbers = if after {
                Numbers::None
            } else {
                Numbers::TracksAndYears
            };
            let e = want.explain(&seg.words, numbers);
            artist |= e.artist;
            album |= e.album;
            if e.unexplained == 0 {
                continue;
            }
            if (seg.bracketed || after)
                && let Some(q) = &seg.qualifier
            {
                version.add(q.clone());
                continue;
            }
            if !after {
                // Before the title: an album or compilation name we were not told about.
                extra += e.unexplained;
                context.extend(seg.words.iter().cloned());
                continue;
            }
            // After the title, unexplained text may make it another title: a bracket
            // (`Song (Part 2)`), a number (`Song - 2`), a part, or anything after a
            // one-word or self-titled title. Elsewhere it is likely a site or misspelt
            // artist and only costs quality.
            let first = seg.words[0].as_str();
            let numbered = seg
                .words
                .iter()
                .all(|w| w.bytes().all(|b| b.is_ascii_digit()))
                || matches!(first, "part" | "volume" | "chapter");
            if seg.bracketed || numbered || want.title.len() == 1 || ambiguous {
                return None;
            }
            extra += e.unexplained;
        }

        for folder in &self.folders {
            artist |= contains_words(folder, &want.artist);
            album |= contains_words(folder, &want.album);
        }

        extra += self.compare_versions(want, &version, &context)?;
        Some(MatchQuality {
            title: fit.title,
            artist_in_path: artist,
            album_in_path: album,
            extra_words: u8::try_from(extra).unwrap_or(u8::MAX),
        })
    }

    /// Extra words from version differences, or `None` for another recording.
    ///
    /// `context` holds the words around the title that name a release (unexplained
    /// segments before it); with the folders, they may say a whole release is live.
    fn compare_versions(
        &self,
        want: &Prepared,
        file: &Version,
        context: &[String],
    ) -> Option<usize> {
        let wanted = &want.version;
        let mut extra = 0;
        // A band called "Live" does not make its folder a live album.
        let context_kinds: BTreeSet<Kind> = self
            .folders
            .iter()
            .flatten()
            .chain(context)
            .filter(|w| !want.artist.contains(w))
            .filter_map(|w| folder_kind(w))
            .collect();
        // A wanted live album allows live files even when the wanted title does not say so.
        let album_kinds: BTreeSet<Kind> =
            want.album.iter().filter_map(|w| folder_kind(w)).collect();
        let allowed: BTreeSet<Kind> = wanted.kinds.union(&album_kinds).copied().collect();
        let mut kinds = file.kinds.clone();
        for k in context_kinds.intersection(&wanted.kinds) {
            if kinds.insert(*k) {
                // Only the folder says so: likely, not certain.
                extra += 1;
            }
        }
        if !wanted.kinds.is_subset(&kinds) || !kinds.is_subset(&allowed) {
            return None;
        }
        extra += context_kinds.difference(&allowed).count();
        let overlap = wanted.details.iter().any(|d| file.details.contains(d));
        if !wanted.details.is_empty() && !file.details.is_empty() && !overlap {
            return None;
        }
        extra += symmetric_difference(&wanted.details, &file.details);
        extra += symmetric_difference(&wanted.same, &file.same);
        // Credits are optional: a missing or different one is a single step down, however
        // many names it lists.
        extra += symmetric_difference(&wanted.credits, &file.credits).min(1);
        Some(extra)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a table row expects.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Expect {
        /// Not this track.
        No,
        /// A match, title words in order.
        Exact,
        /// A match, title words out of order.
        Reordered,
    }
    use Expect::{Exact, No, Reordered};

    /// (artist, title, album, remote path, expected outcome)
    type Row = (
        &'static str,
        &'static str,
        Option<&'static str>,
        &'static str,
        Expect,
    );

    // One row per line, so the table reads as a table.
    #[rustfmt::skip]
    const TABLE: &[Row] = &[
        // --- Everyday layouts ---------------------------------------------------------
        ("The Beatles", "Let It Be", Some("Let It Be"), r"@@share\Music\The Beatles\1970 - Let It Be [FLAC]\06 - Let It Be.flac", Exact),
        ("Radiohead", "Karma Police", Some("OK Computer"), r"@@music\Radiohead\1997 - OK Computer\06 Radiohead - Karma Police.mp3", Exact),
        ("Radiohead", "Karma Police", None, "/downloads/Radiohead - OK Computer/06. Karma Police.mp3", Exact),
        ("Nirvana", "Lithium", Some("Nevermind"), r"@@u\complete\Nirvana - Nevermind - 05 - Lithium.flac", Exact),
        ("Radiohead", "Airbag", None, r"@@u\mp3\01 Radiohead - Airbag.mp3", Exact),
        ("Daft Punk", "One More Time", None, "Daft_Punk-Discovery-WEB-2001-GRP/01-daft_punk-one_more_time-grp.mp3", Exact),
        ("Daft Punk", "One More Time", None, "Daft.Punk.-.One.More.Time.mp3", Exact),
        ("Queen", "Somebody to Love", None, "Queen/Greatest Hits/1-03 Somebody to Love.flac", Exact),
        ("Pink Floyd", "Money", None, r"@@v\Pink Floyd\The Dark Side Of The Moon (Vinyl 24-96)\B1 Money.flac", Exact),
        ("Pink Floyd", "Money", None, r"@@v\Pink Floyd\The Dark Side Of The Moon\A1. Speak To Me.flac", No),
        ("Pink Floyd", "Another Brick in the Wall, Pt. 1", Some("The Wall"), "Pink Floyd - The Wall (1979) [FLAC]/CD1/03 - Another Brick in the Wall, Part 1.flac", Exact),
        ("Pink Floyd", "Another Brick in the Wall, Pt. 2", None, "Pink Floyd - Another Brick In The Wall (Part II).flac", Exact),
        ("Pink Floyd", "Another Brick in the Wall, Pt. 2", None, "Pink Floyd - Another Brick In The Wall, Pt. 1.flac", No),
        ("Pink Floyd", "Another Brick in the Wall", None, "Pink Floyd - Another Brick In The Wall (Part 2).flac", No),
        ("Muse", "Hysteria", Some("Absolution"), "Muse - Absolution (2003) [FLAC 24-96]/08 - Hysteria.flac", Exact),
        ("Artist", "Title", None, "Artist – Title.mp3", Exact),
        // --- Same-recording qualifiers --------------------------------------------------
        ("The Beatles", "Help!", None, r"@@x\Beatles\Help!\07 - Help! (Remastered 2009).flac", Exact),
        ("David Bowie", "Heroes - 2017 Remaster", None, "David Bowie - Heroes.flac", Exact),
        ("Queen", "Bohemian Rhapsody [Remastered]", None, "Queen - Bohemian Rhapsody (2011 Remaster).mp3", Exact),
        ("Kanye West", "Power", None, "Kanye West - Power (Explicit).m4a", Exact),
        ("Oasis", "Wonderwall", None, "Oasis - (What's The Story) Morning Glory (Deluxe Edition)/03 - Wonderwall (Album Version).flac", Exact),
        ("deadmau5", "Strobe", None, "deadmau5 - Strobe (Original Mix).mp3", Exact),
        ("The Rolling Stones", "(I Can't Get No) Satisfaction", None, "The Rolling Stones - (I Can't Get No) Satisfaction (Mono).flac", Exact),
        ("Muse", "Uprising", None, "Muse - Uprising [FLAC].flac", Exact),
        ("Muse", "Uprising", None, "Muse - Uprising (Official Video).mp3", Exact),
        // --- Different-recording qualifiers ----------------------------------------------
        ("Nirvana", "Lithium", None, "Nirvana - Lithium (Live).mp3", No),
        ("Nirvana", "Lithium", None, "Nirvana - Bleach/03 - Lithium - Live at Reading.flac", No),
        ("Nirvana", "Lithium", None, "03-nirvana-lithium_live-grp.mp3", No),
        ("Nirvana", "Lithium - Live", None, "Nirvana - Lithium (Live at Reading 1992).flac", Exact),
        ("Nirvana", "Lithium - Live", None, "Nirvana - Nevermind/05 - Lithium.flac", No),
        ("Nirvana", "Lithium - Live", None, r"@@a\Nirvana\1992 - Live at Reading\05 - Lithium.flac", Exact),
        ("Nirvana", "About a Girl", None, "Nirvana - About a Girl (MTV Unplugged).mp3", No),
        ("Eric Clapton", "Layla", None, "Eric Clapton - Layla (Acoustic).mp3", No),
        ("M83", "Midnight City", None, "M83 - Midnight City (Eric Prydz Remix).mp3", No),
        ("Avicii", "Levels (Skrillex Remix)", None, "Avicii - Levels (Skrillex Remix).mp3", Exact),
        ("Avicii", "Levels (Skrillex Remix)", None, "Avicii - Levels (Cazzette Remix).mp3", No),
        ("Avicii", "Levels", None, "Avicii - Levels (Radio Edit).mp3", No),
        ("Avicii", "Levels - Radio Edit", None, "Avicii - Levels (Radio Edit).mp3", Exact),
        ("deadmau5", "Strobe", None, "deadmau5 - Strobe (Club Mix).mp3", No),
        ("Adele", "Hello", None, "Adele - Hello (Instrumental).mp3", No),
        ("Adele", "Hello", None, "Adele - Hello [Karaoke Version].mp3", No),
        ("Taylor Swift", "Love Story", None, "Taylor Swift - Love Story (Taylor's Version).mp3", No),
        ("Taylor Swift", "Love Story (Taylor's Version)", None, "Taylor Swift - Love Story (Taylors Version).flac", Exact),
        ("Weezer", "Buddy Holly", None, "Weezer - Buddy Holly (Demo).mp3", No),
        ("The Smashing Pumpkins", "1979", None, "Smashing Pumpkins - 1979 Remix.mp3", No),
        // --- Credits ------------------------------------------------------------------
        ("Daft Punk", "Get Lucky", None, "Daft Punk - Get Lucky (feat. Pharrell Williams).flac", Exact),
        ("Daft Punk", "Get Lucky (feat. Pharrell Williams & Nile Rodgers)", None, "Random Access Memories/08 - Get Lucky.flac", Exact),
        ("Rihanna", "Umbrella", None, "Rihanna ft. Jay-Z - Umbrella.mp3", Exact),
        ("Post Malone", "Sunflower (with Swae Lee)", None, "Post Malone - Sunflower.mp3", Exact),
        ("Calvin Harris", "This Is What You Came For", None, "Calvin Harris - This Is What You Came For featuring Rihanna.mp3", Exact),
        // --- Accents, punctuation, spelling ----------------------------------------------
        ("Beyoncé", "Déjà Vu", None, "Beyonce - Deja Vu.mp3", Exact),
        ("Sigur Ros", "Hoppipolla", None, r"@@share\Sigur Rós\2005 - Takk...\04 - Hoppípolla.flac", Exact),
        ("Motörhead", "Ace of Spades", None, "Motorhead - Ace Of Spades.mp3", Exact),
        ("Queen", "Don't Stop Me Now", None, "Queen - Dont Stop Me Now.mp3", Exact),
        ("Queen", "Don't Stop Me Now", None, "Don_t_Stop_Me_Now.mp3", Exact),
        ("Simon & Garfunkel", "Bridge over Troubled Water", None, "Simon and Garfunkel - Bridge Over Troubled Water.mp3", Exact),
        ("Led Zeppelin", "Rock and Roll", None, "Led Zeppelin - Rock & Roll.flac", Exact),
        ("R.E.M.", "Losing My Religion", None, "REM - Losing My Religion.mp3", Exact),
        ("Guns N' Roses", "Sweet Child O' Mine", None, "Guns N Roses - Sweet Child O Mine.mp3", Exact),
        ("The Beatles", "Ob-La-Di, Ob-La-Da", None, "The Beatles - Ob La Di Ob La Da.mp3", Exact),
        // --- Word order ---------------------------------------------------------------
        ("Joy Division", "Love Will Tear Us Apart", None, "Tear Us Apart Love Will.mp3", Reordered),
        ("Joy Division", "Love Will Tear Us Apart", None, "Joy Division - Love Will Tear Apart.mp3", No),
        // --- Subsets and short titles ---------------------------------------------------
        ("Blur", "Song 2", None, "Blur - Song.mp3", No),
        ("Blur", "Song", None, "Blur - Song 2.mp3", No),
        ("Blur", "Song", None, "Blur - Another Song.mp3", No),
        ("Blur", "Song", None, "Blur - Song (Interlude).mp3", No),
        ("The Smashing Pumpkins", "1979", None, r"@@s\Smashing Pumpkins\1995 - Mellon Collie\2-05 - 1979.flac", Exact),
        ("The Smashing Pumpkins", "1979", None, r"@@s\Smashing Pumpkins\1995 - Mellon Collie\1-01 - Tonight, Tonight.flac", No),
        ("Moby", "Go", None, "Moby - Go.mp3", Exact),
        ("Moby", "Go", None, "Moby - Let It Go.mp3", No),
        ("Moby", "Go", None, "01 - Go West.mp3", No),
        ("Kendrick Lamar", "i", None, "Kendrick Lamar - i.mp3", Exact),
        ("Kendrick Lamar", "i", None, "Kendrick Lamar - i am.mp3", No),
        ("The xx", "Intro", Some("xx"), r"@@a\The xx\xx\01 - Intro.flac", Exact),
        ("The xx", "Intro", None, "02 - Introduction.flac", No),
        ("The xx", "Intro", None, "01 - Intro - Outro.flac", No),
        ("Jay-Z", "99 Problems", None, "Jay-Z - 99 Problems.mp3", Exact),
        // --- Self-titled tracks and title tracks ------------------------------------------
        ("Bad Company", "Bad Company", None, "Bad Company - Shooting Star.mp3", No),
        ("Bad Company", "Bad Company", None, "Bad Company - Bad Company.mp3", Exact),
        ("The Beatles", "Let It Be", Some("Let It Be"), "The Beatles - Let It Be - 01 - Two of Us.flac", No),
        ("The Beatles", "Yesterday", None, "Beatles, The - Yesterday.mp3", Exact),
        // --- More shapes ---------------------------------------------------------------
        ("The Smashing Pumpkins", "1979", None, "1979 - Other Song.mp3", No),
        ("Claude Debussy", "Clair de Lune", None, "Debussy - Suite bergamasque - Clair de lune.flac", Exact),
        ("The Beatles", "Ob-La-Di, Ob-La-Da", None, "05-the_beatles-ob-la-di_ob-la-da-grp.mp3", Exact),
        ("Radiohead", "Creep", None, "Radiohead - Creep [www.example.com].mp3", Exact),
        ("Radiohead", "Creep - Acoustic", None, "Radiohead - Creep (Acoustic Version).mp3", Exact),
        ("The xx", "Intro", None, "01 - Intro (Reprise).flac", No),
        ("Joy Division", "Love Will Tear Us Apart", None, "07 - Apart Love Will Tear Us.mp3", Reordered),
        ("M83", "Midnight City (Eric Prydz Remix)", None, "M83 - Midnight City.mp3", No),
        ("Eric Prydz", "Opus (Extended Mix)", None, "Eric Prydz - Opus (Extended Version).mp3", Exact),
        ("Live", "Lightning Crashes", None, r"@@m\Live\1994 - Throwing Copper\07 - Lightning Crashes.flac", Exact),
        ("Oasis", "Live Forever", None, "Oasis - Live Forever.mp3", Exact),
        ("Oasis", "Forever", None, "Oasis - Live Forever.mp3", No),
        ("Led Zeppelin", "In the Light", None, "Led Zeppelin - Physical Graffiti (1975) [FLAC]/Disc 2/01. In the Light.flac", Exact),
        ("Led Zeppelin", "Kashmir", None, r"@@lz\Physical Graffiti\Track 06 - KASHMIR.FLAC", Exact),
        ("Fleetwood Mac", "Dreams", None, r"@@fm\Rumours [Vinyl]\A4 - Dreams.flac", Exact),
        ("The Beatles", "Let It Be", Some("Let It Be"), "The Beatles - Let It Be - 06 - Let It Be.flac", Exact),
        ("Nirvana", "Lithium - Live", None, "Nirvana - Live at Reading - 05 - Lithium.flac", Exact),
        ("Nirvana", "Lithium", Some("Live at Reading"), "Nirvana - Live at Reading/05 - Lithium (Live).flac", Exact),
        ("Nirvana", "Lithium", Some("Nevermind"), "Nirvana - Live at Reading/05 - Lithium (Live).flac", No),
        ("The Who", "Substitute - Live", Some("Live at Leeds"), r"@@w\The Who\Live at Leeds\05 - Substitute.flac", Exact),
    ];

    #[test]
    fn table_of_real_world_names() {
        let mut failures = Vec::new();
        for &(artist, title, album, path, expect) in TABLE {
            let wanted = WantedTrack {
                artist,
                title,
                album,
            };
            let got = match_quality(&wanted, path);
            let outcome = match got {
                None => No,
                Some(q) if q.title == TitleFit::Exact => Exact,
                Some(_) => Reordered,
            };
            if outcome != expect {
                failures.push(format!(
                    "{artist:?} / {title:?} vs {path:?}: expected {expect:?}, got {got:?}"
                ));
            }
        }
        assert!(TABLE.len() >= 40);
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    fn quality(artist: &str, title: &str, album: Option<&str>, path: &str) -> MatchQuality {
        let wanted = WantedTrack {
            artist,
            title,
            album,
        };
        match_quality(&wanted, path).unwrap_or_else(|| panic!("{title:?} should match {path:?}"))
    }

    /// (artist, title, album, better path, worse path)
    #[rustfmt::skip]
    const PREFERENCES: &[(&str, &str, Option<&str>, &str, &str)] = &[
        // In order beats reordered.
        ("Joy Division", "Love Will Tear Us Apart", None, "Love Will Tear Us Apart.mp3", "Tear Us Apart Love Will.mp3"),
        // The artist in the path beats another artist's cover.
        ("Joy Division", "Love Will Tear Us Apart", None, "Joy Division - Love Will Tear Us Apart.mp3", "Paul Young - Love Will Tear Us Apart.mp3"),
        // The album in the path beats a compilation.
        ("Nirvana", "Lithium", Some("Nevermind"), r"@@x\Nirvana\Nevermind\05 - Lithium.flac", r"@@x\Nirvana\Icon\05 - Lithium.flac"),
        // A wanted remaster prefers the remastered file, a plain title the plain file.
        ("David Bowie", "Heroes (2017 Remaster)", None, "David Bowie - Heroes (2017 Remaster).flac", "David Bowie - Heroes.flac"),
        ("David Bowie", "Heroes", None, "David Bowie - Heroes.flac", "David Bowie - Heroes (2017 Remaster).flac"),
        // A file that says live beats one only its folder calls live.
        ("Nirvana", "Lithium - Live", None, "Nirvana - Lithium (Live).flac", r"Nirvana\Live at Reading\05 - Lithium.flac"),
        // A plain title prefers a studio folder or album name to a live album's.
        ("Nirvana", "Lithium", None, "Nirvana - Nevermind - 05 - Lithium.flac", "Nirvana - Live at Reading - 05 - Lithium.flac"),
        ("Nirvana", "Lithium", None, r"Nirvana\Nevermind\05 - Lithium.flac", r"Nirvana\Live at Reading\05 - Lithium.flac"),
        // Matching credits beat missing ones.
        ("Daft Punk", "Get Lucky (feat. Pharrell Williams)", None, "Daft Punk - Get Lucky (feat. Pharrell Williams).flac", "Daft Punk - Get Lucky.flac"),
        // An unknown extra segment costs quality.
        ("Radiohead", "Karma Police", None, "Radiohead - Karma Police.mp3", "Radiohead - Karma Police - Best Of.mp3"),
    ];

    #[test]
    fn better_files_compare_greater() {
        for &(artist, title, album, better, worse) in PREFERENCES {
            let (b, w) = (
                quality(artist, title, album, better),
                quality(artist, title, album, worse),
            );
            assert!(b > w, "{better:?} ({b:?}) should beat {worse:?} ({w:?})");
        }
    }

    #[test]
    fn quality_fields_order_title_then_artist_then_album_then_fewer_words() {
        let q = |title, artist_in_path, album_in_path, extra_words| MatchQuality {
            title,
            artist_in_path,
            album_in_path,
            extra_words,
        };
        use TitleFit::{Exact, Reordered};
        assert!(q(Exact, false, false, 9) > q(Reordered, true, true, 0));
        assert!(q(Exact, true, false, 9) > q(Exact, false, true, 0));
        assert!(q(Exact, true, true, 9) > q(Exact, true, false, 0));
        assert!(q(Exact, true, true, 0) > q(Exact, true, true, 1));
    }

    #[test]
    fn normaliser_meets_spelling_variants() {
        let norm = |s: &str| words(&fold(s)).join(" ");
        assert_eq!(norm("Beyoncé – Déjà Vu"), "beyonce deja vu");
        assert_eq!(norm("Don't Stop"), "dont stop");
        assert_eq!(norm("R.E.M."), "rem");
        assert_eq!(norm("Pt. II"), "part 2");
        assert_eq!(norm("Vol. 03"), "volume 3");
        assert_eq!(norm("Rock 'n' Roll & Blues"), "rock and roll and blues");
        assert_eq!(norm("I"), "i");
    }

    #[test]
    fn segments_split_at_separators_not_inside_words() {
        let split = |s: &str, scene| -> Vec<String> {
            segments(&fold(s), scene)
                .iter()
                .map(|s| {
                    let w = s.words.join(" ");
                    if s.bracketed { format!("({w})") } else { w }
                })
                .collect()
        };
        assert_eq!(
            split("01 - Jay-Z - 99 Problems (Live)", false),
            ["1", "jay z", "99 problems", "(live)"]
        );
        assert_eq!(
            split("03-daft_punk-one_more_time-grp", true),
            ["3", "daft punk", "one more time", "grp"]
        );
        assert_eq!(split("1-03 Title", false), ["1 3 title"]);
        assert_eq!(split("Title [FLAC", false), ["title", "(flac)"]);
    }

    #[test]
    fn paths_without_a_title_or_file_never_match() {
        let wanted = WantedTrack {
            artist: "A",
            title: "Song",
            album: None,
        };
        assert_eq!(match_quality(&wanted, ""), None);
        assert_eq!(match_quality(&wanted, r"@@share\Music\"), None);
        let nameless = WantedTrack {
            title: "  ",
            ..wanted
        };
        assert_eq!(match_quality(&nameless, "Song.mp3"), None);
    }
}
