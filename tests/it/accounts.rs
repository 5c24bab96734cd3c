//! Many accounts: a manifest's `spec.roleArn` is assumed through STS to manage its function in
//! that role's account (moto keeps resources per account for assumed-role credentials); a role
//! that cannot be assumed fails only its own manifests.

use std::time::Duration;

use crate::common::daemon::{Daemon, Webhook};
use crate::common::*;

const MINUTE: Duration = Duration::from_secs(60);

fn doc(name: &str, body: &str) -> String {
    format!("apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: {name}\nspec:\n{body}")
}

async fn reserved(lambda: &aws_sdk_lambda::Client, f: &str) -> Option<i32> {
    let out = lambda.get_function().function_name(f).send().await.ok()?;
    out.concurrency().and_then(|c| c.reserved_concurrent_executions())
}

#[tokio::test]
async fn each_manifest_is_reconciled_in_its_roles_account_and_a_role_that_cannot_be_assumed_fails_alone() {
    let emu = Emulator::start();
    let target = emu.seed_role("222222222222", "lambda-reconciler-target");
    emu.seed_function_through("acct-b-fn", 1, &target);
    emu.seed_function("acct-a-fn", 1);
    let hook = Webhook::start("T0KEN-accounts");
    let missing = "arn:aws:iam::333333333333:role/lambda-reconciler-target";
    let dir = manifests(&[
        ("a.yaml", &doc("acct-a-fn", "  reservedConcurrency: 2\n")),
        ("b.yaml", &doc("acct-b-fn", &format!("  roleArn: {target}\n  reservedConcurrency: 4\n"))),
        ("c.yaml", &doc("acct-c-fn", &format!("  roleArn: {missing}\n  reservedConcurrency: 1\n"))),
    ]);
    let daemon = Daemon::start(&emu, path(&dir), &["--resync-interval", "1h", "--alert-webhook", &hook.url]);
    let own = emu.lambda().await;
    let other = emu.lambda_through(&target).await;
    eventually("acct-a-fn in the own account", MINUTE, || async { reserved(&own, "acct-a-fn").await == Some(2) }).await;
    eventually("acct-b-fn in account 222222222222", MINUTE, || async {
        reserved(&other, "acct-b-fn").await == Some(4)
    })
    .await;
    assert!(
        own.get_function().function_name("acct-b-fn").send().await.is_err(),
        "B's function is not in the own account"
    );
    eventually("acct-c-fn in Error", MINUTE, || async { daemon.manifest("acct-c-fn")["sync"] == "Error" }).await;
    let error = daemon.manifest("acct-c-fn")["lastError"].as_str().unwrap_or_default().to_string();
    assert!(
        error.contains("sts:AssumeRole on arn:aws:iam::333333333333:role/lambda-reconciler-target failed"),
        "{error}"
    );
    eventually("an alert for acct-c-fn", MINUTE, || async {
        hook.alerts().iter().any(|a| a["function"] == "acct-c-fn" && a["kind"] != "Drift")
    })
    .await;
    assert_eq!(hook.count("AwsUnreachable", ""), 0, "a role that cannot be assumed is not an outage");
    for m in ["acct-a-fn", "acct-b-fn"] {
        // The write is seen before the reconcile that made it records its status.
        eventually(&format!("{m} Synced"), MINUTE, || async { daemon.manifest(m)["sync"] == "Synced" }).await;
    }
    let status = daemon.status();
    let b = status["manifests"].as_array().unwrap().iter().find(|m| m["manifest"] == "acct-b-fn").unwrap().clone();
    assert_eq!(b["account"], "222222222222", "{b}");
}

#[tokio::test]
async fn an_unreachable_region_fails_only_its_manifests_while_the_others_keep_reconciling() {
    let emu = Emulator::start();
    emu.seed_function("here-fn", 1);
    let (status, body) =
        emu.admin("POST", "/_ext/seed/function", r#"{"region":"us-west-2","name":"there-fn","versions":1}"#);
    assert_eq!(status, 200, "{body}");
    let hook = Webhook::start("T0KEN-regions");
    let dir = manifests(&[
        ("here.yaml", &doc("here-fn", "  reservedConcurrency: 2\n")),
        ("there.yaml", &doc("there-fn", "  region: us-west-2\n  reservedConcurrency: 2\n")),
    ]);
    emu.configure(r#"{"down_regions": ["us-west-2"]}"#);
    let daemon = Daemon::start(&emu, path(&dir), &["--resync-interval", "1h", "--alert-webhook", &hook.url]);
    eventually("there-fn in Error", MINUTE, || async { daemon.manifest("there-fn")["sync"] == "Error" }).await;
    eventually("one unreachable alert naming us-west-2", MINUTE, || async {
        hook.alerts().iter().any(|a| a["kind"] == "AwsUnreachable" && a["region"] == "us-west-2")
    })
    .await;
    let own = emu.lambda().await;
    eventually("here-fn applied", MINUTE, || async { reserved(&own, "here-fn").await == Some(2) }).await;
    std::fs::write(dir.path().join("here.yaml"), doc("here-fn", "  reservedConcurrency: 5\n")).unwrap();
    eventually("an edit of here-fn applied meanwhile", MINUTE, || async { reserved(&own, "here-fn").await == Some(5) })
        .await;
    assert_eq!(daemon.manifest("here-fn")["sync"], "Synced");
    assert_eq!(hook.count("AwsUnreachable", ""), 1, "one alert for the region, not one per reconcile");
}

#[tokio::test]
async fn an_out_of_band_change_in_another_account_arrives_through_that_accounts_queue() {
    let emu = Emulator::start();
    let target = emu.seed_role("222222222222", "lambda-reconciler-target");
    emu.seed_function_through("acct-b-ev", 1, &target);
    let url = emu.seed_events_through("lambda-reconciler-events-b", Some(&target));
    assert!(url.contains("/222222222222/"), "the queue is in account B: {url}");
    let hook = Webhook::start("T0KEN-acct-events");
    let dir = manifests(&[(
        "b.yaml",
        &doc("acct-b-ev", &format!("  roleArn: {target}\n  driftPolicy: alert\n  reservedConcurrency: 4\n")),
    )]);
    let args = ["--resync-interval", "10h", "--events-queue-url", &url, "--alert-webhook", &hook.url];
    let daemon = Daemon::start(&emu, path(&dir), &args);
    daemon.wait_ready().await;
    let other = emu.lambda_through(&target).await;
    eventually("applied in account B", MINUTE, || async { reserved(&other, "acct-b-ev").await == Some(4) }).await;
    // The controller's own write in B (session lambda-reconciler of the role) is its own event.
    let own = |d: &Daemon| d.counter(r#"lambda_reconciler_events_total{result="own"}"#);
    eventually("the own write's event", MINUTE, || async { own(&daemon) >= 1.0 }).await;
    other.put_function_concurrency().function_name("acct-b-ev").reserved_concurrent_executions(9).send().await.unwrap();
    eventually("a drift alert for acct-b-ev", MINUTE, || async { hook.count("Drift", "acct-b-ev") == 1 }).await;
    assert_eq!(daemon.manifest("acct-b-ev")["account"], "222222222222");
}
