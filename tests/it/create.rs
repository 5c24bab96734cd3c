//! Opt-in creation (`create: true`): a missing function is created from its code and definition
//! and the rest applied in the same apply; a crash while it is Pending creates nothing twice; a
//! removed manifest under `deletionPolicy: delete` deletes only a function it created.

use std::time::Duration;

use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::common::daemon::Daemon;
use crate::common::*;

const MINUTE: Duration = Duration::from_secs(60);
const BUCKET: &str = "app-code";
const KEY: &str = "app/new.zip";
/// The role `seed_function` creates (assumable by Lambda).
const ROLE: &str = "arn:aws:iam::123456789012:role/lambda-handson-role";

fn manifest(name: &str, version: &str, extra: &str) -> String {
    format!(
        "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: {name}\nspec:\n  create: true\n  runtime: python3.12\n  handler: handler.handler\n  executionRole: {ROLE}\n  memorySize: 256\n  publish: onChange\n  code:\n    s3: {{bucket: {BUCKET}, key: {KEY}, objectVersion: \"{version}\"}}\n{extra}  aliases:\n    live:\n      functionVersion: published\n"
    )
}

/// CreateFunction requests the emulator received.
fn creations(emu: &Emulator) -> usize {
    let create =
        |r: &serde_json::Value| r["method"] == "POST" && r["path"].as_str().unwrap_or("").ends_with("/functions");
    emu.requests().iter().filter(|r| create(r)).count()
}

async fn tag(emu: &Emulator, f: &str, key: &str) -> Option<String> {
    let out = emu.lambda().await.get_function().function_name(f).send().await.ok()?;
    out.tags().and_then(|t| t.get(key)).cloned()
}

async fn alias_version(emu: &Emulator, f: &str) -> Option<String> {
    let a = emu.lambda().await.get_alias().function_name(f).name("live").send().await.ok()?;
    a.function_version().map(str::to_string)
}

/// An emulator with the execution role and a versioned zip; returns (emulator, version, sha).
fn setup() -> (Emulator, String, String) {
    let emu = Emulator::start();
    emu.seed_function("app-seeded", 1); // creates the execution role
    let (version, sha, _) = emu.seed_object(BUCKET, KEY, "def handler(e, c): return 1\n");
    (emu, version, sha)
}

#[tokio::test]
async fn create_true_makes_the_function_from_its_code_then_publishes_and_creates_its_alias_in_one_apply() {
    let (emu, version, sha) = setup();
    let (subnets, group) = emu.seed_vpc(2);
    let vpc = format!(
        "  vpcConfig: {{subnetIds: [{}], securityGroupIds: [{group}]}}\n  snapStart: PublishedVersions\n",
        subnets.join(", ")
    );
    let extra = format!("{vpc}  reservedConcurrency: 3\n  tags: {{team: orders}}\n  recursiveLoop: Allow\n  environment:\n    variables:\n      LEVEL: info\n");
    let dir = manifests(&[("new.yaml", &manifest("app-new", &version, &extra))]);
    emu.clear_requests();
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    let lambda = emu.lambda().await;
    let f = lambda.get_function().function_name("app-new").send().await.unwrap();
    let conf = f.configuration().unwrap();
    assert_eq!(conf.code_sha256(), Some(sha.as_str()));
    assert_eq!(conf.memory_size(), Some(256));
    assert_eq!(conf.handler(), Some("handler.handler"));
    assert_eq!(conf.role(), Some(ROLE));
    assert_eq!(conf.environment().unwrap().variables().unwrap()["LEVEL"], "info");
    let mut live_subnets = conf.vpc_config().unwrap().subnet_ids().to_vec();
    live_subnets.sort();
    let mut want = subnets.clone();
    want.sort();
    assert_eq!(live_subnets, want, "the VPC is part of the creation");
    assert_eq!(conf.snap_start().and_then(|s| s.apply_on()).map(|a| a.as_str()), Some("PublishedVersions"));
    assert_eq!(f.concurrency().unwrap().reserved_concurrent_executions(), Some(3));
    assert_eq!(tag(&emu, "app-new", "lambda-reconciler.io/created-by").await.as_deref(), Some("app-new"));
    assert_eq!(tag(&emu, "app-new", "team").await.as_deref(), Some("orders"), "user tags set at creation");
    let recursion = lambda.get_function_recursion_config().function_name("app-new").send().await.unwrap();
    assert_eq!(recursion.recursive_loop().map(|r| r.as_str()), Some("Allow"), "applied once it exists");
    assert_eq!(alias_version(&emu, "app-new").await.as_deref(), Some("1"));
    assert_eq!(creations(&emu), 1);
    emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(0);
}

#[tokio::test]
async fn without_create_a_missing_function_stays_an_error_and_nothing_is_created() {
    let (emu, version, _) = setup();
    let text = manifest("app-new", &version, "").replace("  create: true\n", "");
    let dir = manifests(&[("new.yaml", &text)]);
    emu.clear_requests();
    let run = emu.run(&["apply", "-m", path(&dir)]);
    assert_ne!(run.code, 0, "{}", run.all());
    assert!(run.all().contains("not found") && run.all().contains("create: true"), "{}", run.all());
    assert_eq!(creations(&emu), 0);
}

#[tokio::test]
async fn the_plan_of_a_missing_function_shows_it_created_with_its_definition_and_never_a_secret() {
    let (emu, version, _) = setup();
    emu.put_parameter("/app/db-password", "hunter2-very-secret", true).await;
    let extra = "  environment:\n    variables:\n      DB_PASSWORD: {fromSsm: /app/db-password}\n";
    let dir = manifests(&[("new.yaml", &manifest("app-new", &version, extra))]);
    for (format, created) in [("text", "+ function: app-new"), ("json", "\"lambda:CreateFunction\"")] {
        let run = emu.run(&["plan", "-m", path(&dir), "-o", format]);
        let out = run.all();
        assert!(out.contains(created), "{out}");
        assert!(out.contains(&format!("s3://{BUCKET}/{KEY}@{version}")), "{out}");
        assert!(out.contains("python3.12"), "{out}");
        assert!(!out.contains("hunter2-very-secret"), "{out}");
    }
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    // Recorded at creation: the value is never printed, also once git stops referencing it.
    assert_eq!(tag(&emu, "app-new", "lambda-reconciler.io/sensitive-env").await.as_deref(), Some("DB_PASSWORD"));
    let dropped = manifest("app-new", &version, "  environment:\n    variables: {}\n");
    std::fs::write(dir.path().join("new.yaml"), dropped).unwrap();
    let out = emu.run(&["plan", "-m", path(&dir)]).all();
    assert!(out.contains("DB_PASSWORD") && !out.contains("hunter2-very-secret"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kill_9_while_the_new_function_is_pending_converges_on_restart_and_creates_it_once() {
    let (emu, version, sha) = setup();
    let dir = manifests(&[("new.yaml", &manifest("app-new", &version, ""))]);
    // The new function stays Pending: the daemon waits for it, and dies there.
    emu.configure(r#"{"create_pending_seconds": 600}"#);
    emu.clear_requests();
    let mut daemon = Daemon::start(&emu, path(&dir), &["--resync-interval", "1h"]);
    eventually("the function is created", MINUTE, || async { creations(&emu) == 1 }).await;
    daemon.kill9();
    assert_ne!(daemon.wait_exit(Duration::from_secs(10)), 0);
    assert_eq!(alias_version(&emu, "app-new").await, None, "killed before the alias");
    emu.configure(r#"{"create_pending_seconds": 0}"#);
    let daemon = Daemon::start(&emu, path(&dir), &["--resync-interval", "1h"]);
    eventually("Synced", MINUTE, || async { daemon.manifest("app-new")["sync"] == "Synced" }).await;
    assert_eq!(alias_version(&emu, "app-new").await.as_deref(), Some("1"));
    assert_eq!(creations(&emu), 1, "the restart created nothing");
    let conf = emu.lambda().await.get_function_configuration().function_name("app-new").send().await.unwrap();
    assert_eq!(conf.code_sha256(), Some(sha.as_str()));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_removed_manifest_under_delete_deletes_the_function_it_created_and_never_one_it_adopted() {
    let (emu, version, _) = setup();
    let created = manifest("app-new", &version, "  deletionPolicy: delete\n");
    let adopted = "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: app-seeded\nspec:\n  create: true\n  deletionPolicy: delete\n  reservedConcurrency: 2\n  code:\n    s3: {bucket: app-code, key: app/new.zip}\n";
    let adopted = adopted.replace("  create: true\n", "  create: true\n  runtime: python3.12\n  handler: handler.handler\n  executionRole: arn:aws:iam::123456789012:role/lambda-handson-role\n");
    // A directory left empty is taken as unavailable (nothing is deleted): one manifest stays.
    emu.seed_function("app-kept", 1);
    let kept = "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: app-kept\nspec:\n  reservedConcurrency: 1\n";
    let dir = manifests(&[("new.yaml", &created), ("seeded.yaml", &adopted), ("kept.yaml", kept)]);
    let daemon = Daemon::start(&emu, path(&dir), &["--resync-interval", "1h"]);
    eventually("both Synced", MINUTE, || async {
        daemon.manifest("app-new")["sync"] == "Synced" && daemon.manifest("app-seeded")["sync"] == "Synced"
    })
    .await;
    assert_eq!(tag(&emu, "app-seeded", "lambda-reconciler.io/created-by").await, None, "adopted, not created");
    std::fs::remove_file(dir.path().join("new.yaml")).unwrap();
    std::fs::remove_file(dir.path().join("seeded.yaml")).unwrap();
    let lambda = emu.lambda().await;
    eventually("the created function is deleted", MINUTE, || async {
        let r = lambda.get_function().function_name("app-new").send().await;
        r.err().and_then(|e| e.into_service_error().code().map(str::to_string)).as_deref()
            == Some("ResourceNotFoundException")
    })
    .await;
    eventually("the adopted function's reserved concurrency is removed", MINUTE, || async {
        reserved(&emu, "app-seeded").await.is_none()
    })
    .await;
    let seeded = lambda.get_function().function_name("app-seeded").send().await;
    assert!(seeded.is_ok(), "an adopted function is never deleted");
    assert!(lambda.get_alias().function_name("app-new").name("live").send().await.is_err());
}

#[tokio::test]
async fn the_emulator_keeps_a_new_function_pending_and_refuses_writes_meanwhile_as_lambda_does() {
    let (emu, version, _) = setup();
    emu.configure(r#"{"create_pending_seconds": 600}"#);
    let lambda = emu.lambda().await;
    let code = aws_sdk_lambda::types::FunctionCode::builder()
        .s3_bucket(BUCKET)
        .s3_key(KEY)
        .s3_object_version(&version)
        .build();
    let no_runtime = lambda.create_function().function_name("app-x").role(ROLE).code(code.clone()).send().await;
    let e = no_runtime.unwrap_err().into_service_error();
    assert_eq!(e.code(), Some("InvalidParameterValueException"));
    assert!(e.message().unwrap_or("").contains("Runtime and Handler are mandatory"), "{e:?}");
    let out = lambda
        .create_function()
        .function_name("app-x")
        .role(ROLE)
        .runtime(aws_sdk_lambda::types::Runtime::Python312)
        .handler("handler.handler")
        .code(code)
        .send()
        .await
        .unwrap();
    assert_eq!(out.state(), Some(&aws_sdk_lambda::types::State::Pending));
    let write = lambda.update_function_configuration().function_name("app-x").memory_size(512).send().await;
    let e = write.unwrap_err().into_service_error();
    assert_eq!(e.code(), Some("ResourceConflictException"));
    assert!(e.message().unwrap_or("").contains("Pending"), "{e:?}");
}

#[tokio::test]
async fn create_true_makes_an_image_function_on_arm64_without_a_runtime_or_handler() {
    let (emu, _, _) = setup();
    let (uri, _, digest) = emu.seed_image("app-img", "v1", "image one", None);
    let text = format!(
        "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: app-img\nspec:\n  create: true\n  executionRole: {ROLE}\n  architectures: [arm64]\n  code:\n    imageUri: {uri}\n"
    );
    let dir = manifests(&[("img.yaml", &text)]);
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    let conf = emu.lambda().await.get_function_configuration().function_name("app-img").send().await.unwrap();
    assert_eq!(conf.package_type().map(|p| p.as_str()), Some("Image"));
    assert_eq!(conf.code_sha256(), Some(digest.as_str()));
    assert_eq!(conf.architectures().iter().map(|a| a.as_str()).collect::<Vec<_>>(), ["arm64"]);
    emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_manifest_that_switches_to_a_role_reaching_the_same_function_never_deletes_the_function_it_created() {
    let (emu, version, _) = setup();
    let role = emu.seed_role("123456789012", "lambda-reconciler-target");
    let created = manifest("app-new", &version, "  deletionPolicy: delete\n");
    let dir = manifests(&[("new.yaml", &created)]);
    emu.clear_requests();
    let daemon = Daemon::start(&emu, path(&dir), &["--resync-interval", "1h"]);
    eventually("created and Synced", MINUTE, || async { daemon.manifest("app-new")["sync"] == "Synced" }).await;
    // The same function, now reached through a role of its own account: a new key, not a removal.
    let moved = manifest("app-new", &version, &format!("  deletionPolicy: delete\n  roleArn: {role}\n"));
    std::fs::write(dir.path().join("new.yaml"), moved).unwrap();
    eventually("the old key is done with", MINUTE, || async {
        daemon.log_text().contains("removed manifest's configuration deleted")
    })
    .await;
    let deletes = emu
        .requests()
        .iter()
        .filter(|r| r["method"] == "DELETE" && r["path"].as_str().unwrap_or("").ends_with("/functions/app-new"))
        .count();
    assert_eq!(deletes, 0, "the function is still managed: never deleted");
    assert_eq!(creations(&emu), 1, "nor created twice");
    assert_eq!(alias_version(&emu, "app-new").await.as_deref(), Some("1"), "its alias and versions are kept");
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_a_created_function_also_deletes_the_event_source_mappings_its_manifest_made() {
    let (emu, version, _) = setup();
    emu.configure(r#"{"esm_settle_seconds": 0}"#);
    let queue = emu.seed_queue("app-orders");
    let extra =
        format!("  deletionPolicy: delete\n  eventSourceMappings:\n    - source: {queue}\n      qualifier: live\n");
    emu.seed_function("app-kept", 1);
    let kept = "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: app-kept\nspec:\n  reservedConcurrency: 1\n";
    let dir = manifests(&[("new.yaml", &manifest("app-new", &version, &extra)), ("kept.yaml", kept)]);
    let daemon = Daemon::start(&emu, path(&dir), &["--resync-interval", "1h"]);
    eventually("created and Synced", MINUTE, || async { daemon.manifest("app-new")["sync"] == "Synced" }).await;
    let lambda = emu.lambda().await;
    let esms = || async {
        let out = lambda.list_event_source_mappings().event_source_arn(&queue).send().await.unwrap();
        out.event_source_mappings().len()
    };
    assert_eq!(esms().await, 1);
    std::fs::remove_file(dir.path().join("new.yaml")).unwrap();
    eventually("the created function is deleted", MINUTE, || async {
        lambda.get_function().function_name("app-new").send().await.is_err()
    })
    .await;
    assert_eq!(esms().await, 0, "AWS's DeleteFunction leaves event source mappings behind");
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_a_created_function_deregisters_its_aliases_scalable_targets_first() {
    let (emu, version, _) = setup();
    emu.seed_function("app-kept", 1);
    let kept = "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: app-kept\nspec:\n  reservedConcurrency: 1\n";
    let scaled = manifest("app-new", &version, "  deletionPolicy: delete\n")
        + "      provisionedConcurrency: 1\n      autoscaling: {minCapacity: 1, maxCapacity: 4, targetUtilization: 0.5}\n";
    let dir = manifests(&[("new.yaml", &scaled), ("kept.yaml", kept)]);
    let daemon = Daemon::start(&emu, path(&dir), &["--resync-interval", "1h"]);
    eventually("created and Synced", MINUTE, || async { daemon.manifest("app-new")["sync"] == "Synced" }).await;
    let scaling = emu.scaling().await;
    let targets = || async {
        let ns = aws_sdk_applicationautoscaling::types::ServiceNamespace::Lambda;
        scaling.describe_scalable_targets().service_namespace(ns).send().await.unwrap().scalable_targets().len()
    };
    assert_eq!(targets().await, 1);
    std::fs::remove_file(dir.path().join("new.yaml")).unwrap();
    let lambda = emu.lambda().await;
    eventually("the created function is deleted", MINUTE, || async {
        lambda.get_function().function_name("app-new").send().await.is_err()
    })
    .await;
    assert_eq!(targets().await, 0, "a scalable target outlives the function it scaled");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_created_by_tag_forged_on_a_function_whose_manifest_never_said_create_does_not_make_its_removal_delete_it() {
    let (emu, _, _) = setup();
    emu.seed_function("app-kept", 1);
    let kept = "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: app-kept\nspec:\n  reservedConcurrency: 1\n";
    let adopted = "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: app-seeded\nspec:\n  deletionPolicy: delete\n  reservedConcurrency: 2\n";
    let lambda = emu.lambda().await;
    let arn = lambda
        .get_function()
        .function_name("app-seeded")
        .send()
        .await
        .unwrap()
        .configuration()
        .unwrap()
        .function_arn()
        .unwrap()
        .to_string();
    // Anyone allowed lambda:TagResource on the function.
    lambda.tag_resource().resource(&arn).tags("lambda-reconciler.io/created-by", "app-seeded").send().await.unwrap();
    let dir = manifests(&[("seeded.yaml", adopted), ("kept.yaml", kept)]);
    let daemon = Daemon::start(&emu, path(&dir), &["--resync-interval", "1h"]);
    eventually("Synced", MINUTE, || async { daemon.manifest("app-seeded")["sync"] == "Synced" }).await;
    std::fs::remove_file(dir.path().join("seeded.yaml")).unwrap();
    eventually("the removal handled", MINUTE, || async {
        daemon.log_text().contains("removed manifest's configuration deleted")
    })
    .await;
    assert!(lambda.get_function().function_name("app-seeded").send().await.is_ok(), "never created by the controller");
}
