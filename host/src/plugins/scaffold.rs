//! `tributary plugins new <id>`: writes a provider crate built on the plugin SDK that builds at
//! once (`cargo xtask build-plugins`) and passes `tributary plugins check`.

use std::path::{Component, Path, PathBuf};

use super::bindings::supported_versions;
use super::manifest::MANIFEST_FILE;

/// The SDK crate's name, as plugin crates depend on it.
const SDK_PACKAGE: &str = "tributary-plugin-sdk";

/// Where the SDK lives in this repository, from its root.
const SDK_IN_REPOSITORY: &str = "plugins/sdk";

/// Ids longer than this are refused by the manifest check too.
const MAX_ID_LEN: usize = 64;

const CARGO_IN_REPOSITORY: &str = include_str!("scaffold/Cargo.in-repository.toml");
const CARGO_STANDALONE: &str = include_str!("scaffold/Cargo.standalone.toml");
const PLUGIN_TOML: &str = include_str!("scaffold/plugin.toml");
const LIB_RS: &str = include_str!("scaffold/lib.rs");

#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error(
        "plugin id {0:?} is not usable: use 1-{MAX_ID_LEN} characters of a-z, 0-9 and '-', starting with a letter or digit"
    )]
    InvalidId(String),
    #[error("{0} already exists; choose another id or remove it")]
    Exists(PathBuf),
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What `new` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scaffold {
    /// The plugin's folder.
    pub folder: PathBuf,
    /// The cargo package name.
    pub package: String,
    /// Where the crate takes the SDK from: a path inside this repository, or crates.io.
    pub sdk: SdkSource,
}

/// Where a new plugin crate takes the SDK from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SdkSource {
    /// Inside this repository: by path (relative to the plugin's folder); the workspace picks the
    /// crate up by its glob.
    Path(String),
    /// Anywhere else: the published crate.
    Registry,
}

/// Writes `<plugins_dir>/<id>/` with Cargo.toml, plugin.toml and src/lib.rs.
pub fn new(plugins_dir: &Path, id: &str) -> Result<Scaffold, ScaffoldError> {
    check_id(id)?;
    let folder = plugins_dir.join(id);
    if folder.exists() {
        return Err(ScaffoldError::Exists(folder));
    }
    let package = format!("tributary-plugin-{id}");
    let sdk = sdk_source(plugins_dir, id);
    let cargo = match &sdk {
        SdkSource::Path(path) => CARGO_IN_REPOSITORY.replace("{{sdk_path}}", path),
        SdkSource::Registry => CARGO_STANDALONE.to_owned(),
    };
    let api_version = supported_versions().last().copied().unwrap_or("0.2.0");
    let fill = |template: &str| {
        template
            .replace("{{id}}", id)
            .replace("{{package}}", &package)
            .replace("{{type}}", &type_name(id))
            .replace("{{api_version}}", api_version)
            .replace("{{sdk_version}}", env!("CARGO_PKG_VERSION"))
    };
    let files = [
        ("Cargo.toml", fill(&cargo)),
        (MANIFEST_FILE, fill(PLUGIN_TOML)),
        ("src/lib.rs", fill(LIB_RS)),
    ];
    for (name, text) in files {
        let path = folder.join(name);
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&path, text));
        written.map_err(|source| ScaffoldError::Io { path, source })?;
    }
    Ok(Scaffold {
        folder,
        package,
        sdk,
    })
}

/// `[a-z0-9-]`, not starting with '-' (it would read as an option) and not too long; the
/// manifest check also allows '_', but a crate and folder name with both is asking for trouble.
fn check_id(id: &str) -> Result<(), ScaffoldError> {
    let usable = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && !id.starts_with('-')
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if usable {
        Ok(())
    } else {
        Err(ScaffoldError::InvalidId(id.to_owned()))
    }
}

/// The SDK by path when `plugins_dir` is inside a checkout of this repository (an ancestor holds
/// `plugins/sdk`), else from the registry.
fn sdk_source(plugins_dir: &Path, id: &str) -> SdkSource {
    let Ok(plugins_dir) = std::path::absolute(plugins_dir) else {
        return SdkSource::Registry;
    };
    let plugins_dir = normalize(&plugins_dir);
    for root in plugins_dir.ancestors() {
        let sdk = root.join(SDK_IN_REPOSITORY);
        let is_sdk = std::fs::read_to_string(sdk.join("Cargo.toml"))
            .is_ok_and(|text| text.contains(&format!("name = \"{SDK_PACKAGE}\"")));
        if is_sdk {
            return SdkSource::Path(relative(&plugins_dir.join(id), &sdk));
        }
    }
    SdkSource::Registry
}

/// The path from folder `from` to `to` (both absolute and normalized), with '/' separators as
/// Cargo.toml takes them.
fn relative(from: &Path, to: &Path) -> String {
    let common = from
        .components()
        .zip(to.components())
        .take_while(|(a, b)| a == b)
        .count();
    let up = from.components().count() - common;
    let down = to
        .components()
        .skip(common)
        .map(|c| c.as_os_str().to_string_lossy());
    std::iter::repeat_n("..".into(), up)
        .chain(down)
        .collect::<Vec<_>>()
        .join("/")
}

/// Drops `.` and resolves `..` lexically, so ancestors are the real ones.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// `my-service` → `MyService`: the provider type's name.
fn type_name(id: &str) -> String {
    let mut name = String::new();
    for word in id.split('-').filter(|w| !w.is_empty()) {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            name.push(first.to_ascii_uppercase());
            name.extend(chars);
        }
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert_str(0, "Provider");
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_lowercase_digits_and_dashes() {
        for good in ["a", "my-service", "aria2", "9p"] {
            assert!(check_id(good).is_ok(), "{good}");
        }
        let long = "a".repeat(65);
        for bad in [
            "",
            "My",
            "a_b",
            "a b",
            "-x",
            "../x",
            "x/y",
            "é",
            long.as_str(),
        ] {
            assert!(
                matches!(check_id(bad), Err(ScaffoldError::InvalidId(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn type_names_come_from_the_id() {
        assert_eq!(type_name("my-service"), "MyService");
        assert_eq!(type_name("aria2"), "Aria2");
        assert_eq!(type_name("9p"), "Provider9p");
    }

    #[test]
    fn inside_a_repository_the_sdk_is_taken_by_path_else_from_the_registry() {
        let root = tempfile::tempdir().unwrap();
        let sdk = root.path().join("plugins/sdk");
        std::fs::create_dir_all(&sdk).unwrap();
        std::fs::write(
            sdk.join("Cargo.toml"),
            "[package]\nname = \"tributary-plugin-sdk\"\n",
        )
        .unwrap();
        assert_eq!(
            sdk_source(&root.path().join("plugins"), "x"),
            SdkSource::Path("../sdk".into())
        );
        assert_eq!(
            sdk_source(&root.path().join("tests/plugins/./"), "x"),
            SdkSource::Path("../../../plugins/sdk".into())
        );
        assert_eq!(
            relative(Path::new("/r/plugins/x"), Path::new("/r/plugins/sdk")),
            "../sdk"
        );
        let elsewhere = tempfile::tempdir().unwrap();
        assert_eq!(sdk_source(elsewhere.path(), "x"), SdkSource::Registry);
    }

    #[test]
    fn a_new_plugin_is_written_once() {
        let dir = tempfile::tempdir().unwrap();
        let made = new(dir.path(), "echo-box").unwrap();
        assert_eq!(made.package, "tributary-plugin-echo-box");
        let manifest = std::fs::read_to_string(made.folder.join("plugin.toml")).unwrap();
        assert!(manifest.contains("id = \"echo-box\""), "{manifest}");
        assert!(manifest.contains("wasm = \"echo-box.wasm\""), "{manifest}");
        let lib = std::fs::read_to_string(made.folder.join("src/lib.rs")).unwrap();
        assert!(lib.contains("export_provider!(EchoBox)"), "{lib}");
        assert!(!lib.contains("{{"), "a placeholder was left: {lib}");
        assert!(matches!(
            new(dir.path(), "echo-box"),
            Err(ScaffoldError::Exists(_))
        ));
    }
}
