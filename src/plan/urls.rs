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
