//! A library path from a template: `{artist}`, `{album}`, `{title}`, `{track}` (or `{track:02}`,
//! zero-padded) and `{ext}`. Each value becomes one safe path component; the template's own
//! `/` separate folders, and nothing a value holds can climb out of the library.

/// The values a template is filled from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrackFields {
    pub artist: String,
    pub album: Option<String>,
    pub title: String,
    pub track: Option<u32>,
}

/// The longest component, in bytes (most file systems allow 255; room is left for
/// " (2)" and a temporary suffix).
const MAX_COMPONENT_BYTES: usize = 180;

/// Names Windows reserves (a library on a Samba share is read by Windows machines).
const RESERVED: [&str; 22] = [
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// One path component that is safe everywhere: no separators, no characters Windows or
/// Samba refuse, no control characters, no leading or trailing dots or spaces, not a reserved
/// name, not empty, at most `MAX_COMPONENT_BYTES`.
pub fn sanitize_component(raw: &str) -> String {
    let replaced: String = raw
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect();
    let trimmed = replaced.trim_matches(|c: char| c == '.' || c.is_whitespace());
    let mut out = if trimmed.is_empty() {
        "_".to_owned()
    } else {
        trimmed.to_owned()
    };
    let stem = out.split('.').next().unwrap_or("").to_ascii_uppercase();
    if RESERVED.contains(&stem.as_str()) {
        out.insert(0, '_');
    }
    if out.len() > MAX_COMPONENT_BYTES {
        let mut cut = MAX_COMPONENT_BYTES;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out = out.trim_end_matches(['.', ' ']).to_owned();
    }
    out
}

fn value(name: &str, spec: Option<&str>, f: &TrackFields, ext: &str) -> Option<String> {
    Some(match name {
        "artist" => f.artist.clone(),
        "album" => f.album.clone().unwrap_or_else(|| "Unknown Album".into()),
        "title" => f.title.clone(),
        "ext" => ext.to_owned(),
        "track" => {
            let n = f.track.unwrap_or(0);
            let width = spec
                .and_then(|s| s.trim_start_matches('0').parse::<usize>().ok())
                .unwrap_or(0)
                .min(4);
            format!("{n:0width$}")
        }
        _ => return None,
    })
}

/// Fills `template`; returns a relative path of safe components. An unknown `{name}` stays
/// as written (`config check` reports it); an empty template component is dropped.
pub fn render(template: &str, f: &TrackFields, ext: &str) -> std::path::PathBuf {
    let mut path = std::path::PathBuf::new();
    for part in template.split(['/', '\\']) {
        let mut text = String::new();
        let mut rest = part;
        while let Some(open) = rest.find('{') {
            text.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            let Some(close) = after.find('}') else {
                text.push_str(&rest[open..]);
                rest = "";
                break;
            };
            let field = &after[..close];
            let (name, spec) = match field.split_once(':') {
                Some((n, s)) => (n, Some(s)),
                None => (field, None),
            };
            match value(name, spec, f, ext) {
                Some(v) => text.push_str(&v.replace(['/', '\\'], "_")),
                None => text.push_str(&rest[open..open + close + 2]),
            }
            rest = &after[close + 1..];
        }
        text.push_str(rest);
        if text.trim().is_empty() {
            continue;
        }
        path.push(sanitize_component(&text));
    }
    if path.as_os_str().is_empty() {
        path.push(sanitize_component(&f.title));
    }
    path
}

/// The names in a template that are not fields, for `config check`.
pub fn unknown_fields(template: &str) -> Vec<String> {
    let empty = TrackFields::default();
    let mut unknown = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else { break };
        let name = after[..close].split(':').next().unwrap_or("");
        if value(name, None, &empty, "").is_none() {
            unknown.push(name.to_owned());
        }
        rest = &after[close + 1..];
    }
    unknown
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn fields() -> TrackFields {
        TrackFields {
            artist: "Massive Attack".into(),
            album: Some("Mezzanine".into()),
            title: "Teardrop".into(),
            track: Some(3),
        }
    }

    #[test]
    fn templates_fill() {
        let t = "{artist}/{album}/{track:02} - {title}.{ext}";
        assert_eq!(
            render(t, &fields(), "flac"),
            PathBuf::from("Massive Attack/Mezzanine/03 - Teardrop.flac")
        );
        let mut bare = fields();
        bare.album = None;
        bare.track = None;
        assert_eq!(
            render(t, &bare, "mp3"),
            PathBuf::from("Massive Attack/Unknown Album/00 - Teardrop.mp3")
        );
        assert_eq!(
            render("{track} {title} {nope}.{ext}", &fields(), "flac"),
            PathBuf::from("3 Teardrop {nope}.flac")
        );
        assert_eq!(unknown_fields("{artist}/{nope}/{track:02}"), vec!["nope"]);
    }

    #[test]
    fn values_cannot_escape_the_library() {
        let hostile = TrackFields {
            artist: "../../etc".into(),
            album: Some("..".into()),
            title: "a/b\\c:d*e?f\"g<h>i|j\u{7}k".into(),
            track: Some(1),
        };
        let p = render("{artist}/{album}/{title}.{ext}", &hostile, "flac");
        assert_eq!(
            p,
            PathBuf::from("_.._etc/_/a_b_c_d_e_f_g_h_i_j_k.flac"),
            "{}",
            p.display()
        );
        assert!(
            p.components()
                .all(|c| matches!(c, std::path::Component::Normal(_)))
        );
        assert_eq!(
            render("/{artist}//{title}.{ext}", &fields(), "flac"),
            PathBuf::from("Massive Attack/Teardrop.flac"),
            "a leading or doubled separator makes no absolute or empty part"
        );
    }

    #[test]
    fn components_are_safe_everywhere() {
        let cases = [
            ("CON", "_CON"),
            ("nul.flac", "_nul.flac"),
            ("  . hidden. ", "hidden"),
            ("...", "_"),
            ("", "_"),
            ("AC/DC", "AC_DC"),
            ("Sigur Rós", "Sigur Rós"),
        ];
        for (raw, safe) in cases {
            assert_eq!(sanitize_component(raw), safe, "{raw:?}");
        }
        let long = "é".repeat(200);
        let cut = sanitize_component(&long);
        assert!(cut.len() <= MAX_COMPONENT_BYTES && cut.chars().all(|c| c == 'é'));
    }
}
