//! The worker's decision after a reconcile, as a value: when to look at the key again, whether to
//! alert, which status and metric result, and what the key remembers. Pure, unit-tested per case.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::alerts::AlertKind;
use crate::manifest::Manifest;
use crate::reconcile::ErrorPolicy;

/// When to look at a key again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Resync,
    After(Duration),
    Forget,
}

/// When a reconcile whose write was withheld (the lease not held) runs again: if the term ended,
/// its closed queue drops the key; if the fence reopened (a late renewal), the key is not lost.
pub const FENCED_RETRY: Duration = Duration::from_secs(1);

/// Everything the worker remembers of one key between runs: one record per key.
#[derive(Debug, Clone, Default)]
pub struct KeyState {
    /// Drifted (field, live value) pairs already alerted in this episode.
    pub drift: BTreeSet<(String, String)>,
    /// The latest changes CloudTrail reported on the function (at most [`MAX_CHANGES`], newest
    /// last), kept until a reconcile finds no drift or corrects it.
    pub changes: std::collections::VecDeque<crate::types::ChangedBy>,
    /// Who made each drifted field (by field path), while the drift lasts.
    pub drift_by: std::collections::BTreeMap<String, crate::types::ChangedBy>,
    /// The error last alerted (`Kind: message`): the episode lasts while the same error repeats.
    pub error: Option<String>,
    /// Consecutive failed reconciles (the transient backoff grows with them).
    pub failures: u32,
    /// A removed manifest with `deletionPolicy: delete`, until its configuration is removed.
    pub tombstone: Option<Manifest>,
    /// A per-process keyed fingerprint of the values last applied from SSM / Secrets Manager
    /// (never the values): a change of it is a source change, not drift.
    pub sources: Option<u64>,
    /// Since when the key's reconciles have been refused as still propagating, for which
    /// manifest generation (a new generation starts a new window).
    pub propagating_since: Option<(Instant, String)>,
}

/// The changes kept per function for drift attribution (older ones are dropped).
pub const MAX_CHANGES: usize = 8;

/// How long a refusal that reads as AWS catching up (a role's new permissions, a destination
/// just created) is retried before it is terminal, unless `--propagation-window` says otherwise.
pub const PROPAGATION_WINDOW: Duration = Duration::from_secs(300);
/// The wait between reconciles while it propagates.
pub const PROPAGATION_RETRY: Duration = Duration::from_secs(15);

/// How a reconcile ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The world was read (and written as policy allows); no error.
    Synced,
    /// Synced, and a rollout's next step is due after this long.
    Rolling(Duration),
    /// The world was read, and the function is in an error state the plan names (missing
    /// function, unreadable tags or environment): nothing to retry before the next resync.
    PlanError(String),
    /// The reconcile failed with an error of `policy`; `message` is already redacted.
    Failed { policy: ErrorPolicy, unreachable: bool, message: String },
    /// A removed manifest's configuration was deleted: forget the key.
    Deleted,
}

/// What to alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertChoice {
    None,
    /// An alert of `kind` for this key, with the error message.
    Key(AlertKind),
    /// AWS did not answer: one alert per outage for the whole process, not per key (the caller
    /// knows whether this outage was already reported).
    Unreachable,
}

/// The worker's decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub next: Next,
    pub alert: AlertChoice,
    /// Record the failure in the key's status (`Error` with the message); a reconcile that read
    /// the world records its own status from the plan.
    pub error_status: bool,
    /// `lambda_reconciler_reconciles_total{result}`.
    pub result: &'static str,
}

/// Per-key exponential backoff with jitter in [0.5, 1): 1 s, 2 s, 4 s … capped at 5 min.
pub fn backoff(failures: u32, jitter: f64) -> Duration {
    let ceiling =
        Duration::from_secs(1).saturating_mul(1 << failures.saturating_sub(1).min(9)).min(Duration::from_secs(300));
    ceiling.mul_f64(0.5 + jitter.clamp(0.0, 1.0) * 0.5)
}

/// [`decide_at`] now, with the default propagation window and no generation.
pub fn decide(outcome: &Outcome, state: &mut KeyState, jitter: f64) -> Decision {
    decide_at(outcome, state, jitter, (Instant::now(), ""), PROPAGATION_WINDOW)
}

/// Decides what follows `outcome` (at `now`, for manifest `generation`) and updates what the
/// key remembers. `jitter` in [0, 1). A propagating refusal is retried every
/// [`PROPAGATION_RETRY`] until it has lasted `window` for this generation; then it is terminal
/// (one TerminalError alert with AWS's message, the resync goes on). Throttling, 5xx and a
/// withheld write in between neither end nor restart the window; a success or another error
/// ends it, and a new generation of the manifest restarts it.
pub fn decide_at(
    outcome: &Outcome,
    state: &mut KeyState,
    jitter: f64,
    (now, generation): (Instant, &str),
    window: Duration,
) -> Decision {
    let policy = match outcome {
        Outcome::Failed { policy, .. } => Some(*policy),
        _ => None,
    };
    match policy {
        Some(ErrorPolicy::Propagating) => {
            if state.propagating_since.as_ref().is_none_or(|(_, g)| g != generation) {
                state.propagating_since = Some((now, generation.to_string()));
            }
            let since = state.propagating_since.as_ref().map_or(now, |(t, _)| *t);
            if now.saturating_duration_since(since) >= window {
                if let Outcome::Failed { unreachable, message, .. } = outcome {
                    let terminal = Outcome::Failed {
                        policy: ErrorPolicy::Terminal,
                        unreachable: *unreachable,
                        message: message.clone(),
                    };
                    return decide_now(&terminal, state, jitter);
                }
            }
        }
        Some(ErrorPolicy::Transient | ErrorPolicy::Fenced) => {}
        _ => state.propagating_since = None,
    }
    decide_now(outcome, state, jitter)
}

fn decide_now(outcome: &Outcome, state: &mut KeyState, jitter: f64) -> Decision {
    let alert_once = |state: &mut KeyState, kind: AlertKind, message: &str| {
        // The episode is the kind and the message: an error that turns terminal is alerted again.
        let episode = format!("{kind:?}: {message}");
        let repeat = state.error.as_deref() == Some(episode.as_str());
        state.error = Some(episode);
        if repeat {
            AlertChoice::None
        } else {
            AlertChoice::Key(kind)
        }
    };
    match outcome {
        Outcome::Synced => {
            state.failures = 0;
            state.error = None;
            Decision { next: Next::Resync, alert: AlertChoice::None, error_status: false, result: "success" }
        }
        Outcome::Rolling(after) => {
            state.failures = 0;
            state.error = None;
            Decision { next: Next::After(*after), alert: AlertChoice::None, error_status: false, result: "success" }
        }
        Outcome::PlanError(message) => {
            state.failures = 0;
            let alert = alert_once(state, AlertKind::TerminalError, message);
            Decision { next: Next::Resync, alert, error_status: false, result: "terminal" }
        }
        Outcome::Failed { policy: ErrorPolicy::Fenced, .. } => {
            // Not this replica's to decide: the key's record stays as it was.
            Decision {
                next: Next::After(FENCED_RETRY),
                alert: AlertChoice::None,
                error_status: false,
                result: "fenced",
            }
        }
        Outcome::Failed { policy, unreachable, message } => {
            state.failures += 1;
            let alert = match (unreachable, policy) {
                (true, _) => AlertChoice::Unreachable,
                (false, ErrorPolicy::Terminal) => alert_once(state, AlertKind::TerminalError, message),
                (false, _) => alert_once(state, AlertKind::ApplyFailed, message),
            };
            let (next, result) = match policy {
                ErrorPolicy::Terminal => (Next::Resync, "terminal"),
                ErrorPolicy::RetryLater(d) => (Next::After(*d), "error"),
                ErrorPolicy::Transient => (Next::After(backoff(state.failures, jitter)), "error"),
                ErrorPolicy::Fenced => (Next::After(FENCED_RETRY), "fenced"),
                ErrorPolicy::Propagating => (Next::After(PROPAGATION_RETRY), "error"),
            };
            Decision { next, alert, error_status: true, result }
        }
        Outcome::Deleted => {
            *state = KeyState::default();
            Decision { next: Next::Forget, alert: AlertChoice::None, error_status: false, result: "success" }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(policy: ErrorPolicy, message: &str) -> Outcome {
        Outcome::Failed { policy, unreachable: false, message: message.into() }
    }

    #[test]
    fn a_propagating_refusal_is_retried_for_its_window_then_is_terminal_with_one_alert() {
        let mut s = KeyState::default();
        let e = failed(
            ErrorPolicy::Propagating,
            "The provided execution role does not have permissions to call ReceiveMessage on SQS",
        );
        let t0 = Instant::now();
        let w = Duration::from_secs(300);
        let first = decide_at(&e, &mut s, 0.5, (t0, "g1"), w);
        assert_eq!(first.next, Next::After(PROPAGATION_RETRY));
        assert_eq!(first.alert, AlertChoice::Key(AlertKind::ApplyFailed));
        let within = decide_at(&e, &mut s, 0.5, (t0 + Duration::from_secs(299), "g1"), w);
        assert_eq!((within.next, within.alert), (Next::After(PROPAGATION_RETRY), AlertChoice::None));
        let past = decide_at(&e, &mut s, 0.5, (t0 + w, "g1"), w);
        assert_eq!((past.next, past.result), (Next::Resync, "terminal"));
        assert_eq!(past.alert, AlertChoice::Key(AlertKind::TerminalError));
        let again = decide_at(&e, &mut s, 0.5, (t0 + w * 2, "g1"), w);
        assert_eq!((again.next, again.alert), (Next::Resync, AlertChoice::None), "alerted once");
        // Fixed: the next refusal starts a new window.
        decide_at(&Outcome::Synced, &mut s, 0.5, (t0 + w * 3, "g1"), w);
        let fresh = decide_at(&e, &mut s, 0.5, (t0 + w * 4, "g1"), w);
        assert_eq!(fresh.next, Next::After(PROPAGATION_RETRY));
    }

    #[test]
    fn throttling_between_propagating_refusals_does_not_restart_the_window_but_a_new_manifest_does() {
        let mut s = KeyState::default();
        let e = failed(ErrorPolicy::Propagating, "The provided execution role does not have permissions");
        let throttled = failed(ErrorPolicy::Transient, "TooManyRequestsException");
        let (t0, w) = (Instant::now(), Duration::from_secs(300));
        decide_at(&e, &mut s, 0.5, (t0, "g1"), w);
        decide_at(&throttled, &mut s, 0.5, (t0 + Duration::from_secs(100), "g1"), w);
        let past = decide_at(&e, &mut s, 0.5, (t0 + w, "g1"), w);
        assert_eq!(past.result, "terminal", "the window ran on through the throttling");
        let edited = decide_at(&e, &mut s, 0.5, (t0 + w * 2, "g2"), w);
        assert_eq!(edited.next, Next::After(PROPAGATION_RETRY), "a new generation gets a new window");
    }

    #[test]
    fn a_synced_key_resyncs_and_forgets_its_failures_and_error() {
        let mut s = KeyState { failures: 3, error: Some("x".into()), ..KeyState::default() };
        let d = decide(&Outcome::Synced, &mut s, 0.0);
        assert_eq!((d.next, d.alert, d.error_status, d.result), (Next::Resync, AlertChoice::None, false, "success"));
        assert_eq!((s.failures, s.error), (0, None));
    }

    #[test]
    fn a_rolling_key_comes_back_when_its_next_step_is_due() {
        let mut s = KeyState { failures: 2, ..KeyState::default() };
        let d = decide(&Outcome::Rolling(Duration::from_millis(1500)), &mut s, 0.7);
        assert_eq!(
            (d.next, d.alert, d.result),
            (Next::After(Duration::from_millis(1500)), AlertChoice::None, "success")
        );
        assert_eq!(s.failures, 0);
    }

    #[test]
    fn a_plan_error_alerts_once_per_episode_and_waits_for_the_resync() {
        let mut s = KeyState::default();
        let e = Outcome::PlanError("function `f` not found".into());
        assert_eq!(decide(&e, &mut s, 0.0).alert, AlertChoice::Key(AlertKind::TerminalError));
        let again = decide(&e, &mut s, 0.0);
        assert_eq!((again.next, again.alert, again.result), (Next::Resync, AlertChoice::None, "terminal"));
        decide(&Outcome::Synced, &mut s, 0.0);
        assert_eq!(decide(&e, &mut s, 0.0).alert, AlertChoice::Key(AlertKind::TerminalError), "a new episode");
    }

    #[test]
    fn a_terminal_failure_alerts_once_and_is_parked_until_the_resync() {
        let mut s = KeyState::default();
        let e = failed(ErrorPolicy::Terminal, "AccessDeniedException");
        let d = decide(&e, &mut s, 0.0);
        assert_eq!((d.next, d.alert, d.error_status), (Next::Resync, AlertChoice::Key(AlertKind::TerminalError), true));
        assert_eq!(decide(&e, &mut s, 0.0).alert, AlertChoice::None);
        let other = decide(&failed(ErrorPolicy::Terminal, "ValidationException"), &mut s, 0.0);
        assert_eq!(other.alert, AlertChoice::Key(AlertKind::TerminalError), "a different error alerts");
    }

    #[test]
    fn a_retry_later_failure_comes_back_after_its_delay_as_apply_failed() {
        let mut s = KeyState::default();
        let d = decide(&failed(ErrorPolicy::RetryLater(Duration::from_secs(5)), "409"), &mut s, 0.9);
        assert_eq!(
            (d.next, d.alert, d.result),
            (Next::After(Duration::from_secs(5)), AlertChoice::Key(AlertKind::ApplyFailed), "error")
        );
    }

    #[test]
    fn transient_failures_back_off_exponentially_with_jitter_up_to_five_minutes() {
        let mut s = KeyState::default();
        let delays: Vec<Duration> = (0..12)
            .map(|_| match decide(&failed(ErrorPolicy::Transient, "500"), &mut s, 1.0).next {
                Next::After(d) => d,
                other => panic!("{other:?}"),
            })
            .collect();
        let secs: Vec<u64> = delays.iter().map(|d| d.as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
        assert_eq!(backoff(3, 0.0), Duration::from_secs(2), "jitter 0 halves the ceiling");
        assert_eq!(s.failures, 12);
    }

    #[test]
    fn an_unreachable_endpoint_is_left_to_the_process_wide_alert() {
        let mut s = KeyState::default();
        let e =
            Outcome::Failed { policy: ErrorPolicy::Transient, unreachable: true, message: "DispatchFailure".into() };
        let d = decide(&e, &mut s, 0.0);
        assert_eq!((d.alert, d.error_status), (AlertChoice::Unreachable, true));
        assert_eq!(s.error, None, "the key's own error episode is untouched");
    }

    #[test]
    fn a_deleted_key_is_forgotten() {
        let mut s = KeyState { failures: 2, ..KeyState::default() };
        assert_eq!(decide(&Outcome::Deleted, &mut s, 0.0).next, Next::Forget);
        assert_eq!(s.failures, 0);
    }
}
