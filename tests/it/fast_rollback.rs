//! Alarm roll backs in one call: the daemon puts the alias back with one conditional UpdateAlias
//! (the RevisionId it last saw) before anything else, and an alias someone changed since is not
//! overwritten by it; the emulator honours UpdateAlias's RevisionId as AWS does.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use aws_sdk_lambda::error::ProvideErrorMetadata;
use aws_sdk_lambda::types::AliasRoutingConfiguration;

use crate::common::daemon::{Daemon, Webhook};
use crate::common::*;

const F: &str = "app-fast";

fn manifest() -> String {
    format!(
        "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: {F}\nspec:\n  aliases:\n    live:\n      functionVersion: \"2\"\n      deployment: {{steps: [{{weight: 10, pause: 10m}}], alarms: [fast-errors]}}\n"
    )
}

fn weights(to: &str, w: f64) -> AliasRoutingConfiguration {
    AliasRoutingConfiguration::builder().set_additional_version_weights(Some(HashMap::from([(to.into(), w)]))).build()
}

/// The alias's version and weights.
async fn live(emu: &Emulator) -> (String, BTreeMap<String, f64>) {
    let a = emu.lambda().await.get_alias().function_name(F).name("live").send().await.unwrap();
    let w = a.routing_config().and_then(|r| r.additional_version_weights()).cloned().unwrap_or_default();
    (a.function_version().unwrap_or_default().to_string(), w.into_iter().collect())
}

async fn marker(emu: &Emulator) -> String {
    let arn = format!("arn:aws:lambda:{REGION}:123456789012:function:{F}");
    let tags = emu.lambda().await.list_tags().resource(arn).send().await.unwrap();
    tags.tags().and_then(|t| t.get("lambda-reconciler.io/rollout/live").cloned()).unwrap_or_default()
}

/// The controller's Lambda requests (its key, not the test's) since the log was cleared, as
/// (method, path, body).
fn lambda_calls(emu: &Emulator) -> Vec<(String, String, String)> {
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
    emu.requests()
        .into_iter()
        .filter(|r| r["service"] == "lambda" && r["key"] == "AKIDTEST")
        .map(|r| (text(&r["method"]), text(&r["path"]), text(&r["body"])))
        .collect()
}

/// Version 2 rolling out on `live` (10 %, then a 10-minute pause) under a daemon polling its
/// alarm every 200 ms; returns once the step is in status.
async fn rolling(hook: &Webhook) -> (Emulator, Daemon, tempfile::TempDir) {
    let emu = Emulator::start();
    emu.seed_function(F, 2);
    emu.lambda().await.create_alias().function_name(F).name("live").function_version("1").send().await.unwrap();
    emu.put_alarm("fast-errors").await;
    let dir = manifests(&[("f.yaml", &manifest())]);
    let daemon = Daemon::start(&emu, path(&dir), &["--alarm-poll", "200ms", "--alert-webhook", &hook.url]);
    eventually("the first step", Duration::from_secs(30), || async {
        let r = &daemon.manifest(F)["rollouts"][0];
        r["phase"] == "Shifting" && r["weight"] == 10.0
    })
    .await;
    (emu, daemon, dir)
}

async fn rolled_back(daemon: &Daemon) {
    eventually("RolledBack in status", Duration::from_secs(30), || async {
        let m = daemon.manifest(F);
        m["sync"] == "RolledBack" && m["rollouts"][0]["reason"] == "alarm fast-errors in ALARM"
    })
    .await;
}

#[tokio::test]
async fn an_alarm_during_a_pause_restores_the_alias_in_the_first_lambda_call_and_alerts_once() {
    let hook = Webhook::start("t");
    let (emu, daemon, _dir) = rolling(&hook).await;
    emu.clear_requests();
    emu.set_alarm("fast-errors", "ALARM").await;
    eventually("the alias restored", Duration::from_secs(30), || async {
        live(&emu).await == ("1".into(), BTreeMap::new())
    })
    .await;
    rolled_back(&daemon).await;
    let calls = lambda_calls(&emu);
    let (method, path, body) = calls.first().cloned().unwrap_or_default();
    assert_eq!((method.as_str(), path.as_str()), ("PUT", "/2015-03-31/functions/app-fast/aliases/live"), "{calls:?}");
    assert!(body.contains("\"RevisionId\""), "a conditional write: {body}");
    assert_eq!(daemon.counter("lambda_reconciler_fast_rollbacks_total{result=\"made\"}"), 1.0);
    let m = marker(&emu).await;
    assert!(m.contains("phase=rolledback reason=alarm fast-errors in ALARM"), "{m}");
    // The reconcile after it has run (its status is shown): it did not report the roll back again.
    assert_eq!(daemon.counter("lambda_reconciler_rollouts_total{result=\"rolled_back\"}"), 1.0);
    eventually("the alert", Duration::from_secs(10), || async { hook.count("RolledBack", F) == 1 }).await;
    let alert = hook.alerts().into_iter().find(|a| a["kind"] == "RolledBack").unwrap();
    assert_eq!(alert["message"], "alarm fast-errors in ALARM", "{alert}");
}

#[tokio::test]
async fn an_alias_changed_since_the_daemon_read_it_refuses_the_fast_write_and_the_reconcile_decides() {
    let hook = Webhook::start("t");
    let (emu, daemon, _dir) = rolling(&hook).await;
    // Someone moves the weights by hand after the daemon last read (and wrote) the alias.
    let lambda = emu.lambda().await;
    lambda.update_alias().function_name(F).name("live").routing_config(weights("2", 0.5)).send().await.unwrap();
    emu.clear_requests();
    emu.set_alarm("fast-errors", "ALARM").await;
    eventually("the fast write refused", Duration::from_secs(30), || async {
        daemon.counter("lambda_reconciler_fast_rollbacks_total{result=\"stale\"}") == 1.0
    })
    .await;
    rolled_back(&daemon).await;
    assert_eq!(daemon.counter("lambda_reconciler_fast_rollbacks_total{result=\"made\"}"), 0.0);
    let puts: Vec<String> = lambda_calls(&emu)
        .into_iter()
        .filter(|(m, p, _)| m == "PUT" && p.ends_with("/aliases/live"))
        .map(|(_, _, body)| body)
        .collect();
    assert_eq!(puts.len(), 2, "the refused write, then the reconcile's roll back: {puts:?}");
    assert!(puts[0].contains("\"RevisionId\"") && !puts[1].contains("\"RevisionId\""), "{puts:?}");
    assert_eq!(live(&emu).await, ("1".into(), BTreeMap::new()), "rolled back by the plan, from the world as read");
    assert_eq!(daemon.counter("lambda_reconciler_rollouts_total{result=\"rolled_back\"}"), 1.0);
}

#[tokio::test]
async fn the_emulator_refuses_an_alias_update_with_a_stale_revision_and_gives_each_update_a_new_one() {
    let emu = Emulator::start();
    emu.seed_function(F, 2);
    let lambda = emu.lambda().await;
    let created = lambda.create_alias().function_name(F).name("live").function_version("1").send().await.unwrap();
    let first = created.revision_id().unwrap().to_string();
    let update = || lambda.update_alias().function_name(F).name("live");
    let moved = update().routing_config(weights("2", 0.1)).revision_id(&first).send().await.unwrap();
    let second = moved.revision_id().unwrap().to_string();
    assert_ne!(first, second, "an update gives the alias a new revision");
    let read = lambda.get_alias().function_name(F).name("live").send().await.unwrap();
    assert_eq!(read.revision_id(), Some(second.as_str()));
    let listed = lambda.list_aliases().function_name(F).send().await.unwrap();
    assert_eq!(listed.aliases()[0].revision_id(), Some(second.as_str()));

    let stale = update().routing_config(weights("2", 0.9)).revision_id(&first).send().await.unwrap_err();
    assert_eq!(stale.raw_response().map(|r| r.status().as_u16()), Some(412));
    assert_eq!(stale.code(), Some("PreconditionFailedException"), "{stale:?}");
    assert_eq!(live(&emu).await, ("1".into(), BTreeMap::from([("2".into(), 0.1)])), "refused: nothing changed");

    let unconditional = update().description("by hand").send().await.unwrap();
    assert_ne!(unconditional.revision_id(), Some(second.as_str()));
}

/// `live` and `beta` both rolling version 2 out under one alarm.
fn two_aliases(extra: &str) -> String {
    let dep = "deployment: {steps: [{weight: 10, pause: 10m}], alarms: [fast-errors]}";
    format!(
        "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: {F}\nspec:\n{extra}  aliases:\n    beta:\n      functionVersion: \"2\"\n      {dep}\n    live:\n      functionVersion: \"2\"\n      {dep}\n"
    )
}

#[tokio::test]
async fn an_alias_put_back_beside_a_refused_one_is_reported_once_by_the_reconcile_that_follows() {
    let hook = Webhook::start("t");
    let emu = Emulator::start();
    emu.seed_function(F, 2);
    let lambda = emu.lambda().await;
    for alias in ["beta", "live"] {
        lambda.create_alias().function_name(F).name(alias).function_version("1").send().await.unwrap();
    }
    emu.put_alarm("fast-errors").await;
    let dir = manifests(&[("f.yaml", &two_aliases(""))]);
    let daemon = Daemon::start(&emu, path(&dir), &["--alarm-poll", "200ms", "--alert-webhook", &hook.url]);
    eventually("both at their first step", Duration::from_secs(30), || async {
        let r = daemon.manifest(F)["rollouts"].clone();
        (0..2).all(|i| r[i]["phase"] == "Shifting" && r[i]["weight"] == 10.0)
    })
    .await;
    // `beta` moved by hand: its fast write is refused, `live`'s is made; the reconcile follows.
    lambda.update_alias().function_name(F).name("beta").routing_config(weights("2", 0.5)).send().await.unwrap();
    emu.set_alarm("fast-errors", "ALARM").await;
    eventually("both rolled back", Duration::from_secs(30), || async {
        let r = daemon.manifest(F)["rollouts"].clone();
        (0..2).all(|i| r[i]["phase"] == "RolledBack")
    })
    .await;
    assert_eq!(daemon.counter("lambda_reconciler_fast_rollbacks_total{result=\"made\"}"), 1.0);
    assert_eq!(daemon.counter("lambda_reconciler_fast_rollbacks_total{result=\"stale\"}"), 1.0);
    // The key's next run (an edit of the manifest): `live`'s roll back is not written and reported again.
    std::fs::write(dir.path().join("f.yaml"), two_aliases("  reservedConcurrency: 5\n")).unwrap();
    eventually("the edit applied", Duration::from_secs(30), || async {
        let c = lambda.get_function_concurrency().function_name(F).send().await.unwrap();
        c.reserved_concurrent_executions() == Some(5)
    })
    .await;
    assert_eq!(daemon.counter("lambda_reconciler_rollouts_total{result=\"rolled_back\"}"), 2.0, "one per alias");
    eventually("the alerts", Duration::from_secs(10), || async { hook.count("RolledBack", F) >= 2 }).await;
    assert_eq!(hook.count("RolledBack", F), 2, "{:?}", hook.alerts());
}
