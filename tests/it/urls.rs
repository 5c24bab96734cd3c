//! Function URLs: created, updated and deleted per qualifier with the two statements a public URL
//! needs; a URL on an alias the same apply creates; changes outside git are drift; the emulator
//! refuses what Lambda refuses (the Qualifier pattern, enums, CORS limits, 409 and 404).

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_lambda::types::{Cors, FunctionUrlAuthType, InvokeMode};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::common::daemon::{Daemon, Webhook};
use crate::common::*;

const MINUTE: Duration = Duration::from_secs(60);

fn manifest(name: &str, extra: &str, urls: &str) -> String {
    format!(
        "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: {name}\nspec:\n{extra}  aliases:\n    prod:\n      functionVersion: \"1\"\n  functionUrls:\n{urls}"
    )
}

/// Statement id → statement, of `qualifier`'s policy.
async fn statements(emu: &Emulator, f: &str, qualifier: Option<&str>) -> BTreeMap<String, serde_json::Value> {
    let res =
        emu.lambda().await.get_policy().function_name(f).set_qualifier(qualifier.map(str::to_string)).send().await;
    let Ok(out) = res else { return BTreeMap::new() };
    let doc: serde_json::Value = serde_json::from_str(out.policy().unwrap()).unwrap();
    doc["Statement"].as_array().unwrap().iter().map(|s| (s["Sid"].as_str().unwrap().to_string(), s.clone())).collect()
}

/// The URL's invoke mode on `qualifier`, `None` when there is no URL.
async fn invoke_mode(emu: &Emulator, f: &str, qualifier: &str) -> Option<String> {
    let got = emu.lambda().await.get_function_url_config().function_name(f).qualifier(qualifier).send().await.ok()?;
    got.invoke_mode().map(|m| m.as_str().to_string())
}

#[tokio::test]
async fn a_public_url_is_created_its_invoke_mode_updated_and_its_deletion_removes_both_statements() {
    let emu = Emulator::start();
    let f = "app-url";
    emu.seed_function(f, 1);
    let lambda = emu.lambda().await;
    let foreign = lambda.add_permission().function_name(f).qualifier("prod").statement_id("manual");
    // The alias is created by the first apply; the foreign statement goes on once it exists.
    let public = "    prod: {authType: NONE, cors: {allowOrigins: [\"https://x.example\"], maxAge: 300}}\n";
    let unmanaged = manifests(&[("f.yaml", &manifest(f, "", "").replace("  functionUrls:\n", ""))]);
    emu.run(&["plan", "-m", path(&unmanaged)]).expect(0);
    let url_reads = emu.requests().into_iter().filter(|r| r["path"].as_str().unwrap_or("").contains("/url")).count();
    assert_eq!(url_reads, 0, "no URL read while functionUrls is unmanaged");
    let dir = manifests(&[("f.yaml", &manifest(f, "", public))]);
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    foreign.action("lambda:InvokeFunction").principal("s3.amazonaws.com").send().await.unwrap();
    let url = lambda.get_function_url_config().function_name(f).qualifier("prod").send().await.unwrap();
    assert_eq!(url.auth_type().as_str(), "NONE");
    assert_eq!(url.cors().unwrap().max_age(), Some(300));
    let prod = statements(&emu, f, Some("prod")).await;
    let url_sid = &prod["lambda-reconciler-url"];
    assert_eq!(
        (url_sid["Action"].as_str(), url_sid["Principal"].as_str()),
        (Some("lambda:InvokeFunctionUrl"), Some("*"))
    );
    assert_eq!(url_sid["Condition"]["StringEquals"]["lambda:FunctionUrlAuthType"], "NONE");
    let invoke_sid = &prod["lambda-reconciler-url-invoke"];
    assert_eq!(invoke_sid["Action"], "lambda:InvokeFunction");
    assert_eq!(invoke_sid["Condition"]["Bool"]["lambda:InvokedViaFunctionUrl"], "true");
    emu.clear_requests();
    emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(0);
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    assert_eq!(emu.write_calls(), Vec::<String>::new(), "no write when nothing differs");

    let streaming = public.replace("authType: NONE,", "authType: NONE, invokeMode: RESPONSE_STREAM,");
    std::fs::write(dir.path().join("f.yaml"), manifest(f, "", &streaming)).unwrap();
    let plan = emu.run(&["plan", "-m", path(&dir)]).expect(0);
    assert!(plan.stdout.contains("~ functionUrls.prod:"), "{}", plan.stdout);
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    assert_eq!(invoke_mode(&emu, f, "prod").await.as_deref(), Some("RESPONSE_STREAM"));
    emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(0);

    std::fs::write(dir.path().join("f.yaml"), manifest(f, "", "    prod: null\n")).unwrap();
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    assert_eq!(invoke_mode(&emu, f, "prod").await, None, "the URL is deleted");
    let prod = statements(&emu, f, Some("prod")).await;
    assert_eq!(prod.keys().collect::<Vec<_>>(), ["manual"], "both owned statements go, the foreign one stays");
    emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(0);
}

#[tokio::test]
async fn a_url_on_an_alias_created_in_the_same_apply_comes_after_the_alias_and_exports_round_trip() {
    let emu = Emulator::start();
    let f = "app-url-new";
    emu.seed_function(f, 1);
    let urls = "    prod: {authType: AWS_IAM}\n    $LATEST: {authType: NONE, invokeMode: RESPONSE_STREAM}\n";
    let dir = manifests(&[("f.yaml", &manifest(f, "", urls))]);
    emu.clear_requests();
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    let calls: Vec<String> = emu
        .requests()
        .iter()
        .filter(|r| r["method"] == "POST")
        .map(|r| format!("{} {}", r["path"].as_str().unwrap_or(""), r["query"].as_str().unwrap_or("")))
        .collect();
    let alias = calls.iter().position(|c| c.contains("/aliases")).unwrap();
    let url = calls.iter().position(|c| c.contains("/url ") && c.contains("Qualifier=prod")).unwrap();
    assert!(alias < url, "{calls:?}");
    assert_eq!(invoke_mode(&emu, f, "prod").await.as_deref(), Some("BUFFERED"));
    assert!(statements(&emu, f, Some("prod")).await.is_empty(), "an AWS_IAM URL needs no statement");
    assert_eq!(statements(&emu, f, None).await.len(), 2);
    emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(0);

    let export = emu.run(&["export", "--function", f]).expect(0);
    assert!(export.stdout.contains("functionUrls:") && !export.stdout.contains("url-invoke"), "{}", export.stdout);
    let adopted = manifests(&[("f.yaml", &export.stdout)]);
    emu.run(&["plan", "-m", path(&adopted), "--detailed-exitcode"]).expect(0);
}

#[tokio::test]
async fn a_url_changed_or_deleted_outside_git_is_alerted_under_alert_and_put_back_under_correct() {
    let emu = Emulator::start();
    let hook = Webhook::start("T0KEN-url");
    let public = "    prod: {authType: NONE}\n";
    let dir = manifests(&[
        ("fixme.yaml", &manifest("app-url-fixme", "", public)),
        ("watchme.yaml", &manifest("app-url-watchme", "  driftPolicy: alert\n", public)),
    ]);
    for f in ["app-url-fixme", "app-url-watchme"] {
        emu.seed_function(f, 1);
    }
    let daemon = Daemon::start(&emu, path(&dir), &["--resync-interval", "300ms", "--alert-webhook", &hook.url]);
    daemon.wait_ready().await;
    for f in ["app-url-fixme", "app-url-watchme"] {
        eventually("synced", MINUTE, || async { daemon.manifest(f)["sync"] == "Synced" }).await;
    }
    let lambda = emu.lambda().await;
    let stream = lambda.update_function_url_config().function_name("app-url-watchme").qualifier("prod");
    stream.invoke_mode(InvokeMode::ResponseStream).send().await.unwrap();
    lambda.delete_function_url_config().function_name("app-url-fixme").qualifier("prod").send().await.unwrap();
    let alert = || {
        hook.alerts()
            .into_iter()
            .find(|a| a["kind"] == "Drift" && a["function"] == "app-url-watchme" && a["field"] == "functionUrls.prod")
    };
    eventually("alert for watchme", MINUTE, || async { alert().is_some() }).await;
    eventually("fixme's URL put back", MINUTE, || async {
        invoke_mode(&emu, "app-url-fixme", "prod").await.as_deref() == Some("BUFFERED")
    })
    .await;
    assert_eq!(alert().unwrap()["action"], "none");
    assert_eq!(invoke_mode(&emu, "app-url-watchme", "prod").await.as_deref(), Some("RESPONSE_STREAM"), "left as is");
}

#[tokio::test]
async fn the_emulator_refuses_url_configs_as_lambda_does() {
    let emu = Emulator::start();
    let f = "app-url-rules";
    emu.seed_function(f, 1);
    let lambda = emu.lambda().await;
    lambda.create_alias().function_name(f).name("prod").function_version("1").send().await.unwrap();
    let create = |q: Option<&str>| {
        let c = lambda.create_function_url_config().function_name(f).set_qualifier(q.map(str::to_string));
        c.auth_type(FunctionUrlAuthType::AwsIam)
    };
    // Qualifier pattern ((?!^\d+$)^[0-9a-zA-Z-_]+$): no version number, no $LATEST.
    for q in ["1", "$LATEST"] {
        assert_eq!(create(Some(q)).send().await.unwrap_err().code(), Some("ValidationException"), "{q}");
    }
    assert_eq!(create(Some("nope")).send().await.unwrap_err().code(), Some("ResourceNotFoundException"));
    let bad_auth = create(None).auth_type(FunctionUrlAuthType::from("PUBLIC")).send().await.unwrap_err();
    assert_eq!(bad_auth.code(), Some("ValidationException"), "{bad_auth:?}");
    let bad_mode = create(None).invoke_mode(InvokeMode::from("STREAM")).send().await.unwrap_err();
    assert_eq!(bad_mode.code(), Some("ValidationException"));
    let seven = Cors::builder()
        .set_allow_methods(Some(["GET", "PUT", "POST", "HEAD", "PATCH", "DELETE", "*"].map(String::from).to_vec()));
    for cors in
        [seven.build(), Cors::builder().max_age(86401).build(), Cors::builder().allow_origins("o".repeat(254)).build()]
    {
        let e = create(None).cors(cors).send().await.unwrap_err();
        assert_eq!(e.code(), Some("ValidationException"), "{e:?}");
    }
    // None yet: 404 on Get, Update and Delete.
    let get = lambda.get_function_url_config().function_name(f).send().await.unwrap_err();
    assert_eq!(get.code(), Some("ResourceNotFoundException"));
    let update = lambda.update_function_url_config().function_name(f).send().await.unwrap_err();
    assert_eq!(update.code(), Some("ResourceNotFoundException"));
    let delete = lambda.delete_function_url_config().function_name(f).send().await.unwrap_err();
    assert_eq!(delete.code(), Some("ResourceNotFoundException"));
    // One per qualifier; a second create is a conflict, an update keeps what it does not name.
    create(None).invoke_mode(InvokeMode::ResponseStream).send().await.unwrap();
    create(Some("prod")).send().await.unwrap();
    assert_eq!(create(None).send().await.unwrap_err().code(), Some("ResourceConflictException"));
    let update = lambda.update_function_url_config().function_name(f).auth_type(FunctionUrlAuthType::None);
    update.send().await.unwrap();
    assert_eq!(invoke_mode(&emu, f, "prod").await.as_deref(), Some("BUFFERED"));
    let unqualified = lambda.get_function_url_config().function_name(f).send().await.unwrap();
    assert_eq!(
        (unqualified.auth_type().as_str(), unqualified.invoke_mode().unwrap().as_str()),
        ("NONE", "RESPONSE_STREAM")
    );
    let listed = lambda.list_function_url_configs().function_name(f).send().await.unwrap();
    assert_eq!(listed.function_url_configs().len(), 2);
    // Every URL write is refused while the function's update is in progress.
    emu.configure(r#"{"update_in_progress_seconds": 30}"#);
    lambda.update_function_configuration().function_name(f).memory_size(256).send().await.unwrap();
    let busy = lambda.delete_function_url_config().function_name(f).send().await.unwrap_err();
    assert_eq!(busy.code(), Some("ResourceConflictException"), "{busy:?}");
}

#[tokio::test]
async fn the_emulator_checks_add_permissions_function_url_fields_as_lambda_does() {
    let emu = Emulator::start();
    let f = "app-url-perm";
    emu.seed_function(f, 1);
    let lambda = emu.lambda().await;
    let add = |sid: &str, action: &str| {
        lambda.add_permission().function_name(f).statement_id(sid).action(action).principal("*")
    };
    let bad = add("a", "lambda:InvokeFunctionUrl").function_url_auth_type(FunctionUrlAuthType::from("OPEN"));
    assert_eq!(bad.send().await.unwrap_err().code(), Some("ValidationException"));
    let wrong_action = add("b", "lambda:InvokeFunctionUrl").invoked_via_function_url(true);
    assert_eq!(wrong_action.send().await.unwrap_err().code(), Some("InvalidParameterValueException"));
    add("c", "lambda:InvokeFunction").invoked_via_function_url(true).send().await.unwrap();
    let stored = statements(&emu, f, None).await;
    assert_eq!(stored["c"]["Condition"]["Bool"]["lambda:InvokedViaFunctionUrl"], "true");
}
