//! When a function may use a region-wide read snapshot (Application Auto Scaling, SSM) instead of
//! reading its own part: read once per resync for every function, not once per function.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Bumped by [`expire_all`]: a snapshot taken under an older value is not used again.
static EPOCH: AtomicU64 = AtomicU64::new(0);

/// Makes every snapshot of the process stale: the next read of each refreshes it. For a replica
/// that becomes the writer (again): what it read before, another writer may have changed since.
pub fn expire_all() {
    EPOCH.fetch_add(1, Ordering::SeqCst);
}

/// What a function's read should do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The current snapshot serves it.
    Use,
    /// Read the whole region again (this function already used the snapshot and it is stale).
    Refresh,
    /// Read just this function's part: the snapshot predates its own last write.
    Direct,
}

/// The bookkeeping of one snapshot: when it was taken and which functions used it.
///
/// A function uses the snapshot until it comes back after `stale_after` having used it already
/// (its next resync): then the region is read again, so a full pass over N functions reads the
/// region once. A snapshot taken before the function's own last write is never used for it
/// (the verify pass after an apply must see the write).
#[derive(Debug)]
pub struct Freshness {
    taken: Option<Instant>,
    used_by: HashSet<String>,
    stale_after: Duration,
    /// The epoch the snapshot was taken in, and the counter that says the current one.
    epoch_seen: u64,
    epoch: &'static AtomicU64,
}

impl Freshness {
    pub fn new(stale_after: Duration) -> Self {
        Self::with_epoch(stale_after, &EPOCH)
    }

    fn with_epoch(stale_after: Duration, epoch: &'static AtomicU64) -> Self {
        Freshness { taken: None, used_by: HashSet::new(), stale_after, epoch_seen: 0, epoch }
    }

    /// Decides for `consumer`, whose last write (if any) was at `wrote`; records a use.
    pub fn decide(&mut self, consumer: &str, wrote: Option<Instant>) -> Decision {
        let Some(taken) = self.taken.filter(|_| self.epoch.load(Ordering::SeqCst) == self.epoch_seen) else {
            return Decision::Refresh;
        };
        let young = taken.elapsed() < self.stale_after;
        let after_write = wrote.is_none_or(|w| w < taken);
        if after_write && (young || !self.used_by.contains(consumer)) {
            self.used_by.insert(consumer.to_string());
            Decision::Use
        } else if young {
            Decision::Direct
        } else {
            Decision::Refresh
        }
    }

    /// Records a refresh that started at `started` (a write during the read is not covered).
    pub fn refreshed(&mut self, started: Instant, consumer: &str) {
        self.taken = Some(started);
        self.epoch_seen = self.epoch.load(Ordering::SeqCst);
        self.used_by = HashSet::from([consumer.to_string()]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_read_refreshes_and_every_other_function_uses_that_snapshot() {
        let mut f = Freshness::new(Duration::from_secs(30));
        assert_eq!(f.decide("a", None), Decision::Refresh);
        f.refreshed(Instant::now(), "a");
        for name in ["b", "c", "d"] {
            assert_eq!(f.decide(name, None), Decision::Use);
        }
    }

    #[test]
    fn a_snapshot_taken_before_every_snapshot_expired_is_read_again() {
        static LOCAL: AtomicU64 = AtomicU64::new(0);
        let mut f = Freshness::with_epoch(Duration::from_secs(3600), &LOCAL);
        f.refreshed(Instant::now(), "a");
        assert_eq!(f.decide("b", None), Decision::Use);
        LOCAL.fetch_add(1, Ordering::SeqCst);
        assert_eq!(f.decide("c", None), Decision::Refresh, "young, but from before the expiry");
        f.refreshed(Instant::now(), "c");
        assert_eq!(f.decide("d", None), Decision::Use);
    }

    #[test]
    fn a_function_back_for_its_next_resync_refreshes_a_stale_snapshot() {
        let mut f = Freshness::new(Duration::ZERO);
        f.refreshed(Instant::now(), "a");
        assert_eq!(f.decide("b", None), Decision::Use, "first use, however old");
        assert_eq!(f.decide("a", None), Decision::Refresh);
    }

    #[test]
    fn a_function_back_soon_reuses_a_young_snapshot() {
        let mut f = Freshness::new(Duration::from_secs(30));
        f.refreshed(Instant::now(), "a");
        assert_eq!(f.decide("a", None), Decision::Use);
    }

    #[test]
    fn a_snapshot_older_than_the_functions_write_is_not_used_for_it() {
        let mut f = Freshness::new(Duration::from_secs(30));
        f.refreshed(Instant::now(), "a");
        let wrote = Instant::now();
        assert_eq!(f.decide("a", Some(wrote)), Decision::Direct);
        assert_eq!(f.decide("b", None), Decision::Use, "other functions are unaffected");
        let mut stale = Freshness::new(Duration::ZERO);
        stale.refreshed(Instant::now(), "a");
        assert_eq!(stale.decide("a", Some(Instant::now())), Decision::Refresh);
        stale.refreshed(Instant::now(), "a");
        assert_eq!(stale.decide("b", Some(wrote)), Decision::Use, "taken after the write");
    }
}
