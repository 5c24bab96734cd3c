//! The daemon's side of the canary judge: the judged steps of rollouts in flight are registered,
//! each poll reads every judged step of a region with one GetMetricData and queues the
//! functions whose verdict moves them (a Fail, or a Pass once the step's pause ended), and a
//! dry run's Fail is alerted once per step.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::queue::Queue;
use super::Ctx;
use crate::alerts::{Alert, AlertKind};
use crate::plan::judge::verdict;
use crate::plan::FunctionPlan;
use crate::types::{FunctionKey, Judging, Scope, Subject, Verdict};

/// Records the judged steps of `plan`'s rollouts in flight, and alerts a dry run's Fail (once
/// per step and process).
pub fn track(ctx: &Ctx, key: &FunctionKey, manifest: &str, plan: &FunctionPlan) {
    let steps: Vec<Judging> = plan.rollouts.iter().filter(|r| r.active()).filter_map(|r| r.judging.clone()).collect();
    let current: BTreeSet<&Subject> = steps.iter().map(|j| &j.subject).collect();
    {
        let mut alerted = ctx.judge_alerted.lock().unwrap();
        alerted.retain(|(k, s)| k != key || current.contains(s));
        for r in plan.rollouts.iter().filter(|r| r.active()) {
            let (Some(j), Some(view)) = (&r.judging, &r.judge) else { continue };
            let Verdict::Fail { reason } = &view.verdict else { continue };
            if !view.dry_run || !alerted.insert((key.clone(), j.subject.clone())) {
                continue;
            }
            tracing::warn!(function = %key, alias = %r.alias, reason = %reason, "judge failed a dry run");
            ctx.metrics.judge_failure("dry_run");
            let text = format!(
                "dry run: the judge would roll back {} ({}) alias {} to version {}: {reason}",
                key.name, key.region, r.alias, r.to
            );
            let mut a = Alert::new(AlertKind::JudgeFailedDryRun, text);
            a.manifest = Some(manifest.to_string());
            a.function = Some(key.name.clone());
            a.region = Some(key.region.clone());
            a.qualifier = Some(r.alias.clone());
            a.desired = Some(serde_json::json!(r.to));
            a.message = Some(reason.clone());
            ctx.alerts.send(a);
        }
    }
    let mut watched = ctx.rollout_judged.lock().unwrap();
    if steps.is_empty() {
        watched.remove(key);
    } else {
        watched.insert(key.clone(), steps);
    }
}

/// Whether a step's verdict should move its rollout now: a Fail (outside a dry run, and a dry
/// run's not yet alerted), or a Pass after the step's pause; or (to show it) a verdict of
/// another kind than the one the last plan showed.
fn moves(ctx: &Ctx, key: &FunctionKey, j: &Judging, v: &Verdict, now: i64) -> bool {
    let kind = |v: &Verdict| std::mem::discriminant(v);
    if j.shown.as_ref().map(kind) != Some(kind(v)) {
        return true;
    }
    match v {
        Verdict::Fail { .. } if j.analysis.dry_run => {
            !ctx.judge_alerted.lock().unwrap().contains(&(key.clone(), j.subject.clone()))
        }
        Verdict::Fail { .. } => true,
        Verdict::Pass => now >= j.pause_ends_ms,
        Verdict::Waiting { .. } => false,
    }
}

/// One poll of scope `scope`'s judged steps: one GetMetricData for all (up to 62 a call), kept
/// fresh for two polls, and the functions their verdicts move queued (a Fail first).
pub async fn poll(ctx: &Ctx, queue: &Queue<FunctionKey>, scope: &Scope, every: Duration) {
    let watched: BTreeMap<FunctionKey, Vec<Judging>> = ctx
        .rollout_judged
        .lock()
        .unwrap()
        .iter()
        .filter(|(k, _)| &k.scope() == scope)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if watched.is_empty() {
        return;
    }
    let subjects: Vec<Subject> = watched.values().flatten().map(|j| j.subject.clone()).collect();
    let readings = match ctx.aws.clients(scope.0.as_deref(), &scope.1).metrics.poll(&subjects, every).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(region = %scope.1, role = scope.0.as_deref().unwrap_or("own"), error = %e, "reading the judged rollouts' metrics failed");
            return;
        }
    };
    let now = crate::types::now_ms();
    for (key, steps) in &watched {
        for j in steps {
            let Some(r) = readings.get(&j.subject) else { continue };
            let v = verdict(&j.analysis, &j.subject.from, &j.subject.to, r);
            if moves(ctx, key, j, &v, now) {
                tracing::info!(function = %key, alias = %j.subject.alias, verdict = ?v, "judge verdict moves a rollout");
                match v {
                    Verdict::Fail { .. } => queue.add_first(key.clone()),
                    _ => queue.add(key.clone()),
                }
            }
        }
    }
}

/// The scopes with judged steps.
pub fn scopes(ctx: &Ctx) -> BTreeSet<Scope> {
    ctx.rollout_judged.lock().unwrap().keys().map(FunctionKey::scope).collect()
}

/// Drops the judged steps of functions leaving this replica (`keep` is false for them).
pub fn forget(ctx: &Ctx, keep: impl Fn(&FunctionKey) -> bool) {
    ctx.rollout_judged.lock().unwrap().retain(|k, _| keep(k));
    ctx.judge_alerted.lock().unwrap().retain(|(k, _)| keep(k));
}

pub type Watched = std::sync::Mutex<BTreeMap<FunctionKey, Vec<Judging>>>;
pub type Alerted = std::sync::Mutex<BTreeSet<(FunctionKey, Subject)>>;
