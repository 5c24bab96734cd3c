//! Publish on change: `$LATEST` published as a version when the controller changes it, guarded
//! by the revision and code hash it read, and aliases that follow the version it published.

use std::collections::BTreeMap;

use aws_sdk_lambda::types::Environment;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::common::*;

const F: &str = "app-pub";

fn manifest(mode: &str, deployment: &str) -> String {
    format!(
        "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: {F}\nspec:\n  publish: onChange\n  environment:\n    variables:\n      MODE: {mode}\n  aliases:\n    live:\n      functionVersion: published\n{deployment}"
    )
}

async fn alias_version(emu: &Emulator) -> String {
    let a = emu.lambda().await.get_alias().function_name(F).name("live").send().await.unwrap();
    a.function_version().unwrap().to_string()
}

/// The variables of `qualifier` (a version number or `$LATEST`).
async fn vars(emu: &Emulator, qualifier: &str) -> BTreeMap<String, String> {
    let c = emu.lambda().await.get_function_configuration().function_name(F).qualifier(qualifier).send().await.unwrap();
    c.environment().and_then(|e| e.variables()).cloned().unwrap_or_default().into_iter().collect()
}

async fn published_tag(emu: &Emulator) -> String {
    let arn = format!("arn:aws:lambda:{REGION}:123456789012:function:{F}");
    let tags = emu.lambda().await.list_tags().resource(arn).send().await.unwrap();
    tags.tags().and_then(|t| t.get("lambda-reconciler.io/published").cloned()).unwrap_or_default()
}

fn mode(m: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("MODE".to_string(), m.to_string())])
}

#[tokio::test]
async fn the_emulator_guards_publish_version_by_revision_id_and_code_sha256_as_aws_does() {
    let emu = Emulator::start();
    emu.seed_function(F, 1);
    let lambda = emu.lambda().await;
    let before = lambda.get_function().function_name(F).send().await.unwrap();
    let (rev, sha) = {
        let c = before.configuration().unwrap();
        (c.revision_id().unwrap().to_string(), c.code_sha256().unwrap().to_string())
    };
    let env = Environment::builder().variables("MODE", "x").build();
    lambda.update_function_configuration().function_name(F).environment(env).send().await.unwrap();
    // AWS: "An update is in progress" while LastUpdateStatus is InProgress.
    let busy = lambda.publish_version().function_name(F).send().await.unwrap_err();
    assert_eq!(busy.code(), Some("ResourceConflictException"), "{busy:?}");
    eventually("the update completes", std::time::Duration::from_secs(10), || async {
        let f = emu.lambda().await.get_function().function_name(F).send().await.unwrap();
        f.configuration().unwrap().last_update_status().map(|s| s.as_str()) == Some("Successful")
    })
    .await;
    let now = lambda.get_function().function_name(F).send().await.unwrap();
    let new_rev = now.configuration().unwrap().revision_id().unwrap().to_string();
    assert_ne!(new_rev, rev, "a configuration update changes $LATEST's RevisionId");
    let stale = lambda.publish_version().function_name(F).revision_id(&rev).send().await.unwrap_err();
    assert_eq!(stale.code(), Some("PreconditionFailedException"), "{stale:?}");
    let wrong = lambda.publish_version().function_name(F).revision_id(&new_rev).code_sha256("00").send().await;
    assert_eq!(wrong.unwrap_err().code(), Some("InvalidParameterValueException"));
    let v = lambda.publish_version().function_name(F).revision_id(&new_rev).code_sha256(&sha).send().await.unwrap();
    assert_eq!(v.version(), Some("2"));
    assert_eq!(vars(&emu, "2").await, mode("x"));
}

#[tokio::test]
async fn an_environment_change_is_published_and_the_following_alias_moves_to_that_version() {
    let emu = Emulator::start();
    emu.seed_function(F, 2);
    let dir = manifests(&[("f.yaml", &manifest("a", ""))]);
    let run = emu.run(&["plan", "-m", path(&dir)]).expect(0);
    assert!(run.stdout.contains("+ publish: a new version of $LATEST"), "{}", run.stdout);
    assert!(run.stdout.contains("~ aliases.live.functionVersion: (none) → (the new version)"), "{}", run.stdout);
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    assert_eq!((alias_version(&emu).await, vars(&emu, "3").await), ("3".to_string(), mode("a")));
    assert!(published_tag(&emu).await.starts_with("3@"), "{}", published_tag(&emu).await);
    emu.clear_requests();
    emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(0);
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    assert_eq!(emu.write_calls(), Vec::<String>::new(), "nothing is published when nothing changed");

    std::fs::write(dir.path().join("f.yaml"), manifest("b", "")).unwrap();
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    assert_eq!(alias_version(&emu).await, "4");
    assert_eq!((vars(&emu, "3").await, vars(&emu, "4").await), (mode("a"), mode("b")));
}

#[tokio::test]
async fn latest_updated_but_never_published_is_published_by_the_next_apply() {
    // As after a crash between UpdateFunctionConfiguration and PublishVersion.
    let emu = Emulator::start();
    emu.seed_function(F, 1);
    let dir = manifests(&[("f.yaml", &manifest("a", ""))]);
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    assert_eq!(alias_version(&emu).await, "2");
    let env = Environment::builder().variables("MODE", "b").build();
    emu.lambda().await.update_function_configuration().function_name(F).environment(env).send().await.unwrap();
    std::fs::write(dir.path().join("f.yaml"), manifest("b", "")).unwrap();
    emu.clear_requests();
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    assert_eq!((alias_version(&emu).await, vars(&emu, "3").await), ("3".to_string(), mode("b")));
    let writes = emu.write_calls();
    assert!(!writes.iter().any(|w| w.contains("/configuration")), "$LATEST was already as desired: {writes:?}");
    assert_eq!(writes.iter().filter(|w| w.ends_with("/versions ")).count(), 1, "{writes:?}");
}

#[tokio::test]
async fn a_published_version_reaches_an_alias_with_a_deployment_by_its_steps() {
    let emu = Emulator::start();
    emu.seed_function(F, 1);
    let lambda = emu.lambda().await;
    lambda.create_alias().function_name(F).name("live").function_version("1").send().await.unwrap();
    let deployment = "      deployment: {steps: [{weight: 25, pause: 1s}]}\n";
    let dir = manifests(&[("f.yaml", &manifest("a", deployment))]);
    let run = emu.run(&["apply", "-m", path(&dir)]).expect(0);
    assert!(run.stderr.contains("rollout to 2 succeeded"), "{}", run.stderr);
    let steps: Vec<String> = emu
        .requests()
        .into_iter()
        .filter(|r| r["method"] == "PUT" && r["path"].as_str().unwrap_or("").ends_with("/aliases/live"))
        .map(|r| r["body"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(steps.len(), 2, "{steps:?}");
    assert!(steps[0].contains("\"2\": 0.25") || steps[0].contains("\"2\":0.25"), "{steps:?}");
    assert_eq!(alias_version(&emu).await, "2");
}

/// A valid empty zip whose comment makes its hash unique (a new deployment package).
fn zip_with_comment(comment: &str) -> Vec<u8> {
    let mut z = b"PK\x05\x06".to_vec();
    z.extend([0u8; 16]);
    z.extend((comment.len() as u16).to_le_bytes());
    z.extend(comment.as_bytes());
    z
}

async fn wait_idle(emu: &Emulator) {
    eventually("the update completes", std::time::Duration::from_secs(10), || async {
        let f = emu.lambda().await.get_function().function_name(F).send().await.unwrap();
        f.configuration().unwrap().last_update_status().map(|s| s.as_str()) == Some("Successful")
    })
    .await;
}

async fn version_count(emu: &Emulator) -> usize {
    emu.lambda().await.list_versions_by_function().function_name(F).send().await.unwrap().versions().len()
}

#[tokio::test]
async fn a_managed_description_publishes_neither_a_code_upload_nor_a_drift_correction() {
    let emu = Emulator::start();
    emu.seed_function(F, 1);
    let spec = manifest("a", "").replace("  publish: onChange\n", "  publish: onChange\n  description: payments\n");
    let dir = manifests(&[("f.yaml", &spec)]);
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    assert_eq!((alias_version(&emu).await, version_count(&emu).await), ("2".to_string(), 3), "$LATEST, 1 and 2");

    // CI uploads code outside git: $LATEST's revision moves, its managed configuration does not.
    let lambda = emu.lambda().await;
    let zip = aws_smithy_types::Blob::new(zip_with_comment("ci build 2"));
    lambda.update_function_code().function_name(F).zip_file(zip).send().await.unwrap();
    wait_idle(&emu).await;
    emu.clear_requests();
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    let writes = emu.write_calls();
    assert!(!writes.iter().any(|w| w.contains("/versions")), "the unreviewed code was published: {writes:?}");
    assert_eq!((alias_version(&emu).await, version_count(&emu).await), ("2".to_string(), 3));

    // Drift put right (back to version 2's configuration) publishes nothing either.
    let env = Environment::builder().variables("MODE", "z").build();
    lambda.update_function_configuration().function_name(F).environment(env).send().await.unwrap();
    wait_idle(&emu).await;
    emu.clear_requests();
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    assert_eq!(vars(&emu, "$LATEST").await, mode("a"));
    let writes = emu.write_calls();
    assert!(!writes.iter().any(|w| w.contains("/versions")), "a drift correction was published: {writes:?}");
    assert_eq!((alias_version(&emu).await, version_count(&emu).await), ("2".to_string(), 3));
}

#[tokio::test]
async fn publishing_a_version_changes_latests_revision_id_as_aws_does() {
    let emu = Emulator::start();
    emu.seed_function(F, 1);
    let lambda = emu.lambda().await;
    let rev = |f: aws_sdk_lambda::operation::get_function::GetFunctionOutput| {
        f.configuration().unwrap().revision_id().unwrap().to_string()
    };
    let before = rev(lambda.get_function().function_name(F).send().await.unwrap());
    let env = Environment::builder().variables("MODE", "x").build();
    lambda.update_function_configuration().function_name(F).environment(env).send().await.unwrap();
    wait_idle(&emu).await;
    let updated = rev(lambda.get_function().function_name(F).send().await.unwrap());
    assert_ne!(updated, before);
    let v = lambda.publish_version().function_name(F).revision_id(&updated).send().await.unwrap();
    assert_ne!(v.revision_id(), Some(updated.as_str()), "a version has a revision of its own");
    let published = rev(lambda.get_function().function_name(F).send().await.unwrap());
    assert_ne!(published, updated, "PublishVersion changes $LATEST's RevisionId");
    // Nothing changed since: AWS answers the same version and $LATEST keeps its revision.
    let again = lambda.publish_version().function_name(F).send().await.unwrap();
    assert_eq!(again.version(), v.version());
    assert_eq!(rev(lambda.get_function().function_name(F).send().await.unwrap()), published);
}

#[tokio::test]
async fn resyncs_after_a_publish_read_the_published_version_once_and_publish_nothing_more() {
    let emu = Emulator::start();
    emu.seed_function(F, 1);
    let dir = manifests(&[("f.yaml", &manifest("a", ""))]);
    let daemon = daemon::Daemon::start(&emu, path(&dir), &["--resync-interval", "300ms"]);
    eventually("version 2 is published", std::time::Duration::from_secs(30), || async {
        published_tag(&emu).await.starts_with("2@")
    })
    .await;
    daemon.wait_reconciles(4.0).await;
    let reads = (emu.requests().into_iter())
        .filter(|r| r["method"] == "GET" && r["path"].as_str().unwrap_or("").ends_with(&format!("/{F}/configuration")))
        .filter(|r| r["query"].as_str().unwrap_or("").contains("Qualifier=2"))
        .count();
    // Version 2 never changes: one read, however often $LATEST's revision moved since.
    assert_eq!(reads, 1, "GetFunctionConfiguration of version 2 per resync");
    assert_eq!((alias_version(&emu).await, version_count(&emu).await), ("2".to_string(), 3), "published once");
}

const DLQ: &str = "arn:aws:sqs:ap-northeast-1:123456789012:app-dlq";

#[tokio::test]
async fn the_emulator_refuses_weights_between_versions_with_different_dead_letter_targets_as_aws_does() {
    let emu = Emulator::start();
    emu.seed_function(F, 1);
    let lambda = emu.lambda().await;
    let dlq = aws_sdk_lambda::types::DeadLetterConfig::builder().target_arn(DLQ).build();
    lambda.update_function_configuration().function_name(F).dead_letter_config(dlq).send().await.unwrap();
    wait_idle(&emu).await;
    assert_eq!(lambda.publish_version().function_name(F).send().await.unwrap().version(), Some("2"));
    let weights = aws_sdk_lambda::types::AliasRoutingConfiguration::builder().additional_version_weights("2", 0.1);
    let create = lambda.create_alias().function_name(F).name("live").function_version("1");
    let refused = create.clone().routing_config(weights.clone().build()).send().await.unwrap_err();
    assert_eq!(refused.code(), Some("InvalidParameterValueException"), "{refused:?}");
    create.send().await.unwrap();
    let update = lambda.update_alias().function_name(F).name("live").routing_config(weights.build());
    let refused = update.send().await.unwrap_err();
    assert_eq!(refused.code(), Some("InvalidParameterValueException"), "{refused:?}");
    assert!(refused.message().unwrap_or("").contains("dead letter"), "{refused:?}");
}

#[tokio::test]
async fn a_dead_letter_change_under_weights_is_blocked_before_any_write_until_the_switch_is_chosen() {
    let emu = Emulator::start();
    emu.seed_function(F, 1);
    emu.lambda().await.create_alias().function_name(F).name("live").function_version("1").send().await.unwrap();
    let steps = "      deployment: {steps: [{weight: 25, pause: 1s}]}\n";
    let with_dlq = |deployment: &str| {
        manifest("a", deployment)
            .replace("  publish: onChange\n", &format!("  publish: onChange\n  deadLetterTarget: {DLQ}\n"))
    };
    let dir = manifests(&[("f.yaml", &with_dlq(steps))]);
    let plan = emu.run(&["plan", "-m", path(&dir)]).expect(0);
    let said = "version 1 has execution role";
    assert!(
        plan.stdout.contains(said) && plan.stdout.contains(&format!("dead-letter target {DLQ}")),
        "{}",
        plan.stdout
    );
    assert!(plan.stdout.contains("onRoleOrDeadLetterChange: switch"), "{}", plan.stdout);
    emu.clear_requests();
    let run = emu.run(&["apply", "-m", path(&dir)]).expect(1);
    assert!(run.stdout.contains("nothing is updated or published"), "{}", run.stdout);
    assert_eq!(emu.write_calls(), Vec::<String>::new(), "nothing is written");
    assert_eq!(version_count(&emu).await, 2, "$LATEST and 1");

    // The operator chooses the switch: all traffic moves at once, without weights.
    let switch = steps.replace("1s}]}", "1s}], onRoleOrDeadLetterChange: switch}");
    std::fs::write(dir.path().join("f.yaml"), with_dlq(&switch)).unwrap();
    emu.clear_requests();
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    assert_eq!(alias_version(&emu).await, "2");
    let weighted = (emu.requests().into_iter())
        .filter(|r| r["method"] == "PUT" && r["path"].as_str().unwrap_or("").ends_with("/aliases/live"))
        .any(|r| r["body"].as_str().unwrap_or("").contains("0.25"));
    assert!(!weighted, "no weights were sent");
    emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(0);
}
