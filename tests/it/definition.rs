//! The function's definition (runtime, handler, execution role): validated, sent in the one
//! UpdateFunctionConfiguration, its drift seen, exported; AWS's refusals of each in the emulator.

use std::time::Duration;

use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::common::daemon::{Daemon, Webhook};
use crate::common::*;

const MINUTE: Duration = Duration::from_secs(60);

fn manifest(name: &str, body: &str) -> String {
    format!("apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: {name}\nspec:\n{body}")
}

fn config_writes(emu: &Emulator) -> usize {
    emu.write_calls().iter().filter(|w| w.contains("/configuration")).count()
}

#[test]
fn a_bad_runtime_handler_or_role_is_reported_with_file_line_and_field_all_at_once() {
    let dir = manifests(&[(
        "bad.yaml",
        &manifest(
            "app-bad",
            "  runtime: python9\n  handler: app handler\n  executionRole: arn:aws:iam::123456789012:user/app\n",
        ),
    )]);
    let run = Emulator::unstarted(1).run(&["validate", "-m", path(&dir)]).expect(1);
    for needle in [
        "bad.yaml:6:3: spec.runtime: `python9` is not a Lambda runtime",
        "bad.yaml:7:3: spec.handler: `app handler` is not a handler (1-128 characters, no whitespace)",
        "bad.yaml:8:3: spec.executionRole: `arn:aws:iam::123456789012:user/app` is not an IAM role ARN",
    ] {
        assert!(run.all().contains(needle), "{needle} in {}", run.all());
    }
}

#[test]
fn role_is_refused_with_a_hint_that_the_execution_role_is_execution_role() {
    let dir = manifests(&[("r.yaml", &manifest("app-r", "  role: arn:aws:iam::123456789012:role/app\n"))]);
    let run = Emulator::unstarted(1).run(&["validate", "-m", path(&dir)]).expect(1);
    assert!(
        run.all().contains("spec.role: unknown field `role`: the function's execution role is `executionRole`"),
        "{}",
        run.all()
    );
}

#[tokio::test]
async fn runtime_handler_and_role_go_out_in_one_update_and_are_then_in_sync_and_exported() {
    let emu = Emulator::start();
    let f = "app-def";
    emu.seed_function(f, 1);
    let role = emu.seed_role("123456789012", "app-def-exec");
    let body = format!("  runtime: python3.13\n  handler: app.main\n  executionRole: {role}\n  memorySize: 512\n");
    let dir = manifests(&[("f.yaml", &manifest(f, &body))]);
    let plan = emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(2);
    assert!(plan.stdout.contains("~ runtime: python3.12 → python3.13"), "{}", plan.stdout);
    emu.clear_requests();
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    assert_eq!(config_writes(&emu), 1, "{:?}", emu.write_calls());
    let c = emu.lambda().await.get_function_configuration().function_name(f).send().await.unwrap();
    assert_eq!(
        (c.runtime().map(|r| r.as_str()), c.handler(), c.role()),
        (Some("python3.13"), Some("app.main"), Some(role.as_str()))
    );
    emu.clear_requests();
    emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(0);
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    assert_eq!(emu.write_calls(), Vec::<String>::new(), "no write when nothing differs");

    let export = emu.run(&["export", "--function", f]).expect(0);
    for field in ["runtime: python3.13", "handler: app.main", &format!("executionRole: \"{role}\"")] {
        assert!(export.stdout.contains(field), "{field} in {}", export.stdout);
    }
    let adopted = manifests(&[("f.yaml", &export.stdout)]);
    emu.run(&["plan", "-m", path(&adopted), "--detailed-exitcode"]).expect(0);
}

#[tokio::test]
async fn a_handler_changed_outside_git_is_alerted_under_alert_and_put_back_under_correct() {
    let emu = Emulator::start();
    emu.seed_function("app-fixme", 1);
    emu.seed_function("app-watchme", 1);
    let hook = Webhook::start("T0KEN-def");
    let dir = manifests(&[
        ("fixme.yaml", &manifest("app-fixme", "  handler: app.main\n")),
        ("watchme.yaml", &manifest("app-watchme", "  driftPolicy: alert\n  handler: app.main\n")),
    ]);
    let daemon = Daemon::start(&emu, path(&dir), &["--resync-interval", "300ms", "--alert-webhook", &hook.url]);
    daemon.wait_ready().await;
    let lambda = emu.lambda().await;
    let handler = |f: &'static str| {
        let lambda = lambda.clone();
        async move {
            let c = lambda.get_function_configuration().function_name(f).send().await.unwrap();
            c.handler().unwrap_or_default().to_string()
        }
    };
    for f in ["app-fixme", "app-watchme"] {
        eventually("synced", MINUTE, || async { daemon.manifest(f)["sync"] == "Synced" }).await;
        assert_eq!(handler(f).await, "app.main");
    }
    for f in ["app-fixme", "app-watchme"] {
        eventually("idle", MINUTE, || async {
            lambda.update_function_configuration().function_name(f).handler("outside.main").send().await.is_ok()
        })
        .await;
    }
    let alert = || {
        hook.alerts()
            .into_iter()
            .find(|a| a["kind"] == "Drift" && a["function"] == "app-watchme" && a["field"] == "handler")
    };
    eventually("alert for watchme", MINUTE, || async { alert().is_some() }).await;
    eventually("fixme's handler put back", MINUTE, || async { handler("app-fixme").await == "app.main" }).await;
    assert_eq!(alert().unwrap()["action"], "none");
    assert_eq!(handler("app-watchme").await, "outside.main", "alert leaves the drift in place");
}

#[tokio::test]
async fn the_emulator_refuses_a_bad_runtime_handler_or_role_as_aws_does() {
    let emu = Emulator::start();
    let f = "app-rules";
    emu.seed_function(f, 1);
    let lambda = emu.lambda().await;
    let update = || lambda.update_function_configuration().function_name(f);
    let e = update().runtime("python9".into()).send().await.unwrap_err();
    assert_eq!(e.code(), Some("ValidationException"), "{e:?}");
    assert!(e.message().unwrap_or_default().contains("at 'runtime'"), "{e:?}");
    let e = update().handler("app handler").send().await.unwrap_err();
    assert_eq!(e.code(), Some("ValidationException"), "{e:?}");
    let e = update().role("arn:aws:iam::123456789012:user/app").send().await.unwrap_err();
    assert_eq!(e.code(), Some("ValidationException"), "{e:?}");
    let e = update().role("arn:aws:iam::123456789012:role/no-such-role").send().await.unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterValueException"), "{e:?}");
    assert_eq!(e.message(), Some("The role defined for the function cannot be assumed by Lambda."));
}

#[tokio::test]
async fn changing_the_execution_role_needs_pass_role_in_the_policy() {
    let emu = Emulator::start();
    let f = "app-pass";
    emu.seed_function(f, 1);
    let role = emu.seed_role("123456789012", "app-pass-exec");
    let shipped = std::fs::read_to_string(format!("{}/manifests/deploy/iam/policy.json", env!("CARGO_MANIFEST_DIR")));
    let without = shipped.unwrap().replace("\"iam:PassRole\"", "\"iam:GetRole\"");
    let policy = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(policy.path(), without).unwrap();
    emu.configure(&format!(r#"{{"principals": {{"AKIDTEST": {:?}}}}}"#, policy.path()));
    let dir = manifests(&[("f.yaml", &manifest(f, &format!("  executionRole: {role}\n")))]);
    let run = emu.run(&["apply", "-m", path(&dir)]).expect(1);
    assert!(run.all().contains("iam:PassRole"), "{}", run.all());
    let shipped = format!("{}/manifests/deploy/iam/policy.json", env!("CARGO_MANIFEST_DIR"));
    emu.configure(&format!(r#"{{"principals": {{"AKIDTEST": {shipped:?}}}}}"#));
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    let c = emu.lambda().await.get_function_configuration().function_name(f).send().await.unwrap();
    assert_eq!(c.role(), Some(role.as_str()));
}

fn seed_vpc(emu: &Emulator, subnets: usize) -> (Vec<String>, String) {
    emu.seed_vpc(subnets)
}

const ACCESS_POINT: &str = "arn:aws:elasticfilesystem:ap-northeast-1:123456789012:access-point/fsap-0123456789abcdef0";

#[test]
fn snap_start_vpc_and_file_system_rules_are_each_reported_at_validate() {
    let subnets: Vec<String> = (0..17).map(|i| format!("subnet-{i:02}")).collect();
    let snap = format!(
        "  runtime: nodejs22.x\n  snapStart: PublishedVersions\n  ephemeralStorage: 1024\n  vpcConfig: {{subnetIds: [subnet-a], securityGroupIds: [sg-a]}}\n  fileSystemConfigs: [{{arn: {ACCESS_POINT}, localMountPath: /mnt/data}}]\n  aliases:\n    live: {{functionVersion: \"1\", provisionedConcurrency: 2}}\n"
    );
    let vpc = format!(
        "  vpcConfig: {{subnetIds: [{}], securityGroupIds: [sg-a, sg-b, sg-c, sg-d, sg-e, sg-f, Sg-x]}}\n",
        subnets.join(", ")
    );
    let efs = "  vpcConfig: null\n  fileSystemConfigs: [{arn: arn:aws:elasticfilesystem:ap-northeast-1:123456789012:file-system/fs-1, localMountPath: /data}]\n  imageConfig: {command: [app.handler]}\n  code: {s3: {bucket: app-code, key: fn.zip, objectVersion: \"1\"}}\n";
    let dir = manifests(&[
        ("snap.yaml", &manifest("app-snap", &snap)),
        ("vpc.yaml", &manifest("app-vpc", &vpc)),
        ("efs.yaml", &manifest("app-efs", efs)),
        ("half.yaml", &manifest("app-half", "  vpcConfig: {subnetIds: [subnet-a]}\n")),
    ]);
    let run = Emulator::unstarted(1).run(&["validate", "-m", path(&dir)]).expect(1);
    for needle in [
        "snap.yaml:7:3: spec.snapStart: nodejs22.x is not supported for SnapStart",
        "spec.snapStart: SnapStart does not support ephemeral storage greater than 512 MB",
        "spec.snapStart: SnapStart does not support Amazon EFS",
        "spec.snapStart: SnapStart does not support provisioned concurrency (aliases.live.provisionedConcurrency)",
        "vpc.yaml:6:15: spec.vpcConfig.subnetIds: 17 subnets, over Lambda's 16",
        "spec.vpcConfig.securityGroupIds: 7 security groups, over Lambda's 5",
        "spec.vpcConfig.securityGroupIds[6]: `Sg-x` is not a security group id",
        "efs.yaml:7:3: spec.fileSystemConfigs: an EFS file system needs a VPC",
        "spec.fileSystemConfigs[0].arn: `arn:aws:elasticfilesystem:ap-northeast-1:123456789012:file-s…` is not an EFS access point ARN",
        "spec.fileSystemConfigs[0].localMountPath: `/data` is not /mnt/NAME",
        "spec.imageConfig: only for image functions",
        "half.yaml:6:3: spec.vpcConfig: subnetIds and securityGroupIds go together",
    ] {
        assert!(run.all().contains(needle), "{needle} in {}", run.all());
    }
}

#[tokio::test]
async fn a_vpc_change_waits_out_in_progress_then_publishes_and_null_disconnects() {
    let emu = Emulator::start();
    let f = "app-net";
    emu.seed_function(f, 1);
    let (subnets, sg) = seed_vpc(&emu, 2);
    emu.configure(r#"{"vpc_update_seconds": 1.5}"#);
    let body = format!(
        "  publish: onChange\n  runtime: python3.12\n  snapStart: PublishedVersions\n  vpcConfig: {{subnetIds: [{}, {}], securityGroupIds: [{sg}]}}\n  aliases:\n    live:\n      functionVersion: published\n",
        subnets[1], subnets[0]
    );
    let dir = manifests(&[("f.yaml", &manifest(f, &body))]);
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    let lambda = emu.lambda().await;
    let alias = lambda.get_alias().function_name(f).name("live").send().await.unwrap();
    let version = alias.function_version().unwrap().to_string();
    let v = lambda.get_function_configuration().function_name(f).qualifier(&version).send().await.unwrap();
    let vpc = v.vpc_config().unwrap();
    let mut live = vpc.subnet_ids().to_vec();
    live.sort();
    let mut want = subnets.clone();
    want.sort();
    assert_eq!((live, vpc.security_group_ids()), (want, [sg.clone()].as_slice()));
    assert!(vpc.vpc_id().is_some_and(|id| id.starts_with("vpc-")), "{vpc:?}");
    let snap = v.snap_start().unwrap();
    assert_eq!(
        (snap.apply_on().map(|a| a.as_str()), snap.optimization_status().map(|o| o.as_str())),
        (Some("PublishedVersions"), Some("On"))
    );
    let latest = lambda.get_function_configuration().function_name(f).send().await.unwrap();
    assert_eq!(latest.snap_start().unwrap().optimization_status().map(|o| o.as_str()), Some("Off"));
    // The lists are sets: their order in git is not a difference.
    emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(0);

    let export = emu.run(&["export", "--function", f]).expect(0);
    assert!(
        export.stdout.contains("vpcConfig:") && export.stdout.contains("snapStart: PublishedVersions"),
        "{}",
        export.stdout
    );
    let adopted = manifests(&[("f.yaml", &export.stdout)]);
    emu.run(&["plan", "-m", path(&adopted), "--detailed-exitcode"]).expect(0);

    let off = body.replace(
        &format!("vpcConfig: {{subnetIds: [{}, {}], securityGroupIds: [{sg}]}}", subnets[1], subnets[0]),
        "vpcConfig: null",
    );
    let dir = manifests(&[("f.yaml", &manifest(f, &off))]);
    let plan = emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(2);
    assert!(plan.stdout.contains("- vpcConfig"), "{}", plan.stdout);
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    let latest = lambda.get_function_configuration().function_name(f).send().await.unwrap();
    assert!(latest.vpc_config().is_none_or(|v| v.subnet_ids().is_empty()), "{latest:?}");
    emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(0);
}

async fn image_function(emu: &Emulator, f: &str) {
    emu.seed_image("app", "v1", &format!("image of {f}"), Some(f));
}

#[tokio::test]
async fn an_image_function_takes_image_config_and_its_handler_is_refused_before_any_write() {
    let emu = Emulator::start();
    let f = "app-image";
    image_function(&emu, f).await;
    let dir =
        manifests(&[("f.yaml", &manifest(f, "  imageConfig: {command: [app.handler], workingDirectory: /app}\n"))]);
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    let lambda = emu.lambda().await;
    let c = lambda.get_function_configuration().function_name(f).send().await.unwrap();
    let image = c.image_config_response().and_then(|r| r.image_config()).unwrap();
    assert_eq!((image.command(), image.working_directory()), (["app.handler".to_string()].as_slice(), Some("/app")));
    emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(0);

    let dir = manifests(&[("f.yaml", &manifest(f, "  handler: app.main\n  memorySize: 512\n"))]);
    emu.clear_requests();
    let plan = emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(2);
    assert!(plan.stdout.contains("spec.handler: not for an image function"), "{}", plan.stdout);
    emu.run(&["apply", "-m", path(&dir)]);
    assert_eq!(config_writes(&emu), 0, "{:?}", emu.write_calls());
}

#[tokio::test]
async fn the_emulator_refuses_vpc_file_system_snap_start_and_image_config_as_aws_does() {
    let emu = Emulator::start();
    let f = "app-layout";
    emu.seed_function(f, 1);
    let (subnets, sg) = seed_vpc(&emu, 1);
    let lambda = emu.lambda().await;
    let update = || lambda.update_function_configuration().function_name(f);
    let vpc = |s: Vec<String>, g: Vec<String>| {
        aws_sdk_lambda::types::VpcConfig::builder().set_subnet_ids(Some(s)).set_security_group_ids(Some(g)).build()
    };
    let seventeen: Vec<String> = (0..17).map(|i| format!("subnet-{i}")).collect();
    let e = update().vpc_config(vpc(seventeen, vec![sg.clone()])).send().await.unwrap_err();
    assert_eq!(e.code(), Some("ValidationException"), "{e:?}");
    let e = update().vpc_config(vpc(subnets.clone(), vec![])).send().await.unwrap_err();
    assert_eq!(e.message(), Some("SubnetIds and SecurityIds must coexist or be both empty list."), "{e:?}");
    let e = update().vpc_config(vpc(vec!["subnet-0nothere".into()], vec![sg.clone()])).send().await.unwrap_err();
    assert!(e.message().unwrap_or_default().contains("InvalidSubnetID.NotFound"), "{e:?}");
    let fs = aws_sdk_lambda::types::FileSystemConfig::builder()
        .arn(ACCESS_POINT)
        .local_mount_path("/mnt/data")
        .build()
        .unwrap();
    let e = update().file_system_configs(fs.clone()).send().await.unwrap_err();
    assert!(e.message().unwrap_or_default().starts_with("Function must be configured to execute in a VPC"), "{e:?}");
    let snap = aws_sdk_lambda::types::SnapStart::builder()
        .apply_on(aws_sdk_lambda::types::SnapStartApplyOn::PublishedVersions)
        .build();
    let e = update().runtime("nodejs22.x".into()).snap_start(snap.clone()).send().await.unwrap_err();
    assert_eq!(e.message(), Some("nodejs22.x is not supported for SnapStart enabled functions."), "{e:?}");
    let big = aws_sdk_lambda::types::EphemeralStorage::builder().size(1024).build().unwrap();
    let e = update().ephemeral_storage(big).snap_start(snap).send().await.unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterValueException"), "{e:?}");
    let image = aws_sdk_lambda::types::ImageConfig::builder().command("app.handler").build();
    let e = update().image_config(image).send().await.unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterValueException"), "{e:?}");
    image_function(&emu, "app-layout-image").await;
    let e = lambda.update_function_configuration().function_name("app-layout-image").handler("app.main").send().await;
    let e = e.unwrap_err();
    assert!(e.message().unwrap_or_default().starts_with("Please don't provide Handler or Runtime or Layer"), "{e:?}");

    // A VPC change keeps the function InProgress: a write meanwhile is refused (409).
    emu.configure(r#"{"vpc_update_seconds": 30}"#);
    update().vpc_config(vpc(subnets, vec![sg])).send().await.unwrap();
    let c = lambda.get_function_configuration().function_name(f).send().await.unwrap();
    assert_eq!(c.last_update_status().map(|s| s.as_str()), Some("InProgress"));
    let e = update().memory_size(512).send().await.unwrap_err();
    assert_eq!(e.code(), Some("ResourceConflictException"), "{e:?}");
}

#[tokio::test]
async fn an_efs_mount_goes_out_with_its_vpc_and_removing_the_vpc_under_it_is_blocked() {
    let emu = Emulator::start();
    let f = "app-efs";
    emu.seed_function(f, 1);
    let (subnets, sg) = seed_vpc(&emu, 1);
    let body = format!(
        "  vpcConfig: {{subnetIds: [{}], securityGroupIds: [{sg}]}}\n  fileSystemConfigs: [{{arn: {ACCESS_POINT}, localMountPath: /mnt/data}}]\n",
        subnets[0]
    );
    let dir = manifests(&[("f.yaml", &manifest(f, &body))]);
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    let c = emu.lambda().await.get_function_configuration().function_name(f).send().await.unwrap();
    let fs: Vec<(&str, &str)> = c.file_system_configs().iter().map(|f| (f.arn(), f.local_mount_path())).collect();
    assert_eq!(fs, [(ACCESS_POINT, "/mnt/data")]);
    emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(0);
    let export = emu.run(&["export", "--function", f]).expect(0);
    let adopted = manifests(&[("f.yaml", &export.stdout)]);
    emu.run(&["plan", "-m", path(&adopted), "--detailed-exitcode"]).expect(0);

    // The mount is unmanaged here, but live: AWS refuses to remove the VPC under it.
    let dir = manifests(&[("f.yaml", &manifest(f, "  vpcConfig: null\n"))]);
    let plan = emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(2);
    assert!(plan.stdout.contains("spec.fileSystemConfigs: an EFS file system needs a VPC"), "{}", plan.stdout);
}
