//! Sharing shards among replicas (`--shards` above 1): each replica announces itself on a members
//! item at every heartbeat, counts the replicas whose announcement changed within a lease
//! duration (as it measures it: no clock is compared across machines), and holds at most its
//! fair share, the shards divided by the live replicas, rounded up. It takes no more, and gives
//! the excess up; another replica takes a released shard at its next read.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::lease::{Elector, LeaseOptions};
use crate::aws::lease::LeaseTable;

/// How many shards this replica may hold (all of them until it has seen another replica).
#[derive(Debug)]
pub struct Balance {
    fair: AtomicUsize,
}

impl Balance {
    pub fn new(shards: usize) -> Arc<Self> {
        Arc::new(Balance { fair: AtomicUsize::new(shards) })
    }

    /// Whether a replica holding `holding` shards may take one more.
    pub fn may_take(&self, holding: usize) -> bool {
        holding < self.fair.load(Ordering::SeqCst)
    }

    pub fn fair(&self) -> usize {
        self.fair.load(Ordering::SeqCst)
    }
}

/// The shards each of `live` replicas may hold.
fn fair_share(shards: usize, live: usize) -> usize {
    shards.div_ceil(live.max(1))
}

/// What a replica saw of each other replica: its last value and when that value first appeared.
type Seen = HashMap<String, (String, Instant)>;

/// Updates `seen` from the members item (pure): returns how many replicas are live (this one
/// included) and the (owner, value) of those seen unchanged for `duration` (dead).
fn census(
    seen: &mut Seen,
    read: &[(String, String)],
    me: &str,
    now: Instant,
    duration: Duration,
) -> (usize, Vec<(String, String)>) {
    seen.retain(|owner, _| read.iter().any(|(o, _)| o == owner));
    let mut live = 1;
    let mut dead = Vec::new();
    for (owner, value) in read.iter().filter(|(o, _)| o != me) {
        let entry = seen.entry(owner.clone()).or_insert_with(|| (value.clone(), now));
        if entry.0 != *value {
            *entry = (value.clone(), now);
        }
        if now.duration_since(entry.1) < duration {
            live += 1;
        } else {
            dead.push((owner.clone(), value.clone()));
        }
    }
    (live, dead)
}

/// Keeps this replica's announcement fresh and its holding at its fair share, until `stop`.
pub async fn run(
    table: LeaseTable,
    opts: LeaseOptions,
    owner: String,
    electors: Vec<Arc<Elector>>,
    balance: Arc<Balance>,
    mut stop: watch::Receiver<bool>,
) {
    let key = format!("{}/members", opts.name);
    let mut seen = Seen::new();
    let mut last_beat: Option<Instant> = None;
    while !*stop.borrow() {
        if last_beat.is_none_or(|t| t.elapsed() >= opts.heartbeat) {
            let value = format!("{:016x}", fastrand::u64(..));
            match table.beat(&key, &owner, &value).await {
                Ok(()) => last_beat = Some(Instant::now()),
                Err(e) => tracing::warn!(table = %opts.table, error = %e, "announcing this replica failed"),
            }
        }
        match table.members(&key).await {
            Ok(read) => {
                let (live, dead) = census(&mut seen, &read, &owner, Instant::now(), opts.duration);
                for (o, value) in dead {
                    tracing::info!(replica = %o, "replica not seen for a lease duration: forgotten");
                    let _ = table.forget(&key, &o, &value).await;
                }
                let fair = fair_share(opts.shards, live);
                if balance.fair.swap(fair, Ordering::SeqCst) != fair {
                    tracing::info!(replicas = live, fair_share = fair, shards = opts.shards, "shard share changed");
                }
                let held: Vec<&Arc<Elector>> = electors.iter().filter(|e| e.holds()).collect();
                // The excess goes from the highest shards down, so replicas agree on what moves.
                for e in held.iter().rev().take(held.len().saturating_sub(fair)) {
                    tracing::info!(
                        shard = e.shard(),
                        fair_share = fair,
                        "giving up a shard beyond this replica's share"
                    );
                    e.give_up();
                }
            }
            Err(e) => tracing::warn!(table = %opts.table, error = %e, "reading the replicas failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(opts.poll) => {}
            _ = stop.changed() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fair_share_rounds_up_so_every_shard_has_a_holder() {
        assert_eq!([fair_share(4, 1), fair_share(4, 2), fair_share(4, 3), fair_share(3, 2)], [4, 2, 2, 2]);
        assert_eq!(fair_share(2, 0), 2);
    }

    #[test]
    fn a_replica_counts_as_live_until_its_announcement_stays_unchanged_for_a_duration() {
        let t0 = Instant::now();
        let d = Duration::from_secs(20);
        let at = |s| t0 + Duration::from_secs(s);
        let mut seen = Seen::new();
        let read = |v: &str| vec![("me".to_string(), "x".to_string()), ("b".to_string(), v.to_string())];
        assert_eq!(census(&mut seen, &read("1"), "me", at(0), d), (2, vec![]), "new: live");
        assert_eq!(census(&mut seen, &read("2"), "me", at(15), d), (2, vec![]));
        assert_eq!(census(&mut seen, &read("2"), "me", at(34), d), (2, vec![]));
        assert_eq!(census(&mut seen, &read("2"), "me", at(35), d), (1, vec![("b".into(), "2".into())]), "dead");
        assert_eq!(census(&mut seen, &read("3"), "me", at(36), d), (2, vec![]), "back");
        assert_eq!(census(&mut seen, &[], "me", at(37), d).0, 1, "gone from the item");
        assert!(seen.is_empty());
    }
}
