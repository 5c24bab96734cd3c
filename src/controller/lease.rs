//! Leader election among replicas over a DynamoDB lease, after the AWS DynamoDB Lock Client's
//! protocol: one replica holds the lease and writes; the others read it and take over when it is
//! released, or when its version has not changed for the lease's duration as they measure it
//! (no clock is compared across machines). The holder's fence closes a heartbeat before the lease
//! could expire, so a replica that cannot renew, or was paused, stops writing before anyone else
//! can start.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::balance::Balance;
use crate::aws::fence::{Fence, Fences};
use crate::aws::lease::{Cas, LeaseRecord, LeaseTable};
use crate::metrics::Metrics;

/// `--lease-table` and its timings.
#[derive(Debug, Clone)]
pub struct LeaseOptions {
    pub table: String,
    /// The item's key: replicas of one installation share it; another installation on the same
    /// table uses another name.
    pub name: String,
    /// How long a lease stays valid without renewal (followers wait this long).
    pub duration: Duration,
    /// How often the holder renews.
    pub heartbeat: Duration,
    /// How often a follower reads the lease (a released lease is taken within this).
    pub poll: Duration,
    /// Leases the account-regions are split across (`--shards`): one writer per shard.
    pub shards: usize,
}

impl LeaseOptions {
    /// The timings must leave the holder a heartbeat of margin: it renews every `heartbeat` and
    /// may write until `duration - heartbeat` after the last renewal it sent.
    pub fn check(&self) -> Result<(), String> {
        if self.heartbeat.is_zero() || self.poll.is_zero() {
            return Err("--lease-heartbeat and --lease-poll must be above zero".into());
        }
        if !(1..=64).contains(&self.shards) {
            return Err(format!("--shards must be between 1 and 64, not {}", self.shards));
        }
        if self.heartbeat * 2 > self.duration {
            return Err(format!(
                "--lease-duration ({:?}) must be at least twice --lease-heartbeat ({:?})",
                self.duration, self.heartbeat
            ));
        }
        Ok(())
    }

    /// The item key of shard `shard`'s lease: the name itself with one shard.
    pub fn key(&self, shard: usize) -> String {
        if self.shards <= 1 {
            self.name.clone()
        } else {
            format!("{}/shard-{shard}", self.name)
        }
    }
}

/// The shards this replica holds, published to the controller (which runs their work).
pub type Held = Arc<watch::Sender<BTreeSet<usize>>>;

/// A lease version a follower saw, and when it first saw it.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    rvn: String,
    since: Instant,
}

#[derive(Debug, PartialEq)]
enum Try {
    Create,
    TakeOver(String),
    Wait,
}

/// A follower's move after reading the lease (pure): create it when there is none, take over a
/// version seen unchanged for the lease's duration, or one that is this replica's own (a renewal
/// whose answer was lost); else wait.
fn follow(read: Option<&LeaseRecord>, seen: &mut Option<Seen>, me: &str, now: Instant) -> Try {
    let Some(r) = read else {
        *seen = None;
        return Try::Create;
    };
    if r.owner == me {
        return Try::TakeOver(r.rvn.clone());
    }
    match seen {
        Some(s) if s.rvn == r.rvn => {
            if now.duration_since(s.since) >= r.duration {
                Try::TakeOver(r.rvn.clone())
            } else {
                Try::Wait
            }
        }
        _ => {
            *seen = Some(Seen { rvn: r.rvn.clone(), since: now });
            Try::Wait
        }
    }
}

/// Until when the holder may write after a renewal it sent at `sent`: a heartbeat before any
/// follower could take over (which needs the version unchanged for `duration` after it was
/// written, and it was written after `sent`).
fn writes_until(sent: Instant, o: &LeaseOptions) -> Instant {
    sent + o.duration - o.heartbeat
}

/// How many unanswered renewals are remembered (the earliest ones): renewals are sent a poll apart
/// and only while the fence is open, so this many is reached only with a poll far below the
/// lease duration.
const UNANSWERED_MAX: usize = 64;

/// The renewals sent since the last answered one: the version each asked to write, and when it
/// was sent. A renewal whose answer was lost (a timeout, a 5xx after the write) may have been
/// written all the same; a later call that finds this replica's record learns which one by its
/// version, since versions are random and made here.
#[derive(Debug, Default)]
struct Unanswered(Vec<(String, Instant)>);

impl Unanswered {
    fn sent(&mut self, rvn: &str, at: Instant) {
        if self.0.len() < UNANSWERED_MAX {
            self.0.push((rvn.to_string(), at));
        }
    }

    fn clear(&mut self) {
        self.0.clear();
    }

    /// When the renewal that wrote `rvn` was sent: the version was written after that, so no
    /// follower can have started timing it earlier. A version not remembered (past the bound)
    /// was sent after every remembered one: the earliest stands in for it. `None`: no renewal
    /// is unanswered.
    fn sent_at(&self, rvn: &str) -> Option<Instant> {
        let exact = self.0.iter().find(|(v, _)| v == rvn);
        exact.or(self.0.first()).map(|(_, at)| *at)
    }
}

/// The elector of one shard's lease: what it holds is published in the shared [`Held`] set, its
/// fence gates the shard's writes.
pub struct Elector {
    table: LeaseTable,
    opts: LeaseOptions,
    shard: usize,
    key: String,
    owner: String,
    fence: Fence,
    held_set: Held,
    balance: Arc<Balance>,
    metrics: Arc<Metrics>,
    /// The version this replica wrote last while holding the lease.
    held: Mutex<Option<String>>,
    /// Set by the balancer: give this shard up at the next turn (this replica holds more than
    /// its share).
    give_up: AtomicBool,
}

/// What the electors of one replica share.
pub struct Shared {
    pub table: LeaseTable,
    pub opts: LeaseOptions,
    pub owner: String,
    pub held: Held,
    pub balance: Arc<Balance>,
    pub metrics: Arc<Metrics>,
}

/// This process's name in the lease items: the host (the pod's name) and a random suffix.
pub fn owner_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "lambda-reconciler".into());
    format!("{host}-{:08x}", fastrand::u32(..))
}

impl Elector {
    pub fn new(shared: &Shared, shard: usize, fence: Fence) -> Arc<Self> {
        Arc::new(Elector {
            table: shared.table.clone(),
            opts: shared.opts.clone(),
            shard,
            key: shared.opts.key(shard),
            owner: shared.owner.clone(),
            fence,
            held_set: shared.held.clone(),
            balance: shared.balance.clone(),
            metrics: shared.metrics.clone(),
            held: Mutex::default(),
            give_up: AtomicBool::new(false),
        })
    }

    pub fn shard(&self) -> usize {
        self.shard
    }

    pub fn holds(&self) -> bool {
        self.held.lock().unwrap().is_some()
    }

    /// Asks the elector to release its lease at its next turn.
    pub fn give_up(&self) {
        self.give_up.store(true, Ordering::SeqCst);
    }

    fn record(&self) -> LeaseRecord {
        let rvn = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
        LeaseRecord { owner: self.owner.clone(), rvn, duration: self.opts.duration }
    }

    /// Follows and holds the lease until `stop` turns true; a call in flight is never cut off
    /// (so the version this replica holds is always known, for the release).
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut seen = None;
        let mut unanswered = Unanswered::default();
        while !*stop.borrow() {
            let held = self.held.lock().unwrap().clone();
            let wait = match held {
                Some(_) if self.give_up.swap(false, Ordering::SeqCst) => {
                    self.release().await;
                    self.opts.poll
                }
                None => {
                    unanswered.clear();
                    self.follow_once(&mut seen).await
                }
                Some(rvn) => self.renew_once(&rvn, &mut unanswered).await,
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// One follower read, and an attempt to acquire when `follow` says so and the balance allows.
    async fn follow_once(&self, seen: &mut Option<Seen>) -> Duration {
        self.give_up.store(false, Ordering::SeqCst);
        let read = match self.table.read(&self.key).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(table = %self.opts.table, lease = %self.key, error = %e, "reading the lease failed");
                return self.opts.poll;
            }
        };
        let attempt = follow(read.as_ref(), seen, &self.owner, Instant::now());
        let own = read.as_ref().is_some_and(|r| r.owner == self.owner);
        if attempt != Try::Wait && !own && !self.balance.may_take(self.held_set.borrow().len()) {
            return self.opts.poll;
        }
        let new = self.record();
        let sent = Instant::now();
        let result = match &attempt {
            Try::Wait => return self.opts.poll,
            Try::Create => self.table.create(&self.key, &new).await,
            Try::TakeOver(old) => self.table.replace(&self.key, old, &new).await,
        };
        match result {
            Ok(Cas::Done) => {
                self.fence.hold_until(writes_until(sent, &self.opts));
                *self.held.lock().unwrap() = Some(new.rvn);
                let from = read.map(|r| r.owner).unwrap_or_default();
                tracing::info!(lease = %self.key, shard = self.shard, owner = %self.owner, previous = %from, "lease acquired: this replica is the writer");
                self.publish("acquired", true);
                self.opts.heartbeat
            }
            Ok(Cas::Lost) => {
                *seen = None;
                self.opts.poll
            }
            Err(e) => {
                tracing::warn!(table = %self.opts.table, lease = %self.key, error = %e, "acquiring the lease failed");
                self.opts.poll
            }
        }
    }

    /// One renewal; steps down when the lease was taken, or could not be renewed in time.
    async fn renew_once(&self, rvn: &str, unanswered: &mut Unanswered) -> Duration {
        let new = self.record();
        let sent = Instant::now();
        unanswered.sent(&new.rvn, sent);
        match self.table.replace(&self.key, rvn, &new).await {
            Ok(Cas::Done) => {
                unanswered.clear();
                self.fence.hold_until(writes_until(sent, &self.opts));
                *self.held.lock().unwrap() = Some(new.rvn);
                self.opts.heartbeat
            }
            Ok(Cas::Lost) => {
                self.adopt_or_step_down(unanswered).await;
                self.opts.poll
            }
            Err(e) => {
                tracing::warn!(table = %self.opts.table, lease = %self.key, error = %e, "renewing the lease failed; retrying");
                if !self.fence.may_write() {
                    self.step_down("expired", "lease not renewed in time: this replica stopped writing and follows");
                }
                self.opts.poll
            }
        }
    }

    /// After a refused renewal: a renewal whose answer was lost leaves this replica's own record
    /// with a version it does not know yet. It keeps the lease at that version (nobody else wrote
    /// since), fenced from when the renewal that wrote it was sent, not from now: a follower has
    /// been timing that version since it was written. Any other record: the lease was taken.
    /// The unanswered renewals were all conditioned on the version now replaced: none can be
    /// written any more.
    async fn adopt_or_step_down(&self, unanswered: &mut Unanswered) {
        let found = match self.table.read(&self.key).await {
            Ok(Some(r)) if r.owner == self.owner => unanswered.sent_at(&r.rvn).map(|at| (r.rvn, at)),
            _ => None,
        };
        unanswered.clear();
        let Some((rvn, sent)) = found else {
            return self.step_down("lost", "lease taken by another replica: this replica follows");
        };
        let until = writes_until(sent, &self.opts);
        self.fence.hold_until(until);
        let writes_for_ms = until.saturating_duration_since(Instant::now()).as_millis() as u64;
        tracing::info!(lease = %self.key, shard = self.shard, owner = %self.owner, writes_for_ms, "a renewal whose answer was lost was written: this replica keeps the lease, fenced from when that renewal was sent");
        *self.held.lock().unwrap() = Some(rvn);
    }

    fn step_down(&self, why: &str, message: &'static str) {
        self.fence.close();
        *self.held.lock().unwrap() = None;
        tracing::warn!(lease = %self.key, shard = self.shard, owner = %self.owner, reason = why, message);
        self.publish(why, false);
    }

    /// Records the change in the shared set and the metrics.
    fn publish(&self, why: &str, holds: bool) {
        self.held_set.send_modify(|set| {
            if holds {
                set.insert(self.shard);
            } else {
                set.remove(&self.shard);
            }
        });
        let n = self.held_set.borrow().len() as i64;
        self.metrics.lease(why);
        self.metrics.shards_held.set(n);
        self.metrics.leader.set(i64::from(n > 0));
    }

    /// Gives the lease up (shutdown after in-flight work drained, or the balancer): the next
    /// replica takes it at its next read instead of waiting out the duration.
    pub async fn release(&self) {
        self.fence.close();
        let Some(rvn) = self.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() else { return };
        self.publish("released", false);
        let mut result = self.table.release(&self.key, &self.owner, &rvn).await;
        if matches!(result, Ok(Cas::Lost)) {
            // A renewal whose answer was lost may have written our record under a version not
            // known here: still ours (the fence is closed), so it is released at that version.
            if let Ok(Some(r)) = self.table.read(&self.key).await.map(|r| r.filter(|r| r.owner == self.owner)) {
                result = self.table.release(&self.key, &self.owner, &r.rvn).await;
            }
        }
        match result {
            Ok(Cas::Done) => {
                tracing::info!(lease = %self.key, shard = self.shard, owner = %self.owner, "lease released")
            }
            Ok(Cas::Lost) => tracing::info!(lease = %self.key, "lease already taken by another replica"),
            Err(e) => {
                tracing::warn!(lease = %self.key, error = %e, "releasing the lease failed; another replica takes it when it expires")
            }
        }
    }
}

/// Every shard's elector and, with more than one shard, the balancer, running.
pub struct Replicas {
    electors: Vec<Arc<Elector>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    stop: watch::Sender<bool>,
    pub owner: String,
}

impl Replicas {
    pub fn start(table: LeaseTable, opts: &LeaseOptions, fences: &Fences, held: Held, metrics: Arc<Metrics>) -> Self {
        let owner = owner_name();
        let balance = Balance::new(opts.shards);
        let shared = Shared {
            table: table.clone(),
            opts: opts.clone(),
            owner: owner.clone(),
            held,
            balance: balance.clone(),
            metrics,
        };
        let electors: Vec<Arc<Elector>> =
            (0..opts.shards).map(|i| Elector::new(&shared, i, fences.get(i).clone())).collect();
        let (stop, stopped) = watch::channel(false);
        let mut tasks: Vec<_> = electors.iter().map(|e| tokio::spawn(e.clone().run(stopped.clone()))).collect();
        if opts.shards > 1 {
            let b = super::balance::run(table, opts.clone(), owner.clone(), electors.clone(), balance, stopped);
            tasks.push(tokio::spawn(b));
        }
        Replicas { electors, tasks, stop, owner }
    }

    /// Stops every elector between two calls, then releases the leases this replica holds.
    pub async fn release(self) {
        let _ = self.stop.send(true);
        futures::future::join_all(self.tasks).await;
        futures::future::join_all(self.electors.iter().map(|e| e.release())).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(owner: &str, rvn: &str) -> LeaseRecord {
        LeaseRecord { owner: owner.into(), rvn: rvn.into(), duration: Duration::from_secs(20) }
    }

    #[test]
    fn a_follower_creates_a_missing_lease_at_once() {
        let mut seen = None;
        assert_eq!(follow(None, &mut seen, "me", Instant::now()), Try::Create);
    }

    #[test]
    fn a_follower_takes_over_only_a_version_it_saw_unchanged_for_the_whole_duration() {
        let t0 = Instant::now();
        let mut seen = None;
        let s = |secs| t0 + Duration::from_secs(secs);
        assert_eq!(follow(Some(&rec("a", "v1")), &mut seen, "me", s(0)), Try::Wait);
        assert_eq!(follow(Some(&rec("a", "v1")), &mut seen, "me", s(19)), Try::Wait);
        assert_eq!(follow(Some(&rec("a", "v2")), &mut seen, "me", s(19)), Try::Wait, "renewed: the wait restarts");
        assert_eq!(follow(Some(&rec("a", "v2")), &mut seen, "me", s(38)), Try::Wait);
        assert_eq!(follow(Some(&rec("a", "v2")), &mut seen, "me", s(39)), Try::TakeOver("v2".into()));
    }

    #[test]
    fn a_follower_takes_back_its_own_lease_without_waiting() {
        let mut seen = None;
        assert_eq!(follow(Some(&rec("me", "v7")), &mut seen, "me", Instant::now()), Try::TakeOver("v7".into()));
    }

    fn opts() -> LeaseOptions {
        LeaseOptions {
            table: "t".into(),
            name: "n".into(),
            duration: Duration::from_secs(20),
            heartbeat: Duration::from_secs(5),
            poll: Duration::from_secs(1),
            shards: 1,
        }
    }

    #[test]
    fn a_renewal_found_written_after_its_answer_was_lost_fences_from_when_it_was_sent() {
        let (o, t0) = (opts(), Instant::now());
        let s = |secs| t0 + Duration::from_secs(secs);
        let mut u = Unanswered::default();
        // Renewals at 5 s (written, answer lost), 9 s and 13 s (answers lost); the one sent at
        // 13 s is refused and the read finds v5: a follower has timed v5 since 5 s at the
        // earliest, so it may take over at 25 s; the holder stops at 20 s, not at 28 s.
        for (v, at) in [("v5", 5), ("v9", 9), ("v13", 13)] {
            u.sent(v, s(at));
        }
        let until = writes_until(u.sent_at("v5").unwrap(), &o);
        assert_eq!(until, s(20));
        assert!(until + o.heartbeat <= s(5) + o.duration, "a heartbeat before the follower's earliest takeover");
        assert_eq!(u.sent_at("v13"), Some(s(13)), "the refused call's own retry was written: exact too");
        u.clear();
        assert_eq!(u.sent_at("v5"), None, "answered: nothing unanswered left");
    }

    #[test]
    fn past_the_bound_an_unknown_version_is_fenced_from_the_earliest_unanswered_renewal() {
        let t0 = Instant::now();
        let mut u = Unanswered::default();
        for i in 0..UNANSWERED_MAX as u64 + 10 {
            u.sent(&format!("v{i}"), t0 + Duration::from_secs(i + 1));
        }
        assert_eq!(u.0.len(), UNANSWERED_MAX, "bounded");
        assert_eq!(u.sent_at(&format!("v{}", UNANSWERED_MAX + 5)), Some(t0 + Duration::from_secs(1)));
        assert_eq!(u.sent_at("v3"), Some(t0 + Duration::from_secs(4)));
    }

    #[test]
    fn the_holder_stops_writing_a_heartbeat_before_a_follower_could_take_over() {
        let o = opts();
        let sent = Instant::now();
        assert_eq!(writes_until(sent, &o), sent + Duration::from_secs(15));
        assert!(o.check().is_ok());
        let tight = LeaseOptions { heartbeat: Duration::from_secs(11), ..o };
        assert!(tight.check().unwrap_err().contains("twice"));
    }
}
