//! An edit writes the kinds it changed first, after reading only those, and the reconcile that
//! follows still converges every kind: read through the emulator's request log and live state.

use std::time::Duration;

use crate::common::daemon::Daemon;
use crate::common::*;

const MINUTE: Duration = Duration::from_secs(60);

fn doc(level: &str) -> String {
    format!(
        "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: edited\nspec:\n  memorySize: 256\n  reservedConcurrency: 3\n  environment:\n    variables:\n      LEVEL: {level}\n  aliases:\n    live:\n      functionVersion: \"1\"\n"
    )
}

/// The paths of requests on function `f`, in order (`METHOD path`).
fn calls_on(emu: &Emulator, f: &str) -> Vec<String> {
    let needle = format!("/functions/{f}");
    emu.requests()
        .iter()
        .map(|r| format!("{} {}", r["method"].as_str().unwrap_or(""), r["path"].as_str().unwrap_or("")))
        .filter(|c| c.contains(&needle))
        .collect()
}

async fn live(emu: &Emulator) -> (String, String) {
    let lambda = emu.lambda().await;
    let c = lambda.get_function_configuration().function_name("edited").send().await.unwrap();
    let level = c.environment().and_then(|e| e.variables()).and_then(|v| v.get("LEVEL").cloned()).unwrap_or_default();
    let alias = lambda.get_alias().function_name("edited").name("live").send().await.unwrap();
    (level, alias.function_version().unwrap_or_default().to_string())
}

/// Waits (on the daemon's status, which reads nothing from AWS) until a generation other than
/// `before` is recorded on the function and it is in sync.
async fn synced_past(daemon: &Daemon, before: &serde_json::Value) {
    eventually("the edit's generation recorded, in sync", MINUTE, || async {
        let s = daemon.manifest("edited");
        s["sync"] == "Synced" && s["observedGeneration"] == s["generation"] && s["generation"] != *before
    })
    .await;
}

#[tokio::test]
async fn an_edit_writes_its_own_kind_after_reading_only_it_and_every_other_kind_is_still_reconciled() {
    let emu = Emulator::start();
    emu.seed_function("edited", 2);
    let dir = manifests(&[("edited.yaml", &doc("debug"))]);
    let daemon = Daemon::start(&emu, path(&dir), &["--resync-interval", "1h"]);
    daemon.wait_ready().await;
    eventually("synced", MINUTE, || async { daemon.manifest("edited")["sync"] == "Synced" }).await;
    // Someone moves the alias (another kind than the edit's); no resync is due for an hour.
    let lambda = emu.lambda().await;
    lambda.update_alias().function_name("edited").name("live").function_version("2").send().await.unwrap();
    let before = daemon.manifest("edited")["generation"].clone();
    emu.clear_requests();
    std::fs::write(dir.path().join("edited.yaml"), doc("info")).unwrap();
    synced_past(&daemon, &before).await;
    let calls = calls_on(&emu, "edited");
    assert_eq!(live(&emu).await, ("info".to_string(), "1".to_string()), "the edit applied, the alias restored");
    let first_write = calls.iter().position(|c| !c.starts_with("GET ")).expect("a write");
    assert_eq!(calls[first_write], "PUT /2015-03-31/functions/edited/configuration", "{calls:#?}");
    assert!(
        calls[..first_write].iter().all(|c| c == "GET /2015-03-31/functions/edited"),
        "only the function is read before the edit's write: {calls:#?}"
    );
    let restored = calls.iter().position(|c| c.starts_with("PUT /2015-03-31/functions/edited/aliases/live"));
    assert!(restored.is_some_and(|i| i > first_write), "the alias is reconciled after: {calls:#?}");
    let reserved = reserved(&emu, "edited").await;
    assert_eq!(reserved, Some(3), "unchanged kinds stay as the manifest says");
}

#[tokio::test]
async fn an_edit_of_an_alias_is_reconciled_whole_as_before() {
    let emu = Emulator::start();
    emu.seed_function("edited", 2);
    let dir = manifests(&[("edited.yaml", &doc("debug"))]);
    let daemon = Daemon::start(&emu, path(&dir), &["--resync-interval", "1h"]);
    daemon.wait_ready().await;
    eventually("synced", MINUTE, || async { daemon.manifest("edited")["sync"] == "Synced" }).await;
    let before = daemon.manifest("edited")["generation"].clone();
    emu.clear_requests();
    std::fs::write(
        dir.path().join("edited.yaml"),
        doc("info").replace("functionVersion: \"1\"", "functionVersion: \"2\""),
    )
    .unwrap();
    synced_past(&daemon, &before).await;
    let calls = calls_on(&emu, "edited");
    assert_eq!(live(&emu).await, ("info".to_string(), "2".to_string()));
    let first_write = calls.iter().position(|c| !c.starts_with("GET ")).expect("a write");
    assert!(
        calls[..first_write].iter().any(|c| c.ends_with("/aliases")),
        "every kind is read before the first write: {calls:#?}"
    );
}

#[tokio::test]
async fn an_edit_under_a_busy_resync_is_written_ahead_of_the_resync_calls_queued_before_it() {
    let emu = Emulator::start();
    let mut files = vec![];
    for i in 0..6 {
        emu.seed_function(&format!("busy-{i}"), 2);
        let body = "  reservedConcurrency: 1\n  aliases:\n    live:\n      functionVersion: \"1\"\n";
        let text = format!(
            "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: busy-{i}\nspec:\n{body}"
        );
        files.push((format!("busy-{i}.yaml"), text));
    }
    emu.seed_function("edited", 2);
    files.push(("edited.yaml".into(), doc("debug")));
    let files: Vec<(&str, &str)> = files.iter().map(|(f, t)| (f.as_str(), t.as_str())).collect();
    let dir = manifests(&files);
    emu.clear_requests(); // the seeding's own
                          // Two calls a second: the first pass keeps every worker waiting at the limiter, and the
                          // edit's three calls fit in the 2 s a resync call steps aside for.
    let _daemon = Daemon::start(&emu, path(&dir), &["--resync-interval", "1h", "--aws-rps", "2"]);
    let busy = |r: &serde_json::Value| r["path"].as_str().unwrap_or("").contains("/functions/busy-");
    eventually("the pass under way", MINUTE, || async { emu.requests().iter().filter(|r| busy(r)).count() >= 3 }).await;
    let saved = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    std::fs::write(dir.path().join("edited.yaml"), doc("info")).unwrap();
    let put = |r: &serde_json::Value| r["method"] == "PUT" && r["path"] == "/2015-03-31/functions/edited/configuration";
    eventually("the edit's write", MINUTE, || async { emu.requests().iter().any(put) }).await;
    let requests = emu.requests();
    let written = requests.iter().find(|r| put(r)).unwrap()["t"].as_f64().unwrap();
    let between: Vec<String> = requests
        .iter()
        .filter(|r| busy(r) && (saved..written).contains(&r["t"].as_f64().unwrap()))
        .map(|r| format!("{} {}", r["method"], r["path"]))
        .collect();
    // At most the call already holding the limiter's turn, and one granted while the file was
    // being read; the other workers' queued calls wait (before, each edit call queued behind them).
    assert!(between.len() <= 2, "resync calls went between the edit and its write: {between:#?}");
    eventually("the pass continues after it", MINUTE, || async {
        emu.requests().iter().any(|r| busy(r) && r["t"].as_f64().unwrap() > written)
    })
    .await;
}
