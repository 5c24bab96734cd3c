//! The daemon: watch + resync feed a keyed work queue; workers reconcile one function at a time;
//! shutdown drains in-flight work. Only keys move through here; nothing Lambda-specific.

pub mod balance;
pub mod decide;
pub mod events;
pub mod fast_rollback;
pub mod first_write;
mod judge;
pub mod lease;
mod panics;
pub mod queue;
pub mod rollouts;
pub mod rush;
pub mod store;
#[cfg(test)]
mod store_tests;
mod term;
pub mod watch;
pub mod worker;

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use crate::admin::{self, AdminState};
use crate::alerts::http::HttpClient;
use crate::alerts::sinks::Sink;
use crate::alerts::{Alert, AlertKind, Alerts};
use crate::apply::Waits;
use crate::aws::fence::Fences;
use crate::aws::{Aws, AwsOptions};
use crate::metrics::Metrics;
use crate::status::StatusStore;
use crate::types::{DeletionPolicy, FunctionKey};
use queue::Queue;
use store::{Reload, Store};
use term::Term;

/// `lambda-reconciler run` options.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub dir: PathBuf,
    /// Where the manifests' git revision comes from (re-read at each reload).
    pub revision: crate::manifest::revision::RevisionSource,
    /// How long a propagating refusal is retried before it is terminal.
    pub propagation_window: Duration,
    pub resync: Duration,
    pub listen: SocketAddr,
    pub webhook: Option<String>,
    /// Signs each webhook alert (HMAC-SHA256); never printed.
    pub webhook_secret: Option<String>,
    /// The deadline of one webhook attempt (`--alert-webhook-timeout`).
    pub webhook_timeout: Duration,
    pub sns_topic: Option<String>,
    pub dry_run: bool,
    pub max_concurrent: usize,
    pub debounce: Duration,
    pub shutdown_timeout: Duration,
    pub waits: Waits,
    /// SQS queues that CloudTrail events reach through EventBridge (`--events-queue-url`).
    pub events_queues: Vec<String>,
    /// The admin listener's bearer token (`--admin-token-file`).
    pub admin_token: Option<crate::admin::AdminToken>,
    /// Host names the admin listener answers to besides IP literals and localhost.
    pub admin_allowed_hosts: Vec<String>,
    /// How long an admin connection may take to send a request header.
    pub admin_header_timeout: Duration,
    /// Leader election among replicas (`--lease-table`); `None`: the only writer.
    pub lease: Option<lease::LeaseOptions>,
}

/// Everything a worker needs.
pub struct Ctx {
    pub aws: Arc<Aws>,
    pub store: RwLock<Store>,
    /// What the worker remembers of each key (alert episodes, failures, tombstone): one record.
    pub keys: Mutex<HashMap<FunctionKey, decide::KeyState>>,
    pub status: Arc<StatusStore>,
    pub alerts: Alerts,
    pub metrics: Arc<Metrics>,
    pub opts: RunOptions,
    unavailable: Mutex<Option<String>>,
    /// Operator requests (promote, abort, retry) waiting for their function's next reconcile.
    pub requests: Mutex<HashMap<FunctionKey, Vec<rollouts::Request>>>,
    /// The alarms of each function's rollouts in flight (read by the alarm poller).
    pub rollout_alarms: Mutex<std::collections::BTreeMap<FunctionKey, std::collections::BTreeSet<String>>>,
    /// The judged steps of each function's rollouts in flight (read by the poller).
    pub rollout_judged: judge::Watched,
    /// The dry-run Fails already alerted (function, step), for their step's life.
    pub judge_alerted: judge::Alerted,
    /// The shards whose functions this replica works on.
    pub shards: Shards,
    /// Release members to reconcile at once: another member of their release finished or
    /// rolled back (bounded by the members of the releases).
    pub release_kicks: Mutex<BTreeSet<FunctionKey>>,
    /// The manifest each key was last reconciled with: an edit writes what it changed first.
    pub previous: first_write::Previous,
    /// The functions with a rollout move pending: their reconciles are urgent until they end.
    pub rolling: rush::Rolling,
    /// The rollouts in flight as last seen, and the alarm roll backs waiting to be made fast.
    pub fast_rollbacks: fast_rollback::FastRollbacks,
}

/// The shards (`--shards`, by account-region) this replica holds the lease of: it reconciles
/// exactly the functions of those. Without a lease table: the one shard, always.
pub struct Shards {
    count: usize,
    held: RwLock<BTreeSet<usize>>,
}

impl Shards {
    pub fn new(count: usize) -> Self {
        Shards { count: count.max(1), held: RwLock::default() }
    }

    pub fn count(&self) -> usize {
        self.count
    }

    pub fn owns(&self, key: &FunctionKey) -> bool {
        self.holds(key.shard(self.count))
    }

    pub fn holds(&self, shard: usize) -> bool {
        self.held.read().unwrap().contains(&shard)
    }

    /// Replaces the held set; returns (gained, lost).
    fn set(&self, now: &BTreeSet<usize>) -> (Vec<usize>, Vec<usize>) {
        let mut held = self.held.write().unwrap();
        let gained = now.difference(&held).copied().collect();
        let lost = held.difference(now).copied().collect();
        *held = now.clone();
        (gained, lost)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("listening on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
    #[error("watching {dir}: {source}")]
    Watch { dir: PathBuf, source: notify::Error },
    #[error("alert webhook client: {0}")]
    Webhook(crate::alerts::http::HttpError),
    #[error("a task panicked at {0}; stopped so that the process is restarted")]
    Panicked(String),
}

/// `keys` reordered round-robin across account-regions (stable within each), so a full pass
/// keeps every account-region's limiter busy instead of draining them one after another.
fn interleave(keys: Vec<FunctionKey>) -> Vec<FunctionKey> {
    let mut by_scope: std::collections::BTreeMap<crate::types::Scope, std::collections::VecDeque<FunctionKey>> =
        std::collections::BTreeMap::new();
    for k in keys {
        by_scope.entry(k.scope()).or_default().push_back(k);
    }
    let mut out = Vec::new();
    while by_scope.values().any(|q| !q.is_empty()) {
        out.extend(by_scope.values_mut().filter_map(|q| q.pop_front()));
    }
    out
}

/// Applies a reload: alerts for rejected files, enqueues changed keys, handles removals.
/// Changed keys are `urgent` (ahead of resyncs) except on the first load. `queue`: the writer's
/// (none on a follower, which only keeps its store current and leaves alerting to the writer).
fn handle(ctx: &Ctx, queue: Option<&Arc<Queue<FunctionKey>>>, r: Reload, urgent: bool) {
    // One replica alerts about the files: the holder of shard 0 (the writer, with one shard).
    let writer = ctx.opts.lease.is_none() || (queue.is_some() && ctx.shards.holds(0));
    if let Some(reason) = r.unavailable {
        let repeat = ctx.unavailable.lock().unwrap().replace(reason.clone()).as_deref() == Some(&reason);
        if !repeat && writer {
            ctx.alerts.send(Alert::new(
                AlertKind::ManifestsUnavailable,
                format!("manifests unavailable, nothing changed: {reason}"),
            ));
        }
        return;
    }
    *ctx.unavailable.lock().unwrap() = None;
    first_write::reloaded(ctx, &r, !urgent);
    ctx.status.set_revision(crate::manifest::revision::revision(&ctx.opts.dir, &ctx.opts.revision));
    let interest = ctx.store.read().unwrap().interest();
    ctx.aws.keep_interest(&interest.keys().cloned().collect());
    for ((role, region), interest) in interest {
        ctx.aws.set_interest(role.as_deref(), &region, interest);
    }
    for (file, errors) in r.rejected {
        for e in &errors {
            tracing::warn!(file = %e.file.display(), line = e.line, column = e.column, field = %e.field, message = %e.message, "manifest rejected");
        }
        if writer {
            alert_rejected(ctx, &file, &errors);
        }
    }
    for (key, m) in r.removed {
        if m.doc.spec.deletion_policy == DeletionPolicy::Delete {
            // Deleting waits out a grace period: a manifest that comes back (a non-atomic checkout)
            // cancels it.
            let grace = deletion_grace(ctx.opts.debounce);
            tracing::info!(manifest = %m.name, function = %key, grace_ms = grace.as_millis() as u64, "manifest removed; deleting the configuration it owned after the grace period");
            ctx.keys.lock().unwrap().entry(key.clone()).or_default().tombstone = Some(m);
            if let Some(q) = queue.filter(|_| ctx.shards.owns(&key)) {
                q.add_after(key, grace);
            }
        } else {
            tracing::info!(manifest = %m.name, function = %key, "manifest removed; configuration left as it is, no longer managed");
            ctx.status.remove(&key);
            ctx.keys.lock().unwrap().remove(&key);
        }
    }
    for key in interleave(r.changed) {
        if let Some(s) = ctx.keys.lock().unwrap().get_mut(&key) {
            s.tombstone = None;
        }
        match queue {
            Some(_) if !ctx.shards.owns(&key) => {}
            Some(q) if urgent => q.add_first(key),
            Some(q) => q.add(key),
            None => {}
        }
    }
}

/// One `ManifestRejected` alert for `file`.
fn alert_rejected(ctx: &Ctx, file: &std::path::Path, errors: &[crate::manifest::ManifestError]) {
    let first = errors.first().map(|e| e.to_string()).unwrap_or_default();
    let text = format!(
        "{} rejected ({} error(s)); its last good version stays in force: {first}",
        file.display(),
        errors.len()
    );
    let mut a = Alert::new(AlertKind::ManifestRejected, text);
    a.message = Some(errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"));
    ctx.alerts.send(a);
}

/// How long a removed manifest with `deletionPolicy: delete` must stay removed.
fn deletion_grace(debounce: Duration) -> Duration {
    (debounce * 10).max(Duration::from_secs(3))
}

fn sinks(aws: &Aws, opts: &RunOptions) -> Result<Vec<Sink>, RunError> {
    let mut out = Vec::new();
    if let Some(url) = &opts.webhook {
        let limits = crate::alerts::http::Limits { deadline: opts.webhook_timeout, ..crate::alerts::http::WEBHOOK };
        let client = Box::new(HttpClient::new(limits).map_err(RunError::Webhook)?);
        let secret = opts.webhook_secret.as_deref().map(crate::alerts::sinks::SigningKey::new);
        out.push(Sink::Webhook { client, url: url.clone(), secret });
    }
    if let Some(topic) = &opts.sns_topic {
        out.push(Sink::Sns { client: aws.sns(topic), topic_arn: topic.clone() });
    }
    Ok(out)
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = term => {},
        _ = tokio::signal::ctrl_c() => {},
    }
}

/// Runs the controller until SIGTERM/SIGINT; in-flight reconciles finish (bounded). With a lease
/// table it works only on the shards whose lease it holds (a term while it holds any), and
/// follows otherwise.
pub async fn run(opts: RunOptions, aws_opts: &AwsOptions) -> Result<(), RunError> {
    let metrics = Arc::new(Metrics::default());
    metrics.reconciled_now();
    metrics.resync_interval.set(opts.resync.as_secs() as i64);
    let shards = opts.lease.as_ref().map_or(1, |l| l.shards);
    let fences = if opts.lease.is_some() { Fences::closed(shards) } else { Fences::default() };
    let aws = Arc::new(Aws::connect(&AwsOptions { fences: fences.clone(), ..aws_opts.clone() }).await);
    let m = metrics.clone();
    aws.caller.stats.set_hook(Box::new(move |op, outcome| m.aws_call(op, outcome)));
    // The daemon's urgency choices: a changed manifest's reconcile is urgent (see `worker`
    // below), and so is a region snapshot refresh, which every reconcile, an edit's included,
    // waits on: were it held back behind urgent work, it would hold that work back (inversion).
    aws.caller.run_shared_work_urgently(true);
    let status = Arc::new(StatusStore::default());
    let panicked = Arc::new(tokio::sync::Notify::new());
    panics::install(status.clone(), metrics.clone(), panicked.clone());
    let alerts = Alerts::start(metrics.clone(), sinks(&aws, &opts)?, status.clone());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut admin_stop = stop_rx.clone();
    let running: rollouts::Running = Arc::default();
    let operator = Some(rollouts::operator_hook(running.clone()));
    let token = opts.admin_token.clone();
    let admin_state = AdminState {
        operator,
        token,
        allowed_hosts: admin::guard::AllowedHosts::new(&opts.admin_allowed_hosts),
        header_timeout: opts.admin_header_timeout,
        ..AdminState::new(status.clone(), metrics.clone())
    };
    let (bound, admin_task) = admin::serve(opts.listen, admin_state, async move {
        let _ = admin_stop.wait_for(|s| *s).await;
    })
    .await
    .map_err(|source| RunError::Listen { addr: opts.listen, source })?;
    let (held_tx, mut held_rx) = tokio::sync::watch::channel(BTreeSet::new());
    let held_tx = Arc::new(held_tx);
    let replicas = opts.lease.as_ref().map(|l| {
        let table = aws.lease_table(&l.table, l.heartbeat.min(Duration::from_secs(2)));
        lease::Replicas::start(table, l, &fences, held_tx.clone(), metrics.clone())
    });
    let owner = replicas.as_ref().map(|r| r.owner.clone());
    tracing::info!(listen = %bound, manifests = %opts.dir.display(), dry_run = opts.dry_run, lease_owner = owner.as_deref(), shards, "lambda-reconciler running");

    let mut reloads =
        watch::watch(&opts.dir, opts.debounce).map_err(|source| RunError::Watch { dir: opts.dir.clone(), source })?;
    let ctx = Arc::new(Ctx {
        store: RwLock::new(Store::new(&opts.dir, aws.default_region())),
        aws,
        keys: Mutex::default(),
        status: status.clone(),
        alerts,
        metrics: metrics.clone(),
        opts: opts.clone(),
        unavailable: Mutex::default(),
        requests: Mutex::default(),
        rollout_alarms: Mutex::default(),
        rollout_judged: Mutex::default(),
        judge_alerted: Mutex::default(),
        shards: Shards::new(shards),
        release_kicks: Mutex::default(),
        previous: Default::default(),
        rolling: Default::default(),
        fast_rollbacks: Default::default(),
    });
    let first = ctx.store.write().unwrap().reload();
    if first.changed.is_empty() && first.rejected.is_empty() && first.unavailable.is_none() && replicas.is_none() {
        let text = format!("no manifest found under {}; nothing is managed until one appears", opts.dir.display());
        ctx.alerts.send(Alert::new(AlertKind::ManifestsUnavailable, text));
    }
    handle(&ctx, None, first, false);

    let term: Arc<Mutex<Option<Term>>> = Arc::default();
    let (wctx, wterm) = (ctx.clone(), term.clone());
    let watcher = tokio::spawn(async move {
        while let Some(change) = reloads.next().await {
            wctx.metrics.reloads.inc();
            let r = match change {
                watch::Change::Paths(paths) => wctx.store.write().unwrap().reload_paths(&paths),
                watch::Change::Full => wctx.store.write().unwrap().reload(),
            };
            let t = wterm.lock().unwrap();
            handle(&wctx, t.as_ref().map(Term::queue), r, true);
            if let Some(t) = t.as_ref() {
                t.scale(&wctx);
            }
        }
    });

    status.set_role(if replicas.is_some() { "follower" } else { "single" });
    if replicas.is_none() {
        held_tx.send_replace(BTreeSet::from([0]));
        metrics.leader.set(1);
        metrics.shards_held.set(1);
    }
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        let held = held_rx.borrow_and_update().clone();
        follow_shards(&ctx, &term, &running, &held);
        tokio::select! {
            _ = &mut shutdown => break,
            _ = panicked.notified() => {
                alert_panic(&ctx).await;
                break;
            }
            _ = held_rx.changed() => {}
        }
    }

    watcher.abort();
    // A panic may have poisoned the lock: the term is still there to drain.
    let current = term.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
    if let Some(t) = current {
        if !t.drain(&ctx, &running, opts.shutdown_timeout).await {
            tracing::warn!(timeout_s = opts.shutdown_timeout.as_secs(), "in-flight reconciles did not finish in time");
            // Cut-off reconciles may have a write on the wire: let it land before another
            // replica can take the lease.
            (0..fences.len()).for_each(|i| fences.get(i).close());
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
    if let Some(r) = replicas {
        r.release().await;
    }
    let _ = stop_tx.send(true);
    // Bounded: a client that never finishes its request must not hold the process open.
    if tokio::time::timeout(ADMIN_STOP, admin_task).await.is_err() {
        tracing::warn!(timeout_s = ADMIN_STOP.as_secs(), "the admin listener did not stop in time");
    }
    tracing::info!("stopped");
    match status.panicked() {
        Some(at) => Err(RunError::Panicked(at.to_string())),
        None => Ok(()),
    }
}

/// How long the daemon waits for the admin listener to stop (its connections get 5 s).
const ADMIN_STOP: Duration = Duration::from_secs(10);

/// How long the daemon waits for the alert of a panic to be delivered before it stops.
const PANIC_ALERT_FLUSH: Duration = Duration::from_secs(10);

/// Alerts a panic and waits (bounded) for its delivery; the caller then stops the daemon.
async fn alert_panic(ctx: &Ctx) {
    let at = ctx.status.panicked().unwrap_or("an unknown place").to_string();
    let text = format!("a task panicked at {at}; the daemon stops so that it is restarted");
    ctx.alerts.send(Alert::new(AlertKind::Panicked, text));
    ctx.alerts.flush(PANIC_ALERT_FLUSH).await;
}

/// Moves the work to the shards this replica now holds: a term starts with the first, gained
/// shards have their functions queued, lost ones stop (their fence already withholds writes), and
/// the term stops (at once) with the last.
fn follow_shards(ctx: &Arc<Ctx>, term: &Mutex<Option<Term>>, running: &rollouts::Running, held: &BTreeSet<usize>) {
    let mut t = term.lock().unwrap();
    let (gained, lost) = ctx.shards.set(held);
    let leased = ctx.opts.lease.is_some();
    ctx.status.set_shards(if leased && ctx.shards.count() > 1 { held.iter().copied().collect() } else { vec![] });
    if held.is_empty() {
        if let Some(old) = t.take() {
            old.abort(ctx, running);
        }
        ctx.status.set_role("follower");
        return;
    }
    if leased && gained.contains(&0) {
        // The files' alerts are this replica's now: what followers only logged is sent once.
        for (file, errors) in ctx.store.read().unwrap().rejected() {
            alert_rejected(ctx, &file, &errors);
        }
    }
    match t.as_mut() {
        None => *t = Some(Term::start(ctx, running)),
        Some(current) => {
            gained.iter().for_each(|s| current.gain(ctx, *s));
            lost.iter().for_each(|s| current.lose(ctx, *s));
        }
    }
    ctx.status.set_role(if leased { "leader" } else { "single" });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pass_alternates_between_account_regions_and_keeps_each_ones_order() {
        let k = |role: Option<&str>, region: &str, name: &str| FunctionKey {
            role: role.map(str::to_string),
            region: region.into(),
            name: name.into(),
        };
        let r = Some("arn:aws:iam::222222222222:role/r");
        let keys = vec![k(None, "a", "1"), k(None, "a", "2"), k(None, "a", "3"), k(None, "b", "4"), k(r, "a", "5")];
        let names: Vec<String> = interleave(keys).into_iter().map(|k| k.name).collect();
        assert_eq!(names, ["1", "4", "5", "2", "3"]);
    }
}
