//! What a plugin hands back is untrusted: it is written by someone we may never meet, and its
//! names come from strangers' shares. Before anything reaches the engine — and so the store, the
//! logs, the pages, the CSV — messages are cleaned (the plugin's secrets redacted, control and
//! bidirectional-override characters replaced, length capped), and names the provider needs back
//! verbatim (peers, filenames, ids) are checked instead: a record carrying an unusable one is
//! dropped rather than altered, because an altered id would no longer mean anything to the
//! provider.

use crate::engine::provider::{
    Candidate, Health, ProviderError, SearchProgress, Source, Transfer, uri_scheme,
};

/// Longest message kept, in characters.
pub const MAX_MESSAGE_CHARS: usize = 500;
/// Longest peer name, filename, extension or id accepted, in characters.
pub const MAX_NAME_CHARS: usize = 4096;

const REDACTED: &str = "[redacted]";

/// Control characters forge log lines and break CSV rows; bidirectional overrides make a page
/// show text other than what is stored.
fn is_unsafe(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Cleans one plugin's answers: its id tags what is dropped in the log, and its own secrets are
/// kept out of everything it says.
pub struct Cleaner<'a> {
    plugin: &'a str,
    secrets: &'a [String],
}

impl<'a> Cleaner<'a> {
    pub fn new(plugin: &'a str, secrets: &'a [String]) -> Self {
        Cleaner { plugin, secrets }
    }

    fn contains_secret(&self, text: &str) -> bool {
        self.secrets
            .iter()
            .any(|s| !s.is_empty() && text.contains(s.as_str()))
    }

    /// A message fit to store, log and show.
    pub fn message(&self, text: String) -> String {
        let fine = !self.contains_secret(&text)
            && !text.chars().any(is_unsafe)
            && text.chars().count() <= MAX_MESSAGE_CHARS;
        if fine {
            return text;
        }
        let mut text = text;
        for secret in self.secrets.iter().filter(|s| !s.is_empty()) {
            text = text.replace(secret.as_str(), REDACTED);
        }
        let mut out = String::new();
        for (n, c) in text.chars().enumerate() {
            if n == MAX_MESSAGE_CHARS {
                out.push('…');
                break;
            }
            out.push(match c {
                '\n' | '\r' | '\t' => ' ',
                c if is_unsafe(c) => '\u{FFFD}',
                c => c,
            });
        }
        out
    }

    /// Whether a name can be stored and handed back to the provider as it is.
    pub fn usable_name(&self, text: &str) -> bool {
        text.chars().count() <= MAX_NAME_CHARS
            && !text.chars().any(is_unsafe)
            && !self.contains_secret(text)
    }

    /// An id the plugin returned (a search or a transfer), or a protocol error saying why not.
    pub fn id(&self, id: String, what: &str) -> Result<String, ProviderError> {
        if !id.is_empty() && self.usable_name(&id) {
            Ok(id)
        } else {
            Err(ProviderError::Protocol(format!(
                "the plugin returned an unusable {what} id (empty, too long, or with control characters)"
            )))
        }
    }

    pub fn error(&self, error: ProviderError) -> ProviderError {
        use ProviderError as E;
        match error {
            E::Unreachable(m) => E::Unreachable(self.message(m)),
            E::TimedOut(m) => E::TimedOut(self.message(m)),
            E::Unauthorized(m) => E::Unauthorized(self.message(m)),
            E::RateLimited(m) => E::RateLimited(self.message(m)),
            E::NotFound(m) => E::NotFound(self.message(m)),
            E::Rejected(m) => E::Rejected(self.message(m)),
            E::PeerOffline(m) => E::PeerOffline(self.message(m)),
            E::Busy(m) => E::Busy(self.message(m)),
            E::Unsupported(m) => E::Unsupported(self.message(m)),
            E::Misconfigured(m) => E::Misconfigured(self.message(m)),
            E::Protocol(m) => E::Protocol(self.message(m)),
            E::Internal(m) => E::Internal(self.message(m)),
            E::Trapped { kind, message } => E::Trapped {
                kind,
                message: self.message(message),
            },
            E::PluginUnavailable(m) => E::PluginUnavailable(self.message(m)),
        }
    }

    pub fn health(&self, health: Health) -> Health {
        Health {
            service_version: health.service_version.map(|v| self.message(v)),
            ready: health.ready,
            detail: self.message(health.detail),
        }
    }

    /// A source is handed back to the provider verbatim, so every name in it must be usable.
    fn usable_source(&self, s: &Source) -> bool {
        match s {
            Source::PeerFile { peer, filename, .. } => {
                !peer.is_empty()
                    && !filename.is_empty()
                    && self.usable_name(peer)
                    && self.usable_name(filename)
            }
            Source::Uri { uri, file, .. } => {
                uri_scheme(uri).is_some()
                    && self.usable_name(uri)
                    && file.as_deref().is_none_or(|f| self.usable_name(f))
            }
        }
    }

    fn usable_candidate(&self, c: &Candidate) -> bool {
        !c.name.is_empty()
            && self.usable_source(&c.source)
            && self.usable_name(&c.peer)
            && self.usable_name(&c.name)
            && self.usable_name(&c.extension)
    }

    /// The candidates that can be offered to the ranking; the others are dropped.
    pub fn search_progress(&self, progress: SearchProgress) -> SearchProgress {
        let before = progress.candidates.len();
        let candidates: Vec<Candidate> = progress
            .candidates
            .into_iter()
            .filter(|c| self.usable_candidate(c))
            .collect();
        if candidates.len() < before {
            tracing::warn!(
                plugin = %self.plugin,
                "dropped {} search candidates with unusable names",
                before - candidates.len()
            );
        }
        SearchProgress {
            complete: progress.complete,
            candidates,
        }
    }

    /// The transfers the engine can match; one with an unusable id or name is dropped (the host
    /// never enqueues such a name, so it is not one of ours).
    pub fn transfers(&self, transfers: Vec<Transfer>) -> Vec<Transfer> {
        let before = transfers.len();
        let kept: Vec<Transfer> = transfers
            .into_iter()
            .filter(|t| {
                !t.external_id.is_empty()
                    && self.usable_name(&t.external_id)
                    && self.usable_name(&t.peer)
                    && self.usable_name(&t.filename)
            })
            .map(|mut t| {
                if let Some(failure) = t.failure.as_mut() {
                    failure.message = self.message(std::mem::take(&mut failure.message));
                }
                t.state_detail = t.state_detail.take().map(|d| self.message(d));
                // A path the host cannot use safely is no path at all; the transfer stays.
                t.local_path = t.local_path.take().filter(|p| self.usable_name(p));
                t
            })
            .collect();
        if kept.len() < before {
            tracing::warn!(
                plugin = %self.plugin,
                "dropped {} transfers with unusable ids or names",
                before - kept.len()
            );
        }
        kept
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets() -> Vec<String> {
        vec!["hunter2-secret".to_owned(), String::new()]
    }

    #[test]
    fn messages_lose_secrets_control_characters_and_excess() {
        let secrets = secrets();
        let c = Cleaner::new("test", &secrets);
        assert_eq!(c.message("plain words".into()), "plain words");
        assert_eq!(
            c.message("key hunter2-secret\nFAKE\u{1b}[31m \u{202e}x".into()),
            "key [redacted] FAKE\u{FFFD}[31m \u{FFFD}x"
        );
        let long = c.message("é".repeat(MAX_MESSAGE_CHARS + 10));
        assert_eq!(long.chars().count(), MAX_MESSAGE_CHARS + 1);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn names_are_checked_not_altered() {
        let secrets = secrets();
        let c = Cleaner::new("test", &secrets);
        assert!(c.usable_name("@@peer\\Music\\Ära – Ünïcode (1999) [FLAC]\\01.flac"));
        assert!(!c.usable_name("evil\nname"));
        assert!(!c.usable_name("\u{2066}hidden"));
        assert!(!c.usable_name("has hunter2-secret inside"));
        assert!(!c.usable_name(&"x".repeat(MAX_NAME_CHARS + 1)));
        assert!(c.id(String::new(), "transfer").is_err());
        assert_eq!(c.id("abc-123".into(), "transfer").unwrap(), "abc-123");
    }
}
