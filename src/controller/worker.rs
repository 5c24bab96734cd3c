//! The daemon's reconcile of one function: resolve, observe, plan, tell drift from manifest
//! changes, apply per policy, and record status, metrics and alerts. It does not care why it ran.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use tracing::Instrument;

use super::decide::{decide_at, AlertChoice, Next, Outcome};
use super::rollouts;
use super::Ctx;
use crate::alerts::{Alert, AlertKind};
use crate::apply::ApplyError;
use crate::desired::{self, Desired};
use crate::manifest::Manifest;
use crate::plan::environment::record_after;
use crate::plan::rollout::Move;
use crate::plan::{Action, Diff, FunctionPlan};
use crate::reconcile::{self, ErrorPolicy, ReconcileError};
use crate::status::{rfc3339, DriftValue, ManifestStatus, SyncState};
use crate::types::{AppliedGeneration, ChangedBy, DriftPolicy, Field, FunctionKey, UNKNOWN_PRINCIPAL};

#[derive(Debug, thiserror::Error)]
enum WorkError {
    #[error("{0}")]
    Reconcile(#[from] ReconcileError),
    #[error("{0}")]
    Desired(#[from] desired::DesiredError),
    #[error("resolving SSM parameters: {0}")]
    Ssm(crate::aws::AwsError),
    #[error("resolving Secrets Manager secrets: {0}")]
    Secrets(crate::aws::AwsError),
}

impl WorkError {
    fn policy(&self) -> ErrorPolicy {
        match self {
            WorkError::Reconcile(e) => e.policy(),
            WorkError::Desired(_) => ErrorPolicy::Terminal,
            WorkError::Ssm(e) | WorkError::Secrets(e) => ReconcileError::Observe(e.clone()).policy(),
        }
    }
    fn unreachable(&self) -> bool {
        match self {
            WorkError::Reconcile(ReconcileError::Observe(e) | ReconcileError::Apply(ApplyError::Aws(e)))
            | WorkError::Ssm(e)
            | WorkError::Secrets(e) => e.class == crate::aws::ErrorClass::Unreachable,
            _ => false,
        }
    }
}

/// Runs one reconcile of `key` in a span carrying manifest and function, then acts on the
/// decision it leads to.
pub async fn run(ctx: &Arc<Ctx>, key: &FunctionKey) -> Next {
    let manifest = ctx.store.read().unwrap().get(key).cloned();
    let tombstone = ctx.keys.lock().unwrap().get(key).and_then(|s| s.tombstone.clone());
    let Some(m) = manifest.as_ref().or(tombstone.as_ref()) else {
        // Gone while queued: nothing to do, but it counts for the first pass (readiness).
        ctx.status.reconciled(key);
        return Next::Forget;
    };
    let span = tracing::info_span!("reconcile", manifest = %m.name, function = %key);
    let start = Instant::now();
    let outcome = async {
        super::panics::injected(&key.name);
        super::fast_rollback::finish(ctx, key, &m.name).await;
        rollouts::take_requests(ctx, key, &m.name, &m.function.raw).await;
        match manifest.as_ref() {
            Some(m) => {
                // Boxed: the reconcile is a large future, kept off the stack.
                let reconcile = Box::pin(reconcile_manifest(ctx, key, m));
                super::fast_rollback::then(ctx, key, (&m.function.raw, &m.content_hash()), reconcile).await
            }
            None => {
                ctx.fast_rollbacks.forget(key);
                Box::pin(delete(ctx, key, m)).await
            }
        }
    };
    // What the reconcile reads and writes of its aliases and markers is kept for the fast path.
    // Boxed before the scope takes it: a debug build would copy the whole future on the stack.
    let outcome = crate::aws::ledger::scope(Box::pin(outcome)).instrument(span.clone()).await;
    if matches!(outcome, Outcome::Failed { policy: ErrorPolicy::Fenced, .. }) {
        // The lease is gone (or its renewal is late): no alert, no status; the key comes back in a
        // second, and is dropped then if the term ended (the new leader reconciles it).
        span.in_scope(|| tracing::info!("write withheld: this replica no longer holds the lease"));
        return Next::After(super::decide::FENCED_RETRY);
    }
    let next = span.in_scope(|| act(ctx, key, m, &outcome));
    ctx.metrics.reconcile_seconds.observe(start.elapsed().as_secs_f64());
    ctx.status.reconciled(key);
    next
}

/// Decides (a pure function of the outcome and the key's record), then alerts, records status
/// and metrics as decided.
fn act(ctx: &Ctx, key: &FunctionKey, m: &Manifest, outcome: &Outcome) -> Next {
    let decision = {
        let mut keys = ctx.keys.lock().unwrap();
        let state = keys.entry(key.clone()).or_default();
        let at = (std::time::Instant::now(), m.content_hash());
        let d = decide_at(outcome, state, fastrand::f64(), (at.0, at.1.as_str()), ctx.opts.propagation_window);
        if d.next == Next::Forget {
            keys.remove(key);
        }
        d
    };
    ctx.metrics.result(decision.result);
    let message = match outcome {
        Outcome::PlanError(e) => e.as_str(),
        Outcome::Failed { message, .. } => message.as_str(),
        Outcome::Synced | Outcome::Rolling(_) | Outcome::Deleted => "",
    };
    match decision.alert {
        AlertChoice::None => {}
        AlertChoice::Key(kind) => {
            let mut a = Alert::new(kind, format!("{kind:?} on {} ({}): {message}", key.name, key.region));
            a.manifest = Some(m.name.clone());
            a.function = Some(key.name.clone());
            a.region = Some(key.region.clone());
            a.message = Some(message.to_string());
            ctx.alerts.send(a);
        }
        AlertChoice::Unreachable => {
            // One alert per account-region, not one per function, until it answers again; the
            // other account-regions keep reconciling.
            if ctx.status.set_reachable(&scope_name(key), false) {
                let text = format!("AWS endpoint unreachable ({}): {message}", scope_name(key));
                let mut a = Alert::new(AlertKind::AwsUnreachable, text);
                a.region = Some(key.region.clone());
                a.message = Some(message.to_string());
                ctx.alerts.send(a);
            }
        }
    }
    if decision.error_status {
        tracing::warn!(error = %message, "reconcile failed");
        ctx.status.upsert_if(
            key,
            |k| ctx.shards.owns(k),
            |old| {
                let mut s = old.unwrap_or_else(|| blank(key, m));
                s.sync = SyncState::Error;
                // What the manifest says now (it may have been renamed or moved); drift and
                // rollouts stay as the last reconcile that read the function saw them.
                (s.manifest, s.file) = (m.name.clone(), m.file.display().to_string());
                s.labels = m.doc.metadata.labels.clone();
                s.last_error = Some(message.to_string());
                s.last_reconciled = Some(rfc3339(SystemTime::now()));
                s
            },
        );
    }
    if decision.next == Next::Forget {
        tracing::info!("removed manifest's configuration deleted (deletionPolicy: delete); no longer managed");
        ctx.status.remove(key);
    }
    decision.next
}

/// A failed reconcile as an outcome (its message redacted of `secrets`).
fn failed(e: WorkError, secrets: &BTreeSet<String>) -> Outcome {
    Outcome::Failed {
        policy: e.policy(),
        unreachable: e.unreachable(),
        message: crate::plan::redact(&e.to_string(), secrets),
    }
}

async fn resolve(ctx: &Ctx, key: &FunctionKey, m: &Manifest) -> Result<Desired, WorkError> {
    let names = desired::ssm_names([m]);
    let clients = ctx.aws.clients(key.role.as_deref(), &key.region);
    let mut params = clients.ssm.resolve(&key.name, &names).await.map_err(WorkError::Ssm)?;
    let refs = desired::secret_refs([m]);
    if !refs.is_empty() {
        let values = Box::pin(clients.secrets.resolve_shared(&key.name, &refs)).await;
        params.extend(values.map_err(WorkError::Secrets)?);
    }
    let mut d = desired::build(m, Some(&key.region), &params)?;
    d.revision = ctx.status.revision();
    d.releases = ctx.store.read().unwrap().releases(m);
    for r in d.releases.values_mut() {
        ctx.aws.read_release(r).await;
    }
    Ok(d)
}

fn sync_state(plan: &FunctionPlan, applied: bool) -> SyncState {
    if plan.error.is_some() {
        SyncState::Error
    } else if plan.rollouts.iter().any(|r| r.phase == "RolledBack") {
        SyncState::RolledBack
    } else if !plan.blocked.is_empty() {
        SyncState::Blocked
    } else if !applied && !plan.changes.is_empty() {
        SyncState::OutOfSync
    } else if !plan.progressing.is_empty() || !plan.rollouts.is_empty() {
        SyncState::Progressing
    } else {
        SyncState::Synced
    }
}

async fn reconcile_manifest(ctx: &Arc<Ctx>, key: &FunctionKey, m: &Manifest) -> Outcome {
    let before = ctx.previous.swap(key, m);
    let d = match resolve(ctx, key, m).await {
        Ok(d) => d,
        Err(e) => return failed(e, &BTreeSet::new()),
    };
    // Boxed: a second observe-and-apply kept off the reconcile's stack.
    if let Err(e) = Box::pin(super::first_write::write_first(ctx, key, (before.as_ref(), m), &d)).await {
        return failed(e.into(), &d.secrets());
    }
    match sync(ctx, key, m, &d).await {
        Ok(last) => {
            rollouts::track(ctx, key, &d, &last);
            if ctx.shards.owns(key) {
                super::judge::track(ctx, key, &d.manifest, &last);
            }
            let wake = rollouts::wake(&last, ctx.opts.dry_run);
            ctx.rolling.set(key, wake.is_some());
            match (last.error, wake) {
                (Some(error), _) => Outcome::PlanError(error),
                (None, Some(after)) => Outcome::Rolling(after),
                (None, None) => Outcome::Synced,
            }
        }
        Err(e) => failed(e, &d.secrets()),
    }
}

/// Observe, plan, and apply when the policy allows: always for a manifest change, for drift only
/// under `driftPolicy: correct`, never with `--dry-run`; rollouts move unless `--dry-run`.
/// Returns the last plan (its `error`, its rollouts' next moves).
async fn sync(ctx: &Ctx, key: &FunctionKey, m: &Manifest, d: &Desired) -> Result<FunctionPlan, WorkError> {
    let clients = ctx.aws.clients(key.role.as_deref(), &key.region);
    let (plan, o) = reconcile::observe_and_plan(&clients, d).await?;
    let function = o.function.as_ref();
    if ctx.status.set_reachable(&scope_name(key), true) {
        tracing::info!(scope = %scope_name(key), "AWS is reachable again");
    }
    let mut plan = plan;
    let applied = function.map_or(AppliedGeneration::Untagged, |f| f.applied_generation.clone());
    if let AppliedGeneration::Unreadable(reason) = &applied {
        // Without the tags, drift cannot be told from a manifest change: an error, never "untagged".
        plan.error = Some(ReconcileError::TagsUnreadable(reason.clone()).to_string());
    }
    let fingerprint = source_fingerprint(d);
    // Only what would otherwise be drift can be a source change (a manifest change is neither).
    let source_change =
        applied.is(&d.generation) && !plan.changes.is_empty() && source_change(ctx, key, d, &plan, fingerprint);
    if source_change {
        let fields: Vec<&str> = plan.changes.iter().flat_map(|c| &c.diffs).map(|x| x.field.as_str()).collect();
        tracing::info!(?fields, "source value changed (SSM / Secrets Manager): applying, not drift");
    }
    let drift = !plan.changes.is_empty() && applied.is(&d.generation) && !source_change;
    let write = !ctx.opts.dry_run && (!drift || d.drift_policy == DriftPolicy::Correct);
    let retag = function.is_some_and(|f| !applied.is(&d.generation) || record_after(d, f).is_some());
    report_drift(ctx, key, d, &plan, drift, write);
    let seen = Seen {
        drift,
        applied: false,
        recorded: applied.recorded().map(str::to_string),
        revision: applied.revision().map(str::to_string),
    };
    if plan.error.is_some() {
        record(ctx, key, m, &plan, &seen);
        return Ok(plan);
    }
    let needed = !plan.changes.is_empty() || (retag && plan.in_sync());
    let moving = !ctx.opts.dry_run && plan.rollouts.iter().any(|r| !matches!(r.mv, Move::Wait { .. }));
    if !sourced_differ(d, &plan) {
        remember_sources(ctx, key, fingerprint);
    }
    if write && needed {
        let applied = reconcile::converge(&clients, d, plan, o, ctx.opts.waits, 3).await?;
        remember_sources(ctx, key, fingerprint);
        if source_change {
            ctx.metrics.source_changes.inc();
        }
        rollouts::report(ctx, key, &d.manifest, &applied.events);
        rollouts::kick_release(ctx, key, d, &applied.events);
        let seen =
            Seen { drift: false, applied: true, recorded: Some(d.generation.clone()), revision: d.revision.clone() };
        record(ctx, key, m, &applied.last, &seen);
        return Ok(applied.last);
    }
    if !moving {
        record(ctx, key, m, &plan, &seen);
        return Ok(plan);
    }
    let moves = reconcile::MOVES_PER_RECONCILE;
    let (last, events, _) = reconcile::drive(&clients, d, plan, o, ctx.opts.waits, moves).await?;
    rollouts::report(ctx, key, &d.manifest, &events);
    rollouts::kick_release(ctx, key, d, &events);
    record(ctx, key, m, &last, &seen);
    Ok(last)
}

/// A fingerprint of the values `d` takes from SSM and Secrets Manager, keyed per process (it
/// tells that a source changed without keeping or printing a value).
fn source_fingerprint(d: &Desired) -> u64 {
    use std::hash::{BuildHasher, Hash, Hasher};
    static KEY: std::sync::OnceLock<std::collections::hash_map::RandomState> = std::sync::OnceLock::new();
    let mut h = KEY.get_or_init(std::collections::hash_map::RandomState::new).build_hasher();
    if let Field::Value(env) = &d.environment {
        for k in &d.sourced {
            (k, env.get(k).map(|v| v.value.as_str())).hash(&mut h);
        }
    }
    h.finish()
}

/// True when `field` is a variable whose value comes from SSM or Secrets Manager.
fn is_sourced(d: &Desired, field: &str) -> bool {
    field.strip_prefix("environment.variables.").is_some_and(|k| d.sourced.contains(k))
}

/// True when the plan changes any sourced variable.
fn sourced_differ(d: &Desired, plan: &FunctionPlan) -> bool {
    plan.changes.iter().flat_map(|c| &c.diffs).any(|x| is_sourced(d, &x.field))
}

/// A source change: the plan changes only sourced variables (and the publish after them) and
/// their values are not the ones this process last applied (after a restart, none are known: a
/// sourced difference is then taken as a source change).
fn source_change(ctx: &Ctx, key: &FunctionKey, d: &Desired, plan: &FunctionPlan, fingerprint: u64) -> bool {
    let only_sourced = sourced_differ(d, plan)
        && plan.changes.iter().all(|c| match &c.action {
            Action::UpdateConfiguration { .. } => c.diffs.iter().all(|x| is_sourced(d, &x.field)),
            Action::PublishVersion { .. } => true,
            _ => false,
        });
    let known = ctx.keys.lock().unwrap().get(key).and_then(|k| k.sources);
    only_sourced && known != Some(fingerprint)
}

fn remember_sources(ctx: &Ctx, key: &FunctionKey, fingerprint: u64) {
    ctx.keys.lock().unwrap().entry(key.clone()).or_default().sources = Some(fingerprint);
}

/// One alert per drifted field and episode, naming who made it when CloudTrail said; metrics
/// for every detection.
fn report_drift(ctx: &Ctx, key: &FunctionKey, d: &Desired, plan: &FunctionPlan, drift: bool, corrected: bool) {
    let diffs: Vec<&Diff> = if drift { plan.changes.iter().flat_map(|c| &c.diffs).collect() } else { vec![] };
    let now: BTreeSet<(String, String)> = diffs.iter().map(|x| (x.field.clone(), x.from.to_string())).collect();
    let (fresh, by) = {
        let mut keys = ctx.keys.lock().unwrap();
        let entry = keys.entry(key.clone()).or_default();
        let fresh: Vec<&&Diff> =
            diffs.iter().filter(|x| !entry.drift.contains(&(x.field.clone(), x.from.to_string()))).collect();
        for x in &fresh {
            if let Some(c) = entry.changes.iter().rev().find(|c| crate::trail::may_change(&c.call, &x.field)) {
                entry.drift_by.insert(x.field.clone(), c.clone());
            }
        }
        entry.drift_by.retain(|f, _| diffs.iter().any(|x| x.field == *f));
        let by = entry.drift_by.clone();
        // After a correction the episode ends; under alert it lasts while the drift persists.
        entry.drift = if corrected { BTreeSet::new() } else { now };
        if !drift || corrected {
            entry.changes.clear();
        }
        (fresh, by)
    };
    let action = if corrected { "corrected" } else { "none" };
    for x in fresh {
        let labels = crate::metrics::DriftLabels { function: key.name.clone(), field: x.field.clone() };
        ctx.metrics.drift.get_or_create(&labels).inc();
        if corrected {
            ctx.metrics.drift_corrected.get_or_create(&labels).inc();
        }
        let changed_by = by.get(&x.field).cloned();
        ctx.metrics.drift_by_principal(changed_by.as_ref().map_or("Unknown", |c| c.principal_type.as_str()));
        let who = changed_by.as_ref().map_or(UNKNOWN_PRINCIPAL.to_string(), ChangedBy::describe);
        let qualifier = x.field.strip_prefix("aliases.").and_then(|r| r.split('.').next()).map(str::to_string);
        let mut a = Alert::new(
            AlertKind::Drift,
            format!(
                "drift on {} ({}) {}: {} (git: {}), action: {action}, made by {who}",
                key.name, key.region, x.field, x.from, x.to
            ),
        );
        a.manifest = Some(d.manifest.clone());
        a.function = Some(key.name.clone());
        a.region = Some(key.region.clone());
        a.qualifier = qualifier;
        a.field = Some(x.field.clone());
        a.desired = Some(x.to.clone());
        a.actual = Some(x.from.clone());
        a.action = Some(action.into());
        a.changed_by = changed_by;
        ctx.alerts.send(a);
    }
}

/// What one reconcile saw: drift, whether it applied, and the generation recorded on the function.
struct Seen {
    drift: bool,
    applied: bool,
    recorded: Option<String>,
    /// The git revision the recorded generation was applied from.
    revision: Option<String>,
}

fn record(ctx: &Ctx, key: &FunctionKey, m: &Manifest, plan: &FunctionPlan, seen: &Seen) {
    let now = rfc3339(SystemTime::now());
    let generation = m.content_hash();
    let by = ctx.keys.lock().unwrap().get(key).map(|k| k.drift_by.clone()).unwrap_or_default();
    let drift: Vec<DriftValue> = if seen.drift {
        plan.changes
            .iter()
            .flat_map(|c| &c.diffs)
            .map(|x| DriftValue {
                field: x.field.clone(),
                desired: x.to.clone(),
                actual: x.from.clone(),
                changed_by: by.get(&x.field).cloned(),
            })
            .collect()
    } else {
        vec![]
    };
    ctx.status.upsert_if(
        key,
        |k| ctx.shards.owns(k),
        |old| {
            let old = old.unwrap_or_else(|| blank(key, m));
            ManifestStatus {
                sync: sync_state(plan, seen.applied),
                drifted_fields: drift.iter().map(|x| x.field.clone()).collect(),
                drift,
                manifest: m.name.clone(),
                file: m.file.display().to_string(),
                labels: m.doc.metadata.labels.clone(),
                blocked: plan.blocked.clone(),
                rollouts: plan.rollouts.iter().map(|r| r.view.clone()).collect(),
                progressing: plan.progressing.clone(),
                last_applied: if seen.applied { Some(now.clone()) } else { old.last_applied },
                observed_generation: seen.recorded.clone().or(old.observed_generation),
                revision: seen.revision.clone().or(old.revision),
                last_reconciled: Some(now),
                last_error: plan.error.clone(),
                generation,
                ..old
            }
        },
    );
}

/// An account-region as alerts and logs name it: `REGION` or `ACCOUNT/REGION`.
fn scope_name(key: &FunctionKey) -> String {
    match key.account() {
        Some(a) => format!("{a}/{}", key.region),
        None => key.region.clone(),
    }
}

pub fn blank(key: &FunctionKey, m: &Manifest) -> ManifestStatus {
    ManifestStatus {
        manifest: m.name.clone(),
        file: m.file.display().to_string(),
        function: key.name.clone(),
        region: key.region.clone(),
        account: key.account().map(str::to_string),
        sync: SyncState::Unknown,
        drifted_fields: vec![],
        drift: vec![],
        labels: m.doc.metadata.labels.clone(),
        blocked: vec![],
        rollouts: vec![],
        progressing: vec![],
        last_applied: None,
        last_reconciled: None,
        last_error: None,
        generation: m.content_hash(),
        observed_generation: None,
        revision: None,
    }
}

/// A removed manifest with `deletionPolicy: delete`: remove what it owned, then forget it.
async fn delete(ctx: &Arc<Ctx>, key: &FunctionKey, m: &Manifest) -> Outcome {
    // The function is still managed, under another key (the manifest now names a role reaching
    // it): its removal under the old key deletes nothing, the function least of all.
    if !ctx.store.read().unwrap().find(&key.region, &key.name).is_empty() {
        tracing::info!("the function is managed under another key; nothing deleted");
        return Outcome::Deleted;
    }
    let mut stripped = m.clone();
    std::sync::Arc::make_mut(&mut stripped.doc).spec.environment = Field::Absent;
    let result = async {
        let d = desired::build(&stripped, Some(&key.region), &BTreeMap::new())?.for_deletion();
        let clients = ctx.aws.clients(key.role.as_deref(), &key.region);
        let (plan, o) = reconcile::observe_and_plan(&clients, &d).await?;
        if !ctx.opts.dry_run && plan.error.is_none() && !plan.changes.is_empty() {
            reconcile::converge(&clients, &d, plan, o, ctx.opts.waits, 3).await?;
        }
        Ok::<_, WorkError>(())
    }
    .await;
    match result {
        Ok(()) => Outcome::Deleted,
        Err(e) => failed(e, &BTreeSet::new()),
    }
}
