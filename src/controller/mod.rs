//! The daemon: watch + resync feed a keyed work queue; workers reconcile one function at a time;
//! shutdown drains in-flight work. Only keys move through here; nothing Lambda-specific.

pub mod decide;
pub mod events;
pub mod queue;
pub mod rollouts;
pub mod store;
#[cfg(test)]
mod store_tests;
pub mod watch;
pub mod worker;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use crate::admin::{self, AdminState};
use crate::alerts::http::HttpClient;
use crate::alerts::sinks::Sink;
use crate::alerts::{Alert, AlertKind, Alerts};
use crate::apply::Waits;
use crate::aws::{Aws, AwsOptions};
use crate::metrics::Metrics;
use crate::status::StatusStore;
use crate::types::{DeletionPolicy, FunctionKey};
use decide::Next;
use queue::Queue;
use store::{Reload, Store};

/// `lambda-reconciler run` options.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub dir: PathBuf,
    pub resync: Duration,
    pub listen: SocketAddr,
    pub webhook: Option<String>,
    /// Signs each webhook alert (HMAC-SHA256); never printed.
    pub webhook_secret: Option<String>,
    pub sns_topic: Option<String>,
    pub dry_run: bool,
    pub max_concurrent: usize,
    pub debounce: Duration,
    pub shutdown_timeout: Duration,
    pub waits: Waits,
    /// SQS queues that CloudTrail events reach through EventBridge (`--events-queue-url`).
    pub events_queues: Vec<String>,
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
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("listening on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
    #[error("watching {dir}: {source}")]
    Watch { dir: PathBuf, source: notify::Error },
    #[error("alert webhook client: {0}")]
    Webhook(crate::alerts::http::HttpError),
}

/// A resync delay with ±10 % jitter, so functions spread over the interval.
fn jittered(d: Duration) -> Duration {
    d.mul_f64(0.9 + fastrand::f64() * 0.2)
}

/// The worker tasks: `--max-concurrent-reconciles` per account-region, so a worker waiting at one
/// account-region's rate limiter does not leave the others idle; more are started when a reload
/// brings a new account-region. Plus one urgent lane, which takes only manifest changes: an edit
/// under a running resync starts at once instead of waiting for a busy worker.
#[derive(Clone, Default)]
struct Workers(Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>);

impl Workers {
    fn scale(&self, ctx: &Arc<Ctx>, queue: &Arc<Queue<FunctionKey>>) {
        let scopes = ctx.store.read().unwrap().interest().len().max(1);
        let mut tasks = self.0.lock().unwrap();
        if tasks.is_empty() {
            tasks.push(tokio::spawn(worker(ctx.clone(), queue.clone(), Lane::Urgent)));
        }
        while tasks.len() < 1 + ctx.opts.max_concurrent.max(1) * scopes {
            tasks.push(tokio::spawn(worker(ctx.clone(), queue.clone(), Lane::Any)));
        }
    }

    fn take(&self) -> Vec<tokio::task::JoinHandle<()>> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
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
/// Changed keys are `urgent` (ahead of resyncs) except on the first load.
fn handle(ctx: &Ctx, queue: &Arc<Queue<FunctionKey>>, r: Reload, urgent: bool) {
    if let Some(reason) = r.unavailable {
        let repeat = ctx.unavailable.lock().unwrap().replace(reason.clone()).as_deref() == Some(&reason);
        if !repeat {
            ctx.alerts.send(Alert::new(
                AlertKind::ManifestsUnavailable,
                format!("manifests unavailable, nothing changed: {reason}"),
            ));
        }
        return;
    }
    *ctx.unavailable.lock().unwrap() = None;
    for ((role, region), interest) in ctx.store.read().unwrap().interest() {
        ctx.aws.set_interest(role.as_deref(), &region, interest);
    }
    for (file, errors) in r.rejected {
        for e in &errors {
            tracing::warn!(file = %e.file.display(), line = e.line, column = e.column, field = %e.field, message = %e.message, "manifest rejected");
        }
        let first = errors.first().map(|e| e.to_string()).unwrap_or_default();
        let mut a = Alert::new(
            AlertKind::ManifestRejected,
            format!(
                "{} rejected ({} error(s)); its last good version stays in force: {first}",
                file.display(),
                errors.len()
            ),
        );
        a.message = Some(errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"));
        ctx.alerts.send(a);
    }
    for (key, m) in r.removed {
        if m.doc.spec.deletion_policy == DeletionPolicy::Delete {
            // Deleting waits out a grace period: a manifest that comes back (a non-atomic checkout)
            // cancels it.
            let grace = deletion_grace(ctx.opts.debounce);
            tracing::info!(manifest = %m.name, function = %key, grace_ms = grace.as_millis() as u64, "manifest removed; deleting the configuration it owned after the grace period");
            ctx.keys.lock().unwrap().entry(key.clone()).or_default().tombstone = Some(m);
            queue.add_after(key, grace);
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
        if urgent {
            queue.add_first(key);
        } else {
            queue.add(key);
        }
    }
}

/// How long a removed manifest with `deletionPolicy: delete` must stay removed.
fn deletion_grace(debounce: Duration) -> Duration {
    (debounce * 10).max(Duration::from_secs(3))
}

/// Which keys a worker takes.
#[derive(Clone, Copy)]
enum Lane {
    Any,
    /// Only keys added first (manifest changes).
    Urgent,
}

async fn worker(ctx: Arc<Ctx>, queue: Arc<Queue<FunctionKey>>, lane: Lane) {
    loop {
        let key = match lane {
            Lane::Any => queue.next().await,
            Lane::Urgent => queue.next_urgent().await,
        };
        let Some(key) = key else { return };
        ctx.metrics.queue_depth.set(queue.depth() as i64);
        let next = if queue.take_urgent(&key) {
            let gate = ctx.aws.clients(key.role.as_deref(), &key.region).caller.gate;
            gate.urgent(worker::run(&ctx, &key)).await
        } else {
            worker::run(&ctx, &key).await
        };
        queue.done(&key);
        match next {
            Next::Resync => queue.add_after(key, jittered(ctx.opts.resync)),
            Next::After(d) => queue.add_after(key, d),
            Next::Forget => {}
        }
        ctx.metrics.queue_depth.set(queue.depth() as i64);
    }
}

fn sinks(aws: &Aws, opts: &RunOptions) -> Result<Vec<Sink>, RunError> {
    let mut out = Vec::new();
    if let Some(url) = &opts.webhook {
        let client = Box::new(HttpClient::new().map_err(RunError::Webhook)?);
        let secret = opts.webhook_secret.as_deref().map(crate::alerts::sinks::SigningKey::new);
        out.push(Sink::Webhook { client, url: url.clone(), secret });
    }
    if let Some(topic) = &opts.sns_topic {
        out.push(Sink::Sns { client: aws.sns(topic), topic_arn: topic.clone() });
    }
    Ok(out)
}

/// Learns who the controller is (to recognise its own events and its own account), then reads
/// the events queue at `url`: with the credentials of the role the manifests name for the queue's
/// account (`https://sqs.REGION.amazonaws.com/ACCOUNT/NAME`), else its own; again with the new
/// role when a reload changes it.
async fn start_events(ctx: Arc<Ctx>, queue: Arc<Queue<FunctionKey>>, url: String) {
    let account = url.split("://").nth(1).unwrap_or(&url).split('/').nth(1).unwrap_or_default().to_string();
    let id = identity(&ctx).await;
    let own = events::Own { account: id.account, arn: id.arn };
    let role_now = || {
        let roles = ctx.store.read().unwrap().roles();
        roles.into_iter().find(|r| r.split(':').nth(4) == Some(account.as_str()))
    };
    loop {
        let role = role_now();
        tracing::info!(queue = %url, role = role.as_deref().unwrap_or("own credentials"), identity = %own.arn, session = crate::aws::session_name(), "reading CloudTrail events; events of this identity, or of this session of a manifest's role, are the controller's own");
        let source = ctx.aws.events_queue(&url, role.as_deref());
        events::consume(ctx.clone(), queue.clone(), source, &own, role, role_now).await;
    }
}

/// The identity of the controller's own credentials, retried until known.
async fn identity(ctx: &Ctx) -> crate::aws::sts::Identity {
    let mut attempt = 0;
    loop {
        match ctx.aws.identity().await {
            Ok(id) => return id,
            Err(e) => {
                attempt += 1;
                let wait = ctx.aws.caller.retry.backoff(attempt.min(8)).max(Duration::from_secs(1));
                tracing::warn!(error = %e, wait_ms = wait.as_millis() as u64, "reading the controller's identity (sts:GetCallerIdentity) failed; events wait for it");
                tokio::time::sleep(wait).await;
            }
        }
    }
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

/// Runs the controller until SIGTERM/SIGINT; in-flight reconciles finish (bounded).
pub async fn run(opts: RunOptions, aws_opts: &AwsOptions) -> Result<(), RunError> {
    let metrics = Arc::new(Metrics::default());
    let aws = Arc::new(Aws::connect(aws_opts).await);
    let m = metrics.clone();
    aws.caller.stats.set_hook(Box::new(move |op, outcome| m.aws_call(op, outcome)));
    // The daemon's urgency choices: a changed manifest's reconcile is urgent (see `worker`
    // below), and so is a region snapshot refresh, which every reconcile, an edit's included,
    // waits on: were it held back behind urgent work, it would hold that work back (inversion).
    aws.caller.run_shared_work_urgently(true);
    let alerts = Alerts::start(metrics.clone(), sinks(&aws, &opts)?);
    let status = Arc::new(StatusStore::default());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut admin_stop = stop_rx.clone();
    let running: rollouts::Running = Arc::default();
    let operator = Some(rollouts::operator_hook(running.clone()));
    let admin_state = AdminState { status: status.clone(), metrics: metrics.clone(), operator };
    let (bound, admin_task) = admin::serve(opts.listen, admin_state, async move {
        let _ = admin_stop.wait_for(|s| *s).await;
    })
    .await
    .map_err(|source| RunError::Listen { addr: opts.listen, source })?;
    tracing::info!(listen = %bound, manifests = %opts.dir.display(), dry_run = opts.dry_run, "lambda-reconciler running");

    let mut reloads =
        watch::watch(&opts.dir, opts.debounce).map_err(|source| RunError::Watch { dir: opts.dir.clone(), source })?;
    let ctx = Arc::new(Ctx {
        store: RwLock::new(Store::new(&opts.dir, aws.default_region())),
        aws,
        keys: Mutex::default(),
        status: status.clone(),
        alerts,
        metrics,
        opts: opts.clone(),
        unavailable: Mutex::default(),
        requests: Mutex::default(),
        rollout_alarms: Mutex::default(),
    });
    let queue: Arc<Queue<FunctionKey>> = Queue::new();
    let _ = running.set((ctx.clone(), queue.clone()));
    let first = ctx.store.write().unwrap().reload();
    if first.changed.is_empty() && first.rejected.is_empty() && first.unavailable.is_none() {
        let text = format!("no manifest found under {}; nothing is managed until one appears", opts.dir.display());
        ctx.alerts.send(Alert::new(AlertKind::ManifestsUnavailable, text));
    }
    status.start_first_pass(first.changed.iter().cloned().collect());
    handle(&ctx, &queue, first, false);

    let workers = Workers::default();
    workers.scale(&ctx, &queue);
    let alarm_poller = tokio::spawn(rollouts::poll_alarms(ctx.clone(), queue.clone(), opts.waits.alarm_poll));
    let consumers: Vec<_> = opts
        .events_queues
        .iter()
        .map(|url| tokio::spawn(start_events(ctx.clone(), queue.clone(), url.clone())))
        .collect();
    let (wctx, wqueue, wworkers) = (ctx.clone(), queue.clone(), workers.clone());
    let watcher = tokio::spawn(async move {
        while let Some(change) = reloads.next().await {
            wctx.metrics.reloads.inc();
            let r = match change {
                watch::Change::Paths(paths) => wctx.store.write().unwrap().reload_paths(&paths),
                watch::Change::Full => wctx.store.write().unwrap().reload(),
            };
            handle(&wctx, &wqueue, r, true);
            wworkers.scale(&wctx, &wqueue);
        }
    });

    shutdown_signal().await;
    tracing::info!(in_flight = queue.running(), "shutting down: finishing in-flight reconciles");
    queue.close();
    watcher.abort();
    alarm_poller.abort();
    consumers.iter().for_each(|c| c.abort());
    let drained = tokio::time::timeout(opts.shutdown_timeout, futures::future::join_all(workers.take())).await;
    if drained.is_err() {
        tracing::warn!(timeout_s = opts.shutdown_timeout.as_secs(), "in-flight reconciles did not finish in time");
    }
    let _ = stop_tx.send(true);
    let _ = admin_task.await;
    tracing::info!("stopped");
    Ok(())
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
