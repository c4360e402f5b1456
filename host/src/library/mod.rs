//! Importing verified files into the music library: a name from the operator's template
//! (`{artist}/{album}/{track:02} - {title}.{ext}`), filled from the file's own tags and the
//! download's track, made safe for any file system, then the file is moved, copied or
//! hard-linked there. An existing file is never overwritten: the new one is kept beside it
//! under another name, or not imported, as configured.

mod naming;
mod placing;
mod tags;

use std::path::{Path, PathBuf};

pub use naming::{TrackFields, render, sanitize_component, unknown_fields};
pub use placing::{Conflict, ImportMode, place};

/// The operator's `[library]`.
#[derive(Debug, Clone, PartialEq)]
pub struct LibrarySettings {
    pub dir: PathBuf,
    pub mode: ImportMode,
    pub template: String,
    pub on_conflict: Conflict,
}

pub const DEFAULT_TEMPLATE: &str = "{artist}/{album}/{track:02} - {title}.{ext}";

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("a file already is at {0}; not imported (library.on_conflict = \"skip\")")]
    Exists(PathBuf),
    #[error("cannot import into {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Imports `file` as the download's `track` says; returns where it now is.
pub fn import(
    file: &Path,
    track: &TrackFields,
    library: &LibrarySettings,
) -> Result<PathBuf, ImportError> {
    let fields = tags::read(file).over(track);
    let extension = file
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let relative = render(&library.template, &fields, &extension);
    place(
        file,
        &library.dir.join(relative),
        library.mode,
        library.on_conflict,
    )
}
