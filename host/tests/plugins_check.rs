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

/// With `--config`, the check also pings each plugin with the operator's grant: a wrong secret
/// is found before `serve`.
#[tokio::test(flavor = "multi_thread")]
async fn with_the_config_a_wrong_key_fails_the_check() {
    let emulator = slskd_emulator::Emulator::start(slskd_emulator::EmulatorConfig::default())
        .await
        .unwrap();
    let key = slskd_emulator::EmulatorConfig::default().api_key.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config_with = |key: &str| {
        let path = dir.path().join("tributary.toml");
        std::fs::write(
            &path,
            format!(
                "[providers.slskd]\nurl = \"{url}\"\napi_key = \"{key}\"\nallowed_hosts = [\"{url}\"]\n",
                url = emulator.url()
            ),
        )
        .unwrap();
        path
    };
    let plugin = repo().join("plugins/slskd");
    let run = |config: PathBuf| {
        let plugin = plugin.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                let out = Command::new(env!("CARGO_BIN_EXE_tributary"))
                    .args(["plugins", "check"])
                    .arg(&plugin)
                    .arg("--config")
                    .arg(&config)
                    .env("RUST_LOG", "error")
                    .output()
                    .expect("run tributary");
                (
                    out.status.success(),
                    String::from_utf8_lossy(&out.stdout).into_owned(),
                )
            })
            .await
            .unwrap()
        }
    };
    let (ok, text) = run(config_with(&key)).await;
    assert!(ok, "{text}");
    assert!(text.contains("ping answered ready"), "{text}");

    let (ok, text) = run(config_with("not-the-key")).await;
    assert!(!ok, "{text}");
    assert!(
        text.contains("FAIL slskd: ping failed") && text.contains("credentials"),
        "{text}"
    );
    emulator.shutdown().await;
}

fn conformance(dir: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tributary"))
        .args(["plugins", "check", "--conformance"])
        .arg(dir)
        .env("RUST_LOG", "error")
        .output()
        .expect("run tributary");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Every provider in the repository passes the conformance kit, and so does the frozen 0.1.0
/// one.
#[test]
fn the_conformance_kit_passes_on_every_plugin_in_the_repo() {
    for dir in [
        repo().join("plugins"),
        repo().join("tests/plugins/legacy-slskd"),
    ] {
        let (ok, text) = conformance(&dir);
        assert!(ok, "{text}");
        assert!(!text.contains("FAIL"), "{text}");
        // Each misbehaviour was tried.
        for said in [
            "500 errors",
            "invalid JSON",
            "a huge body",
            "a slow answer",
            "a wrong content type",
            "a redirect",
            "a connection reset",
        ] {
            assert!(
                text.contains(&format!("ping against {said}")),
                "{said}: {text}"
            );
        }
    }
}

/// A plugin that answers success whatever its service says fails, for exactly that reason.
#[test]
fn the_conformance_kit_fails_a_hostile_plugin_for_the_right_reasons() {
    let (ok, text) = conformance(&repo().join("tests/plugins/hostile"));
    assert!(!ok, "{text}");
    assert!(text.contains("ok   load"), "{text}");
    assert!(
        text.contains(
            "FAIL ping against 500 errors: answered success although the service sent 500 errors"
        ),
        "{text}"
    );
    assert!(
        text.contains("FAIL list-transfers against a connection reset: answered success"),
        "{text}"
    );
    // What it does right is not held against it.
    assert!(
        text.contains("ok   enqueue against 500 errors: rejected"),
        "{text}"
    );
    assert!(
        text.contains("ok   pause-transfer (not declared)"),
        "{text}"
    );

    // A plugin for a contract this host does not know fails at load.
    let (ok, text) = conformance(&repo().join("tests/plugins/future-wit"));
    assert!(!ok, "{text}");
    assert!(
        text.contains("FAIL load") && text.contains("@0.9.0"),
        "{text}"
    );
}
