//! `tributary plugins check --conformance <dir>`: runs a plugin through the real runtime against
//! a hostile stand-in for its service, granted as the plugin's host. Every call must end in a
//! typed provider error (never a trap, never past its deadline, never a success built from a
//! broken answer); the capabilities it declares must be the calls it implements.

mod stand_in;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use stand_in::{Misbehaviour, StandIn, StandInLimits};

use super::manifest::Manifest;
use super::runtime::PluginRuntime;
use crate::config::{ProviderGrant, SettingValue};
use crate::engine::provider::{
    Capabilities, Provider, ProviderError, Source, TrackQuery, TransferRef,
};

/// The limits the plugin runs under during the kit: short, so that a slow answer and a stuck
/// plugin show quickly.
const CALL_TIMEOUT: Duration = Duration::from_secs(4);
const HTTP_TIMEOUT: Duration = Duration::from_secs(1);
const RESPONSE_CAP: u64 = 256 * 1024;

/// One verdict of the kit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What was tried: "load", or the export and the misbehaviour.
    pub what: String,
    /// `Ok(what happened)` or `Err(what is wrong)`.
    pub verdict: Result<String, String>,
}

#[derive(Debug, Default)]
pub struct ConformanceReport {
    pub plugin: String,
    pub findings: Vec<Finding>,
}

impl ConformanceReport {
    pub fn failures(&self) -> usize {
        self.findings.iter().filter(|f| f.verdict.is_err()).count()
    }

    fn ok(&mut self, what: impl Into<String>, said: impl Into<String>) {
        self.findings.push(Finding {
            what: what.into(),
            verdict: Ok(said.into()),
        });
    }

    fn fail(&mut self, what: impl Into<String>, why: impl Into<String>) {
        self.findings.push(Finding {
            what: what.into(),
            verdict: Err(why.into()),
        });
    }
}

/// Runs the kit on one plugin folder.
pub async fn run(folder: &Path, runtime: &PluginRuntime) -> anyhow::Result<ConformanceReport> {
    let manifest = Manifest::load(folder)?;
    let mut report = ConformanceReport {
        plugin: manifest.id.clone(),
        ..ConformanceReport::default()
    };
    let service = StandIn::start(StandInLimits {
        slow_by: HTTP_TIMEOUT * 2,
        huge_bytes: (RESPONSE_CAP * 2) as usize,
    })
    .await?;
    let grant = grant_for(&manifest, &service.url, &mut report);
    let provider = match runtime.load(folder, &grant).await {
        Ok((provider, _)) => {
            report.ok(
                "load",
                format!("loaded; info().id is {:?} as plugin.toml says", manifest.id),
            );
            provider
        }
        Err(e) => {
            report.fail("load", e.to_string());
            return Ok(report);
        }
    };
    let declared = provider.descriptor().capabilities;
    let source = if provider.descriptor().accepts.peer_files {
        Source::PeerFile {
            peer: "conformance-peer".into(),
            filename: "@@kit\\Artist\\Album\\01 - Title.flac".into(),
            size: 1_000_000,
        }
    } else {
        let scheme = provider
            .descriptor()
            .accepts
            .uri_schemes
            .first()
            .cloned()
            .unwrap_or_else(|| "https".into());
        Source::Uri {
            uri: format!("{scheme}://conformance.invalid/file.flac"),
            file: None,
            size: None,
        }
    };
    let transfer = TransferRef {
        external_id: "conformance-transfer".into(),
        peer: "conformance-peer".into(),
    };
    let query = TrackQuery {
        artist: "Conformance".into(),
        title: "Kit Track".into(),
        album: None,
        duration_secs: None,
        search_timeout_ms: 1_000,
    };
    for misbehaviour in Misbehaviour::ALL {
        service.set(misbehaviour);
        for call in calls(declared) {
            let started = Instant::now();
            let outcome = call
                .run(provider.as_ref(), &query, &source, &transfer)
                .await;
            judge(&mut report, call, misbehaviour, started.elapsed(), outcome);
        }
    }
    // A capability it does not declare must answer `unsupported` and not reach the service.
    service.set(Misbehaviour::ServerError);
    // WIT 0.1.0 has no `unsupported` error: any typed answer that did not reach the service does.
    let can_say_unsupported = provider.api_version() != "0.1.0";
    for call in undeclared(declared) {
        let before = service.requests();
        let outcome = call
            .run(provider.as_ref(), &query, &source, &transfer)
            .await;
        let reached = service.requests() > before;
        let what = format!("{} (not declared)", call.export());
        match outcome {
            Err(ProviderError::Unsupported(_)) if !reached => {
                report.ok(what, "unsupported, as it does not declare it");
            }
            Err(ProviderError::Trapped { kind, message }) => {
                report.fail(what, format!("trapped ({kind}): {message}"))
            }
            Err(e) if !reached && !can_say_unsupported => report.ok(
                what,
                format!(
                    "{} (WIT 0.1.0 cannot say unsupported); the service was not called",
                    e.kind_name()
                ),
            ),
            Ok(()) if !reached && !can_say_unsupported => report.ok(
                what,
                "answered by the host for WIT 0.1.0; the service was not called",
            ),
            _ if reached => report.fail(
                what,
                format!(
                    "it calls the service but does not declare the `{}` capability",
                    call.capability()
                ),
            ),
            Ok(_) => report.fail(what, "answered success for a call it does not declare"),
            Err(e) => report.fail(
                what,
                format!("answered {} instead of unsupported", e.kind_name()),
            ),
        }
    }
    Ok(report)
}

/// The operator's grant as the kit plays it: every `{key}` origin points at the stand-in, every
/// required key gets a value, and the limits are short.
fn grant_for(manifest: &Manifest, url: &str, report: &mut ConformanceReport) -> ProviderGrant {
    let mut settings = BTreeMap::new();
    for entry in &manifest.outbound_hosts {
        match entry.strip_prefix('{').and_then(|e| e.strip_suffix('}')) {
            Some(key) => {
                settings.insert(key.to_owned(), SettingValue::Text(url.to_owned()));
            }
            None => report.ok(
                format!("origin {entry}"),
                "a fixed origin: the kit cannot stand in for it, and does not grant it",
            ),
        }
    }
    for (key, spec) in &manifest.config {
        if spec.required && spec.default.is_none() && !settings.contains_key(key) {
            settings.insert(key.clone(), SettingValue::Text("conformance-kit".into()));
        }
    }
    ProviderGrant {
        enabled: true,
        allowed_hosts: vec![url.to_owned()],
        settings,
        call_timeout_ms: Some(CALL_TIMEOUT.as_millis() as u64),
        http_timeout_ms: Some(HTTP_TIMEOUT.as_millis() as u64),
        max_response_bytes: Some(RESPONSE_CAP),
        ..ProviderGrant::default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    Ping,
    StartSearch,
    PollSearch,
    EndSearch,
    Enqueue,
    ListTransfers,
    Cancel,
    Remove,
    Pause,
    Resume,
    QueuePosition,
}

impl Call {
    fn export(self) -> &'static str {
        match self {
            Call::Ping => "ping",
            Call::StartSearch => "start-search",
            Call::PollSearch => "poll-search",
            Call::EndSearch => "end-search",
            Call::Enqueue => "enqueue",
            Call::ListTransfers => "list-transfers",
            Call::Cancel => "cancel",
            Call::Remove => "remove-transfer",
            Call::Pause => "pause-transfer",
            Call::Resume => "resume-transfer",
            Call::QueuePosition => "queue-position",
        }
    }

    fn capability(self) -> &'static str {
        match self {
            Call::StartSearch | Call::PollSearch | Call::EndSearch => "search",
            Call::Remove => "remove",
            Call::Pause | Call::Resume => "pause",
            Call::QueuePosition => "queue-position",
            Call::Ping | Call::Enqueue | Call::ListTransfers | Call::Cancel => "",
        }
    }

    /// Runs the call; only whether it failed, and how, matters.
    async fn run(
        self,
        p: &dyn Provider,
        query: &TrackQuery,
        source: &Source,
        transfer: &TransferRef,
    ) -> Result<(), ProviderError> {
        let search_id = "conformance-search";
        match self {
            Call::Ping => p.ping().await.map(drop),
            Call::StartSearch => p.start_search(query).await.map(drop),
            Call::PollSearch => p.poll_search(search_id).await.map(drop),
            Call::EndSearch => p.end_search(search_id).await,
            Call::Enqueue => p.enqueue(source).await.map(drop),
            Call::ListTransfers => p.list_transfers().await.map(drop),
            Call::Cancel => p.cancel(transfer).await,
            Call::Remove => p.remove(transfer).await,
            Call::Pause => p.pause(transfer).await,
            Call::Resume => p.resume(transfer).await,
            Call::QueuePosition => p.queue_position(transfer).await.map(drop),
        }
    }
}

const ALWAYS: [Call; 4] = [Call::Ping, Call::Enqueue, Call::ListTransfers, Call::Cancel];

fn by_capability(c: Capabilities) -> [(bool, &'static [Call]); 4] {
    [
        (
            c.search,
            &[Call::StartSearch, Call::PollSearch, Call::EndSearch],
        ),
        (c.remove, &[Call::Remove]),
        (c.pause, &[Call::Pause, Call::Resume]),
        (c.queue_position, &[Call::QueuePosition]),
    ]
}

/// The calls the host may make of a plugin that declares `c`.
fn calls(c: Capabilities) -> Vec<Call> {
    let mut calls = ALWAYS.to_vec();
    for (declared, group) in by_capability(c) {
        if declared {
            calls.extend_from_slice(group);
        }
    }
    calls
}

fn undeclared(c: Capabilities) -> Vec<Call> {
    by_capability(c)
        .into_iter()
        .filter(|(declared, _)| !declared)
        .flat_map(|(_, group)| group.iter().copied())
        .collect()
}

/// What a call against a misbehaving service must have done.
fn judge(
    report: &mut ConformanceReport,
    call: Call,
    misbehaviour: Misbehaviour,
    took: Duration,
    outcome: Result<(), ProviderError>,
) {
    let what = format!("{} against {}", call.export(), misbehaviour.name());
    match outcome {
        _ if took > CALL_TIMEOUT => report.fail(
            what,
            format!(
                "took {} ms, past its {} ms deadline",
                took.as_millis(),
                CALL_TIMEOUT.as_millis()
            ),
        ),
        Err(ProviderError::Trapped { kind, message }) => {
            report.fail(what, format!("trapped ({kind}): {message}"))
        }
        Err(ProviderError::PluginUnavailable(why)) => {
            report.fail(what, format!("could not be called: {why}"))
        }
        Err(ProviderError::Unsupported(_)) => report.fail(
            what,
            format!(
                "answered unsupported, but the plugin declares {}",
                if call.capability().is_empty() {
                    "every provider's calls"
                } else {
                    call.capability()
                }
            ),
        ),
        Err(ProviderError::Misconfigured(why)) => {
            report.fail(what, format!("called an origin it was not granted: {why}"))
        }
        Err(e) => report.ok(
            what,
            format!("{} in {} ms", e.kind_name(), took.as_millis()),
        ),
        // Ending a search is cleanup: succeeding when there is nothing to end is fine.
        Ok(()) if call == Call::EndSearch => report.ok(what, "ok (nothing to end)"),
        Ok(()) => report.fail(
            what,
            format!(
                "answered success although the service sent {}",
                misbehaviour.name()
            ),
        ),
    }
}
