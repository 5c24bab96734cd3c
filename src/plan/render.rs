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
    let head = if f.error.is_some() {
        "!"
    } else if f.in_sync() {
        "="
    } else {
        "~"
    };
    let _ = writeln!(out, "{head} {} ({}) [manifest {}]", f.function, f.region, f.manifest);
    if let Some(e) = &f.error {
        let _ = writeln!(out, "    error: {e}");
    }
    for c in &f.changes {
        for d in &c.diffs {
            let line = match d.op {
                super::Op::Create => format!("{}: {}", d.field, show(&d.to)),
                super::Op::Delete => format!("{}: {}", d.field, show(&d.from)),
                super::Op::Update => format!("{}: {} → {}", d.field, show(&d.from), show(&d.to)),
            };
            let _ = writeln!(out, "    {} {line}", d.op.symbol());
        }
    }
    for b in &f.blocked {
        let _ = writeln!(out, "    blocked: {b}");
    }
    for pr in &f.progressing {
        let _ = writeln!(out, "    progressing: {pr}");
    }
    if !f.unmanaged_aliases.is_empty() {
        let _ = writeln!(out, "    unmanaged aliases (left alone): {}", f.unmanaged_aliases.join(", "));
    }
    if f.in_sync() {
        let _ = writeln!(out, "    in sync");
    }
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
