//! Validation of an alias's `deployment` (progressive delivery) and its resolution into the
//! domain `Deployment`; every problem is reported with its field path.

use std::time::Duration;

use super::model::{Alias, Deployment as Spec};
use crate::types::limits::MAX_STEP_PAUSE;
use crate::types::{Approval, Deployment, OnTimeout, Step};

/// CodeDeploy's (and our) limit on alarms per deployment.
pub const MAX_ALARMS: usize = 10;
/// Lambda's own limit on an invocation (a hook cannot run longer).
pub const MAX_HOOK_TIMEOUT: Duration = Duration::from_secs(15 * 60);
pub const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// The marker tag key (`lambda-reconciler.io/rollout/<alias>`) must fit AWS's 128 characters.
pub const MAX_ALIAS_WITH_DEPLOYMENT: usize = 128 - crate::types::MARKER_TAG_PREFIX.len();

fn duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| format!("`{text}` is not a duration like `30s`, `5m` or `1h` ({e})"))
}

/// Checks `a.deployment`; `err(field, message)` takes paths relative to the alias.
pub fn check(name: &str, a: &Alias, err: &mut dyn FnMut(&str, String)) {
    let Some(d) = &a.deployment else { return };
    if name.len() > MAX_ALIAS_WITH_DEPLOYMENT {
        err("deployment", format!("an alias with a deployment has a name of at most {MAX_ALIAS_WITH_DEPLOYMENT} characters (its rollout tag key must fit AWS's 128)"));
    }
    if a.function_version.as_text() == "$LATEST" {
        err("deployment", "traffic can only shift between published versions; functionVersion is $LATEST".into());
    }
    if !a.routing.is_absent() {
        err("routing", "the deployment owns the alias's routing during a rollout; remove `routing`".into());
    }
    match (&d.strategy, &d.steps) {
        (Some(_), Some(_)) => err("deployment.steps", "give either `strategy` or `steps`, not both".into()),
        (None, None) => err("deployment", "needs a `strategy` or custom `steps`".into()),
        (None, Some(steps)) => check_steps(steps, err),
        (Some(_), None) => {}
    }
    if d.alarms.len() > MAX_ALARMS {
        err("deployment.alarms", format!("{} alarms; at most {MAX_ALARMS}", d.alarms.len()));
    }
    for (i, alarm) in d.alarms.iter().enumerate() {
        if alarm.is_empty() || alarm.len() > 255 {
            err(&format!("deployment.alarms[{i}]"), "an alarm name is 1-255 characters".into());
        }
    }
    if let Some(r) = &d.release {
        super::release_rules::check(r, &mut |f, m| err(&format!("deployment.release.{f}"), m));
    }
    if let Some(spec) = &d.analysis {
        if d.steps.as_ref().is_some_and(Vec::is_empty) || d.strategy == Some(crate::types::Strategy::AllAtOnce) {
            err("deployment.analysis", "needs at least one step (the judge watches a step's traffic)".into());
        }
        super::analysis_rules::check(spec, &mut |f, m| err(&format!("deployment.analysis.{f}"), m));
    }
    if let Some(h) = &d.hooks {
        for (f, v) in [("preTraffic", &h.pre_traffic), ("postTraffic", &h.post_traffic)] {
            if let Some(fun) = v {
                if let Err(m) = crate::types::FunctionRef::parse(fun) {
                    err(&format!("deployment.hooks.{f}"), m);
                }
            }
        }
        if let Some(t) = &h.timeout {
            match duration(t) {
                Err(m) => err("deployment.hooks.timeout", m),
                Ok(t) if t.is_zero() || t > MAX_HOOK_TIMEOUT => {
                    err("deployment.hooks.timeout", "must be more than 0 and at most 15m (Lambda's limit)".into())
                }
                Ok(_) => {}
            }
        }
    }
}

fn check_steps(steps: &[super::model::DeploymentStep], err: &mut dyn FnMut(&str, String)) {
    let mut last = None::<f64>;
    for (i, s) in steps.iter().enumerate() {
        let field = format!("deployment.steps[{i}]");
        let w = crate::types::step_weight(s.weight);
        if !(s.weight > 0.0 && s.weight < 100.0 && w > 0.0 && w < 1.0) {
            // 0 % moves no traffic; 100 % is the switch every rollout ends with (after its steps).
            let m =
                format!("{} is outside 0-100 (percent, both excluded: the rollout ends at 100 % by itself)", s.weight);
            err(&format!("{field}.weight"), m);
        } else if last.is_some_and(|l| w <= crate::types::step_weight(l)) {
            // Compared as the alias's routing holds them (the weight is how a step is read back).
            err(&format!("{field}.weight"), format!("{} is not above the previous step's {}", s.weight, last.unwrap()));
        }
        last = Some(s.weight);
        let manual = s.pause == MANUAL;
        let bounded = |f: &str, text: &str, err: &mut dyn FnMut(&str, String)| match duration(text) {
            Err(m) => err(&format!("{field}.{f}"), m),
            Ok(d) if d > MAX_STEP_PAUSE => err(&format!("{field}.{f}"), "at most 7d (the longest a step holds)".into()),
            Ok(_) => {}
        };
        if !manual {
            bounded("pause", &s.pause, err);
        }
        match (&s.timeout, manual) {
            (Some(t), true) => bounded("timeout", t, err),
            (Some(_), false) => {
                err(&format!("{field}.timeout"), "only a step with `pause: manual` has a timeout".into())
            }
            _ => {}
        }
        if s.on_timeout.is_some() && s.timeout.is_none() {
            err(&format!("{field}.onTimeout"), "needs a `timeout` (and `pause: manual`)".into());
        }
    }
}

/// `pause: manual`: the step waits for a person's approval.
pub const MANUAL: &str = "manual";

fn step(s: &super::model::DeploymentStep) -> Step {
    let ms = |t: &str| duration(t).map_or(0, |d| d.min(MAX_STEP_PAUSE).as_millis() as u64);
    if s.pause == MANUAL {
        let approval = Approval {
            timeout_ms: s.timeout.as_deref().map(ms),
            on_timeout: s.on_timeout.unwrap_or(OnTimeout::Rollback),
        };
        return Step { percent: s.weight, pause_ms: 0, approval: Some(approval) };
    }
    Step { percent: s.weight, pause_ms: ms(&s.pause), approval: None }
}

/// The domain deployment of a valid `spec`.
pub fn resolve(spec: &Spec) -> Deployment {
    let (strategy, steps) = match (&spec.strategy, &spec.steps) {
        (Some(s), _) => (format!("{s:?}"), s.steps()),
        (None, steps) => ("custom".to_string(), steps.iter().flatten().map(step).collect()),
    };
    let hooks = spec.hooks.as_ref();
    let timeout = hooks.and_then(|h| h.timeout.as_deref()).and_then(|t| duration(t).ok());
    Deployment {
        strategy,
        steps,
        alarms: spec.alarms.clone(),
        pre_traffic: hooks.and_then(|h| h.pre_traffic.clone()),
        post_traffic: hooks.and_then(|h| h.post_traffic.clone()),
        hook_timeout_ms: timeout.unwrap_or(DEFAULT_HOOK_TIMEOUT).as_millis() as u64,
        switch_if_incompatible: spec.on_role_or_dead_letter_change == Some(super::model::IncompatibleVersions::Switch),
        analysis: spec.analysis.as_ref().map(super::analysis_rules::resolve),
    }
}
