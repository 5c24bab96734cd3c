//! `spec.tags`: the user tags, compared key by key; the controller's tags and AWS's are never
//! compared, written or removed.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::configs::ConfigAction;
use super::{diff, Action, FunctionPlan, Op};
use crate::desired::Desired;
use crate::types::{is_user_tag, Field, FunctionState};

/// One TagResource for the tags added or changed, one UntagResource for the user tags the
/// manifest no longer lists (`null` and `{}` list none).
pub(super) fn plan(d: &Desired, f: &FunctionState, p: &mut FunctionPlan) {
    let empty = BTreeMap::new();
    let want = match &d.configs.tags {
        Field::Absent => return,
        _ if d.ignored("tags") => return,
        Field::Value(t) => t,
        Field::Null => &empty,
    };
    let Some(live) = &f.user_tags else {
        p.blocked.push("tags: the function's tags cannot be read; lambda:ListTags is needed".into());
        return;
    };
    let kept = |k: &String| is_user_tag(k) && !d.ignored(&format!("tags.{k}"));
    let (mut set, mut set_diffs) = (BTreeMap::new(), vec![]);
    for (k, v) in want.iter().filter(|(k, _)| kept(k)) {
        match live.get(k) {
            Some(cur) if cur == v => continue,
            Some(cur) => set_diffs.push(diff(format!("tags.{k}"), Op::Update, json!(cur), json!(v))),
            None => set_diffs.push(diff(format!("tags.{k}"), Op::Create, Value::Null, json!(v))),
        }
        set.insert(k.clone(), v.clone());
    }
    let gone: Vec<(&String, &String)> = live.iter().filter(|(k, _)| kept(k) && !want.contains_key(*k)).collect();
    if !set.is_empty() {
        p.push(Action::Config(ConfigAction::TagUser(set)), set_diffs);
    }
    if !gone.is_empty() {
        let diffs = gone.iter().map(|(k, v)| diff(format!("tags.{k}"), Op::Delete, json!(v), Value::Null)).collect();
        p.push(Action::Config(ConfigAction::UntagUser(gone.iter().map(|(k, _)| (*k).clone()).collect())), diffs);
    }
}
