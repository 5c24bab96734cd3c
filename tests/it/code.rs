//! Code from git: `spec.code` names a zip in a versioned S3 bucket or an ECR image; a change of
//! it updates the code, publishes and moves the following alias; a wrong `sha256` publishes
//! nothing; code uploaded outside git is drift; `architectures` travels with the code; a change of
//! package type is blocked.

use std::time::Duration;

use aws_sdk_lambda::primitives::Blob;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::common::daemon::{Daemon, Webhook};
use crate::common::*;

const MINUTE: Duration = Duration::from_secs(60);

const BUCKET: &str = "app-code";
const KEY: &str = "app/fn.zip";

fn manifest(name: &str, version: &str, sha: Option<&str>, extra: &str) -> String {
    let sha = sha.map(|s| format!("\n    sha256: \"{s}\"")).unwrap_or_default();
    format!(
        "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: {name}\nspec:\n{extra}  publish: onChange\n  code:\n    s3: {{bucket: {BUCKET}, key: {KEY}, objectVersion: \"{version}\"}}{sha}\n  aliases:\n    live:\n      functionVersion: published\n"
    )
}

async fn code_sha(emu: &Emulator, f: &str, qualifier: &str) -> String {
    let c = emu.lambda().await.get_function_configuration().function_name(f).qualifier(qualifier).send().await;
    c.unwrap().code_sha256().unwrap().to_string()
}

async fn alias_version(emu: &Emulator, f: &str) -> Option<String> {
    let a = emu.lambda().await.get_alias().function_name(f).name("live").send().await.ok()?;
    a.function_version().map(str::to_string)
}

#[tokio::test]
async fn the_emulator_reads_the_named_object_version_and_refuses_a_missing_one_as_lambda_does() {
    let emu = Emulator::start();
    emu.seed_function("app-raw", 1);
    let (v1, sha1, _) = emu.seed_object(BUCKET, KEY, "v1");
    let (_, sha2, _) = emu.seed_object(BUCKET, KEY, "v2");
    let lambda = emu.lambda().await;
    let out = lambda
        .update_function_code()
        .function_name("app-raw")
        .s3_bucket(BUCKET)
        .s3_key(KEY)
        .s3_object_version(&v1)
        .send()
        .await
        .unwrap();
    assert_eq!(out.code_sha256(), Some(sha1.as_str()), "not the latest ({sha2})");
    eventually("the update completes", MINUTE, || async { !in_progress(&emu, "app-raw").await }).await;
    let missing = lambda
        .update_function_code()
        .function_name("app-raw")
        .s3_bucket(BUCKET)
        .s3_key(KEY)
        .s3_object_version("no-such-version")
        .send()
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Some("InvalidParameterValueException"), "{missing:?}");
    assert!(missing.message().unwrap_or_default().contains("S3 Error Code: NoSuchVersion"), "{missing:?}");
    let no_bucket =
        lambda.update_function_code().function_name("app-raw").s3_bucket("nowhere").s3_key(KEY).send().await;
    assert!(no_bucket.unwrap_err().message().unwrap_or_default().contains("NoSuchBucket"));
}

async fn in_progress(emu: &Emulator, f: &str) -> bool {
    let g = emu.lambda().await.get_function().function_name(f).send().await.unwrap();
    g.configuration().unwrap().last_update_status().map(|s| s.as_str()) == Some("InProgress")
}

#[tokio::test]
async fn a_new_object_version_in_git_updates_the_code_publishes_it_and_the_alias_follows() {
    let emu = Emulator::start();
    let f = "app-code";
    emu.seed_function(f, 1);
    let (v1, sha1, _) = emu.seed_object(BUCKET, KEY, "v1");
    let (v2, sha2, _) = emu.seed_object(BUCKET, KEY, "v2");
    let dir = manifests(&[("f.yaml", &manifest(f, &v1, Some(&sha1), ""))]);
    let plan = emu.run(&["plan", "-m", path(&dir)]).expect(0);
    assert!(plan.stdout.contains(&format!("s3://{BUCKET}/{KEY}@{v1}")), "{}", plan.stdout);
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    let first = alias_version(&emu, f).await.unwrap();
    assert_eq!((code_sha(&emu, f, "$LATEST").await, code_sha(&emu, f, &first).await), (sha1.clone(), sha1));
    emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(0);

    std::fs::write(dir.path().join("f.yaml"), manifest(f, &v2, None, "")).unwrap();
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    let second = alias_version(&emu, f).await.unwrap();
    assert_ne!(second, first, "a new version was published");
    assert_eq!(code_sha(&emu, f, &second).await, sha2);
    emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(0);
}

#[tokio::test]
async fn a_sha256_other_than_the_code_read_fails_the_apply_and_publishes_nothing() {
    let emu = Emulator::start();
    let f = "app-sha";
    emu.seed_function(f, 1);
    let (v1, _, _) = emu.seed_object(BUCKET, KEY, "v1");
    let (_, other, _) = emu.seed_object(BUCKET, "other.zip", "other");
    let dir = manifests(&[("f.yaml", &manifest(f, &v1, Some(&other), ""))]);
    emu.clear_requests();
    let run = emu.run(&["apply", "-m", path(&dir)]);
    assert_ne!(run.code, 0, "{}", run.stdout);
    assert!(format!("{}{}", run.stdout, run.stderr).contains("spec.code.sha256"), "{} {}", run.stdout, run.stderr);
    let writes = emu.write_calls();
    assert!(!writes.iter().any(|w| w.ends_with("/versions ")), "nothing published: {writes:?}");
    assert!(!writes.iter().any(|w| w.contains("/aliases")), "no alias: {writes:?}");
    assert_eq!(alias_version(&emu, f).await, None);
}

#[tokio::test]
async fn code_uploaded_outside_git_is_alerted_under_alert_and_put_back_under_correct() {
    let emu = Emulator::start();
    emu.seed_function("app-fixme", 1);
    emu.seed_function("app-watchme", 1);
    let (v1, sha1, _) = emu.seed_object(BUCKET, KEY, "v1");
    let (_, _, zip) = emu.seed_object(BUCKET, "outside.zip", "outside");
    let hook = Webhook::start("T0KEN-code");
    let dir = manifests(&[
        ("fixme.yaml", &manifest("app-fixme", &v1, None, "  architectures: [x86_64]\n")),
        ("watchme.yaml", &manifest("app-watchme", &v1, None, "  driftPolicy: alert\n  architectures: [x86_64]\n")),
    ]);
    let daemon = Daemon::start(&emu, path(&dir), &["--resync-interval", "300ms", "--alert-webhook", &hook.url]);
    daemon.wait_ready().await;
    for f in ["app-fixme", "app-watchme"] {
        eventually("v1 deployed", MINUTE, || async { alias_version(&emu, f).await.is_some() }).await;
        eventually("synced", MINUTE, || async { daemon.manifest(f)["sync"] == "Synced" }).await;
    }
    let bytes = Blob::new(base64_decode(&zip));
    let lambda = emu.lambda().await;
    for f in ["app-fixme", "app-watchme"] {
        let update = lambda.update_function_code().function_name(f).zip_file(bytes.clone());
        update.architectures(aws_sdk_lambda::types::Architecture::Arm64).send().await.unwrap();
    }
    let code_alert = || {
        hook.alerts()
            .into_iter()
            .find(|a| a["kind"] == "Drift" && a["function"] == "app-watchme" && a["field"] == "code")
    };
    let arch_alert =
        || hook.alerts().into_iter().any(|a| a["function"] == "app-watchme" && a["field"] == "architectures");
    eventually("alert for watchme", MINUTE, || async { code_alert().is_some() && arch_alert() }).await;
    eventually("fixme's code put back", MINUTE, || async {
        !in_progress(&emu, "app-fixme").await
            && code_sha(&emu, "app-fixme", "$LATEST").await == sha1
            && architectures(&emu, "app-fixme").await == ["x86_64"]
    })
    .await;
    let alert = code_alert().unwrap();
    assert_eq!(alert["action"], "none", "{alert}");
    assert!(alert["actual"].as_str().unwrap().contains("changed outside git"), "{alert}");
    assert_ne!(code_sha(&emu, "app-watchme", "$LATEST").await, sha1, "alert leaves the drift in place");
    assert_eq!(architectures(&emu, "app-watchme").await, ["arm64"]);
}

/// Standard base64 (the emulator's answer), decoded.
fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let digits: Vec<u8> = s.bytes().filter(|&c| c != b'=').map(val).collect();
    let mut out = vec![];
    for chunk in digits.chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &d)| n | (u32::from(d) << (18 - 6 * i)));
        out.extend(n.to_be_bytes()[1..chunk.len()].iter().copied());
    }
    out
}

fn image_manifest(name: &str, uri: &str, extra: &str) -> String {
    format!(
        "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: {name}\nspec:\n{extra}  publish: onChange\n  code:\n    imageUri: {uri}\n  aliases:\n    live:\n      functionVersion: published\n"
    )
}

#[tokio::test]
async fn a_new_image_digest_in_git_updates_the_code_publishes_it_and_the_alias_follows() {
    let emu = Emulator::start();
    let f = "app-image";
    let (_, _, first) = emu.seed_image("app", "v1", "image one", Some(f));
    let (uri, _, second) = emu.seed_image("app", "v2", "image two", None);
    let dir = manifests(&[("f.yaml", &image_manifest(f, &uri, ""))]);
    let plan = emu.run(&["plan", "-m", path(&dir)]).expect(0);
    assert!(plan.stdout.contains(&uri) && plan.stdout.contains(&first), "{}", plan.stdout);
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    let live = alias_version(&emu, f).await.unwrap();
    assert_eq!((code_sha(&emu, f, "$LATEST").await, code_sha(&emu, f, &live).await), (second.clone(), second));
    emu.clear_requests();
    emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(0);
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    assert_eq!(emu.write_calls(), Vec::<String>::new(), "nothing differs: nothing written");
}

#[tokio::test]
async fn a_zip_manifest_for_an_image_function_is_blocked_and_nothing_is_written() {
    let emu = Emulator::start();
    let f = "app-kind";
    emu.seed_image("app", "v1", "image one", Some(f));
    let (v1, _, _) = emu.seed_object(BUCKET, KEY, "v1");
    let dir = manifests(&[("f.yaml", &manifest(f, &v1, None, ""))]);
    let plan = emu.run(&["plan", "-m", path(&dir)]);
    assert!(
        plan.all().contains("the package type cannot change (Image → Zip); recreate the function"),
        "{}",
        plan.all()
    );
    emu.clear_requests();
    let run = emu.run(&["apply", "-m", path(&dir)]);
    assert_ne!(run.code, 0, "{}", run.all());
    assert!(!emu.write_calls().iter().any(|w| w.contains("/code")), "{:?}", emu.write_calls());
}

async fn architectures(emu: &Emulator, f: &str) -> Vec<String> {
    let c = emu.lambda().await.get_function_configuration().function_name(f).send().await.unwrap();
    c.architectures().iter().map(|a| a.as_str().to_string()).collect()
}

#[tokio::test]
async fn an_architecture_change_alone_sends_the_code_again_and_one_made_outside_git_is_put_back() {
    let emu = Emulator::start();
    let f = "app-arch";
    emu.seed_function(f, 1);
    let (v1, sha1, _) = emu.seed_object(BUCKET, KEY, "v1");
    let dir = manifests(&[("f.yaml", &manifest(f, &v1, None, ""))]);
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    assert_eq!(architectures(&emu, f).await, ["x86_64"]);
    std::fs::write(dir.path().join("f.yaml"), manifest(f, &v1, None, "  architectures: [arm64]\n")).unwrap();
    let plan = emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(2);
    assert!(plan.stdout.contains("architectures") && !plan.stdout.contains("~ code"), "{}", plan.stdout);
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    assert_eq!((architectures(&emu, f).await, code_sha(&emu, f, "$LATEST").await), (vec!["arm64".to_string()], sha1));
    emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(0);
    // Changed outside git: the same code sent back on x86_64.
    let lambda = emu.lambda().await;
    let update = lambda.update_function_code().function_name(f).s3_bucket(BUCKET).s3_key(KEY).s3_object_version(&v1);
    update.architectures(aws_sdk_lambda::types::Architecture::X8664).send().await.unwrap();
    eventually("the update completes", MINUTE, || async { !in_progress(&emu, f).await }).await;
    emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(2);
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    assert_eq!(architectures(&emu, f).await, ["arm64"]);
}

#[tokio::test]
async fn validate_and_plan_warn_about_an_image_tag_at_its_line_and_keep_their_exit_code() {
    let emu = Emulator::start();
    let f = "app-tagged";
    let (_, by_tag, _) = emu.seed_image("app", "v1", "image one", Some(f));
    let dir = manifests(&[("f.yaml", &image_manifest(f, &by_tag, ""))]);
    let warning = "f.yaml:8:5: spec.code.imageUri: a tag is mutable";
    let validate = emu.run(&["validate", "-m", path(&dir)]).expect(0);
    assert!(validate.stderr.contains("warning: ") && validate.stderr.contains(warning), "{}", validate.stderr);
    let plan = emu.run(&["plan", "-m", path(&dir)]).expect(0);
    assert!(plan.stderr.contains(warning), "{}", plan.stderr);
}

#[tokio::test]
async fn an_image_function_exports_its_digest_and_architecture_and_round_trips_through_plan() {
    let emu = Emulator::start();
    let f = "app-exported";
    let (_, by_tag, sha) = emu.seed_image("app", "v1", "image one", Some(f));
    let lambda = emu.lambda().await;
    let update = lambda.update_function_code().function_name(f).image_uri(&by_tag);
    update.architectures(aws_sdk_lambda::types::Architecture::Arm64).send().await.unwrap();
    eventually("the update completes", MINUTE, || async { !in_progress(&emu, f).await }).await;
    let export = emu.run(&["export", "--function", f]).expect(0);
    assert!(export.stdout.contains(&format!("app@sha256:{sha}")), "{}", export.stdout);
    assert!(export.stdout.contains("- arm64"), "{}", export.stdout);
    let adopted = manifests(&[("f.yaml", &export.stdout)]);
    emu.run(&["plan", "-m", path(&adopted), "--detailed-exitcode"]).expect(0);
    emu.clear_requests();
    emu.run(&["apply", "-m", path(&adopted)]).expect(0);
    let writes = emu.write_calls();
    assert!(writes.iter().all(|w| w.contains("/tags/")), "applying an export changes nothing: {writes:?}");
}
