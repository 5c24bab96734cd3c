//! Lambda's own metrics per version for the canary judge: one GetMetricData (up to 500 queries,
//! every page) answers every judged rollout of a region, and its answer is kept for the poll.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricDataResult, MetricStat, StatusCode};

use super::call::{AwsError, Caller, ErrorClass};
use super::pages;
use crate::types::{Pair, Reading, Sample, Subject};

/// GetMetricData: "You can include up to 500 MetricDataQuery structures in each request".
pub const MAX_QUERIES_PER_CALL: usize = 500;
/// The judge reads at most the last 3 hours of a step (at a 60 s period, 180 points a query:
/// a full call stays under GetMetricData's 100,800 data points).
pub const MAX_WINDOW_S: i64 = 3 * 3600;
const OP: &str = "cloudwatch:GetMetricData";
const METRICS: [&str; 4] = ["Invocations", "Errors", "Throttles", "Duration"];

/// The 8 queries' builder of a subject.
trait Queries {
    fn query(&self, id: String, version: &str, metric: &str) -> MetricDataQuery;
}

impl Queries for Subject {
    fn query(&self, id: String, version: &str, metric: &str) -> MetricDataQuery {
        let dim = |n: &str, v: &str| Dimension::builder().name(n).value(v).build();
        let m = Metric::builder()
            .namespace("AWS/Lambda")
            .metric_name(metric)
            .dimensions(dim("FunctionName", &self.function))
            .dimensions(dim("Resource", &format!("{}:{}", self.function, self.alias)))
            .dimensions(dim("ExecutedVersion", version))
            .build();
        let stat = if metric == "Duration" { self.percentile.as_str() } else { "Sum" };
        let stat = MetricStat::builder().metric(m).period(self.period_s).stat(stat).build();
        MetricDataQuery::builder().id(id).metric_stat(stat).return_data(true).build()
    }
}

/// Datapoints of one query: (timestamp in seconds, value).
type Points = Vec<(i64, f64)>;

/// A query's id and points. A result AWS could not answer (`InternalError`, `Forbidden`) fails
/// the read: its empty points are not "no invocations" (which `noData` would roll back on).
fn points_of(r: &MetricDataResult) -> Result<(String, Points), AwsError> {
    match r.status_code() {
        None | Some(StatusCode::Complete | StatusCode::PartialData) => {
            let ts = r.timestamps().iter().map(DateTime::secs);
            Ok((r.id().unwrap_or_default().to_string(), ts.zip(r.values().iter().copied()).collect()))
        }
        Some(code) => Err(AwsError {
            operation: OP,
            code: format!("Result{}", code.as_str()),
            message: format!("query {} was not answered", crate::types::tag_safe(r.id().unwrap_or_default(), 16)),
            status: None,
            class: ErrorClass::Transient,
        }),
    }
}

/// Each query's points over every page: one value per period (a period a page repeats counts once).
fn merged(items: Vec<(String, Points)>) -> BTreeMap<String, Points> {
    let mut by_id: BTreeMap<String, BTreeMap<i64, f64>> = BTreeMap::new();
    for (id, points) in items {
        let periods = by_id.entry(id).or_default();
        for (t, v) in points {
            periods.entry(t).or_insert(v);
        }
    }
    by_id.into_iter().map(|(id, p)| (id, p.into_iter().collect())).collect()
}

/// One version's sample from its 4 queries' points, counting the periods that overlap the step.
fn sample(points: &[&Points], period_s: i32, start_s: i64) -> Sample {
    // A point that is not a finite count (NaN, infinite, negative) is no datapoint at all.
    let within = |p: &Points| -> Points {
        p.iter()
            .copied()
            .filter(|(t, v)| t.saturating_add(i64::from(period_s)) > start_s && v.is_finite() && *v >= 0.0)
            .collect()
    };
    // `+ 0.0`: the sum of nothing is -0.0, shown as such.
    let sum = |p: &Points| within(p).iter().map(|(_, v)| v).sum::<f64>() + 0.0;
    let invocations = within(points[0]);
    // The percentile over the window: each period's, weighted by its invocations.
    let (mut weighted, mut weights) = (0.0, 0.0);
    for (t, d) in within(points[3]) {
        let w = invocations.iter().find(|(ti, _)| *ti == t).map_or(1.0, |(_, n)| n.max(1.0));
        weighted += d * w;
        weights += w;
    }
    Sample {
        invocations: sum(points[0]),
        errors: sum(points[1]),
        throttles: sum(points[2]),
        duration_ms: (weights > 0.0).then(|| weighted / weights),
    }
}

/// The call's StartTime and EndTime for steps that began at `earliest` at the latest: at most
/// [`MAX_WINDOW_S`] back, and never after now (a marker's start from a tag, or a replica's clock
/// ahead, must not make StartTime pass EndTime: AWS refuses the whole region's call then).
fn window(earliest: i64, now: i64) -> (i64, i64) {
    let start = earliest.clamp(now.saturating_sub(MAX_WINDOW_S), now).div_euclid(60) * 60;
    (start, now.div_euclid(60) * 60 + 120)
}

/// A poll's readings: when, how long they stand in for a read, and the readings.
type Polled = (Instant, Duration, BTreeMap<Subject, Reading>);

#[derive(Clone)]
pub struct Metrics {
    client: aws_sdk_cloudwatch::Client,
    caller: Caller,
    /// The readings of the region's last poll, when, and how long they stand in for a read.
    polled: Arc<Mutex<Option<Polled>>>,
}

impl Metrics {
    pub fn new(config: &aws_config::SdkConfig, caller: Caller) -> Self {
        Metrics { client: aws_sdk_cloudwatch::Client::new(config), caller, polled: Arc::default() }
    }

    /// One GetMetricData (every page) for subjects of at most 500 queries.
    async fn call(&self, subjects: &[Subject]) -> Result<BTreeMap<Subject, Reading>, AwsError> {
        let now = crate::types::now_ms().div_euclid(1000);
        let (start, end) = window(subjects.iter().map(|s| s.start_s).min().unwrap_or(now), now);
        let mut queries = vec![];
        for (i, s) in subjects.iter().enumerate() {
            for (v, version) in [("o", &s.from), ("n", &s.to)] {
                for (k, metric) in METRICS.iter().enumerate() {
                    queries.push(s.query(format!("s{i}{v}{k}"), version, metric));
                }
                for (j, q) in s.extra.iter().enumerate() {
                    queries.push(super::metrics_extra::query(s, q, format!("s{i}{v}x{j}"), version));
                }
            }
        }
        let items = pages::all(OP, |token| {
            let queries = queries.clone();
            async move {
                let page = self
                    .caller
                    .call(OP, || {
                        self.client
                            .get_metric_data()
                            .set_metric_data_queries(Some(queries.clone()))
                            .start_time(DateTime::from_secs(start))
                            .end_time(DateTime::from_secs(end))
                            .set_next_token(token.clone())
                            .send()
                    })
                    .await?;
                let items = page.metric_data_results().iter().map(points_of).collect::<Result<Vec<_>, _>>()?;
                Ok((items, page.next_token().map(str::to_string)))
            }
        })
        .await?;
        let by_id = merged(items);
        let none = Points::new();
        let mut out = BTreeMap::new();
        for (i, s) in subjects.iter().enumerate() {
            let of = |v: &str| -> Vec<&Points> {
                (0..4).map(|k| by_id.get(&format!("s{i}{v}{k}")).unwrap_or(&none)).collect()
            };
            let extra = |v: &str, j: usize| {
                let points = by_id.get(&format!("s{i}{v}x{j}")).unwrap_or(&none);
                super::metrics_extra::fold(points, s.extra[j].fold, s.period_s, s.start_s)
            };
            let reading = Reading {
                old: sample(&of("o"), s.period_s, s.start_s),
                new: sample(&of("n"), s.period_s, s.start_s),
                extra: (0..s.extra.len()).map(|j| Pair { old: extra("o", j), new: extra("n", j) }).collect(),
            };
            out.insert(s.clone(), reading);
        }
        Ok(out)
    }

    /// The readings of `subjects`: one call per 500 of their queries (62 subjects without extra
    /// measures).
    pub async fn fetch(&self, subjects: &[Subject]) -> Result<BTreeMap<Subject, Reading>, AwsError> {
        let mut out = BTreeMap::new();
        for chunk in super::metrics_extra::batches(subjects, MAX_QUERIES_PER_CALL) {
            out.extend(self.call(chunk).await?);
        }
        Ok(out)
    }

    /// [`Metrics::fetch`] of every judged rollout of the region, polled `every`: kept until two
    /// more polls could have answered (each as slow as this one), so that the reconciles of the
    /// rollouts read this answer instead of calling again.
    pub async fn poll(&self, subjects: &[Subject], every: Duration) -> Result<BTreeMap<Subject, Reading>, AwsError> {
        let began = Instant::now();
        let readings = self.fetch(subjects).await?;
        let fresh_for = (every + began.elapsed()) * 2;
        *self.polled.lock().unwrap() = Some((Instant::now(), fresh_for, readings.clone()));
        Ok(readings)
    }

    /// The readings of `subjects`: from a fresh poll when it has them all, else one read.
    pub async fn readings(&self, subjects: &[Subject]) -> Result<BTreeMap<Subject, Reading>, AwsError> {
        let cached = {
            let guard = self.polled.lock().unwrap();
            guard.as_ref().filter(|(at, fresh, _)| at.elapsed() <= *fresh).and_then(|(_, _, r)| {
                subjects.iter().map(|s| Some((s.clone(), r.get(s)?.clone()))).collect::<Option<BTreeMap<_, _>>>()
            })
        };
        match cached {
            Some(r) => Ok(r),
            None => self.fetch(subjects).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_counts_the_periods_of_the_step_and_weights_the_percentile_by_invocations() {
        let inv: Points = vec![(0, 1000.0), (60, 100.0), (120, 300.0)];
        let err: Points = vec![(0, 500.0), (60, 1.0), (120, 2.0)];
        let dur: Points = vec![(0, 9999.0), (60, 100.0), (120, 200.0)];
        let s = sample(&[&inv, &err, &Points::new(), &dur], 60, 90);
        assert_eq!((s.invocations, s.errors, s.throttles), (400.0, 3.0, 0.0));
        assert_eq!(s.duration_ms, Some(175.0));
    }

    #[test]
    fn a_step_that_begins_in_the_future_still_asks_a_window_that_starts_before_it_ends() {
        let now = 1_796_342_400;
        for earliest in [now + 10 * 86_400, i64::MAX, now, now - 600, i64::MIN] {
            let (start, end) = window(earliest, now);
            assert!(start < end && start <= now && end - start <= MAX_WINDOW_S + 180, "{earliest}: {start}..{end}");
        }
        assert_eq!(window(now - 600, now), (now - 600, now + 120));
    }

    #[test]
    fn a_result_aws_could_not_answer_fails_the_read_instead_of_counting_no_invocations() {
        let result = |code: StatusCode| {
            MetricDataResult::builder()
                .id("s0n0")
                .status_code(code)
                .timestamps(DateTime::from_secs(60))
                .values(5.0)
                .build()
        };
        for code in [StatusCode::InternalError, StatusCode::Forbidden] {
            let e = points_of(&result(code.clone())).unwrap_err();
            assert_eq!(e.code, format!("Result{}", code.as_str()));
        }
        for code in [StatusCode::Complete, StatusCode::PartialData] {
            assert_eq!(points_of(&result(code)).unwrap(), ("s0n0".to_string(), vec![(60, 5.0)]));
        }
    }

    #[test]
    fn a_period_two_pages_repeat_counts_once() {
        let page = |v: f64| ("s0n1".to_string(), vec![(0, v), (60, v)]);
        let by_id = merged(vec![page(5.0), page(5.0), ("s0n1".to_string(), vec![(120, 1.0)])]);
        assert_eq!(by_id["s0n1"], vec![(0, 5.0), (60, 5.0), (120, 1.0)]);
    }

    #[test]
    fn a_point_that_is_not_a_finite_count_is_left_out_of_the_sample() {
        let inv: Points = vec![(0, 100.0), (60, f64::NAN), (120, -50.0)];
        let err: Points = vec![(0, 10.0), (60, f64::INFINITY), (120, f64::NAN)];
        let dur: Points = vec![(0, 100.0), (60, f64::NAN)];
        let s = sample(&[&inv, &err, &Points::new(), &dur], 60, 0);
        assert_eq!((s.invocations, s.errors, s.throttles, s.duration_ms), (100.0, 10.0, 0.0, Some(100.0)));
    }
}
