//! The canary judge's extra measures (Lambda's delivery failures and iterator age, user metric
//! queries): the reason the first one crossed gives, if any. Pure.

use crate::types::{Measure, Pair, Sample};

/// A value as the reason shows it: at most two decimals, none for a whole number.
fn num(v: f64) -> String {
    format!("{}", (v * 100.0).round() / 100.0)
}

fn percent(part: f64, whole: f64) -> f64 {
    if whole > 0.0 {
        100.0 * part / whole
    } else {
        0.0
    }
}

/// The reason measure `m` fails version `to` against `from`, or `None`. A new version without
/// a datapoint is not judged on it; an old one without (or at 0) limits only by `max`.
fn failed(m: &Measure, p: &Pair, old: &Sample, new: &Sample, from: &str, to: &str) -> Option<String> {
    let (name, unit) = (&m.name, m.unit);
    let vn = p.new?;
    if let Some(inc) = m.max_increase {
        let (ro, rn) = (percent(p.old.unwrap_or(0.0), old.invocations), percent(vn, new.invocations));
        if rn > ro + inc {
            let s = if inc == 1.0 { "" } else { "s" };
            return Some(format!(
                "{name} {rn:.1} percent of invocations on version {to} vs {ro:.1} percent on {from} - limit +{inc} point{s}"
            ));
        }
    }
    if let (Some(ratio), Some(vo)) = (m.max_ratio, p.old.filter(|v| *v > 0.0)) {
        if vn > vo * ratio {
            let (vn, vo) = (num(vn), num(vo));
            return Some(format!("{name} {vn}{unit} on version {to} vs {vo}{unit} on {from} - limit {ratio} times"));
        }
    }
    if let Some(max) = m.max.filter(|max| vn > *max) {
        return Some(format!("{name} {}{unit} on version {to} - limit {}{unit}", num(vn), num(max)));
    }
    None
}

/// The reason the first measure crossed its limits gives, or `None`.
pub(super) fn first_failed(
    measures: &[Measure],
    extra: &[Pair],
    old: &Sample,
    new: &Sample,
    from: &str,
    to: &str,
) -> Option<String> {
    measures.iter().zip(extra).find_map(|(m, p)| failed(m, p, old, new, from, to))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Fold, MetricQuery};

    fn measure(name: &str, max_increase: Option<f64>, max_ratio: Option<f64>, max: Option<f64>) -> Measure {
        let unit = if name == "IteratorAge" { " ms" } else { "" };
        let query = MetricQuery::lambda(name, "Sum", Fold::Sum);
        Measure { name: name.into(), query, max_increase, max_ratio, max, unit }
    }

    fn invocations(n: f64) -> Sample {
        Sample { invocations: n, ..Sample::default() }
    }

    fn judge(m: &Measure, old: Option<f64>, new: Option<f64>) -> Option<String> {
        failed(m, &Pair { old, new }, &invocations(1000.0), &invocations(200.0), "6", "7")
    }

    #[test]
    fn dead_letter_errors_per_invocation_above_the_old_versions_fail_and_within_pass() {
        let m = measure("DeadLetterErrors", Some(1.0), None, None);
        assert_eq!(
            judge(&m, Some(10.0), Some(6.0)).as_deref(),
            Some("DeadLetterErrors 3.0 percent of invocations on version 7 vs 1.0 percent on 6 - limit +1 point")
        );
        assert_eq!(judge(&m, Some(10.0), Some(4.0)), None, "2 percent is within 1 + 1 points");
        assert_eq!(judge(&m, None, None), None, "no datapoint: no failed delivery published");
    }

    #[test]
    fn destination_delivery_failures_above_an_absolute_count_fail_and_within_pass() {
        let m = measure("DestinationDeliveryFailures", None, None, Some(5.0));
        assert_eq!(
            judge(&m, Some(0.0), Some(6.0)).as_deref(),
            Some("DestinationDeliveryFailures 6 on version 7 - limit 5")
        );
        assert_eq!(judge(&m, Some(100.0), Some(5.0)), None);
    }

    #[test]
    fn an_iterator_age_above_its_ratio_or_its_milliseconds_fails_and_within_passes() {
        let m = measure("IteratorAge", None, Some(2.0), Some(60_000.0));
        assert_eq!(
            judge(&m, Some(1000.0), Some(2500.0)).as_deref(),
            Some("IteratorAge 2500 ms on version 7 vs 1000 ms on 6 - limit 2 times")
        );
        assert_eq!(judge(&m, Some(1000.0), Some(1999.0)), None);
        assert_eq!(
            judge(&m, None, Some(60_001.0)).as_deref(),
            Some("IteratorAge 60001 ms on version 7 - limit 60000 ms")
        );
        assert_eq!(judge(&m, Some(0.0), Some(59_000.0)), None, "an old value of 0 limits nothing by ratio");
    }

    #[test]
    fn a_user_query_above_its_ratio_or_max_fails_and_within_passes() {
        let m = measure("payment failures", None, Some(1.5), Some(100.0));
        assert_eq!(
            judge(&m, Some(10.0), Some(15.5)).as_deref(),
            Some("payment failures 15.5 on version 7 vs 10 on 6 - limit 1.5 times")
        );
        assert_eq!(judge(&m, Some(10.0), Some(15.0)), None);
        assert_eq!(
            judge(&m, Some(90.0), Some(100.25)).as_deref(),
            Some("payment failures 100.25 on version 7 - limit 100")
        );
        assert_eq!(judge(&m, Some(90.0), None), None, "no datapoint of the new version: not judged on it");
    }
}
