//! The hands-on guide's section 10.1-10.5 flow, drift, removals, autoscaling and the weighted
//! alias conflict: the real binary and the real SDK against the local emulator.

use std::time::Duration;

use crate::common::*;

async fn handson(emu: &Emulator) {
    emu.seed_function("handson-function", 2);
    emu.put_parameter("/handson/lambda/db_host", "mydb.example.com", false).await;
    emu.put_parameter("/handson/lambda/db_password", SECRET_VALUE, true).await;
}

fn assert_no_secrets(out: &str) {
    assert!(!out.contains(SECRET_VALUE), "SecureString value leaked:\n{out}");
    assert!(!out.contains(SECRET_KEY), "AWS secret key leaked:\n{out}");
}

#[tokio::test]
async fn handson_flow_converges_matches_the_manifest_and_is_then_in_sync() {
    let emu = Emulator::start();
    handson(&emu).await;
    let dir = manifests(&[("handson.yaml", &read_example())]);
    let apply = emu.run(&["apply", "-m", path(&dir)]).expect(0);
    assert!(apply.stdout.contains("+ environment.variables.DB_PASSWORD: (sensitive)"), "{}", apply.stdout);

    let lambda = emu.lambda().await;
    let f = lambda.get_function().function_name("handson-function").send().await.unwrap();
    let env = f.configuration().unwrap().environment().unwrap().variables().unwrap();
    assert_eq!(env["LOG_LEVEL"], "DEBUG");
    assert_eq!(env["DB_HOST"], "mydb.example.com");
    assert_eq!(env["DB_PASSWORD"], SECRET_VALUE);
    assert_eq!(f.concurrency().unwrap().reserved_concurrent_executions(), Some(10));
    let prod = lambda.get_alias().function_name("handson-function").name("prod").send().await.unwrap();
    assert_eq!(prod.function_version(), Some("1"));
    assert_eq!(prod.description(), Some("Production alias"));
    assert_eq!(prod.routing_config().unwrap().additional_version_weights().unwrap()["2"], 0.1);
    let pc = lambda
        .get_provisioned_concurrency_config()
        .function_name("handson-function")
        .qualifier("live")
        .send()
        .await
        .unwrap();
    assert_eq!(
        (pc.requested_provisioned_concurrent_executions(), pc.status().map(|s| s.as_str())),
        (Some(5), Some("READY"))
    );
    let eic = lambda
        .get_function_event_invoke_config()
        .function_name("handson-function")
        .qualifier("prod")
        .send()
        .await
        .unwrap();
    assert_eq!((eic.maximum_retry_attempts(), eic.maximum_event_age_in_seconds()), (Some(1), Some(600)));
    let dest = eic.destination_config().unwrap();
    assert!(dest.on_failure().unwrap().destination().unwrap().ends_with(":lambda-failure-queue"));
    let eic = lambda.get_function_event_invoke_config().function_name("handson-function").send().await.unwrap();
    assert_eq!(eic.maximum_retry_attempts(), Some(2));
    let scaling = emu.scaling().await;
    let ns = aws_sdk_applicationautoscaling::types::ServiceNamespace::Lambda;
    let t = scaling.describe_scalable_targets().service_namespace(ns.clone()).send().await.unwrap();
    assert_eq!(
        t.scalable_targets().iter().map(|t| (t.resource_id(), t.min_capacity(), t.max_capacity())).collect::<Vec<_>>(),
        [("function:handson-function:live", 5, 10)]
    );
    let p = scaling.describe_scaling_policies().service_namespace(ns.clone()).send().await.unwrap();
    assert_eq!(p.scaling_policies()[0].target_tracking_scaling_policy_configuration().unwrap().target_value(), 0.7);
    let a = scaling.describe_scheduled_actions().service_namespace(ns).send().await.unwrap();
    assert_eq!(a.scheduled_actions()[0].schedule(), "cron(0 9 * * ? *)");

    let plan = emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(0);
    assert!(plan.stdout.contains("in sync"), "{}", plan.stdout);
    emu.clear_requests();
    let again = emu.run(&["--log-format", "json", "apply", "-m", path(&dir)]).expect(0);
    assert_eq!(emu.write_calls(), Vec::<String>::new(), "a second apply must not write");
    let json = emu.run(&["plan", "-m", path(&dir), "-o", "json"]).expect(0);
    let parsed: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(parsed["functions"][0]["changes"], serde_json::json!([]));
    for out in [&apply, &plan, &again, &json] {
        assert_no_secrets(&out.all());
    }
}

#[tokio::test]
async fn out_of_band_changes_show_as_drift_in_plan_and_apply_corrects_them() {
    let emu = Emulator::start();
    handson(&emu).await;
    let dir = manifests(&[("handson.yaml", &read_example())]);
    emu.run(&["apply", "-m", path(&dir)]).expect(0);

    let lambda = emu.lambda().await;
    let env = aws_sdk_lambda::types::Environment::builder()
        .variables("LOG_LEVEL", "INFO")
        .variables("EXTRA", "x")
        .variables("DB_PASSWORD", SECRET_VALUE)
        .build();
    lambda.update_function_configuration().function_name("handson-function").environment(env).send().await.unwrap();
    lambda
        .put_function_concurrency()
        .function_name("handson-function")
        .reserved_concurrent_executions(7)
        .send()
        .await
        .unwrap();
    let weights =
        aws_sdk_lambda::types::AliasRoutingConfiguration::builder().additional_version_weights("2", 0.5).build();
    lambda.update_alias().function_name("handson-function").name("prod").routing_config(weights).send().await.unwrap();

    let plan = emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(2);
    for line in [
        "~ environment.variables.LOG_LEVEL: INFO → DEBUG",
        "- environment.variables.EXTRA: x",
        "+ environment.variables.DB_HOST: mydb.example.com",
        "~ reservedConcurrency: 7 → 10",
        "~ aliases.prod.routing: {\"2\":0.5} → {\"2\":0.1}",
    ] {
        assert!(plan.stdout.contains(line), "missing {line:?} in\n{}", plan.stdout);
    }
    let apply = emu.run(&["apply", "-m", path(&dir)]).expect(0);
    emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(0);
    let f = lambda.get_function().function_name("handson-function").send().await.unwrap();
    let vars = f.configuration().unwrap().environment().unwrap().variables().unwrap();
    assert!(!vars.contains_key("EXTRA"));
    assert_no_secrets(&plan.all());
    assert_no_secrets(&apply.all());
}

#[tokio::test]
async fn null_removes_reserved_and_provisioned_concurrency_autoscaling_and_invoke_configs() {
    let emu = Emulator::start();
    handson(&emu).await;
    let dir = manifests(&[("handson.yaml", &read_example())]);
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    let removal = "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: handson-function\nspec:\n  reservedConcurrency: null\n  eventInvokeConfig: null\n  aliases:\n    prod:\n      functionVersion: \"1\"\n      eventInvokeConfig: null\n    live:\n      functionVersion: \"2\"\n      provisionedConcurrency: null\n      autoscaling: null\n";
    std::fs::write(dir.path().join("handson.yaml"), removal).unwrap();
    let run = emu.run(&["apply", "-m", path(&dir)]).expect(0);
    assert!(run.stdout.contains("- reservedConcurrency: 10"), "{}", run.stdout);

    let lambda = emu.lambda().await;
    let f = lambda.get_function().function_name("handson-function").send().await.unwrap();
    assert!(f.concurrency().and_then(|c| c.reserved_concurrent_executions()).is_none());
    let pc =
        lambda.get_provisioned_concurrency_config().function_name("handson-function").qualifier("live").send().await;
    assert!(pc.is_err(), "provisioned concurrency should be gone");
    let eics = lambda.list_function_event_invoke_configs().function_name("handson-function").send().await.unwrap();
    assert!(eics.function_event_invoke_configs().is_empty());
    let ns = aws_sdk_applicationautoscaling::types::ServiceNamespace::Lambda;
    let scaling = emu.scaling().await;
    assert!(scaling
        .describe_scalable_targets()
        .service_namespace(ns.clone())
        .send()
        .await
        .unwrap()
        .scalable_targets()
        .is_empty());
    assert!(scaling
        .describe_scheduled_actions()
        .service_namespace(ns)
        .send()
        .await
        .unwrap()
        .scheduled_actions()
        .is_empty());
    // The aliases themselves and the environment were not touched.
    assert!(lambda.get_alias().function_name("handson-function").name("live").send().await.is_ok());
    assert_eq!(f.configuration().unwrap().environment().unwrap().variables().unwrap()["LOG_LEVEL"], "DEBUG");
    emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(0);
}

#[tokio::test]
async fn provisioned_concurrency_moved_by_the_autoscaler_within_range_is_not_drift() {
    let emu = Emulator::start();
    handson(&emu).await;
    let dir = manifests(&[("handson.yaml", &read_example())]);
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    let lambda = emu.lambda().await;
    // What Application Auto Scaling does when it scales: a new requested value within [5, 10].
    lambda
        .put_provisioned_concurrency_config()
        .function_name("handson-function")
        .qualifier("live")
        .provisioned_concurrent_executions(8)
        .send()
        .await
        .unwrap();
    eventually("provisioned concurrency READY", Duration::from_secs(20), || async {
        let pc = lambda
            .get_provisioned_concurrency_config()
            .function_name("handson-function")
            .qualifier("live")
            .send()
            .await
            .unwrap();
        pc.status().map(|s| s.as_str()) == Some("READY")
    })
    .await;
    let plan = emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(0);
    assert!(plan.stdout.contains("in sync"), "{}", plan.stdout);
}

const WEIGHTED: &str = "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: canary\nspec:\n  aliases:\n    prod:\n      functionVersion: \"1\"\n      routing: {\"2\": 0.2}\n      provisionedConcurrency: PC\n";

#[tokio::test]
async fn weighted_alias_gets_provisioned_concurrency_first_and_a_later_change_is_blocked() {
    let emu = Emulator::start();
    emu.seed_function("canary", 2);
    let dir = manifests(&[("canary.yaml", &WEIGHTED.replace("PC", "3"))]);
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    let lambda = emu.lambda().await;
    let alias = lambda.get_alias().function_name("canary").name("prod").send().await.unwrap();
    assert_eq!(alias.routing_config().unwrap().additional_version_weights().unwrap()["2"], 0.2);
    let pc =
        lambda.get_provisioned_concurrency_config().function_name("canary").qualifier("prod").send().await.unwrap();
    assert_eq!(pc.requested_provisioned_concurrent_executions(), Some(3));

    std::fs::write(dir.path().join("canary.yaml"), WEIGHTED.replace("PC", "4")).unwrap();
    let plan = emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(2);
    assert!(plan.stdout.contains("blocked: aliases.prod.provisionedConcurrency: Alias with weights can not be used with Provisioned Concurrency"), "{}", plan.stdout);
    emu.clear_requests();
    let apply = emu.run(&["apply", "-m", path(&dir)]).expect(1);
    assert!(apply.stdout.contains("blocked"), "{}", apply.stdout);
    assert_eq!(emu.write_calls(), Vec::<String>::new(), "a blocked change must not be attempted");
    let pc =
        lambda.get_provisioned_concurrency_config().function_name("canary").qualifier("prod").send().await.unwrap();
    assert_eq!(pc.requested_provisioned_concurrent_executions(), Some(3));
}

#[tokio::test]
async fn a_missing_function_or_parameter_fails_only_its_own_manifest() {
    let emu = Emulator::start();
    emu.seed_function("present", 1);
    let doc = |name: &str, extra: &str| {
        format!("apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: {name}\nspec:\n  reservedConcurrency: 4\n{extra}")
    };
    let dir = manifests(&[
        ("a.yaml", &doc("absent", "")),
        ("b.yaml", &doc("present", "")),
        (
            "c.yaml",
            &format!(
                "{}  functionName: present2\n  environment:\n    variables:\n      P1: {{fromSsm: /nope}}\n",
                doc("p2", "")
            ),
        ),
    ]);
    emu.seed_function("present2", 1);
    let run = emu.run(&["apply", "-m", path(&dir)]).expect(1);
    assert!(run.stdout.contains("function `absent` not found"), "{}", run.stdout);
    assert!(run.stdout.contains("SSM parameter `/nope` does not exist"), "{}", run.stdout);
    let f = emu.lambda().await.get_function().function_name("present").send().await.unwrap();
    assert_eq!(f.concurrency().unwrap().reserved_concurrent_executions(), Some(4));
    let f = emu.lambda().await.get_function().function_name("present2").send().await.unwrap();
    assert!(f.concurrency().is_none(), "a manifest with an error must not be partly applied");
}

#[tokio::test]
async fn invalid_manifests_stop_before_any_aws_call_with_file_line_and_field() {
    let emu = Emulator::start();
    let dir = manifests(&[
        ("ok.yaml", "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: ok\nspec:\n  reservedConcurrency: 1\n"),
        ("bad.yaml", "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: bad\nspec:\n  eventInvokeConfig:\n    maximumRetryAttempts: 5\n"),
    ]);
    let v = emu.run(&["validate", "-m", path(&dir)]).expect(1);
    assert!(
        v.stderr.contains("bad.yaml:7:5: spec.eventInvokeConfig.maximumRetryAttempts: 5 is outside 0-2"),
        "{}",
        v.stderr
    );
    emu.clear_requests();
    emu.run(&["plan", "-m", path(&dir)]).expect(1);
    emu.run(&["apply", "-m", path(&dir)]).expect(1);
    assert!(emu.requests().is_empty(), "no AWS call with invalid manifests");
}

#[tokio::test]
async fn apply_waits_out_an_in_progress_function_update() {
    let emu = Emulator::start();
    emu.seed_function("busy", 1);
    emu.configure(r#"{"update_in_progress_seconds": 1.5}"#);
    let lambda = emu.lambda().await;
    let env = aws_sdk_lambda::types::Environment::builder().variables("A1", "outside").build();
    lambda.update_function_configuration().function_name("busy").environment(env).send().await.unwrap();
    let dir = manifests(&[("busy.yaml", "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: busy\nspec:\n  environment:\n    variables:\n      A1: from-git\n")]);
    emu.clear_requests();
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    let f = lambda.get_function().function_name("busy").send().await.unwrap();
    assert_eq!(f.configuration().unwrap().environment().unwrap().variables().unwrap()["A1"], "from-git");
    let conflicts = emu.write_calls().iter().filter(|w| w.contains("/configuration")).count();
    assert_eq!(conflicts, 1, "the update waited for InProgress to end instead of colliding");
}

#[tokio::test]
async fn failed_provisioned_concurrency_is_reported_with_its_status_reason() {
    let emu = Emulator::start();
    emu.seed_function("pcfail", 2);
    emu.configure(r#"{"fail_pc": {"pcfail:live": "FUNCTION_ERROR_INIT_FAILURE"}}"#);
    let dir = manifests(&[("f.yaml", "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: pcfail\nspec:\n  aliases:\n    live:\n      functionVersion: \"2\"\n      provisionedConcurrency: 2\n")]);
    let run = emu.run(&["apply", "-m", path(&dir), "--wait-timeout", "20s"]).expect(1);
    assert!(run.all().contains("FAILED: FUNCTION_ERROR_INIT_FAILURE"), "{}", run.all());
}

#[tokio::test]
async fn throttling_and_server_errors_are_retried_until_the_state_converges() {
    let emu = Emulator::start();
    emu.seed_function("flaky", 2);
    let dir = manifests(&[("f.yaml", "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: flaky\nspec:\n  reservedConcurrency: 3\n  aliases:\n    live:\n      functionVersion: \"2\"\n")]);
    emu.configure(r#"{"fail_next": {"count": 3, "status": 429, "code": "TooManyRequestsException"}}"#);
    emu.clear_requests();
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    let injected = emu.requests().iter().filter(|r| r["injected"] == true).count();
    assert_eq!(injected, 3, "the faults were really served");
    emu.configure(r#"{"fail_next": {"count": 2, "status": 500, "code": "ServiceException"}}"#);
    std::fs::write(
        dir.path().join("f.yaml"),
        std::fs::read_to_string(dir.path().join("f.yaml")).unwrap().replace("3\n", "4\n"),
    )
    .unwrap();
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    let f = emu.lambda().await.get_function().function_name("flaky").send().await.unwrap();
    assert_eq!(f.concurrency().unwrap().reserved_concurrent_executions(), Some(4));
    emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(0);
}

#[tokio::test]
async fn export_prints_a_manifest_that_plan_shows_in_sync_without_printing_secrets() {
    let emu = Emulator::start();
    handson(&emu).await;
    let dir = manifests(&[("handson.yaml", &read_example())]);
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    let export = emu.run(&["export", "--function", "handson-function"]).expect(0);
    assert_no_secrets(&export.all());
    let password = exported_var(&export.stdout, "DB_PASSWORD");
    assert_eq!(password, serde_json::json!({"fromSsm": "/handson/lambda/db_password"}), "{}", export.stdout);
    let adopted = manifests(&[("exported.yaml", &export.stdout)]);
    emu.run(&["validate", "-m", path(&adopted)]).expect(0);
    let plan = emu.run(&["plan", "-m", path(&adopted), "--detailed-exitcode"]).expect(0);
    assert!(plan.stdout.contains("in sync"), "{}\n{}", export.stdout, plan.stdout);
    let one = emu.run(&["export", "--function", "handson-function", "--alias", "live"]).expect(0);
    assert!(one.stdout.contains("live:") && !one.stdout.contains("prod:"), "{}", one.stdout);
}

#[tokio::test]
async fn export_replaces_secret_looking_values_with_a_placeholder_and_warns() {
    let emu = Emulator::start();
    emu.seed_function("legacy", 1);
    let env = aws_sdk_lambda::types::Environment::builder()
        .variables("API_TOKEN", "tok-literal-4242")
        .variables("MODE", "fast")
        .build();
    emu.lambda().await.update_function_configuration().function_name("legacy").environment(env).send().await.unwrap();
    let export = emu.run(&["export", "--function", "legacy"]).expect(0);
    assert!(!export.all().contains("tok-literal-4242"), "{}", export.all());
    let token = exported_var(&export.stdout, "API_TOKEN");
    assert_eq!(token, serde_json::json!({"fromSsm": "/CHANGE-ME/legacy/API_TOKEN"}), "{}", export.stdout);
    assert_eq!(exported_var(&export.stdout, "MODE"), "fast");
    assert!(export.stderr.contains("warning: environment.variables.API_TOKEN: looks secret"), "{}", export.stderr);
}
