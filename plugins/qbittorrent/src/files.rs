//! The file wanted inside a multi-file torrent: named by its path inside the torrent, or
//! failing that by the words of its name. It travels with the torrent as a tag (a plugin keeps
//! nothing between calls, and a magnet's file list is only known once its metadata arrives).

/// Tags may not hold commas: paths are written in hex.
const FILE_TAG: &str = "tributary-file-";
/// Set once the wanted file is chosen: its size and exact path inside the torrent. From then
/// on a listing needs no call per torrent: the torrent's progress is over the wanted file's
/// pieces only (its `size` too, which is why the file's own size is kept here).
const CHOSEN_TAG: &str = "tributary-path-";

pub fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

pub fn unhex(hex: &str) -> Option<String> {
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

fn tag_value<'a>(tags: &'a str, prefix: &str) -> Option<&'a str> {
    tags.split(',').find_map(|t| t.trim().strip_prefix(prefix))
}

/// Whether a tag is one of these two (and not the transfer's id).
pub fn is_file_tag(tag: &str) -> bool {
    tag.starts_with(FILE_TAG) || tag.starts_with(CHOSEN_TAG)
}

pub fn tag_for(file: &str) -> String {
    format!("{FILE_TAG}{}", hex(file))
}

pub fn chosen_tag_for(path: &str, size: u64) -> String {
    format!("{CHOSEN_TAG}{size}-{}", hex(path))
}

/// The wanted file a torrent's tags (qBittorrent's comma-joined `tags`) carry, as asked for.
pub fn from_tags(tags: &str) -> Option<String> {
    unhex(tag_value(tags, FILE_TAG)?)
}

/// The wanted file's exact path and size, once chosen.
pub fn chosen_from_tags(tags: &str) -> Option<(String, u64)> {
    let (size, path) = tag_value(tags, CHOSEN_TAG)?.split_once('-')?;
    Some((unhex(path)?, size.parse().ok()?))
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
        assert_eq!(chosen_from_tags(&tags), None);
        let tags = format!("{tags},{}", chosen_tag_for("Album/01.flac", 4_200_017));
        assert_eq!(
            chosen_from_tags(&tags),
            Some(("Album/01.flac".to_owned(), 4_200_017))
        );
        assert!(is_file_tag(&tag_for(file)) && is_file_tag(&chosen_tag_for(file, 1)));
        assert!(!is_file_tag("tributary-17"));
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
