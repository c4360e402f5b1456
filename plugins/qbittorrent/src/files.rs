//! The file wanted inside a multi-file torrent: named by its path inside the torrent, or
//! failing that by the words of its name. It travels with the torrent as a tag (a plugin keeps
//! nothing between calls, and a magnet's file list is only known once its metadata arrives).

/// Tags may not hold commas: the path is written in hex.
const FILE_TAG: &str = "tributary-file-";

pub fn tag_for(file: &str) -> String {
    let hex: String = file.bytes().map(|b| format!("{b:02x}")).collect();
    format!("{FILE_TAG}{hex}")
}

/// The wanted file a torrent's tags (qBittorrent's comma-joined `tags`) carry.
pub fn from_tags(tags: &str) -> Option<String> {
    let hex = tags
        .split(',')
        .find_map(|t| t.trim().strip_prefix(FILE_TAG))?;
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The index of the wanted file among the torrent's file names (paths inside the torrent,
/// e.g. "Album/01 - Song.flac"): the same path, a path ending with it, or the first whose
/// words include every word of it.
pub fn find(names: &[&str], wanted: &str) -> Option<usize> {
    let wanted = wanted.trim_start_matches('/');
    names
        .iter()
        .position(|n| *n == wanted)
        .or_else(|| {
            names
                .iter()
                .position(|n| n.ends_with(&format!("/{wanted}")))
        })
        .or_else(|| {
            let needed = words(wanted.rsplit('/').next().unwrap_or(wanted));
            names.iter().position(|n| {
                let have = words(n);
                !needed.is_empty() && needed.iter().all(|w| have.contains(w))
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wanted_file_survives_a_tag() {
        let file = "Album, Live/01 - Ça va.flac";
        let tags = format!("tributary-1, {}", tag_for(file));
        assert!(!tag_for(file).contains(','));
        assert_eq!(from_tags(&tags).as_deref(), Some(file));
        assert_eq!(from_tags("tributary-1"), None);
        assert_eq!(from_tags("tributary-file-zz"), None);
    }

    #[test]
    fn files_are_found_by_path_then_by_words() {
        let names = [
            "Album/01 - Intro.flac",
            "Album/02 - The Song.flac",
            "Album/cover.jpg",
        ];
        assert_eq!(find(&names, "Album/02 - The Song.flac"), Some(1));
        assert_eq!(find(&names, "02 - The Song.flac"), Some(1));
        assert_eq!(find(&names, "the song"), Some(1));
        assert_eq!(find(&names, "cover"), Some(2));
        assert_eq!(find(&names, "missing track"), None);
        assert_eq!(find(&names, "---"), None);
    }
}
