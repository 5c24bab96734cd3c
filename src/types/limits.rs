//! The documented maximum of every duration and timestamp taken from outside (manifest, flag, tag, AWS answer).

use std::time::Duration;

/// A rollout step's `pause` in a manifest: at most 7 days (validate refuses longer).
pub const MAX_STEP_PAUSE: Duration = Duration::from_secs(7 * 24 * 3600);

/// The longest delay the work queue schedules: a later wake is clamped to this, and the
/// reconcile it starts (level-triggered) schedules the rest again.
pub const MAX_QUEUE_DELAY: Duration = Duration::from_secs(24 * 3600);

/// The latest instant a timestamp may name: 9999-12-31T23:59:59Z (what RFC 3339 can print),
/// in milliseconds since the epoch. A marker tag's `at=` is clamped to `0..=now`.
pub const MAX_EPOCH_MS: i64 = 253_402_300_799_000;

/// `ms` within `0..=MAX_EPOCH_MS`.
pub fn clamp_epoch_ms(ms: i64) -> i64 {
    ms.clamp(0, MAX_EPOCH_MS)
}

/// A lease duration read from the lease table (another replica wrote it): within 1 s to 1 h,
/// the range `--lease-duration` accepts.
pub fn clamp_lease_duration(d: Duration) -> Duration {
    d.clamp(Duration::from_secs(1), Duration::from_secs(3600))
}

/// A clap value parser for a duration flag within `MIN_MS..=MAX_MS` milliseconds.
pub fn duration_flag<const MIN_MS: u64, const MAX_MS: u64>(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    let (min, max) = (Duration::from_millis(MIN_MS), Duration::from_millis(MAX_MS));
    if d < min || d > max {
        let show = |d: Duration| humantime::format_duration(d).to_string();
        return Err(format!("must be within {} and {}", show(min), show(max)));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duration_flag_outside_its_range_is_refused() {
        assert_eq!(duration_flag::<1000, 60_000>("30s"), Ok(Duration::from_secs(30)));
        assert!(duration_flag::<1000, 60_000>("3years").unwrap_err().contains("within 1s and 1m"));
        assert!(duration_flag::<1000, 60_000>("10ms").is_err());
        assert!(duration_flag::<1000, 60_000>("99999999999999999999years").is_err());
    }

    #[test]
    fn timestamps_from_outside_are_clamped_to_what_can_be_printed() {
        assert_eq!(clamp_epoch_ms(i64::MAX), MAX_EPOCH_MS);
        assert_eq!(clamp_epoch_ms(-5), 0);
        let printable = crate::types::format_time(MAX_EPOCH_MS / 1000);
        assert_eq!(printable, "9999-12-31T23:59:59Z");
    }
}
