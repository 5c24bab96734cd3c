//! Resource-policy statements: add what the manifest names, replace what differs (AWS has no
//! update: remove, then add), remove owned statements it no longer names. Statements the
//! controller does not own (no `lambda-reconciler-` id) are never touched.

use serde_json::{json, Value};

use super::{diff, Action, FunctionPlan, Op};
use crate::desired::Desired;
use crate::observed::Observed;
use crate::types::PERMISSION_SID_PREFIX;

fn qualifier(q: &str) -> Option<String> {
    (!q.is_empty()).then(|| q.to_string())
}

fn path(sid: &str) -> String {
    format!("permissions.{}", sid.strip_prefix(PERMISSION_SID_PREFIX).unwrap_or(sid))
}

pub(super) fn plan(d: &Desired, o: &Observed, p: &mut FunctionPlan) {
    let Some(want) = &d.permissions else { return };
    for ((q, sid), w) in want {
        if d.ignored(&path(sid)) {
            continue;
        }
        let add = Action::AddPermission { qualifier: qualifier(q), sid: sid.clone(), permission: w.clone() };
        match o.policies.get(q).and_then(|m| m.get(sid)) {
            Some(h) if h == w => {}
            Some(h) => {
                p.push(Action::RemovePermission { qualifier: qualifier(q), sid: sid.clone() }, vec![]);
                p.push(add, vec![diff(path(sid), Op::Update, json!(h), json!(w))]);
            }
            None => p.push(add, vec![diff(path(sid), Op::Create, Value::Null, json!(w))]),
        }
    }
    for (q, owned) in &o.policies {
        for (sid, h) in owned.iter().filter(|(sid, _)| !want.contains_key(&(q.clone(), (*sid).clone()))) {
            if d.ignored(&path(sid)) {
                continue;
            }
            let remove = Action::RemovePermission { qualifier: qualifier(q), sid: sid.clone() };
            p.push(remove, vec![diff(path(sid), Op::Delete, json!(h), Value::Null)]);
        }
    }
}
