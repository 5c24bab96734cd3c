//! Event source mappings: create what the manifest lists, update the managed settings that
//! differ, delete unlisted ones only with `prune`; a mapping in transition (Creating, Updating,
//! Deleting) is waited on, never written.

use serde_json::{json, Map, Value};

use super::{diff, Action, FunctionPlan, Op};
use crate::desired::Desired;
use crate::observed::Observed;
use crate::types::MappingConfig;

pub(super) fn path(source: &str, qualifier: &str) -> String {
    if qualifier.is_empty() {
        format!("eventSourceMappings[{source}]")
    } else {
        format!("eventSourceMappings[{source}@{qualifier}]")
    }
}

/// AWS's defaults for what a live mapping leaves unset (lists as empty).
fn live_value(live: &Map<String, Value>, key: &str) -> Value {
    match (live.get(key), key) {
        (Some(v), _) => v.clone(),
        (None, "functionResponseTypes" | "filters") => json!([]),
        (None, _) => Value::Null,
    }
}

pub(super) fn plan(d: &Desired, o: &Observed, p: &mut FunctionPlan) {
    let Some(want) = &d.mappings else { return };
    if d.delete_function {
        return; // a removed manifest leaves its mappings (see create::delete for a created function)
    }
    if d.ignored("eventSourceMappings") {
        return;
    }
    for ((source, q), w) in want {
        let field = path(source, q);
        let Some(live) = o.mappings.iter().find(|m| &m.source == source && &m.qualifier == q) else {
            let action = Action::CreateMapping {
                qualifier: q.clone(),
                source: source.clone(),
                config: w.config.clone(),
                starting_position: w.starting_position.clone(),
            };
            p.push(action, vec![diff(field, Op::Create, Value::Null, json!(w.config))]);
            continue;
        };
        let have = live.config.fields();
        let mut write = Map::new();
        let mut diffs = vec![];
        for (k, v) in w.config.fields() {
            let h = live_value(&have, &k);
            if h.is_null() && !live.settled() {
                continue; // unknown while in transition (`enabled` during Updating)
            }
            if v != h {
                diffs.push(diff(format!("{field}.{k}"), Op::Update, h, v.clone()));
                write.insert(k, v);
            }
        }
        if diffs.is_empty() {
            continue;
        }
        if !live.settled() {
            // Not progress of ours: a write that waits (so the generation is not recorded yet).
            p.blocked.push(format!("{field}: {} (changes wait until it settles)", live.state));
            continue;
        }
        p.push(Action::UpdateMapping { uuid: live.uuid.clone(), config: MappingConfig::from_fields(write) }, diffs);
    }
    if !d.prune {
        return;
    }
    for live in o.mappings.iter().filter(|m| !want.contains_key(&(m.source.clone(), m.qualifier.clone()))) {
        let field = path(&live.source, &live.qualifier);
        if live.state == "Deleting" {
            continue;
        }
        if !live.settled() {
            p.blocked.push(format!("{field}: {} (its deletion waits until it settles)", live.state));
            continue;
        }
        let action = Action::DeleteMapping { uuid: live.uuid.clone() };
        p.push(action, vec![diff(field, Op::Delete, json!(live.config), Value::Null)]);
    }
}
