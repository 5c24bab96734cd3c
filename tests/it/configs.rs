//! User tags, recursive loop detection, runtime management and code signing: AWS's refusals as
//! the emulator models them (called directly through the SDK), then through `apply`, the daemon's
//! drift handling and `export`.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_lambda::types::{RecursiveLoop, UpdateRuntimeOn};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::common::daemon::{Daemon, Webhook};
use crate::common::*;

const MINUTE: Duration = Duration::from_secs(60);
const CSC: &str = "arn:aws:lambda:ap-northeast-1:123456789012:code-signing-config:csc-0123456789abcdef0";
const RUNTIME: &str = "arn:aws:lambda:ap-northeast-1::runtime:0cdcfbdefbc5e7d3343f73c2e2dd3cba";

fn manifest(name: &str, body: &str) -> String {
    format!("apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: {name}\nspec:\n{body}")
}

/// Lets `CSC` exist (moto has no CreateCodeSigningConfig).
fn with_signing_config(emu: &Emulator) {
    emu.configure(&format!(r#"{{"code_signing_configs": ["{CSC}"]}}"#));
}

fn arn(f: &str) -> String {
    format!("arn:aws:lambda:{REGION}:123456789012:function:{f}")
}

async fn tags(emu: &Emulator, f: &str) -> HashMap<String, String> {
    let out = emu.lambda().await.list_tags().resource(arn(f)).send().await.unwrap();
    out.tags().cloned().unwrap_or_default()
}

/// An image function, from an image pushed to the emulator's ECR.
async fn seed_image_function(emu: &Emulator, f: &str) {
    emu.seed_image("app", "v1", &format!("image of {f}"), Some(f));
}

async fn recursion(emu: &Emulator, f: &str) -> String {
    let out = emu.lambda().await.get_function_recursion_config().function_name(f).send().await.unwrap();
    out.recursive_loop().unwrap().as_str().to_string()
}

async fn runtime(emu: &Emulator, f: &str, qualifier: &str) -> (String, Option<String>) {
    let get = emu.lambda().await.get_runtime_management_config().function_name(f).qualifier(qualifier);
    let out = get.send().await.unwrap();
    (out.update_runtime_on().unwrap().as_str().to_string(), out.runtime_version_arn().map(str::to_string))
}

#[tokio::test]
async fn the_emulator_refuses_aws_prefixed_tag_keys_and_more_than_fifty_tags_as_aws_does() {
    let emu = Emulator::start();
    emu.seed_function("rules", 1);
    let lambda = emu.lambda().await;
    let e = lambda.tag_resource().resource(arn("rules")).tags("AWS:owner", "me").send().await.unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterValueException"), "{e:?}");
    emu.admin(
        "POST",
        "/_ext/seed/tags",
        &format!(r#"{{"region":"{REGION}","name":"rules","tags":{{"aws:cloudformation:stack-name":"s"}}}}"#),
    );
    let e = lambda.untag_resource().resource(arn("rules")).tag_keys("aws:cloudformation:stack-name").send().await;
    assert_eq!(e.unwrap_err().code(), Some("InvalidParameterValueException"));
    // 50 tags besides AWS's own are accepted; a 51st is refused.
    let fifty: HashMap<String, String> = (0..50).map(|i| (format!("k{i}"), "v".to_string())).collect();
    lambda.tag_resource().resource(arn("rules")).set_tags(Some(fifty)).send().await.unwrap();
    let e = lambda.tag_resource().resource(arn("rules")).tags("k50", "v").send().await.unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterValueException"), "{e:?}");
    assert!(e.message().unwrap_or_default().contains("tag limit"), "{e:?}");
}

#[tokio::test]
async fn the_emulator_holds_runtime_management_to_manual_with_an_arn_and_to_zip_functions() {
    let emu = Emulator::start();
    emu.seed_function("rules", 1);
    seed_image_function(&emu, "rules-image").await;
    let lambda = emu.lambda().await;
    let put = |f: &str, mode: UpdateRuntimeOn, arn: Option<&str>| {
        lambda
            .put_runtime_management_config()
            .function_name(f)
            .update_runtime_on(mode)
            .set_runtime_version_arn(arn.map(str::to_string))
            .send()
    };
    let e = put("rules", UpdateRuntimeOn::Manual, None).await.unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterValueException"), "{e:?}");
    let e = put("rules", UpdateRuntimeOn::Auto, Some(RUNTIME)).await.unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterValueException"), "{e:?}");
    let e = put("rules-image", UpdateRuntimeOn::FunctionUpdate, None).await.unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterValueException"), "{e:?}");
    let e = put("rules", UpdateRuntimeOn::from("Sometimes"), None).await.unwrap_err();
    assert_eq!(e.code(), Some("ValidationException"), "{e:?}");
    put("rules", UpdateRuntimeOn::Manual, Some(RUNTIME)).await.unwrap();
    assert_eq!(runtime(&emu, "rules", "$LATEST").await, ("Manual".to_string(), Some(RUNTIME.to_string())));
    // Like every write, refused while an update is in progress.
    lambda.update_function_configuration().function_name("rules").timeout(31).send().await.unwrap();
    let e = lambda.put_function_recursion_config().function_name("rules").recursive_loop(RecursiveLoop::Allow).send();
    assert_eq!(e.await.unwrap_err().code(), Some("ResourceConflictException"));
}

#[tokio::test]
async fn the_emulator_refuses_code_signing_on_an_image_and_an_unknown_configuration() {
    let emu = Emulator::start();
    emu.seed_function("rules", 1);
    seed_image_function(&emu, "rules-image").await;
    let lambda = emu.lambda().await;
    let put = |f: &str| lambda.put_function_code_signing_config().function_name(f).code_signing_config_arn(CSC).send();
    assert_eq!(put("rules").await.unwrap_err().code(), Some("CodeSigningConfigNotFoundException"));
    with_signing_config(&emu);
    assert_eq!(put("rules-image").await.unwrap_err().code(), Some("InvalidParameterValueException"));
    put("rules").await.unwrap();
    let got = lambda.get_function_code_signing_config().function_name("rules").send().await.unwrap();
    assert_eq!(got.code_signing_config_arn(), CSC);
    lambda.delete_function_code_signing_config().function_name("rules").send().await.unwrap();
    let got = lambda.get_function_code_signing_config().function_name("rules").send().await.unwrap();
    assert_eq!(got.code_signing_config_arn(), "");
}

#[tokio::test]
async fn an_empty_tag_set_removes_the_user_tags_and_never_the_controllers_or_aws() {
    let emu = Emulator::start();
    let f = "app-tags";
    emu.seed_function(f, 1);
    emu.admin(
        "POST",
        "/_ext/seed/tags",
        &format!(r#"{{"region":"{REGION}","name":"{f}","tags":{{"aws:cloudformation:stack-name":"s","team":"old"}}}}"#),
    );
    let body = "  publish: onChange\n  memorySize: 256\n  tags: {team: payments, cost-center: 42}\n";
    let dir = manifests(&[("f.yaml", &manifest(f, body))]);
    let plan = emu.run(&["plan", "-m", path(&dir)]).expect(0);
    assert!(plan.stdout.contains("tags.team") && plan.stdout.contains("tags.cost-center"), "{}", plan.stdout);
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    let live = tags(&emu, f).await;
    assert_eq!((live["team"].as_str(), live["cost-center"].as_str()), ("payments", "42"));
    assert!(live.contains_key("lambda-reconciler.io/published"), "{live:?}");
    emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(0);

    std::fs::write(dir.path().join("f.yaml"), manifest(f, "  publish: onChange\n  memorySize: 256\n  tags: {}\n"))
        .unwrap();
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    let live = tags(&emu, f).await;
    assert!(!live.contains_key("team") && !live.contains_key("cost-center"), "{live:?}");
    assert_eq!(live.get("aws:cloudformation:stack-name").map(String::as_str), Some("s"), "{live:?}");
    for kept in ["lambda-reconciler.io/published", "lambda-reconciler.io/generation"] {
        assert!(live.contains_key(kept), "{kept} removed: {live:?}");
    }
    emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(0);
}

#[tokio::test]
async fn runtime_management_is_put_before_the_publish_so_the_new_version_carries_it() {
    let emu = Emulator::start();
    let f = "app-runtime";
    emu.seed_function(f, 1);
    let body = format!(
        "  publish: onChange\n  memorySize: 512\n  recursiveLoop: Allow\n  runtimeManagement: {{updateRuntimeOn: Manual, runtimeVersionArn: \"{RUNTIME}\"}}\n  aliases:\n    live: {{functionVersion: published}}\n"
    );
    let dir = manifests(&[("f.yaml", &manifest(f, &body))]);
    emu.clear_requests();
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    let writes = emu.write_calls();
    let at =
        |needle: &str| writes.iter().position(|w| w.contains(needle)).unwrap_or_else(|| panic!("{needle}: {writes:?}"));
    assert!(at("/runtime-management-config") < at("/versions"), "{writes:?}");
    let alias = emu.lambda().await.get_alias().function_name(f).name("live").send().await.unwrap();
    let version = alias.function_version().unwrap().to_string();
    assert_ne!(version, "1", "a new version was published");
    let pinned = ("Manual".to_string(), Some(RUNTIME.to_string()));
    assert_eq!(runtime(&emu, f, &version).await, pinned, "the published version carries the runtime");
    assert_eq!(runtime(&emu, f, "1").await.0, "Auto");
    assert_eq!(recursion(&emu, f).await, "Allow");
    emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(0);

    // `null`: AWS's defaults again.
    let body = "  publish: onChange\n  memorySize: 512\n  recursiveLoop: null\n  runtimeManagement: null\n";
    std::fs::write(dir.path().join("f.yaml"), manifest(f, body)).unwrap();
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    assert_eq!((recursion(&emu, f).await, runtime(&emu, f, "$LATEST").await.0), ("Terminate".into(), "Auto".into()));
}

#[tokio::test]
async fn code_signing_is_put_before_the_code_and_refused_by_plan_on_an_image_function() {
    let emu = Emulator::start();
    with_signing_config(&emu);
    emu.seed_function("app-signed", 1);
    seed_image_function(&emu, "app-image").await;
    let (v1, _, _) = emu.seed_object("app-code", "fn.zip", "v1");
    let signed = format!(
        "  codeSigningConfigArn: {CSC}\n  code:\n    s3: {{bucket: app-code, key: fn.zip, objectVersion: \"{v1}\"}}\n"
    );
    let dir = manifests(&[("f.yaml", &manifest("app-signed", &signed))]);
    emu.clear_requests();
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    let writes = emu.write_calls();
    let at =
        |needle: &str| writes.iter().position(|w| w.contains(needle)).unwrap_or_else(|| panic!("{needle}: {writes:?}"));
    assert!(at("/code-signing-config") < at("/code "), "{writes:?}");
    emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(0);

    let image = manifests(&[("i.yaml", &manifest("app-image", &format!("  codeSigningConfigArn: {CSC}\n")))]);
    let plan = emu.run(&["plan", "-m", path(&image), "--detailed-exitcode"]).expect(2);
    assert!(plan.all().contains("code signing applies to .zip functions only"), "{}", plan.all());
    emu.clear_requests();
    emu.run(&["apply", "-m", path(&image)]);
    assert!(!emu.write_calls().iter().any(|w| w.contains("/code-signing-config")), "nothing attempted");

    std::fs::write(dir.path().join("f.yaml"), manifest("app-signed", "  codeSigningConfigArn: null\n")).unwrap();
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    let got = emu.lambda().await.get_function_code_signing_config().function_name("app-signed").send().await.unwrap();
    assert_eq!(got.code_signing_config_arn(), "");
}

#[tokio::test]
async fn configurations_and_tags_changed_outside_git_are_alerted_under_alert_and_put_back_under_correct() {
    let emu = Emulator::start();
    emu.seed_function("app-fixme", 1);
    emu.seed_function("app-watchme", 1);
    let hook = Webhook::start("T0KEN-configs");
    let body =
        "  recursiveLoop: Allow\n  runtimeManagement: {updateRuntimeOn: FunctionUpdate}\n  tags: {team: payments}\n";
    let dir = manifests(&[
        ("fixme.yaml", &manifest("app-fixme", body)),
        ("watchme.yaml", &manifest("app-watchme", &format!("  driftPolicy: alert\n{body}"))),
    ]);
    let daemon = Daemon::start(&emu, path(&dir), &["--resync-interval", "300ms", "--alert-webhook", &hook.url]);
    daemon.wait_ready().await;
    for f in ["app-fixme", "app-watchme"] {
        eventually("synced", MINUTE, || async { daemon.manifest(f)["sync"] == "Synced" }).await;
    }
    let lambda = emu.lambda().await;
    for f in ["app-fixme", "app-watchme"] {
        lambda
            .put_function_recursion_config()
            .function_name(f)
            .recursive_loop(RecursiveLoop::Terminate)
            .send()
            .await
            .unwrap();
        let put = lambda.put_runtime_management_config().function_name(f).update_runtime_on(UpdateRuntimeOn::Auto);
        put.send().await.unwrap();
        lambda.tag_resource().resource(arn(f)).tags("team", "someone-else").send().await.unwrap();
    }
    let alerted = |field: &str| {
        hook.alerts().into_iter().any(|a| a["kind"] == "Drift" && a["function"] == "app-watchme" && a["field"] == field)
    };
    for field in ["recursiveLoop", "runtimeManagement", "tags.team"] {
        eventually(&format!("alert for {field}"), MINUTE, || async { alerted(field) }).await;
    }
    eventually("fixme put back", MINUTE, || async {
        recursion(&emu, "app-fixme").await == "Allow"
            && runtime(&emu, "app-fixme", "$LATEST").await.0 == "FunctionUpdate"
            && tags(&emu, "app-fixme").await.get("team").map(String::as_str) == Some("payments")
    })
    .await;
    assert_eq!(recursion(&emu, "app-watchme").await, "Terminate", "alert leaves the drift in place");
    assert_eq!(tags(&emu, "app-watchme").await["team"], "someone-else");
}

#[tokio::test]
async fn export_carries_user_tags_and_non_default_configurations_and_round_trips_through_plan() {
    let emu = Emulator::start();
    with_signing_config(&emu);
    let f = "app-export";
    emu.seed_function(f, 1);
    let lambda = emu.lambda().await;
    lambda.tag_resource().resource(arn(f)).tags("team", "payments").send().await.unwrap();
    lambda.put_function_recursion_config().function_name(f).recursive_loop(RecursiveLoop::Allow).send().await.unwrap();
    let put = lambda.put_runtime_management_config().function_name(f).update_runtime_on(UpdateRuntimeOn::Manual);
    put.runtime_version_arn(RUNTIME).send().await.unwrap();
    lambda.put_function_code_signing_config().function_name(f).code_signing_config_arn(CSC).send().await.unwrap();
    let export = emu.run(&["export", "--function", f]).expect(0);
    for field in ["team: payments", "recursiveLoop: Allow", "updateRuntimeOn: Manual", CSC] {
        assert!(export.stdout.contains(field), "{field}: {}", export.stdout);
    }
    let adopted = manifests(&[("f.yaml", &export.stdout)]);
    emu.run(&["plan", "-m", path(&adopted), "--detailed-exitcode"]).expect(0);
}
