//! `tributary plugins new`: the crate it writes builds for wasm32-wasip2 and passes
//! `tributary plugins check`.
//!
//! The new plugin goes into a temporary copy of the workspace's plugin side (root manifest,
//! lock file, the SDK), never into the repository. It is built with the repository's target
//! directory and the `plugin` profile, so the dependencies `cargo xtask build-plugins` already
//! compiled are reused: only the SDK (at its new path) and the new crate compile.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn tributary(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tributary"))
        .args(args)
        .env("RUST_LOG", "error")
        .output()
        .expect("run tributary")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The repository's root manifest with only the plugin crates as members, its lock file and
/// the SDK: enough for a plugin crate to build with the same versions.
fn plugin_workspace(root: &Path) {
    let repo = repo();
    let manifest = std::fs::read_to_string(repo.join("Cargo.toml")).unwrap();
    let start = manifest.find("members = [").expect("workspace members");
    let end = start + manifest[start..].find(']').unwrap() + 1;
    let mut manifest = format!(
        "{}members = [\"plugins/*\"]{}",
        &manifest[..start],
        &manifest[end..]
    );
    manifest = manifest
        .lines()
        .filter(|line| !line.starts_with("default-members"))
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(root.join("Cargo.toml"), manifest).unwrap();
    std::fs::copy(repo.join("Cargo.lock"), root.join("Cargo.lock")).unwrap();
    copy_dir(&repo.join("plugins/sdk"), &root.join("plugins/sdk"));
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            copy_dir(&path, &to.join(entry.file_name()));
        } else {
            std::fs::copy(&path, to.join(entry.file_name())).unwrap();
        }
    }
}

#[test]
fn a_new_plugin_builds_and_passes_the_check() {
    let root = tempfile::tempdir().unwrap();
    plugin_workspace(root.path());
    let plugins = root.path().join("plugins");
    let plugins_arg = plugins.to_str().unwrap();

    let out = tributary(&["plugins", "new", "echo-box", "--dir", plugins_arg]);
    assert!(out.status.success(), "{}", text(&out));
    let folder = plugins.join("echo-box");
    let cargo_toml = std::fs::read_to_string(folder.join("Cargo.toml")).unwrap();
    assert!(
        cargo_toml.contains("tributary-plugin-sdk = { path = \"../sdk\" }"),
        "{cargo_toml}"
    );

    // Refusals: a bad id, an existing folder.
    let out = tributary(&["plugins", "new", "Echo_Box", "--dir", plugins_arg]);
    assert!(!out.status.success());
    assert!(text(&out).contains("not usable"), "{}", text(&out));
    let out = tributary(&["plugins", "new", "echo-box", "--dir", plugins_arg]);
    assert!(!out.status.success());
    assert!(text(&out).contains("already exists"), "{}", text(&out));

    let target_dir =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| repo().join("target"), PathBuf::from);
    let build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(root.path())
        .args(["build", "--quiet", "--package", "tributary-plugin-echo-box"])
        .args(["--target", "wasm32-wasip2", "--profile", "plugin"])
        .env("CARGO_TARGET_DIR", &target_dir)
        .output()
        .expect("run cargo");
    assert!(build.status.success(), "{}", text(&build));
    let built = target_dir.join("wasm32-wasip2/plugin/tributary_plugin_echo_box.wasm");
    std::fs::copy(&built, folder.join("echo-box.wasm")).unwrap();

    let out = tributary(&["plugins", "check", folder.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("ok"), "{}", text(&out));
}
