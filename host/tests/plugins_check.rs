//! `tributary plugins check`: the real binary on real plugin folders.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn check(dir: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tributary"))
        .args(["plugins", "check"])
        .arg(dir)
        .env("RUST_LOG", "error")
        .output()
        .expect("run tributary");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn the_slskd_plugin_checks_clean() {
    let dir = repo().join("plugins/slskd");
    assert!(
        dir.join("slskd.wasm").is_file(),
        "run `cargo xtask build-plugins` first"
    );
    let (ok, text) = check(&dir);
    assert!(ok, "{text}");
    assert!(text.contains("ok") && text.contains("slskd"), "{text}");
}

#[test]
fn a_broken_plugin_is_explained_and_fails_the_check() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("broken");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("plugin.toml"), "id = \"broken\"\nname = \"B\"\nversion = \"1\"\napi_version = \"0.1.0\"\nwasm = \"b.wasm\"\n").unwrap();
    let (ok, text) = check(&dir);
    assert!(!ok, "{text}");
    assert!(text.contains("field `kind` is missing"), "{text}");

    // Scanning a directory reports each plugin.
    let (ok, text) = check(root.path());
    assert!(!ok);
    assert!(text.contains("FAIL") && text.contains("broken"), "{text}");
}
