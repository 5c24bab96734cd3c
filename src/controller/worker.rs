//! The daemon's reconcile of one function: resolve, observe, plan, tell drift from manifest
//! changes, apply per policy, and record status, metrics and alerts. It does not care why it ran.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tracing::Instrument;

use super::Ctx;
use crate::alerts::{Alert, AlertKind};
use crate::apply::ApplyError;
use crate::desired::{self, Desired};
use crate::manifest::Manifest;
use crate::plan::{Diff, FunctionPlan};
use crate::reconcile::{self, ErrorPolicy, ReconcileError};
use crate::status::{rfc3339, ManifestStatus, SyncState};
use crate::types::{AppliedGeneration, DriftPolicy, Field, FunctionKey};

/// When to look at a key again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Resync,
    After(Duration),
    Forget,
}

/// What the worker remembers between runs of a key (to alert once per episode).
#[derive(Default)]
pub struct Memory {
    drift: BTreeSet<(String, String)>,
    error: Option<String>,
    failures: u32,
}

pub type Memories = Mutex<HashMap<FunctionKey, Memory>>;

#[derive(Debug, thiserror::Error)]
enum WorkError {
    #[error("{0}")]
    Reconcile(#[from] ReconcileError),
    #[error("{0}")]
    Desired(#[from] desired::DesiredError),
    #[error("resolving SSM parameters: {0}")]
    Ssm(crate::aws::AwsError),
}

impl WorkError {
    fn policy(&self) -> ErrorPolicy {
        match self {
            WorkError::Reconcile(e) => e.policy(),
            WorkError::Desired(_) => ErrorPolicy::Terminal,
            WorkError::Ssm(e) => ReconcileError::Observe(e.clone()).policy(),
        }
    }
    fn unreachable(&self) -> bool {
        match self {
            WorkError::Reconcile(ReconcileError::Observe(e) | ReconcileError::Apply(ApplyError::Aws(e)))
            | WorkError::Ssm(e) => e.class == crate::aws::ErrorClass::Unreachable,
            _ => false,
        }
    }
}

/// Runs one reconcile of `key` in a span carrying manifest and function.
pub async fn run(ctx: &Arc<Ctx>, key: &FunctionKey) -> Next {
    let manifest = ctx.store.read().unwrap().get(key).cloned();
    let tombstone = ctx.tombstones.lock().unwrap().get(key).cloned();
    let name = manifest.as_ref().or(tombstone.as_ref()).map(|m| m.name.clone()).unwrap_or_default();
    let span = tracing::info_span!("reconcile", manifest = %name, function = %key);
    let start = Instant::now();
    let next = async {
        match (manifest, tombstone) {
            (Some(m), _) => reconcile_manifest(ctx, key, &m).await,
            (None, Some(m)) => delete(ctx, key, &m).await,
            (None, None) => Next::Forget,
        }
    }
    .instrument(span)
    .await;
    ctx.metrics.reconcile_seconds.observe(start.elapsed().as_secs_f64());
    ctx.status.reconciled(key);
    next
}

async fn resolve(ctx: &Ctx, key: &FunctionKey, m: &Manifest) -> Result<Desired, WorkError> {
    let names = desired::ssm_names([m]);
    let params = ctx.aws.region(&key.region).ssm.resolve(&key.name, &names).await.map_err(WorkError::Ssm)?;
    Ok(desired::build(m, Some(&key.region), &params)?)
}

fn sync_state(plan: &FunctionPlan, applied: bool) -> SyncState {
    if plan.error.is_some() {
        SyncState::Error
    } else if !plan.blocked.is_empty() {
        SyncState::Blocked
    } else if !applied && !plan.changes.is_empty() {
        SyncState::OutOfSync
    } else if !plan.progressing.is_empty() {
        SyncState::Progressing
    } else {
        SyncState::Synced
    }
}

async fn reconcile_manifest(ctx: &Arc<Ctx>, key: &FunctionKey, m: &Manifest) -> Next {
    let d = match resolve(ctx, key, m).await {
        Ok(d) => d,
        Err(e) => return failure(ctx, key, m, e, &BTreeSet::new()),
    };
    match sync(ctx, key, m, &d).await {
        Ok(next) => {
            if next == Next::Resync {
                ctx.memory.lock().unwrap().entry(key.clone()).or_default().failures = 0;
            }
            ctx.metrics.result(if next == Next::Resync { "success" } else { "terminal" });
            next
        }
        Err(e) => failure(ctx, key, m, e, &d.secrets()),
    }
}

/// Observe, plan, and apply when the policy allows: always for a manifest change, for drift only
/// under `driftPolicy: correct`, never with `--dry-run`.
async fn sync(ctx: &Ctx, key: &FunctionKey, m: &Manifest, d: &Desired) -> Result<Next, WorkError> {
    let clients = ctx.aws.region(&key.region);
    let (plan, function) = reconcile::observe_and_plan(&clients, d).await?;
    if ctx.status.set_reachable(true) {
        tracing::info!("AWS is reachable again");
    }
    let mut plan = plan;
    let applied = function.as_ref().map_or(AppliedGeneration::Untagged, |f| f.applied_generation.clone());
    if let AppliedGeneration::Unreadable(reason) = &applied {
        // Without the tags, drift cannot be told from a manifest change: an error, never "untagged".
        plan.error = Some(ReconcileError::TagsUnreadable(reason.clone()).to_string());
    }
    let drift = !plan.changes.is_empty() && applied.is(&d.generation);
    let write = !ctx.opts.dry_run && (!drift || d.drift_policy == DriftPolicy::Correct);
    let retag = function.is_some() && !applied.is(&d.generation);
    report_drift(ctx, key, d, &plan, drift, write);
    let seen = Seen { drift, applied: false, recorded: applied.recorded().map(str::to_string) };
    if let Some(e) = &plan.error {
        record(ctx, key, m, &plan, &seen);
        alert_error(ctx, key, &d.manifest, AlertKind::TerminalError, e);
        return Ok(Next::Resync);
    }
    let needed = !plan.changes.is_empty() || (retag && plan.in_sync());
    if !write || !needed {
        record(ctx, key, m, &plan, &seen);
        return Ok(Next::Resync);
    }
    let applied = reconcile::converge(&clients, d, plan, function, ctx.opts.waits, 3).await?;
    record(ctx, key, m, &applied.last, &Seen { drift: false, applied: true, recorded: Some(d.generation.clone()) });
    Ok(Next::Resync)
}

/// One alert per drifted field and episode; metrics for every detection.
fn report_drift(ctx: &Ctx, key: &FunctionKey, d: &Desired, plan: &FunctionPlan, drift: bool, corrected: bool) {
    let diffs: Vec<&Diff> = if drift { plan.changes.iter().flat_map(|c| &c.diffs).collect() } else { vec![] };
    let now: BTreeSet<(String, String)> = diffs.iter().map(|x| (x.field.clone(), x.from.to_string())).collect();
    let fresh: Vec<&&Diff> = {
        let mut mem = ctx.memory.lock().unwrap();
        let entry = mem.entry(key.clone()).or_default();
        let fresh = diffs.iter().filter(|x| !entry.drift.contains(&(x.field.clone(), x.from.to_string()))).collect();
        // After a correction the episode ends; under alert it lasts while the drift persists.
        entry.drift = if corrected { BTreeSet::new() } else { now };
        fresh
    };
    let action = if corrected { "corrected" } else { "none" };
    for x in fresh {
        let labels = crate::metrics::DriftLabels { function: key.name.clone(), field: x.field.clone() };
        ctx.metrics.drift.get_or_create(&labels).inc();
        let qualifier = x.field.strip_prefix("aliases.").and_then(|r| r.split('.').next()).map(str::to_string);
        let mut a = Alert::new(
            AlertKind::Drift,
            format!("drift on {} ({}) {}: {} (git: {}), action: {action}", key.name, key.region, x.field, x.from, x.to),
        );
        a.manifest = Some(d.manifest.clone());
        a.function = Some(key.name.clone());
        a.region = Some(key.region.clone());
        a.qualifier = qualifier;
        a.field = Some(x.field.clone());
        a.desired = Some(x.to.clone());
        a.actual = Some(x.from.clone());
        a.action = Some(action.into());
        ctx.alerts.send(a);
    }
}

/// What one reconcile saw: drift, whether it applied, and the generation recorded on the function.
struct Seen {
    drift: bool,
    applied: bool,
    recorded: Option<String>,
}

fn record(ctx: &Ctx, key: &FunctionKey, m: &Manifest, plan: &FunctionPlan, seen: &Seen) {
    if plan.error.is_none() {
        // The error episode is over: the next error alerts again.
        ctx.memory.lock().unwrap().entry(key.clone()).or_default().error = None;
    }
    let now = rfc3339(SystemTime::now());
    let generation = m.content_hash();
    let drifted: Vec<String> =
        if seen.drift { plan.changes.iter().flat_map(|c| &c.diffs).map(|x| x.field.clone()).collect() } else { vec![] };
    ctx.status.upsert(key, |old| {
        let old = old.unwrap_or_else(|| blank(key, m));
        ManifestStatus {
            sync: sync_state(plan, seen.applied),
            drifted_fields: drifted,
            blocked: plan.blocked.clone(),
            progressing: plan.progressing.clone(),
            last_applied: if seen.applied { Some(now.clone()) } else { old.last_applied },
            observed_generation: seen.recorded.clone().or(old.observed_generation),
            last_reconciled: Some(now),
            last_error: plan.error.clone(),
            generation,
            ..old
        }
    });
}

pub fn blank(key: &FunctionKey, m: &Manifest) -> ManifestStatus {
    ManifestStatus {
        manifest: m.name.clone(),
        file: m.file.display().to_string(),
        function: key.name.clone(),
        region: key.region.clone(),
        sync: SyncState::Unknown,
        drifted_fields: vec![],
        blocked: vec![],
        progressing: vec![],
        last_applied: None,
        last_reconciled: None,
        last_error: None,
        generation: m.content_hash(),
        observed_generation: None,
    }
}

fn alert_error(ctx: &Ctx, key: &FunctionKey, manifest: &str, kind: AlertKind, error: &str) {
    let repeat = {
        let mut mem = ctx.memory.lock().unwrap();
        let entry = mem.entry(key.clone()).or_default();
        let repeat = entry.error.as_deref() == Some(error);
        entry.error = Some(error.to_string());
        repeat
    };
    if !repeat {
        let mut a = Alert::new(kind, format!("{kind:?} on {} ({}): {error}", key.name, key.region));
        a.manifest = Some(manifest.to_string());
        a.function = Some(key.name.clone());
        a.region = Some(key.region.clone());
        a.message = Some(error.to_string());
        ctx.alerts.send(a);
    }
}

/// Records a failed reconcile (message redacted of `secrets`), alerts once, and picks the retry.
fn failure(ctx: &Ctx, key: &FunctionKey, m: &Manifest, e: WorkError, secrets: &BTreeSet<String>) -> Next {
    let message = crate::plan::redact(&e.to_string(), secrets);
    tracing::warn!(error = %message, "reconcile failed");
    let policy = e.policy();
    if e.unreachable() {
        // One alert for the endpoint, not one per function, until it answers again.
        if ctx.status.set_reachable(false) {
            let mut a = Alert::new(AlertKind::AwsUnreachable, format!("AWS endpoint unreachable: {message}"));
            a.message = Some(message.clone());
            ctx.alerts.send(a);
        }
    } else {
        let kind = if policy == ErrorPolicy::Terminal { AlertKind::TerminalError } else { AlertKind::ApplyFailed };
        alert_error(ctx, key, &m.name, kind, &message);
    }
    ctx.status.upsert(key, |old| {
        let mut s = old.unwrap_or_else(|| blank(key, m));
        s.sync = SyncState::Error;
        s.last_error = Some(message.clone());
        s.last_reconciled = Some(rfc3339(SystemTime::now()));
        s
    });
    let failures = {
        let mut mem = ctx.memory.lock().unwrap();
        let entry = mem.entry(key.clone()).or_default();
        entry.failures += 1;
        entry.failures
    };
    match policy {
        ErrorPolicy::Terminal => {
            ctx.metrics.result("terminal");
            Next::Resync
        }
        ErrorPolicy::RetryLater(d) => {
            ctx.metrics.result("error");
            Next::After(d)
        }
        ErrorPolicy::Transient => {
            ctx.metrics.result("error");
            Next::After(backoff(failures))
        }
    }
}

/// Per-key exponential backoff with jitter: 1 s, 2 s, 4 s … capped at 5 min.
pub fn backoff(failures: u32) -> Duration {
    let ceiling =
        Duration::from_secs(1).saturating_mul(1 << failures.saturating_sub(1).min(9)).min(Duration::from_secs(300));
    ceiling.mul_f64(0.5 + fastrand::f64() * 0.5)
}

/// A removed manifest with `deletionPolicy: delete`: remove what it owned, then forget it.
async fn delete(ctx: &Arc<Ctx>, key: &FunctionKey, m: &Manifest) -> Next {
    let mut stripped = m.clone();
    stripped.doc.spec.environment = Field::Absent;
    let result = async {
        let d = desired::build(&stripped, Some(&key.region), &BTreeMap::new())?.for_deletion();
        let clients = ctx.aws.region(&key.region);
        let (plan, function) = reconcile::observe_and_plan(&clients, &d).await?;
        if !ctx.opts.dry_run && plan.error.is_none() && !plan.changes.is_empty() {
            reconcile::converge(&clients, &d, plan, function, ctx.opts.waits, 3).await?;
        }
        Ok::<_, WorkError>(())
    }
    .await;
    match result {
        Ok(()) => {
            tracing::info!("removed manifest's configuration deleted (deletionPolicy: delete); no longer managed");
            ctx.tombstones.lock().unwrap().remove(key);
            ctx.status.remove(key);
            ctx.memory.lock().unwrap().remove(key);
            ctx.metrics.result("success");
            Next::Forget
        }
        Err(e) => failure(ctx, key, m, e, &BTreeSet::new()),
    }
}
