//! Event source mappings: created, updated in place, left alone when unlisted (deleted only with
//! prune), waited on while AWS has them in transition; the emulator's AWS rules.

use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::common::*;

const F: &str = "app-esm";

fn manifest(extra: &str, mappings: &str) -> String {
    format!(
        "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: {F}\nspec:\n{extra}  aliases:\n    live:\n      functionVersion: \"1\"\n  eventSourceMappings:\n{mappings}"
    )
}

async fn mappings(emu: &Emulator, qualifier: &str) -> Vec<aws_sdk_lambda::types::EventSourceMappingConfiguration> {
    let name = if qualifier.is_empty() { F.to_string() } else { format!("{F}:{qualifier}") };
    let out = emu.lambda().await.list_event_source_mappings().function_name(name).send().await.unwrap();
    out.event_source_mappings().to_vec()
}

#[tokio::test]
async fn a_mapping_is_created_updated_in_place_and_an_unlisted_one_left_alone_unless_pruned() {
    let emu = Emulator::start();
    emu.seed_function(F, 1);
    emu.configure(r#"{"esm_settle_seconds": 0.3}"#);
    let orders = emu.seed_queue("app-orders");
    let other = emu.seed_queue("app-other");
    // A mapping the manifest does not list (made by hand).
    emu.lambda().await.create_event_source_mapping().function_name(F).event_source_arn(&other).send().await.unwrap();
    let one = format!(
        "    - source: {orders}\n      qualifier: live\n      batchSize: 20\n      maximumBatchingWindow: 2\n      maximumConcurrency: 5\n      functionResponseTypes: [ReportBatchItemFailures]\n      filters: ['{{\"body\": {{\"kind\": [\"order\"]}}}}']\n"
    );
    let dir = manifests(&[("f.yaml", &manifest("", &one))]);
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    let live = mappings(&emu, "live").await;
    assert_eq!(live.len(), 1, "{live:?}");
    let m = &live[0];
    assert!(m.function_arn().unwrap().ends_with(":app-esm:live"));
    assert_eq!((m.batch_size(), m.maximum_batching_window_in_seconds()), (Some(20), Some(2)));
    assert_eq!(m.scaling_config().and_then(|s| s.maximum_concurrency()), Some(5));
    let uuid = m.uuid().unwrap().to_string();
    // Creating settles; then nothing differs.
    eventually("the mapping settles", std::time::Duration::from_secs(10), || async {
        mappings(&emu, "live").await[0].state() == Some("Enabled")
    })
    .await;
    emu.clear_requests();
    emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(0);
    assert_eq!(emu.write_calls(), Vec::<String>::new());

    std::fs::write(dir.path().join("f.yaml"), manifest("", &one.replace("batchSize: 20", "batchSize: 50"))).unwrap();
    let plan = emu.run(&["plan", "-m", path(&dir)]).expect(0);
    assert!(plan.stdout.contains(".batchSize: 20 → 50"), "{}", plan.stdout);
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    let m = &mappings(&emu, "live").await[0];
    assert_eq!((m.uuid(), m.batch_size()), (Some(uuid.as_str()), Some(50)), "updated in place");
    assert_eq!(mappings(&emu, "").await.len(), 1, "the unlisted mapping stays without prune");

    eventually("the update settles", std::time::Duration::from_secs(10), || async {
        mappings(&emu, "live").await[0].state() == Some("Enabled")
    })
    .await;
    std::fs::write(
        dir.path().join("f.yaml"),
        manifest("  prune: true\n", &one.replace("batchSize: 20", "batchSize: 50")),
    )
    .unwrap();
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    eventually("the unlisted mapping deleted", std::time::Duration::from_secs(10), || async {
        mappings(&emu, "").await.is_empty()
    })
    .await;
}

#[tokio::test]
async fn a_mapping_in_transition_is_waited_on_and_the_emulator_refuses_writes_to_it_as_aws_does() {
    let emu = Emulator::start();
    emu.seed_function(F, 1);
    emu.configure(r#"{"esm_settle_seconds": 30}"#);
    let orders = emu.seed_queue("app-orders");
    let lambda = emu.lambda().await;
    let created = lambda.create_event_source_mapping().function_name(F).event_source_arn(&orders).send().await.unwrap();
    assert_eq!(created.state(), Some("Creating"));
    let uuid = created.uuid().unwrap();
    // AWS: ResourceInUseException while the mapping is Creating / Updating.
    let e = lambda.update_event_source_mapping().uuid(uuid).batch_size(5).send().await.unwrap_err();
    assert_eq!(e.code(), Some("ResourceInUseException"), "{e:?}");
    // SQS rules: a batch over 10 needs a batching window; streams-only settings refused.
    let e =
        lambda.create_event_source_mapping().function_name(format!("{F}:1")).event_source_arn(&orders).batch_size(50);
    assert_eq!(e.send().await.unwrap_err().code(), Some("InvalidParameterValueException"));
    let e = lambda.create_event_source_mapping().function_name(format!("{F}:1")).event_source_arn(&orders);
    assert_eq!(e.parallelization_factor(2).send().await.unwrap_err().code(), Some("InvalidParameterValueException"));
    let dup = lambda.create_event_source_mapping().function_name(F).event_source_arn(&orders).send().await;
    assert_eq!(dup.unwrap_err().code(), Some("ResourceConflictException"));
    // The controller plans no write while the mapping is in transition, and says so.
    let body = format!("    - source: {orders}\n      batchSize: 5\n");
    let text = format!("apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: {F}\nspec:\n  eventSourceMappings:\n{body}");
    let dir = manifests(&[("f.yaml", &text)]);
    emu.clear_requests();
    let run = emu.run(&["apply", "-m", path(&dir)]).expect(1);
    assert!(run.all().contains("Creating (changes wait until it settles)"), "{}", run.all());
    assert_eq!(emu.write_calls(), Vec::<String>::new());
}

#[tokio::test]
async fn a_batching_window_on_a_fifo_queue_is_refused_by_validate_and_by_the_emulator_as_aws_does() {
    let emu = Emulator::start();
    emu.seed_function(F, 1);
    emu.configure(r#"{"esm_settle_seconds": 0}"#);
    let fifo = emu.seed_queue("app-orders.fifo");
    let body = format!("    - source: {fifo}\n      maximumBatchingWindow: 5\n");
    let dir = manifests(&[("f.yaml", &manifest("", &body))]);
    let run = emu.run(&["validate", "-m", path(&dir)]).expect(1);
    assert!(run.all().contains("f.yaml:11:7: spec.eventSourceMappings[0].maximumBatchingWindow"), "{}", run.all());
    assert!(run.all().contains("FIFO queues do not support a batching window"), "{}", run.all());
    emu.clear_requests();
    emu.run(&["apply", "-m", path(&dir)]).expect(1);
    assert_eq!(emu.write_calls(), Vec::<String>::new(), "refused before any write");
    // AWS (services-sqs-parameters): "Batching window is not supported for FIFO queues".
    let lambda = emu.lambda().await;
    let create = lambda.create_event_source_mapping().function_name(F).event_source_arn(&fifo);
    let e = create.clone().maximum_batching_window_in_seconds(5).send().await.unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterValueException"), "{e:?}");
    assert!(e.message().unwrap_or_default().contains("not supported for FIFO queues"), "{e:?}");
    let uuid = create.send().await.unwrap().uuid().unwrap().to_string();
    eventually("the mapping settles", std::time::Duration::from_secs(10), || async {
        mappings(&emu, "").await[0].state() == Some("Enabled")
    })
    .await;
    let update = lambda.update_event_source_mapping().uuid(&uuid).maximum_batching_window_in_seconds(5);
    assert_eq!(update.send().await.unwrap_err().code(), Some("InvalidParameterValueException"));
    // Without the window the FIFO mapping is written as usual.
    let ok = manifests(&[("f.yaml", &manifest("", &format!("    - source: {fifo}\n      batchSize: 5\n")))]);
    emu.run(&["apply", "-m", path(&ok)]).expect(0);
}

#[tokio::test]
async fn export_carries_mappings_and_owned_statements_and_round_trips_through_plan() {
    let emu = Emulator::start();
    emu.seed_function(F, 1);
    emu.configure(r#"{"esm_settle_seconds": 0.1}"#);
    let orders = emu.seed_queue("app-orders");
    let lambda = emu.lambda().await;
    let foreign = lambda.add_permission().function_name(F).statement_id("manual").action("lambda:InvokeFunction");
    foreign.principal("s3.amazonaws.com").send().await.unwrap();
    let body = format!(
        "    - source: {orders}\n      qualifier: live\n      batchSize: 5\n      functionResponseTypes: [ReportBatchItemFailures]\n  permissions:\n    api:\n      qualifier: live\n      principal: apigateway.amazonaws.com\n"
    );
    let dir = manifests(&[("f.yaml", &manifest("", &body))]);
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    eventually("the mapping settles", std::time::Duration::from_secs(10), || async {
        mappings(&emu, "live").await[0].state() == Some("Enabled")
    })
    .await;
    let export = emu.run(&["export", "--function", F]).expect(0);
    assert!(
        export.stdout.contains("eventSourceMappings:") && export.stdout.contains("batchSize: 5"),
        "{}",
        export.stdout
    );
    assert!(export.stdout.contains("permissions:") && !export.stdout.contains("manual"), "{}", export.stdout);
    assert!(export.stderr.contains("1 resource-policy statement(s) not owned"), "{}", export.stderr);
    let adopted = manifests(&[("f.yaml", &export.stdout)]);
    emu.run(&["plan", "-m", path(&adopted), "--detailed-exitcode"]).expect(0);
}

#[tokio::test]
async fn an_execution_role_without_sqs_permissions_is_a_terminal_error_once_its_propagation_window_ends() {
    use crate::common::daemon::{Daemon, Webhook};
    let emu = Emulator::start();
    emu.seed_function(F, 1);
    let orders = emu.seed_queue("app-orders");
    let bare = emu.seed_role("123456789012", "app-bare-role");
    emu.lambda().await.update_function_configuration().function_name(F).role(&bare).send().await.unwrap();
    let dir = manifests(&[("f.yaml", &manifest("", &format!("    - source: {orders}\n      qualifier: live\n")))]);
    // AWS keeps refusing until the role changes (every retry of the call, then the daemon's).
    let out = emu.run(&["apply", "-m", path(&dir)]).expect(1).all();
    assert!(out.contains("does not have permissions to call ReceiveMessage on SQS"), "{out}");
    let hook = Webhook::start("t");
    let args = ["--resync-interval", "300ms", "--propagation-window", "0s", "--alert-webhook", &hook.url];
    let daemon = Daemon::start(&emu, path(&dir), &args);
    eventually("a terminal error", std::time::Duration::from_secs(60), || async {
        hook.count("TerminalError", F) == 1
    })
    .await;
    daemon.wait_reconciles(1.0).await;
    assert_eq!(hook.count("TerminalError", F), 1, "alerted once while it lasts");
    let alert = hook.alerts().into_iter().find(|a| a["kind"] == "TerminalError").unwrap();
    assert!(alert["message"].as_str().unwrap().contains("ReceiveMessage on SQS"), "{alert}");
    assert_eq!(daemon.manifest(F)["sync"], "Error");
}
