//! Environment values from Secrets Manager: batched reads, a JSON key, a pinned version, one
//! secret's error failing only its manifest, and values that are never printed.

use crate::common::*;

const F: &str = "app-sec";

fn manifest(name: &str, vars: &str) -> String {
    format!("apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: {name}\nspec:\n  environment:\n    variables:\n{vars}")
}

async fn secret(emu: &Emulator, name: &str, value: &str) -> String {
    let sm = aws_sdk_secretsmanager::Client::new(&emu.sdk().await);
    let out = sm.create_secret().name(name).secret_string(value).send().await.unwrap();
    out.version_id().unwrap().to_string()
}

fn batch_calls(emu: &Emulator) -> usize {
    emu.requests().iter().filter(|r| r["target"] == "secretsmanager.BatchGetSecretValue").count()
}

#[tokio::test]
async fn secrets_resolve_in_batches_of_twenty_by_key_and_version_and_never_show() {
    let emu = Emulator::start();
    emu.seed_function(F, 1);
    let v1 = secret(&emu, "app/db", r#"{"user":"svc","password":"pw-Zq81-secret"}"#).await;
    let sm = aws_sdk_secretsmanager::Client::new(&emu.sdk().await);
    sm.put_secret_value()
        .secret_id("app/db")
        .secret_string(r#"{"user":"svc","password":"pw-NEW-secret"}"#)
        .send()
        .await
        .unwrap();
    let mut vars = String::from(
        "      DB_PASSWORD: {fromSecret: {id: app/db, key: password}}\n      OLD_PASSWORD:\n        fromSecret: {id: app/db, key: password, version: VERSION}\n",
    )
    .replace("VERSION", &v1);
    for i in 0..24 {
        secret(&emu, &format!("app/token-{i:02}"), &format!("tok-{i:02}-s3cr3t")).await;
        vars.push_str(&format!("      TOKEN_{i:02}: {{fromSecret: {{id: app/token-{i:02}}}}}\n"));
    }
    let dir = manifests(&[("f.yaml", &manifest(F, &vars))]);
    emu.clear_requests();
    let plan = emu.run(&["plan", "-m", path(&dir)]).expect(0);
    // 25 current-version secrets: 2 batch reads (20 + 5); the pinned version is read on its own.
    assert_eq!(batch_calls(&emu), 2, "{:?}", emu.requests());
    let apply = emu.run(&["apply", "-m", path(&dir)]).expect(0);
    for out in [plan.all(), apply.all()] {
        assert!(!out.contains("pw-NEW-secret") && !out.contains("pw-Zq81-secret") && !out.contains("s3cr3t"), "{out}");
    }
    let c = emu.lambda().await.get_function_configuration().function_name(F).send().await.unwrap();
    let env = c.environment().unwrap().variables().unwrap();
    assert_eq!((env["DB_PASSWORD"].as_str(), env["OLD_PASSWORD"].as_str()), ("pw-NEW-secret", "pw-Zq81-secret"));
    assert_eq!(env["TOKEN_23"], "tok-23-s3cr3t");
    emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(0);
}

#[tokio::test]
async fn a_missing_secret_or_key_fails_only_its_manifest_with_the_field() {
    let emu = Emulator::start();
    emu.seed_function(F, 1);
    emu.seed_function("app-fine", 1);
    secret(&emu, "app/db", r#"{"user":"svc"}"#).await;
    let broken = "      VA: {fromSecret: {id: app/missing}}\n      VB: {fromSecret: {id: app/db, key: password}}\n";
    let fine = "      MODE: fast\n";
    let dir = manifests(&[("f.yaml", &manifest(F, broken)), ("fine.yaml", &manifest("app-fine", fine))]);
    let run = emu.run(&["apply", "-m", path(&dir)]).expect(1);
    let out = run.all();
    assert!(
        out.contains(
            "spec.environment.variables.VA.fromSecret: secret `app/missing` cannot be used: ResourceNotFoundException"
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "spec.environment.variables.VB.fromSecret: secret `app/db` cannot be used: its JSON has no key `password`"
        ),
        "{out}"
    );
    let c = emu.lambda().await.get_function_configuration().function_name("app-fine").send().await.unwrap();
    assert_eq!(c.environment().unwrap().variables().unwrap()["MODE"], "fast");
}

#[test]
fn a_secret_reference_without_an_id_is_a_clear_error() {
    let dir = manifests(&[("bad.yaml", &manifest(F, "      VA: {fromSecret: {key: password}}\n"))]);
    let run = Emulator::unstarted(1).run(&["validate", "-m", path(&dir)]).expect(1);
    assert!(
        run.all().contains("bad.yaml:8:")
            && run.all().contains("spec.environment.variables.VA.fromSecret.id: required"),
        "{}",
        run.all()
    );
}

#[tokio::test]
async fn the_daemon_reads_a_regions_secrets_together_once_per_pass_not_per_function() {
    let emu = Emulator::start();
    secret(&emu, "app/shared-a", "value-a-s3cr3t").await;
    secret(&emu, "app/shared-b", "value-b-s3cr3t").await;
    let vars = "      SA: {fromSecret: {id: app/shared-a}}\n      SB: {fromSecret: {id: app/shared-b}}\n";
    let names = ["app-s1", "app-s2", "app-s3"];
    let files: Vec<(String, String)> = names.iter().map(|n| (format!("{n}.yaml"), manifest(n, vars))).collect();
    for n in names {
        emu.seed_function(n, 1);
    }
    let refs: Vec<(&str, &str)> = files.iter().map(|(f, t)| (f.as_str(), t.as_str())).collect();
    let dir = manifests(&refs);
    emu.clear_requests();
    let daemon = crate::common::daemon::Daemon::start(&emu, path(&dir), &["--resync-interval", "1h"]);
    daemon.wait_ready().await;
    assert_eq!(batch_calls(&emu), 1, "one read for the three functions' two secrets");
    for n in names {
        let c = emu.lambda().await.get_function_configuration().function_name(n).send().await.unwrap();
        assert_eq!(c.environment().unwrap().variables().unwrap()["SB"], "value-b-s3cr3t");
    }
    let (_, status) = daemon.get("/status");
    assert!(!status.contains("s3cr3t") && !daemon.log_text().contains("s3cr3t"));
}

#[tokio::test]
async fn a_partial_arn_never_takes_the_value_of_another_secret_it_is_a_prefix_of() {
    let emu = Emulator::start();
    emu.seed_function(F, 1);
    emu.seed_function("app-prod", 1);
    secret(&emu, "db-prod", "prod-only-s3cr3t").await;
    let arn = format!("arn:aws:secretsmanager:{REGION}:123456789012:secret:db");
    // Both read in one batch: `db-prod` by the other team, the partial ARN of `db` by this one.
    let dir = manifests(&[
        ("f.yaml", &manifest(F, &format!("      DB: {{fromSecret: {{id: \"{arn}\"}}}}\n"))),
        ("prod.yaml", &manifest("app-prod", "      DB: {fromSecret: {id: db-prod}}\n")),
    ]);
    let run = emu.run(&["apply", "-m", path(&dir)]).expect(1);
    assert!(run.all().contains("secret `arn:aws:secretsmanager:"), "{}", run.all());
    assert!(run.all().contains("ResourceNotFoundException"), "{}", run.all());
    let env = |f: &'static str| {
        let emu = &emu;
        async move {
            let c = emu.lambda().await.get_function_configuration().function_name(f).send().await.unwrap();
            c.environment().and_then(|e| e.variables()).and_then(|v| v.get("DB").cloned())
        }
    };
    assert_eq!(env(F).await, None, "this team never gets db-prod's value");
    assert_eq!(env("app-prod").await.as_deref(), Some("prod-only-s3cr3t"));
}
