//! `tributary config check FILE`: the real binary on real files.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Runs the check from the repository root (relative paths in a config are taken from where
/// tributary runs). Returns success, stdout and stderr.
fn check(file: &Path) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tributary"))
        .args(["config", "check"])
        .arg(file)
        .current_dir(repo())
        .env("RUST_LOG", "error")
        .output()
        .expect("run tributary");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_example_config_passes() {
    let (ok, stdout, stderr) = check(&repo().join("tributary.example.toml"));
    assert!(ok, "{stdout}{stderr}");
    assert!(stdout.contains("OK"), "{stdout}");
}

#[test]
fn every_problem_of_a_file_is_reported_in_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        r#"
[server]
bind = "localhost:eighty"
allowed_hosts = ["nas.lan", "http://nas.lan:8765/"]
colour = "blue"

[plugins]
dir = "./no-such-plugins-dir"

[providers.slskd]
allowed_hosts = ["ftp://127.0.0.1:5030"]
call_timeout_ms = "ten seconds"

[engine]
concurrency_per_provider = 0
idempotency_key_hours = 10000

[[auth.keys]]
name = "app"
key = "too-short"
cidrs = ["192.168.1.0/33"]

[metrics]
enabled = "yes"
"#,
    )
    .unwrap();
    let (ok, stdout, stderr) = check(&file);
    assert!(!ok, "{stdout}{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    let expected = [
        "server.bind: ",
        "server.allowed_hosts[1]: ",
        "server.colour: unknown field `colour`",
        "plugins.dir: ./no-such-plugins-dir is not a directory",
        "providers.slskd.allowed_hosts[0]: ",
        "providers.slskd.call_timeout_ms: invalid type",
        "engine.concurrency_per_provider: must be at least 1",
        "engine.idempotency_key_hours: must be from 1 to 8760",
        "auth.keys[0].key: ",
        "auth.keys[0].cidrs[0]: ",
        "metrics.enabled: invalid type",
    ];
    for prefix in expected {
        assert!(
            lines.iter().any(|l| l.starts_with(prefix)),
            "no line starting {prefix:?} in:\n{stdout}"
        );
    }
    assert_eq!(lines.len(), expected.len(), "{stdout}");
    assert!(
        stderr.contains(&format!("{} problems", expected.len())),
        "{stderr}"
    );
}

#[test]
fn a_missing_file_is_an_error() {
    let (ok, stdout, stderr) = check(Path::new("/nonexistent/tributary.toml"));
    assert!(!ok, "{stdout}{stderr}");
    assert!(stderr.contains("cannot read"), "{stderr}");
}
