//! One function: desired → observed → plan → apply, and the error policy for each failure.

use std::time::Duration;

use crate::apply::{self, ApplyError, Moved, Target, Waits};
use crate::aws::{AwsError, ErrorClass, RegionClients};
use crate::desired::Desired;
use crate::observed::{self, Observed};
use crate::plan::environment::record_after;
use crate::plan::rollout::{MarkerWrite, Move, Rollout};
use crate::plan::{self, FunctionPlan};
use crate::types::{AppliedGeneration, Marker, Phase};

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("reading live state: {0}")]
    Observe(#[source] AwsError),
    #[error("applying: {0}")]
    Apply(#[source] ApplyError),
    #[error("still not converged after {0} passes")]
    NotConverged(usize),
    #[error("cannot read the function's tags, so drift cannot be told from a manifest change (allow lambda:ListTags, see manifests/deploy/iam/policy.json): {0}")]
    TagsUnreadable(String),
}

/// What the caller should do about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorPolicy {
    /// Throttling, 5xx, network: retry soon with backoff.
    Transient,
    /// Conflicts, waits that timed out, provisioning in flight: retry after a delay.
    RetryLater(Duration),
    /// Invalid request, permissions, missing resource, FAILED provisioning: alert, don't hammer.
    Terminal,
    /// A write withheld: this replica does not hold the lease. No alert, no status: the leader
    /// reconciles the function.
    Fenced,
    /// AWS has not caught up with a change (a role's new permissions, a destination just made):
    /// retried for a bounded window (`--propagation-window`), then terminal.
    Propagating,
}

fn aws_policy(e: &AwsError) -> ErrorPolicy {
    match e.class {
        ErrorClass::Throttled | ErrorClass::Transient | ErrorClass::Unreachable => ErrorPolicy::Transient,
        ErrorClass::Conflict => ErrorPolicy::RetryLater(Duration::from_secs(5)),
        ErrorClass::Stale => ErrorPolicy::RetryLater(Duration::from_secs(1)),
        ErrorClass::Propagating => ErrorPolicy::Propagating,
        ErrorClass::NotFound | ErrorClass::Terminal => ErrorPolicy::Terminal,
        ErrorClass::Fenced => ErrorPolicy::Fenced,
    }
}

impl ReconcileError {
    pub fn policy(&self) -> ErrorPolicy {
        match self {
            ReconcileError::Observe(e) | ReconcileError::Apply(ApplyError::Aws(e)) => aws_policy(e),
            ReconcileError::Apply(ApplyError::Timeout { .. }) | ReconcileError::NotConverged(_) => {
                ErrorPolicy::RetryLater(Duration::from_secs(30))
            }
            ReconcileError::Apply(ApplyError::FunctionGone) => ErrorPolicy::RetryLater(Duration::from_secs(30)),
            ReconcileError::Apply(ApplyError::Changed(_)) => ErrorPolicy::RetryLater(Duration::from_secs(1)),
            ReconcileError::Apply(
                ApplyError::ProvisionedFailed { .. }
                | ApplyError::UpdateFailed(_)
                | ApplyError::CodeMismatch { .. }
                | ApplyError::CreateFailed(_),
            )
            | ReconcileError::TagsUnreadable(_) => ErrorPolicy::Terminal,
        }
    }

    /// The AWS error code, when AWS refused.
    pub fn aws_code(&self) -> Option<&str> {
        match self {
            ReconcileError::Observe(e) | ReconcileError::Apply(ApplyError::Aws(e)) => Some(&e.code),
            _ => None,
        }
    }
}

/// Reads the live state and plans, without writing.
pub async fn plan_one(c: &RegionClients, d: &Desired) -> Result<FunctionPlan, ReconcileError> {
    let o = Box::pin(observed::read(c, d)).await.map_err(ReconcileError::Observe)?;
    Ok(plan::plan(d, &o))
}

/// The result of applying one function.
#[derive(Debug)]
pub struct Applied {
    /// The plan before the first write (what was changed).
    pub initial: FunctionPlan,
    /// The plan after the last pass (empty when converged).
    pub last: FunctionPlan,
    pub writes: usize,
    /// What the rollouts did in this apply.
    pub events: Vec<RolloutEvent>,
}

/// A rollout's milestone, for alerts, metrics and progress output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolloutEvent {
    Started { alias: String, from: String, to: String },
    Stepped { alias: String, to: String, weight: String },
    Succeeded { alias: String, to: String },
    RolledBack { alias: String, to: String, reason: String },
}

/// The milestones a move marks (before it is made; a failed hook is reported by the driver).
fn milestones(r: &Rollout) -> Vec<RolloutEvent> {
    let plain_switch = match &r.mv {
        Move::Write { marker: MarkerWrite::Keep, alias: Some((v, _)) } => *v == r.to,
        Move::Write { marker: MarkerWrite::Set(m), alias: Some((v, _)) } => *v == r.to && m.phase == Phase::Done,
        _ => false,
    };
    match milestone(r) {
        Some(e @ RolloutEvent::Started { .. }) if plain_switch => {
            vec![e, RolloutEvent::Succeeded { alias: r.alias.clone(), to: r.to.clone() }]
        }
        // A start without a preTraffic hook puts the first step's weight in the same move.
        Some(e @ RolloutEvent::Started { .. }) => match &r.mv {
            Move::Write { alias: Some((_, routing)), .. } if !routing.is_empty() => {
                let step =
                    RolloutEvent::Stepped { alias: r.alias.clone(), to: r.to.clone(), weight: percent(routing, &r.to) };
                vec![e, step]
            }
            _ => vec![e],
        },
        e => e.into_iter().collect(),
    }
}

/// The new version's share of `routing`, in percent as text (`10`, `55`, `100`).
fn percent(routing: &crate::types::Routing, to: &str) -> String {
    routing.get(to).map_or("100".to_string(), |w| format!("{}", (w * 1e4).round() / 100.0))
}

fn milestone(r: &Rollout) -> Option<RolloutEvent> {
    let alias = r.alias.clone();
    let to = r.to.clone();
    match &r.mv {
        Move::Write { marker: MarkerWrite::Set(Marker { phase: Phase::RolledBack { reason }, .. }), .. } => {
            Some(RolloutEvent::RolledBack { alias, to, reason: reason.clone() })
        }
        Move::Write { marker: MarkerWrite::Set(Marker { phase: Phase::Queued, .. }), .. } => None,
        _ if r.phase == "Starting" => Some(RolloutEvent::Started { alias, from: r.from.clone(), to }),
        Move::Write { marker: MarkerWrite::Remove, alias: None } if r.phase == "PostTraffic" => {
            Some(RolloutEvent::Succeeded { alias, to })
        }
        // A release member's finish keeps its marker, done.
        Move::Write { marker: MarkerWrite::Set(Marker { phase: Phase::Done, .. }), alias: None } => {
            Some(RolloutEvent::Succeeded { alias, to })
        }
        Move::Write { alias: Some((_, routing)), .. } => {
            Some(RolloutEvent::Stepped { weight: percent(routing, &to), alias, to })
        }
        _ => None,
    }
}

/// Makes rollout moves until every rollout waits (at most `moves`). Every move is decided from
/// the state it acts on: after a hook (slow, and others may have acted meanwhile) the world is
/// read again; after a step's write, the state it wrote is planned on, and only a plan that
/// would move again reads the world first (so a step costs its two writes, not a verifying read).
pub async fn drive(
    c: &RegionClients,
    d: &Desired,
    mut last: FunctionPlan,
    mut o: Observed,
    w: Waits,
    moves: usize,
) -> Result<(FunctionPlan, Vec<RolloutEvent>, usize), ReconcileError> {
    let mut events = vec![];
    let mut writes = 0;
    let secrets = d.secrets();
    let mut fresh = true;
    while writes < moves {
        let Some(f) = o.function.as_ref().filter(|_| last.error.is_none()) else { break };
        let Some(r) = last.rollouts.iter().find(|r| !matches!(r.mv, Move::Wait { .. })).cloned() else { break };
        if !fresh {
            match observe_and_plan(c, d).await {
                Ok(next) => (last, o, fresh) = (next.0, next.1, true),
                Err(e) => {
                    tracing::warn!(error = %e, "reading the function after a rollout move failed");
                    break;
                }
            }
            continue;
        }
        let target = Target { function: &d.function_ref, arn: &f.arn, alias: &r.alias, secrets: &secrets };
        let moved = match apply::execute_move(c, &target, &r.mv, w).await {
            Ok(moved) => moved,
            // Milestones already made must still be reported: the next reconcile retries.
            Err(e) if !events.is_empty() => {
                tracing::warn!(error = %e, "rollout move failed after earlier moves");
                break;
            }
            Err(e) => return Err(ReconcileError::Apply(e)),
        };
        events.extend(milestones(&r));
        writes += 1;
        match (moved, &r.mv) {
            // A plain write (a step, a roll back, a finish): plan on the state it wrote; only a
            // plan that would move again reads the world first (after a hook it is read again).
            (Moved::Done, Move::Write { marker, alias }) => {
                written(&mut o, &r.alias, marker, alias.as_ref());
                last = plan::plan(d, &o);
                fresh = false;
            }
            (moved, _) => {
                match (moved, &r.mv) {
                    // The hook passed and its follow-up move was made.
                    (Moved::Done, Move::Hook { then, .. }) => events.extend(milestones(&Rollout {
                        view: r.view.clone(),
                        mv: (**then).clone(),
                        judging: None,
                    })),
                    (Moved::Done, _) => {}
                    (Moved::RolledBack(reason), _) => {
                        events.push(RolloutEvent::RolledBack { alias: r.alias.clone(), to: r.to.clone(), reason })
                    }
                }
                match observe_and_plan(c, d).await {
                    Ok(next) => (last, o) = next,
                    Err(e) => {
                        // The moves were made: report them; the stale plan asks for a reconcile at once.
                        tracing::warn!(error = %e, "reading the function after a rollout move failed");
                        break;
                    }
                }
            }
        }
    }
    Ok((last, events, writes))
}

/// `o` as a plain rollout write left it: the marker (its phase stamped now, never earlier than
/// the write did), the alias's version and routing, and when this process saw the alias so (a
/// step's start, which only the weight records in AWS).
fn written(o: &mut Observed, alias: &str, marker: &MarkerWrite, state: Option<&(String, crate::types::Routing)>) {
    o.now_ms = crate::types::now_ms();
    let Some(f) = o.function.as_mut() else { return };
    match marker {
        MarkerWrite::Keep => {}
        MarkerWrite::Set(m) => drop(f.markers.insert(alias.to_string(), Marker { since_ms: o.now_ms, ..m.clone() })),
        MarkerWrite::Remove => drop(f.markers.remove(alias)),
    }
    let Some(a) = o.aliases.get_mut(alias) else { return };
    if let Some((version, routing)) = state {
        a.function_version = version.clone();
        a.routing = routing.clone();
    }
    if let Some(m) = f.markers.get(alias) {
        crate::observed::seen::wrote(&f.arn, alias, m, a, o.now_ms);
        o.seen.insert(alias.to_string(), o.now_ms);
        o.seen_on_read.remove(alias);
    }
}

/// Reads the live state and plans.
pub async fn observe_and_plan(c: &RegionClients, d: &Desired) -> Result<(FunctionPlan, Observed), ReconcileError> {
    let o = Box::pin(observed::read(c, d)).await.map_err(ReconcileError::Observe)?;
    Ok((plan::plan(d, &o), o))
}

/// Applies `initial` and re-plans until nothing differs (at most `passes` applies), then records
/// the manifest generation on the function when it converged.
pub async fn converge(
    c: &RegionClients,
    d: &Desired,
    initial: FunctionPlan,
    o: Observed,
    w: Waits,
    passes: usize,
) -> Result<Applied, ReconcileError> {
    let mut last = initial.clone();
    let mut writes = 0;
    let mut o = o;
    // A creation is a pass of its own: the rest is planned once the function exists.
    let creates = initial.changes.iter().any(|c| matches!(c.action, crate::plan::Action::CreateFunction { .. }));
    let passes = passes + usize::from(creates);
    for _ in 0..passes {
        if last.error.is_some() || last.changes.is_empty() {
            break;
        }
        writes += apply::apply(c, &d.function_ref, &last, w).await.map_err(ReconcileError::Apply)?;
        (last, o) = observe_and_plan(c, d).await?;
    }
    if !last.changes.is_empty() && last.error.is_none() {
        return Err(ReconcileError::NotConverged(passes));
    }
    let in_sync = last.in_sync();
    let function = o.function.clone();
    if let Some(AppliedGeneration::Unreadable(reason)) =
        function.as_ref().filter(|_| in_sync).map(|f| &f.applied_generation)
    {
        return Err(ReconcileError::TagsUnreadable(reason.clone()));
    }
    let member = !d.releases.is_empty();
    if !member {
        writes += record_applied(c, d, function.as_ref().filter(|_| in_sync)).await?;
    }
    let (last, events, moved) = drive(c, d, last, o, w, MOVES_PER_RECONCILE).await?;
    if member {
        // A release member records its generation after its rollout moved (its marker says
        // queued or where it is) and only while nothing blocks it: no other member may read it
        // as applied and idle while it is held.
        let settled = in_sync && last.blocked.is_empty() && last.error.is_none();
        writes += record_applied(c, d, function.as_ref().filter(|_| settled)).await?;
    }
    Ok(Applied { initial, last, writes: writes + moved, events })
}

/// Once the function matches git: its generation tag (when it changes) and the list of secrets
/// its environment holds. Returns the writes made.
async fn record_applied(
    c: &RegionClients,
    d: &Desired,
    function: Option<&crate::types::FunctionState>,
) -> Result<usize, ReconcileError> {
    let Some(f) = function else { return Ok(0) };
    let mut writes = 0;
    if !f.applied_generation.is(&d.generation) {
        c.lambda.tag_generation(&f.arn, &d.generation_tag()).await.map_err(|e| ReconcileError::Apply(e.into()))?;
        writes += 1;
    }
    // The environment matches git: the tag lists just the secrets it now holds.
    if let Some(names) = record_after(d, f) {
        c.lambda.tag_sensitive_env(&f.arn, &names).await.map_err(|e| ReconcileError::Apply(e.into()))?;
        writes += 1;
    }
    Ok(writes)
}

/// At most this many rollout moves per reconcile (a start, its hook and first step, a finish
/// and its hook fit; a pause then ends the reconcile).
pub const MOVES_PER_RECONCILE: usize = 8;

/// Plans and applies until the plan is empty (at most `passes` applies).
pub async fn apply_one(c: &RegionClients, d: &Desired, w: Waits, passes: usize) -> Result<Applied, ReconcileError> {
    let (initial, o) = observe_and_plan(c, d).await?;
    converge(c, d, initial, o, w, passes).await
}
