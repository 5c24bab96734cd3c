//! `lambda-reconciler run` against the emulator: watch, resync, drift alerts, rejected files,
//! faults, status/metrics/readiness, graceful shutdown and secret hygiene. Every wait is on a
//! condition with a deadline.

use std::time::Duration;

use crate::common::daemon::{Daemon, Webhook};
use crate::common::*;

const MINUTE: Duration = Duration::from_secs(60);

fn doc(name: &str, body: &str) -> String {
    format!("apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: {name}\nspec:\n{body}")
}

async fn wait_reserved(emu: &Emulator, f: &str, n: i32) {
    eventually(&format!("{f} reserved concurrency {n}"), MINUTE, || async { reserved(emu, f).await == Some(n) }).await;
}

fn write_calls_matching(emu: &Emulator, needle: &str) -> usize {
    emu.write_calls().iter().filter(|w| w.contains(needle)).count()
}

#[tokio::test]
async fn an_edit_is_applied_without_restart_and_a_burst_of_writes_is_one_reconcile() {
    let emu = Emulator::start();
    emu.seed_function("edited", 1);
    emu.seed_function("bystander", 1);
    let dir = manifests(&[
        ("edited.yaml", &doc("edited", "  reservedConcurrency: 1\n")),
        ("other/bystander.yaml", &doc("bystander", "  reservedConcurrency: 1\n")),
    ]);
    let daemon = Daemon::start(&emu, path(&dir), &["--resync-interval", "1h"]);
    daemon.wait_ready().await;
    wait_reserved(&emu, "edited", 1).await;
    emu.clear_requests();
    for n in 2..=51 {
        std::fs::write(dir.path().join("edited.yaml"), doc("edited", &format!("  reservedConcurrency: {n}\n")))
            .unwrap();
    }
    wait_reserved(&emu, "edited", 51).await;
    eventually("status synced", MINUTE, || async { daemon.manifest("edited")["sync"] == "Synced" }).await;
    assert_eq!(write_calls_matching(&emu, "/functions/edited/concurrency"), 1, "{:?}", emu.write_calls());
    let bystander_reads =
        emu.requests().iter().filter(|r| r["path"].as_str().unwrap_or("").contains("bystander")).count();
    assert_eq!(bystander_reads, 0, "an unchanged manifest is not reconciled by a file event");
    // Reading the files (as every reload and `validate` do) is not a change: one write, one reload.
    let reloads = daemon.counter("lambda_reconciler_manifest_reloads_total");
    emu.run(&["validate", "-m", path(&dir)]).expect(0);
    std::fs::write(dir.path().join("edited.yaml"), doc("edited", "  reservedConcurrency: 60\n")).unwrap();
    wait_reserved(&emu, "edited", 60).await;
    assert_eq!(daemon.counter("lambda_reconciler_manifest_reloads_total"), reloads + 1.0);
}

#[tokio::test]
async fn drift_is_corrected_under_correct_left_under_alert_and_alerted_once_each() {
    let emu = Emulator::start();
    emu.seed_function("fixme", 1);
    emu.seed_function("watchme", 1);
    let hook = Webhook::start("T0KEN-drift");
    let dir = manifests(&[
        ("fixme.yaml", &doc("fixme", "  reservedConcurrency: 3\n")),
        ("watchme.yaml", &doc("watchme", "  driftPolicy: alert\n  reservedConcurrency: 3\n")),
    ]);
    let daemon = Daemon::start(&emu, path(&dir), &["--resync-interval", "300ms", "--alert-webhook", &hook.url]);
    daemon.wait_ready().await;
    wait_reserved(&emu, "watchme", 3).await;
    let lambda = emu.lambda().await;
    for f in ["fixme", "watchme"] {
        lambda.put_function_concurrency().function_name(f).reserved_concurrent_executions(9).send().await.unwrap();
    }
    wait_reserved(&emu, "fixme", 3).await;
    eventually("alert for watchme", MINUTE, || async { hook.count("Drift", "watchme") == 1 }).await;
    daemon.wait_reconciles(6.0).await;
    assert_eq!(reserved(&emu, "watchme").await, Some(9), "alert policy leaves drift in place");
    assert_eq!(hook.count("Drift", "watchme"), 1, "one alert per drift episode, not per resync");
    assert_eq!(hook.count("Drift", "fixme"), 1);
    let alert = hook.alerts().into_iter().find(|a| a["function"] == "watchme").unwrap();
    assert_eq!(
        (alert["field"].as_str(), alert["actual"].as_i64(), alert["desired"].as_i64()),
        (Some("reservedConcurrency"), Some(9), Some(3))
    );
    assert_eq!(alert["action"], "none");
    assert!(alert["text"].as_str().unwrap().contains("drift on watchme"));
    let fixed = hook.alerts().into_iter().find(|a| a["function"] == "fixme").unwrap();
    assert_eq!(fixed["action"], "corrected");
    let status = daemon.manifest("watchme");
    assert_eq!(
        (status["sync"].as_str(), status["driftedFields"][0].as_str()),
        (Some("OutOfSync"), Some("reservedConcurrency"))
    );
    let changed_by = serde_json::Value::Null; // no events queue: who made it is unknown
    assert_eq!(
        status["drift"],
        serde_json::json!([{"field": "reservedConcurrency", "desired": 3, "actual": 9, "changedBy": changed_by}])
    );
    let alerts = daemon.status()["alerts"].as_array().cloned().unwrap_or_default();
    assert_eq!(alerts.iter().filter(|a| a["kind"] == "Drift").count(), 2, "the recent alerts in /status: {alerts:?}");
    assert_eq!(daemon.manifest("fixme")["sync"], "Synced");
    let metrics = daemon.get("/metrics").1;
    assert!(
        metrics.contains(r#"lambda_reconciler_drift_corrected_total{function="fixme",field="reservedConcurrency"} 1"#)
            && !metrics.contains(r#"lambda_reconciler_drift_corrected_total{function="watchme""#),
        "corrected counts only what was written back"
    );
    assert!(
        metrics.contains(r#"lambda_reconciler_drift_detected_total{function="watchme",field="reservedConcurrency"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"lambda_reconciler_alerts_total{sink="webhook",outcome="sent"} 2"#), "{metrics}");
    assert!(metrics.contains(r#"lambda_reconciler_managed_manifests{state="OutOfSync"} 1"#), "{metrics}");
    assert!(metrics.contains(r#"operation="PutFunctionConcurrency",outcome="ok""#), "{metrics}");
    assert!(!daemon.log_text().contains("T0KEN-drift"), "the webhook URL token is never logged");
}

#[tokio::test]
async fn a_broken_file_keeps_the_last_good_state_alerts_deletes_nothing_and_resumes_when_fixed() {
    let emu = Emulator::start();
    emu.seed_function("steady", 2);
    emu.seed_function("neighbour", 1);
    let hook = Webhook::start("tok");
    let good = doc("steady", "  deletionPolicy: delete\n  reservedConcurrency: 2\n  aliases:\n    live:\n      functionVersion: \"2\"\n      provisionedConcurrency: 1\n");
    let dir = manifests(&[("steady.yaml", &good), ("neighbour.yaml", &doc("neighbour", "  reservedConcurrency: 1\n"))]);
    let daemon = Daemon::start(&emu, path(&dir), &["--resync-interval", "500ms", "--alert-webhook", &hook.url]);
    daemon.wait_ready().await;
    wait_reserved(&emu, "steady", 2).await;
    emu.clear_requests();
    std::fs::write(dir.path().join("steady.yaml"), "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: steady\nspec:\n  reservedConcurrency: [oops\n").unwrap();
    eventually("ManifestRejected alert", MINUTE, || async { hook.count("ManifestRejected", "") == 1 }).await;
    let alert = hook.alerts().into_iter().find(|a| a["kind"] == "ManifestRejected").unwrap();
    assert!(alert["text"].as_str().unwrap().contains("steady.yaml:"), "{alert}");
    // Out-of-band drift is still corrected from the last good version; the neighbour still works.
    emu.lambda()
        .await
        .put_function_concurrency()
        .function_name("steady")
        .reserved_concurrent_executions(7)
        .send()
        .await
        .unwrap();
    wait_reserved(&emu, "steady", 2).await;
    std::fs::write(dir.path().join("neighbour.yaml"), doc("neighbour", "  reservedConcurrency: 5\n")).unwrap();
    wait_reserved(&emu, "neighbour", 5).await;
    let deletes: Vec<String> = emu.write_calls().into_iter().filter(|w| w.starts_with("DELETE")).collect();
    assert!(deletes.is_empty(), "nothing deleted: {deletes:?}");
    let pc =
        emu.lambda().await.get_provisioned_concurrency_config().function_name("steady").qualifier("live").send().await;
    assert!(pc.is_ok(), "provisioned concurrency kept");
    std::fs::write(dir.path().join("steady.yaml"), good.replace("reservedConcurrency: 2", "reservedConcurrency: 4"))
        .unwrap();
    wait_reserved(&emu, "steady", 4).await;
    assert_eq!(hook.count("ManifestRejected", ""), 1);
}

#[tokio::test]
async fn injected_throttling_errors_and_latency_are_retried_until_converged() {
    let emu = Emulator::start();
    for f in ["f1", "f2", "f3"] {
        emu.seed_function(f, 2);
    }
    let body = "  reservedConcurrency: 5\n  eventInvokeConfig: {maximumRetryAttempts: 1}\n  aliases:\n    live:\n      functionVersion: \"2\"\n      provisionedConcurrency: 2\n";
    let dir = manifests(&[("f1.yaml", &doc("f1", body)), ("f2.yaml", &doc("f2", body)), ("f3.yaml", &doc("f3", body))]);
    emu.configure(
        r#"{"faults": {"lambda": {"throttle": 0.3, "error500": 0.1, "latency_ms": 50, "latency_rate": 0.2}}}"#,
    );
    let daemon = Daemon::start(&emu, path(&dir), &["--resync-interval", "1s"]);
    eventually("all synced under faults", Duration::from_secs(120), || async {
        ["f1", "f2", "f3"].iter().all(|m| daemon.manifest(m)["sync"] == "Synced")
    })
    .await;
    let injected = emu.requests().iter().filter(|r| r["injected"] == true).count();
    assert!(injected > 0, "faults were served");
    emu.configure(r#"{"faults": {}}"#);
    emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(0);
    let metrics = daemon.get("/metrics").1;
    assert!(metrics.contains(r#"outcome="throttled""#), "throttles counted: {metrics}");
}

#[tokio::test]
async fn readiness_waits_for_the_first_pass_and_sigterm_lets_the_in_flight_reconcile_finish() {
    let emu = Emulator::start();
    emu.seed_function("slow", 2);
    emu.configure(r#"{"pc_ready_delay": 2.0}"#);
    let dir = manifests(&[("slow.yaml", &doc("slow", "  aliases:\n    live:\n      functionVersion: \"2\"\n      provisionedConcurrency: 2\n      autoscaling: {minCapacity: 1, maxCapacity: 4, targetUtilization: 0.5}\n"))]);
    let mut daemon = Daemon::start(&emu, path(&dir), &["--resync-interval", "1h"]);
    assert_eq!(daemon.get("/healthz").0, 200);
    eventually("PutProvisionedConcurrencyConfig sent", MINUTE, || async {
        emu.write_calls().iter().any(|w| w.contains("provisioned-concurrency"))
    })
    .await;
    assert_eq!(daemon.get("/readyz").0, 503, "not ready while the first pass is in flight");
    daemon.sigterm();
    assert_eq!(daemon.wait_exit(MINUTE), 0);
    // The in-flight reconcile finished: the scalable target (registered after READY) exists.
    let ns = aws_sdk_applicationautoscaling::types::ServiceNamespace::Lambda;
    let t = emu.scaling().await.describe_scalable_targets().service_namespace(ns).send().await.unwrap();
    assert_eq!(t.scalable_targets().len(), 1);
    let daemon = Daemon::start(&emu, path(&dir), &["--resync-interval", "1h"]);
    daemon.wait_ready().await;
    assert_eq!(daemon.manifest("slow")["sync"], "Synced");
    emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(0);
}

#[tokio::test]
async fn dry_run_reports_drift_with_action_none_and_writes_nothing() {
    let emu = Emulator::start();
    emu.seed_function("dry", 1);
    let hook = Webhook::start("t");
    let dir = manifests(&[("dry.yaml", &doc("dry", "  reservedConcurrency: 3\n"))]);
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    emu.lambda()
        .await
        .put_function_concurrency()
        .function_name("dry")
        .reserved_concurrent_executions(8)
        .send()
        .await
        .unwrap();
    emu.clear_requests();
    let daemon = Daemon::start(&emu, path(&dir), &["--dry-run", "--alert-webhook", &hook.url]);
    daemon.wait_ready().await;
    eventually("drift alert", MINUTE, || async { hook.count("Drift", "dry") == 1 }).await;
    assert_eq!(hook.alerts()[0]["action"], "none");
    assert_eq!(emu.write_calls(), Vec::<String>::new());
    assert_eq!(daemon.manifest("dry")["sync"], "OutOfSync");
}

#[tokio::test]
async fn a_removed_manifest_is_forgotten_or_with_deletion_policy_delete_has_its_configuration_removed() {
    let emu = Emulator::start();
    for f in ["keep", "drop", "anchor"] {
        emu.seed_function(f, 2);
    }
    let owned = "  reservedConcurrency: 2\n  environment:\n    variables: {LEVEL: info}\n  aliases:\n    live:\n      functionVersion: \"2\"\n      provisionedConcurrency: 1\n      eventInvokeConfig: {maximumRetryAttempts: 0}\n";
    let dir = manifests(&[
        ("keep.yaml", &doc("keep", owned)),
        ("drop.yaml", &doc("drop", &format!("  deletionPolicy: delete\n{owned}"))),
        ("anchor.yaml", &doc("anchor", "  reservedConcurrency: 1\n")),
    ]);
    let daemon = Daemon::start(&emu, path(&dir), &["--resync-interval", "1h"]);
    daemon.wait_ready().await;
    std::fs::remove_file(dir.path().join("keep.yaml")).unwrap();
    std::fs::remove_file(dir.path().join("drop.yaml")).unwrap();
    eventually("drop forgotten", MINUTE, || async {
        daemon.manifest("drop").is_null() && daemon.manifest("keep").is_null()
    })
    .await;
    let lambda = emu.lambda().await;
    assert_eq!(reserved(&emu, "keep").await, Some(2), "retain leaves configuration as it is");
    assert!(lambda.get_provisioned_concurrency_config().function_name("keep").qualifier("live").send().await.is_ok());
    assert_eq!(reserved(&emu, "drop").await, None);
    assert!(lambda.get_provisioned_concurrency_config().function_name("drop").qualifier("live").send().await.is_err());
    assert!(lambda
        .list_function_event_invoke_configs()
        .function_name("drop")
        .send()
        .await
        .unwrap()
        .function_event_invoke_configs()
        .is_empty());
    let f = lambda.get_function().function_name("drop").send().await.unwrap();
    assert_eq!(
        f.configuration().unwrap().environment().unwrap().variables().unwrap()["LEVEL"],
        "info",
        "environment is never removed"
    );
    assert!(lambda.get_alias().function_name("drop").name("live").send().await.is_ok(), "aliases stay without prune");
}

#[tokio::test]
async fn alerts_are_published_to_sns_and_status_prints_as_a_table() {
    let emu = Emulator::start();
    emu.seed_function("snsfn", 1);
    let sns = aws_sdk_sns::Client::new(&emu.sdk().await);
    let topic = sns.create_topic().name("drift-alerts").send().await.unwrap().topic_arn().unwrap().to_string();
    let dir = manifests(&[("snsfn.yaml", &doc("snsfn", "  driftPolicy: alert\n  reservedConcurrency: 2\n"))]);
    let daemon = Daemon::start(&emu, path(&dir), &["--resync-interval", "300ms", "--alert-sns-topic", &topic]);
    daemon.wait_ready().await;
    emu.lambda()
        .await
        .put_function_concurrency()
        .function_name("snsfn")
        .reserved_concurrent_executions(6)
        .send()
        .await
        .unwrap();
    let published = || {
        emu.requests()
            .into_iter()
            .filter(|r| r["service"] == "sns" && r["body"].as_str().unwrap_or("").contains("Action=Publish"))
            .map(|r| r["body"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    eventually("SNS Publish of the drift alert", MINUTE, || async { !published().is_empty() }).await;
    let body = published().remove(0);
    assert!(body.contains("reservedConcurrency") && body.contains("Drift"), "{body}");
    let metrics = daemon.get("/metrics").1;
    assert!(metrics.contains(r#"lambda_reconciler_alerts_total{sink="sns",outcome="sent"} 1"#), "{metrics}");

    let table = emu.run(&["status", "--server", &format!("http://127.0.0.1:{}", daemon.port)]).expect(0);
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert!(lines[0].starts_with("MANIFEST") && lines[0].contains("SYNC"), "{}", table.stdout);
    assert!(lines[1].starts_with("snsfn") && lines[1].contains("OutOfSync"), "{}", table.stdout);
    let span_line = daemon.logs.lock().unwrap().iter().find(|l| l.contains(r#""message":"alert""#)).cloned().unwrap();
    let v: serde_json::Value = serde_json::from_str(&span_line).unwrap();
    assert_eq!(v["span"]["manifest"], "snsfn", "reconcile span carries the manifest: {span_line}");
    assert_eq!(v["span"]["function"], format!("{REGION}/snsfn"));
}

#[tokio::test]
async fn webhook_alerts_are_signed_over_timestamp_and_body_and_the_secret_never_shows() {
    let emu = Emulator::start();
    let hook = Webhook::start("tok");
    let secret = "whsec-Sup3r-signing-K3y";
    let secret_dir = tempfile::tempdir().unwrap();
    let file = secret_dir.path().join("webhook-secret");
    std::fs::write(&file, format!("{secret}\n")).unwrap();
    let dir = manifests(&[("gone.yaml", &doc("app-gone", "  reservedConcurrency: 1\n"))]);
    let args = ["--alert-webhook", &hook.url, "--alert-webhook-secret-file", file.to_str().unwrap()];
    let daemon = Daemon::start(&emu, path(&dir), &args);
    eventually("an alert", MINUTE, || async { !hook.bodies.lock().unwrap().is_empty() }).await;
    let body = hook.bodies.lock().unwrap()[0].clone();
    let headers = hook.headers.lock().unwrap()[0].clone();
    let ts = &headers["x-lambda-reconciler-timestamp"];
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let tag = ring::hmac::sign(&key, format!("{ts}.{body}").as_bytes());
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(headers["x-lambda-reconciler-signature"], format!("v1={hex}"));
    let (_, status) = daemon.get("/status");
    let (_, metrics) = daemon.get("/metrics");
    for text in [body, status, metrics, daemon.log_text()] {
        assert!(!text.contains(secret), "the secret leaked: {text}");
    }
}

#[tokio::test]
async fn a_changed_ssm_value_is_applied_as_a_source_change_while_an_edit_of_the_function_is_drift() {
    let emu = Emulator::start();
    emu.seed_function("app-src", 1);
    emu.put_parameter("/app/src/mode", "one", false).await;
    let hook = Webhook::start("tok");
    let body = "  driftPolicy: alert\n  environment:\n    variables:\n      MODE: {fromSsm: /app/src/mode}\n";
    let dir = manifests(&[("src.yaml", &doc("app-src", body))]);
    let args = ["--resync-interval", "300ms", "--alert-webhook", &hook.url];
    let daemon = Daemon::start(&emu, path(&dir), &args);
    let mode = || async {
        let c = emu.lambda().await.get_function_configuration().function_name("app-src").send().await.unwrap();
        c.environment().and_then(|e| e.variables()).and_then(|v| v.get("MODE").cloned()).unwrap_or_default()
    };
    eventually("MODE=one", MINUTE, || async { mode().await == "one" }).await;
    // The parameter's owner changes it: a desired change, applied under driftPolicy alert too.
    emu.put_parameter("/app/src/mode", "two", false).await;
    eventually("MODE=two", MINUTE, || async { mode().await == "two" }).await;
    // The applying reconcile ends (its own passes may not race the edit below).
    daemon.wait_reconciles(2.0).await;
    assert_eq!(daemon.counter("lambda_reconciler_source_value_changes_total"), 1.0);
    assert_eq!(hook.count("Drift", "app-src"), 0, "{:?}", hook.alerts());
    // Someone edits the function itself: drift, alerted and (under alert) left as it is.
    let env = aws_sdk_lambda::types::Environment::builder().variables("MODE", "edited").build();
    eventually("the out-of-band edit (after the update in progress)", MINUTE, || async {
        let update = emu.lambda().await.update_function_configuration().function_name("app-src");
        update.environment(env.clone()).send().await.is_ok()
    })
    .await;
    eventually("a Drift alert", MINUTE, || async { hook.count("Drift", "app-src") == 1 }).await;
    daemon.wait_reconciles(2.0).await;
    assert_eq!(mode().await, "edited");
}

#[tokio::test]
async fn the_admin_token_guards_status_metrics_and_operations_but_not_the_probes() {
    use crate::common::daemon::{http_raw, http_with};
    let emu = Emulator::start();
    emu.seed_function("guarded", 1);
    let dir = manifests(&[("g.yaml", &doc("guarded", "  reservedConcurrency: 1\n"))]);
    let token_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(token_file.path(), "s3cr3t-Adm1n-token\n").unwrap();
    let token_path = token_file.path().to_str().unwrap();
    let daemon = Daemon::start(&emu, path(&dir), &["--resync-interval", "1h", "--admin-token-file", token_path]);
    daemon.wait_ready().await;
    let with =
        |token: &str, p: &str| http_with(daemon.port, "GET", p, "", &format!("Authorization: Bearer {token}\r\n")).0;
    for p in ["/status", "/metrics"] {
        assert_eq!(daemon.get(p).0, 401, "{p} without a token");
        assert_eq!(with("s3cr3t-Adm1n-token-not", p), 401, "{p} with a wrong token");
        assert_eq!(with("s3cr3t-Adm1n-token", p), 200, "{p} with the token");
    }
    // A browser: Basic authentication with the token as the password, asked for by the 401.
    let (code, body) = daemon.get("/");
    assert_eq!(code, 401, "{body}");
    let raw = http_raw(daemon.port, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    assert!(raw.contains("www-authenticate: Basic realm=\"lambda-reconciler\""), "{raw}");
    let basic = |user_token: &str| {
        let auth = aws_smithy_types::base64::encode(user_token);
        http_with(daemon.port, "GET", "/", "", &format!("Authorization: Basic {auth}\r\n"))
    };
    let (code, page) = basic("operator:s3cr3t-Adm1n-token");
    assert!(code == 200 && page.contains("data-manifest=\"guarded\""), "{code} {page}");
    assert_eq!(basic("operator:wrong").0, 401);
    // Not for the rollout commands: a browser would send cached Basic credentials with another
    // site's form.
    let auth = aws_smithy_types::base64::encode("operator:s3cr3t-Adm1n-token");
    let post = "/rollouts/ap-northeast-1/guarded/live/promote";
    let json = "Content-Type: application/json\r\n";
    assert_eq!(http_with(daemon.port, "POST", post, "{}", &format!("{json}Authorization: Basic {auth}\r\n")).0, 401);
    let bearer = format!("{json}Authorization: Bearer s3cr3t-Adm1n-token\r\n");
    assert_eq!(http_with(daemon.port, "POST", post, "{}", &bearer).0, 200, "the bearer token may operate");
    let promote = daemon.get("/rollouts/ap-northeast-1/guarded/live/promote");
    assert_eq!(
        http_with(daemon.port, "POST", "/rollouts/ap-northeast-1/guarded/live/promote", "{}", json).0,
        401,
        "{promote:?}"
    );
    assert_eq!(daemon.get("/healthz").0, 200, "probes stay open");
    assert_eq!(daemon.get("/readyz").0, 200);
    let server = format!("http://127.0.0.1:{}", daemon.port);
    let run = emu.run(&["status", "--server", &server, "--admin-token-file", token_path]).expect(0);
    assert!(run.stdout.contains("guarded"), "{}", run.stdout);
    let refused = emu.run(&["status", "--server", &server]);
    assert_ne!(refused.code, 0, "without the token the CLI is refused too");
    assert!(!daemon.log_text().contains("s3cr3t-Adm1n"), "the token is never logged");
}

#[tokio::test]
async fn the_status_page_shows_each_manifest_with_its_state_and_filters_by_state() {
    let emu = Emulator::start();
    emu.seed_function("paged-ok", 1);
    let dir = manifests(&[
        ("ok.yaml", &doc("paged-ok", "  reservedConcurrency: 1\n")),
        ("missing.yaml", &doc("paged-missing", "  reservedConcurrency: 1\n")),
    ]);
    let daemon = Daemon::start(&emu, path(&dir), &["--resync-interval", "1h"]);
    eventually("both reconciled", MINUTE, || async {
        daemon.manifest("paged-ok")["sync"] == "Synced" && daemon.manifest("paged-missing")["sync"] == "Error"
    })
    .await;
    let (code, html) = daemon.get("/");
    assert_eq!(code, 200);
    assert!(html.starts_with("<!doctype html>") && html.contains("http-equiv=\"refresh\""), "{html}");
    let row = |name: &str, html: &str| {
        html.split("<tr ").find(|r| r.contains(&format!("data-manifest=\"{name}\""))).map(str::to_string)
    };
    assert!(row("paged-ok", &html).unwrap().contains("class=\"sync Synced\""));
    let missing = row("paged-missing", &html).unwrap();
    assert!(
        missing.contains("class=\"sync Error\"")
            && missing.contains("data-label=\"last error\">function `paged-missing` not found"),
        "{missing}"
    );
    assert!(html.find("paged-missing").unwrap() < html.find("paged-ok").unwrap(), "problems first");
    let (_, errors) = daemon.get("/?sync=Error");
    assert!(row("paged-missing", &errors).is_some() && row("paged-ok", &errors).is_none());
    assert!(!html.contains("<script"), "no JavaScript");
}

#[tokio::test]
async fn the_revision_of_the_manifests_is_in_status_alerts_and_the_generation_tag() {
    let emu = Emulator::start();
    emu.seed_function("rev-fn", 1);
    let hook = Webhook::start("T0KEN-rev");
    // A checkout: the revision is HEAD's branch, read from the .git above the manifests.
    let repo = tempfile::tempdir().unwrap();
    let rev = "0123456789abcdef0123456789abcdef01234567";
    std::fs::create_dir_all(repo.path().join(".git/refs/heads")).unwrap();
    std::fs::write(repo.path().join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
    std::fs::write(repo.path().join(".git/refs/heads/main"), format!("{rev}\n")).unwrap();
    let dir = repo.path().join("manifests");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("f.yaml"), doc("rev-fn", "  driftPolicy: alert\n  reservedConcurrency: 3\n")).unwrap();
    let daemon =
        Daemon::start(&emu, dir.to_str().unwrap(), &["--resync-interval", "300ms", "--alert-webhook", &hook.url]);
    daemon.wait_ready().await;
    eventually("applied", MINUTE, || async { daemon.manifest("rev-fn")["revision"] == rev }).await;
    assert_eq!(daemon.status()["revision"], rev);
    let tags = emu.lambda().await.get_function().function_name("rev-fn").send().await.unwrap();
    let generation = tags.tags().unwrap()["lambda-reconciler.io/generation"].clone();
    assert!(generation.ends_with(&format!("@{rev}")), "{generation}");
    emu.lambda()
        .await
        .put_function_concurrency()
        .function_name("rev-fn")
        .reserved_concurrent_executions(9)
        .send()
        .await
        .unwrap();
    eventually("drift alert", MINUTE, || async { hook.count("Drift", "rev-fn") == 1 }).await;
    let alert = hook.alerts().into_iter().find(|a| a["kind"] == "Drift").unwrap();
    assert_eq!(alert["revision"], rev);
    // A restart reads "which commit applied it" back from the tag.
    drop(daemon);
    let again = Daemon::start(&emu, dir.to_str().unwrap(), &["--resync-interval", "300ms", "--revision", "other"]);
    eventually("read back", MINUTE, || async { again.manifest("rev-fn")["revision"] == rev }).await;
}
