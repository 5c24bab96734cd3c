//! One spell as the writer: the work queue, its workers (and the urgent lane), the rollout alarm
//! poller and the events consumers, started when this replica becomes the writer and stopped
//! when it is not any more (the lease lost) or shuts down.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::decide::Next;
use super::queue::Queue;
use super::{events, rollouts, worker, Ctx};
use crate::metrics::AliasLabels;
use crate::types::FunctionKey;

/// The work of one term.
pub(super) struct Term {
    queue: Arc<Queue<FunctionKey>>,
    workers: Workers,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    /// The events consumers of each held shard (a queue belongs to its account-region's shard).
    consumers: HashMap<usize, Vec<tokio::task::JoinHandle<()>>>,
}

impl Term {
    /// Starts work with every function of the held shards queued (the reconciler reads the
    /// world: it does not care what an earlier writer did) and each removed manifest's deletion
    /// after its grace.
    pub(super) fn start(ctx: &Arc<Ctx>, running: &rollouts::Running) -> Term {
        crate::aws::snapshot::expire_all();
        // What an earlier term saw of its rollouts, another writer may have changed since.
        ctx.fast_rollbacks.clear();
        // The stopped-resync rule measures from here: a follower had nothing to reconcile.
        ctx.metrics.reconciled_now();
        let queue = Queue::new();
        let keys: Vec<FunctionKey> =
            ctx.store.read().unwrap().keys().into_iter().filter(|k| ctx.shards.owns(k)).collect();
        ctx.status.start_first_pass(keys.iter().cloned().collect());
        let workers = Workers::default();
        workers.scale(ctx, &queue);
        let tasks = vec![tokio::spawn(rollouts::poll_alarms(ctx.clone(), queue.clone(), ctx.opts.waits.alarm_poll))];
        *running.lock().unwrap() = Some((ctx.clone(), queue.clone()));
        let mut term = Term { queue, workers, tasks, consumers: HashMap::new() };
        for shard in 0..ctx.shards.count() {
            if ctx.shards.holds(shard) {
                term.gain(ctx, shard);
            }
        }
        term
    }

    /// Queues the functions of a shard this replica took, and starts its events consumers.
    pub(super) fn gain(&mut self, ctx: &Arc<Ctx>, shard: usize) {
        // What this replica read before, another writer may have changed since.
        crate::aws::snapshot::expire_all();
        ctx.metrics.reconciled_now();
        let n = ctx.shards.count();
        ctx.fast_rollbacks.retain(|k| k.shard(n) != shard);
        let keys: Vec<FunctionKey> =
            ctx.store.read().unwrap().keys().into_iter().filter(|k| k.shard(n) == shard).collect();
        for key in super::interleave(keys) {
            self.queue.add(key);
        }
        let grace = super::deletion_grace(ctx.opts.debounce);
        for (key, state) in ctx.keys.lock().unwrap().iter() {
            if state.tombstone.is_some() && key.shard(n) == shard {
                self.queue.add_after(key.clone(), grace);
            }
        }
        let urls = ctx.opts.events_queues.iter().filter(|u| queue_shard(ctx, u) == shard);
        let started =
            urls.map(|url| tokio::spawn(start_events(ctx.clone(), self.queue.clone(), url.clone()))).collect();
        self.consumers.insert(shard, started);
    }

    /// Stops the events consumers of a shard this replica lost (its queued functions are skipped
    /// when they come up; its fence already withholds their writes), and forgets the shard's
    /// status and rollout weights: its new holder shows them.
    pub(super) fn lose(&mut self, ctx: &Ctx, shard: usize) {
        for c in self.consumers.remove(&shard).unwrap_or_default() {
            c.abort();
        }
        let n = ctx.shards.count();
        for (key, gone) in ctx.status.remove_where(|k| k.shard(n) == shard) {
            for r in gone.rollouts {
                ctx.metrics.rollout_weight.remove(&AliasLabels::new(&key, &r.alias));
            }
        }
        ctx.rollout_alarms.lock().unwrap().retain(|k, _| k.shard(n) != shard);
        ctx.fast_rollbacks.retain(|k| k.shard(n) != shard);
        super::judge::forget(ctx, |k| k.shard(n) != shard);
    }

    pub(super) fn queue(&self) -> &Arc<Queue<FunctionKey>> {
        &self.queue
    }

    /// Starts workers for account-regions a reload brought.
    pub(super) fn scale(&self, ctx: &Arc<Ctx>) {
        self.workers.scale(ctx, &self.queue);
    }

    /// Stops at once: the lease is gone and the fence already withholds every write, so
    /// in-flight reconciles are dropped where they stand; the new writer reads the world again.
    pub(super) fn abort(self, ctx: &Ctx, running: &rollouts::Running) {
        *running.lock().unwrap() = None;
        // Operator requests waiting for a reconcile here are answered (dropped), not kept for
        // a later term; this replica's status is no longer the world's.
        ctx.requests.lock().unwrap().clear();
        ctx.fast_rollbacks.clear();
        ctx.status.clear();
        ctx.metrics.rollout_weight.clear();
        self.queue.close();
        let consumers = self.consumers.into_values().flatten();
        for t in self.workers.take().into_iter().chain(self.tasks).chain(consumers) {
            t.abort();
        }
    }

    /// Stops taking work and lets in-flight reconciles finish, for at most `timeout`; false when
    /// they did not.
    pub(super) async fn drain(self, ctx: &Ctx, running: &rollouts::Running, timeout: Duration) -> bool {
        *running.lock().unwrap() = None;
        ctx.requests.lock().unwrap().clear();
        tracing::info!(in_flight = self.queue.running(), "shutting down: finishing in-flight reconciles");
        self.queue.close();
        self.tasks.iter().chain(self.consumers.values().flatten()).for_each(|t| t.abort());
        let workers = self.workers.take();
        let aborts: Vec<_> = workers.iter().map(|w| w.abort_handle()).collect();
        let drained = tokio::time::timeout(timeout, futures::future::join_all(workers)).await.is_ok();
        // Cut off, not left running behind a released lease.
        aborts.iter().for_each(|a| a.abort());
        drained
    }
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
        if !ctx.shards.owns(&key) {
            // Its shard went to another replica while the key waited.
            queue.take_urgent(&key);
            queue.done(&key);
            continue;
        }
        let edited = queue.take_urgent(&key);
        let gate = ctx.aws.clients(key.role.as_deref(), &key.region).caller.gate;
        // A rollout's move is urgent until its alias write (a step's, a roll-back's); a manifest
        // change until its first write.
        // Boxed once: the reconcile is a large future, kept off the worker's stack.
        let run = Box::pin(worker::run(&ctx, &key));
        let next = if ctx.rolling.contains(&key) {
            gate.rush(crate::aws::priority::Until::Wrote(crate::aws::priority::ALIAS_WRITE), run).await
        } else if edited {
            gate.urgent(run).await
        } else {
            run.await
        };
        queue.done(&key);
        rollouts::take_kicks(&ctx, &queue);
        match next {
            Next::Resync => queue.add_after(key, jittered(ctx.opts.resync)),
            // A rollout's next move goes first when due (not behind a resync pass's keys).
            Next::After(d) if ctx.rolling.contains(&key) => queue.add_after_first(key, d),
            Next::After(d) => queue.add_after(key, d),
            Next::Forget => {}
        }
        ctx.metrics.queue_depth.set(queue.depth() as i64);
    }
}

/// Learns who the controller is (to recognise its own events and its own account), then reads
/// the events queue at `url`: with the credentials of the role the manifests name for the queue's
/// account (`https://sqs.REGION.amazonaws.com/ACCOUNT/NAME`), else its own; again with the new
/// role when a reload changes it.
async fn start_events(ctx: Arc<Ctx>, queue: Arc<Queue<FunctionKey>>, url: String) {
    let account = crate::aws::queue_account(&url).to_string();
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

/// The shard of the events queue at `url`: its account (of the manifests' role for it, else the
/// controller's own) and region, as the functions it reports on.
fn queue_shard(ctx: &Ctx, url: &str) -> usize {
    let account = crate::aws::queue_account(url);
    let roles = ctx.store.read().unwrap().roles();
    let role = roles.iter().find(|r| r.split(':').nth(4) == Some(account));
    let region = crate::aws::queue_region(url).or_else(|| ctx.aws.default_region()).unwrap_or_default();
    crate::types::shard_of(role.and_then(|r| r.split(':').nth(4)), &region, ctx.shards.count())
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
