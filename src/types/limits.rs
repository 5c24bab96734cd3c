//! The documented maximum of every duration and timestamp taken from outside (manifest, tag, AWS answer; flags in cli).

use std::time::Duration;

/// A rollout step's `pause` in a manifest: at most 7 days (validate refuses longer).
pub const MAX_STEP_PAUSE: Duration = Duration::from_secs(7 * 24 * 3600);

/// The longest delay the work queue schedules: a later wake is clamped to this, and the
/// reconcile it starts (level-triggered) schedules the rest again.
pub const MAX_QUEUE_DELAY: Duration = Duration::from_secs(24 * 3600);

/// The latest instant a timestamp may name: 9999-12-31T23:59:59Z (what RFC 3339 can print),
/// in milliseconds since the epoch. A marker tag's `at=` is clamped to `0..=now`.
pub const MAX_EPOCH_MS: i64 = 253_402_300_799_000;

/// Published versions' configurations kept in memory per account-region (a version never
/// changes): past this many, the cache is emptied and refilled by the reads that follow.
pub const MAX_CACHED_VERSIONS: usize = 4096;

/// `ms` within `0..=MAX_EPOCH_MS`.
pub fn clamp_epoch_ms(ms: i64) -> i64 {
    ms.clamp(0, MAX_EPOCH_MS)
}

/// A lease duration read from the lease table (another replica wrote it): within 1 s to 1 h,
/// the range `--lease-duration` accepts.
pub fn clamp_lease_duration(d: Duration) -> Duration {
    d.clamp(Duration::from_secs(1), Duration::from_secs(3600))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_from_outside_are_clamped_to_what_can_be_printed() {
        assert_eq!(clamp_epoch_ms(i64::MAX), MAX_EPOCH_MS);
        assert_eq!(clamp_epoch_ms(-5), 0);
        let printable = crate::types::format_time(MAX_EPOCH_MS / 1000);
        assert_eq!(printable, "9999-12-31T23:59:59Z");
    }
}
