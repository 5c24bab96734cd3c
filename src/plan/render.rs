//! Printing a plan as a readable diff (text) or as JSON. Values are already redacted.

use std::fmt::Write;

use serde_json::Value;

use super::{FunctionPlan, Plan};

fn show(v: &Value) -> String {
    match v {
        Value::Null => "(none)".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub fn function_text(f: &FunctionPlan, out: &mut String) {
    let moving = f.rollouts.iter().any(|r| !matches!(r.mv, super::rollout::Move::Wait { .. }));
    let head = if f.error.is_some() {
        "!"
    } else if f.in_sync() && !moving {
        "="
    } else {
        "~"
    };
    let _ = writeln!(out, "{head} {} ({}) [manifest {}]", f.function, f.region, f.manifest);
    if let Some(e) = &f.error {
        let _ = writeln!(out, "    error: {e}");
    }
    diff_lines(&f.changes, "    ", out);
    if !f.after_create.is_empty() {
        let _ = writeln!(out, "    then, once the function exists:");
        diff_lines(&f.after_create, "      ", out);
    }
    for b in &f.blocked {
        let _ = writeln!(out, "    blocked: {b}");
    }
    for pr in &f.progressing {
        let _ = writeln!(out, "    progressing: {pr}");
    }
    for r in &f.rollouts {
        let _ = writeln!(out, "    rollout: {}", rollout_line(r));
    }
    if !f.unmanaged_aliases.is_empty() {
        let _ = writeln!(out, "    unmanaged aliases (left alone): {}", f.unmanaged_aliases.join(", "));
    }
    if f.in_sync() && !moving {
        let _ = writeln!(out, "    in sync");
    }
}

fn diff_lines(changes: &[super::Change], indent: &str, out: &mut String) {
    for c in changes {
        for d in &c.diffs {
            let line = match d.op {
                super::Op::Create => format!("{}: {}", d.field, show(&d.to)),
                super::Op::Delete => format!("{}: {}", d.field, show(&d.from)),
                super::Op::Update => format!("{}: {} → {}", d.field, show(&d.from), show(&d.to)),
            };
            let _ = writeln!(out, "{indent}{} {line}", d.op.symbol());
        }
    }
}

/// One line for a rollout: where it is and what it does next.
pub fn rollout_line(r: &super::rollout::Rollout) -> String {
    use super::rollout::Move;
    let head = format!("aliases.{} {} → {} ({})", r.alias, r.from, r.to, r.strategy);
    let at = match r.phase.as_str() {
        "Starting" => "starts".to_string(),
        "Shifting" => format!("step {}/{} at {}%", r.step, r.steps, r.weight),
        "RolledBack" => format!("rolled back: {}", r.reason.as_deref().unwrap_or("")),
        "Queued" => "queued for its wave".to_string(),
        "Baking" => "at 100%, its wave bakes".to_string(),
        "Done" => "done".to_string(),
        other => format!("{other} at {}%", r.weight),
    };
    let next = match &r.mv {
        Move::Wait { .. } if r.waiting_for_approval.is_some() => {
            format!(", {}", r.waiting_for_approval.as_deref().unwrap_or(""))
        }
        Move::Wait { until_ms: Some(_) } => format!(", next step at {}", r.next_step_at.as_deref().unwrap_or("?")),
        Move::Wait { until_ms: None } => String::new(),
        Move::Hook { kind, function, .. } => format!(", runs the {kind:?} hook {function}"),
        Move::Write { alias: Some((v, w)), .. } if w.is_empty() => format!(", then version {v} at 100%"),
        Move::Write { alias: Some((_, w)), .. } => {
            // A weight is a fraction rounded to 6 places: its percent to 4 (0.55 → 55, not 55.00000000000001).
            let percent = w.get(&r.to).map_or(0.0, |x| (x * 100.0 * 1e4).round() / 1e4);
            format!(", then {percent}% on {}", r.to)
        }
        Move::Write { alias: None, .. } => String::new(),
    };
    let judge = r.judge.as_ref().map_or(String::new(), |j| format!("; {}", j.line()));
    let release = r.release.as_ref().map_or(String::new(), |v| format!("; {}", v.line()));
    format!("{head}: {at}{next}{judge}{release}")
}

pub fn text(plan: &Plan) -> String {
    let mut out = String::new();
    for f in &plan.functions {
        function_text(f, &mut out);
    }
    let changed = plan.functions.iter().filter(|f| !f.changes.is_empty()).count();
    let writes: usize = plan.functions.iter().map(|f| f.writes()).sum();
    let errors = plan.functions.iter().filter(|f| f.error.is_some()).count();
    let _ = writeln!(
        out,
        "Plan: {} function(s), {changed} to change, {writes} write call(s), {errors} error(s).",
        plan.functions.len()
    );
    out
}

pub fn json(plan: &Plan) -> String {
    serde_json::to_string_pretty(plan).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}
