//! How an alias's state reads against its rollout marker: the state a phase stands for, a step
//! or a phase the alias shows ahead of its marker (a write cut short), a write that changes nothing.

use super::release::{self as waves, Turn};
use super::rollout::{new_marker, roll_back, MarkerWrite, Move};
use crate::types::{AliasState, Deployment, Gate, Marker, Phase, Release, Routing};

pub(super) fn weights(to: &str, percent: f64) -> Routing {
    Routing::from([(to.to_string(), crate::types::step_weight(percent))])
}

/// `mv` without an alias write that would change nothing (a roll back whose alias is back
/// already); a move left with nothing to write waits.
pub(super) fn unmoved(mv: Move, cur: &AliasState) -> Move {
    match mv {
        Move::Write { marker, alias: Some((v, r)) } if same(cur, &v, &r) => match marker {
            MarkerWrite::Keep => Move::Wait { until_ms: None },
            marker => Move::Write { marker, alias: None },
        },
        mv => mv,
    }
}

pub(super) fn same(a: &AliasState, version: &str, routing: &Routing) -> bool {
    a.function_version == version
        && a.routing.len() == routing.len()
        && a.routing.iter().zip(routing).all(|((ka, va), (kb, vb))| ka == kb && (va - vb).abs() < 1e-6)
}

/// The alias state a marker's phase stands for, and the one before it (a crash between the
/// marker write and the alias write leaves the alias one state behind; that is finished, not drift).
pub(super) fn expected(dep: &Deployment, m: &Marker) -> ((String, Routing), (String, Routing)) {
    // A step list edited mid-rollout may be shorter than the marker's index: clamp, never 100 %.
    let last = dep.steps.len().saturating_sub(1);
    let step = |k: usize| weights(&m.to, dep.steps.get(k.min(last)).map_or(100.0, |s| s.percent));
    let start = (m.from.clone(), Routing::new());
    let last_shift = if dep.steps.is_empty() { start.clone() } else { (m.from.clone(), step(dep.steps.len() - 1)) };
    match &m.phase {
        Phase::PreTraffic => (start.clone(), start),
        Phase::Shifting { step: 0 } => ((m.from.clone(), step(0)), start),
        Phase::Shifting { step: k } => ((m.from.clone(), step(*k)), (m.from.clone(), step(k - 1))),
        Phase::PostTraffic => ((m.to.clone(), Routing::new()), last_shift),
        Phase::RolledBack { .. } => (start, last_shift),
        Phase::Queued => (start.clone(), start),
        Phase::Done => ((m.to.clone(), Routing::new()), (m.to.clone(), Routing::new())),
    }
}

/// The marker write the alias's state asks for before anything else moves, given the marker as
/// `written` and as the alias shows it (`m`):
/// * in flight with the alias back on the old version and no weight: a roll back the restart cut
///   short between its two writes (or a person pulled the traffic): rolled back, target held;
/// * past the preTraffic hook (the alias has weight, or is at 100 %): that phase is written, so a
///   roll back cut short later is never read as the hook still to run;
/// * at a manual step the marker does not name: its gate is written (`promote` reads it);
/// * at a step the marker does not name and this process only read (`read`: a restart, a
///   failover, another process's write): the step and the time it was first seen are written,
///   so its pause counts from there across further restarts (never again from zero each time).
pub(super) fn unrecorded(written: &Marker, m: &Marker, cur: &AliasState, read: bool, now: i64) -> Option<Move> {
    let moved = matches!(written.phase, Phase::Shifting { .. } | Phase::PostTraffic);
    if moved && same(cur, &m.from, &Routing::new()) {
        let reason = format!(
            "the alias was found on version {} with no weight on {}: a roll back cut short by a restart, or traffic moved by hand",
            m.from, m.to
        );
        return Some(roll_back(m, reason, now));
    }
    let passed_hook = written.phase == Phase::PreTraffic && m.phase != Phase::PreTraffic;
    let new_gate = m.gate == Gate::Waiting && m.phase != written.phase;
    let read_step = read && matches!(m.phase, Phase::Shifting { .. }) && m.phase != written.phase;
    (passed_hook || new_gate || read_step).then(|| Move::Write { marker: MarkerWrite::Set(m.clone()), alias: None })
}

/// The marker of a rollout whose first weight is on the alias but whose marker write a restart
/// cut short (the alias is written first): the weight is a step of this deployment to `to`
/// from the live version, and the rollout may start now (a release member: its wave's turn).
pub(super) fn adopted(dep: &Deployment, cur: &AliasState, to: &str, rel: Option<&Release>, now: i64) -> Option<Marker> {
    // With a preTraffic hook the first write is its marker: a weight without one is not ours.
    if dep.pre_traffic.is_some() || rel.is_some_and(|r| !matches!(waves::turn(r, now), Turn::Go)) {
        return None;
    }
    let m = new_marker(&cur.function_version, to, rel, Phase::PreTraffic, now);
    let k = m.step_of(&dep.steps, &cur.function_version, &cur.routing)?;
    let gate = if dep.steps[k].approval.is_some() { Gate::Waiting } else { Gate::None };
    Some(Marker { phase: Phase::Shifting { step: k }, gate, ..m })
}

/// True when the alias is in a state this rollout itself set earlier (the old version with some
/// weight on the new one, or, once rolled back, the new version at 100 %): a crash after the
/// marker write (a promote, a roll back from 100 %) left it there, so it is finished, not drift.
pub(super) fn own_earlier_state(m: &Marker, cur: &AliasState) -> bool {
    let shifting = cur.function_version == m.from && cur.routing.keys().all(|v| *v == m.to);
    let at_target = cur.function_version == m.to && cur.routing.is_empty();
    match m.phase {
        Phase::RolledBack { .. } => shifting || at_target,
        Phase::PostTraffic => shifting,
        _ => false,
    }
}
