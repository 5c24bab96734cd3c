//! Safe under a hostile commit, a hostile endpoint and a crash: a panic stops the daemon visibly,
//! a duration of years is refused or clamped, never a panic behind green probes.

use std::time::Duration;

use crate::common::daemon::{Daemon, Webhook};
use crate::common::*;

fn manifest(name: &str, reserved: u32) -> String {
    format!("apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: {name}\nspec:\n  reservedConcurrency: {reserved}\n")
}

#[tokio::test]
async fn a_panic_in_a_reconcile_is_alerted_and_stops_the_daemon_so_that_it_is_restarted() {
    let emu = Emulator::start();
    emu.seed_function("boom", 1);
    let hook = Webhook::start("t");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("boom.yaml"), manifest("boom", 2)).unwrap();
    let d = dir.path().to_str().unwrap();
    let mut cmd = Daemon::command(&emu, d, &["--resync-interval", "1h", "--alert-webhook", &hook.url], "AKIDTEST");
    cmd.env("LAMBDA_RECONCILER_TEST_PANIC", "boom");
    let mut daemon = Daemon::spawn(cmd);
    assert_eq!(
        daemon.wait_exit(Duration::from_secs(60)),
        70,
        "exits with EX_SOFTWARE, not a zombie behind green probes"
    );
    let alerts = hook.alerts();
    let panicked: Vec<_> = alerts.iter().filter(|a| a["kind"] == "Panicked").collect();
    assert_eq!(panicked.len(), 1, "{alerts:#?}");
    assert!(panicked[0]["text"].as_str().unwrap().contains("panics.rs"), "{:?}", panicked[0]);
    assert!(daemon.log_text().contains("a task panicked at"), "{}", daemon.log_text());
}

#[tokio::test]
async fn a_rollout_pause_of_years_is_refused_by_validate_and_the_daemon_keeps_reconciling() {
    let emu = Emulator::start();
    emu.seed_function("years", 2);
    emu.seed_function("fine", 1);
    let dir = tempfile::tempdir().unwrap();
    let years = "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: years\nspec:\n  aliases:\n    live:\n      functionVersion: \"2\"\n      deployment:\n        steps: [{weight: 10, pause: 3years}]\n";
    std::fs::write(dir.path().join("years.yaml"), years).unwrap();
    std::fs::write(dir.path().join("fine.yaml"), manifest("fine", 1)).unwrap();
    let out = emu.run(&["validate", "-m", dir.path().to_str().unwrap()]).expect(1);
    assert!(out.stderr.contains("years.yaml:10:") && out.stderr.contains("at most 7d"), "{}", out.stderr);
    let daemon = Daemon::start(&emu, dir.path().to_str().unwrap(), &["--resync-interval", "1h"]);
    daemon.wait_ready().await;
    std::fs::write(dir.path().join("fine.yaml"), manifest("fine", 4)).unwrap();
    eventually("the edit applied", Duration::from_secs(60), || async {
        daemon.manifest("fine")["sync"] == "Synced" && reserved(&emu, "fine").await == Some(4)
    })
    .await;
    assert_eq!(daemon.get("/healthz").0, 200);
    assert!(!daemon.log_text().contains("panicked"));
}
