//! The bad-input corpus (tests/fixtures/invalid/): `validate` rejects every file with its expected
//! message and location, the daemon keeps reconciling the valid manifests beside them, and an
//! empty or unreadable directory is an alert, never a deletion.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::common::daemon::{Daemon, Webhook};
use crate::common::*;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/invalid")
}

fn expectations() -> Vec<(String, String)> {
    std::fs::read_to_string(corpus_dir().join("expected.tsv"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (f, m) = l.split_once('\t').unwrap();
            (f.to_string(), m.to_string())
        })
        .collect()
}

fn validate(dir: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_lambda-reconciler")).args(["validate", "-m"]).arg(dir).output().unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn validate_rejects_every_file_of_the_corpus_with_its_message() {
    let cases = expectations();
    let mut rejected = 0;
    for (file, expected) in &cases {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(corpus_dir().join(file), dir.path().join(file)).unwrap();
        let (code, stderr) = validate(dir.path());
        assert_eq!(code, 1, "{file} was accepted");
        assert!(stderr.contains(expected.as_str()), "{file}: expected {expected:?} in\n{stderr}");
        assert!(stderr.contains(&format!("{file}:")), "{file}: the message names the file\n{stderr}");
        rejected += 1;
    }
    // Made at run time: a huge file, a symlink loop, an empty and a missing directory.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("huge.yaml"), format!("# {}\n", "x".repeat(1_100_000))).unwrap();
    let (code, stderr) = validate(dir.path());
    assert!(code == 1 && stderr.contains("over the 1048576-byte limit"), "{stderr}");
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("loop.yaml", dir.path().join("loop.yaml")).unwrap();
    let (code, stderr) = validate(dir.path());
    assert!(code == 1 && stderr.contains("loop.yaml"), "{stderr}");
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(".", dir.path().join("sub")).unwrap();
    let (code, stderr) = validate(dir.path());
    assert!(code == 1 && stderr.contains("loop"), "directory loop: {stderr}");
    let dir = tempfile::tempdir().unwrap();
    let _outside = hostile_files(dir.path());
    let (code, stderr) = validate(dir.path());
    assert!(code == 1 && stderr.contains("bomb.yaml") && stderr.contains("once its aliases are expanded"), "{stderr}");
    assert!(stderr.contains("token.yaml:0:0: symbolic link to a target outside the manifest directory"), "{stderr}");
    assert!(!stderr.contains(TOKEN), "the target's content is never quoted: {stderr}");
    let dir = tempfile::tempdir().unwrap();
    let (code, stderr) = validate(dir.path());
    assert!(code == 1 && stderr.contains("no manifest found"), "{stderr}");
    let (code, stderr) = validate(&dir.path().join("missing"));
    assert!(code == 1 && stderr.contains("No such file or directory"), "{stderr}");
    rejected += 7;
    assert!(rejected >= 40, "the corpus holds {rejected} cases");
}

/// What a hostile file's target holds (a service-account token, say).
const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.the-service-account-token";

/// A YAML alias bomb by bytes (a 600,000-byte string repeated by 400 aliases: 240 MB once
/// expanded, in a 602 KB file) and a link to a file outside `dir`.
fn hostile_files(dir: &Path) -> tempfile::TempDir {
    let bomb = format!("[&a \"{}\"{}]\n", "x".repeat(600_000), ", *a".repeat(400));
    std::fs::write(dir.join("bomb.yaml"), bomb).unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("token"), TOKEN).unwrap();
    std::os::unix::fs::symlink(outside.path().join("token"), dir.join("token.yaml")).unwrap();
    outside
}

#[tokio::test]
async fn the_daemon_reconciles_valid_manifests_beside_the_whole_corpus() {
    let emu = Emulator::start();
    emu.seed_function("valid1", 1);
    emu.seed_function("valid2", 1);
    let hook = Webhook::start("t");
    let dir = tempfile::tempdir().unwrap();
    let cases = expectations();
    for (file, _) in &cases {
        std::fs::copy(corpus_dir().join(file), dir.path().join(file)).unwrap();
    }
    std::os::unix::fs::symlink("loop.yaml", dir.path().join("loop.yaml")).unwrap();
    let _outside = hostile_files(dir.path());
    let valid = |name: &str| {
        format!("apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: {name}\nspec:\n  reservedConcurrency: 3\n")
    };
    std::fs::write(dir.path().join("valid1.yaml"), valid("valid1")).unwrap();
    std::fs::write(dir.path().join("valid2.yaml"), valid("valid2")).unwrap();
    let daemon =
        Daemon::start(&emu, dir.path().to_str().unwrap(), &["--resync-interval", "1h", "--alert-webhook", &hook.url]);
    daemon.wait_ready().await;
    for f in ["valid1", "valid2"] {
        eventually(f, Duration::from_secs(60), || async {
            let out = emu.lambda().await.get_function().function_name(f).send().await.unwrap();
            out.concurrency().and_then(|c| c.reserved_concurrent_executions()) == Some(3)
        })
        .await;
    }
    let wanted = cases.len() + 3;
    let got = || hook.count("ManifestRejected", "");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while got() < wanted && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        got(),
        wanted,
        "one alert per broken file: {:#?}",
        hook.alerts().iter().map(|a| a["text"].clone()).collect::<Vec<_>>()
    );
    assert_eq!(daemon.get("/healthz").0, 200);
    assert!(!daemon.log_text().contains("panicked"));
    let (_, status) = daemon.get("/status");
    let (_, page) = daemon.get("/");
    let alerts = serde_json::to_string(&hook.alerts()).unwrap();
    for (what, text) in [("log", daemon.log_text()), ("status", status), ("page", page), ("alerts", alerts)] {
        assert!(!text.contains(TOKEN), "the token reached the {what}");
    }
    let managed: Vec<String> = daemon.status()["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["manifest"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(managed, ["valid1", "valid2"]);
}

#[tokio::test]
async fn an_empty_or_unreadable_directory_is_an_alert_never_a_deletion() {
    let emu = Emulator::start();
    emu.seed_function("kept", 2);
    let hook = Webhook::start("t");
    let empty = tempfile::tempdir().unwrap();
    let idle = Daemon::start(&emu, empty.path().to_str().unwrap(), &["--alert-webhook", &hook.url]);
    eventually("alert for an empty directory at start", Duration::from_secs(30), || async {
        hook.count("ManifestsUnavailable", "") == 1
    })
    .await;
    drop(idle);

    let hook = Webhook::start("t");
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("m");
    std::fs::create_dir(&dir).unwrap();
    let body = "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: kept\nspec:\n  deletionPolicy: delete\n  reservedConcurrency: 2\n  aliases:\n    live:\n      functionVersion: \"2\"\n      provisionedConcurrency: 1\n";
    std::fs::write(dir.join("kept.yaml"), body).unwrap();
    let daemon =
        Daemon::start(&emu, dir.to_str().unwrap(), &["--resync-interval", "500ms", "--alert-webhook", &hook.url]);
    daemon.wait_ready().await;
    eventually("synced", Duration::from_secs(60), || async { daemon.manifest("kept")["sync"] == "Synced" }).await;
    emu.clear_requests();
    std::fs::remove_file(dir.join("kept.yaml")).unwrap();
    eventually("alert for the emptied directory", Duration::from_secs(30), || async {
        hook.count("ManifestsUnavailable", "") == 1
    })
    .await;
    std::fs::remove_dir(&dir).unwrap();
    daemon.wait_reconciles(4.0).await;
    assert!(emu.write_calls().is_empty(), "nothing written, nothing deleted: {:?}", emu.write_calls());
    assert_eq!(daemon.manifest("kept")["sync"], "Synced", "the last manifests stay in force");
    assert!(emu
        .lambda()
        .await
        .get_provisioned_concurrency_config()
        .function_name("kept")
        .qualifier("live")
        .send()
        .await
        .is_ok());
}
