//! Approval gates: a step with `pause: manual` holds its weight until a person runs `promote`
//! (through the daemon's admin API or straight against AWS), across a restart; with a timeout it
//! rolls back (or goes on) when nobody approved it.

use std::time::Duration;

use crate::common::daemon::Daemon;
use crate::common::*;

const F: &str = "app-gate";
const MINUTE: Duration = Duration::from_secs(60);

fn manifest(steps: &str) -> String {
    format!(
        "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: {F}\nspec:\n  aliases:\n    live:\n      functionVersion: \"2\"\n      deployment: {{steps: {steps}}}\n"
    )
}

async fn seeded() -> Emulator {
    let emu = Emulator::start();
    emu.seed_function(F, 2);
    emu.lambda().await.create_alias().function_name(F).name("live").function_version("1").send().await.unwrap();
    emu
}

/// The alias's version and the weight on version 2.
async fn live(emu: &Emulator) -> (String, Option<f64>) {
    let a = emu.lambda().await.get_alias().function_name(F).name("live").send().await.unwrap();
    let w = a.routing_config().and_then(|r| r.additional_version_weights()).and_then(|w| w.get("2").copied());
    (a.function_version().unwrap_or_default().to_string(), w)
}

fn waiting(daemon: &Daemon) -> Option<String> {
    daemon.manifest(F)["rollouts"][0]["waitingForApproval"].as_str().map(str::to_string)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_manual_step_holds_its_weight_across_a_restart_until_promote_approves_it() {
    let emu = seeded().await;
    let dir = manifests(&[("f.yaml", &manifest("[{weight: 10, pause: manual}, {weight: 50, pause: 1s}]"))]);
    let args = ["--resync-interval", "300ms"];
    let mut daemon = Daemon::start(&emu, path(&dir), &args);
    eventually("waiting for approval at 10 %", MINUTE, || async { waiting(&daemon).is_some() }).await;
    assert_eq!(live(&emu).await, ("1".into(), Some(0.1)));
    let page = daemon.get("/").1;
    assert!(page.contains("waiting for approval (promote)"), "{page}");
    daemon.kill9();
    daemon.wait_exit(Duration::from_secs(10));
    // A new process reads the gate back from the marker: it still waits.
    let daemon = Daemon::start(&emu, path(&dir), &args);
    eventually("waiting again after the restart", MINUTE, || async { waiting(&daemon).is_some() }).await;
    let before = daemon.counter("lambda_reconciler_reconciles_total");
    daemon.wait_reconciles(before + 3.0).await;
    assert_eq!(live(&emu).await, ("1".into(), Some(0.1)), "held: reconciles do not pass the gate");
    let server = format!("http://127.0.0.1:{}", daemon.port);
    let run = emu.run(&["promote", "--function", F, "--alias", "live", "--server", &server]).expect(0);
    assert!(run.stdout.contains("step approved"), "{}", run.all());
    eventually("the rollout ends on version 2", MINUTE, || async { live(&emu).await == ("2".into(), None) }).await;
}

#[tokio::test]
async fn promote_without_a_daemon_approves_the_step_and_the_next_apply_goes_on() {
    let emu = seeded().await;
    let dir = manifests(&[("f.yaml", &manifest("[{weight: 10, pause: manual}]"))]);
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    assert_eq!(live(&emu).await, ("1".into(), Some(0.1)), "apply returns while the step waits for a person");
    let plan = emu.run(&["plan", "-m", path(&dir)]);
    assert!(plan.stdout.contains("waiting for approval (promote)"), "{}", plan.all());
    let run = emu.run(&["promote", "--function", F, "--alias", "live"]).expect(0);
    assert!(run.stdout.contains("step approved"), "{}", run.all());
    assert_eq!(live(&emu).await, ("1".into(), Some(0.1)), "approving moves no traffic by itself");
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    assert_eq!(live(&emu).await, ("2".into(), None));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_manual_step_nobody_approved_in_time_rolls_back() {
    let emu = seeded().await;
    let dir = manifests(&[("f.yaml", &manifest("[{weight: 10, pause: manual, timeout: 2s}]"))]);
    let daemon = Daemon::start(&emu, path(&dir), &["--resync-interval", "300ms"]);
    eventually("waiting for approval", MINUTE, || async { waiting(&daemon).is_some() }).await;
    eventually("rolled back at the timeout", MINUTE, || async {
        daemon.manifest(F)["rollouts"][0]["phase"] == "RolledBack"
    })
    .await;
    assert_eq!(live(&emu).await, ("1".into(), None));
    let reason = daemon.manifest(F)["rollouts"][0]["reason"].clone();
    assert_eq!(reason, "step 1 was not approved in time");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_manual_step_still_waits_after_a_failover_and_the_new_leader_takes_the_approval() {
    let emu = seeded().await;
    crate::ha::lease_table(&emu).await;
    let dir = manifests(&[("f.yaml", &manifest("[{weight: 10, pause: manual}]"))]);
    let lease =
        ["--lease-table", "lease", "--lease-duration", "3s", "--lease-heartbeat", "1s", "--lease-poll", "200ms"];
    let args: Vec<&str> = lease.iter().copied().chain(["--resync-interval", "300ms"]).collect();
    let mut first = Daemon::start_as(&emu, path(&dir), &args, "AKIDTEST");
    eventually("the first replica leads", MINUTE, || async { first.status()["role"] == "leader" }).await;
    let second = Daemon::start_as(&emu, path(&dir), &args, "AKIDTESTB");
    eventually("waiting for approval at 10 %", MINUTE, || async { waiting(&first).is_some() }).await;
    first.kill9();
    first.wait_exit(Duration::from_secs(10));
    eventually("the second replica leads", MINUTE, || async { second.status()["role"] == "leader" }).await;
    eventually("it waits too", MINUTE, || async { waiting(&second).is_some() }).await;
    assert_eq!(live(&emu).await, ("1".into(), Some(0.1)));
    let server = format!("http://127.0.0.1:{}", second.port);
    emu.run(&["promote", "--function", F, "--alias", "live", "--server", &server]).expect(0);
    eventually("the rollout ends on version 2", MINUTE, || async { live(&emu).await == ("2".into(), None) }).await;
}
