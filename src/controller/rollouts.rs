//! The daemon's side of rollouts: milestones become alerts and metrics, the alarms of rollouts in
//! flight are registered, and one poller per process reads each region's alarms in ALARM (one
//! DescribeAlarms per poll and region) and sends the affected functions to the front of the queue.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use super::queue::Queue;
use super::Ctx;
use crate::admin::OperatorHook;
use crate::alerts::{Alert, AlertKind};
use crate::apply::operator::{operate, Operator};
use crate::desired::Desired;
use crate::metrics::AliasLabels;
use crate::plan::rollout::Move;
use crate::plan::FunctionPlan;
use crate::reconcile::RolloutEvent;
use crate::types::FunctionKey;

/// Alerts and counts a reconcile's rollout milestones.
pub fn report(ctx: &Ctx, key: &FunctionKey, manifest: &str, events: &[RolloutEvent]) {
    for e in events {
        match e {
            RolloutEvent::Started { alias, from, to } => {
                tracing::info!(alias = %alias, from = %from, to = %to, "rollout started");
                ctx.metrics.rollout("started");
            }
            RolloutEvent::Stepped { alias, to, weight } => {
                tracing::info!(alias = %alias, to = %to, weight = %weight, "rollout step");
            }
            RolloutEvent::Succeeded { alias, to } => {
                tracing::info!(alias = %alias, to = %to, "rollout succeeded");
                ctx.metrics.rollout("succeeded");
            }
            RolloutEvent::RolledBack { alias, to, reason } => {
                tracing::warn!(alias = %alias, to = %to, reason = %reason, "rollout rolled back");
                ctx.metrics.rollout("rolled_back");
                if reason.starts_with(crate::plan::judge::REASON_PREFIX) {
                    ctx.metrics.judge_failure("rolled_back");
                }
                let text = format!(
                    "rollout of {} ({}) alias {alias} to version {to} rolled back: {reason}",
                    key.name, key.region
                );
                let mut a = Alert::new(AlertKind::RolledBack, text);
                a.manifest = Some(manifest.to_string());
                a.function = Some(key.name.clone());
                a.region = Some(key.region.clone());
                a.qualifier = Some(alias.clone());
                a.desired = Some(serde_json::json!(to));
                a.message = Some(reason.clone());
                ctx.alerts.send(a);
            }
        }
    }
}

/// A release member finished or rolled back: its read is forgotten, and the other members this
/// replica holds are reconciled at once (a replica holding none learns at its next poll).
pub fn kick_release(ctx: &Ctx, key: &FunctionKey, d: &Desired, events: &[RolloutEvent]) {
    let ends = events.iter().any(|e| matches!(e, RolloutEvent::Succeeded { .. } | RolloutEvent::RolledBack { .. }));
    if ends {
        kick(ctx, key, &d.releases);
    }
}

pub(super) fn kick(ctx: &Ctx, key: &FunctionKey, releases: &BTreeMap<String, crate::types::Release>) {
    if releases.is_empty() {
        return;
    }
    ctx.aws.peers.forget(key);
    let mut kicks = ctx.release_kicks.lock().unwrap();
    kicks.extend(releases.values().flat_map(|r| &r.members).filter(|m| &m.key != key).map(|m| m.key.clone()));
}

/// Queues, first, the release members kicked since the last call that this replica holds.
pub fn take_kicks(ctx: &Ctx, queue: &Queue<FunctionKey>) {
    let kicks = std::mem::take(&mut *ctx.release_kicks.lock().unwrap());
    for key in kicks.into_iter().filter(|k| ctx.shards.owns(k)) {
        queue.add_first(key);
    }
}

/// Records the rollouts in flight after a reconcile: their weights (metric) and their alarms
/// (watched by the poller).
pub fn track(ctx: &Ctx, key: &FunctionKey, d: &Desired, plan: &FunctionPlan) {
    if !ctx.shards.owns(key) {
        return; // its shard went to another replica while this reconcile ran
    }
    let mut alarms = BTreeSet::new();
    for (alias, a) in d.aliases.iter().filter(|(_, a)| a.deployment.is_some()) {
        let labels = AliasLabels::new(key, alias);
        match plan.rollouts.iter().find(|r| &r.alias == alias && r.active()) {
            Some(r) => {
                ctx.metrics.rollout_weight.get_or_create(&labels).set(r.weight);
                alarms.extend(a.deployment.iter().flat_map(|dep| dep.alarms.iter().cloned()));
            }
            None => {
                ctx.metrics.rollout_weight.remove(&labels);
            }
        }
    }
    super::fast_rollback::track(ctx, key, d, plan);
    let mut watched = ctx.rollout_alarms.lock().unwrap();
    if alarms.is_empty() {
        watched.remove(key);
    } else {
        watched.insert(key.clone(), alarms);
    }
}

/// When the earliest rollout pause of `plan` ends, from now; a move still to make is due now,
/// except under `--dry-run`, which makes none.
pub fn wake(plan: &FunctionPlan, dry_run: bool) -> Option<Duration> {
    let now = crate::types::now_ms();
    plan.rollouts
        .iter()
        .filter_map(|r| match r.mv {
            Move::Wait { until_ms } => until_ms,
            _ => (!dry_run).then_some(now),
        })
        .min()
        .map(|t| Duration::from_millis((t - now).max(0) as u64))
}

/// Every `every`, reads each account-region's alarms in ALARM once and queues, first, every
/// function whose rollout watches one of them; and polls the judged steps (`judge::poll`).
pub async fn poll_alarms(ctx: Arc<Ctx>, queue: Arc<Queue<FunctionKey>>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        let watched: BTreeMap<FunctionKey, BTreeSet<String>> = ctx.rollout_alarms.lock().unwrap().clone();
        let scopes: BTreeSet<crate::types::Scope> = watched.keys().map(FunctionKey::scope).collect();
        ctx.fast_rollbacks.retain(|k| ctx.shards.owns(k) && ctx.store.read().unwrap().get(k).is_some());
        // The judged steps: one GetMetricData per region (with their own scopes).
        for scope in super::judge::scopes(&ctx) {
            super::judge::poll(&ctx, &queue, &scope, every).await;
        }
        for scope in scopes {
            // Fresh for two polls: one late poll does not send every rollout to read its own.
            // Urgent: an alarm read late is a roll-back made late.
            let clients = ctx.aws.clients(scope.0.as_deref(), &scope.1);
            let firing = match clients
                .caller
                .gate
                .rush(crate::aws::priority::Until::End, clients.alarms.poll(every * 2))
                .await
            {
                Ok(f) => f,
                Err(e) => {
                    tracing::warn!(region = %scope.1, role = scope.0.as_deref().unwrap_or("own"), error = %e, "reading alarms in ALARM failed");
                    continue;
                }
            };
            for (key, alarms) in watched.iter().filter(|(k, _)| k.scope() == scope) {
                if let Some(alarm) = alarms.iter().find(|a| firing.contains(*a)) {
                    tracing::warn!(function = %key, alarm = %alarm, "rollout alarm in ALARM");
                    ctx.fast_rollbacks.flag(key, &firing, std::time::Instant::now());
                    queue.add_first(key.clone());
                }
            }
        }
    }
}

/// An operator's request waiting for the function's next reconcile.
pub struct Request {
    pub alias: String,
    pub op: Operator,
    pub reply: tokio::sync::oneshot::Sender<Result<String, String>>,
}

/// The controller and its queue while this replica is the writer (the admin server starts
/// before them, and a follower has none).
pub type Running = Arc<std::sync::Mutex<Option<(Arc<Ctx>, Arc<Queue<FunctionKey>>)>>>;

/// The admin endpoint's operator hook: the request joins the function's queue entry (first in
/// line) and is made by the worker before its next reconcile, so it never races a reconcile of
/// the same function. Answers within 8 s, else says it is queued.
pub fn operator_hook(running: Running) -> OperatorHook {
    Arc::new(move |region, function, alias, action| {
        let running = running.clone();
        Box::pin(async move {
            let op: Operator = action.parse()?;
            let current = running.lock().unwrap().clone();
            let (ctx, queue) = current
                .ok_or("this replica is not the writer (starting, or following the lease holder): ask the leader")?;
            let keys = ctx.store.read().unwrap().find(&region, &function);
            let key = match keys.as_slice() {
                [key] => key.clone(),
                [] => return Err(format!("no manifest manages {region}/{function}")),
                _ => {
                    let accounts: Vec<&str> = keys.iter().map(|k| k.account().unwrap_or("own")).collect();
                    return Err(format!(
                        "{region}/{function} is managed in several accounts ({}); run the command without --server, with that account's credentials",
                        accounts.join(", ")
                    ));
                }
            };
            let (reply, answer) = tokio::sync::oneshot::channel();
            ctx.requests.lock().unwrap().entry(key.clone()).or_default().push(Request { alias, op, reply });
            queue.add_first(key);
            match tokio::time::timeout(Duration::from_secs(8), answer).await {
                Ok(Ok(result)) => result,
                Ok(Err(_)) => Err("the controller stopped before acting".into()),
                Err(_) => Ok("queued: it is made when the reconcile in flight ends".into()),
            }
        })
    })
}

/// Makes the operator requests waiting for `key` (the worker calls this before reconciling it);
/// an abort is a roll back like any other: alerted and counted.
pub async fn take_requests(ctx: &Ctx, key: &FunctionKey, manifest: &str, function_ref: &str) {
    let requests = ctx.requests.lock().unwrap().remove(key).unwrap_or_default();
    for r in requests {
        let c = ctx.aws.clients(key.role.as_deref(), &key.region);
        let result = operate(&c, function_ref, &r.alias, r.op).await.map_err(|e| e.to_string());
        tracing::info!(alias = %r.alias, op = ?r.op, result = ?result, "operator request");
        if let (Ok((_, m)), Operator::Abort) = (&result, r.op) {
            let reason = "aborted by the operator".to_string();
            // The other members of its release learn of it at once.
            let store = ctx.store.read().unwrap();
            let releases = store.get(key).map(|m| store.releases(m)).unwrap_or_default();
            drop(store);
            kick(ctx, key, &releases);
            report(
                ctx,
                key,
                manifest,
                &[RolloutEvent::RolledBack { alias: r.alias.clone(), to: m.to.clone(), reason }],
            );
        }
        let _ = r.reply.send(result.map(|(done, _)| done));
    }
}
