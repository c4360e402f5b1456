//! Moving a rejected file out of the downloads folder, so that nothing imports or plays it and
//! the operator can look at it. Files of one download that share a name are all kept.

use std::path::{Path, PathBuf};

use crate::library::{Conflict, ImportMode, place};

/// Moves `file` into `dir` as `<tag>-<file name>` (with " (2)", " (3)"... when that is taken)
/// and returns where it went.
pub fn quarantine(file: &Path, dir: &Path, tag: &str) -> Result<PathBuf, String> {
    let name = file
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    place(
        file,
        &dir.join(format!("{tag}-{name}")),
        ImportMode::Move,
        Conflict::KeepBoth,
    )
    .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::quarantine;

    #[test]
    fn files_of_the_same_name_are_all_kept() {
        let dir = tempfile::tempdir().unwrap();
        let jail = dir.path().join("quarantine");
        let mut kept = Vec::new();
        for content in [b"one", b"two"] {
            let file = dir.path().join("x.flac");
            std::fs::write(&file, content).unwrap();
            kept.push(quarantine(&file, &jail, "id").unwrap());
            assert!(!file.exists());
        }
        assert_eq!(kept[0], jail.join("id-x.flac"));
        assert_eq!(kept[1], jail.join("id-x (2).flac"));
        assert_eq!(std::fs::read(&kept[0]).unwrap(), b"one");
    }
}
