//! `tributary config check FILE`: every problem of a config file in one run, each with where it
//! is (`section.key`). Deserializing the whole file stops at the first error, so each key is
//! deserialized on its own (into its section's own type, so the rules are the ones `serve`
//! applies), then checked with the same validation `serve` runs.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use toml::{Table, Value};

use super::{
    ApiKeyConfig, AuthConfig, EngineConfig, LibraryConfig, MetricsConfig, PluginsConfig,
    ProviderGrant, ServerConfig, StorageConfig, VerifyConfig, WebhookConfig,
};
use crate::api::access::{AccessPolicy, MIN_SECRET_CHARS, parse_network};
use crate::api::host_names::AllowedHosts;
use crate::plugins::egress::OriginPattern;

/// One problem and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// `section.key` (or `auth.keys[1].cidrs`, or the file itself).
    pub at: String,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.at, self.message)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

const SECTIONS: &str =
    "server, storage, plugins, providers, engine, verify, library, webhooks, auth, metrics";

/// Reads `path` and checks it. Relative paths in it are taken from the current directory, as
/// `serve` started here would.
pub fn check_file(path: &Path) -> Result<Vec<Problem>, CheckError> {
    let text = std::fs::read_to_string(path).map_err(|source| CheckError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(check_text(&text))
}

/// Every problem of a config document (no environment: the file alone).
pub fn check_text(text: &str) -> Vec<Problem> {
    let mut out = Problems::default();
    let table = match text.parse::<Table>() {
        Ok(t) => t,
        Err(e) => {
            // Past a syntax error nothing can be read reliably.
            out.add("file", e.to_string().trim());
            return out.0;
        }
    };
    for (name, value) in &table {
        if name == "webhooks" {
            check_webhooks(&mut out, value);
            continue;
        }
        let Some(section) = out.table(name, value) else {
            continue;
        };
        match name.as_str() {
            "server" => check_server(&mut out, section),
            "storage" => {
                out.keys::<StorageConfig>(name, section, &Table::new());
            }
            "plugins" => check_plugins(&mut out, section),
            "providers" => check_providers(&mut out, section),
            "engine" => check_engine(&mut out, section),
            "verify" => check_verify(&mut out, section),
            "library" => check_library(&mut out, section),
            "auth" => check_auth(&mut out, section),
            "metrics" => check_metrics(&mut out, section),
            _ => out.add(
                name,
                format!("unknown section (the sections are {SECTIONS})"),
            ),
        }
    }
    check_exposure(&mut out, &table);
    out.0
}

#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn add(&mut self, at: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem {
            at: at.into(),
            message: message.into(),
        });
    }

    /// A setting's complaint, at the setting, without the setting's name it starts with
    /// ("engine.max_x must be ..." at `engine.max_x` says "must be ...").
    fn setting(&mut self, at: &str, complaint: &str) {
        let message = complaint
            .strip_prefix(at)
            .map_or(complaint, |rest| rest.trim_start_matches(':').trim());
        self.add(at, message);
    }

    /// `value` as a table, or a problem saying it must be one.
    fn table<'v>(&mut self, at: &str, value: &'v Value) -> Option<&'v Table> {
        match value {
            Value::Table(t) => Some(t),
            other => {
                self.add(
                    at,
                    format!("must be a table ([{at}]), not a {}", other.type_str()),
                );
                None
            }
        }
    }

    /// Deserializes each key of `section` on its own into `T` (over `required`, placeholders
    /// for the fields `T` cannot do without), recording a problem per key that fails. Returns
    /// each key with what it became.
    fn keys<T: DeserializeOwned>(
        &mut self,
        at: &str,
        section: &Table,
        required: &Table,
    ) -> Vec<(String, T)> {
        let mut read = Vec::new();
        for (key, value) in section {
            let mut one = required.clone();
            one.insert(key.clone(), value.clone());
            match Value::Table(one).try_into::<T>() {
                Ok(t) => read.push((key.clone(), t)),
                Err(e) => self.add(format!("{at}.{key}"), e.message().trim()),
            }
        }
        read
    }
}

fn check_server(out: &mut Problems, section: &Table) {
    for (key, server) in out.keys::<ServerConfig>("server", section, &Table::new()) {
        match key.as_str() {
            "allowed_hosts" => {
                for (i, entry) in server.allowed_hosts.iter().enumerate() {
                    if let Err(e) = AllowedHosts::new(std::slice::from_ref(entry)) {
                        out.add(format!("server.allowed_hosts[{i}]"), e.to_string());
                    }
                }
            }
            "templates_dir" => check_dir(out, "server.templates_dir", &server.templates_dir),
            _ => {}
        }
    }
}

fn check_plugins(out: &mut Problems, section: &Table) {
    for (key, plugins) in out.keys::<PluginsConfig>("plugins", section, &Table::new()) {
        if key == "dir" {
            check_dir(out, "plugins.dir", &plugins.dir);
        }
    }
}

fn check_dir(out: &mut Problems, at: &str, dir: &Path) {
    if !dir.is_dir() {
        out.add(
            at,
            format!(
                "{} is not a directory (relative paths are taken from where tributary runs)",
                dir.display()
            ),
        );
    }
}

fn check_providers(out: &mut Problems, section: &Table) {
    for (id, value) in section {
        let at = format!("providers.{id}");
        let Some(grant) = out.table(&at, value) else {
            continue;
        };
        for (key, g) in out.keys::<ProviderGrant>(&at, grant, &Table::new()) {
            if key == "allowed_hosts" {
                for (i, host) in g.allowed_hosts.iter().enumerate() {
                    if let Err(e) = OriginPattern::parse(host) {
                        out.add(format!("{at}.allowed_hosts[{i}]"), e.to_string());
                    }
                }
            }
        }
    }
}

fn check_engine(out: &mut Problems, section: &Table) {
    // `settings` stops at its first complaint: one key at a time, each complaint is its own.
    for (key, engine) in out.keys::<EngineConfig>("engine", section, &Table::new()) {
        if let Err(e) = engine.settings() {
            out.setting(&format!("engine.{key}"), &e);
        }
    }
}

fn check_verify(out: &mut Problems, section: &Table) {
    for (key, verify) in out.keys::<VerifyConfig>("verify", section, &Table::new()) {
        let mut settings = crate::engine::settings::VerifySettings::default();
        if let Err(e) = verify.apply(&mut settings, Path::new(".")) {
            out.setting(&format!("verify.{key}"), &e);
        }
    }
}

fn check_library(out: &mut Problems, section: &Table) {
    let mut with_dir = Table::new();
    with_dir.insert("dir".into(), Value::String(".".into()));
    for (key, library) in out.keys::<LibraryConfig>("library", section, &with_dir) {
        if let Err(e) = library.settings() {
            out.setting(&format!("library.{key}"), &e);
        }
    }
}

fn check_webhooks(out: &mut Problems, value: &Value) {
    let Value::Array(entries) = value else {
        out.add(
            "webhooks",
            "must be a list of [[webhooks]] entries, each with a url",
        );
        return;
    };
    for (i, entry) in entries.iter().enumerate() {
        let at = format!("webhooks[{i}]");
        let Some(entry) = out.table(&at, entry) else {
            continue;
        };
        match Value::Table(entry.clone()).try_into::<WebhookConfig>() {
            Ok(hook) => {
                if let Err(e) = hook.webhook() {
                    out.add(&at, e.trim_start_matches("webhooks: "));
                }
            }
            Err(e) => out.add(&at, e.message().trim()),
        }
    }
}

fn check_auth(out: &mut Problems, section: &Table) {
    let mut rest = section.clone();
    let keys = rest.remove("keys");
    out.keys::<AuthConfig>("auth", &rest, &Table::new());
    let Some(keys) = keys else {
        return;
    };
    let Value::Array(entries) = keys else {
        out.add(
            "auth.keys",
            "must be a list of [[auth.keys]] entries, each with name and key",
        );
        return;
    };
    // Placeholders for the fields every entry needs, so that each field is judged alone.
    let mut required = Table::new();
    required.insert("name".into(), Value::String("placeholder".into()));
    required.insert("key".into(), Value::String("x".repeat(MIN_SECRET_CHARS)));
    for (i, entry) in entries.iter().enumerate() {
        let at = format!("auth.keys[{i}]");
        let Some(entry) = out.table(&at, entry) else {
            continue;
        };
        for field in ["name", "key"] {
            if !entry.contains_key(field) {
                out.add(format!("{at}.{field}"), "missing (every key needs one)");
            }
        }
        for (field, key) in out.keys::<ApiKeyConfig>(&at, entry, &required) {
            if field == "cidrs" {
                for (j, cidr) in key.cidrs.iter().enumerate() {
                    if parse_network(cidr).is_none() {
                        out.add(
                            format!("{at}.cidrs[{j}]"),
                            format!("{cidr:?} is not like 192.168.1.0/24 or ::1"),
                        );
                    }
                }
            } else if field == "key" {
                let mut key = key;
                if let Some(name) = entry.get("name").and_then(Value::as_str) {
                    key.name = name.to_owned();
                }
                let auth = AuthConfig {
                    keys: vec![key],
                    allow_unauthenticated_remote: false,
                };
                if let Err(e) = AccessPolicy::new(&auth) {
                    out.add(format!("{at}.key"), e.to_string());
                }
            }
        }
    }
}

fn check_metrics(out: &mut Problems, section: &Table) {
    for (key, metrics) in out.keys::<MetricsConfig>("metrics", section, &Table::new()) {
        if key == "token"
            && let Err(e) = AccessPolicy::new(&AuthConfig::default())
                .and_then(|p| p.with_metrics_token(metrics.token.as_deref()))
        {
            out.add("metrics.token", e.to_string());
        }
    }
}

/// `serve` refuses a non-loopback bind with no key unless told to allow it: judged when the
/// keys involved could be read.
fn check_exposure(out: &mut Problems, table: &Table) {
    let section = |name: &str| {
        table
            .get(name)
            .cloned()
            .unwrap_or_else(|| Value::Table(Table::new()))
    };
    let (Ok(server), Ok(auth)) = (
        section("server").try_into::<ServerConfig>(),
        section("auth").try_into::<AuthConfig>(),
    ) else {
        return;
    };
    let bind: SocketAddr = server.bind;
    if !bind.ip().is_loopback() && auth.keys.is_empty() && !auth.allow_unauthenticated_remote {
        out.add(
            "server.bind",
            format!(
                "{bind} is reachable from the network and no [[auth.keys]] is configured: add a key, \
                 bind to 127.0.0.1, or set auth.allow_unauthenticated_remote = true"
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where the problems are, sorted (a table's keys may come in file or in name order).
    fn at(problems: &[Problem]) -> Vec<&str> {
        let mut at: Vec<&str> = problems.iter().map(|p| p.at.as_str()).collect();
        at.sort_unstable();
        at
    }

    #[test]
    fn a_valid_document_has_no_problem() {
        let problems = check_text(
            r#"
            [server]
            bind = "127.0.0.1:8765"
            allowed_hosts = ["nas.lan", "*.example.com"]
            [engine]
            max_retries = 2
            [[auth.keys]]
            name = "app"
            key = "0123456789abcdef"
            cidrs = ["10.0.0.0/8", "::1"]
            [metrics]
            enabled = true
            "#,
        );
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn every_problem_is_reported_with_its_place() {
        let problems = check_text(
            r#"
            [server]
            bind = "not an address"
            bnd = "x"
            allowed_hosts = ["ok.lan", "http://bad/"]
            [engine]
            concurrency_per_provider = 0
            max_retries = "three"
            preferred_formats = ["flac", "wav:abc"]
            [[auth.keys]]
            key = "short"
            cidrs = ["10.0.0.0/8", "nonsense"]
            [metrics]
            token = "tiny"
            [extra]
            x = 1
            "#,
        );
        assert_eq!(
            at(&problems),
            [
                "auth.keys[0].cidrs[1]",
                "auth.keys[0].key",
                "auth.keys[0].name",
                "engine.concurrency_per_provider",
                "engine.max_retries",
                "engine.preferred_formats",
                "extra",
                "metrics.token",
                "server.allowed_hosts[1]",
                "server.bind",
                "server.bnd",
            ],
            "{problems:#?}"
        );
        let bnd = problems.iter().find(|p| p.at == "server.bnd").unwrap();
        assert!(bnd.message.contains("unknown field"), "{bnd}");
    }

    #[test]
    fn a_syntax_error_is_one_problem() {
        let problems = check_text("[server\nbind = 1");
        assert_eq!(at(&problems), ["file"]);
    }

    #[test]
    fn a_public_bind_without_a_key_is_refused_as_serve_would() {
        let problems = check_text("[server]\nbind = \"0.0.0.0:8765\"\n");
        assert_eq!(at(&problems), ["server.bind"]);
        let allowed = check_text(
            "[server]\nbind = \"0.0.0.0:8765\"\n[auth]\nallow_unauthenticated_remote = true\n",
        );
        assert!(allowed.is_empty(), "{allowed:?}");
    }
}
