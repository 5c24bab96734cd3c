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
