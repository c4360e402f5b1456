//! Putting a file at its library path: moved, copied or hard-linked, never over another file.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::ImportError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImportMode {
    /// Out of the downloads folder (a provider that seeds, qBittorrent, loses the file).
    #[default]
    Move,
    Copy,
    /// A second name for the same bytes: no copy, and the provider keeps seeding. Only within
    /// one file system.
    Hardlink,
}

/// What to do when the library already has a file at the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Conflict {
    /// Keep both: the new file gets " (2)", " (3)", ... before its extension.
    #[default]
    KeepBoth,
    /// Leave the library as it is; the download says it was not imported.
    Skip,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> ImportError + '_ {
    move |source| ImportError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The path with " (n)" before its extension.
fn numbered(path: &Path, n: u32) -> PathBuf {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("file");
    let name = match path.extension().and_then(|e| e.to_str()) {
        Some(ext) => format!("{stem} ({n}).{ext}"),
        None => format!("{stem} ({n})"),
    };
    path.with_file_name(name)
}

/// Puts `file` at `target` (or beside it, on a conflict) and returns where it went. The
/// target is claimed by creating it exclusively, so two imports never pick the same name
/// and an existing file is never replaced.
pub fn place(
    file: &Path,
    target: &Path,
    mode: ImportMode,
    on_conflict: Conflict,
) -> Result<PathBuf, ImportError> {
    if let Some(dir) = target.parent() {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let mut candidate = target.to_path_buf();
    let mut n = 1;
    loop {
        match claim(file, &candidate, mode) {
            Ok(()) => return Ok(candidate),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => match on_conflict {
                Conflict::Skip => return Err(ImportError::Exists(candidate)),
                Conflict::KeepBoth if n < 1000 => {
                    n += 1;
                    candidate = numbered(target, n);
                }
                Conflict::KeepBoth => return Err(io(target)(e)),
            },
            Err(e) => return Err(io(&candidate)(e)),
        }
    }
}

/// One try at `target`: fails with `AlreadyExists` when something is there.
fn claim(file: &Path, target: &Path, mode: ImportMode) -> std::io::Result<()> {
    match mode {
        // A hard link is created exclusively by the OS.
        ImportMode::Hardlink => std::fs::hard_link(file, target),
        // A move within one file system is a link then an unlink: no copy, and exclusive.
        ImportMode::Move => match std::fs::hard_link(file, target) {
            Ok(()) => std::fs::remove_file(file),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(e),
            // Another file system (or one without links): copied, then the original removed.
            Err(_) => copy_then(file, target, true),
        },
        ImportMode::Copy => copy_then(file, target, false),
    }
}

/// Claims the name first (`create_new`), then fills it: a rename would replace a file that
/// appeared meanwhile.
fn copy_then(file: &Path, target: &Path, remove_original: bool) -> std::io::Result<()> {
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(target)?;
    let copied = std::fs::File::open(file)
        .and_then(|mut input| std::io::copy(&mut input, &mut out))
        .and_then(|_| out.sync_all());
    if let Err(e) = copied {
        let _ = std::fs::remove_file(target);
        return Err(e);
    }
    if remove_original {
        std::fs::remove_file(file)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("in.flac");
        std::fs::write(&file, b"new").unwrap();
        let target = dir.path().join("lib/A/B/01 - T.flac");
        (dir, file, target)
    }

    #[test]
    fn modes_place_the_bytes_and_keep_or_leave_the_original() {
        for mode in [ImportMode::Move, ImportMode::Copy, ImportMode::Hardlink] {
            let (_dir, file, target) = setup();
            let placed = place(&file, &target, mode, Conflict::KeepBoth).unwrap();
            assert_eq!(placed, target);
            assert_eq!(std::fs::read(&target).unwrap(), b"new", "{mode:?}");
            assert_eq!(file.exists(), mode != ImportMode::Move, "{mode:?}");
        }
    }

    #[test]
    fn an_existing_file_is_never_overwritten() {
        for mode in [ImportMode::Move, ImportMode::Copy, ImportMode::Hardlink] {
            let (_dir, file, target) = setup();
            std::fs::create_dir_all(target.parent().unwrap()).unwrap();
            std::fs::write(&target, b"old").unwrap();
            let skipped = place(&file, &target, mode, Conflict::Skip);
            assert!(matches!(skipped, Err(ImportError::Exists(_))), "{mode:?}");
            assert!(file.exists(), "a skipped file stays where it was");
            let placed = place(&file, &target, mode, Conflict::KeepBoth).unwrap();
            assert_eq!(placed, target.with_file_name("01 - T (2).flac"), "{mode:?}");
            assert_eq!(std::fs::read(&target).unwrap(), b"old");
            assert_eq!(std::fs::read(&placed).unwrap(), b"new");
        }
    }
}
