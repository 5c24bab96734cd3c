//! Resource-based policy statements: added, replaced (remove then add), removed when the manifest
//! drops them; statements the controller does not own are never touched.

use std::collections::BTreeMap;

use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::common::*;

const F: &str = "app-perm";

fn manifest(permissions: &str) -> String {
    format!(
        "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: {F}\nspec:\n  aliases:\n    prod:\n      functionVersion: \"2\"\n  permissions:\n{permissions}"
    )
}

/// Statement id → the whole statement, of `qualifier`'s policy.
async fn statements(emu: &Emulator, qualifier: Option<&str>) -> BTreeMap<String, serde_json::Value> {
    let res =
        emu.lambda().await.get_policy().function_name(F).set_qualifier(qualifier.map(str::to_string)).send().await;
    let Ok(out) = res else { return BTreeMap::new() };
    let doc: serde_json::Value = serde_json::from_str(out.policy().unwrap()).unwrap();
    doc["Statement"].as_array().unwrap().iter().map(|s| (s["Sid"].as_str().unwrap().to_string(), s.clone())).collect()
}

#[tokio::test]
async fn statements_are_added_replaced_and_removed_and_foreign_ones_are_left_alone() {
    let emu = Emulator::start();
    emu.seed_function(F, 2);
    let lambda = emu.lambda().await;
    let foreign = lambda.add_permission().function_name(F).statement_id("manual-s3").action("lambda:InvokeFunction");
    foreign.principal("s3.amazonaws.com").send().await.unwrap();
    let api = format!("arn:aws:execute-api:{REGION}:123456789012:abc123/*/GET/orders");
    let both = format!(
        "    apigw:\n      qualifier: prod\n      principal: apigateway.amazonaws.com\n      sourceArn: {api}\n    cross:\n      principal: \"111122223333\"\n"
    );
    let dir = manifests(&[("f.yaml", &manifest(&both))]);
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    let prod = statements(&emu, Some("prod")).await;
    assert_eq!(prod["lambda-reconciler-apigw"]["Condition"]["ArnLike"]["AWS:SourceArn"], api.as_str());
    assert_eq!(prod["lambda-reconciler-apigw"]["Principal"]["Service"], "apigateway.amazonaws.com");
    let unqualified = statements(&emu, None).await;
    assert_eq!(unqualified["lambda-reconciler-cross"]["Principal"]["AWS"], "arn:aws:iam::111122223333:root");
    assert!(unqualified.contains_key("manual-s3"));
    emu.clear_requests();
    emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(0);
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    assert_eq!(emu.write_calls(), Vec::<String>::new(), "no write when nothing differs");

    let edited = both.replace("GET/orders", "POST/orders");
    std::fs::write(dir.path().join("f.yaml"), manifest(&edited)).unwrap();
    let plan = emu.run(&["plan", "-m", path(&dir)]).expect(0);
    assert!(plan.stdout.contains("~ permissions.apigw:"), "{}", plan.stdout);
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    let prod = statements(&emu, Some("prod")).await;
    assert!(prod["lambda-reconciler-apigw"]["Condition"]["ArnLike"]["AWS:SourceArn"]
        .as_str()
        .unwrap()
        .ends_with("POST/orders"));

    let only_apigw = edited.split("    cross:").next().unwrap().to_string();
    std::fs::write(dir.path().join("f.yaml"), manifest(&only_apigw)).unwrap();
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    let unqualified = statements(&emu, None).await;
    assert!(!unqualified.contains_key("lambda-reconciler-cross"), "{unqualified:?}");
    assert!(unqualified.contains_key("manual-s3"), "a statement the controller does not own stays");
}

#[tokio::test]
async fn the_emulator_keeps_each_qualifiers_policy_apart_and_refuses_a_duplicate_statement_id() {
    let emu = Emulator::start();
    emu.seed_function(F, 2);
    let lambda = emu.lambda().await;
    lambda.create_alias().function_name(F).name("prod").function_version("2").send().await.unwrap();
    let add = || {
        lambda
            .add_permission()
            .function_name(F)
            .qualifier("prod")
            .statement_id("s1")
            .action("lambda:InvokeFunction")
            .principal("apigateway.amazonaws.com")
    };
    add().send().await.unwrap();
    // AWS: "The statement id (s1) provided already exists."
    assert_eq!(add().send().await.unwrap_err().code(), Some("ResourceConflictException"));
    assert!(statements(&emu, Some("2")).await.is_empty(), "version 2's policy is not alias prod's");
    let e = lambda.remove_permission().function_name(F).statement_id("s1").send().await.unwrap_err();
    assert_eq!(e.code(), Some("ResourceNotFoundException"), "the unqualified policy has no s1");
    lambda.remove_permission().function_name(F).qualifier("prod").statement_id("s1").send().await.unwrap();
}

#[tokio::test]
async fn an_account_grant_in_the_china_partition_is_stored_there_and_then_in_sync() {
    let emu = Emulator::start();
    let (status, body) =
        emu.admin("POST", "/_ext/seed/function", &format!(r#"{{"region":"cn-north-1","name":"{F}","versions":1}}"#));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("arn:aws-cn:lambda:cn-north-1:"), "{body}");
    let text = format!(
        "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: {F}\nspec:\n  region: cn-north-1\n  permissions:\n    cross:\n      principal: \"111122223333\"\n"
    );
    let dir = manifests(&[("f.yaml", &text)]);
    let plan = emu.run(&["plan", "-m", path(&dir)]).expect(0);
    assert!(plan.stdout.contains("arn:aws-cn:iam::111122223333:root"), "{}", plan.stdout);
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    emu.clear_requests();
    emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(0);
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    assert_eq!(emu.write_calls(), Vec::<String>::new(), "not removed and re-added at every reconcile");
}

/// A manifest whose alias `live` follows the version it publishes, with a statement and a
/// mapping on that alias.
fn publishing(queue: &str) -> String {
    format!(
        "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: {F}\nspec:\n  publish: onChange\n  environment:\n    variables:\n      MODE: a\n  aliases:\n    live:\n      functionVersion: published\n  permissions:\n    api:\n      qualifier: live\n      principal: apigateway.amazonaws.com\n  eventSourceMappings:\n    - source: {queue}\n      qualifier: live\n"
    )
}

/// The write calls AWS accepted (injected faults left out).
fn writes_made(emu: &Emulator) -> usize {
    let injected = emu.requests().into_iter().filter(|r| r["injected"] == true).count();
    emu.write_calls().len() - injected
}

#[tokio::test]
async fn an_alias_on_the_version_published_in_the_same_apply_gets_its_statement_and_mapping_in_that_apply() {
    let emu = Emulator::start();
    emu.seed_function(F, 1);
    let queue = emu.seed_queue("app-perm-orders");
    let dir = manifests(&[("f.yaml", &publishing(&queue))]);
    let plan = emu.run(&["plan", "-m", path(&dir)]).expect(0);
    assert!(plan.stdout.contains("+ permissions.api"), "{}", plan.stdout);
    emu.clear_requests();
    let run = emu.run(&["apply", "-m", path(&dir)]).expect(0);
    assert!(statements(&emu, Some("live")).await.contains_key("lambda-reconciler-api"), "{}", run.all());
    let live = emu.lambda().await.list_event_source_mappings().function_name(format!("{F}:live")).send().await;
    assert_eq!(live.unwrap().event_source_mappings().len(), 1);
    let made = writes_made(&emu);
    assert!(run.stdout.contains(&format!("Apply complete: {made} write call(s).")), "{made}: {}", run.stdout);
    emu.clear_requests();
    emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(0);
}

#[tokio::test]
async fn a_failed_apply_still_counts_every_write_it_made() {
    let emu = Emulator::start();
    emu.seed_function(F, 1);
    let queue = emu.seed_queue("app-perm-orders");
    let dir = manifests(&[("f.yaml", &publishing(&queue))]);
    emu.configure(
        r#"{"fail_next": {"count": 1, "operation": "lambda:AddPermission", "status": 403, "code": "AccessDeniedException"}}"#,
    );
    emu.clear_requests();
    let run = emu.run(&["apply", "-m", path(&dir)]).expect(1);
    let made = writes_made(&emu);
    assert!(made >= 3, "the update, the publish and its tag were made: {:?}", emu.write_calls());
    assert!(run.stdout.contains(&format!("Apply complete: {made} write call(s).")), "{made}: {}", run.stdout);
}
