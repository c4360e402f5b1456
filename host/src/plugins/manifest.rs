//! `plugin.toml`: what a plugin says about itself, validated field by field.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The file name of a plugin's manifest inside its folder.
pub const MANIFEST_FILE: &str = "plugin.toml";

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{path}: cannot read: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not valid TOML: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("{path}: field `{field}` {problem}")]
    Field {
        path: PathBuf,
        field: &'static str,
        problem: String,
    },
    #[error("{path}: the wasm file {wasm} named by `wasm` does not exist")]
    WasmMissing { path: PathBuf, wasm: PathBuf },
    #[error("{path}: sha256 mismatch for {wasm}: manifest says {expected}, file is {actual}")]
    DigestMismatch {
        path: PathBuf,
        wasm: PathBuf,
        expected: String,
        actual: String,
    },
}

/// A validated manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub id: String,
    pub kind: String,
    pub display_name: String,
    pub version: String,
    /// The version of `tributary:provider` the plugin was built against.
    pub api_version: String,
    /// Absolute (or dir-relative) path of the component.
    pub wasm_path: PathBuf,
    pub sha256: Option<String>,
    /// Outbound origins the plugin wants; `{key}` stands for the origin of config key `key`.
    pub outbound_hosts: Vec<String>,
    pub config: BTreeMap<String, ConfigKey>,
}

/// One config key the plugin reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigKey {
    #[serde(default)]
    pub default: Option<String>,
    /// Never logged, never shown in an API answer.
    #[serde(default)]
    pub secret: bool,
    /// The plugin cannot work without it: refused at load when neither the operator nor the
    /// default gives a value.
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    id: Option<String>,
    kind: Option<String>,
    name: Option<String>,
    version: Option<String>,
    api_version: Option<String>,
    wasm: Option<String>,
    sha256: Option<String>,
    #[serde(default)]
    outbound_hosts: Vec<String>,
    #[serde(default)]
    config: BTreeMap<String, ConfigKey>,
}

impl Manifest {
    /// Reads and validates `<dir>/plugin.toml`; the wasm file must exist (its digest is checked
    /// separately by [`Manifest::verify_digest`], which reads the whole file).
    pub fn load(dir: &Path) -> Result<Manifest, ManifestError> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| ManifestError::Unreadable {
            path: path.clone(),
            source,
        })?;
        let raw: RawManifest = toml::from_str(&text).map_err(|e| ManifestError::Syntax {
            path: path.clone(),
            message: e.message().to_owned(),
        })?;
        let field = |field: &'static str, problem: &str| ManifestError::Field {
            path: path.clone(),
            field,
            problem: problem.to_owned(),
        };
        let required =
            |field: &'static str, value: Option<String>| -> Result<String, ManifestError> {
                match value {
                    None => Err(field_err(&path, field, "is missing")),
                    Some(v) if v.trim().is_empty() => Err(field_err(&path, field, "is empty")),
                    Some(v) => Ok(v),
                }
            };

        let id = required("id", raw.id)?;
        if !id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
            || id.len() > 64
        {
            return Err(field(
                "id",
                "must be 1-64 characters of a-z, 0-9, '-' or '_'",
            ));
        }
        if let Some(folder) = dir.file_name().and_then(|f| f.to_str())
            && folder != id
        {
            return Err(field(
                "id",
                &format!(
                    "is {id:?} but the plugin's folder is named {folder:?}; they must be equal"
                ),
            ));
        }
        let kind = required("kind", raw.kind)?;
        let display_name = required("name", raw.name)?;
        let version = required("version", raw.version)?;
        let api_version = required("api_version", raw.api_version)?;
        if !is_semver(&api_version) {
            return Err(field("api_version", "must be a version like \"0.1.0\""));
        }
        let wasm = required("wasm", raw.wasm)?;
        let wasm_rel = Path::new(&wasm);
        if wasm_rel.is_absolute()
            || wasm_rel
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            return Err(field(
                "wasm",
                "must be a file name inside the plugin's folder",
            ));
        }
        let sha256 = match raw.sha256 {
            None => None,
            Some(s) if s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit()) => {
                Some(s.to_ascii_lowercase())
            }
            Some(_) => return Err(field("sha256", "must be 64 hexadecimal characters")),
        };
        for host in &raw.outbound_hosts {
            if host.trim().is_empty() {
                return Err(field("outbound_hosts", "has an empty entry"));
            }
            if let Some(key) = host.strip_prefix('{').and_then(|h| h.strip_suffix('}'))
                && !raw.config.contains_key(key)
            {
                return Err(field(
                    "outbound_hosts",
                    &format!("names config key {key:?}, which is not declared under [config]"),
                ));
            }
        }
        let wasm_path = dir.join(wasm_rel);
        if !wasm_path.is_file() {
            return Err(ManifestError::WasmMissing {
                path,
                wasm: wasm_path,
            });
        }
        Ok(Manifest {
            id,
            kind,
            display_name,
            version,
            api_version,
            wasm_path,
            sha256,
            outbound_hosts: raw.outbound_hosts,
            config: raw.config,
        })
    }

    /// Checks the wasm bytes against the manifest's sha256 (when it gives one); returns the
    /// bytes' digest either way, which keys the compile cache.
    pub fn verify_digest(&self, wasm: &[u8]) -> Result<String, ManifestError> {
        let actual = hex::encode(Sha256::digest(wasm));
        match &self.sha256 {
            Some(expected) if *expected != actual => Err(ManifestError::DigestMismatch {
                path: self.wasm_path.with_file_name(MANIFEST_FILE),
                wasm: self.wasm_path.clone(),
                expected: expected.clone(),
                actual,
            }),
            _ => Ok(actual),
        }
    }
}

fn field_err(path: &Path, field: &'static str, problem: &str) -> ManifestError {
    ManifestError::Field {
        path: path.to_path_buf(),
        field,
        problem: problem.to_owned(),
    }
}

fn is_semver(v: &str) -> bool {
    let parts: Vec<&str> = v.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
id = "demo"
kind = "soulseek"
name = "Demo"
version = "1.2.3"
api_version = "0.1.0"
wasm = "demo.wasm"
outbound_hosts = ["{url}"]

[config.url]
default = "http://127.0.0.1:5030"

[config.api_key]
secret = true
"#;

    fn plugin_dir(manifest: &str, with_wasm: bool) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("demo");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join(MANIFEST_FILE), manifest).unwrap();
        if with_wasm {
            std::fs::write(dir.join("demo.wasm"), b"\0asm").unwrap();
        }
        root
    }

    /// GOOD with one more line before its first table.
    fn with_top_level(line: &str) -> String {
        GOOD.replacen("[config.url]", &format!("{line}\n\n[config.url]"), 1)
    }

    fn load(manifest: &str) -> Result<Manifest, ManifestError> {
        let root = plugin_dir(manifest, true);
        Manifest::load(&root.path().join("demo"))
    }

    #[test]
    fn a_complete_manifest_loads() {
        let m = load(GOOD).unwrap();
        assert_eq!(m.id, "demo");
        assert_eq!(m.display_name, "Demo");
        assert!(m.config["api_key"].secret);
        assert_eq!(
            m.config["url"].default.as_deref(),
            Some("http://127.0.0.1:5030")
        );
    }

    #[test]
    fn each_missing_field_is_named() {
        for field in ["id", "kind", "name", "version", "api_version", "wasm"] {
            let text: String = GOOD
                .lines()
                .filter(|l| !l.starts_with(&format!("{field} =")))
                .collect::<Vec<_>>()
                .join("\n");
            let err = load(&text).unwrap_err().to_string();
            assert!(
                err.contains(&format!("field `{field}` is missing")),
                "{field}: {err}"
            );
        }
    }

    #[test]
    fn bad_values_are_explained() {
        let cases = [
            (
                GOOD.replace("api_version = \"0.1.0\"", "api_version = \"one\""),
                "`api_version`",
            ),
            (
                GOOD.replace("wasm = \"demo.wasm\"", "wasm = \"../x.wasm\""),
                "`wasm`",
            ),
            (GOOD.replace("id = \"demo\"", "id = \"other\""), "folder"),
            (GOOD.replace("{url}", "{nope}"), "\"nope\""),
            (with_top_level("sha256 = \"xyz\""), "`sha256`"),
            (with_top_level("surprise = 1"), "surprise"),
            ("id = [".to_owned(), "not valid TOML"),
        ];
        for (text, expected) in cases {
            let err = load(&text).unwrap_err().to_string();
            assert!(err.contains(expected), "expected {expected:?} in {err}");
        }
    }

    #[test]
    fn a_missing_wasm_file_is_reported() {
        let root = plugin_dir(GOOD, false);
        let err = Manifest::load(&root.path().join("demo")).unwrap_err();
        assert!(matches!(err, ManifestError::WasmMissing { .. }), "{err}");
        assert!(err.to_string().contains("demo.wasm"));
    }

    #[test]
    fn sha256_is_checked() {
        let good_digest = hex::encode(Sha256::digest(b"\0asm"));
        let m = load(&with_top_level(&format!("sha256 = \"{good_digest}\""))).unwrap();
        assert_eq!(m.verify_digest(b"\0asm").unwrap(), good_digest);
        let err = m.verify_digest(b"\0asm-tampered").unwrap_err().to_string();
        assert!(err.contains("sha256 mismatch"), "{err}");
    }
}
