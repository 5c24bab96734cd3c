//! Planner tables for `spec.code`: ordering, git changes and drift.

use super::tests::{desired, function};
use super::{plan, Action};
use crate::observed::Observed;
use crate::types::*;

const CODE: &str = "  code:\n    s3: {bucket: app-code, key: fn.zip, objectVersion: v2}\n";

fn source(version: &str) -> CodeSource {
    CodeSource { bucket: "app-code".into(), key: "fn.zip".into(), object_version: Some(version.into()), sha256: None }
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
    assert_eq!(p.changes[0].action, Action::UpdateCode { source: source("v2") });
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
