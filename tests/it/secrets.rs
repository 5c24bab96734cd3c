//! Secret hygiene over one full scenario: the SecureString plaintext and the AWS secret key
//! appear in no output channel — stdout, stderr, JSON logs, webhook bodies, /status, /metrics,
//! plan text and JSON, export.

use std::time::Duration;

use crate::common::daemon::{Daemon, Webhook};
use crate::common::*;

#[tokio::test]
async fn no_output_channel_ever_carries_the_secure_string_or_the_secret_key() {
    let emu = Emulator::start();
    emu.seed_function("handson-function", 2);
    emu.put_parameter("/handson/lambda/db_host", "mydb.example.com", false).await;
    emu.put_parameter("/handson/lambda/db_password", SECRET_VALUE, true).await;
    let dir = manifests(&[("handson.yaml", &read_example())]);
    let mut outputs: Vec<(String, String)> = vec![];
    let mut cli = |name: &str, args: &[&str], code: i32| {
        let r = emu.run(args).expect(code);
        outputs.push((name.to_string(), r.all()));
    };
    cli("validate", &["validate", "-m", path(&dir)], 0);
    cli("plan text", &["plan", "-m", path(&dir)], 0);
    cli("plan json", &["plan", "-m", path(&dir), "-o", "json"], 0);
    cli("apply with JSON logs", &["--log-format", "json", "apply", "-m", path(&dir), "-o", "json"], 0);
    cli("export", &["export", "--function", "handson-function"], 0);

    let hook = Webhook::start("T0KEN-all");
    let daemon = Daemon::start(&emu, path(&dir), &["--resync-interval", "300ms", "--alert-webhook", &hook.url]);
    daemon.wait_ready().await;
    let env = aws_sdk_lambda::types::Environment::builder()
        .variables("DB_PASSWORD", "hand-made")
        .variables("LEAKED", SECRET_VALUE)
        .variables("LOG_LEVEL", "DEBUG")
        .build();
    emu.lambda()
        .await
        .update_function_configuration()
        .function_name("handson-function")
        .environment(env)
        .send()
        .await
        .unwrap();
    eventually("drift alerts", Duration::from_secs(60), || async { hook.count("Drift", "handson-function") >= 2 })
        .await;
    let lambda = emu.lambda().await;
    eventually("corrected", Duration::from_secs(60), || async {
        let f = lambda.get_function().function_name("handson-function").send().await.unwrap();
        let vars = f.configuration().unwrap().environment().unwrap().variables().unwrap().clone();
        vars.get("DB_PASSWORD").map(String::as_str) == Some(SECRET_VALUE) && !vars.contains_key("LEAKED")
    })
    .await;
    let emu_plan = emu.run(&["plan", "-m", path(&dir), "-o", "json"]).expect(0);
    outputs.push(("plan json after drift".into(), emu_plan.all()));
    outputs.push(("daemon JSON logs".into(), daemon.log_text()));
    outputs.push(("webhook bodies".into(), hook.bodies.lock().unwrap().join("\n")));
    outputs.push(("/status".into(), daemon.get("/status").1));
    outputs.push(("status page".into(), daemon.get("/").1));
    outputs.push(("/metrics".into(), daemon.get("/metrics").1));
    for (name, text) in &outputs {
        assert!(!text.is_empty(), "{name} produced output");
        assert!(!text.contains(SECRET_VALUE), "{name} leaked the SecureString:\n{text}");
        assert!(!text.contains(SECRET_KEY), "{name} leaked the AWS secret key");
        assert!(!text.contains("T0KEN-all"), "{name} leaked the webhook token");
    }
    assert!(outputs.iter().any(|(n, t)| n == "webhook bodies" && t.contains("(sensitive)")));
    let page = &outputs.iter().find(|(n, _)| n == "status page").unwrap().1;
    assert!(
        page.contains("data-kind=\"Drift\"") && page.contains("(sensitive)"),
        "the page lists the drift alerts, redacted"
    );
    assert!(
        daemon.log_text().lines().all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok()),
        "every log line is JSON"
    );
}

#[tokio::test]
async fn the_status_page_and_status_show_drifted_secrets_only_as_sensitive() {
    let emu = Emulator::start();
    emu.seed_function("vault", 1);
    emu.put_parameter("/vault/password", SECRET_VALUE, true).await;
    let manifest = "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: vault\nspec:\n  driftPolicy: alert\n  environment:\n    variables:\n      DB_PASSWORD: {fromSsm: /vault/password}\n";
    let dir = manifests(&[("vault.yaml", manifest)]);
    let daemon = Daemon::start(&emu, path(&dir), &["--resync-interval", "300ms"]);
    eventually("synced", Duration::from_secs(60), || async { daemon.manifest("vault")["sync"] == "Synced" }).await;
    // Outside git: the SecureString's variable changed, and the secret pasted inside another value.
    let env = aws_sdk_lambda::types::Environment::builder()
        .variables("DB_PASSWORD", "hand-made-pw")
        .variables("DB_URL", format!("postgres://u:{SECRET_VALUE}@db"))
        .build();
    emu.lambda().await.update_function_configuration().function_name("vault").environment(env).send().await.unwrap();
    eventually("both drifts in status", Duration::from_secs(60), || async {
        daemon.manifest("vault")["drift"].as_array().is_some_and(|d| d.len() == 2)
    })
    .await;
    let (page, status) = (daemon.get("/").1, daemon.get("/status").1);
    for (name, text) in [("page", &page), ("/status", &status)] {
        assert!(!text.contains(SECRET_VALUE) && !text.contains("hand-made-pw"), "{name} leaked a secret:\n{text}");
    }
    let row = &page[page.find("data-manifest=\"vault\"").unwrap()..];
    assert!(row.contains("postgres://u:(sensitive)@db"), "the secret is cut out of the longer value: {row}");
    assert!(row.contains("<b class=\"desired\">(sensitive)</b> · AWS <b class=\"actual\">(sensitive)</b>"), "{row}");
}
