//! `plan -o markdown`: what a merge will do, for a pull request comment: a summary table with the flags a reviewer must see, then each function's diff in a collapsible block.

use std::fmt::Write;

use serde_json::Value;

use super::rollout::Move;
use super::{render, Action, FunctionPlan, Plan};

/// The first line of the comment: the shipped workflow finds its own comment by it and updates it.
pub const MARKER: &str = "<!-- lambda-reconciler plan -->";

/// Lambda's deprecation dates (runtime, UTC date): "Deprecated runtimes" and the deprecation
/// column of "Supported runtimes", AWS Lambda Developer Guide, Lambda runtimes
/// (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html), as of 2026-12-04.
/// Lambda blocks creating, then updating, functions on a runtime some time after its date.
pub const DEPRECATIONS: &[(&str, &str)] = &[
    ("python2.7", "2021-07-15"),
    ("python3.6", "2022-07-18"),
    ("python3.7", "2023-12-04"),
    ("python3.8", "2024-10-14"),
    ("python3.9", "2025-12-15"),
    ("nodejs10.x", "2021-07-30"),
    ("nodejs12.x", "2023-03-31"),
    ("nodejs14.x", "2023-12-04"),
    ("nodejs16.x", "2024-06-12"),
    ("nodejs18.x", "2025-09-01"),
    ("nodejs20.x", "2026-04-30"),
    ("nodejs22.x", "2027-04-30"),
    ("java8", "2024-01-08"),
    ("go1.x", "2024-01-08"),
    ("provided", "2024-01-08"),
    ("ruby2.7", "2023-12-07"),
    ("ruby3.2", "2026-03-31"),
    ("ruby3.3", "2027-03-31"),
    ("dotnetcore3.1", "2023-04-03"),
    ("dotnet6", "2024-12-20"),
    ("dotnet8", "2026-11-10"),
];

/// A runtime deprecating within this many days is flagged too.
const SOON_DAYS: i64 = 180;

/// The whole comment: the marker, a heading with the totals, the table, the collapsible diffs.
pub fn markdown(plan: &Plan, now_ms: i64) -> String {
    let mut out = String::new();
    let changed = plan.functions.iter().filter(|f| !f.in_sync() || moving(f)).count();
    let errors = plan.functions.iter().filter(|f| f.error.is_some()).count();
    let _ = writeln!(out, "{MARKER}");
    let _ = writeln!(
        out,
        "### lambda-reconciler plan: {changed} of {} function(s) change, {errors} error(s)\n",
        plan.functions.len()
    );
    let _ = writeln!(out, "| function | region / account | changes | flags |");
    let _ = writeln!(out, "|---|---|---|---|");
    for f in &plan.functions {
        let place = match &f.account {
            Some(a) => format!("{} / {}", f.region, a),
            None => f.region.clone(),
        };
        let flags = flags(f, now_ms);
        let flags = if flags.is_empty() {
            "—".to_string()
        } else {
            flags.iter().map(|x| cell(x)).collect::<Vec<_>>().join("<br>")
        };
        let _ = writeln!(out, "| `{}` | {} | {} | {} |", cell(&f.function), cell(&place), cell(&summary(f)), flags);
    }
    for f in plan.functions.iter().filter(|f| !f.in_sync() || moving(f)) {
        let mut text = String::new();
        render::function_text(f, &mut text);
        let fence = fence_for(&text);
        let _ = write!(
            out,
            "\n<details><summary><code>{}</code> ({}): {}</summary>\n\n{fence}diff\n{text}{fence}\n</details>\n",
            html(&f.function),
            html(&f.region),
            html(&summary(f))
        );
    }
    out
}

fn moving(f: &FunctionPlan) -> bool {
    f.rollouts.iter().any(|r| !matches!(r.mv, Move::Wait { .. }))
}

fn summary(f: &FunctionPlan) -> String {
    if let Some(e) = &f.error {
        return format!("error: {e}");
    }
    if f.in_sync() && !moving(f) {
        return "in sync".into();
    }
    let fields: usize = f.changes.iter().map(|c| c.diffs.len()).sum();
    let mut parts = vec![format!("{fields} field(s), {} write call(s)", f.writes())];
    if !f.blocked.is_empty() {
        parts.push(format!("{} blocked", f.blocked.len()));
    }
    parts.join(", ")
}

/// What the merge does to production beyond the field diff.
pub fn flags(f: &FunctionPlan, now_ms: i64) -> Vec<String> {
    let mut out = vec![];
    let all = f.changes.iter().chain(&f.after_create);
    for c in all {
        if let Some(flag) = flag(&c.action, &c.diffs) {
            if !out.contains(&flag) {
                out.push(flag);
            }
        }
    }
    for r in f.rollouts.iter().filter(|r| r.phase == "Starting") {
        let alarms = r.alarms.iter().map(|(a, _)| a.as_str()).collect::<Vec<_>>().join(", ");
        let judged = match (r.alarms.is_empty(), r.analysed) {
            (true, false) => "no alarms, no canary analysis".to_string(),
            (true, true) => "judged by the canary analysis".to_string(),
            (false, false) => format!("judged by alarms {alarms}"),
            (false, true) => format!("judged by the canary analysis and alarms {alarms}"),
        };
        let manual = match r.manual_steps {
            0 => String::new(),
            n => format!(", {n} approval gate(s)"),
        };
        out.push(format!(
            "🚦 starts a rollout of `{}` {} → {} ({}, {} step(s), {} of pauses{manual}, {judged})",
            r.alias,
            r.from,
            r.to,
            r.strategy,
            r.steps,
            human(r.pause_ms)
        ));
    }
    // A release member queued for its wave: the merge starts it once the earlier waves baked.
    for r in f.rollouts.iter().filter(|r| r.phase == "Queued" || r.phase == "Starting") {
        if let Some(v) = &r.release {
            out.push(format!("🌊 `{}` is in wave {} of {} of release `{}`", r.alias, v.wave, v.waves, v.name));
        }
    }
    if let Some(flag) = f.runtime.as_deref().and_then(|rt| deprecated(rt, now_ms)) {
        out.push(flag);
    }
    out
}

fn flag(a: &Action, diffs: &[super::Diff]) -> Option<String> {
    let first = diffs.first();
    let field = first.map_or(String::new(), |d| d.field.clone());
    match a {
        Action::CreateFunction { .. } => Some("✨ creates the function".into()),
        Action::DeleteFunction => Some("🗑️ **deletes the function** (every version and alias)".into()),
        Action::PublishVersion { .. } => Some("📦 publishes a new version".into()),
        Action::UpdateAlias { version: Some(v), routing, .. } => {
            let from = diffs.iter().find(|d| d.field.ends_with(".functionVersion")).map(|d| show(&d.from))?;
            let weighted = routing.as_ref().is_some_and(|r| !r.is_empty());
            (!weighted).then(|| format!("⚡ moves all traffic at once: `{}` {from} → {v}", alias_of(&field)))
        }
        Action::DeleteAlias { alias } => Some(format!("🗑️ removes alias `{alias}`")),
        Action::RemovePermission { sid, .. } => Some(format!("🔓 removes permission `{sid}`")),
        Action::DeleteMapping { .. } => Some(format!("🔌 removes an event source mapping ({field})")),
        Action::DeleteEventInvokeConfig { .. } => Some(format!("🔌 removes `{field}` (its destinations with it)")),
        Action::PutEventInvokeConfig { .. } if drops_destination(first?) => {
            Some(format!("🔌 removes a destination of `{field}`"))
        }
        Action::DeleteUrl { qualifier } => Some(format!("🔓 removes the function URL of `{qualifier}`")),
        Action::PutReservedConcurrency(0) => {
            Some("⛔ sets reserved concurrency to 0: **every invocation is throttled**".into())
        }
        Action::PutProvisionedConcurrency { alias, value } => {
            let from = first.map(|d| d.from.as_i64().unwrap_or(0)).unwrap_or(0);
            Some(format!("🔋 provisioned concurrency of `{alias}` {from} → {value} ({:+})", value - from))
        }
        Action::DeleteProvisionedConcurrency { alias } => Some(format!(
            "🔋 removes the provisioned concurrency of `{alias}` ({})",
            first.map_or("?".into(), |d| show(&d.from))
        )),
        Action::UpdateCode { .. } if first.is_some_and(|d| show(&d.from).contains("changed outside git")) => {
            Some("⚠️ overwrites code uploaded outside git".into())
        }
        _ => None,
    }
}

fn alias_of(field: &str) -> String {
    field.strip_prefix("aliases.").and_then(|r| r.split('.').next()).unwrap_or(field).to_string()
}

/// True when the live invoke config's destinations (from) include one the new one (to) lacks.
fn drops_destination(d: &super::Diff) -> bool {
    let dests = |v: &Value| -> Vec<String> {
        ["onSuccess", "onFailure"]
            .iter()
            .filter_map(|k| v.get(*k).and_then(Value::as_str).map(str::to_string))
            .collect()
    };
    let (from, to) = (dests(&d.from), dests(&d.to));
    from.iter().any(|x| !to.contains(x))
}

/// The deprecated-runtime flag: deprecated already, or within [`SOON_DAYS`].
fn deprecated(runtime: &str, now_ms: i64) -> Option<String> {
    let (_, date) = DEPRECATIONS.iter().find(|(r, _)| *r == runtime)?;
    let days = days_until(date, now_ms)?;
    if days <= 0 {
        Some(format!("🪦 runtime `{runtime}` is deprecated (since {date}): Lambda blocks updates after its dates"))
    } else if days <= SOON_DAYS {
        Some(format!("⏳ runtime `{runtime}` is deprecated on {date} (in {days} days)"))
    } else {
        None
    }
}

/// Days from `now_ms` to `date` (YYYY-MM-DD, UTC midnight); negative once passed.
fn days_until(date: &str, now_ms: i64) -> Option<i64> {
    let mut it = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, d) = (it.next()??, it.next()??, it.next()??);
    // Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days - now_ms.div_euclid(86_400_000))
}

fn human(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0 => "no pause".into(),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::Null => "(none)".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Text for an HTML context (a `<summary>`): no tag, no entity survives.
fn html(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Text for a table cell: HTML escaped, no column break, no line break, no code span break-out.
/// A backslash is escaped first: GitHub's table reads `\\` as one escape, so `\\|` would split.
fn cell(s: &str) -> String {
    html(s).replace('\\', "\\\\").replace('|', "\\|").replace(['\n', '\r'], " ")
}

/// A code fence longer than any backtick run in `text`, so no value can close it.
fn fence_for(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    "`".repeat(longest.max(2) + 1)
}

#[cfg(test)]
#[path = "markdown_tests.rs"]
mod tests;
