//! Finding the plugin crates: every folder under `plugins/` or `tests/plugins/` that holds a
//! `plugin.toml` is one, so adding a plugin needs no list to be edited.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// The folders whose sub-folders may be plugins, relative to the workspace root.
pub const PLUGIN_PARENTS: &[&str] = &["plugins", "tests/plugins"];

/// The profile every plugin is built with (see `[profile.plugin]` in the workspace manifest).
pub const PLUGIN_PROFILE: &str = "plugin";

/// One plugin crate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginCrate {
    /// The cargo package name, from the folder's `Cargo.toml`.
    pub package: String,
    /// The plugin folder (absolute).
    pub folder: PathBuf,
    /// The wasm file name the manifest's `wasm` key names, placed in `folder`.
    pub wasm: String,
}

impl PluginCrate {
    /// A plugin built for tests only (under `tests/plugins/`): it has no tests of its own.
    pub fn is_test_plugin(&self, root: &Path) -> bool {
        self.folder.starts_with(root.join("tests"))
    }

    /// Where cargo writes the component for `target` built with the plugin profile.
    pub fn built_wasm(&self, target_dir: &Path, target: &str) -> PathBuf {
        target_dir
            .join(target)
            .join(PLUGIN_PROFILE)
            .join(format!("{}.wasm", self.package.replace('-', "_")))
    }
}

/// Every plugin crate in the workspace, sorted by folder.
pub fn discover(root: &Path) -> anyhow::Result<Vec<PluginCrate>> {
    let mut found = Vec::new();
    for parent in PLUGIN_PARENTS {
        let parent = root.join(parent);
        let Ok(entries) = std::fs::read_dir(&parent) else {
            continue;
        };
        for entry in entries {
            let folder = entry
                .with_context(|| format!("listing {}", parent.display()))?
                .path();
            if folder.join("plugin.toml").is_file() {
                found.push(read(&folder)?);
            }
        }
    }
    found.sort_by(|a, b| a.folder.cmp(&b.folder));
    Ok(found)
}

fn read(folder: &Path) -> anyhow::Result<PluginCrate> {
    let manifest = read_toml(&folder.join("plugin.toml"))?;
    let Some(wasm) = manifest.get("wasm").and_then(toml::Value::as_str) else {
        bail!("{}: plugin.toml has no `wasm` key", folder.display());
    };
    if wasm.is_empty() || wasm.contains(['/', '\\']) || !wasm.ends_with(".wasm") {
        bail!(
            "{}: plugin.toml's `wasm` must be a file name ending in .wasm, not {wasm:?}",
            folder.display()
        );
    }
    let cargo = read_toml(&folder.join("Cargo.toml"))
        .with_context(|| format!("{} has a plugin.toml but no crate", folder.display()))?;
    let Some(package) = cargo
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(toml::Value::as_str)
    else {
        bail!("{}: Cargo.toml has no package name", folder.display());
    };
    Ok(PluginCrate {
        package: package.to_owned(),
        folder: folder.to_path_buf(),
        wasm: wasm.to_owned(),
    })
}

fn read_toml(path: &Path) -> anyhow::Result<toml::Table> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn plugin_crates_are_found_by_their_manifest() {
        let root = tempfile::tempdir().unwrap();
        let root = root.path();
        write(
            &root.join("plugins/b-one/plugin.toml"),
            "id = \"b-one\"\nwasm = \"b_one.wasm\"\n",
        );
        write(
            &root.join("plugins/b-one/Cargo.toml"),
            "[package]\nname = \"tributary-plugin-b-one\"\n",
        );
        write(
            &root.join("tests/plugins/a/plugin.toml"),
            "wasm = \"a.wasm\"\n",
        );
        write(
            &root.join("tests/plugins/a/Cargo.toml"),
            "[package]\nname = \"test-a\"\n",
        );
        // A crate without a manifest (the SDK) is no plugin.
        write(
            &root.join("plugins/sdk/Cargo.toml"),
            "[package]\nname = \"tributary-plugin-sdk\"\n",
        );
        let found = discover(root).unwrap();
        assert_eq!(
            found,
            vec![
                PluginCrate {
                    package: "tributary-plugin-b-one".into(),
                    folder: root.join("plugins/b-one"),
                    wasm: "b_one.wasm".into(),
                },
                PluginCrate {
                    package: "test-a".into(),
                    folder: root.join("tests/plugins/a"),
                    wasm: "a.wasm".into(),
                },
            ]
        );
        assert!(!found[0].is_test_plugin(root));
        assert!(found[1].is_test_plugin(root));
        assert_eq!(
            found[0].built_wasm(Path::new("/t"), "wasm32-wasip2"),
            Path::new("/t/wasm32-wasip2/plugin/tributary_plugin_b_one.wasm")
        );
    }

    #[test]
    fn a_manifest_without_a_crate_or_a_wasm_name_is_an_error() {
        let root = tempfile::tempdir().unwrap();
        write(
            &root.path().join("plugins/x/plugin.toml"),
            "wasm = \"x.wasm\"\n",
        );
        let error = discover(root.path()).unwrap_err();
        assert!(format!("{error:#}").contains("no crate"), "{error:#}");
        write(
            &root.path().join("plugins/x/plugin.toml"),
            "wasm = \"../x.wasm\"\n",
        );
        let error = discover(root.path()).unwrap_err();
        assert!(format!("{error:#}").contains("file name"), "{error:#}");
    }
}
