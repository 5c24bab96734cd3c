//! Planner tables for `publish: onChange` and aliases that follow the published version.

use std::collections::BTreeMap;

use super::tests::{alias, desired, function, ops};
use super::{plan, Action};
use crate::observed::Observed;
use crate::types::*;

const PUBLISHING: &str = "  publish: onChange\n  environment:\n    variables:\n      MODE: fast\n  aliases:\n    live:\n      functionVersion: published\n";

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// `$LATEST` at revision `rev` with `MODE=mode`, version `published` published from `from_rev`.
fn observed(mode: &str, rev: &str, published: Option<(&str, &str)>, live: &str) -> Observed {
    let mut f = function();
    f.environment = env(&[("MODE", mode)]);
    f.revision_id = rev.into();
    f.published = published.map(|(v, r)| Published { version: v.into(), revision: r.into() });
    let mut o = Observed { function: Some(f), ..Observed::default() };
    o.aliases.insert("live".into(), alias(live, &[]));
    o
}

#[test]
fn plan_publishes_after_the_environment_change_it_makes_and_keeps_the_alias_until_then() {
    let d = desired(PUBLISHING);
    let p = plan(&d, &observed("slow", "r1", Some(("3", "r1")), "3"));
    assert_eq!(ops(&p), ["UpdateFunctionConfiguration", "PublishVersion"], "{p:#?}");
    // The revision is read after the update completes, so none is planned; the code hash is.
    assert_eq!(p.changes[1].action, Action::PublishVersion { code_sha256: Some("c1".into()), revision_id: None });
    let shown: Vec<&str> = p.changes[1].diffs.iter().map(|d| d.field.as_str()).collect();
    assert_eq!(shown, ["publish", "aliases.live.functionVersion"]);
}

#[test]
fn plan_moves_the_following_alias_to_the_version_published_last() {
    let d = desired(PUBLISHING);
    let p = plan(&d, &observed("fast", "r2", Some(("4", "r2")), "3"));
    assert_eq!(ops(&p), ["UpdateAlias"], "{p:#?}");
    assert!(matches!(&p.changes[0].action, Action::UpdateAlias { version: Some(v), .. } if v == "4"));
}

#[test]
fn plan_is_empty_when_latest_is_the_revision_published() {
    let d = desired(PUBLISHING);
    let p = plan(&d, &observed("fast", "r2", Some(("4", "r2")), "4"));
    assert!(p.in_sync(), "{p:#?}");
}

#[test]
fn plan_publishes_the_first_version_with_the_revision_it_read_and_creates_no_alias_before() {
    let d = desired(PUBLISHING);
    let mut o = observed("fast", "r9", None, "3");
    o.aliases.clear();
    let p = plan(&d, &o);
    assert_eq!(ops(&p), ["PublishVersion"], "{p:#?}");
    assert_eq!(
        p.changes[0].action,
        Action::PublishVersion { code_sha256: Some("c1".into()), revision_id: Some("r9".into()) }
    );
}

#[test]
fn plan_publishes_when_latest_changed_since_and_differs_from_the_published_version() {
    // A crash between the update and the publish: $LATEST is as desired, version 4 is not.
    let d = desired(PUBLISHING);
    let mut o = observed("fast", "r3", Some(("4", "r2")), "4");
    o.published_config = Some((env(&[("MODE", "slow")]), Settings::default()));
    let p = plan(&d, &o);
    assert_eq!(ops(&p), ["PublishVersion"], "{p:#?}");
    assert_eq!(
        p.changes[0].action,
        Action::PublishVersion { code_sha256: Some("c1".into()), revision_id: Some("r3".into()) }
    );
}

#[test]
fn plan_does_not_publish_when_latest_changed_only_outside_the_managed_configuration() {
    // The revision moved (code uploaded, a tag write) but the environment is the published one.
    let d = desired(PUBLISHING);
    let mut o = observed("fast", "r3", Some(("4", "r2")), "4");
    o.published_config = Some((env(&[("MODE", "fast")]), Settings::default()));
    assert!(plan(&d, &o).in_sync());
}

#[test]
fn plan_publishes_again_when_the_published_version_was_deleted() {
    let d = desired(PUBLISHING);
    let o = observed("fast", "r3", Some(("4", "r2")), "4");
    let p = plan(&d, &o);
    assert_eq!(ops(&p), ["PublishVersion"], "{p:#?}");
    assert!(p.changes[0].diffs[0].to.as_str().unwrap().contains("no longer exists"));
}

#[test]
fn plan_never_publishes_without_publish_on_change() {
    let d = desired("  environment:\n    variables:\n      MODE: fast\n");
    let p = plan(&d, &observed("slow", "r1", None, "3"));
    assert_eq!(ops(&p), ["UpdateFunctionConfiguration"]);
}

#[test]
fn plan_starts_a_rollout_to_the_published_version_for_an_alias_with_a_deployment() {
    let spec = format!("{PUBLISHING}      deployment:\n        steps: [{{weight: 10, pause: 1m}}]\n");
    let d = desired(&spec);
    let p = plan(&d, &observed("fast", "r2", Some(("4", "r2")), "3"));
    assert!(p.changes.is_empty(), "{p:#?}");
    assert_eq!(p.rollouts.len(), 1);
    assert_eq!((p.rollouts[0].from.as_str(), p.rollouts[0].to.as_str()), ("3", "4"));
}

#[test]
fn plan_does_not_publish_when_it_only_puts_latest_back_to_the_published_version() {
    // Someone changed $LATEST out of band; correcting it restores version 4's configuration.
    let d = desired(PUBLISHING);
    let mut o = observed("slow", "r3", Some(("4", "r2")), "4");
    o.published_config = Some((env(&[("MODE", "fast")]), Settings::default()));
    assert_eq!(ops(&plan(&d, &o)), ["UpdateFunctionConfiguration"]);
}

#[test]
fn a_settings_change_is_published_like_an_environment_change() {
    let d = desired(&format!("{PUBLISHING}  memorySize: 512\n"));
    let mut o = observed("fast", "r2", Some(("4", "r2")), "4");
    o.function.as_mut().unwrap().settings.memory_size = Some(256);
    let p = plan(&d, &o);
    assert_eq!(ops(&p), ["UpdateFunctionConfiguration", "PublishVersion"], "{p:#?}");
    // Once applied, version 4 (at 256) differs from $LATEST (at 512) in a managed setting.
    let mut o = observed("fast", "r3", Some(("4", "r2")), "4");
    o.function.as_mut().unwrap().settings.memory_size = Some(512);
    let published = Settings { memory_size: Some(256), ..Settings::default() };
    o.published_config = Some((env(&[("MODE", "fast")]), published));
    assert_eq!(ops(&plan(&d, &o)), ["PublishVersion"]);
}

/// Version 4 as the controller published it: `$LATEST`'s configuration, its own description.
fn published_with_description(mode: &str) -> (BTreeMap<String, String>, Settings) {
    let s = Settings {
        description: Some("published by lambda-reconciler from $LATEST revision r2".into()),
        ..Settings::default()
    };
    (env(&[("MODE", mode)]), s)
}

#[test]
fn a_managed_description_does_not_publish_a_code_upload_again() {
    // CI uploaded code: the revision moved; the managed configuration is version 4's, whose
    // description PublishVersion set (it never inherits $LATEST's).
    let d = desired(&format!("{PUBLISHING}  description: payments\n"));
    let mut o = observed("fast", "r3", Some(("4", "r2")), "4");
    o.function.as_mut().unwrap().settings.description = Some("payments".into());
    o.published_config = Some(published_with_description("fast"));
    assert!(plan(&d, &o).in_sync(), "{:#?}", plan(&d, &o));
}

#[test]
fn a_managed_description_does_not_make_a_drift_correction_publish() {
    let d = desired(&format!("{PUBLISHING}  description: payments\n"));
    let mut o = observed("slow", "r3", Some(("4", "r2")), "4");
    o.function.as_mut().unwrap().settings.description = Some("payments".into());
    o.published_config = Some(published_with_description("fast"));
    assert_eq!(ops(&plan(&d, &o)), ["UpdateFunctionConfiguration"]);
}

#[test]
fn what_names_an_alias_created_after_the_first_publish_waits_for_it_and_the_publish_shows_it() {
    let spec = format!(
        "{PUBLISHING}  permissions:\n    api:\n      qualifier: live\n      principal: apigateway.amazonaws.com\n  eventSourceMappings:\n    - source: arn:aws:sqs:ap-northeast-1:123456789012:q\n      qualifier: live\n"
    );
    let d = desired(&spec);
    let mut o = observed("fast", "r1", None, "3");
    o.aliases.clear();
    let p = plan(&d, &o);
    assert_eq!(ops(&p), ["PublishVersion"], "{p:#?}");
    let shown: Vec<&str> = p.changes[0].diffs.iter().map(|d| d.field.as_str()).collect();
    assert!(shown.contains(&"permissions.api"), "{shown:?}");
    // Once version 4 is published, the alias is created before what names it.
    let mut o = observed("fast", "r2", Some(("4", "r2")), "3");
    o.aliases.clear();
    let p = plan(&d, &o);
    assert_eq!(ops(&p), ["CreateAlias", "AddPermission", "CreateEventSourceMapping"], "{p:#?}");
}

#[test]
fn a_changed_statement_is_removed_then_added_and_an_unlisted_owned_one_removed() {
    let d = desired("  permissions:\n    api:\n      principal: apigateway.amazonaws.com\n");
    let mut o = observed("fast", "r1", None, "3");
    let old = Permission {
        principal: "s3.amazonaws.com".into(),
        action: INVOKE.into(),
        source_arn: None,
        source_account: None,
        function_url_auth_type: None,
        invoked_via_function_url: None,
    };
    let owned = BTreeMap::from([
        ("lambda-reconciler-api".to_string(), old.clone()),
        ("lambda-reconciler-gone".to_string(), old),
    ]);
    o.policies.insert(String::new(), owned);
    let p = plan(&d, &o);
    assert_eq!(ops(&p), ["RemovePermission", "AddPermission", "RemovePermission"], "{p:#?}");
    assert!(matches!(&p.changes[2].action, Action::RemovePermission { sid, .. } if sid == "lambda-reconciler-gone"));
}
