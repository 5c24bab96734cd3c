//! What real AWS refuses or answers differently, met against the emulator before a user meets it
//! on an account: each test checks the emulator enforces a documented rule, and that the
//! controller stays within it (README "AWS rules the emulator models").

use aws_sdk_applicationautoscaling::types::{ScalableDimension, ServiceNamespace};
use aws_sdk_lambda::types::{AliasRoutingConfiguration, DestinationConfig, Environment, OnSuccess};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::common::*;

const HEAD: &str = "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: rules\nspec:\n";

#[tokio::test]
async fn the_emulator_refuses_a_scalable_dimension_without_a_resource_id_as_aws_does() {
    let emu = Emulator::start();
    let scaling = emu.scaling().await;
    let dim = ScalableDimension::LambdaFunctionProvisionedConcurrency;
    let targets =
        scaling.describe_scalable_targets().service_namespace(ServiceNamespace::Lambda).scalable_dimension(dim.clone());
    let e = targets.send().await.unwrap_err();
    assert_eq!(e.code(), Some("ValidationException"), "{e:?}");
    let policies =
        scaling.describe_scaling_policies().service_namespace(ServiceNamespace::Lambda).scalable_dimension(dim.clone());
    assert_eq!(policies.send().await.unwrap_err().code(), Some("ValidationException"));
    let actions =
        scaling.describe_scheduled_actions().service_namespace(ServiceNamespace::Lambda).scalable_dimension(dim);
    assert_eq!(actions.send().await.unwrap_err().code(), Some("ValidationException"));
    let too_big = scaling.describe_scalable_targets().service_namespace(ServiceNamespace::Lambda).max_results(51);
    assert_eq!(too_big.send().await.unwrap_err().code(), Some("ValidationException"));
}

#[tokio::test]
async fn ssm_selectors_by_version_and_label_resolve_to_that_version() {
    let emu = Emulator::start();
    emu.seed_function("rules", 1);
    emu.put_parameter("/sel/p", "first", false).await;
    emu.put_parameter("/sel/p", "second", false).await;
    let ssm = aws_sdk_ssm::Client::new(&emu.sdk().await);
    ssm.label_parameter_version().name("/sel/p").parameter_version(1).labels("stable").send().await.unwrap();
    let env = "  environment:\n    variables:\n      BY_VERSION: {fromSsm: \"/sel/p:1\"}\n      BY_LABEL: {fromSsm: \"/sel/p:stable\"}\n      NEWEST: {fromSsm: /sel/p}\n";
    let dir = manifests(&[("rules.yaml", &format!("{HEAD}{env}"))]);
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    let f = emu.lambda().await.get_function().function_name("rules").send().await.unwrap();
    let vars = f.configuration().unwrap().environment().unwrap().variables().unwrap();
    assert_eq!((vars["BY_VERSION"].as_str(), vars["BY_LABEL"].as_str()), ("first", "first"));
    assert_eq!(vars["NEWEST"], "second");
    emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(0);
}

#[tokio::test]
async fn the_emulator_measures_the_environment_as_json_and_echoes_it_as_aws_does() {
    let emu = Emulator::start();
    emu.seed_function("rules", 1);
    // 300 names of 4 and values of 8: 3,600 bytes of names and values, 5,401 as JSON.
    let mut env = Environment::builder();
    for i in 0..300 {
        env = env.variables(format!("V{i:03}"), "xxxxxxxx");
    }
    let lambda = emu.lambda().await;
    let update = lambda.update_function_configuration().function_name("rules").environment(env.build());
    let e = update.send().await.unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterValueException"));
    assert!(
        e.message().unwrap_or_default().contains("exceeded the 4KB limit. String measured: {\"V"),
        "{:?}",
        e.message()
    );
}

#[tokio::test]
async fn a_secret_pushed_over_the_environment_limit_is_refused_without_leaking_in_any_form() {
    let emu = Emulator::start();
    emu.seed_function("rules", 1);
    // Quotes and backslashes: JSON-escaped, this is the form AWS's refusal would echo.
    let secret = format!("{SECRET_VALUE}\"q\\b{}", "s".repeat(4060));
    emu.put_parameter("/rules/big", &secret, true).await;
    let env = "  environment:\n    variables:\n      DB_PASSWORD: {fromSsm: /rules/big}\n";
    let dir = manifests(&[("rules.yaml", &format!("{HEAD}{env}"))]);
    emu.clear_requests();
    for cmd in ["plan", "apply"] {
        let out = emu.run(&[cmd, "-m", path(&dir)]).expect(1);
        assert!(out.all().contains("bytes as JSON after resolving SSM values"), "{}", out.all());
        let escaped = serde_json::to_string(&secret).unwrap();
        assert!(!out.all().contains(SECRET_VALUE) && !out.all().contains(&escaped[1..40]), "{}", out.all());
    }
    assert!(emu.write_calls().is_empty(), "refused before any write: {:?}", emu.write_calls());
}

#[tokio::test]
async fn the_emulator_refuses_an_s3_bucket_as_an_on_success_destination() {
    let emu = Emulator::start();
    emu.seed_function("rules", 1);
    let lambda = emu.lambda().await;
    let dest =
        |arn: &str| DestinationConfig::builder().on_success(OnSuccess::builder().destination(arn).build()).build();
    let put = lambda.put_function_event_invoke_config().function_name("rules");
    let e = put.clone().destination_config(dest("arn:aws:s3:::failed-events")).send().await.unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterValueException"), "{e:?}");
    let queue = "arn:aws:sqs:ap-northeast-1:123456789012:ok-queue";
    put.destination_config(dest(queue)).send().await.unwrap();
}

#[tokio::test]
async fn the_emulator_refuses_weighted_routing_on_an_alias_of_latest() {
    let emu = Emulator::start();
    emu.seed_function("rules", 2);
    let lambda = emu.lambda().await;
    let weights = AliasRoutingConfiguration::builder().additional_version_weights("2", 0.1).build();
    let create = lambda.create_alias().function_name("rules").name("dev").function_version("$LATEST");
    let e = create.clone().routing_config(weights.clone()).send().await.unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterValueException"), "{e:?}");
    create.send().await.unwrap();
    let update = lambda.update_alias().function_name("rules").name("dev").routing_config(weights);
    assert_eq!(update.send().await.unwrap_err().code(), Some("InvalidParameterValueException"));
}

#[tokio::test]
async fn export_round_trips_without_empty_description_or_routing_fields() {
    let emu = Emulator::start();
    emu.seed_function("rules", 2);
    let lambda = emu.lambda().await;
    lambda.create_alias().function_name("rules").name("plain").function_version("1").send().await.unwrap();
    let export = emu.run(&["export", "--function", "rules"]).expect(0);
    assert!(export.stdout.contains("plain:"), "{}", export.stdout);
    assert!(!export.stdout.contains("description") && !export.stdout.contains("routing"), "{}", export.stdout);
    let adopted = manifests(&[("rules.yaml", &export.stdout)]);
    emu.run(&["plan", "-m", path(&adopted), "--detailed-exitcode"]).expect(0);
    emu.clear_requests();
    emu.run(&["apply", "-m", path(&adopted)]).expect(0);
    let writes = emu.write_calls();
    assert!(writes.iter().all(|w| w.contains("/tags/")), "applying an export changes nothing: {writes:?}");
}

/// The shipped policy with `drop` removed from every statement, as a temp file.
fn policy_without(drop: &str) -> tempfile::NamedTempFile {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/manifests/deploy/iam/policy.json")).unwrap();
    let mut p: serde_json::Value = serde_json::from_str(&text).unwrap();
    for s in p["Statement"].as_array_mut().unwrap() {
        s["Action"].as_array_mut().unwrap().retain(|a| a != drop);
    }
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), p.to_string()).unwrap();
    f
}

fn run_controller_under(emu: &Emulator, policy: &tempfile::NamedTempFile) {
    emu.configure(&format!(r#"{{"principals": {{"AKIDTEST": {:?}}}}}"#, policy.path().to_str().unwrap()));
}

#[tokio::test]
async fn an_action_the_policy_does_not_allow_is_refused_with_access_denied() {
    let emu = Emulator::start();
    emu.seed_function("rules", 1);
    let policy = policy_without("lambda:PutFunctionConcurrency");
    run_controller_under(&emu, &policy);
    let dir = manifests(&[("rules.yaml", &format!("{HEAD}  reservedConcurrency: 3\n"))]);
    let out = emu.run(&["apply", "-m", path(&dir)]).expect(1);
    assert!(out.all().contains("AccessDeniedException"), "{}", out.all());
    let f = emu.lambda().await.get_function().function_name("rules").send().await.unwrap();
    assert_eq!(f.concurrency().and_then(|c| c.reserved_concurrent_executions()), None, "nothing written");
}

#[tokio::test]
async fn without_list_tags_the_function_is_an_error_never_untagged_and_is_never_tagged() {
    let emu = Emulator::start();
    emu.seed_function("rules", 1);
    let policy = policy_without("lambda:ListTags");
    run_controller_under(&emu, &policy);
    let dir = manifests(&[("rules.yaml", &format!("{HEAD}  driftPolicy: alert\n  reservedConcurrency: 3\n"))]);
    // The one-shot apply writes what git says, then says it cannot record the generation.
    let apply = emu.run(&["apply", "-m", path(&dir)]).expect(1);
    assert!(apply.all().contains("allow lambda:ListTags"), "{}", apply.all());
    let hook = crate::common::daemon::Webhook::start("t");
    let daemon = crate::common::daemon::Daemon::start(
        &emu,
        path(&dir),
        &["--resync-interval", "300ms", "--alert-webhook", &hook.url],
    );
    eventually("an error status naming ListTags", std::time::Duration::from_secs(60), || async {
        let m = daemon.manifest("rules");
        m["sync"] == "Error" && m["lastError"].as_str().is_some_and(|e| e.contains("lambda:ListTags"))
    })
    .await;
    // Out-of-band change under driftPolicy: alert: not corrected (it cannot be told from git).
    emu.lambda()
        .await
        .put_function_concurrency()
        .function_name("rules")
        .reserved_concurrent_executions(7)
        .send()
        .await
        .unwrap();
    daemon.wait_reconciles(3.0).await;
    let f = emu.lambda().await.get_function().function_name("rules").send().await.unwrap();
    assert_eq!(f.concurrency().unwrap().reserved_concurrent_executions(), Some(7), "nothing silently corrected");
    assert_eq!(hook.count("TerminalError", "rules"), 1, "one alert, not one per resync");
    let tags = emu
        .requests()
        .iter()
        .filter(|r| r["path"].as_str().unwrap_or("").contains("/tags/") && r["method"] == "POST")
        .count();
    assert_eq!(tags, 0, "TagResource is never sent without the tags read");
}

#[tokio::test]
async fn under_the_shipped_policy_drift_is_detected_and_alerted_not_silently_corrected() {
    let emu = Emulator::start();
    emu.seed_function("rules", 1);
    let dir = manifests(&[("rules.yaml", &format!("{HEAD}  driftPolicy: alert\n  reservedConcurrency: 3\n"))]);
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    let hook = crate::common::daemon::Webhook::start("t");
    let daemon = crate::common::daemon::Daemon::start(
        &emu,
        path(&dir),
        &["--resync-interval", "300ms", "--alert-webhook", &hook.url],
    );
    daemon.wait_ready().await;
    emu.lambda()
        .await
        .put_function_concurrency()
        .function_name("rules")
        .reserved_concurrent_executions(7)
        .send()
        .await
        .unwrap();
    eventually("a drift alert", std::time::Duration::from_secs(60), || async { hook.count("Drift", "rules") == 1 })
        .await;
    let f = emu.lambda().await.get_function().function_name("rules").send().await.unwrap();
    assert_eq!(f.concurrency().unwrap().reserved_concurrent_executions(), Some(7), "alert only");
    assert_eq!(daemon.manifest("rules")["sync"], "OutOfSync");
}

#[tokio::test]
async fn retryable_aws_errors_are_retried_until_the_function_converges() {
    let emu = Emulator::start();
    emu.seed_function("rules", 2);
    let spec = |op: &str, status: u16, code: &str, message: &str| {
        format!(r#"{{"count": 2, "operation": "{op}", "status": {status}, "code": "{code}", "message": "{message}"}}"#)
    };
    let faults = [
        spec("lambda:CreateAlias", 409, "ResourceConflictException", "An update is in progress for resource"),
        spec("application-autoscaling:RegisterScalableTarget", 400, "ConcurrentUpdateException", "pending update"),
        // Right after RegisterScalableTarget: eventual consistency.
        spec(
            "application-autoscaling:PutScalingPolicy",
            400,
            "ObjectNotFoundException",
            "No scalable target registered",
        ),
        spec(
            "application-autoscaling:PutScheduledAction",
            400,
            "ObjectNotFoundException",
            "No scalable target registered",
        ),
        spec("application-autoscaling:PutScalingPolicy", 400, "FailedResourceAccessException", "Rate exceeded"),
        // Right after the destination queue was created.
        spec(
            "lambda:PutFunctionEventInvokeConfig",
            400,
            "InvalidParameterValueException",
            "The destination ARN arn:aws:sqs:ap-northeast-1:123456789012:new-queue is invalid.",
        ),
    ];
    emu.configure(&format!(r#"{{"fail_next": [{}]}}"#, faults.join(", ")));
    let spec_yaml = "  eventInvokeConfig:\n    destinations: {onFailure: \"arn:aws:sqs:ap-northeast-1:123456789012:new-queue\"}\n  aliases:\n    live:\n      functionVersion: \"2\"\n      provisionedConcurrency: 2\n      autoscaling:\n        minCapacity: 1\n        maxCapacity: 4\n        targetUtilization: 0.6\n        scheduledActions:\n          - {name: morning, schedule: \"cron(0 9 * * ? *)\", minCapacity: 2}\n";
    let dir = manifests(&[("rules.yaml", &format!("{HEAD}{spec_yaml}"))]);
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    let injected = emu.requests().iter().filter(|r| r["injected"] == true).count();
    assert_eq!(injected, 2 * faults.len(), "every injected error was met, and retried");
    emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(0);
}

#[tokio::test]
async fn an_environment_lambda_cannot_decrypt_is_an_error_and_is_never_rewritten() {
    let emu = Emulator::start();
    emu.seed_function("rules", 1);
    let env = Environment::builder().variables("LOG_LEVEL", "debug").build();
    emu.lambda().await.update_function_configuration().function_name("rules").environment(env).send().await.unwrap();
    emu.configure(
        r#"{"environment_error": {"rules": {"ErrorCode": "AccessDeniedException", "Message": "Lambda was unable to decrypt the environment variables because KMS access was denied.", "StateReasonCode": "KMSKeyAccessDenied"}}}"#,
    );
    let dir = manifests(&[("rules.yaml", &format!("{HEAD}  environment:\n    variables:\n      LOG_LEVEL: info\n"))]);
    emu.clear_requests();
    let plan = emu.run(&["plan", "-m", path(&dir)]).expect(1);
    assert!(plan.all().contains("environment cannot be read (AccessDeniedException"), "{}", plan.all());
    emu.run(&["apply", "-m", path(&dir)]).expect(1);
    assert!(emu.write_calls().is_empty(), "nothing rewritten: {:?}", emu.write_calls());
}

#[tokio::test]
async fn export_works_when_secure_strings_cannot_be_read_and_never_prints_one() {
    let emu = Emulator::start();
    emu.seed_function("rules", 1);
    emu.put_parameter("/elsewhere/db_password", SECRET_VALUE, true).await;
    let env = Environment::builder().variables("DB_PASSWORD", SECRET_VALUE).variables("MODE", "fast").build();
    emu.lambda().await.update_function_configuration().function_name("rules").environment(env).send().await.unwrap();
    // GetParameters refused for the batch (a policy that allows it only under /app/*).
    let refused = r#"{"count": 1, "operation": "ssm:GetParameters", "status": 400, "code": "AccessDeniedException", "message": "not authorized"}"#;
    emu.configure(&format!(r#"{{"fail_next": {refused}}}"#));
    let export = emu.run(&["export", "--function", "rules"]).expect(0);
    assert!(!export.all().contains(SECRET_VALUE), "{}", export.all());
    assert!(export.stderr.contains("1 SecureString parameter(s) could not be read"), "{}", export.stderr);
    assert_eq!(exported_var(&export.stdout, "MODE"), "fast", "{}", export.stdout);
}

/// The spec of alias `live` (version 2, provisioned concurrency 2, autoscaling 1-4 plus `extra`).
fn live_with_autoscaling(extra: &str) -> String {
    format!("  aliases:\n    live:\n      functionVersion: \"2\"\n      provisionedConcurrency: 2\n      autoscaling:\n        minCapacity: 1\n        maxCapacity: 4\n        {extra}\n")
}

/// A function with versions 1 and 2 and that `live` alias applied.
async fn applied_with_autoscaling(extra: &str) -> (Emulator, tempfile::TempDir) {
    let emu = Emulator::start();
    emu.seed_function("rules", 2);
    let dir = manifests(&[("rules.yaml", &format!("{HEAD}{}", live_with_autoscaling(extra)))]);
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    (emu, dir)
}

#[tokio::test]
async fn the_whole_target_tracking_configuration_is_applied_and_its_drift_seen() {
    let tracking = "targetUtilization: 0.6\n        scaleInCooldown: 300\n        scaleOutCooldown: 30\n        disableScaleIn: true";
    let (emu, dir) = applied_with_autoscaling(tracking).await;
    let aas = emu.scaling().await;
    let read = || {
        aas.describe_scaling_policies()
            .service_namespace(ServiceNamespace::Lambda)
            .resource_id("function:rules:live")
            .scalable_dimension(ScalableDimension::LambdaFunctionProvisionedConcurrency)
            .send()
    };
    let out = read().await.unwrap();
    let c = out.scaling_policies()[0].target_tracking_scaling_policy_configuration().unwrap().clone();
    assert_eq!(
        (c.scale_in_cooldown(), c.scale_out_cooldown(), c.disable_scale_in()),
        (Some(300), Some(30), Some(true))
    );
    // Out of band: only the cooldown changes.
    let changed = aws_sdk_applicationautoscaling::types::TargetTrackingScalingPolicyConfiguration::builder()
        .target_value(c.target_value())
        .set_predefined_metric_specification(c.predefined_metric_specification().cloned())
        .scale_in_cooldown(60)
        .scale_out_cooldown(30)
        .disable_scale_in(true)
        .build()
        .unwrap();
    aas.put_scaling_policy()
        .policy_name(out.scaling_policies()[0].policy_name())
        .service_namespace(ServiceNamespace::Lambda)
        .resource_id("function:rules:live")
        .scalable_dimension(ScalableDimension::LambdaFunctionProvisionedConcurrency)
        .policy_type(aws_sdk_applicationautoscaling::types::PolicyType::TargetTrackingScaling)
        .target_tracking_scaling_policy_configuration(changed)
        .send()
        .await
        .unwrap();
    let plan = emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(2);
    assert!(plan.stdout.contains("targetTracking"), "{}", plan.stdout);
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    let c = read().await.unwrap().scaling_policies()[0].target_tracking_scaling_policy_configuration().unwrap().clone();
    assert_eq!(c.scale_in_cooldown(), Some(300));
}

#[tokio::test]
async fn a_scheduled_action_is_written_whole_with_time_zone_start_and_end_and_kept_so() {
    let action = "{name: nightly, schedule: \"cron(0 22 * * ? *)\", minCapacity: 1, maxCapacity: 2, timezone: Asia/Tokyo, startTime: \"2026-12-01T00:00:00Z\", endTime: \"2027-03-31T00:00:00Z\"}";
    let extra = format!("scheduledActions:\n          - {action}");
    let scaling = live_with_autoscaling(&extra);
    let (emu, dir) = applied_with_autoscaling(&extra).await;
    let aas = emu.scaling().await;
    let read = || {
        aas.describe_scheduled_actions()
            .service_namespace(ServiceNamespace::Lambda)
            .resource_id("function:rules:live")
            .scalable_dimension(ScalableDimension::LambdaFunctionProvisionedConcurrency)
            .send()
    };
    let out = read().await.unwrap();
    let a = &out.scheduled_actions()[0];
    assert_eq!(a.timezone(), Some("Asia/Tokyo"));
    assert_eq!(a.start_time().map(|t| t.secs()), Some(1_796_083_200));
    assert_eq!(a.end_time().map(|t| t.secs()), Some(1_806_451_200));
    // Out of band, the action is put again without times: AWS deletes them ("If you don't specify
    // start and end times, the old values are deleted"). That is drift, and apply restores them.
    aas.put_scheduled_action()
        .service_namespace(ServiceNamespace::Lambda)
        .resource_id("function:rules:live")
        .scalable_dimension(ScalableDimension::LambdaFunctionProvisionedConcurrency)
        .scheduled_action_name("nightly")
        .schedule("cron(0 22 * * ? *)")
        .timezone("Asia/Tokyo")
        .scalable_target_action(a.scalable_target_action().unwrap().clone())
        .send()
        .await
        .unwrap();
    let plan = emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(2);
    assert!(plan.stdout.contains("scheduledActions.nightly"), "{}", plan.stdout);
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    assert_eq!(read().await.unwrap().scheduled_actions()[0].start_time().map(|t| t.secs()), Some(1_796_083_200));
    // Dropping the time zone from the manifest means UTC, and the old zone does not linger.
    let utc = scaling.replace(", timezone: Asia/Tokyo", "");
    let dir = manifests(&[("rules.yaml", &format!("{HEAD}{utc}"))]);
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(0);
    assert_ne!(read().await.unwrap().scheduled_actions()[0].timezone(), Some("Asia/Tokyo"));
}

#[tokio::test]
async fn the_emulator_refuses_s3_code_on_an_image_function_and_an_image_on_a_zip_function_as_aws_does() {
    let emu = Emulator::start();
    emu.seed_function("rules", 1);
    let (uri, _, _) = emu.seed_image("app", "v1", "image one", Some("rules-image"));
    let (version, _, _) = emu.seed_object("app-code", "fn.zip", "v1");
    let lambda = emu.lambda().await;
    let zip_on_image = lambda
        .update_function_code()
        .function_name("rules-image")
        .s3_bucket("app-code")
        .s3_key("fn.zip")
        .s3_object_version(&version)
        .send()
        .await
        .unwrap_err();
    assert_eq!(zip_on_image.code(), Some("InvalidParameterValueException"), "{zip_on_image:?}");
    assert_eq!(
        zip_on_image.message(),
        Some("Please provide ImageUri when updating a function with packageType Image.")
    );
    let image_on_zip = lambda.update_function_code().function_name("rules").image_uri(&uri).send().await.unwrap_err();
    assert_eq!(image_on_zip.code(), Some("InvalidParameterValueException"), "{image_on_zip:?}");
    assert_eq!(
        image_on_zip.message(),
        Some("Please don't provide ImageUri when updating a function with packageType Zip.")
    );
}

#[tokio::test]
async fn the_emulator_takes_an_images_digest_as_its_code_sha256_and_refuses_an_image_ecr_does_not_hold() {
    let emu = Emulator::start();
    let (first, _, first_sha) = emu.seed_image("app", "v1", "image one", Some("rules-image"));
    let (second, by_tag, second_sha) = emu.seed_image("app", "v2", "image two", None);
    assert_eq!(first.rsplit_once("@sha256:").unwrap().1, first_sha);
    assert_ne!(first_sha, second_sha, "two images, two digests");
    let lambda = emu.lambda().await;
    let conf = lambda.get_function_configuration().function_name("rules-image").send().await.unwrap();
    assert_eq!(
        (conf.code_sha256(), conf.package_type().map(|p| p.as_str())),
        (Some(first_sha.as_str()), Some("Image"))
    );
    let out = lambda.update_function_code().function_name("rules-image").image_uri(&second).send().await.unwrap();
    assert_eq!(out.code_sha256(), Some(second_sha.as_str()));
    eventually("the update completes", std::time::Duration::from_secs(60), || async {
        let f = lambda.get_function().function_name("rules-image").send().await.unwrap();
        f.configuration().unwrap().last_update_status().map(|s| s.as_str()) != Some("InProgress")
    })
    .await;
    let f = lambda.get_function().function_name("rules-image").send().await.unwrap();
    assert_eq!(f.code().and_then(|c| c.image_uri()), Some(second.as_str()));
    // A tag is resolved to its image's digest, once.
    let tagged = lambda.update_function_code().function_name("rules-image").image_uri(&by_tag).send().await.unwrap();
    assert_eq!(tagged.code_sha256(), Some(second_sha.as_str()));
    let missing = first.replace(&first_sha, &"0".repeat(64));
    let e = lambda.update_function_code().function_name("rules-image").image_uri(&missing).send().await.unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterValueException"), "{e:?}");
    assert!(e.message().unwrap().ends_with("is not valid. Provide a valid source image."), "{e:?}");
}

#[tokio::test]
async fn the_emulator_keeps_the_architecture_a_code_update_sets_and_refuses_a_stale_revision() {
    use aws_sdk_lambda::types::Architecture;
    let emu = Emulator::start();
    emu.seed_function("rules", 1);
    let (version, _, _) = emu.seed_object("app-code", "fn.zip", "v1");
    let lambda = emu.lambda().await;
    let update = || lambda.update_function_code().function_name("rules").s3_bucket("app-code").s3_key("fn.zip");
    let stale = update().s3_object_version(&version).revision_id("not-the-revision").send().await.unwrap_err();
    assert_eq!(stale.code(), Some("PreconditionFailedException"), "{stale:?}");
    let revision = lambda.get_function().function_name("rules").send().await.unwrap();
    let revision = revision.configuration().unwrap().revision_id().unwrap().to_string();
    let out = update()
        .s3_object_version(&version)
        .architectures(Architecture::Arm64)
        .revision_id(revision)
        .send()
        .await
        .unwrap();
    assert_eq!(out.architectures(), [Architecture::Arm64]);
    let conf = lambda.get_function_configuration().function_name("rules").send().await.unwrap();
    assert_eq!(conf.architectures(), [Architecture::Arm64]);
}

#[tokio::test]
async fn an_image_of_another_account_needs_the_callers_ecr_reads_which_the_shipped_policy_grants() {
    let emu = Emulator::start();
    emu.seed_image("app", "v1", "image one", Some("app-image"));
    let body = serde_json::json!({"region": REGION, "repository": "shared/app", "tag": "v2", "text": "image two",
                                  "account": "210987654321"});
    let (status, out) = emu.admin("POST", "/_ext/seed/image", &body.to_string());
    assert_eq!(status, 200, "{out}");
    let uri = serde_json::from_str::<serde_json::Value>(&out).unwrap()["ImageUri"].as_str().unwrap().to_string();
    assert!(uri.starts_with("210987654321.dkr.ecr."), "{uri}");
    let manifest = format!("apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: app-image\nspec:\n  code:\n    imageUri: {uri}\n");
    let dir = manifests(&[("f.yaml", &manifest)]);
    let without = policy_without("ecr:BatchGetImage");
    run_controller_under(&emu, &without);
    let refused = emu.run(&["apply", "-m", path(&dir)]).expect(1);
    assert!(refused.all().contains("Lambda does not have permission to access the ECR image"), "{}", refused.all());
    let shipped = concat!(env!("CARGO_MANIFEST_DIR"), "/manifests/deploy/iam/policy.json");
    emu.configure(&format!(r#"{{"principals": {{"AKIDTEST": {shipped:?}}}}}"#));
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(0);
}
