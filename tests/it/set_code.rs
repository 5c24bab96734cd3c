//! `set-code` as CI runs it: the manifest's `spec.code` rewritten in place, then `apply` deploys
//! that object version; the refusals leave every file as it was.

use crate::common::*;

const BUCKET: &str = "app-code";
const KEY: &str = "app/fn.zip";

fn manifest(name: &str, version: &str) -> String {
    format!(
        "# release of {name}: CI edits the version below\napiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: {name}\nspec:\n  publish: onChange   # every release is a version\n  code:\n    s3: {{bucket: {BUCKET}, key: {KEY}, objectVersion: \"{version}\"}}  # set by CI\n  aliases:\n    live: {{functionVersion: published}}\n"
    )
}

async fn live_code(emu: &Emulator, f: &str) -> String {
    let c = emu.lambda().await.get_function_configuration().function_name(f).qualifier("live").send().await;
    c.unwrap().code_sha256().unwrap().to_string()
}

#[tokio::test]
async fn set_code_then_apply_deploys_the_new_object_version_and_changes_nothing_else_in_the_file() {
    let emu = Emulator::start();
    let f = "app-release";
    emu.seed_function(f, 1);
    let (v1, sha1, _) = emu.seed_object(BUCKET, KEY, "v1");
    let (v2, sha2, _) = emu.seed_object(BUCKET, KEY, "v2");
    let dir = manifests(&[("f.yaml", &manifest(f, &v1))]);
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    assert_eq!(live_code(&emu, f).await, sha1);
    let s3 = format!("s3://{BUCKET}/{KEY}");
    emu.run(&["set-code", "-m", path(&dir), "--function", f, "--s3", &s3, "--object-version", &v2]).expect(0);
    let text = std::fs::read_to_string(dir.path().join("f.yaml")).unwrap();
    assert_eq!(text, manifest(f, &v2), "only the version's span changed");
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    assert_eq!(live_code(&emu, f).await, sha2);
    emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(0);
}

#[tokio::test]
async fn set_code_refuses_no_match_several_matches_an_invalid_result_and_a_file_outside_the_directory() {
    let emu = Emulator::start();
    // One function name in two regions: two manifests answer to it.
    let same =
        manifest("app-a", "v1").replace("spec:\n", "spec:\n  functionName: app-shared\n  region: ap-northeast-1\n");
    let other = manifest("app-b", "v1").replace("spec:\n", "spec:\n  functionName: app-shared\n  region: us-east-1\n");
    let dir = manifests(&[("a.yaml", &same), ("b.yaml", &other)]);
    let set = |function: &str, version: &str| {
        let s3 = format!("s3://{BUCKET}/{KEY}");
        emu.run(&["set-code", "-m", path(&dir), "--function", function, "--s3", &s3, "--object-version", version])
    };
    let none = set("app-nobody", "v2").expect(1);
    assert!(none.stderr.contains("no manifest manages function `app-nobody`"), "{}", none.stderr);
    let several = set("app-shared", "v2").expect(1);
    assert!(several.stderr.contains("2 manifests manage function `app-shared`"), "{}", several.stderr);
    let too_long = "v".repeat(1025);
    let invalid = set("app-a", &too_long).expect(1);
    assert!(invalid.stderr.contains("spec.code.s3.objectVersion"), "{}", invalid.stderr);
    assert_eq!(std::fs::read_to_string(dir.path().join("a.yaml")).unwrap(), same, "nothing written");

    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("c.yaml"), manifest("app-c", "v1")).unwrap();
    let linked = manifests(&[]);
    std::os::unix::fs::symlink(outside.path().join("c.yaml"), linked.path().join("c.yaml")).unwrap();
    let s3 = format!("s3://{BUCKET}/{KEY}");
    let args = ["set-code", "-m", path(&linked), "--function", "app-c", "--s3", &s3, "--object-version", "v2"];
    let run = emu.run(&args).expect(1);
    assert!(run.stderr.contains("outside the manifest directory"), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(outside.path().join("c.yaml")).unwrap(), manifest("app-c", "v1"));
}
