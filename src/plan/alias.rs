//! Planning one alias: the alias itself, provisioned concurrency, its autoscaling and its
//! event invoke config, in the order Lambda accepts them.

use serde_json::{json, Value};

use super::{diff, invoke_config, Action, Diff, FunctionPlan, Op};
use crate::desired::{Desired, DesiredAlias, DesiredScaling};
use crate::observed::Observed;
use crate::types::{AliasState, Field, PcStatus, Routing, ScalingState, POLICY_NAME};

/// Lambda's refusal, quoted in `blocked` so the operator recognises it.
pub const WEIGHTS_BLOCK: &str = "Alias with weights can not be used with Provisioned Concurrency";

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

fn same_routing(a: &Routing, b: &Routing) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|((ka, va), (kb, vb))| ka == kb && close(*va, *vb))
}

/// Removals that must precede everything else: deregister before deleting provisioned
/// concurrency; pruned aliases go last in this phase.
pub(super) fn removals(d: &Desired, o: &Observed, p: &mut FunctionPlan) {
    for (name, a) in &d.aliases {
        let base = format!("aliases.{name}");
        if a.delete {
            if o.scaling.contains_key(name) {
                p.push(Action::DeregisterScalableTarget { alias: name.clone() }, vec![]);
            }
            if let Some(cur) = o.aliases.get(name) {
                p.push(
                    Action::DeleteAlias { alias: name.clone() },
                    vec![diff(&base, Op::Delete, json!(cur), Value::Null)],
                );
            }
            continue;
        }
        if matches!(a.autoscaling, Field::Null) && !d.ignored(&format!("{base}.autoscaling")) {
            if let Some(s) = o.scaling.get(name) {
                p.push(
                    Action::DeregisterScalableTarget { alias: name.clone() },
                    vec![diff(format!("{base}.autoscaling"), Op::Delete, json!(s), Value::Null)],
                );
            }
        }
        if matches!(a.provisioned_concurrency, Field::Null) && !d.ignored(&format!("{base}.provisionedConcurrency")) {
            if let Some(pc) = o.provisioned.get(name) {
                let field = format!("{base}.provisionedConcurrency");
                p.push(
                    Action::DeleteProvisionedConcurrency { alias: name.clone() },
                    vec![diff(field, Op::Delete, json!(pc.requested), Value::Null)],
                );
            }
        }
    }
    if d.prune {
        for (name, cur) in o.aliases.iter().filter(|(k, _)| !d.aliases.contains_key(*k)) {
            if o.scaling.contains_key(name) {
                p.push(Action::DeregisterScalableTarget { alias: name.clone() }, vec![]);
            }
            p.push(
                Action::DeleteAlias { alias: name.clone() },
                vec![diff(format!("aliases.{name}"), Op::Delete, json!(cur), Value::Null)],
            );
        }
    }
}

/// The provisioned concurrency to put, if any; records progress on `p`.
fn provisioned(d: &Desired, o: &Observed, name: &str, a: &DesiredAlias, p: &mut FunctionPlan) -> Option<(i64, Diff)> {
    let field = format!("aliases.{name}.provisionedConcurrency");
    let Field::Value(want) = a.provisioned_concurrency else {
        return None;
    };
    if d.ignored(&field) {
        return None;
    }
    let Some(cur) = o.provisioned.get(name) else {
        return Some((want, diff(field, Op::Create, Value::Null, json!(want))));
    };
    let autoscaled = match (&a.autoscaling, o.scaling.get(name)) {
        (Field::Value(s), Some(_)) => (s.min_capacity..=s.max_capacity).contains(&cur.requested),
        _ => false,
    };
    if !autoscaled && cur.requested != want {
        return Some((want, diff(field, Op::Update, json!(cur.requested), json!(want))));
    }
    match cur.status {
        PcStatus::InProgress => {
            p.progressing.push(format!("{field}: IN_PROGRESS ({} of {} allocated)", cur.allocated, cur.requested));
            None
        }
        PcStatus::Failed => {
            let reason = cur.reason.clone().unwrap_or_default();
            Some((cur.requested, diff(field, Op::Update, json!(format!("FAILED: {reason}")), json!(cur.requested))))
        }
        PcStatus::Ready => None,
    }
}

pub(super) fn plan_alias(d: &Desired, o: &Observed, name: &str, a: &DesiredAlias, p: &mut FunctionPlan) {
    if a.delete {
        return;
    }
    let base = format!("aliases.{name}");
    let cur = o.aliases.get(name);
    let live_routing = cur.map(|c| c.routing.clone()).unwrap_or_default();
    let want_routing = match &a.routing {
        Field::Value(r) if cur.is_none() || !d.ignored(&format!("{base}.routing")) => Some(r.clone()),
        _ => None,
    };
    let mut pc = provisioned(d, o, name, a, p);
    let routing_after = want_routing.clone().unwrap_or_else(|| live_routing.clone());
    let mut blocked = false;
    if pc.is_some() && !live_routing.is_empty() && a.deployment.is_some() {
        p.blocked
            .push(format!("{base}.provisionedConcurrency: {WEIGHTS_BLOCK}; the change waits until the rollout ends"));
        pc = None;
        blocked = true;
    } else if pc.is_some() && !live_routing.is_empty() && !routing_after.is_empty() {
        p.blocked.push(format!("{base}.provisionedConcurrency: {WEIGHTS_BLOCK}; remove the weights (routing: {{}}) first, then re-add them"));
        pc = None;
        blocked = true;
    }
    // Weights go on after provisioned concurrency is in place.
    let defer_routing = pc.is_some() && !routing_after.is_empty();
    alias_write(d, name, a, cur, want_routing.as_ref().filter(|_| !defer_routing), p);
    if let Some((value, df)) = pc {
        p.push(Action::PutProvisionedConcurrency { alias: name.to_string(), value }, vec![df]);
        p.push(Action::WaitProvisionedReady { alias: name.to_string() }, vec![]);
    }
    if !blocked {
        if let Field::Value(s) = &a.autoscaling {
            if !d.ignored(&format!("{base}.autoscaling")) {
                scaling(name, s, o.scaling.get(name), p);
            }
        }
    }
    if defer_routing {
        if let Some(r) = want_routing.filter(|r| !same_routing(r, &live_routing)) {
            let df = diff(format!("{base}.routing"), Op::Update, json!(live_routing), json!(r));
            p.push(
                Action::UpdateAlias { alias: name.to_string(), version: None, description: None, routing: Some(r) },
                vec![df],
            );
        }
    }
    invoke_config(d, Some(name), &format!("{base}.eventInvokeConfig"), &a.invoke_config, o, p);
    if let Some(cur) = cur {
        super::rollout::plan(o, name, a, cur, d.releases.get(name), p);
    }
}

/// CreateAlias or UpdateAlias for version, description and (unless deferred) routing.
fn alias_write(
    d: &Desired,
    name: &str,
    a: &DesiredAlias,
    cur: Option<&AliasState>,
    routing: Option<&Routing>,
    p: &mut FunctionPlan,
) {
    let base = format!("aliases.{name}");
    let Some(cur) = cur else {
        let state = AliasState {
            function_version: a.function_version.clone(),
            description: a.description.clone().unwrap_or_default(),
            routing: routing.cloned().unwrap_or_default(),
            revision: String::new(),
        };
        let df = diff(base, Op::Create, Value::Null, json!(state));
        p.push(Action::CreateAlias { alias: name.to_string(), state }, vec![df]);
        return;
    };
    let mut diffs = vec![];
    // With a deployment, the rollout moves the version (and the routing).
    let rolled = a.deployment.is_some();
    let version = (cur.function_version != a.function_version
        && !rolled
        && !d.ignored(&format!("{base}.functionVersion")))
    .then(|| {
        diffs.push(diff(
            format!("{base}.functionVersion"),
            Op::Update,
            json!(cur.function_version),
            json!(a.function_version),
        ));
        a.function_version.clone()
    });
    let description =
        a.description.as_ref().filter(|w| **w != cur.description && !d.ignored(&format!("{base}.description"))).map(
            |w| {
                diffs.push(diff(format!("{base}.description"), Op::Update, json!(cur.description), json!(w)));
                w.clone()
            },
        );
    let routing = routing.filter(|r| !same_routing(r, &cur.routing)).map(|r| {
        diffs.push(diff(format!("{base}.routing"), Op::Update, json!(cur.routing), json!(r)));
        r.clone()
    });
    if !diffs.is_empty() {
        p.push(Action::UpdateAlias { alias: name.to_string(), version, description, routing }, diffs);
    }
}

fn scaling(name: &str, s: &DesiredScaling, cur: Option<&ScalingState>, p: &mut FunctionPlan) {
    let base = format!("aliases.{name}.autoscaling");
    let alias = || name.to_string();
    let range = |min: i64, max: i64| json!({"minCapacity": min, "maxCapacity": max});
    match cur {
        None => p.push(
            Action::RegisterScalableTarget { alias: alias(), min: s.min_capacity, max: s.max_capacity },
            vec![diff(&base, Op::Create, Value::Null, range(s.min_capacity, s.max_capacity))],
        ),
        Some(c) if (c.min_capacity, c.max_capacity) != (s.min_capacity, s.max_capacity) => p.push(
            Action::RegisterScalableTarget { alias: alias(), min: s.min_capacity, max: s.max_capacity },
            vec![diff(&base, Op::Update, range(c.min_capacity, c.max_capacity), range(s.min_capacity, s.max_capacity))],
        ),
        Some(_) => {}
    }
    let policies = cur.map(|c| c.policies.as_slice()).unwrap_or_default();
    let field = format!("{base}.targetTracking");
    // The owned policy: ours by name, else an adopted target-tracking policy on utilization
    // (kept under its own name, so adopting a function does not recreate it). Its whole
    // configuration is compared: target, both cooldowns, scale-in.
    let owned = policies
        .iter()
        .find(|x| x.name == POLICY_NAME)
        .or_else(|| policies.iter().find(|x| x.tracking.is_some()))
        .filter(|_| s.target_tracking.is_some());
    match (&s.target_tracking, owned.and_then(|x| x.tracking.as_ref())) {
        (Some(t), Some(c)) if t.same(c) => {}
        (Some(t), c) => {
            let op = if owned.is_some() { Op::Update } else { Op::Create };
            let name = owned.map_or(POLICY_NAME.to_string(), |x| x.name.clone());
            p.push(
                Action::PutTargetTrackingPolicy { alias: alias(), name, tracking: t.clone() },
                vec![diff(&field, op, json!(c), json!(t))],
            );
        }
        (None, _) => {}
    }
    for x in policies.iter().filter(|x| Some(&x.name) != owned.map(|o| &o.name)) {
        let df = diff(format!("{base}.policies.{}", x.name), Op::Delete, json!(x), Value::Null);
        p.push(Action::DeleteScalingPolicy { alias: alias(), name: x.name.clone() }, vec![df]);
    }
    let actions = cur.map(|c| c.scheduled_actions.as_slice()).unwrap_or_default();
    for w in &s.scheduled_actions {
        let field = format!("{base}.scheduledActions.{}", w.name);
        match actions.iter().find(|c| c.name == w.name) {
            Some(c) if c == w => {}
            Some(c) => p.push(
                Action::PutScheduledAction { alias: alias(), action: w.clone() },
                vec![diff(field, Op::Update, json!(c), json!(w))],
            ),
            None => p.push(
                Action::PutScheduledAction { alias: alias(), action: w.clone() },
                vec![diff(field, Op::Create, Value::Null, json!(w))],
            ),
        }
    }
    for c in actions.iter().filter(|c| !s.scheduled_actions.iter().any(|w| w.name == c.name)) {
        let df = diff(format!("{base}.scheduledActions.{}", c.name), Op::Delete, json!(c), Value::Null);
        p.push(Action::DeleteScheduledAction { alias: alias(), name: c.name.clone() }, vec![df]);
    }
}
