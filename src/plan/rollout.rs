//! Planning a rollout of an alias with a deployment: from the alias as it is, its marker, the
//! alarms and the clock, the one move to make now. Pure; the driver executes a move and plans
//! again, so every move is decided from the world as it is (restart-safe).

use serde::Serialize;
use serde_json::json;

use super::judge::AfterPause;
use super::release::{self as waves, Turn};
use super::{diff, Action, FunctionPlan, Op};
use crate::desired::{Desired, DesiredAlias};
use crate::observed::Observed;
use crate::types::{
    format_time, AlarmState, AliasState, Analysis, Deployment, Gate, Marker, OnTimeout, PeerState, Phase, Release,
    RolloutView, Routing,
};

/// Which hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum HookKind {
    PreTraffic,
    PostTraffic,
}

/// The one move a rollout makes now.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase", tag = "move")]
pub enum Move {
    /// Nothing to do before `until_ms` (a step's pause ends); `None`: nothing scheduled.
    Wait { until_ms: Option<i64> },
    /// Write the marker, then the alias's version and routing (if `Some`).
    Write {
        marker: MarkerWrite,
        #[serde(skip_serializing_if = "Option::is_none")]
        alias: Option<(String, Routing)>,
    },
    /// Invoke the hook; on success make `then`, on failure roll back.
    Hook { kind: HookKind, function: String, timeout_ms: u64, alarms: Vec<String>, marker: Marker, then: Box<Move> },
}

/// What a move does to the marker tag.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum MarkerWrite {
    Keep,
    Set(Marker),
    Remove,
}

/// A rollout as the plan shows it: where it is (the view status reports) and its next move.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rollout {
    #[serde(flatten)]
    pub view: RolloutView,
    #[serde(rename = "next")]
    pub mv: Move,
    /// The step the canary judge watches (for the daemon's poller).
    #[serde(skip)]
    pub judging: Option<crate::types::Judging>,
}

impl std::ops::Deref for Rollout {
    type Target = RolloutView;
    fn deref(&self) -> &RolloutView {
        &self.view
    }
}

impl std::ops::DerefMut for Rollout {
    fn deref_mut(&mut self) -> &mut RolloutView {
        &mut self.view
    }
}

impl Rollout {
    /// True when the rollout is in flight or its wave bakes (its alarms watched, its weight
    /// reported): not rolled back, not queued for its wave, not done.
    pub fn active(&self) -> bool {
        !matches!(self.phase.as_str(), "RolledBack" | "Queued" | "Done")
    }
}

fn weights(to: &str, percent: f64) -> Routing {
    Routing::from([(to.to_string(), (percent / 100.0 * 1e6).round() / 1e6)])
}

fn same(a: &AliasState, version: &str, routing: &Routing) -> bool {
    a.function_version == version
        && a.routing.len() == routing.len()
        && a.routing.iter().zip(routing).all(|((ka, va), (kb, vb))| ka == kb && (va - vb).abs() < 1e-6)
}

/// The alias state a marker's phase stands for, and the one before it (a crash between the
/// marker write and the alias write leaves the alias one state behind; that is finished, not drift).
fn expected(dep: &Deployment, m: &Marker) -> ((String, Routing), (String, Routing)) {
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

/// True when the alias is in a state this rollout itself set earlier (the old version with some
/// weight on the new one, or, once rolled back, the new version at 100 %): a crash after the
/// marker write (a promote, a roll back from 100 %) left it there, so it is finished, not drift.
fn own_earlier_state(m: &Marker, cur: &AliasState) -> bool {
    let shifting = cur.function_version == m.from && cur.routing.keys().all(|v| *v == m.to);
    let at_target = cur.function_version == m.to && cur.routing.is_empty();
    match m.phase {
        Phase::RolledBack { .. } => shifting || at_target,
        Phase::PostTraffic => shifting,
        _ => false,
    }
}

/// The move that follows phase `from_step` (None: the pre-traffic hook) at time `now`.
fn advance(dep: &Deployment, m: &Marker, next_step: usize, now: i64) -> Move {
    let marker = |phase, gate| MarkerWrite::Set(Marker { phase, since_ms: now, gate, ..m.clone() });
    match dep.steps.get(next_step) {
        Some(s) => Move::Write {
            marker: marker(
                Phase::Shifting { step: next_step },
                if s.approval.is_some() { Gate::Waiting } else { Gate::None },
            ),
            alias: Some((m.from.clone(), weights(&m.to, s.percent))),
        },
        None => {
            Move::Write { marker: marker(Phase::PostTraffic, Gate::None), alias: Some((m.to.clone(), Routing::new())) }
        }
    }
}

/// A manual step: approved (`promote` marked it) → the next step; timed out → its `onTimeout`;
/// else wait (until the timeout, or for a person).
fn approval(dep: &Deployment, m: &Marker, step: usize, now: i64) -> Move {
    if m.gate == Gate::Approved {
        return advance(dep, m, step + 1, now);
    }
    let Some(a) = dep.steps.get(step).and_then(|s| s.approval) else { return advance(dep, m, step + 1, now) };
    let Some(timeout) = a.timeout_ms else { return Move::Wait { until_ms: None } };
    let due = m.since_ms.min(now).saturating_add(timeout.min(i64::MAX as u64) as i64);
    match (now >= due, a.on_timeout) {
        (false, _) => Move::Wait { until_ms: Some(due) },
        (true, OnTimeout::Promote) => advance(dep, m, step + 1, now),
        (true, OnTimeout::Rollback) => roll_back(m, format!("step {} was not approved in time", step + 1), now),
    }
}

/// The roll-back move: marker first (so a restart keeps the target held), then the alias.
pub fn roll_back(m: &Marker, reason: String, now: i64) -> Move {
    Move::Write {
        marker: MarkerWrite::Set(Marker { phase: Phase::RolledBack { reason }, since_ms: now, ..m.clone() }),
        alias: Some((m.from.clone(), Routing::new())),
    }
}

/// How a rollout begins from the alias's live version: hook first, else the first step, else
/// (nothing to watch or run) the plain switch (a release member's marks it done).
fn start(dep: &Deployment, cur: &AliasState, to: &str, rel: Option<&Release>, now: i64) -> Move {
    let m = Marker {
        id: format!("r{now:x}"),
        from: cur.function_version.clone(),
        to: to.to_string(),
        phase: Phase::PreTraffic,
        since_ms: now,
        gate: Gate::None,
        release: rel.map(|r| r.id.clone()),
    };
    if dep.pre_traffic.is_some() {
        return Move::Write { marker: MarkerWrite::Set(m), alias: None };
    }
    if dep.steps.is_empty() && dep.post_traffic.is_none() {
        let marker = match rel {
            Some(_) => MarkerWrite::Set(Marker { phase: Phase::Done, ..m }),
            None => MarkerWrite::Keep,
        };
        return Move::Write { marker, alias: Some((to.to_string(), Routing::new())) };
    }
    advance(dep, &m, 0, now)
}

/// A release member's marker: queued for its wave, or rolled back (`reason`) without moving.
fn member_marker(from: &str, to: &str, rel: &Release, phase: Phase, now: i64) -> Marker {
    Marker {
        id: format!("r{now:x}"),
        from: from.to_string(),
        to: to.to_string(),
        phase,
        since_ms: now,
        gate: Gate::None,
        release: Some(rel.id.clone()),
    }
}

/// The move of a release member whose rollout would start now: start, queue, or hold (halted),
/// and why it waits.
fn member_turn(
    dep: &Deployment,
    cur: &AliasState,
    to: &str,
    rel: &Release,
    queued: bool,
    now: i64,
) -> (Move, Option<String>) {
    let from = cur.function_version.as_str();
    match waves::turn(rel, now) {
        Turn::Go => (start(dep, cur, to, Some(rel), now), None),
        Turn::Wait { until_ms, why } if queued => (Move::Wait { until_ms: Some(until_ms) }, Some(why)),
        Turn::Wait { why, .. } => {
            let marker = MarkerWrite::Set(member_marker(from, to, rel, Phase::Queued, now));
            (Move::Write { marker, alias: None }, Some(why))
        }
        Turn::Halt(reason) => {
            let marker = MarkerWrite::Set(member_marker(from, to, rel, Phase::RolledBack { reason }, now));
            (Move::Write { marker, alias: None }, None)
        }
    }
}

/// A done release member: it watches its alarms while its wave bakes, then reads the release
/// while another member still moves. The label is the phase shown; `None`: nothing to show. No
/// longer in a release, its marker goes.
fn member_move(rel: Option<&Release>, m: &Marker, firing: Option<&String>, now: i64) -> (Move, Option<&'static str>) {
    let Some(rel) = rel else { return (Move::Write { marker: MarkerWrite::Remove, alias: None }, Some("Done")) };
    if now < rel.bake_end(m, now) {
        return match firing {
            Some(alarm) => (roll_back(m, format!("alarm {alarm} in ALARM while its wave baked"), now), Some("Baking")),
            None => (Move::Wait { until_ms: Some(rel.bake_end(m, now).min(waves::poll(now))) }, Some("Baking")),
        };
    }
    if waves::in_flight(rel) {
        return (Move::Wait { until_ms: Some(waves::poll(now)) }, Some("Done"));
    }
    (Move::Wait { until_ms: None }, None)
}

/// Plans the rollout of alias `name` (it exists and has a deployment); drift from the state the
/// rollout expects goes on `p` as an ordinary change, so the drift policy applies to it.
pub(super) fn plan(
    o: &Observed,
    name: &str,
    a: &DesiredAlias,
    cur: &AliasState,
    rel: Option<&Release>,
    p: &mut FunctionPlan,
) {
    let Some(dep) = &a.deployment else { return };
    let now = o.now_ms;
    let marker = o.function.as_ref().and_then(|f| f.markers.get(name));
    let to = &a.function_version;
    let from = marker.filter(|m| &m.to == to).map_or(&cur.function_version, |m| &m.from);
    let switched;
    let (dep, held) = match compatible(o, dep, from, to) {
        Versions::Share => (dep, None),
        Versions::Held(why) => (dep, Some(why)),
        Versions::Switch(without_steps) => {
            switched = *without_steps;
            (&switched, None)
        }
    };
    let alarm_states: Vec<(String, String)> = dep
        .alarms
        .iter()
        .map(|n| (n.clone(), o.alarms.get(n).map_or("MISSING".to_string(), |s| s.to_string())))
        .collect();
    let firing = dep.alarms.iter().find(|n| o.alarms.get(*n) == Some(&AlarmState::Alarm));
    let view = |m: &Marker, mv: Move| view(name, dep, m, cur, alarm_states.clone(), mv);
    // A release member queued for its wave starts as any rollout does (the same checks first).
    let queued = marker.filter(|m| &m.to == to && m.phase == Phase::Queued);
    let Some(m) = marker.filter(|m| &m.to == to && m.phase != Phase::Queued) else {
        if let Some(m) = marker.filter(|m| &m.to != to) {
            // The target changed: end the old rollout at its stable version, then start anew (a
            // release member is queued for the new target in the same write: never seen idle).
            let from = if m.active() { m.from.clone() } else { cur.function_version.clone() };
            let marker = match rel {
                Some(r) => MarkerWrite::Set(member_marker(&from, to, r, Phase::Queued, now)),
                None => MarkerWrite::Remove,
            };
            let mv = Move::Write { marker, alias: m.active().then(|| (from, Routing::new())) };
            p.rollouts.push(view(m, mv));
            return;
        }
        if &cur.function_version == to {
            if !cur.routing.is_empty() {
                restore(name, cur, to, &Routing::new(), p);
            } else if let Some(q) = queued {
                // At its target already (moved by hand): nothing to roll out.
                p.rollouts.push(view(q, Move::Write { marker: MarkerWrite::Remove, alias: None }));
            }
            return;
        }
        if !cur.routing.is_empty() {
            // Weights no rollout of this controller set (the deployment owns the routing): drift,
            // put right first (under the drift policy); the rollout starts from the clean alias.
            restore(name, cur, &cur.function_version, &Routing::new(), p);
            return;
        }
        let from_latest = (cur.function_version == "$LATEST").then(|| {
            "the alias is on $LATEST, which cannot share traffic; point it at a published version".to_string()
        });
        if let Some(why) = &held {
            p.blocked.push(super::compat::blocked(name, why, &format!("the rollout to version {to} waits")));
            return;
        }
        if let Some(reason) = from_latest.or_else(|| cannot_start(o, dep, firing)) {
            p.blocked.push(format!("aliases.{name}.deployment: {reason}; the rollout to version {to} waits"));
            return;
        }
        let (mv, waiting) = match rel {
            Some(rel) => member_turn(dep, cur, to, rel, queued.is_some(), now),
            None => (start(dep, cur, to, None, now), None),
        };
        let m = Marker {
            id: String::new(),
            from: cur.function_version.clone(),
            to: to.clone(),
            phase: Phase::PreTraffic,
            since_ms: now,
            gate: Gate::None,
            release: None,
        };
        let mut v = view(&m, mv);
        v.view.reason = waiting;
        v.phase = match &v.mv {
            Move::Wait { .. } => "Queued",
            Move::Write { marker: MarkerWrite::Set(q), .. } if q.phase == Phase::Queued => "Queued",
            Move::Write { marker: MarkerWrite::Set(q), .. } if !q.active() && q.phase != Phase::Done => "RolledBack",
            _ => "Starting",
        }
        .into();
        let v = match rel {
            Some(_) => member_view(rel, queued.unwrap_or(&m), v),
            None => v,
        };
        p.rollouts.push(v);
        return;
    };
    let judged = super::judge::judged(o, name, dep, m);
    let function = p.function.clone();
    let view = |m: &Marker, mv: Move| {
        let mut r = view(m, mv);
        r.view.judge = judged.as_ref().map(|j| j.1.clone());
        r.judging = super::judge::judging(&function, name, dep, m, now).filter(|_| m.active()).map(|mut j| {
            j.shown = r.view.judge.as_ref().map(|v| v.verdict.clone());
            j
        });
        r
    };
    let (want, behind) = expected(dep, m);
    if let Some(reason) = rel.and_then(|r| waves::must_roll_back(r, m)) {
        p.rollouts.push(member_view(rel, m, view(m, roll_back(m, reason, now))));
        return;
    }
    if let (true, Some(alarm)) = (m.active(), firing) {
        p.rollouts.push(view(m, roll_back(m, format!("alarm {alarm} in ALARM"), now)));
        return;
    }
    if let (true, Some(reason)) = (m.active(), judged.as_ref().and_then(|(a, j)| super::judge::failed(a, j))) {
        p.rollouts.push(view(m, roll_back(m, reason, now)));
        return;
    }
    if let (Some(why), Phase::PreTraffic) = (&held, &m.phase) {
        // Started before the versions were compared: no weight has moved; it waits.
        p.blocked.push(super::compat::blocked(name, why, &format!("the rollout to version {to} waits")));
        p.rollouts.push(view(m, Move::Wait { until_ms: None }));
        return;
    }
    if !same(cur, &want.0, &want.1) {
        if same(cur, &behind.0, &behind.1) || own_earlier_state(m, cur) {
            // Finishing a step the crash interrupted restarts its pause (never shortens it).
            let marker =
                if m.active() { MarkerWrite::Set(Marker { since_ms: now, ..m.clone() }) } else { MarkerWrite::Keep };
            p.rollouts.push(view(m, Move::Write { marker, alias: Some(want) }));
        } else {
            restore(name, cur, &want.0, &want.1, p);
            // Still in flight (its alarms watched, its weight reported) while the drift waits.
            p.rollouts.push(view(m, Move::Wait { until_ms: None }));
        }
        return;
    }
    let mv = match &m.phase {
        Phase::RolledBack { .. } if rel.is_some_and(|r| waves::lifted(r, m)) => {
            Move::Write { marker: MarkerWrite::Remove, alias: None }
        }
        Phase::RolledBack { .. } => Move::Wait { until_ms: None },
        Phase::Queued | Phase::Done => {
            let (mv, label) = member_move(rel, m, firing, now);
            let Some(label) = label else { return };
            let mut r = member_view(rel, m, view(m, mv));
            r.view.phase = label.into();
            p.rollouts.push(r);
            return;
        }
        Phase::PreTraffic => hook(dep, m, HookKind::PreTraffic, advance(dep, m, 0, now)),
        Phase::Shifting { step } if dep.steps.get(*step).is_some_and(|s| s.approval.is_some()) => {
            approval(dep, m, *step, now)
        }
        Phase::Shifting { step } => {
            // A marker's `at` comes from a tag: never later than now (a phase cannot start in
            // the future), so a forged one cannot hold a step beyond its pause.
            let pause = dep.steps.get(*step).map_or(0, |s| s.pause_ms.min(i64::MAX as u64) as i64);
            let due = m.since_ms.min(now).saturating_add(pause);
            if now >= due {
                judged_advance(dep, m, *step, judged.as_ref().map(|(a, j)| (a, &j.verdict)), now, name, p)
            } else {
                Move::Wait { until_ms: Some(due) }
            }
        }
        Phase::PostTraffic => {
            // A release member's finish is kept (done, with its time): its wave bakes from it.
            let marker = match rel {
                Some(r) => MarkerWrite::Set(Marker {
                    phase: Phase::Done,
                    since_ms: now,
                    gate: Gate::None,
                    release: Some(r.id.clone()),
                    ..m.clone()
                }),
                None => MarkerWrite::Remove,
            };
            hook(dep, m, HookKind::PostTraffic, Move::Write { marker, alias: None })
        }
    };
    p.rollouts.push(member_view(rel, m, view(m, mv)));
}

/// A release member's rollout shows its release as a whole.
fn member_view(rel: Option<&Release>, m: &Marker, mut r: Rollout) -> Rollout {
    if let Some(rel) = rel {
        let own = match &r.mv {
            Move::Write { marker: MarkerWrite::Set(next), .. } => PeerState::of(true, Some(next)),
            _ => PeerState::of(true, Some(m)),
        };
        r.view.release = Some(waves::view(rel, &own));
    }
    r
}

/// The move once a step's pause ended: the judge's (when the deployment has one) or the next step.
fn judged_advance(
    dep: &Deployment,
    m: &Marker,
    step: usize,
    judged: Option<(&Analysis, &crate::types::Verdict)>,
    now: i64,
    name: &str,
    p: &mut FunctionPlan,
) -> Move {
    let Some((a, v)) = judged else { return advance(dep, m, step + 1, now) };
    match super::judge::after_pause(a, v, m.since_ms, now) {
        AfterPause::Advance => advance(dep, m, step + 1, now),
        AfterPause::Wait(t) => Move::Wait { until_ms: Some(t) },
        AfterPause::RollBack(reason) => roll_back(m, reason, now),
        AfterPause::Hold(why) => {
            p.blocked.push(format!("aliases.{name}.deployment.analysis: {why}"));
            Move::Wait { until_ms: None }
        }
    }
}

/// Whether a rollout's two versions can take weights (the same role and dead-letter target).
enum Versions {
    Share,
    /// They cannot, and the deployment holds the rollout (`block`): why, naming both.
    Held(String),
    /// They cannot, and the deployment moves all traffic at once (`switch`): it without steps
    /// (hooks and alarms kept).
    Switch(Box<Deployment>),
}

fn compatible(o: &Observed, dep: &Deployment, from: &str, to: &str) -> Versions {
    let clash = if dep.steps.is_empty() { None } else { super::compat::versions(o, from, to) };
    match clash {
        None => Versions::Share,
        Some(_) if dep.switch_if_incompatible => {
            Versions::Switch(Box::new(Deployment { steps: vec![], ..dep.clone() }))
        }
        Some(why) => Versions::Held(why),
    }
}

fn hook(dep: &Deployment, m: &Marker, kind: HookKind, then: Move) -> Move {
    let function = match kind {
        HookKind::PreTraffic => &dep.pre_traffic,
        HookKind::PostTraffic => &dep.post_traffic,
    };
    match function {
        Some(f) => Move::Hook {
            kind,
            function: f.clone(),
            timeout_ms: dep.hook_timeout_ms,
            alarms: dep.alarms.clone(),
            marker: m.clone(),
            then: Box::new(then),
        },
        None => then,
    }
}

/// Why a rollout cannot start now: a missing hook or alarm, or an alarm already in ALARM.
fn cannot_start(o: &Observed, dep: &Deployment, firing: Option<&String>) -> Option<String> {
    let hooks = [&dep.pre_traffic, &dep.post_traffic];
    if let Some(h) = hooks.into_iter().flatten().find(|h| o.hooks.get(*h) == Some(&false)) {
        return Some(format!("hook function `{h}` not found"));
    }
    if let Some(a) = dep.alarms.iter().find(|a| !o.alarms.contains_key(*a)) {
        return Some(format!("alarm `{a}` not found"));
    }
    firing.map(|a| format!("alarm `{a}` is in ALARM"))
}

/// An alias that is not where the rollout put it: an ordinary UpdateAlias change (drift).
fn restore(name: &str, cur: &AliasState, version: &str, routing: &Routing, p: &mut FunctionPlan) {
    let base = format!("aliases.{name}");
    let mut diffs = vec![];
    if cur.function_version != version {
        diffs.push(diff(format!("{base}.functionVersion"), Op::Update, json!(cur.function_version), json!(version)));
    }
    diffs.push(diff(format!("{base}.routing"), Op::Update, json!(cur.routing), json!(routing)));
    let action = Action::UpdateAlias {
        alias: name.to_string(),
        version: Some(version.to_string()),
        description: None,
        routing: Some(routing.clone()),
    };
    p.push(action, diffs);
}

fn view(
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
