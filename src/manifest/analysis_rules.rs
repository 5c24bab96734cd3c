//! Validation of a deployment's `analysis` (the canary judge) with its bounds, and its
//! resolution with the defaults.

use std::time::Duration;

use crate::types::{Analysis, AnalysisSpec, NoData};

pub const DEFAULT_MIN_INVOCATIONS: u64 = 100;
pub const MAX_MIN_INVOCATIONS: u64 = 1_000_000;
pub const DEFAULT_PERIOD_S: i32 = 60;
/// The longest period: the judge reads at most the last 3 h of a step (see `aws::metrics`).
pub const MAX_PERIOD_S: i32 = 3600;
/// CloudWatch's MetricStat.Period: "For high-resolution metrics ... the period can be 1, 5, 10,
/// 20, 30, 60, or any multiple of 60" (a regular metric's "must be a multiple of 60").
pub const HIGH_RESOLUTION_PERIODS: [i32; 5] = [1, 5, 10, 20, 30];
pub const DEFAULT_NO_DATA_WAIT: Duration = Duration::from_secs(600);
pub const MAX_NO_DATA_WAIT: Duration = Duration::from_secs(24 * 3600);
/// Lambda's own limit on an invocation, the largest useful absolute Duration limit.
pub const MAX_DURATION_MS: f64 = 900_000.0;

/// `pNN` or `pNN.N` as CloudWatch spells an extended statistic: what `f64` parses beyond that
/// (`p5e1`, `p+99`, `p99.`) CloudWatch refuses, failing the region's whole GetMetricData.
fn percentile_ok(p: &str) -> bool {
    let Some(n) = p.strip_prefix('p') else { return false };
    let (int, decimals) = n.split_once('.').map_or((n, None), |(i, d)| (i, Some(d)));
    let digits = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_digit());
    digits(int, 2)
        && decimals.is_none_or(|d| digits(d, 1))
        && n.parse::<f64>().is_ok_and(|v| (50.0..=99.9).contains(&v))
}

fn period(full: &str) -> Result<i32, String> {
    let text: String = full.chars().take(32).collect(); // errors quote a short excerpt
    let text = text.as_str();
    let d = humantime::parse_duration(full).map_err(|_| format!("`{text}` is not a duration like `60s` or `5m`"))?;
    let s = i32::try_from(d.as_secs()).unwrap_or(i32::MAX);
    let fits = d.subsec_nanos() == 0 && (HIGH_RESOLUTION_PERIODS.contains(&s) || (s > 0 && s % 60 == 0));
    if !fits {
        return Err(format!(
            "`{text}`: CloudWatch's period is 60s or a multiple of 60s (1s, 5s, 10s, 20s, 30s for high-resolution metrics)"
        ));
    }
    if s > MAX_PERIOD_S {
        return Err(format!("`{text}`: at most 1h"));
    }
    Ok(s)
}

fn range(err: &mut dyn FnMut(&str, String), field: &str, v: Option<f64>, lo: f64, hi: f64) {
    if let Some(v) = v.filter(|v| !(v.is_finite() && *v >= lo && *v <= hi)) {
        err(field, format!("{v} is outside {lo}-{hi}"));
    }
}

/// Checks `a`; `err(field, message)` takes paths relative to `analysis`.
pub fn check(a: &AnalysisSpec, err: &mut dyn FnMut(&str, String)) {
    if let Some(e) = &a.error_rate {
        range(err, "errorRate.maxIncrease", e.max_increase, 0.0, 100.0);
        range(err, "errorRate.max", e.max, 0.0, 100.0);
    }
    if let Some(d) = &a.duration {
        if let Some(p) = d.percentile.as_deref().filter(|p| !percentile_ok(p)) {
            let p: String = p.chars().take(16).collect();
            err("duration.percentile", format!("`{p}` is not a percentile from p50 to p99.9 (like p95, p99, p99.9)"));
        }
        range(err, "duration.maxRatio", d.max_ratio, 1.0, 100.0);
        range(err, "duration.maxMs", d.max_ms, 1.0, MAX_DURATION_MS);
    }
    if let Some(t) = &a.throttles {
        range(err, "throttles.maxIncrease", Some(t.max_increase), 0.0, 100.0);
    }
    if let Some(n) = a.min_invocations.filter(|n| *n == 0 || *n > MAX_MIN_INVOCATIONS) {
        err("minInvocations", format!("{n} is outside 1-{MAX_MIN_INVOCATIONS}"));
    }
    if let Some(Err(m)) = a.period.as_deref().map(period) {
        err("period", m);
    }
    if let Some(w) = a.no_data.as_ref().and_then(|n| n.wait.as_deref()) {
        match humantime::parse_duration(w) {
            Err(_) => {
                err("noData.wait", format!("`{}` is not a duration like `10m`", w.chars().take(32).collect::<String>()))
            }
            Ok(d) if d > MAX_NO_DATA_WAIT => err("noData.wait", "at most 1d".into()),
            Ok(_) => {}
        }
    }
    super::analysis_query_rules::check(a, err, percentile_ok);
}

/// The analysis of a valid `spec`, defaults filled in.
pub fn resolve(spec: &AnalysisSpec) -> Analysis {
    let e = spec.error_rate.as_ref();
    let d = spec.duration.as_ref();
    let wait = spec.no_data.as_ref().and_then(|n| n.wait.as_deref()).and_then(|w| humantime::parse_duration(w).ok());
    Analysis {
        error_increase: e.and_then(|e| e.max_increase).unwrap_or(1.0),
        error_max: e.and_then(|e| e.max),
        percentile: d.and_then(|d| d.percentile.clone()).unwrap_or_else(|| "p99".into()),
        duration_ratio: d.and_then(|d| d.max_ratio).unwrap_or(1.2),
        duration_max_ms: d.and_then(|d| d.max_ms),
        throttle_increase: spec.throttles.as_ref().map(|t| t.max_increase),
        min_invocations: spec.min_invocations.unwrap_or(DEFAULT_MIN_INVOCATIONS),
        period_s: spec.period.as_deref().and_then(|p| period(p).ok()).unwrap_or(DEFAULT_PERIOD_S),
        no_data_wait_ms: wait.unwrap_or(DEFAULT_NO_DATA_WAIT).min(MAX_NO_DATA_WAIT).as_millis() as u64,
        no_data: spec.no_data.as_ref().and_then(|n| n.then).unwrap_or(NoData::Fail),
        dry_run: spec.dry_run,
        measures: super::analysis_query_rules::resolve(spec),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::load::load_file;

    const HEAD: &str = "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: fn\nspec:\n  aliases:\n    live:\n      functionVersion: \"7\"\n      deployment:\n        steps: [{weight: 10, pause: 1m}]\n        analysis:\n";

    /// (field, line, message) of each error of an analysis body (it starts on line 12).
    fn errors(body: &str) -> Vec<(String, usize, String)> {
        let errs = load_file(Path::new("m.yaml"), &format!("{HEAD}{body}")).err().unwrap_or_default();
        errs.into_iter().map(|e| (e.field, e.line, e.message)).collect()
    }

    #[track_caller]
    fn one(body: &str, field: &str, line: usize, needle: &str) {
        let errs = errors(body);
        let full = format!("spec.aliases.live.deployment.analysis.{field}");
        let e = errs.iter().find(|e| e.0 == full).unwrap_or_else(|| panic!("no error on {full}: {errs:#?}"));
        assert_eq!(e.1, line, "{e:?}");
        assert!(e.2.contains(needle), "{e:?}");
    }

    #[test]
    fn an_analysis_out_of_its_bounds_is_refused_at_each_fields_line() {
        one("          errorRate: {maxIncrease: 101}\n", "errorRate.maxIncrease", 12, "outside 0-100");
        one("          duration: {percentile: p100}\n", "duration.percentile", 12, "p50 to p99.9");
        for odd in ["p5e1", "p+99", "p99.", "p099", "p9.9e1"] {
            one(&format!("          duration: {{percentile: \"{odd}\"}}\n"), "duration.percentile", 12, "p50 to p99.9");
        }
        for good in ["p50", "p95", "p99", "p99.9"] {
            assert_eq!(errors(&format!("          duration: {{percentile: {good}}}\n")), vec![], "{good}");
        }
        one("          duration: {maxRatio: 0.5}\n", "duration.maxRatio", 12, "outside 1-100");
        one("          duration: {maxMs: 1000000}\n", "duration.maxMs", 12, "outside 1-900000");
        one("          throttles: {maxIncrease: -1}\n", "throttles.maxIncrease", 12, "outside 0-100");
        one("          minInvocations: 0\n", "minInvocations", 12, "outside 1-1000000");
        one("          noData: {wait: 2d}\n", "noData.wait", 12, "at most 1d");
    }

    #[test]
    fn a_period_follows_cloudwatchs_rules() {
        for bad in ["90s", "7s", "2h", "0s"] {
            one(&format!("          period: {bad}\n"), "period", 12, "");
        }
        one("          period: 90s\n", "period", 12, "multiple of 60s");
        for good in ["1s", "5s", "10s", "20s", "30s", "60s", "5m", "1h"] {
            assert_eq!(errors(&format!("          period: {good}\n")), vec![], "{good}");
        }
    }

    #[test]
    fn an_analysis_without_a_step_to_watch_is_refused() {
        let text = HEAD.replace("steps: [{weight: 10, pause: 1m}]", "strategy: AllAtOnce");
        let errs = load_file(Path::new("m.yaml"), &format!("{text}          dryRun: true\n")).err().unwrap_or_default();
        assert!(
            errs.iter().any(|e| e.field == "spec.aliases.live.deployment.analysis" && e.message.contains("step")),
            "{errs:#?}"
        );
    }

    #[test]
    fn an_analysis_resolves_with_its_defaults() {
        let ms = load_file(Path::new("m.yaml"), &format!("{HEAD}          dryRun: true\n")).unwrap();
        let d = super::super::deploy_rules::resolve(ms[0].doc.spec.aliases["live"].deployment.as_ref().unwrap());
        let a = d.analysis.unwrap();
        assert_eq!((a.error_increase, a.percentile.as_str(), a.duration_ratio), (1.0, "p99", 1.2));
        assert_eq!((a.min_invocations, a.period_s, a.no_data_wait_ms, a.dry_run), (100, 60, 600_000, true));
        assert_eq!(a.no_data, crate::types::NoData::Fail);
    }
}
