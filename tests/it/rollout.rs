//! Progressive delivery: an alias's version change shifted by steps, with alarms, hooks, a
//! restart mid-rollout and an edited target; the real binary against the emulator. Steps are
//! custom steps of seconds (never sleeps as synchronisation: every wait is on a condition).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::common::daemon::Daemon;
use crate::common::*;

const F: &str = "app-pay";

fn manifest(version: &str, deployment: &str) -> String {
    format!(
        "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: {F}\nspec:\n  aliases:\n    live:\n      functionVersion: \"{version}\"\n      deployment: {deployment}\n"
    )
}

/// A function with `versions` published versions and alias `live` on version 1.
async fn seeded(versions: u32) -> Emulator {
    let emu = Emulator::start();
    emu.seed_function(F, versions);
    emu.lambda().await.create_alias().function_name(F).name("live").function_version("1").send().await.unwrap();
    emu
}

/// The alias's version and weights.
async fn live(emu: &Emulator) -> (String, BTreeMap<String, f64>) {
    let a = emu.lambda().await.get_alias().function_name(F).name("live").send().await.unwrap();
    let w = a.routing_config().and_then(|r| r.additional_version_weights()).cloned().unwrap_or_default();
    (a.function_version().unwrap_or_default().to_string(), w.into_iter().collect())
}

/// The rollout marker tag of alias `live`, if any.
async fn marker(emu: &Emulator) -> Option<String> {
    let arn = format!("arn:aws:lambda:{REGION}:123456789012:function:{F}");
    let tags = emu.lambda().await.list_tags().resource(arn).send().await.unwrap();
    tags.tags().and_then(|t| t.get("lambda-reconciler.io/rollout/live").cloned())
}

/// Every UpdateAlias the controller sent, as (version, weight on the new version).
fn alias_writes(emu: &Emulator) -> Vec<(String, Option<f64>)> {
    emu.requests()
        .into_iter()
        .filter(|r| r["method"] == "PUT" && r["path"].as_str().unwrap_or("").ends_with("/aliases/live"))
        .map(|r| {
            let body: serde_json::Value = serde_json::from_str(r["body"].as_str().unwrap_or("{}")).unwrap();
            let w =
                body["RoutingConfig"]["AdditionalVersionWeights"].as_object().and_then(|m| m.values().next()?.as_f64());
            (body["FunctionVersion"].as_str().unwrap_or("").to_string(), w)
        })
        .collect()
}

fn v(version: &str, w: Option<f64>) -> (String, Option<f64>) {
    (version.to_string(), w)
}

#[tokio::test]
async fn a_canary_shifts_its_step_then_ends_on_the_new_version_without_a_marker() {
    let emu = seeded(2).await;
    let dir = manifests(&[("f.yaml", &manifest("2", "{steps: [{weight: 10, pause: 1s}]}"))]);
    let run = emu.run(&["apply", "-m", path(&dir)]).expect(0);
    let progress: Vec<&str> = run.stderr.lines().filter(|l| l.starts_with("rollout ")).collect();
    let said = ["rollout 1 → 2 started", "10% of traffic on 2", "100% of traffic on 2", "rollout to 2 succeeded"];
    assert_eq!(progress.len(), said.len(), "{}", run.stderr);
    for (line, what) in progress.iter().zip(said) {
        assert!(line.ends_with(what), "{line} vs {what}\n{}", run.stderr);
    }
    assert_eq!(live(&emu).await, ("2".to_string(), BTreeMap::new()));
    assert_eq!(alias_writes(&emu), [v("1", Some(0.1)), v("2", None)]);
    assert_eq!(marker(&emu).await, None, "the marker goes when the rollout ends");
    emu.clear_requests();
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    assert_eq!(emu.write_calls(), Vec::<String>::new(), "nothing to do once the target is live");
}

#[tokio::test]
async fn a_step_after_the_first_is_one_write_and_the_function_is_read_again_only_when_its_pause_ends() {
    let emu = seeded(2).await;
    let dir = manifests(&[("f.yaml", &manifest("2", "{steps: [{weight: 10, pause: 1s}, {weight: 50, pause: 1s}]}"))]);
    emu.run(&["apply", "-m", path(&dir), "--alarm-poll", "10s"]).expect(0);
    let requests = emu.requests();
    let log: Vec<(String, String)> = requests
        .iter()
        .map(|r| (r["method"].as_str().unwrap_or("").to_string(), r["path"].as_str().unwrap_or("").to_string()))
        .collect();
    let alias_puts: Vec<usize> = log
        .iter()
        .enumerate()
        .filter(|(_, (m, p))| m == "PUT" && p.ends_with("/aliases/live"))
        .map(|(i, _)| i)
        .collect();
    assert_eq!(alias_puts.len(), 3, "{log:?}");
    // Marker writes (TagResource with the rollout's tag) between two points of the log.
    let tags = |from: usize, to: usize| {
        requests[from..to]
            .iter()
            .filter(|r| r["method"] == "POST" && r["body"].as_str().unwrap_or("").contains("rollout/live"))
            .count()
    };
    assert_eq!(tags(0, alias_puts[0]), 0, "the first weight is written before its marker: {log:?}");
    assert_eq!(tags(alias_puts[0], alias_puts[1]), 1, "then its marker: {log:?}");
    // Between the steps (10 %, 50 %, then 2 at 100 %): one read of the function, after the
    // pause, none to verify the step just written; the step to 50 % writes no marker.
    for w in alias_puts.windows(2) {
        let reads =
            log[w[0]..w[1]].iter().filter(|(m, p)| m == "GET" && p == &format!("/2015-03-31/functions/{F}")).count();
        assert_eq!(reads, 1, "{:?}", &log[w[0]..w[1]]);
    }
    assert_eq!(tags(alias_puts[1], alias_puts[2]), 0, "the step to 50 % is its UpdateAlias alone: {log:?}");
}

#[tokio::test]
async fn retry_is_refused_while_a_hooks_roll_back_has_not_reached_the_alias() {
    // A failed postTraffic hook writes its verdict first; a crash before the alias write leaves
    // the new version at 100 % under a rolled-back marker. Retry must not drop that marker.
    let emu = seeded(2).await;
    let arn = format!("arn:aws:lambda:{REGION}:123456789012:function:{F}");
    let lambda = emu.lambda().await;
    lambda.update_alias().function_name(F).name("live").function_version("2").send().await.unwrap();
    let tag = "to=2 from=1 id=r1 at=1 phase=rolledback reason=hook failed";
    lambda.tag_resource().resource(&arn).tags("lambda-reconciler.io/rollout/live", tag).send().await.unwrap();
    let run = emu.run(&["retry", "--function", F, "--alias", "live"]).expect(1);
    assert!(run.all().contains("not reached the alias"), "{}", run.all());
    assert!(marker(&emu).await.unwrap().contains("phase=rolledback"), "the marker stays");
}

#[tokio::test]
async fn a_roll_back_cut_short_between_its_alias_and_marker_writes_ends_rolled_back_after_a_restart() {
    // A roll back writes the alias first: a crash before its marker leaves the marker in flight
    // with the alias back on the old version. The next process must not step it again.
    let emu = seeded(2).await;
    let arn = format!("arn:aws:lambda:{REGION}:123456789012:function:{F}");
    let at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
    let tag = format!("to=2 from=1 id=r1 at={at} phase=shift step=0");
    let lambda = emu.lambda().await;
    lambda.tag_resource().resource(&arn).tags("lambda-reconciler.io/rollout/live", tag).send().await.unwrap();
    let dir = manifests(&[("f.yaml", &manifest("2", "{steps: [{weight: 10, pause: 1s}]}"))]);
    emu.clear_requests();
    let run = emu.run(&["apply", "-m", path(&dir)]).expect(1);
    let m = marker(&emu).await.unwrap();
    assert!(m.contains("phase=rolledback") && m.contains("roll back cut short"), "{m}\n{}", run.stderr);
    assert_eq!(alias_writes(&emu), [], "no weight moves again, and the alias already back is not rewritten");
    assert_eq!(live(&emu).await, ("1".to_string(), BTreeMap::new()));
}

#[tokio::test]
async fn a_linear_rollout_moves_through_every_step_in_order() {
    let emu = seeded(2).await;
    let steps = "{steps: [{weight: 10, pause: 1s}, {weight: 20, pause: 1s}, {weight: 30, pause: 1s}]}";
    let dir = manifests(&[("f.yaml", &manifest("2", steps))]);
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    assert_eq!(alias_writes(&emu), [v("1", Some(0.1)), v("1", Some(0.2)), v("1", Some(0.3)), v("2", None)]);
}

#[tokio::test]
async fn an_alarm_mid_step_rolls_back_and_the_target_is_held_until_it_changes() {
    let emu = seeded(3).await;
    emu.put_alarm("pay-errors").await;
    let dir = manifests(&[("f.yaml", &manifest("2", "{steps: [{weight: 10, pause: 10m}], alarms: [pay-errors]}"))]);
    let mut apply = emu.command(&["apply", "-m", path(&dir), "--alarm-poll", "200ms"]);
    let child = apply.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let follow = tokio::task::spawn_blocking(move || Run::from(child.wait_with_output().unwrap()));
    eventually("the first step", Duration::from_secs(20), || async { live(&emu).await.1.get("2") == Some(&0.1) }).await;
    emu.set_alarm("pay-errors", "ALARM").await;
    let run = follow.await.unwrap().expect(1);
    assert!(run.all().contains("rolled back: alarm pay-errors in ALARM"), "{}", run.all());
    assert_eq!(live(&emu).await, ("1".to_string(), BTreeMap::new()));
    assert!(marker(&emu).await.unwrap().contains("phase=rolledback"));

    emu.set_alarm("pay-errors", "OK").await;
    emu.clear_requests();
    let held = emu.run(&["apply", "-m", path(&dir)]).expect(1);
    assert!(held.all().contains("rolled back"), "{}", held.all());
    assert_eq!(emu.write_calls(), Vec::<String>::new(), "a rolled-back target is not retried");

    let next = manifests(&[("f.yaml", &manifest("3", "{steps: [{weight: 10, pause: 1s}], alarms: [pay-errors]}"))]);
    emu.run(&["apply", "-m", path(&next)]).expect(0);
    assert_eq!(live(&emu).await, ("3".to_string(), BTreeMap::new()), "a new target rolls out");
}

#[tokio::test]
async fn a_failing_pre_traffic_hook_moves_no_traffic() {
    let emu = seeded(2).await;
    emu.seed_function("app-pay-pre-hook", 1);
    emu.configure(r#"{"invoke": {"app-pay-pre-hook": {"result": "error", "message": "smoke test failed"}}}"#);
    let dep = "{steps: [{weight: 10, pause: 1s}], hooks: {preTraffic: app-pay-pre-hook}}";
    let dir = manifests(&[("f.yaml", &manifest("2", dep))]);
    let run = emu.run(&["apply", "-m", path(&dir)]).expect(1);
    assert!(run.all().contains("hook app-pay-pre-hook failed (Unhandled)"), "{}", run.all());
    assert!(alias_writes(&emu).iter().all(|(_, w)| w.is_none()), "no weight ever moved: {:?}", alias_writes(&emu));
    assert_eq!(live(&emu).await, ("1".to_string(), BTreeMap::new()));
    let (_, body) = emu.admin("GET", "/_ext/invocations", "");
    let calls: serde_json::Value = serde_json::from_str(&body).unwrap();
    let p = &calls[0]["payload"];
    assert_eq!(
        (p["hook"].as_str(), p["fromVersion"].as_str(), p["toVersion"].as_str()),
        (Some("preTraffic"), Some("1"), Some("2"))
    );
}

#[tokio::test]
async fn a_post_traffic_hook_that_reports_failed_rolls_back() {
    let emu = seeded(2).await;
    emu.seed_function("app-pay-post-hook", 1);
    emu.configure(r#"{"invoke": {"app-pay-post-hook": {"result": "failed"}}}"#);
    let dep = "{strategy: AllAtOnce, hooks: {postTraffic: app-pay-post-hook}}";
    let dir = manifests(&[("f.yaml", &manifest("2", dep))]);
    let run = emu.run(&["apply", "-m", path(&dir)]).expect(1);
    assert!(run.all().contains("answered status Failed"), "{}", run.all());
    assert_eq!(alias_writes(&emu), [v("2", None), v("1", None)], "100 %, then back");
    assert_eq!(live(&emu).await, ("1".to_string(), BTreeMap::new()));
    // The hook's verdict is written before the alias goes back: a crash or a failed UpdateAlias
    // in between must not lose it (the hook would run again, and might pass).
    let requests = emu.requests();
    let at = |f: &dyn Fn(&serde_json::Value) -> bool| requests.iter().position(f).unwrap_or(usize::MAX);
    let verdict = at(&|r| r["method"] == "POST" && r["body"].as_str().unwrap_or("").contains("phase=rolledback"));
    let back = at(&|r| {
        r["method"] == "PUT"
            && r["path"].as_str().unwrap_or("").ends_with("/aliases/live")
            && r["body"].as_str().unwrap_or("").contains("\"FunctionVersion\":\"1\"")
    });
    assert!(verdict < back && back != usize::MAX, "verdict at {verdict}, alias back at {back}");
}

#[tokio::test]
async fn a_hook_that_outlives_its_timeout_fails_the_rollout() {
    let emu = seeded(2).await;
    emu.seed_function("app-pay-pre-hook", 1);
    emu.configure(r#"{"invoke": {"app-pay-pre-hook": {"delay_s": 5}}}"#);
    let dep = "{strategy: AllAtOnce, hooks: {preTraffic: app-pay-pre-hook, timeout: 1s}}";
    let dir = manifests(&[("f.yaml", &manifest("2", dep))]);
    let run = emu.run(&["apply", "-m", path(&dir)]).expect(1);
    assert!(run.all().contains("timed out after 1s"), "{}", run.all());
    assert_eq!(live(&emu).await.0, "1");
}

#[tokio::test]
async fn a_missing_hook_function_is_an_error_before_traffic_moves() {
    let emu = seeded(2).await;
    let dep = "{strategy: AllAtOnce, hooks: {preTraffic: app-pay-no-such-hook}}";
    let dir = manifests(&[("f.yaml", &manifest("2", dep))]);
    let run = emu.run(&["apply", "-m", path(&dir)]).expect(1);
    assert!(run.stdout.contains("hook function `app-pay-no-such-hook` not found"), "{}", run.stdout);
    assert_eq!(emu.write_calls().iter().filter(|w| w.contains("/aliases/")).count(), 0);
}

#[tokio::test]
async fn a_target_edited_mid_rollout_ends_it_at_the_stable_version_and_starts_the_new_one() {
    let emu = seeded(3).await;
    let dep = "{steps: [{weight: 10, pause: 10m}]}";
    let dir = manifests(&[("f.yaml", &manifest("2", dep))]);
    emu.run(&["apply", "-m", path(&dir), "--no-wait"]).expect(0);
    assert_eq!(live(&emu).await, ("1".to_string(), BTreeMap::from([("2".to_string(), 0.1)])));
    std::fs::write(dir.path().join("f.yaml"), manifest("3", dep)).unwrap();
    emu.clear_requests();
    emu.run(&["apply", "-m", path(&dir), "--no-wait"]).expect(0);
    assert_eq!(alias_writes(&emu), [v("1", None), v("1", Some(0.1))]);
    assert_eq!(live(&emu).await, ("1".to_string(), BTreeMap::from([("3".to_string(), 0.1)])));
    let m = marker(&emu).await.unwrap();
    assert!(m.contains("to=3 from=1") && m.contains("phase=shift step=0"), "{m}");
}

#[tokio::test]
async fn provisioned_concurrency_changes_wait_for_the_rollout_to_end() {
    let emu = seeded(2).await;
    let pc = |version: &str, n: u32, dep: &str| {
        manifest(version, dep)
            .replace("      deployment:", &format!("      provisionedConcurrency: {n}\n      deployment:"))
    };
    let dir = manifests(&[("f.yaml", &pc("1", 2, "{steps: [{weight: 10, pause: 10m}]}"))]);
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    std::fs::write(dir.path().join("f.yaml"), pc("2", 2, "{steps: [{weight: 10, pause: 10m}]}")).unwrap();
    emu.run(&["apply", "-m", path(&dir), "--no-wait"]).expect(0);
    assert_eq!(live(&emu).await.1.get("2"), Some(&0.1), "routing is added to an alias with provisioned concurrency");
    std::fs::write(dir.path().join("f.yaml"), pc("2", 3, "{steps: [{weight: 10, pause: 10m}]}")).unwrap();
    emu.clear_requests();
    let run = emu.run(&["apply", "-m", path(&dir), "--no-wait"]).expect(1);
    assert!(run.stdout.contains("waits until the rollout ends"), "{}", run.stdout);
    assert!(!emu.write_calls().iter().any(|w| w.contains("provisioned-concurrency")), "{:?}", emu.write_calls());
}

#[tokio::test]
async fn a_rollout_resumes_at_its_step_after_kill_9() {
    let emu = seeded(2).await;
    let dep = "{steps: [{weight: 10, pause: 1s}, {weight: 50, pause: 3s}, {weight: 90, pause: 1s}]}";
    let dir = manifests(&[("f.yaml", &manifest("2", dep))]);
    let first = Daemon::start(&emu, path(&dir), &[]);
    eventually("step 2 (50 %)", Duration::from_secs(30), || async { live(&emu).await.1.get("2") == Some(&0.5) }).await;
    first.kill9();
    // The marker names the first step; the alias's 50 % says it is the second (one write a step).
    let before = marker(&emu).await.unwrap();
    assert!(before.contains("phase=shift step=0"), "{before}");
    emu.clear_requests();
    let _second = Daemon::start(&emu, path(&dir), &[]);
    eventually("the end of the rollout", Duration::from_secs(30), || async { live(&emu).await.0 == "2" }).await;
    assert_eq!(alias_writes(&emu), [v("1", Some(0.9)), v("2", None)], "resumed at step 2: no restart, no jump");
}

#[tokio::test]
async fn a_hook_answer_carrying_a_secure_string_is_masked_in_output_and_marker() {
    let emu = seeded(2).await;
    emu.seed_function("app-pay-pre-hook", 1);
    emu.put_parameter("/app/pay/secret", SECRET_VALUE, true).await;
    let hook =
        format!(r#"{{"invoke": {{"app-pay-pre-hook": {{"result": "error", "message": "bad {SECRET_VALUE}"}}}}}}"#);
    emu.configure(&hook);
    let text = manifest("2", "{strategy: AllAtOnce, hooks: {preTraffic: app-pay-pre-hook}}")
        .replace("  aliases:", "  environment:\n    variables:\n      SECRET: {fromSsm: /app/pay/secret}\n  aliases:");
    let dir = manifests(&[("f.yaml", &text)]);
    let run = emu.run(&["apply", "-m", path(&dir)]).expect(1);
    assert!(run.all().contains("failed (Unhandled)"), "{}", run.all());
    assert!(!run.all().contains(SECRET_VALUE), "secret in output:\n{}", run.all());
    let m = marker(&emu).await.unwrap();
    assert!(m.contains("phase=rolledback") && !m.contains(SECRET_VALUE), "{m}");
}

/// Runs `promote`/`abort`/`retry` through the running daemon.
fn operator(emu: &Emulator, daemon: &Daemon, action: &str) -> Run {
    let server = format!("http://127.0.0.1:{}", daemon.port);
    emu.run(&[action, "--function", F, "--alias", "live", "--server", &server])
}

#[tokio::test]
async fn the_daemon_shows_a_rollout_in_status_and_metrics_and_promote_finishes_it() {
    let emu = seeded(2).await;
    emu.put_alarm("pay-errors").await;
    let dep = "{steps: [{weight: 10, pause: 10m}], alarms: [pay-errors]}";
    let dir = manifests(&[("f.yaml", &manifest("2", dep))]);
    let daemon = Daemon::start(&emu, path(&dir), &["--alarm-poll", "200ms"]);
    eventually("a rollout in status", Duration::from_secs(30), || async {
        let r = &daemon.manifest(F)["rollouts"][0];
        r["phase"] == "Shifting" && r["weight"] == 10.0 && r["nextStepAt"].is_string()
    })
    .await;
    let m = daemon.manifest(F);
    assert_eq!(m["sync"], "Progressing");
    assert_eq!(m["rollouts"][0]["alarms"][0][0], "pay-errors");
    assert_ne!(m["rollouts"][0]["alarms"][0][1], "ALARM");
    assert_eq!(daemon.counter("lambda_reconciler_rollout_weight_percent"), 10.0);
    assert_eq!(daemon.counter("lambda_reconciler_rollouts_total{result=\"started\"}"), 1.0);

    let table = emu.run(&["status", "--server", &format!("http://127.0.0.1:{}", daemon.port)]).expect(0);
    let row =
        table.stdout.lines().find(|l| l.starts_with("app-pay/live")).unwrap_or_else(|| panic!("{}", table.stdout));
    for cell in ["1 → 2", "Shifting", "1/1", "10%", "pay-errors="] {
        assert!(row.contains(cell), "{cell} in {row}");
    }

    let run = operator(&emu, &daemon, "promote").expect(0);
    assert!(run.stdout.contains("promoted"), "{}", run.all());
    eventually("version 2 at 100 %", Duration::from_secs(30), || async {
        live(&emu).await == ("2".into(), BTreeMap::new())
    })
    .await;
    eventually("the rollout gone from status", Duration::from_secs(30), || async {
        daemon.manifest(F)["rollouts"].is_null() && daemon.manifest(F)["sync"] == "Synced"
    })
    .await;
    assert_eq!(daemon.counter("lambda_reconciler_rollouts_total{result=\"succeeded\"}"), 1.0);
    assert_eq!(marker(&emu).await, None);
}

#[tokio::test]
async fn in_the_daemon_an_alarm_rolls_back_with_one_alert_and_retry_then_abort_act_on_it() {
    let emu = seeded(2).await;
    emu.put_alarm("pay-errors").await;
    let hook = crate::common::daemon::Webhook::start("t");
    let dep = "{steps: [{weight: 10, pause: 10m}], alarms: [pay-errors]}";
    let dir = manifests(&[("f.yaml", &manifest("2", dep))]);
    let args = ["--alarm-poll", "200ms", "--resync-interval", "500ms", "--alert-webhook", &hook.url];
    let daemon = Daemon::start(&emu, path(&dir), &args);
    eventually("the first step", Duration::from_secs(30), || async { live(&emu).await.1.get("2") == Some(&0.1) }).await;
    emu.set_alarm("pay-errors", "ALARM").await;
    eventually("the roll back", Duration::from_secs(30), || async {
        live(&emu).await == ("1".into(), BTreeMap::new())
    })
    .await;
    eventually("RolledBack in status", Duration::from_secs(30), || async {
        let m = daemon.manifest(F);
        m["sync"] == "RolledBack" && m["rollouts"][0]["reason"] == "alarm pay-errors in ALARM"
    })
    .await;
    daemon.wait_reconciles(3.0).await;
    assert_eq!(hook.count("RolledBack", F), 1, "one alert: {:?}", hook.alerts());
    let alert = hook.alerts().into_iter().find(|a| a["kind"] == "RolledBack").unwrap();
    assert!(alert["text"].as_str().unwrap().contains("pay-errors"), "{alert}");
    assert_eq!(live(&emu).await.0, "1", "held: not retried while the manifest names the same target");

    emu.set_alarm("pay-errors", "OK").await;
    let run = operator(&emu, &daemon, "retry").expect(0);
    assert!(run.stdout.contains("will start again"), "{}", run.all());
    eventually("the rollout again", Duration::from_secs(30), || async { live(&emu).await.1.get("2") == Some(&0.1) })
        .await;
    operator(&emu, &daemon, "abort").expect(0);
    eventually("aborted", Duration::from_secs(30), || async { live(&emu).await == ("1".into(), BTreeMap::new()) })
        .await;
    assert!(marker(&emu).await.unwrap().contains("aborted by the operator"));
    eventually("the abort alerted", Duration::from_secs(10), || async { hook.count("RolledBack", F) == 2 }).await;
    let aborted = hook.alerts().into_iter().filter(|a| a["kind"] == "RolledBack").nth(1).unwrap();
    assert_eq!(aborted["message"], "aborted by the operator", "{aborted}");
    assert_eq!(daemon.counter("lambda_reconciler_rollouts_total{result=\"rolled_back\"}"), 2.0);
    let refused = operator(&emu, &daemon, "promote").expect(1);
    assert!(refused.stderr.contains("already rolled back"), "{}", refused.all());
}

#[tokio::test]
async fn in_the_daemon_steps_and_hooks_take_alarm_states_from_the_regions_batched_poll() {
    let emu = seeded(2).await;
    emu.put_alarm("pay-errors").await;
    emu.seed_function("app-pay-post-hook", 1);
    emu.configure(r#"{"invoke": {"app-pay-post-hook": {"result": "success", "delay_s": 1}}}"#);
    let dep = "{steps: [{weight: 10, pause: 1s}, {weight: 20, pause: 1s}, {weight: 30, pause: 1s}], alarms: [pay-errors], hooks: {postTraffic: app-pay-post-hook}}";
    let dir = manifests(&[("f.yaml", &manifest("2", dep))]);
    let daemon = Daemon::start(&emu, path(&dir), &["--alarm-poll", "200ms"]);
    eventually("the rollout's end", Duration::from_secs(30), || async {
        live(&emu).await == ("2".into(), BTreeMap::new()) && marker(&emu).await.is_none()
    })
    .await;
    drop(daemon);
    let describes: Vec<serde_json::Value> = emu
        .requests()
        .into_iter()
        .filter(|r| r["path"].as_str().unwrap_or("").ends_with("/operation/DescribeAlarms"))
        .map(|r| serde_json::from_str(r["body"].as_str().unwrap_or("{}")).unwrap_or_default())
        .collect();
    let by_name = describes.iter().filter(|b| b.get("AlarmNames").is_some()).count();
    assert_eq!(by_name, 1, "only the start reads its alarms by name: {describes:?}");
    assert!(describes.iter().filter(|b| b["StateValue"] == "ALARM").count() > 1, "{describes:?}");
}

#[tokio::test]
async fn a_hook_lambda_cannot_invoke_rolls_back_and_is_never_invoked_twice() {
    let emu = seeded(2).await;
    emu.seed_function("app-pay-post-hook", 1);
    // A 500 may come after the hook ran: retrying it could run the hook twice.
    emu.configure(
        r#"{"fail_next": {"operation": "lambda:InvokeFunction", "count": 1, "status": 500, "code": "ServiceException"}}"#,
    );
    let dep = "{steps: [{weight: 10, pause: 1s}], hooks: {postTraffic: app-pay-post-hook}}";
    let dir = manifests(&[("f.yaml", &manifest("2", dep))]);
    let run = emu.run(&["apply", "-m", path(&dir)]).expect(1);
    assert!(run.all().contains("hook app-pay-post-hook could not be invoked: ServiceException"), "{}", run.all());
    assert_eq!(live(&emu).await, ("1".to_string(), BTreeMap::new()), "rolled back");
    let invokes = emu.requests().iter().filter(|r| r["path"].as_str().unwrap_or("").ends_with("/invocations")).count();
    assert_eq!(invokes, 1);
}

/// Whether a socket connected to `port` on this machine (IPv4 loopback) has its keepalive timer
/// armed (`/proc/net/tcp`: the `tr` field is 2 while SO_KEEPALIVE is on and the socket is idle).
fn keepalive_towards(port: u16) -> bool {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    table.lines().skip(1).any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let remote_port = f.get(2).and_then(|a| a.rsplit(':').next()).and_then(|p| u16::from_str_radix(p, 16).ok());
        remote_port == Some(port) && f.get(5).is_some_and(|t| t.starts_with("02:"))
    })
}

#[tokio::test]
async fn a_hook_invocation_waits_on_a_socket_with_tcp_keepalive_so_nat_does_not_cut_it() {
    let emu = seeded(2).await;
    emu.seed_function("app-pay-pre-hook", 1);
    emu.configure(r#"{"invoke": {"app-pay-pre-hook": {"delay_s": 4}}}"#);
    let port: u16 = emu.endpoint().rsplit(':').next().unwrap().trim_end_matches('/').parse().unwrap();
    assert!(!keepalive_towards(port), "no keepalive socket before the hook");
    let dep = "{strategy: AllAtOnce, hooks: {preTraffic: app-pay-pre-hook}}";
    let dir = manifests(&[("f.yaml", &manifest("2", dep))]);
    let child = emu.command(&["apply", "-m", path(&dir)]).stdout(std::process::Stdio::null()).spawn().unwrap();
    let apply = std::thread::spawn(move || child.wait_with_output().unwrap().status.code());
    // While Lambda runs the hook (4 s) the socket carries nothing: keepalive probes keep a NAT
    // gateway's idle timer (350 s) from cutting it.
    eventually("a keepalive socket during the hook", Duration::from_secs(20), || async { keepalive_towards(port) })
        .await;
    assert_eq!(apply.join().unwrap(), Some(0));
    assert_eq!(live(&emu).await.0, "2");
}
