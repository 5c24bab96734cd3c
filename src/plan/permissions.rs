//! Resource-policy statements: add what the manifest names, replace what differs (AWS has no
//! update: remove, then add), remove owned statements it no longer names. Statements the
//! controller does not own (no `lambda-reconciler-` id) are never touched.

use serde_json::{json, Value};

use super::{diff, Action, FunctionPlan, Op};
use crate::desired::Desired;
use crate::observed::Observed;
use crate::types::{partition_of, PERMISSION_SID_PREFIX};

fn qualifier(q: &str) -> Option<String> {
    (!q.is_empty()).then(|| q.to_string())
}

fn path(sid: &str) -> String {
    format!("permissions.{}", sid.strip_prefix(PERMISSION_SID_PREFIX).unwrap_or(sid))
}

pub(super) fn plan(d: &Desired, o: &Observed, p: &mut FunctionPlan) {
    let Some(want) = &d.permissions else { return };
    // Account principals are compared and written in the function's partition (aws-cn,
    // aws-us-gov, …), as AWS stores them there.
    let partition = o.function.as_ref().map_or("aws", |f| partition_of(&f.arn));
    for ((q, sid), w) in want {
        if d.ignored(&path(sid)) {
            continue;
        }
        let w = &w.stored(partition);
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
            // The URL statements belong to `functionUrls` (plan/urls.rs).
            if d.ignored(&path(sid)) || crate::types::is_url_sid(sid) {
                continue;
            }
            let remove = Action::RemovePermission { qualifier: qualifier(q), sid: sid.clone() };
            p.push(remove, vec![diff(path(sid), Op::Delete, json!(h), Value::Null)]);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::observed::Observed;
    use crate::plan::plan;
    use crate::plan::tests::{desired, function};
    use crate::types::{owned_sid, Permission, INVOKE};

    /// A function in `partition` whose policy holds the account grant as AWS stores it there.
    fn observed(partition: &str, region: &str) -> Observed {
        let mut f = function();
        f.arn = format!("arn:{partition}:lambda:{region}:123456789012:function:f");
        let stored = Permission {
            principal: format!("arn:{partition}:iam::111122223333:root"),
            action: INVOKE.into(),
            source_arn: None,
            source_account: None,
            function_url_auth_type: None,
            invoked_via_function_url: None,
        };
        let policy = BTreeMap::from([(owned_sid("cross"), stored)]);
        Observed { function: Some(f), policies: BTreeMap::from([(String::new(), policy)]), ..Observed::default() }
    }

    #[test]
    fn an_account_grant_in_aws_cn_or_aws_us_gov_is_in_sync_with_its_partitions_root() {
        let d = desired("  permissions:\n    cross:\n      principal: \"111122223333\"\n");
        for (partition, region) in [("aws-cn", "cn-north-1"), ("aws-us-gov", "us-gov-west-1"), ("aws", "us-east-1")] {
            let p = plan(&d, &observed(partition, region));
            assert!(p.in_sync(), "{partition}: {p:#?}");
        }
        // The grant is written with the function's partition.
        let mut o = observed("aws-cn", "cn-north-1");
        o.policies.clear();
        let p = plan(&d, &o);
        let text = format!("{:?}", p.changes[0].action);
        assert!(text.contains("arn:aws-cn:iam::111122223333:root"), "{text}");
    }
}
