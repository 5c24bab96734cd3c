//! Event-driven drift: CloudTrail events reach the daemon through EventBridge rules (the
//! template's own patterns) and an SQS queue; a change made outside git is reconciled at once,
//! with the resync set to hours. The emulator records every caller's calls, the daemon's too.

use std::time::Duration;

use crate::common::daemon::{Daemon, Webhook};
use crate::common::*;

const MINUTE: Duration = Duration::from_secs(60);

fn doc(name: &str, body: &str) -> String {
    format!("apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: {name}\nspec:\n{body}")
}

fn events(daemon: &Daemon, result: &str) -> f64 {
    daemon.counter(&format!("lambda_reconciler_events_total{{result=\"{result}\"}}"))
}

#[tokio::test]
async fn out_of_band_changes_are_reported_through_the_queue_without_waiting_for_the_resync() {
    let emu = Emulator::start();
    for f in ["ev-alias", "ev-conc", "ev-scale", "ev-env", "ev-fix"] {
        emu.seed_function(f, 2);
    }
    let url = emu.seed_events("lambda-reconciler-events-a");
    let hook = Webhook::start("T0KEN-events");
    let alert = "  driftPolicy: alert\n";
    let scaling = "  aliases:\n    live:\n      functionVersion: \"1\"\n      provisionedConcurrency: 1\n      autoscaling:\n        minCapacity: 1\n        maxCapacity: 2\n        targetUtilization: 0.7\n";
    let dir = manifests(&[
        ("alias.yaml", &doc("ev-alias", &format!("{alert}  aliases:\n    live:\n      functionVersion: \"1\"\n"))),
        ("conc.yaml", &doc("ev-conc", &format!("{alert}  reservedConcurrency: 3\n"))),
        ("scale.yaml", &doc("ev-scale", &format!("{alert}{scaling}"))),
        ("env.yaml", &doc("ev-env", &format!("{alert}  environment:\n    variables:\n      MODE: calm\n"))),
        ("fix.yaml", &doc("ev-fix", "  reservedConcurrency: 3\n")),
    ]);
    let args = ["--resync-interval", "10h", "--events-queue-url", &url, "--alert-webhook", &hook.url];
    let daemon = Daemon::start(&emu, path(&dir), &args);
    daemon.wait_ready().await;
    // The daemon's own first-pass writes reach the queue too, and are recognised as its own.
    eventually("own events seen", MINUTE, || async { events(&daemon, "own") > 0.0 }).await;
    let reconciles = daemon.counter("lambda_reconciler_reconciles_total");
    let own = events(&daemon, "own");

    let lambda = emu.lambda().await;
    lambda.update_alias().function_name("ev-alias").name("live").function_version("2").send().await.unwrap();
    lambda.put_function_concurrency().function_name("ev-conc").reserved_concurrent_executions(9).send().await.unwrap();
    emu.scaling()
        .await
        .register_scalable_target()
        .service_namespace(aws_sdk_applicationautoscaling::types::ServiceNamespace::Lambda)
        .resource_id("function:ev-scale:live")
        .scalable_dimension(
            aws_sdk_applicationautoscaling::types::ScalableDimension::LambdaFunctionProvisionedConcurrency,
        )
        .min_capacity(1)
        .max_capacity(5)
        .send()
        .await
        .unwrap();
    let env = aws_sdk_lambda::types::Environment::builder().variables("MODE", "wild").build();
    lambda.update_function_configuration().function_name("ev-env").environment(env).send().await.unwrap();
    lambda.put_function_concurrency().function_name("ev-fix").reserved_concurrent_executions(7).send().await.unwrap();

    for f in ["ev-alias", "ev-conc", "ev-scale", "ev-env"] {
        eventually(&format!("drift alert for {f}"), MINUTE, || async { hook.count("Drift", f) == 1 }).await;
    }
    eventually("ev-fix corrected", MINUTE, || async {
        let out = lambda.get_function().function_name("ev-fix").send().await.unwrap();
        out.concurrency().and_then(|c| c.reserved_concurrent_executions()) == Some(3)
    })
    .await;
    let field = |f: &str| hook.alerts().into_iter().find(|a| a["function"] == f).unwrap()["field"].clone();
    assert_eq!(field("ev-alias"), "aliases.live.functionVersion");
    assert_eq!(field("ev-conc"), "reservedConcurrency");
    assert!(field("ev-scale").as_str().unwrap().starts_with("aliases.live.autoscaling"), "{}", field("ev-scale"));
    assert_eq!(field("ev-env"), "environment.variables.MODE");
    // The correction's own event comes back and is dropped: no second reconcile, no second alert.
    eventually("the correction's own event", MINUTE, || async { events(&daemon, "own") > own }).await;
    assert_eq!(hook.count("Drift", "ev-fix"), 1);
    assert!(events(&daemon, "enqueued") >= 5.0);
    let ran = daemon.counter("lambda_reconciler_reconciles_total") - reconciles;
    assert!(ran <= 6.0, "one reconcile per out-of-band change (and one verify pass after the correction): {ran}");
    assert!(daemon.log_text().contains("change seen through CloudTrail"));
}

/// A CloudTrail-shaped message for `function`, as EventBridge delivers it.
fn message(function: &str, call: &str) -> String {
    serde_json::json!({
        "version": "0", "id": "manual", "detail-type": "AWS API Call via CloudTrail", "source": "aws.lambda",
        "account": "123456789012", "region": REGION, "time": "2026-12-02T00:00:00Z", "resources": [],
        "detail": {
            "eventSource": "lambda.amazonaws.com", "eventName": call, "awsRegion": REGION, "readOnly": false,
            "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/someone"},
            "requestParameters": {"functionName": function}
        }
    })
    .to_string()
}

#[tokio::test]
async fn poisoned_duplicate_and_reordered_events_are_deleted_and_change_nothing() {
    let emu = Emulator::start();
    emu.seed_function("ev-steady", 1);
    let url = emu.seed_events("lambda-reconciler-events-b");
    let dir = manifests(&[("steady.yaml", &doc("ev-steady", "  reservedConcurrency: 3\n"))]);
    let daemon = Daemon::start(&emu, path(&dir), &["--resync-interval", "10h", "--events-queue-url", &url]);
    daemon.wait_ready().await;
    eventually("first-pass events handled", MINUTE, || async { events(&daemon, "own") > 0.0 }).await;
    emu.clear_requests();
    let arn = format!("arn:aws:lambda:{REGION}:123456789012:function:ev-steady:live");
    let bodies = [
        "not json at all".to_string(),
        r#"{"detail-type":"AWS API Call via CloudTrail","detail":{"eventSource":"lambda.amazonaws.com"}}"#.into(),
        message("someone-elses-function", "UpdateAlias20150331"),
        message("ev-steady", "PutFunctionConcurrency20171031"),
        message("ev-steady", "PutFunctionConcurrency20171031"),
        // A reordered pair: the later call's event first.
        message(&arn, "UpdateAlias20150331"),
        message("ev-steady", "CreateAlias20150331"),
    ];
    let reconciles = daemon.counter("lambda_reconciler_reconciles_total");
    let sqs = emu.sqs().await;
    for b in &bodies {
        sqs.send_message().queue_url(&url).message_body(b).send().await.unwrap();
    }
    eventually("every message handled", MINUTE, || async {
        events(&daemon, "malformed") == 2.0 && events(&daemon, "unmanaged") >= 1.0 && events(&daemon, "enqueued") >= 4.0
    })
    .await;
    eventually("the queue is empty", MINUTE, || async {
        let a = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
            .send()
            .await
            .unwrap();
        let n = |k: aws_sdk_sqs::types::QueueAttributeName| {
            a.attributes().and_then(|m| m.get(&k)).map(String::as_str) == Some("0")
        };
        n(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            && n(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
    })
    .await;
    eventually("the function reconciled", MINUTE, || async {
        daemon.counter("lambda_reconciler_reconciles_total") > reconciles
    })
    .await;
    assert_eq!(daemon.get("/healthz").0, 200, "a poisoned message never stops the consumer");
    assert_eq!(daemon.manifest("ev-steady")["sync"], "Synced");
    let writes: Vec<String> = emu.write_calls().into_iter().filter(|w| !w.contains("AmazonSQS")).collect();
    assert!(writes.is_empty(), "nothing differs, nothing is written: {writes:?}");
    assert!(daemon.log_text().contains("malformed event deleted"));
    // The consumer is still reading: a real change after the poison is corrected at once.
    let lambda = emu.lambda().await;
    lambda
        .put_function_concurrency()
        .function_name("ev-steady")
        .reserved_concurrent_executions(8)
        .send()
        .await
        .unwrap();
    eventually("the change after the poison corrected", MINUTE, || async {
        let out = lambda.get_function().function_name("ev-steady").send().await.unwrap();
        out.concurrency().and_then(|c| c.reserved_concurrent_executions()) == Some(3)
    })
    .await;
}

/// A Lambda client signing with access key `key` (the emulator maps keys to principals).
async fn lambda_as(emu: &Emulator, key: &str) -> aws_sdk_lambda::Client {
    let creds = aws_sdk_lambda::config::Credentials::new(key, "secret", None, None, "test");
    let cfg = emu
        .sdk()
        .await
        .to_builder()
        .credentials_provider(aws_sdk_lambda::config::SharedCredentialsProvider::new(creds))
        .build();
    aws_sdk_lambda::Client::new(&cfg)
}

fn changed_by(hook: &Webhook, f: &str) -> serde_json::Value {
    hook.alerts().into_iter().find(|a| a["kind"] == "Drift" && a["function"] == f).unwrap()["changedBy"].clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_drift_alert_names_the_user_the_assumed_role_or_the_aws_service_that_made_it() {
    let emu = Emulator::start();
    emu.configure(
        r#"{"identities": {"AKIDTEST": "arn:aws:sts::123456789012:assumed-role/lambda-reconciler/controller",
            "AKIDADMIN": "arn:aws:iam::123456789012:user/admin",
            "AKIDSERVICE": "service:application-autoscaling.amazonaws.com"}}"#,
    );
    for f in ["by-user", "by-role", "by-service"] {
        emu.seed_function(f, 1);
    }
    let ops = emu.seed_role("123456789012", "ops");
    let url = emu.seed_events("lambda-reconciler-events-by");
    let hook = Webhook::start("T0KEN-by");
    let body = "  driftPolicy: alert\n  reservedConcurrency: 3\n";
    let dir = manifests(&[
        ("user.yaml", &doc("by-user", body)),
        ("role.yaml", &doc("by-role", body)),
        ("service.yaml", &doc("by-service", body)),
    ]);
    let args = ["--resync-interval", "10h", "--events-queue-url", &url, "--alert-webhook", &hook.url];
    let daemon = Daemon::start(&emu, path(&dir), &args);
    daemon.wait_ready().await;
    eventually("own events seen", MINUTE, || async { events(&daemon, "own") >= 3.0 }).await;
    let put = |c: aws_sdk_lambda::Client, f: &'static str| async move {
        c.put_function_concurrency().function_name(f).reserved_concurrent_executions(9).send().await.unwrap();
    };
    put(emu.lambda().await, "by-user").await;
    put(emu.lambda_through(&ops).await, "by-role").await;
    put(lambda_as(&emu, "AKIDSERVICE").await, "by-service").await;
    for f in ["by-user", "by-role", "by-service"] {
        eventually(&format!("drift alert for {f}"), MINUTE, || async { hook.count("Drift", f) == 1 }).await;
    }
    let user = changed_by(&hook, "by-user");
    assert_eq!(
        (user["principalType"].as_str(), user["principal"].as_str()),
        (Some("IAMUser"), Some("arn:aws:iam::123456789012:user/admin"))
    );
    assert_eq!(user["call"], "PutFunctionConcurrency");
    let role = changed_by(&hook, "by-role");
    assert_eq!(role["principalType"], "AssumedRole");
    assert!(role["principal"].as_str().unwrap().starts_with("arn:aws:sts::123456789012:assumed-role/ops/"), "{role}");
    let service = changed_by(&hook, "by-service");
    assert_eq!(
        (service["principalType"].as_str(), service["principal"].as_str()),
        (Some("AWSService"), Some("application-autoscaling.amazonaws.com"))
    );
    let text = hook.alerts().into_iter().find(|a| a["function"] == "by-user").unwrap()["text"].clone();
    assert!(
        text.as_str()
            .unwrap()
            .contains("made by arn:aws:iam::123456789012:user/admin (IAMUser) with PutFunctionConcurrency at "),
        "{text}"
    );
    for kind in ["IAMUser", "AssumedRole", "AWSService"] {
        assert_eq!(
            daemon.counter(&format!("lambda_reconciler_drift_alerts_total{{principal_type=\"{kind}\"}}")),
            1.0,
            "{kind}"
        );
    }
    let status = daemon.manifest("by-role");
    assert_eq!(status["drift"][0]["changedBy"]["principalType"], "AssumedRole", "{status}");
    let page = daemon.get("/").1;
    assert!(page.contains("application-autoscaling.amazonaws.com (AWSService, PutFunctionConcurrency at "), "{page}");
}

#[tokio::test(flavor = "multi_thread")]
async fn without_events_a_drift_alert_says_its_principal_is_unknown() {
    let emu = Emulator::start();
    emu.seed_function("by-nobody", 1);
    let hook = Webhook::start("T0KEN-nobody");
    let dir = manifests(&[("n.yaml", &doc("by-nobody", "  driftPolicy: alert\n  reservedConcurrency: 3\n"))]);
    let daemon = Daemon::start(&emu, path(&dir), &["--resync-interval", "300ms", "--alert-webhook", &hook.url]);
    daemon.wait_ready().await;
    emu.lambda()
        .await
        .put_function_concurrency()
        .function_name("by-nobody")
        .reserved_concurrent_executions(9)
        .send()
        .await
        .unwrap();
    eventually("drift alert", MINUTE, || async { hook.count("Drift", "by-nobody") == 1 }).await;
    let alert = hook.alerts().into_iter().find(|a| a["kind"] == "Drift").unwrap();
    assert!(alert["text"].as_str().unwrap().contains("made by an unknown principal"), "{alert}");
    assert!(alert.get("changedBy").is_none(), "{alert}");
    assert_eq!(daemon.manifest("by-nobody")["drift"][0]["changedBy"], serde_json::Value::Null);
    assert_eq!(daemon.counter("lambda_reconciler_drift_alerts_total{principal_type=\"Unknown\"}"), 1.0);
}
