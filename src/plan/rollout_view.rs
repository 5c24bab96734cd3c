//! How a rollout shows in plans and status (its view), and the markers no deployment owns any more.

use super::rollout::{MarkerWrite, Move, Rollout};
use super::FunctionPlan;
use crate::desired::Desired;
use crate::observed::Observed;
use crate::types::{format_time, AliasState, Deployment, Gate, Marker, Phase, RolloutView, Routing};

/// The rollout of alias `name` as shown, with its next move.
pub(super) fn view(
    name: &str,
    dep: &Deployment,
    m: &Marker,
    cur: &AliasState,
    alarms: Vec<(String, String)>,
    mv: Move,
) -> Rollout {
    let weight = if cur.function_version == m.to {
        100.0
    } else {
        cur.routing.get(&m.to).map_or(0.0, |w| (w * 100.0 * 1e4).round() / 1e4)
    };
    let (phase, step, reason) = match &m.phase {
        Phase::PreTraffic => ("PreTraffic", 0, None),
        Phase::Shifting { step } => ("Shifting", step + 1, None),
        Phase::PostTraffic => ("PostTraffic", dep.steps.len(), None),
        Phase::RolledBack { reason } => ("RolledBack", 0, Some(reason.clone())),
        Phase::Queued => ("Queued", 0, None),
        Phase::Done => ("Done", dep.steps.len(), None),
    };
    let next_step_at = match &mv {
        Move::Wait { until_ms: Some(t) } => Some(format_time(t / 1000)),
        _ => None,
    };
    let waiting_for_approval = match (&m.phase, m.gate, &mv) {
        (Phase::Shifting { .. }, Gate::Waiting, Move::Wait { until_ms }) => Some(match until_ms {
            Some(t) => format!("waiting for approval (promote) until {}", format_time(t / 1000)),
            None => "waiting for approval (promote)".to_string(),
        }),
        _ => None,
    };
    let view = RolloutView {
        waiting_for_approval,
        alias: name.to_string(),
        from: m.from.clone(),
        to: m.to.clone(),
        strategy: dep.strategy.clone(),
        phase: phase.to_string(),
        step,
        steps: dep.steps.len(),
        pause_ms: dep.steps.iter().map(|s| s.pause_ms).sum(),
        manual_steps: dep.steps.iter().filter(|s| s.approval.is_some()).count(),
        analysed: dep.analysis.is_some(),
        weight,
        next_step_at,
        alarms,
        reason,
        judge: None,
        release: None,
    };
    Rollout { view, mv, judging: None }
}

/// Markers of aliases that no longer have a deployment (or are gone): removed.
pub(super) fn stale_markers(d: &Desired, o: &Observed, p: &mut FunctionPlan) {
    let Some(f) = &o.function else { return };
    for (alias, m) in &f.markers {
        let deployed = d.aliases.get(alias).is_some_and(|a| a.deployment.is_some() && !a.delete);
        if !deployed {
            let dep = Deployment {
                strategy: "removed".into(),
                steps: vec![],
                alarms: vec![],
                pre_traffic: None,
                post_traffic: None,
                hook_timeout_ms: 0,
                switch_if_incompatible: false,
                analysis: None,
            };
            let cur = o.aliases.get(alias).cloned().unwrap_or(AliasState {
                function_version: m.from.clone(),
                description: String::new(),
                routing: Routing::new(),
                revision: String::new(),
            });
            let mv = Move::Write { marker: MarkerWrite::Remove, alias: None };
            p.rollouts.push(view(alias, &dep, m, &cur, vec![], mv));
        }
    }
}
