//! The operator's rollout commands, as marker and alias writes: `promote` finishes at once (the
//! alias goes to 100 %; the postTraffic hook still runs), `abort` rolls back, `retry` releases a
//! rolled-back target so the next reconcile starts it again.

use std::collections::BTreeSet;

use super::rollout::{execute_move, Target};
use super::{ApplyError, Waits};
use crate::aws::{AwsError, RegionClients};
use crate::plan::rollout::{roll_back, MarkerWrite, Move};
use crate::types::{now_ms, Marker, Phase, Routing};

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
        (Operator::Promote, Phase::PreTraffic | Phase::Shifting { .. }) => Ok(Move::Write {
            marker: MarkerWrite::Set(Marker { phase: Phase::PostTraffic, since_ms: now, ..m.clone() }),
            alias: Some((m.to.clone(), Routing::new())),
        }),
        (Operator::Promote, Phase::PostTraffic) => Err("already at 100 %; the postTraffic hook runs".into()),
        (Operator::Abort, phase) if m.active() => {
            let _ = phase;
            Ok(roll_back(m, "aborted by the operator".into(), now))
        }
        (Operator::Retry, Phase::RolledBack { .. }) => Ok(Move::Write { marker: MarkerWrite::Remove, alias: None }),
        (Operator::Retry, _) => Err("the rollout has not rolled back; nothing to retry".into()),
        (_, Phase::RolledBack { .. }) => Err("the rollout already rolled back (use retry)".into()),
        (Operator::Abort, _) => Err("nothing to abort".into()),
    }
}

/// Applies `op` to the rollout of `alias` on `function`; returns what was done.
pub async fn operate(c: &RegionClients, function: &str, alias: &str, op: Operator) -> Result<String, OperateError> {
    let f = c.lambda.get_function(function).await?.ok_or_else(|| OperateError::NoFunction(function.to_string()))?;
    let (_, markers) = c.lambda.list_tags(&f.arn).await?;
    let m = markers.get(alias).ok_or_else(|| OperateError::NoRollout(alias.to_string()))?;
    let mv = operator_move(op, m, now_ms()).map_err(|why| OperateError::Refused { alias: alias.to_string(), why })?;
    let secrets = BTreeSet::new();
    let t = Target { function, arn: &f.arn, alias, secrets: &secrets };
    execute_move(c, &t, &mv, Waits::default()).await?;
    Ok(match op {
        Operator::Promote => format!("alias {alias}: promoted, version {} at 100 %", m.to),
        Operator::Abort => format!("alias {alias}: aborted, back on version {}", m.from),
        Operator::Retry => format!("alias {alias}: the rollout to version {} will start again", m.to),
    })
}
