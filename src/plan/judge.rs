//! The canary judge: from the two versions' numbers and the limits, Pass, Fail (naming the
//! metric, both values and the limit) or Waiting; and what a step does with that verdict. Pure.

use crate::observed::Observed;
use crate::types::{
    Analysis, Deployment, JudgeView, Judging, Marker, NoData, Phase, Reading, Sample, Subject, Verdict,
};

/// The judge of alias `alias`'s rollout `m` in a step (the deployment has an analysis and its
/// numbers were read): the analysis and the verdict with its numbers.
pub(super) fn judged(o: &Observed, alias: &str, dep: &Deployment, m: &Marker) -> Option<(Analysis, JudgeView)> {
    let a = dep.analysis.as_ref()?;
    if !matches!(m.phase, Phase::Shifting { .. }) {
        return None;
    }
    let r = o.judged.get(alias)?;
    let view = JudgeView {
        verdict: verdict(a, &m.from, &m.to, r),
        dry_run: a.dry_run,
        numbers: Some(r.clone()),
        measures: a.measures.iter().map(|m| m.name.clone()).collect(),
    };
    Some((a.clone(), view))
}

/// The step the daemon's poller watches for alias `alias` (in a step of a judged deployment).
pub(super) fn judging(function: &str, alias: &str, dep: &Deployment, m: &Marker, now: i64) -> Option<Judging> {
    let a = dep.analysis.as_ref()?;
    let Phase::Shifting { step } = m.phase else { return None };
    let s = dep.steps.get(step)?;
    let pause_ends_ms = if s.approval.is_some() {
        i64::MAX
    } else {
        m.since_ms.min(now).saturating_add(s.pause_ms.min(i64::MAX as u64) as i64)
    };
    Some(Judging { subject: Subject::of(function, alias, m, a, now), analysis: a.clone(), pause_ends_ms, shown: None })
}

/// How the reason of a roll back by the judge begins.
pub const REASON_PREFIX: &str = "judge: ";

/// The reason to roll back now: a Fail outside a dry run.
pub(super) fn failed(a: &Analysis, j: &JudgeView) -> Option<String> {
    match &j.verdict {
        Verdict::Fail { reason } if !a.dry_run => Some(format!("{REASON_PREFIX}{reason}")),
        _ => None,
    }
}

fn percent(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        100.0 * part / whole
    } else {
        0.0
    }
}

fn points(p: f64) -> String {
    format!("+{p} point{}", if p == 1.0 { "" } else { "s" })
}

fn error_rate(s: &Sample) -> f64 {
    percent(s.errors, s.invocations)
}

/// Throttled requests are not invocations: the rate is of the requests.
fn throttle_rate(s: &Sample) -> f64 {
    percent(s.throttles, s.invocations + s.throttles)
}

/// The verdict on version `to` against `from`. Too few invocations of `to` is no verdict yet; an
/// old version without invocations counts as a 0 % error and throttle rate (and its duration,
/// unknown, limits nothing: only `maxMs` applies).
pub fn verdict(a: &Analysis, from: &str, to: &str, r: &Reading) -> Verdict {
    let (old, new) = (&r.old, &r.new);
    // A NaN, an infinity or a negative count compares false with every limit: it would pass.
    let readable = |s: &Sample| {
        [s.invocations, s.errors, s.throttles, s.duration_ms.unwrap_or(0.0)].iter().all(|v| v.is_finite() && *v >= 0.0)
    };
    if !readable(old) || !readable(new) {
        return Verdict::Waiting { why: format!("the metrics of version {from} or {to} are not counts") };
    }
    if new.invocations < a.min_invocations as f64 {
        let why = format!("{} of {} invocations of version {to}", new.invocations, a.min_invocations);
        return Verdict::Waiting { why };
    }
    let fail = |reason: String| Verdict::Fail { reason };
    let (eo, en) = (error_rate(old), error_rate(new));
    if en > eo + a.error_increase {
        let limit = points(a.error_increase);
        return fail(format!(
            "error rate {en:.1} percent on version {to} vs {eo:.1} percent on {from} - limit {limit}"
        ));
    }
    if let Some(max) = a.error_max.filter(|m| en > *m) {
        return fail(format!("error rate {en:.1} percent on version {to} - limit {max} percent"));
    }
    if let Some(dn) = new.duration_ms {
        let p = &a.percentile;
        if let Some(d0) = old.duration_ms.filter(|d0| dn > d0 * a.duration_ratio) {
            let ratio = a.duration_ratio;
            return fail(format!(
                "{p} duration {dn:.0} ms on version {to} vs {d0:.0} ms on {from} - limit {ratio} times"
            ));
        }
        if let Some(max) = a.duration_max_ms.filter(|m| dn > *m) {
            return fail(format!("{p} duration {dn:.0} ms on version {to} - limit {max} ms"));
        }
    }
    if let Some(inc) = a.throttle_increase {
        let (to_, tn) = (throttle_rate(old), throttle_rate(new));
        if tn > to_ + inc {
            let limit = points(inc);
            return fail(format!(
                "throttle rate {tn:.1} percent on version {to} vs {to_:.1} percent on {from} - limit {limit}"
            ));
        }
    }
    match super::judge_extra::first_failed(&a.measures, &r.extra, old, new, from, to) {
        Some(reason) => fail(reason),
        None => Verdict::Pass,
    }
}

/// What a step whose pause has ended does with the verdict.
#[derive(Debug, Clone, PartialEq)]
pub enum AfterPause {
    Advance,
    /// Too few invocations: wait until this time (the end of `noData.wait`).
    Wait(i64),
    RollBack(String),
    /// `noData.then: hold`: stay at the weight, blocked for this reason.
    Hold(String),
}

/// A step's pause has ended (the step began at `since_ms`): advance on Pass (and always in a dry
/// run), wait out `noData.wait` on too few invocations, then follow `noData.then`. A Fail never
/// reaches here outside a dry run (it rolls back as soon as it is read).
pub fn after_pause(a: &Analysis, v: &Verdict, since_ms: i64, now: i64) -> AfterPause {
    let Verdict::Waiting { why } = v else { return AfterPause::Advance };
    if a.dry_run {
        return AfterPause::Advance;
    }
    let due = since_ms.min(now).saturating_add(a.no_data_wait_ms.min(i64::MAX as u64) as i64);
    if now < due {
        return AfterPause::Wait(due);
    }
    let waited = humantime::format_duration(std::time::Duration::from_millis(a.no_data_wait_ms));
    match a.no_data {
        NoData::Pass => AfterPause::Advance,
        NoData::Fail => AfterPause::RollBack(format!("{REASON_PREFIX}too few invocations after {waited}: {why}")),
        NoData::Hold => AfterPause::Hold(format!("too few invocations after {waited}: {why}; holding the weight")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn analysis() -> Analysis {
        Analysis {
            error_increase: 1.0,
            error_max: None,
            percentile: "p99".into(),
            duration_ratio: 1.2,
            duration_max_ms: None,
            throttle_increase: None,
            min_invocations: 100,
            period_s: 60,
            no_data_wait_ms: 600_000,
            no_data: NoData::Fail,
            dry_run: false,
            measures: vec![],
        }
    }

    fn sample(invocations: f64, errors: f64, p99: f64) -> Sample {
        Sample { invocations, errors, throttles: 0.0, duration_ms: Some(p99) }
    }

    fn judge(old: Sample, new: Sample) -> Verdict {
        verdict(&analysis(), "6", "7", &Reading { old, new, ..Default::default() })
    }

    #[test]
    fn a_new_version_as_good_as_the_old_one_passes() {
        assert_eq!(judge(sample(1000.0, 5.0, 200.0), sample(200.0, 2.0, 230.0)), Verdict::Pass);
    }

    #[test]
    fn an_error_rate_more_than_a_point_above_the_old_one_fails_naming_both_rates_and_the_limit() {
        let v = judge(sample(1000.0, 5.0, 200.0), sample(200.0, 14.0, 200.0));
        let reason = "error rate 7.0 percent on version 7 vs 0.5 percent on 6 - limit +1 point".to_string();
        assert_eq!(v, Verdict::Fail { reason });
    }

    #[test]
    fn an_absolute_error_rate_limit_fails_even_when_the_old_version_is_as_bad() {
        let a = Analysis { error_max: Some(5.0), ..analysis() };
        let v = verdict(
            &a,
            "6",
            "7",
            &Reading { old: sample(100.0, 6.0, 1.0), new: sample(100.0, 6.0, 1.0), ..Default::default() },
        );
        assert_eq!(v, Verdict::Fail { reason: "error rate 6.0 percent on version 7 - limit 5 percent".into() });
    }

    #[test]
    fn a_p99_more_than_the_ratio_above_the_old_one_fails() {
        let v = judge(sample(1000.0, 0.0, 200.0), sample(200.0, 0.0, 480.0));
        let reason = "p99 duration 480 ms on version 7 vs 200 ms on 6 - limit 1.2 times".to_string();
        assert_eq!(v, Verdict::Fail { reason });
        let a = Analysis { duration_max_ms: Some(300.0), ..analysis() };
        let r = Reading { old: sample(0.0, 0.0, 0.0), new: sample(200.0, 0.0, 301.0), ..Default::default() };
        let v = verdict(&a, "6", "7", &Reading { old: Sample { duration_ms: None, ..r.old }, ..r });
        assert_eq!(v, Verdict::Fail { reason: "p99 duration 301 ms on version 7 - limit 300 ms".into() });
    }

    #[test]
    fn a_throttle_rate_above_its_limit_fails() {
        let a = Analysis { throttle_increase: Some(2.0), ..analysis() };
        let new = Sample { throttles: 50.0, ..sample(150.0, 0.0, 1.0) };
        let v = verdict(&a, "6", "7", &Reading { old: sample(100.0, 0.0, 1.0), new, ..Default::default() });
        assert_eq!(
            v,
            Verdict::Fail {
                reason: "throttle rate 25.0 percent on version 7 vs 0.0 percent on 6 - limit +2 points".into()
            }
        );
    }

    #[test]
    fn too_few_invocations_is_no_verdict_even_when_they_all_failed() {
        let v = judge(sample(1000.0, 0.0, 1.0), sample(99.0, 99.0, 1.0));
        assert_eq!(v, Verdict::Waiting { why: "99 of 100 invocations of version 7".into() });
    }

    #[test]
    fn too_few_invocations_wait_out_no_data_wait_from_the_steps_start_then_follow_the_policy() {
        let waiting = judge(sample(0.0, 0.0, 1.0), sample(3.0, 0.0, 1.0));
        let since = 1_000_000;
        for policy in [NoData::Fail, NoData::Pass, NoData::Hold] {
            let a = Analysis { no_data: policy, ..analysis() };
            assert_eq!(after_pause(&a, &waiting, since, since + 60_000), AfterPause::Wait(since + 600_000));
        }
        let at_end =
            |policy| after_pause(&Analysis { no_data: policy, ..analysis() }, &waiting, since, since + 600_000);
        let why = "too few invocations after 10m: 3 of 100 invocations of version 7";
        assert_eq!(at_end(NoData::Fail), AfterPause::RollBack(format!("judge: {why}")));
        assert_eq!(at_end(NoData::Pass), AfterPause::Advance);
        assert_eq!(at_end(NoData::Hold), AfterPause::Hold(format!("{why}; holding the weight")));
        assert_eq!(after_pause(&analysis(), &Verdict::Pass, since, since), AfterPause::Advance);
    }

    #[test]
    fn a_marker_that_begins_in_the_future_is_judged_from_now() {
        let now = 1_796_342_400_000;
        let m = |since_ms| Marker {
            id: "r".into(),
            from: "6".into(),
            to: "7".into(),
            phase: Phase::Shifting { step: 0 },
            since_ms,
            gate: crate::types::Gate::None,
            release: None,
        };
        let s = Subject::of("f", "live", &m(now + 86_400_000), &analysis(), now);
        assert_eq!(s.start_s, now / 1000, "the step's invocations since now are counted");
        assert_eq!(s, Subject::of("f", "live", &m(now), &analysis(), now));
        assert_eq!(Subject::of("f", "live", &m(now - 90_000), &analysis(), now).start_s, now / 1000 - 120);
    }

    #[test]
    fn a_metric_answer_that_is_not_a_count_never_passes_a_version() {
        let bad = sample(200.0, 100.0, 200.0);
        for new in [
            Sample { errors: f64::NAN, ..bad },
            Sample { invocations: f64::NAN, ..bad },
            Sample { errors: -1.0, ..bad },
            Sample { duration_ms: Some(f64::NAN), errors: 0.0, ..bad },
            Sample { invocations: f64::INFINITY, ..bad },
        ] {
            let v = judge(sample(1000.0, 0.0, 200.0), new);
            assert_eq!(v, Verdict::Waiting { why: "the metrics of version 6 or 7 are not counts".into() }, "{new:?}");
        }
        let v = judge(Sample { errors: f64::NAN, ..sample(1000.0, 0.0, 200.0) }, sample(200.0, 0.0, 200.0));
        assert!(matches!(v, Verdict::Waiting { .. }), "{v:?}");
    }

    #[test]
    fn an_extra_measure_over_its_limit_fails_a_version_the_built_in_limits_pass() {
        let query = crate::types::MetricQuery::lambda("DeadLetterErrors", "Sum", crate::types::Fold::Sum);
        let m = crate::types::Measure {
            name: "DeadLetterErrors".into(),
            query,
            max_increase: None,
            max_ratio: None,
            max: Some(5.0),
            unit: "",
        };
        let a = Analysis { measures: vec![m], ..analysis() };
        let (old, new) = (sample(1000.0, 5.0, 200.0), sample(200.0, 1.0, 200.0));
        let pair = |new| crate::types::Pair { old: Some(0.0), new: Some(new) };
        let v = verdict(&a, "6", "7", &Reading { old, new, extra: vec![pair(9.0)] });
        assert_eq!(v, Verdict::Fail { reason: "DeadLetterErrors 9 on version 7 - limit 5".into() });
        assert_eq!(verdict(&a, "6", "7", &Reading { old, new, extra: vec![pair(5.0)] }), Verdict::Pass);
        let few = Reading { old, new: sample(99.0, 0.0, 200.0), extra: vec![pair(9.0)] };
        assert!(matches!(verdict(&a, "6", "7", &few), Verdict::Waiting { .. }), "minInvocations first");
    }

    #[test]
    fn a_dry_run_never_waits_on_the_judge() {
        let a = Analysis { dry_run: true, ..analysis() };
        let waiting = Verdict::Waiting { why: "3 of 100".into() };
        assert_eq!(after_pause(&a, &waiting, 0, 1), AfterPause::Advance);
        let fail = Verdict::Fail { reason: "error rate".into() };
        assert_eq!(after_pause(&a, &fail, 0, 1), AfterPause::Advance);
    }
}
