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
    let bin = std::process::Command::new(env!("CARGO_BIN_EXE_lambda-reconciler"));
    let mut cmd = Daemon::command(bin, &emu, d, &["--resync-interval", "1h", "--alert-webhook", &hook.url], "AKIDTEST");
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

fn env_manifest(vars: &str) -> String {
    format!("apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: app-sens\nspec:\n  environment:\n    variables:\n{vars}")
}

async fn sensitive_tag(emu: &Emulator) -> Option<String> {
    let arn = format!("arn:aws:lambda:{REGION}:123456789012:function:app-sens");
    let tags = emu.lambda().await.list_tags().resource(arn).send().await.unwrap();
    tags.tags().and_then(|t| t.get("lambda-reconciler.io/sensitive-env").cloned())
}

#[tokio::test]
async fn a_secret_is_never_printed_after_git_stops_referencing_it_also_by_a_fresh_process() {
    let emu = Emulator::start();
    emu.seed_function("app-sens", 1);
    emu.put_parameter("/app/pw", "S3CR3T-ssm-value", true).await;
    let sm = aws_sdk_secretsmanager::Client::new(&emu.sdk().await);
    sm.create_secret().name("app/key").secret_string("S3CR3T-sm-value").send().await.unwrap();
    let v1 = "      DB_PASSWORD: {fromSsm: /app/pw}\n      API_KEY: {fromSecret: {id: app/key}}\n      MODE: fast\n";
    let dir = manifests(&[("f.yaml", &env_manifest(v1))]);
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    assert_eq!(sensitive_tag(&emu).await.as_deref(), Some("API_KEY DB_PASSWORD"), "recorded in AWS, not in memory");

    // One secret replaced by a literal, the other's line deleted: each run is a fresh process.
    std::fs::write(dir.path().join("f.yaml"), env_manifest("      DB_PASSWORD: plain-now\n      MODE: fast\n"))
        .unwrap();
    let text = emu.run(&["plan", "-m", path(&dir)]).expect(0).all();
    let json = emu.run(&["plan", "-m", path(&dir), "-o", "json"]).expect(0).all();
    let apply = emu.run(&["apply", "-m", path(&dir)]).expect(0).all();
    for out in [&text, &json, &apply] {
        assert!(!out.contains("S3CR3T"), "{out}");
    }
    assert!(text.contains("DB_PASSWORD: (sensitive) → plain-now"), "{text}");
    assert!(text.contains("API_KEY: (sensitive)"), "{text}");
    assert_eq!(sensitive_tag(&emu).await.as_deref(), Some(""), "no secret left in the environment");
    emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(0);
}

#[tokio::test]
async fn aws_echoing_a_short_secret_of_the_request_has_its_message_withheld_not_cut() {
    let emu = Emulator::start();
    emu.seed_function("app-sens", 1);
    let sm = aws_sdk_secretsmanager::Client::new(&emu.sdk().await);
    sm.create_secret().name("app/user").secret_string("app").send().await.unwrap();
    let dir =
        manifests(&[("f.yaml", &env_manifest("      DB_USER: {fromSecret: {id: app/user}}\n      MODE: applying\n"))]);
    // AWS echoes the request's environment in some refusals (its 4 KB error: "String measured:
    // {...}"); the controller's own size check keeps that one away, so the echo is injected.
    let echo = r#"Lambda was unable to configure your environment variables. String measured: {\"DB_USER\":\"app\",\"MODE\":\"applying\"}"#;
    let fault = format!(
        r#"{{"count": 1, "operation": "lambda:UpdateFunctionConfiguration", "status": 400, "code": "InvalidParameterValueException", "message": "{echo}"}}"#
    );
    emu.configure(&format!(r#"{{"fail_next": {fault}}}"#));
    let out = emu.run(&["apply", "-m", path(&dir)]).expect(1).all();
    assert!(out.contains("InvalidParameterValueException") && out.contains("withheld"), "{out}");
    assert!(!out.contains("String measured") && !out.contains("DB_USER\\\":"), "{out}");
    assert!(!out.contains("(sensitive)lying"), "nothing cut around a short value: {out}");
}

/// A rollout manifest for `name`, from durations and numbers anywhere between valid, extreme
/// and refused.
fn rollout_manifest(name: String) -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let pause = prop::sample::select(vec![
        "0s",
        "1ms",
        "2s",
        "1h",
        "6d 23h 59m 59s",
        "7d",
        "7d 1ms",
        "3years",
        "99999999999999999years",
        "-5s",
        "soon",
    ]);
    let timeout = prop::sample::select(vec!["1ms", "1s", "15m", "16m", "0s", "100years"]);
    let steps = prop::collection::vec((1u32..=99, pause), 1..=4);
    (steps, prop::option::of(timeout), -2i64..=1200).prop_map(move |(steps, timeout, reserved)| {
        let mut steps = steps;
        steps.sort_by_key(|s| s.0);
        steps.dedup_by_key(|s| s.0);
        let steps: Vec<String> = steps.iter().map(|(w, p)| format!("{{weight: {w}, pause: \"{p}\"}}")).collect();
        let hooks = timeout.map_or(String::new(), |t| format!("        hooks: {{timeout: \"{t}\"}}\n"));
        format!("apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: {name}\nspec:\n  reservedConcurrency: {reserved}\n  aliases:\n    live:\n      functionVersion: \"2\"\n      deployment:\n        steps: [{}]\n{hooks}", steps.join(", "))
    })
}

#[tokio::test]
async fn any_manifest_that_validates_is_planned_applied_and_requeued_by_the_daemon_without_a_panic() {
    use proptest::strategy::{Strategy, ValueTree};
    let emu = Emulator::start();
    let dir = tempfile::tempdir().unwrap();
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (mut valid, mut refused) = (vec![], 0);
    for i in 0..40 {
        let name = format!("prop-{i}");
        let text = rollout_manifest(name.clone()).new_tree(&mut runner).unwrap().current();
        if lambda_reconciler::manifest::load_file(std::path::Path::new("p.yaml"), &text).is_err() {
            refused += 1;
            continue;
        }
        emu.seed_function(&name, 2);
        let lambda = emu.lambda().await;
        lambda.create_alias().function_name(&name).name("live").function_version("1").send().await.unwrap();
        std::fs::write(dir.path().join(format!("{name}.yaml")), text).unwrap();
        valid.push(name);
    }
    assert!(valid.len() >= 5 && refused >= 5, "{} valid, {refused} refused: both kinds are tried", valid.len());
    emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(2);
    let daemon = Daemon::start(&emu, path(&dir), &["--resync-interval", "300ms", "--alarm-poll", "200ms"]);
    daemon.wait_ready().await;
    // Every manifest reconciled (its rollout started or refused by AWS's own rules), then requeued
    // and reconciled again several times over.
    daemon.wait_reconciles(3.0 * valid.len() as f64).await;
    for name in &valid {
        let sync = daemon.manifest(name)["sync"].clone();
        assert!(sync.is_string() && sync != "Unknown", "{name}: {sync}");
    }
    assert_eq!(daemon.get("/healthz").0, 200);
    assert!(!daemon.log_text().contains("panicked"), "{}", daemon.log_text());
}

#[tokio::test]
async fn a_panic_stops_the_daemon_also_while_a_client_holds_a_half_sent_request_to_the_admin_port() {
    use std::io::Write;
    let emu = Emulator::start();
    emu.seed_function("boom", 1);
    emu.seed_function("fine", 1);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("fine.yaml"), manifest("fine", 1)).unwrap();
    let d = dir.path().to_str().unwrap();
    let bin = std::process::Command::new(env!("CARGO_BIN_EXE_lambda-reconciler"));
    let mut cmd = Daemon::command(bin, &emu, d, &["--resync-interval", "1h"], "AKIDTEST");
    cmd.env("LAMBDA_RECONCILER_TEST_PANIC", "boom");
    let mut daemon = Daemon::spawn(cmd);
    daemon.wait_ready().await;
    // A slow (or hostile) client: the request head is never finished.
    let mut slow = std::net::TcpStream::connect(("127.0.0.1", daemon.port)).unwrap();
    slow.write_all(b"GET /status HTTP/1.1\r\nHost: x\r\n").unwrap();
    std::fs::write(dir.path().join("boom.yaml"), manifest("boom", 2)).unwrap();
    eventually("the panic", Duration::from_secs(60), || async { daemon.log_text().contains("a task panicked at") })
        .await;
    assert_eq!(daemon.wait_exit(Duration::from_secs(60)), 70, "exits, not held open behind a 500 /healthz");
    drop(slow);
}
