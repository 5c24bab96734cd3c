//! Planner tables for `spec.code`: ordering, git changes and drift.

use super::tests::{desired, function};
use super::{plan, Action};
use crate::observed::Observed;
use crate::types::*;

const CODE: &str = "  code:\n    s3: {bucket: app-code, key: fn.zip, objectVersion: v2}\n";

fn source(version: &str) -> CodeSource {
    let location =
        CodeLocation::S3 { bucket: "app-code".into(), key: "fn.zip".into(), object_version: Some(version.into()) };
    CodeSource { location, sha256: None }
}

/// The function as last deployed from `version` (its tag), with live CodeSha256 `live`.
fn deployed(version: &str, live: &str) -> Observed {
    let mut f = function();
    f.code = Some(CodeRecord { source: source(version).digest(), sha256: "c1".into() });
    f.code_sha256 = live.into();
    Observed { function: Some(f), ..Observed::default() }
}

fn operations(p: &super::FunctionPlan) -> Vec<&'static str> {
    p.changes.iter().map(|c| c.operation).collect()
}

#[test]
fn a_code_change_comes_before_the_configuration_and_the_publish_holds_both() {
    let d = desired(&format!("{CODE}  publish: onChange\n  memorySize: 256\n"));
    let p = plan(&d, &deployed("v1", "c1"));
    assert_eq!(
        operations(&p),
        ["lambda:UpdateFunctionCode", "lambda:UpdateFunctionConfiguration", "lambda:PublishVersion"]
    );
    let revision_id = Some(function().revision_id);
    assert_eq!(p.changes[0].action, Action::UpdateCode { source: source("v2"), architecture: None, revision_id });
    assert_eq!(p.changes[0].diffs[0].to, serde_json::json!("s3://app-code/fn.zip@v2"));
    // The hash is the one the code update leaves, read once it completed.
    assert_eq!(p.changes[2].action, Action::PublishVersion { code_sha256: None, revision_id: None });
}

#[test]
fn a_code_change_alone_is_published() {
    let d = desired(&format!("{CODE}  publish: onChange\n"));
    let mut o = deployed("v1", "c1");
    o.function.as_mut().unwrap().published = Some(Published { version: "3".into(), revision: "r1".into() });
    assert_eq!(operations(&plan(&d, &o)), ["lambda:UpdateFunctionCode", "lambda:PublishVersion"]);
}

#[test]
fn code_never_deployed_by_lambda_reconciler_is_updated() {
    let d = desired(CODE);
    let p = plan(&d, &Observed { function: Some(function()), ..Observed::default() });
    assert_eq!(operations(&p), ["lambda:UpdateFunctionCode"]);
}

#[test]
fn the_code_deployed_from_the_manifests_source_plans_nothing() {
    assert!(plan(&desired(CODE), &deployed("v2", "c1")).in_sync());
}

#[test]
fn code_changed_outside_git_is_planned_back_and_said_so() {
    let p = plan(&desired(CODE), &deployed("v2", "c9"));
    assert_eq!(operations(&p), ["lambda:UpdateFunctionCode"]);
    let from = p.changes[0].diffs[0].from.as_str().unwrap().to_string();
    assert!(from.contains("changed outside git") && from.contains("c9"), "{from}");
}

#[test]
fn ignored_code_is_not_planned() {
    let d = desired(&format!("{CODE}  ignoreDifferences: [code]\n"));
    assert!(plan(&d, &deployed("v2", "c9")).in_sync());
}

#[test]
fn unreadable_tags_block_a_managed_code() {
    let mut o = deployed("v1", "c1");
    o.function.as_mut().unwrap().applied_generation = AppliedGeneration::Unreadable("ListTags refused".into());
    let p = plan(&desired(CODE), &o);
    assert!(p.changes.is_empty() && p.blocked[0].contains("lambda:ListTags"), "{p:?}");
}

#[test]
fn latest_code_other_than_the_published_versions_is_published() {
    let d = desired(&format!("{CODE}  publish: onChange\n"));
    let mut o = deployed("v2", "c1");
    o.function.as_mut().unwrap().published = Some(Published { version: "3".into(), revision: "r0".into() });
    o.published_config = Some((Default::default(), function().settings));
    o.published_code = Some("c0".into());
    assert_eq!(operations(&plan(&d, &o)), ["lambda:PublishVersion"]);
    o.published_code = Some("c1".into());
    assert!(plan(&d, &o).in_sync());
}

const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn image_manifest(extra: &str) -> String {
    format!("  code:\n    imageUri: 123456789012.dkr.ecr.us-east-1.amazonaws.com/app@sha256:{HEX}\n{extra}")
}

/// An image function whose live CodeSha256 is `live`, never tagged by lambda-reconciler.
fn image_function(live: &str, architecture: &str) -> Observed {
    let mut f = function();
    f.package = Package {
        kind: PackageType::Image,
        image_uri: Some("123456789012.dkr.ecr.us-east-1.amazonaws.com/app:old".into()),
        architectures: vec![architecture.into()],
    };
    f.code_sha256 = live.into();
    Observed { function: Some(f), ..Observed::default() }
}

#[test]
fn an_image_digest_is_compared_with_the_live_code_sha256_directly() {
    assert!(plan(&desired(&image_manifest("")), &image_function(HEX, "x86_64")).in_sync());
    let p = plan(&desired(&image_manifest("")), &image_function("ffff", "x86_64"));
    assert_eq!(operations(&p), ["lambda:UpdateFunctionCode"]);
    let Action::UpdateCode { source, .. } = &p.changes[0].action else { panic!("{p:?}") };
    assert_eq!(source.image_digest(), Some(HEX));
    assert!(p.changes[0].diffs[0].from.as_str().unwrap().contains("app:old"), "{p:?}");
}

#[test]
fn a_change_of_package_type_is_blocked_and_never_attempted() {
    let p = plan(&desired(&image_manifest("")), &deployed("v1", "c1"));
    assert!(p.changes.is_empty(), "{p:?}");
    assert!(p.blocked[0].contains("package type cannot change (Zip → Image); recreate the function"), "{p:?}");
    let p = plan(&desired(CODE), &image_function(HEX, "x86_64"));
    assert!(p.changes.is_empty() && p.blocked[0].contains("(Image → Zip)"), "{p:?}");
}

#[test]
fn an_architecture_change_alone_sends_the_code_again_with_it() {
    let d = desired(&format!("{CODE}  architectures: [arm64]\n"));
    let mut o = deployed("v2", "c1");
    o.function.as_mut().unwrap().package.architectures = vec!["x86_64".into()];
    let p = plan(&d, &o);
    assert_eq!(operations(&p), ["lambda:UpdateFunctionCode"]);
    let Action::UpdateCode { source: s, architecture, .. } = &p.changes[0].action else { panic!("{p:?}") };
    assert_eq!((s, architecture.as_deref()), (&source("v2"), Some("arm64")));
    let fields: Vec<&str> = p.changes[0].diffs.iter().map(|d| d.field.as_str()).collect();
    assert_eq!(fields, ["architectures"]);
    o.function.as_mut().unwrap().package.architectures = vec!["arm64".into()];
    assert!(plan(&d, &o).in_sync());
}

#[test]
fn null_architectures_mean_x86_64_and_an_ignored_architecture_is_not_planned() {
    let o = image_function(HEX, "arm64");
    let p = plan(&desired(&image_manifest("  architectures: null\n")), &o);
    assert_eq!(p.changes[0].diffs[0].to, serde_json::json!(["x86_64"]), "{p:?}");
    let ignored = image_manifest("  architectures: [x86_64]\n  ignoreDifferences: [architectures]\n");
    assert!(plan(&desired(&ignored), &o).in_sync());
}
