//! Function URLs: each listed qualifier's URL created, updated (written whole) or deleted, with
//! the two statements a public (`NONE`) URL needs; URLs on qualifiers the manifest does not list
//! are left alone unless `functionUrls` is `null`/`{}` (then every URL is deleted).

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{diff, Action, FunctionPlan, Op};
use crate::desired::Desired;
use crate::observed::Observed;
use crate::types::{url_key, Permission, UrlConfig};

/// `manifest` is the desired state before `functionVersion: published` is resolved: an alias
/// that only the first publish lets exist is still one the plan creates.
pub(super) fn plan(manifest: &Desired, d: &Desired, o: &Observed, p: &mut FunctionPlan) {
    let Some(want) = &d.function_urls else { return };
    let targets: Vec<(&String, Option<&UrlConfig>)> = if want.is_empty() {
        o.urls.keys().map(|q| (q, None)).collect()
    } else {
        want.iter().map(|(q, w)| (q, w.as_ref())).collect()
    };
    for (q, w) in targets {
        let path = format!("functionUrls.{}", url_key(q));
        if d.ignored(&path) {
            continue;
        }
        let created = manifest.aliases.get(q).is_some_and(|a| !a.delete);
        if w.is_some() && !q.is_empty() && !o.aliases.contains_key(q) && !created {
            p.blocked.push(format!("{path}: alias `{q}` does not exist and the manifest does not create it"));
            continue;
        }
        let live = o.urls.get(q).cloned().unwrap_or_default();
        if w.is_none() {
            // Public access goes before the URL: a failure in between leaves a URL no one reaches.
            statements(q, &path, w, &live.statements, p);
            config(q, &path, w, live.config.as_ref(), p);
        } else {
            config(q, &path, w, live.config.as_ref(), p);
            statements(q, &path, w, &live.statements, p);
        }
    }
}

fn config(q: &str, path: &str, want: Option<&UrlConfig>, live: Option<&UrlConfig>, p: &mut FunctionPlan) {
    let qualifier = q.to_string();
    match (want, live) {
        (Some(w), None) => p.push(
            Action::CreateUrl { qualifier, config: w.clone() },
            vec![diff(path, Op::Create, Value::Null, json!(w))],
        ),
        (Some(w), Some(l)) if w != l => {
            p.push(Action::UpdateUrl { qualifier, config: w.clone() }, vec![diff(path, Op::Update, json!(l), json!(w))])
        }
        (None, Some(l)) => p.push(Action::DeleteUrl { qualifier }, vec![diff(path, Op::Delete, json!(l), Value::Null)]),
        _ => {}
    }
}

/// The controller's URL statements on `q`: those the URL needs added (a changed one removed and
/// added again: AWS has no update), those it no longer needs removed.
fn statements(
    q: &str,
    path: &str,
    want: Option<&UrlConfig>,
    live: &BTreeMap<String, Permission>,
    p: &mut FunctionPlan,
) {
    let qualifier = (!q.is_empty()).then(|| q.to_string());
    let wanted = want.map(UrlConfig::statements).unwrap_or_default();
    let field = |sid: &str| format!("{path}.statement.{sid}");
    for (sid, w) in &wanted {
        let add = Action::AddPermission { qualifier: qualifier.clone(), sid: sid.clone(), permission: w.clone() };
        match live.get(sid) {
            Some(h) if h == w => {}
            Some(h) => {
                p.push(Action::RemovePermission { qualifier: qualifier.clone(), sid: sid.clone() }, vec![]);
                p.push(add, vec![diff(field(sid), Op::Update, json!(h), json!(w))]);
            }
            None => p.push(add, vec![diff(field(sid), Op::Create, Value::Null, json!(w))]),
        }
    }
    for (sid, h) in live.iter().filter(|(sid, _)| !wanted.contains_key(*sid)) {
        let remove = Action::RemovePermission { qualifier: qualifier.clone(), sid: sid.clone() };
        p.push(remove, vec![diff(field(sid), Op::Delete, json!(h), Value::Null)]);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::observed::Observed;
    use crate::plan::tests::{alias, desired, function};
    use crate::plan::{plan, Action};
    use crate::types::*;

    const PUBLIC: &str = "  functionUrls:\n    prod: {authType: NONE}\n";

    fn public() -> UrlConfig {
        UrlConfig { auth_type: UrlAuthType::None, invoke_mode: UrlInvokeMode::Buffered, cors: UrlCors::default() }
    }

    /// A function with alias `prod` live and `urls` (qualifier → config and its statements).
    fn observed(urls: &[(&str, Option<UrlConfig>)]) -> Observed {
        let urls = urls
            .iter()
            .map(|(q, c)| {
                let statements = c.as_ref().map(UrlConfig::statements).unwrap_or_default();
                (q.to_string(), UrlState { config: c.clone(), statements })
            })
            .collect();
        let aliases = BTreeMap::from([("prod".to_string(), alias("1", &[]))]);
        Observed { function: Some(function()), aliases, urls, ..Observed::default() }
    }

    fn ops(p: &crate::plan::FunctionPlan) -> Vec<&'static str> {
        p.changes.iter().map(|c| c.operation).collect()
    }

    #[test]
    fn a_public_url_is_created_with_both_statements_and_then_is_in_sync() {
        let d = desired(PUBLIC);
        let p = plan(&d, &observed(&[("prod", None)]));
        assert_eq!(ops(&p), ["lambda:CreateFunctionUrlConfig", "lambda:AddPermission", "lambda:AddPermission"]);
        assert_eq!(p.changes[0].diffs[0].field, "functionUrls.prod");
        assert!(plan(&d, &observed(&[("prod", Some(public()))])).in_sync());
    }

    #[test]
    fn switching_to_aws_iam_updates_the_url_and_removes_the_owned_statements() {
        let d = desired("  functionUrls:\n    prod: {authType: AWS_IAM, invokeMode: RESPONSE_STREAM}\n");
        let p = plan(&d, &observed(&[("prod", Some(public()))]));
        assert_eq!(ops(&p), ["lambda:UpdateFunctionUrlConfig", "lambda:RemovePermission", "lambda:RemovePermission"]);
        let to = &p.changes[0].diffs[0].to;
        assert_eq!((to["authType"].as_str(), to["invokeMode"].as_str()), (Some("AWS_IAM"), Some("RESPONSE_STREAM")));
    }

    #[test]
    fn a_null_entry_removes_the_statements_before_the_url() {
        let d = desired("  functionUrls:\n    prod: null\n");
        let p = plan(&d, &observed(&[("prod", Some(public()))]));
        assert_eq!(ops(&p), ["lambda:RemovePermission", "lambda:RemovePermission", "lambda:DeleteFunctionUrlConfig"]);
        assert!(plan(&d, &observed(&[("prod", None)])).in_sync());
    }

    #[test]
    fn a_null_map_deletes_every_url_read_and_a_listed_map_leaves_others_alone() {
        let all = observed(&[("", Some(public())), ("prod", Some(public()))]);
        let p = plan(&desired("  functionUrls: null\n"), &all);
        let deleted = p.changes.iter().filter(|c| matches!(c.action, Action::DeleteUrl { .. })).count();
        assert_eq!(deleted, 2, "{p:#?}");
        // Only the listed qualifier is read: the other URL is not in the observed state.
        let p = plan(&desired("  functionUrls:\n    $LATEST: {authType: NONE}\n"), &observed(&[("", Some(public()))]));
        assert!(p.in_sync(), "{p:#?}");
    }

    #[test]
    fn a_url_on_an_alias_created_by_the_plan_comes_after_it_and_a_missing_alias_blocks() {
        let d =
            desired(&format!("  aliases:\n    beta: {{functionVersion: \"1\"}}\n{}", PUBLIC.replace("prod", "beta")));
        let p = plan(&d, &observed(&[("beta", None)]));
        let o = ops(&p);
        let create_alias = o.iter().position(|op| *op == "lambda:CreateAlias").unwrap();
        let create_url = o.iter().position(|op| *op == "lambda:CreateFunctionUrlConfig").unwrap();
        assert!(create_alias < create_url, "{o:?}");
        let d = desired(&PUBLIC.replace("prod", "nowhere"));
        let p = plan(&d, &observed(&[("nowhere", None)]));
        assert!(p.changes.is_empty() && p.blocked[0].contains("alias `nowhere` does not exist"), "{p:#?}");
    }

    #[test]
    fn managed_permissions_never_remove_the_url_statements() {
        let d = desired(&format!("{PUBLIC}  permissions: {{}}\n"));
        let mut o = observed(&[("prod", Some(public()))]);
        o.policies = BTreeMap::from([("prod".to_string(), public().statements())]);
        assert!(plan(&d, &o).in_sync(), "{:#?}", plan(&d, &o));
    }

    #[test]
    fn a_removed_manifest_under_delete_deletes_the_urls_it_listed() {
        let d = desired(&format!("{PUBLIC}  deletionPolicy: delete\n")).for_deletion();
        let p = plan(&d, &observed(&[("prod", Some(public()))]));
        assert_eq!(ops(&p), ["lambda:RemovePermission", "lambda:RemovePermission", "lambda:DeleteFunctionUrlConfig"]);
    }

    #[test]
    fn a_url_on_an_alias_waiting_for_the_first_publish_waits_with_it() {
        let spec = "  publish: onChange\n  aliases:\n    live: {functionVersion: published}\n  functionUrls:\n    live: {authType: NONE}\n";
        let p = plan(&desired(spec), &observed(&[("live", None)]));
        assert_eq!(ops(&p), ["lambda:PublishVersion"], "{p:#?}");
        assert!(p.changes[0].diffs.iter().any(|d| d.field == "functionUrls.live"), "shown under the publish");
    }

    #[test]
    fn an_ignored_url_is_not_planned() {
        let d = desired(&format!("{PUBLIC}  ignoreDifferences: [functionUrls.prod]\n"));
        assert!(plan(&d, &observed(&[("prod", None)])).in_sync());
    }
}
