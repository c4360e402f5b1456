//! The operator's path mappings, as Lidarr's remote path mappings: a provider in a container
//! says `/downloads/x.flac`, this machine reads `/mnt/slskd/downloads/x.flac`.

use std::path::PathBuf;

/// Applies the first mapping whose remote prefix covers `remote` (a whole path component:
/// `/downloads` maps `/downloads/x`, not `/downloads2/x`). Unmapped paths are taken as they are.
pub fn map(remote: &str, mappings: &[(String, String)]) -> PathBuf {
    for (from, to) in mappings {
        let from = from.trim_end_matches('/');
        if let Some(rest) = remote.strip_prefix(from)
            && (rest.is_empty() || rest.starts_with('/'))
        {
            let to = to.trim_end_matches('/');
            return PathBuf::from(format!("{to}{rest}"));
        }
    }
    PathBuf::from(remote)
}

#[cfg(test)]
mod tests {
    use super::map;
    use std::path::PathBuf;

    #[test]
    fn the_first_covering_mapping_wins_and_only_at_a_component_boundary() {
        let m = vec![
            ("/downloads/".to_owned(), "/mnt/slskd/downloads".to_owned()),
            ("/downloads".to_owned(), "/elsewhere".to_owned()),
        ];
        let cases = [
            ("/downloads/a/x.flac", "/mnt/slskd/downloads/a/x.flac"),
            ("/downloads", "/mnt/slskd/downloads"),
            ("/downloads2/x.flac", "/downloads2/x.flac"),
            ("/music/x.flac", "/music/x.flac"),
        ];
        for (remote, local) in cases {
            assert_eq!(map(remote, &m), PathBuf::from(local), "{remote}");
        }
        assert_eq!(map("/d/x", &[]), PathBuf::from("/d/x"));
    }
}
