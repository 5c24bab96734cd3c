//! Executing one rollout move: the alias, then the marker tag; a hook runs with its timeout while
//! the rollout's alarms are watched, and its failure rolls the alias back.

use std::time::Duration;

use serde_json::json;

use super::{ApplyError, Waits};
use crate::aws::RegionClients;
use crate::plan::rollout::{hook_failed, HookKind, MarkerWrite, Move};
use crate::types::{now_ms, AlarmState, HookResult, Marker};

/// What a move led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Moved {
    /// The move was made (a hook passed and its follow-up was made).
    Done,
    /// A hook failed (or an alarm fired during it): the alias was rolled back for `reason`.
    RolledBack(String),
}

/// Where the move applies: the function (as Lambda is called), its ARN (for tags) and the alias.
pub struct Target<'a> {
    pub function: &'a str,
    pub arn: &'a str,
    pub alias: &'a str,
    /// Values masked in a hook's answer before it becomes a reason (marker tag, status, alert).
    pub secrets: &'a std::collections::BTreeSet<String>,
}

async fn write(
    c: &RegionClients,
    t: &Target<'_>,
    marker: &MarkerWrite,
    alias: Option<&(String, crate::types::Routing)>,
) -> Result<(), ApplyError> {
    // The alias first: traffic moves (or goes back) with one call, and the marker follows it.
    // A crash in between leaves the alias one phase ahead of its marker, which the planner reads
    // from the weights (a step, 100 %, a roll back cut short) and never repeats or undoes.
    if let Some((version, routing)) = alias {
        c.lambda.update_alias(t.function, t.alias, Some(version), None, Some(routing)).await?;
    }
    match marker {
        MarkerWrite::Keep => {}
        MarkerWrite::Remove => c.lambda.untag_marker(t.arn, t.alias).await?,
        // A phase begins when its marker is written (not when it was planned: a hook may have
        // run in between), so a step's pause is never eaten by what came before it.
        MarkerWrite::Set(m) => c.lambda.tag_marker(t.arn, t.alias, &Marker { since_ms: now_ms(), ..m.clone() }).await?,
    }
    Ok(())
}

/// Resolves when one of `alarms` is read in ALARM (never when there are none).
async fn first_alarm(c: &RegionClients, alarms: &[String], every: Duration) -> String {
    if alarms.is_empty() {
        return std::future::pending().await;
    }
    loop {
        tokio::time::sleep(every).await;
        // In the daemon, the region's poller answers (one batched read for every rollout).
        if let Ok(states) = c.alarms.watched_states(alarms).await {
            if let Some((name, _)) = states.iter().find(|(_, s)| **s == AlarmState::Alarm) {
                return name.clone();
            }
        }
    }
}

/// One hook run: which hook, its function, how long it may take, the alarms watched meanwhile.
struct HookRun<'a> {
    kind: HookKind,
    function: &'a str,
    timeout: Duration,
    alarms: &'a [String],
    marker: &'a Marker,
}

/// Runs a hook: its verdict, a timeout, or an alarm meanwhile. An Invoke withheld because this
/// replica no longer holds the lease is no verdict: the error goes up, nothing is rolled back.
async fn run_hook(
    c: &RegionClients,
    t: &Target<'_>,
    h: HookRun<'_>,
    w: Waits,
) -> Result<HookResult, crate::aws::AwsError> {
    let (m, function, kind) = (h.marker, h.function, h.kind);
    let payload = json!({
        "hook": kind,
        "function": t.function,
        "alias": t.alias,
        "fromVersion": m.from,
        "toVersion": m.to,
        "rolloutId": m.id,
    });
    tracing::info!(hook = function, kind = ?kind, alias = t.alias, "running rollout hook");
    Ok(tokio::select! {
        r = tokio::time::timeout(h.timeout, c.lambda.invoke_hook(function, &payload)) => match r {
            Ok(Ok(result)) => result,
            Ok(Err(e)) if e.class == crate::aws::ErrorClass::Fenced => return Err(e),
            // A hook that cannot be run cannot vouch for the release: it fails like one that
            // answered Failed (never retried but for throttling: a hook must not run twice).
            Ok(Err(e)) => HookResult::Failed(format!("hook {function} could not be invoked: {}: {}", e.code, e.message)),
            Err(_) => HookResult::Failed(format!(
                "hook {function} timed out after {}",
                humantime::format_duration(h.timeout)
            )),
        },
        alarm = first_alarm(c, h.alarms, w.alarm_poll) => {
            HookResult::Failed(format!("alarm {alarm} in ALARM during the {kind:?} hook"))
        }
    })
}

/// Makes `mv` for alias `t.alias`.
pub async fn execute_move(c: &RegionClients, t: &Target<'_>, mv: &Move, w: Waits) -> Result<Moved, ApplyError> {
    match mv {
        Move::Wait { .. } => Ok(Moved::Done),
        Move::Write { marker, alias } => {
            write(c, t, marker, alias.as_ref()).await?;
            Ok(Moved::Done)
        }
        Move::Hook { kind, function, timeout_ms, alarms, marker, then } => {
            let timeout = Duration::from_millis(*timeout_ms);
            let run = HookRun { kind: *kind, function, timeout, alarms, marker };
            match run_hook(c, t, run, w).await.map_err(ApplyError::Aws)? {
                HookResult::Succeeded => {
                    if let Move::Write { marker, alias } = then.as_ref() {
                        write(c, t, marker, alias.as_ref()).await?;
                    }
                    Ok(Moved::Done)
                }
                HookResult::Failed(reason) => {
                    let reason = crate::plan::redact(&reason, t.secrets);
                    // The verdict first: a hook's answer cannot be asked again (it must not run
                    // twice), so an UpdateAlias that fails or a crash must not lose it. A roll
                    // back marker with the alias still moved is finished by the next reconcile.
                    if let Move::Write { marker, alias } = hook_failed(*kind, marker, reason.clone(), now_ms()) {
                        write(c, t, &marker, None).await?;
                        write(c, t, &MarkerWrite::Keep, alias.as_ref()).await?;
                    }
                    Ok(Moved::RolledBack(reason))
                }
            }
        }
    }
}
