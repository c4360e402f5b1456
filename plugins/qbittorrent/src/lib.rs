//! qBittorrent as a Tributary provider: torrents (magnet links and .torrent URLs) through the
//! WebUI API v2, each added under the operator's category with a tag that names it for us, and,
//! for a multi-file torrent, only the wanted file fetched. Searches go through qBittorrent's
//! own search plugins.

mod files;
mod search;
mod session;
mod states;

use serde_json::Value;
use session::Session;
use tributary_plugin_sdk::{
    Capabilities, Enqueued, Health, PluginInfo, Provider, ProviderError, SearchProgress, Source,
    TrackQuery, Transfer, TransferRef, clock, config,
};

/// Every tag of ours starts so; the rest of it is the transfer's id.
const TAG: &str = "tributary-";

fn category() -> String {
    config::get("category").unwrap_or_else(|| "tributary".into())
}

/// The transfer id a torrent's tags carry (ours, not the wanted file's).
fn our_tag(tags: &str) -> Option<&str> {
    tags.split(',')
        .map(str::trim)
        .find(|t| t.starts_with(TAG) && !files::is_file_tag(t))
}

/// Our torrents, with their tags.
fn ours(s: &Session, tag: Option<&str>) -> Result<Vec<Value>, ProviderError> {
    let mut request = s.get("/api/v2/torrents/info").query("category", category());
    if let Some(tag) = tag {
        request = request.query("tag", tag);
    }
    Ok(request.send()?.json()?)
}

/// The torrent's hash for a transfer id, if qBittorrent still has it.
fn hash_of(s: &Session, t: &TransferRef) -> Result<Option<String>, ProviderError> {
    Ok(ours(s, Some(&t.external_id))?
        .first()
        .and_then(|t| t["hash"].as_str())
        .map(str::to_owned))
}

/// Chooses the wanted file (every other file is not downloaded) once the torrent's files are
/// known, and tags the torrent with its exact path and size; returns them.
fn choose_file(
    s: &Session,
    hash: &str,
    wanted: &str,
) -> Result<Option<(String, u64)>, ProviderError> {
    let files: Vec<Value> = s
        .get("/api/v2/torrents/files")
        .query("hash", hash)
        .send()?
        .json()?;
    let names: Vec<&str> = files
        .iter()
        .map(|f| f["name"].as_str().unwrap_or_default())
        .collect();
    let Some(index) = files::find(&names, wanted) else {
        return Ok(None);
    };
    let others: Vec<String> = files
        .iter()
        .enumerate()
        .filter(|(i, f)| *i != index && f["priority"].as_u64() != Some(0))
        .map(|(i, _)| i.to_string())
        .collect();
    if !others.is_empty() {
        s.post("/api/v2/torrents/filePrio")
            .form(&[("hash", hash), ("id", &others.join("|")), ("priority", "0")])
            .send()?;
    }
    let path = names[index].to_owned();
    let size = files[index]["size"].as_u64().unwrap_or(0);
    s.post("/api/v2/torrents/addTags")
        .form(&[
            ("hashes", hash),
            ("tags", &files::chosen_tag_for(&path, size)),
        ])
        .send()?;
    Ok(Some((path, size)))
}

fn on_hash(t: &TransferRef, path: impl Fn(&Session) -> &'static str) -> Result<(), ProviderError> {
    let s = Session::open()?;
    let Some(hash) = hash_of(&s, t)? else {
        return Err(ProviderError::NotFound(format!(
            "qBittorrent has no torrent {}",
            t.external_id
        )));
    };
    s.post(path(&s)).form(&[("hashes", hash.as_str())]).send()?;
    Ok(())
}

struct QBittorrent;

impl Provider for QBittorrent {
    fn info() -> PluginInfo {
        PluginInfo {
            id: "qbittorrent".into(),
            kind: "torrent".into(),
            display_name: "qBittorrent".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            // No `remove`: a finished torrent stays and seeds under the category, until the
            // operator's own seeding limits in qBittorrent take it away.
            capabilities: Capabilities::PAUSE | Capabilities::SEARCH,
            peer_files: false,
            uri_schemes: vec!["magnet".into(), "http".into(), "https".into()],
        }
    }

    fn ping() -> Result<Health, ProviderError> {
        let s = Session::open()?;
        let version = s.get("/api/v2/app/version").send()?.text();
        let (major, minor, patch) = s.api;
        Ok(Health {
            service_version: Some(version.trim().to_owned()),
            ready: true,
            detail: format!("logged in, WebUI API {major}.{minor}.{patch}"),
        })
    }

    fn start_search(query: TrackQuery) -> Result<String, ProviderError> {
        let s = Session::open()?;
        let pattern = format!("{} {}", query.artist, query.title);
        let answer = s
            .post("/api/v2/search/start")
            .form(&[
                ("pattern", pattern.as_str()),
                ("plugins", "enabled"),
                ("category", "all"),
            ])
            .map_status(|status, answer| {
                (status == 409).then(|| search::start_conflict(&answer.text()))
            })
            .send()?;
        let started: Value = answer.json()?;
        let id = started["id"].as_i64().ok_or_else(|| {
            ProviderError::Protocol(format!("search/start answered no id: {started}"))
        })?;
        Ok(search::Handle {
            id,
            sid: s.sid().to_owned(),
            title: query.title,
        }
        .encode())
    }

    fn poll_search(search_id: String) -> Result<SearchProgress, ProviderError> {
        let handle = search::Handle::parse(&search_id)
            .ok_or_else(|| ProviderError::NotFound("not a search of ours".into()))?;
        let s = Session::resume(handle.sid)?;
        let results = s
            .post("/api/v2/search/results")
            .form(&[("id", handle.id.to_string())])
            .send()?
            .json()?;
        Ok(search::progress(results, &handle.title))
    }

    fn end_search(search_id: String) -> Result<(), ProviderError> {
        let Some(handle) = search::Handle::parse(&search_id) else {
            return Ok(());
        };
        let s = Session::resume(handle.sid)?;
        // Stops it if it still runs, and forgets it: qBittorrent keeps only a few at once.
        s.post("/api/v2/search/delete")
            .form(&[("id", handle.id.to_string())])
            // Already forgotten (qBittorrent restarted): nothing left to end.
            .accept_status(404)
            .send()?;
        Ok(())
    }

    fn enqueue(source: Source) -> Result<Enqueued, ProviderError> {
        let Source::Uri(uri) = source else {
            return Err(ProviderError::Unsupported(
                "qBittorrent takes magnet links and .torrent URLs, not peer files".into(),
            ));
        };
        let s = Session::open()?;
        let requested_at_ms = clock::now_ms();
        // One enqueue at a time per provider (the host's rule): the time names it.
        let tag = format!("{TAG}{requested_at_ms}");
        let mut tags = tag.clone();
        if let Some(file) = &uri.file {
            tags = format!("{tags},{}", files::tag_for(file));
        }
        let mut form = vec![
            ("urls", uri.uri.clone()),
            ("category", category()),
            ("tags", tags),
        ];
        if let Some(path) = config::get("save_path") {
            form.push(("savepath", path));
        }
        let answer = s.post("/api/v2/torrents/add").form(&form).send()?;
        if answer.text().trim() == "Fails." {
            return Err(ProviderError::Rejected(format!(
                "qBittorrent would not add {}",
                uri.uri
            )));
        }
        if let Some(file) = &uri.file
            && let Some(t) = ours(&s, Some(&tag))?.first()
            && let Some(hash) = t["hash"].as_str()
        {
            // Chosen at once when qBittorrent already knows the files (a magnet learns them
            // from its peers, a .torrent URL once fetched); else the next listing chooses.
            choose_file(&s, hash, file)?;
        }
        Ok(Enqueued {
            external_id: tag,
            requested_at_ms: Some(requested_at_ms),
        })
    }

    fn list_transfers() -> Result<Vec<Transfer>, ProviderError> {
        let s = Session::open()?;
        let mut out = Vec::new();
        for t in ours(&s, None)? {
            let tags = t["tags"].as_str().unwrap_or_default();
            let Some(tag) = our_tag(tags) else {
                continue;
            };
            let hash = t["hash"].as_str().unwrap_or_default();
            let chosen = match (files::chosen_from_tags(tags), files::from_tags(tags)) {
                (Some(chosen), _) => Some(chosen),
                (None, Some(wanted)) => choose_file(&s, hash, &wanted)?,
                (None, None) => None,
            };
            // With only the wanted file downloaded, the torrent's progress is over its pieces.
            let wanted = chosen.map(|(name, size)| states::WantedFile {
                name,
                size,
                progress: t["progress"].as_f64().unwrap_or(0.0),
            });
            out.extend(states::transfer(&t, tag, wanted.as_ref()));
        }
        Ok(out)
    }

    fn cancel(t: TransferRef) -> Result<(), ProviderError> {
        let s = Session::open()?;
        // Gone already: nothing left to cancel. The files stay on disk either way.
        if let Some(hash) = hash_of(&s, &t)? {
            s.post("/api/v2/torrents/delete")
                .form(&[("hashes", hash.as_str()), ("deleteFiles", "false")])
                .send()?;
        }
        Ok(())
    }

    fn pause(t: TransferRef) -> Result<(), ProviderError> {
        on_hash(&t, |s| s.hold_calls().0)
    }

    fn resume(t: TransferRef) -> Result<(), ProviderError> {
        on_hash(&t, |s| s.hold_calls().1)
    }
}

tributary_plugin_sdk::export_provider!(QBittorrent);
