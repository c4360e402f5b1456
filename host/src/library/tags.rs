//! The file's own tags, read with lofty. A file without tags (or one lofty cannot read) gives
//! nothing, and the download's track info is used alone.

use std::path::Path;

use lofty::prelude::*;

use super::TrackFields;

/// What the tags say; each field is `None` when absent or blank.
#[derive(Debug, Default)]
pub(super) struct FileTags {
    artist: Option<String>,
    album: Option<String>,
    title: Option<String>,
    track: Option<u32>,
}

pub(super) fn read(path: &Path) -> FileTags {
    let Ok(file) = lofty::read_from_path(path) else {
        return FileTags::default();
    };
    let Some(tag) = file.primary_tag().or_else(|| file.first_tag()) else {
        return FileTags::default();
    };
    let text = |v: Option<std::borrow::Cow<'_, str>>| {
        v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
    };
    FileTags {
        artist: text(tag.artist()),
        album: text(tag.album()),
        title: text(tag.title()),
        track: tag.track().filter(|n| *n > 0),
    }
}

impl FileTags {
    /// The tags where they say something, the download's track info elsewhere. The tags win:
    /// they describe the file that was actually received.
    pub(super) fn over(self, track: &TrackFields) -> TrackFields {
        TrackFields {
            artist: self.artist.unwrap_or_else(|| track.artist.clone()),
            album: self.album.or_else(|| track.album.clone()),
            title: self.title.unwrap_or_else(|| track.title.clone()),
            track: self.track.or(track.track),
        }
    }
}
