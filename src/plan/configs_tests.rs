//! Planner tables for user tags, code signing, runtime management and recursion.

use std::collections::BTreeMap;

use super::configs::ConfigAction;
use super::tests::{desired, function};
use super::{plan, Action, FunctionPlan};
use crate::observed::Observed;
use crate::types::*;

const CSC: &str = "arn:aws:lambda:ap-northeast-1:123456789012:code-signing-config:csc-0123456789abcdef0";
const RUNTIME: &str = "arn:aws:lambda:ap-northeast-1::runtime:0cdcfbdefbc5e7d3343f73c2e2dd3cba";

fn tagged(tags: &[(&str, &str)]) -> Observed {
    let mut f = function();
    f.user_tags =
        Some(user_tags(&tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>()));
    Observed { function: Some(f), ..Observed::default() }
}

fn operations(p: &FunctionPlan) -> Vec<&'static str> {
    p.changes.iter().map(|c| c.operation).collect()
}

fn configs(recursion: &str, mode: &str, csc: Option<&str>) -> LiveConfigs {
    LiveConfigs {
        recursive_loop: Some(recursion.into()),
        runtime_management: Some(RuntimeManagement { update_runtime_on: mode.into(), runtime_version_arn: None }),
        code_signing_config_arn: Some(csc.map(str::to_string)),
    }
}

#[test]
fn user_tags_are_added_changed_and_removed_key_by_key() {
    let d = desired("  tags: {team: payments, tier: 1}\n");
    let p = plan(&d, &tagged(&[("team", "orders"), ("old", "x")]));
    assert_eq!(operations(&p), ["lambda:TagResource", "lambda:UntagResource"]);
    let want = BTreeMap::from([("team".to_string(), "payments".to_string()), ("tier".to_string(), "1".to_string())]);
    assert_eq!(p.changes[0].action, Action::Config(ConfigAction::TagUser(want)));
    assert_eq!(p.changes[1].action, Action::Config(ConfigAction::UntagUser(vec!["old".into()])));
    let fields: Vec<&str> = p.changes.iter().flat_map(|c| &c.diffs).map(|x| x.field.as_str()).collect();
    assert_eq!(fields, ["tags.team", "tags.tier", "tags.old"]);
}

#[test]
fn an_empty_tag_set_removes_only_user_tags_never_the_controllers_or_aws() {
    let mut o = tagged(&[("team", "a")]);
    // What GetFunction reads: the user tags are filtered from all of the function's tags.
    let all = BTreeMap::from([
        ("team".to_string(), "a".to_string()),
        (GENERATION_TAG.to_string(), "g".to_string()),
        (marker_tag("live"), "to=2".to_string()),
        ("aws:cloudformation:stack-name".to_string(), "s".to_string()),
    ]);
    o.function.as_mut().unwrap().user_tags = Some(user_tags(&all));
    for spec in ["  tags: {}\n", "  tags: null\n"] {
        let p = plan(&desired(spec), &o);
        assert_eq!(p.changes.len(), 1, "{p:#?}");
        assert_eq!(p.changes[0].action, Action::Config(ConfigAction::UntagUser(vec!["team".into()])));
    }
}

#[test]
fn tags_in_sync_or_unmanaged_plan_nothing_and_unreadable_tags_block() {
    assert!(plan(&desired("  tags: {team: a}\n"), &tagged(&[("team", "a")])).in_sync());
    assert!(plan(&desired("  prune: false\n"), &tagged(&[("team", "a")])).in_sync());
    assert!(plan(&desired("  ignoreDifferences: [tags.team]\n  tags: {}\n"), &tagged(&[("team", "a")])).in_sync());
    let mut o = tagged(&[]);
    o.function.as_mut().unwrap().user_tags = None;
    let p = plan(&desired("  tags: {team: a}\n"), &o);
    assert!(p.changes.is_empty() && p.blocked[0].contains("lambda:ListTags"), "{p:#?}");
}

#[test]
fn code_signing_comes_first_and_runtime_management_before_the_publish_recursion_after() {
    let d = desired(&format!(
        "  publish: onChange\n  code:\n    s3: {{bucket: app-code, key: fn.zip}}\n  memorySize: 256\n  codeSigningConfigArn: {CSC}\n  runtimeManagement: {{updateRuntimeOn: Manual, runtimeVersionArn: \"{RUNTIME}\"}}\n  recursiveLoop: Allow\n  tags: {{team: a}}\n"
    ));
    let mut o = tagged(&[]);
    o.configs = configs("Terminate", "Auto", None);
    let p = plan(&d, &o);
    assert_eq!(
        operations(&p),
        [
            "lambda:PutFunctionCodeSigningConfig",
            "lambda:UpdateFunctionCode",
            "lambda:UpdateFunctionConfiguration",
            "lambda:PutRuntimeManagementConfig",
            "lambda:PublishVersion",
            "lambda:PutFunctionRecursionConfig",
            "lambda:TagResource",
        ]
    );
}

#[test]
fn a_runtime_management_change_alone_is_published_with_the_revision_read_after_it() {
    let d = desired(&format!(
        "  publish: onChange\n  runtimeManagement: {{updateRuntimeOn: Manual, runtimeVersionArn: \"{RUNTIME}\"}}\n"
    ));
    let mut o = tagged(&[]);
    o.function.as_mut().unwrap().published = Some(Published { version: "3".into(), revision: "r1".into() });
    o.configs = configs("Terminate", "Auto", None);
    let p = plan(&d, &o);
    assert_eq!(operations(&p), ["lambda:PutRuntimeManagementConfig", "lambda:PublishVersion"]);
    assert_eq!(p.changes[1].action, Action::PublishVersion { code_sha256: Some("c1".into()), revision_id: None });
}

#[test]
fn null_means_aws_defaults_and_live_defaults_plan_nothing() {
    let d = desired("  recursiveLoop: null\n  runtimeManagement: null\n  codeSigningConfigArn: null\n");
    let mut o = tagged(&[]);
    o.configs = configs("Terminate", "Auto", None);
    assert!(plan(&d, &o).in_sync());
    o.configs = configs("Allow", "FunctionUpdate", Some(CSC));
    let p = plan(&d, &o);
    assert_eq!(
        operations(&p),
        [
            "lambda:DeleteFunctionCodeSigningConfig",
            "lambda:PutRuntimeManagementConfig",
            "lambda:PutFunctionRecursionConfig"
        ]
    );
    assert_eq!(
        p.changes[1].action,
        Action::Config(ConfigAction::PutRuntimeManagement(RuntimeManagement::default_mode()))
    );
    assert_eq!(p.changes[2].action, Action::Config(ConfigAction::PutRecursion("Terminate".into())));
}

#[test]
fn code_signing_and_runtime_management_are_blocked_on_a_container_image() {
    let d =
        desired(&format!("  codeSigningConfigArn: {CSC}\n  runtimeManagement: {{updateRuntimeOn: FunctionUpdate}}\n"));
    let mut o = tagged(&[]);
    o.function.as_mut().unwrap().package.kind = PackageType::Image;
    o.configs = configs("Terminate", "Auto", None);
    let p = plan(&d, &o);
    assert!(p.changes.is_empty(), "{p:#?}");
    assert_eq!(p.blocked.len(), 2, "{p:#?}");
    assert!(p.blocked[0].starts_with("codeSigningConfigArn") && p.blocked[1].starts_with("runtimeManagement"));
}
