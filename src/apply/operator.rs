//! The operator's rollout commands, as marker and alias writes: `promote` finishes at once (the
//! alias goes to 100 %; the postTraffic hook still runs), `abort` rolls back, `retry` releases a
//! rolled-back target so the next reconcile starts it again.

use std::collections::BTreeSet;

use super::rollout::{execute_move, Target};
use super::{ApplyError, Waits};
use crate::aws::{AwsError, RegionClients};
use crate::plan::rollout::{roll_back, MarkerWrite, Move};
use crate::types::{now_ms, Gate, Marker, Phase, Routing};

/// What the operator asks of a rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Promote,
    Abort,
    Retry,
}

impl std::str::FromStr for Operator {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "promote" => Ok(Operator::Promote),
            "abort" => Ok(Operator::Abort),
            "retry" => Ok(Operator::Retry),
            other => Err(format!("`{other}` is not promote, abort or retry")),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OperateError {
    #[error("function `{0}` not found")]
    NoFunction(String),
    #[error("alias `{0}` has no rollout (no marker tag)")]
    NoRollout(String),
    #[error("alias `{alias}`: {why}")]
    Refused { alias: String, why: String },
    #[error("{0}")]
    Aws(#[from] AwsError),
    #[error("{0}")]
    Apply(#[from] ApplyError),
}

/// The move `op` makes on marker `m`, or why it cannot.
pub fn operator_move(op: Operator, m: &Marker, now: i64) -> Result<Move, String> {
    match (op, &m.phase) {
        // A manual step: approve it (the next step follows, at the next reconcile).
        (Operator::Promote, Phase::Shifting { .. }) if m.gate == Gate::Waiting => {
            Ok(Move::Write { marker: MarkerWrite::Set(Marker { gate: Gate::Approved, ..m.clone() }), alias: None })
        }
        (Operator::Promote, Phase::Shifting { .. }) if m.gate == Gate::Approved => {
            Err("this step is approved already; the next step follows".into())
        }
        (Operator::Promote, Phase::PreTraffic | Phase::Shifting { .. }) => Ok(Move::Write {
            marker: MarkerWrite::Set(Marker { phase: Phase::PostTraffic, since_ms: now, ..m.clone() }),
            alias: Some((m.to.clone(), Routing::new())),
        }),
        (Operator::Promote, Phase::PostTraffic) => Err("already at 100 %; the postTraffic hook runs".into()),
        (Operator::Promote, Phase::Queued) => {
            Err("the rollout waits for its wave of the release; promote does not skip a wave (abort halts the release)"
                .into())
        }
        (Operator::Promote, Phase::Done) => Err("the rollout is done; nothing to promote".into()),
        // A queued release member too: its roll back fails the release (halting later waves).
        (Operator::Abort, Phase::PreTraffic | Phase::Shifting { .. } | Phase::PostTraffic | Phase::Queued) => {
            Ok(roll_back(m, "aborted by the operator".into(), now))
        }
        // Going back from a finished rollout is a commit of the old version, not an abort.
        (Operator::Abort, Phase::Done) => Err(
            "the rollout is done; to go back, commit the old version (abort a member still in flight to halt the release)"
                .into(),
        ),
        (Operator::Retry, Phase::RolledBack { .. }) => Ok(Move::Write { marker: MarkerWrite::Remove, alias: None }),
        (Operator::Retry, _) => Err("the rollout has not rolled back; nothing to retry".into()),
        (_, Phase::RolledBack { .. }) => Err("the rollout already rolled back (use retry)".into()),
    }
}

/// Why `retry` must wait: the roll back has not reached the alias yet (a failed hook's verdict
/// is written before its alias write, and an older version wrote every marker first). Removing
/// the marker then would leave the new version's traffic with no rollout to take it back.
pub fn retry_refused(m: &Marker, cur: Option<&crate::types::AliasState>) -> Option<String> {
    let cur = cur?;
    (cur.function_version != m.from || !cur.routing.is_empty()).then(|| {
        format!(
            "the roll back has not reached the alias yet (it is on version {} with {} weighted version(s)); the next reconcile finishes it, then retry",
            crate::types::tag_safe(&cur.function_version, 20),
            cur.routing.len()
        )
    })
}

/// Applies `op` to the rollout of `alias` on `function`; returns what was done and the marker
/// it acted on.
pub async fn operate(
    c: &RegionClients,
    function: &str,
    alias: &str,
    op: Operator,
) -> Result<(String, Marker), OperateError> {
    let f = c.lambda.get_function(function).await?.ok_or_else(|| OperateError::NoFunction(function.to_string()))?;
    let markers = c.lambda.list_tags(&f.arn).await?.markers;
    let m = markers.get(alias).ok_or_else(|| OperateError::NoRollout(alias.to_string()))?;
    let mv = operator_move(op, m, now_ms()).map_err(|why| OperateError::Refused { alias: alias.to_string(), why })?;
    if op == Operator::Retry {
        let aliases = c.lambda.list_aliases(function).await?;
        if let Some(why) = retry_refused(m, aliases.get(alias)) {
            return Err(OperateError::Refused { alias: alias.to_string(), why });
        }
    }
    let secrets = BTreeSet::new();
    let t = Target { function, arn: &f.arn, alias, secrets: &secrets };
    execute_move(c, &t, &mv, Waits::default()).await?;
    let done = match op {
        Operator::Promote if m.gate == Gate::Waiting => {
            format!("alias {alias}: step approved; the rollout to version {} goes on with its next step", m.to)
        }
        Operator::Promote => format!("alias {alias}: promoted, version {} at 100 %", m.to),
        Operator::Abort => format!("alias {alias}: aborted, back on version {}", m.from),
        Operator::Retry => format!("alias {alias}: the rollout to version {} will start again", m.to),
    };
    Ok((done, m.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(phase: Phase) -> Marker {
        Marker { id: "r".into(), from: "6".into(), to: "7".into(), phase, since_ms: 0, gate: Gate::None, release: None }
    }

    #[test]
    fn promote_at_a_manual_step_approves_it_and_moves_no_traffic_itself() {
        let waiting = Marker { gate: Gate::Waiting, ..m(Phase::Shifting { step: 0 }) };
        let mv = operator_move(Operator::Promote, &waiting, 5).unwrap();
        let approved = Marker { gate: Gate::Approved, ..waiting.clone() };
        assert_eq!(mv, Move::Write { marker: MarkerWrite::Set(approved.clone()), alias: None });
        assert!(operator_move(Operator::Promote, &approved, 5).unwrap_err().contains("approved already"));
        assert!(matches!(operator_move(Operator::Abort, &waiting, 5), Ok(Move::Write { alias: Some(_), .. })));
    }

    #[test]
    fn promote_puts_the_new_version_at_one_hundred_percent_and_keeps_the_post_traffic_phase() {
        let mv = operator_move(Operator::Promote, &m(Phase::Shifting { step: 0 }), 5).unwrap();
        let Move::Write { marker: MarkerWrite::Set(next), alias } = mv else { panic!() };
        assert_eq!((next.phase, next.since_ms, alias), (Phase::PostTraffic, 5, Some(("7".into(), Routing::new()))));
    }

    #[test]
    fn abort_rolls_back_and_retry_releases_only_a_rolled_back_target() {
        let mv = operator_move(Operator::Abort, &m(Phase::PreTraffic), 5).unwrap();
        assert_eq!(mv, roll_back(&m(Phase::PreTraffic), "aborted by the operator".into(), 5));
        let back = m(Phase::RolledBack { reason: "x".into() });
        assert_eq!(
            operator_move(Operator::Retry, &back, 5),
            Ok(Move::Write { marker: MarkerWrite::Remove, alias: None })
        );
        assert!(operator_move(Operator::Retry, &m(Phase::PostTraffic), 5).is_err());
        assert!(operator_move(Operator::Abort, &back, 5).unwrap_err().contains("already rolled back"));
        assert!(operator_move(Operator::Abort, &m(Phase::Done), 5).unwrap_err().contains("commit the old version"));
        assert!(matches!(operator_move(Operator::Abort, &m(Phase::Queued), 5), Ok(Move::Write { .. })));
    }

    #[test]
    fn retry_waits_until_the_roll_back_reached_the_alias() {
        let back = m(Phase::RolledBack { reason: "post hook failed".into() });
        let alias = |v: &str, routing: &[(&str, f64)]| crate::types::AliasState {
            function_version: v.into(),
            description: String::new(),
            routing: routing.iter().map(|(k, w)| (k.to_string(), *w)).collect(),
            revision: String::new(),
        };
        // The failed hook's verdict is written, the alias is still on the new version at 100 %.
        assert!(retry_refused(&back, Some(&alias("7", &[]))).unwrap().contains("not reached the alias"));
        assert!(retry_refused(&back, Some(&alias("6", &[("7", 0.1)]))).is_some());
        assert_eq!(retry_refused(&back, Some(&alias("6", &[]))), None);
    }
}
