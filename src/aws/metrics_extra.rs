//! The canary judge's extra measures in the region's GetMetricData: a query per measure and
//! version, the step's value from its periods, and how many subjects fit in one call.

use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};

use crate::types::{Fold, MetricQuery, Subject};

/// The queries a subject asks: 4 Lambda metrics × 2 versions, and 2 per extra measure.
pub fn cost(s: &Subject) -> usize {
    8 + 2 * s.extra.len()
}

/// `subjects` cut into calls of at most `max` queries each, in order (a subject never spans
/// two calls; one costs at most 34, far below 500).
pub fn batches(subjects: &[Subject], max: usize) -> Vec<&[Subject]> {
    let mut out = vec![];
    let (mut start, mut used) = (0, 0);
    for (i, s) in subjects.iter().enumerate() {
        if used + cost(s) > max && i > start {
            out.push(&subjects[start..i]);
            (start, used) = (i, 0);
        }
        used += cost(s);
    }
    if start < subjects.len() {
        out.push(&subjects[start..]);
    }
    out
}

/// The query `id` of `q` for version `version` of subject `s`.
pub fn query(s: &Subject, q: &MetricQuery, id: String, version: &str) -> MetricDataQuery {
    let mut m = Metric::builder().namespace(&q.namespace).metric_name(&q.metric);
    for (n, v) in q.filled(&s.function, &s.alias, version) {
        m = m.dimensions(Dimension::builder().name(n).value(v).build());
    }
    let stat = MetricStat::builder().metric(m.build()).period(s.period_s).stat(&q.stat).build();
    MetricDataQuery::builder().id(id).metric_stat(stat).return_data(true).build()
}

/// The step's value from the points of the periods that overlap it (`None`: no datapoint). A
/// point that is not a finite number is left out.
pub fn fold(points: &[(i64, f64)], how: Fold, period_s: i32, start_s: i64) -> Option<f64> {
    let values: Vec<f64> = points
        .iter()
        .filter(|(t, v)| t.saturating_add(i64::from(period_s)) > start_s && v.is_finite())
        .map(|(_, v)| *v)
        .collect();
    if values.is_empty() {
        return None;
    }
    let n = values.len() as f64;
    Some(match how {
        Fold::Sum => values.iter().sum::<f64>() + 0.0,
        Fold::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        Fold::Min => values.iter().copied().fold(f64::INFINITY, f64::min),
        Fold::Mean => values.iter().sum::<f64>() / n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subject(extra: usize) -> Subject {
        Subject {
            function: "f".into(),
            alias: "live".into(),
            from: "1".into(),
            to: "2".into(),
            percentile: "p99".into(),
            period_s: 60,
            start_s: 0,
            extra: vec![MetricQuery::lambda("IteratorAge", "Maximum", Fold::Max); extra],
        }
    }

    #[test]
    fn subjects_are_cut_into_calls_of_at_most_500_queries_counting_their_extra_measures() {
        let subjects: Vec<Subject> = (0..100).map(|i| subject(i % 14)).collect();
        let calls = batches(&subjects, 500);
        assert_eq!(calls.iter().map(|c| c.len()).sum::<usize>(), 100);
        for c in &calls {
            assert!(c.iter().map(cost).sum::<usize>() <= 500, "{}", c.iter().map(cost).sum::<usize>());
        }
        let plain: Vec<Subject> = (0..62).map(|_| subject(0)).collect();
        assert_eq!(batches(&plain, 500).len(), 1, "62 rollouts of 8 queries are one call");
        let more: Vec<Subject> = (0..63).map(|_| subject(0)).collect();
        assert_eq!(batches(&more, 500).len(), 2);
        let heavy: Vec<Subject> = (0..15).map(|_| subject(13)).collect();
        assert_eq!(batches(&heavy, 500).iter().map(|c| c.len()).collect::<Vec<_>>(), vec![14, 1]);
    }

    #[test]
    fn a_measure_folds_the_periods_of_the_step() {
        let p = [(0, 9.0), (60, 2.0), (120, f64::NAN), (180, 4.0)];
        assert_eq!(fold(&p, Fold::Sum, 60, 90), Some(6.0));
        assert_eq!(fold(&p, Fold::Max, 60, 90), Some(4.0));
        assert_eq!(fold(&p, Fold::Min, 60, 90), Some(2.0));
        assert_eq!(fold(&p, Fold::Mean, 60, 90), Some(3.0));
        assert_eq!(fold(&p, Fold::Max, 60, 600), None);
    }

    #[test]
    fn a_query_fills_the_placeholders_for_each_version() {
        let s = subject(0);
        let q = query(&s, &MetricQuery::lambda("DeadLetterErrors", "Sum", Fold::Sum), "s0ox0".into(), "2");
        let m = q.metric_stat().unwrap().metric().unwrap();
        let dims: Vec<(&str, &str)> = m.dimensions().iter().map(|d| (d.name().unwrap(), d.value().unwrap())).collect();
        assert_eq!(dims, vec![("FunctionName", "f"), ("Resource", "f:live"), ("ExecutedVersion", "2")]);
    }
}
