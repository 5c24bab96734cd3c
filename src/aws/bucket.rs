//! An account-region's rate limiter: a token bucket from which urgent work may take every token,
//! while other work leaves a small reserve in it, so an edit or a rollout move under a busy
//! resync finds permits waiting instead of queueing for the next refill.
//!
//! Hand-written rather than `governor`: a GCRA limiter cannot be asked to grant a permit only
//! while others remain, which the reserve needs; the arithmetic is the classic bucket's.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Permits work other than urgent work leaves in the bucket (at most the burst less one):
/// enough for an edit's reads and first write (the function, its SSM parameters and secrets
/// while their snapshot is refreshed, the check that no update is in progress, the write).
pub const RESERVE: u32 = 5;

/// `rate` permits a second, up to `burst` held.
#[derive(Debug)]
pub struct Bucket {
    rate: f64,
    burst: f64,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// `rps` a second with a burst of `rps` (full at start).
    pub fn per_second(rps: NonZeroU32) -> Self {
        Self::with_burst(rps, rps)
    }

    pub fn with_burst(rps: NonZeroU32, burst: NonZeroU32) -> Self {
        let burst = f64::from(burst.get());
        Bucket { rate: f64::from(rps.get()), burst, state: Mutex::new(State { tokens: burst, at: Instant::now() }) }
    }

    /// The reserve `keep` clipped to what this bucket can hold back (the burst less one).
    fn kept(&self, keep: u32) -> f64 {
        f64::from(keep).min(self.burst - 1.0).max(0.0)
    }

    /// Takes a permit if one is there beyond `keep`; else how long until there is.
    pub fn try_take(&self, keep: u32) -> Result<(), Duration> {
        let need = 1.0 + self.kept(keep);
        let mut s = self.state.lock().unwrap();
        let now = Instant::now();
        s.tokens = (s.tokens + now.duration_since(s.at).as_secs_f64() * self.rate).min(self.burst);
        s.at = now;
        if s.tokens >= need {
            s.tokens -= 1.0;
            Ok(())
        } else {
            // Rounded up, so the wake-up finds the permit there.
            Err(Duration::from_secs_f64((need - s.tokens) / self.rate) + Duration::from_micros(50))
        }
    }

    /// Waits for a permit beyond `keep`, and takes it. Dropping the future takes nothing.
    pub async fn take(&self, keep: u32) {
        while let Err(wait) = self.try_take(keep) {
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(x: u32) -> NonZeroU32 {
        NonZeroU32::new(x).unwrap()
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_bucket_grants_its_burst_then_one_permit_per_period() {
        let b = Bucket::per_second(n(10));
        for _ in 0..10 {
            assert!(b.try_take(0).is_ok());
        }
        let wait = b.try_take(0).unwrap_err();
        assert!(wait >= Duration::from_millis(100) && wait < Duration::from_millis(101), "{wait:?}");
        let started = Instant::now();
        b.take(0).await;
        b.take(0).await;
        assert!(started.elapsed() >= Duration::from_millis(200), "two periods for two permits");
    }

    #[tokio::test(start_paused = true)]
    async fn other_work_leaves_the_reserve_which_urgent_work_may_take() {
        let b = Bucket::per_second(n(10));
        let mut granted = 0;
        while b.try_take(RESERVE).is_ok() {
            granted += 1;
        }
        assert_eq!(granted, 10 - RESERVE, "the reserve stays in the bucket");
        for _ in 0..RESERVE {
            assert!(b.try_take(0).is_ok(), "urgent work takes the reserve at once");
        }
        assert!(b.try_take(0).is_err(), "then the bucket is empty");
    }

    #[tokio::test(start_paused = true)]
    async fn a_bucket_too_small_for_a_reserve_keeps_none() {
        let b = Bucket::with_burst(n(1), n(1));
        assert!(b.try_take(RESERVE).is_ok(), "a burst of one keeps nothing back");
    }
}
