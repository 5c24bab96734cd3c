//! The shipped IAM policies against the emulator's IAM check: `plan`, `validate` and `export` run
//! under `policy-readonly.json` alone, `apply` under `policy.json`, on a manifest that reaches
//! every kind (so every read and write the controller makes is checked against a policy).

use crate::common::*;

const F: &str = "app-ro";

fn policy(file: &str) -> String {
    format!("{}/manifests/deploy/iam/{file}", env!("CARGO_MANIFEST_DIR"))
}

/// The controller's key (AKIDTEST) runs under `file` from now on.
fn under(emu: &Emulator, file: &str) {
    emu.configure(&format!(r#"{{"principals": {{"AKIDTEST": {:?}}}}}"#, policy(file)));
}

const CSC: &str = "arn:aws:lambda:ap-northeast-1:123456789012:code-signing-config:csc-0123456789abcdef0";

/// Every kind the controller reads and writes: settings with a layer, SSM and Secrets Manager
/// values, reserved and provisioned concurrency with autoscaling, an invoke config, user tags,
/// recursion, runtime management and code signing, a permission, a mapping, a public function
/// URL, and a rollout that starts with an alarm and a pre-traffic hook.
fn manifest(layer: &str, queue: &str) -> String {
    format!(
        "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: {F}\nspec:
  memorySize: 256
  layers: [\"{layer}\"]
  environment:
    variables:
      DB_HOST: {{fromSsm: /app/ro/host}}
      DB_PASSWORD: {{fromSecret: {{id: app/ro-db}}}}
  reservedConcurrency: 3
  eventInvokeConfig:
    maximumRetryAttempts: 1
  tags: {{team: ro}}
  recursiveLoop: Allow
  runtimeManagement: {{updateRuntimeOn: FunctionUpdate}}
  codeSigningConfigArn: {CSC}
  permissions:
    api:
      principal: apigateway.amazonaws.com
  eventSourceMappings:
    - source: {queue}
  functionUrls:
    stable: {{authType: NONE}}
  aliases:
    stable:
      functionVersion: \"1\"
      provisionedConcurrency: 2
      autoscaling: {{minCapacity: 2, maxCapacity: 4, targetUtilization: 0.7}}
    live:
      functionVersion: \"2\"
      deployment: {{steps: [{{weight: 10, pause: 1s}}], alarms: [app-ro-errors], hooks: {{preTraffic: app-ro-pre-hook}}}}
"
    )
}

#[track_caller]
fn assert_authorized(run: &Run) {
    let all = run.all();
    assert!(!all.contains("not authorized") && !all.contains("AccessDenied"), "{all}");
}

#[tokio::test]
async fn plan_validate_and_export_need_only_the_read_only_policy_and_apply_the_full_one() {
    let emu = Emulator::start();
    emu.seed_function(F, 2);
    emu.seed_function("app-ro-pre-hook", 1);
    emu.configure(&format!(r#"{{"code_signing_configs": ["{CSC}"]}}"#));
    emu.lambda().await.create_alias().function_name(F).name("live").function_version("1").send().await.unwrap();
    emu.put_alarm("app-ro-errors").await;
    emu.put_parameter("/app/ro/host", "db.internal", false).await;
    let sm = aws_sdk_secretsmanager::Client::new(&emu.sdk().await);
    sm.create_secret().name("app/ro-db").secret_string("ro-pw-secret").send().await.unwrap();
    let dir = manifests(&[("f.yaml", &manifest(&emu.seed_layer("app-ro-deps"), &emu.seed_queue("app-ro-in")))]);

    under(&emu, "policy-readonly.json");
    assert_authorized(&emu.run(&["validate", "-m", path(&dir)]).expect(0));
    // The rollout of `live` would start: the plan reads its alarm and its hook.
    let plan = emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(2);
    assert_authorized(&plan);
    let paths: Vec<String> = emu.requests().iter().map(|r| r["path"].as_str().unwrap_or("").to_string()).collect();
    assert!(paths.iter().any(|p| p.ends_with("/DescribeAlarms")), "{paths:?}");
    assert!(paths.iter().any(|p| p.contains("/functions/app-ro-pre-hook")), "{paths:?}");

    under(&emu, "policy.json");
    assert_authorized(&emu.run(&["apply", "-m", path(&dir)]).expect(0));

    under(&emu, "policy-readonly.json");
    let export = emu.run(&["export", "--function", F]).expect(0);
    assert_authorized(&export);
    assert!(export.stdout.contains("provisionedConcurrency") && export.stdout.contains("eventSourceMappings"));
    assert!(export.stdout.contains("recursiveLoop") && export.stdout.contains(CSC), "{}", export.stdout);
    assert_authorized(&emu.run(&["plan", "-m", path(&dir)]).expect(0));
}

/// `policy.json` without `action` in any statement, as a temp file.
fn shipped_without(action: &str) -> tempfile::NamedTempFile {
    file_without("policy.json", action)
}

/// The shipped policy `file` without `action` in any statement, as a temp file.
fn file_without(file: &str, action: &str) -> tempfile::NamedTempFile {
    let mut p: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(policy(file)).unwrap()).unwrap();
    for s in p["Statement"].as_array_mut().unwrap() {
        s["Action"].as_array_mut().unwrap().retain(|a| a != action);
    }
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), p.to_string()).unwrap();
    f
}

#[tokio::test]
async fn setting_layers_needs_get_layer_version_which_the_shipped_policy_grants() {
    let emu = Emulator::start();
    emu.seed_function(F, 1);
    let layer = emu.seed_layer("app-ro-deps");
    let text = format!(
        "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: {F}\nspec:\n  layers: [\"{layer}\"]\n"
    );
    let dir = manifests(&[("f.yaml", &text)]);
    // AWS (adding-layers): "you must have this permission in your user policy".
    let bare = shipped_without("lambda:GetLayerVersion");
    emu.configure(&format!(r#"{{"principals": {{"AKIDTEST": {:?}}}}}"#, bare.path().to_str().unwrap()));
    let refused = emu.run(&["apply", "-m", path(&dir)]).expect(1);
    assert!(refused.all().contains("not authorized to perform: lambda:GetLayerVersion"), "{}", refused.all());
    under(&emu, "policy.json");
    assert_authorized(&emu.run(&["apply", "-m", path(&dir)]).expect(0));
    let c = emu.lambda().await.get_function_configuration().function_name(F).send().await.unwrap();
    assert_eq!(c.layers().iter().filter_map(|l| l.arn()).collect::<Vec<_>>(), [layer.as_str()]);
}

const KEY: &str = "arn:aws:kms:ap-northeast-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab";

/// A function whose environment is under the customer key [`KEY`], with a plain value and one
/// from a secret also under a customer key.
fn customer_key_manifest(name: &str, secret: &str) -> String {
    format!(
        "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: {name}\nspec:
  kmsKeyArn: {KEY}
  environment:
    variables:
      MODE: fast
      DB_PASSWORD: {{fromSecret: {{id: {secret}}}}}
"
    )
}

async fn secret_under_customer_key(emu: &Emulator, name: &str, value: &str) {
    let sm = aws_sdk_secretsmanager::Client::new(&emu.sdk().await);
    sm.create_secret().name(name).secret_string(value).kms_key_id(KEY).send().await.unwrap();
}

#[tokio::test]
async fn a_customer_key_and_a_secret_under_one_are_applied_and_planned_under_the_shipped_policies() {
    // AWS (Securing environment variables): "kms:CreateGrant, kms:Encrypt - To configure a
    // customer managed key on a function. kms:Decrypt - To view and manage environment variables
    // that are encrypted with a customer managed key"; BatchGetSecretValue: "If the secrets are
    // encrypted using customer-managed keys ... you also need kms:Decrypt permissions for the
    // keys". The emulator checks these KMS actions with their kms:ViaService condition.
    let emu = Emulator::start();
    emu.seed_function(F, 1);
    secret_under_customer_key(&emu, "app/kms-db", "kms-pw-s3cr3t").await;
    let dir = manifests(&[("f.yaml", &customer_key_manifest(F, "app/kms-db"))]);
    for (action, refusal) in [("kms:CreateGrant", "invalid for CreateGrant"), ("kms:Encrypt", "unable to encrypt")] {
        let bare = shipped_without(action);
        emu.configure(&format!(r#"{{"principals": {{"AKIDTEST": {:?}}}}}"#, bare.path().to_str().unwrap()));
        let refused = emu.run(&["apply", "-m", path(&dir)]).expect(1).all();
        assert!(refused.contains(refusal) && refused.contains(&format!("perform: {action} on resource")), "{refused}");
    }
    under(&emu, "policy.json");
    let apply = emu.run(&["apply", "-m", path(&dir)]);
    assert_authorized(&apply);
    apply.expect(0);
    let c = emu.lambda().await.get_function_configuration().function_name(F).send().await.unwrap();
    assert_eq!(c.kms_key_arn(), Some(KEY));
    assert_eq!(c.environment().unwrap().variables().unwrap()["DB_PASSWORD"], "kms-pw-s3cr3t");

    under(&emu, "policy-readonly.json");
    let plan = emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]);
    assert_authorized(&plan);
    assert!(!plan.all().contains("kms-pw-s3cr3t"), "{}", plan.all());
    plan.expect(0);
    let export = emu.run(&["export", "--function", F]).expect(0);
    assert_eq!(exported_var(&export.stdout, "MODE"), "fast", "{}", export.stdout);
}

#[tokio::test]
async fn without_kms_decrypt_a_customer_keys_environment_and_secret_are_errors_of_their_manifest_never_empty() {
    let emu = Emulator::start();
    for f in ["app-kenv", "app-ksec", "app-plain"] {
        emu.seed_function(f, 1);
    }
    // Set up by someone who may use the key: app-kenv's variables are under it.
    let env = aws_sdk_lambda::types::Environment::builder().variables("MODE", "slow").variables("KEEP", "me").build();
    let lambda = emu.lambda().await;
    lambda
        .update_function_configuration()
        .function_name("app-kenv")
        .kms_key_arn(KEY)
        .environment(env)
        .send()
        .await
        .unwrap();
    secret_under_customer_key(&emu, "app/kms-only", "kms-only-s3cr3t").await;
    let plain = "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: app-plain\nspec:\n  environment:\n    variables:\n      MODE: fast\n";
    let ksec = "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: app-ksec\nspec:\n  environment:\n    variables:\n      TOKEN: {fromSecret: {id: app/kms-only}}\n";
    let dir = manifests(&[
        ("kenv.yaml", &format!("{}  kmsKeyArn: {KEY}\n", plain.replace("app-plain", "app-kenv"))),
        ("ksec.yaml", ksec),
        ("plain.yaml", plain),
    ]);
    // A principal whose policy lacks kms:Decrypt (the read-only policy, and the full one).
    for file in ["policy-readonly.json", "policy.json"] {
        let bare = file_without(file, "kms:Decrypt");
        emu.configure(&format!(r#"{{"principals": {{"AKIDTEST": {:?}}}}}"#, bare.path().to_str().unwrap()));
        emu.clear_requests();
        let verb = if file == "policy.json" { "apply" } else { "plan" };
        let out = emu.run(&[verb, "-m", path(&dir)]).expect(1).all();
        assert!(out.contains("environment cannot be read (AccessDeniedException"), "{out}");
        assert!(out.contains("is not authorized to perform: kms:Decrypt"), "{out}");
        assert!(
            out.contains("secret `app/kms-only` cannot be used: AccessDeniedException: Access to KMS is not allowed"),
            "{out}"
        );
        assert!(!out.contains("- KEEP") && !out.contains("s3cr3t"), "never planned from an empty environment: {out}");
        let writes: Vec<String> = emu.write_calls().into_iter().filter(|w| w.contains("/functions/app-k")).collect();
        assert!(writes.is_empty(), "nothing written to the unreadable functions: {writes:?}");
    }
    let c = lambda.get_function_configuration().function_name("app-plain").send().await.unwrap();
    assert_eq!(c.environment().unwrap().variables().unwrap()["MODE"], "fast", "the other manifest applied");
    let c = lambda.get_function_configuration().function_name("app-kenv").send().await.unwrap();
    assert_eq!(c.environment().unwrap().variables().unwrap()["KEEP"], "me");
}
