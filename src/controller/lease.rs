//! Leader election among replicas over a DynamoDB lease, after the AWS DynamoDB Lock Client's
//! protocol: one replica holds the lease and writes; the others read it and take over when it is
//! released, or when its version has not changed for the lease's duration as they measure it
//! (no clock is compared across machines). The holder's fence closes a heartbeat before the lease
//! could expire, so a replica that cannot renew, or was paused, stops writing before anyone else
//! can start.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::aws::fence::Fence;
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
}

impl LeaseOptions {
    /// The timings must leave the holder a heartbeat of margin: it renews every `heartbeat` and
    /// may write until `duration - heartbeat` after the last renewal it sent.
    pub fn check(&self) -> Result<(), String> {
        if self.heartbeat.is_zero() || self.poll.is_zero() {
            return Err("--lease-heartbeat and --lease-poll must be above zero".into());
        }
        if self.heartbeat * 2 > self.duration {
            return Err(format!(
                "--lease-duration ({:?}) must be at least twice --lease-heartbeat ({:?})",
                self.duration, self.heartbeat
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Leader,
    Follower,
}

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

/// The elector of one lease: its role is published on a watch channel, its fence gates writes.
pub struct Elector {
    table: LeaseTable,
    opts: LeaseOptions,
    owner: String,
    fence: Fence,
    role: watch::Sender<Role>,
    metrics: Arc<Metrics>,
    /// The version this replica wrote last while holding the lease.
    held: Mutex<Option<String>>,
}

impl Elector {
    pub fn new(table: LeaseTable, opts: LeaseOptions, fence: Fence, metrics: Arc<Metrics>) -> Arc<Self> {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "lambda-reconciler".into());
        let owner = format!("{host}-{:08x}", fastrand::u32(..));
        let (role, _) = watch::channel(Role::Follower);
        metrics.leader.set(0);
        Arc::new(Elector { table, opts, owner, fence, role, metrics, held: Mutex::default() })
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    pub fn roles(&self) -> watch::Receiver<Role> {
        self.role.subscribe()
    }

    fn record(&self) -> LeaseRecord {
        let rvn = format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
        LeaseRecord { owner: self.owner.clone(), rvn, duration: self.opts.duration }
    }

    /// Follows and holds the lease until `stop` turns true; a call in flight is never cut off
    /// (so the version this replica holds is always known, for the release).
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut seen = None;
        while !*stop.borrow() {
            let held = self.held.lock().unwrap().clone();
            let wait = match held {
                None => self.follow_once(&mut seen).await,
                Some(rvn) => self.renew_once(&rvn).await,
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// One follower read, and an attempt to acquire when `follow` says so.
    async fn follow_once(&self, seen: &mut Option<Seen>) -> Duration {
        let read = match self.table.read(&self.opts.name).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(table = %self.opts.table, error = %e, "reading the lease failed");
                return self.opts.poll;
            }
        };
        let attempt = follow(read.as_ref(), seen, &self.owner, Instant::now());
        let new = self.record();
        let sent = Instant::now();
        let result = match &attempt {
            Try::Wait => return self.opts.poll,
            Try::Create => self.table.create(&self.opts.name, &new).await,
            Try::TakeOver(old) => self.table.replace(&self.opts.name, old, &new).await,
        };
        match result {
            Ok(Cas::Done) => {
                self.fence.hold_until(writes_until(sent, &self.opts));
                *self.held.lock().unwrap() = Some(new.rvn);
                let from = read.map(|r| r.owner).unwrap_or_default();
                tracing::info!(lease = %self.opts.name, owner = %self.owner, previous = %from, "lease acquired: this replica is the writer");
                self.metrics.lease("acquired");
                self.metrics.leader.set(1);
                self.role.send_replace(Role::Leader);
                self.opts.heartbeat
            }
            Ok(Cas::Lost) => {
                *seen = None;
                self.opts.poll
            }
            Err(e) => {
                tracing::warn!(table = %self.opts.table, error = %e, "acquiring the lease failed");
                self.opts.poll
            }
        }
    }

    /// One renewal; steps down when the lease was taken, or could not be renewed in time.
    async fn renew_once(&self, rvn: &str) -> Duration {
        let new = self.record();
        let sent = Instant::now();
        match self.table.replace(&self.opts.name, rvn, &new).await {
            Ok(Cas::Done) => {
                self.fence.hold_until(writes_until(sent, &self.opts));
                *self.held.lock().unwrap() = Some(new.rvn);
                self.opts.heartbeat
            }
            Ok(Cas::Lost) => {
                self.step_down("lost", "lease taken by another replica: this replica follows");
                self.opts.poll
            }
            Err(e) => {
                tracing::warn!(table = %self.opts.table, error = %e, "renewing the lease failed; retrying");
                if !self.fence.may_write() {
                    self.step_down("expired", "lease not renewed in time: this replica stopped writing and follows");
                }
                self.opts.poll
            }
        }
    }

    fn step_down(&self, why: &str, message: &str) {
        self.fence.close();
        *self.held.lock().unwrap() = None;
        tracing::warn!(lease = %self.opts.name, owner = %self.owner, reason = why, "{message}");
        self.metrics.lease(why);
        self.metrics.leader.set(0);
        self.role.send_replace(Role::Follower);
    }

    /// Gives the lease up (shutdown, after in-flight work drained): the next replica takes it at
    /// its next read instead of waiting out the duration. Stop `run` first.
    pub async fn release(&self) {
        self.fence.close();
        let Some(rvn) = self.held.lock().unwrap().take() else { return };
        match self.table.release(&self.opts.name, &self.owner, &rvn).await {
            Ok(Cas::Done) => {
                tracing::info!(lease = %self.opts.name, owner = %self.owner, "lease released");
                self.metrics.lease("released");
            }
            Ok(Cas::Lost) => tracing::info!(lease = %self.opts.name, "lease already taken by another replica"),
            Err(e) => {
                tracing::warn!(error = %e, "releasing the lease failed; another replica takes it when it expires")
            }
        }
        self.metrics.leader.set(0);
        self.role.send_replace(Role::Follower);
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

    #[test]
    fn the_holder_stops_writing_a_heartbeat_before_a_follower_could_take_over() {
        let o = LeaseOptions {
            table: "t".into(),
            name: "n".into(),
            duration: Duration::from_secs(20),
            heartbeat: Duration::from_secs(5),
            poll: Duration::from_secs(1),
        };
        let sent = Instant::now();
        assert_eq!(writes_until(sent, &o), sent + Duration::from_secs(15));
        assert!(o.check().is_ok());
        let tight = LeaseOptions { heartbeat: Duration::from_secs(11), ..o };
        assert!(tight.check().unwrap_err().contains("twice"));
    }
}
