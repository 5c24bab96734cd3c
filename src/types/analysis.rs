//! The canary judge's values: a deployment's `analysis` (limits, as the manifest gives them and
//! resolved), the numbers read for the two versions, and the verdict as the view shows it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `deployment.analysis` as written in a manifest.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AnalysisSpec {
    /// Errors ÷ Invocations of the new version against the old one.
    pub error_rate: Option<ErrorRateSpec>,
    /// A Duration percentile of the new version against the old one.
    pub duration: Option<DurationSpec>,
    /// Throttles ÷ (Invocations + Throttles) of the new version against the old one.
    pub throttles: Option<ThrottlesSpec>,
    /// The new version's invocations (in the step) before a verdict (default 100, 1-1000000).
    #[schemars(range(min = 1, max = 1_000_000))]
    pub min_invocations: Option<u64>,
    /// The metrics' period: `60s` (default) or a multiple of 60 s up to `1h`; `1s`, `5s`, `10s`,
    /// `20s`, `30s` only for high-resolution metrics.
    pub period: Option<String>,
    /// What a step does with too few invocations.
    pub no_data: Option<NoDataSpec>,
    /// Compute and report the verdict, never roll back or hold on it.
    #[serde(default)]
    pub dry_run: bool,
    /// Lambda's `DeadLetterErrors` of the new version against the old one.
    pub dead_letter_errors: Option<super::DeliverySpec>,
    /// Lambda's `DestinationDeliveryFailures` of the new version against the old one.
    pub destination_delivery_failures: Option<super::DeliverySpec>,
    /// An event source mapping's `IteratorAge` (Maximum) of the new version.
    pub iterator_age: Option<super::IteratorAgeSpec>,
    /// User metric queries, read for each version (at most 10).
    #[serde(default)]
    pub queries: Vec<super::UserQuerySpec>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ErrorRateSpec {
    /// Percentage points above the old version's rate (default 1, 0-100).
    pub max_increase: Option<f64>,
    /// An absolute limit in percent (0-100).
    pub max: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DurationSpec {
    /// `p50` to `p99.9` (default `p99`).
    pub percentile: Option<String>,
    /// At most this times the old version's (default 1.2, 1-100).
    pub max_ratio: Option<f64>,
    /// An absolute limit in milliseconds (1-900000, Lambda's 15 minutes).
    pub max_ms: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ThrottlesSpec {
    /// Percentage points above the old version's throttle rate (0-100).
    pub max_increase: f64,
}

#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NoDataSpec {
    /// How long after the step's start too few invocations are waited out (default `10m`, at
    /// most `1d`).
    pub wait: Option<String>,
    /// Then: `fail` (default: roll back), `pass` (go on) or `hold` (stay at the weight, blocked).
    pub then: Option<NoData>,
}

/// What a step with too few invocations does once `noData.wait` has passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum NoData {
    Fail,
    Pass,
    Hold,
}

/// One rollout step to judge: which function, alias and versions, how, and since when (the key
/// of one reading in a region's batched GetMetricData).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Subject {
    pub function: String,
    pub alias: String,
    pub from: String,
    pub to: String,
    pub percentile: String,
    pub period_s: i32,
    /// The step's start, seconds since the epoch.
    pub start_s: i64,
    /// The extra measures' queries (`Analysis::measures`, in order).
    pub extra: Vec<super::MetricQuery>,
}

impl Subject {
    /// The subject of alias `alias`'s step (the function named as CloudWatch names it).
    /// A marker's start comes from a tag: never later than `now` (as for the pause), so a
    /// forged or clock-skewed one cannot hide the step's invocations and fail it on noData.
    pub fn of(function: &str, alias: &str, m: &super::Marker, a: &Analysis, now: i64) -> Subject {
        let period = i64::from(a.period_s.max(1));
        let since_s = m.since_ms.min(now).div_euclid(1000);
        Subject {
            function: function.to_string(),
            alias: alias.to_string(),
            from: m.from.clone(),
            to: m.to.clone(),
            percentile: a.percentile.clone(),
            period_s: a.period_s,
            // The period the step began in: CloudWatch's datapoints are per period, so this reads
            // the same, and the marker the daemon wrote (its time of writing) and the one it
            // planned (a few ms before) name the same subject, which the region's poll answers.
            start_s: since_s.div_euclid(period) * period,
            extra: a.measures.iter().map(|m| m.query.clone()).collect(),
        }
    }
}

/// A judged rollout step as the daemon's poller watches it.
#[derive(Debug, Clone, PartialEq)]
pub struct Judging {
    pub subject: Subject,
    pub analysis: Analysis,
    /// When the step's pause ends (a Pass read after it moves the rollout on); `i64::MAX` for a
    /// manual step.
    pub pause_ends_ms: i64,
    /// The verdict the last plan showed (`None`: none read yet): a poll whose verdict differs
    /// queues the function, so `/status` and the page follow the judge.
    pub shown: Option<Verdict>,
}

/// A deployment's analysis, resolved (defaults filled in).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Analysis {
    /// Error rate: points above the old one, and an absolute percent.
    pub error_increase: f64,
    pub error_max: Option<f64>,
    /// Duration percentile (`p99`), ratio to the old one, absolute milliseconds.
    pub percentile: String,
    pub duration_ratio: f64,
    pub duration_max_ms: Option<f64>,
    /// Throttle rate: points above the old one.
    pub throttle_increase: Option<f64>,
    pub min_invocations: u64,
    pub period_s: i32,
    pub no_data_wait_ms: u64,
    pub no_data: NoData,
    pub dry_run: bool,
    /// The extra measures (Lambda's delivery failures and iterator age, user queries).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub measures: Vec<super::Measure>,
}

/// One version's numbers over the analysed window (sums, and the Duration percentile in ms).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Sample {
    pub invocations: f64,
    pub errors: f64,
    pub throttles: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<f64>,
}

/// The two versions' numbers since the step began.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Reading {
    pub old: Sample,
    pub new: Sample,
    /// The extra measures' values (`Analysis::measures`, in order).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<super::Pair>,
}

/// What the judge says.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "verdict")]
pub enum Verdict {
    Pass,
    Fail { reason: String },
    Waiting { why: String },
}

/// The judge as `/status`, the page and `plan` show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JudgeView {
    #[serde(flatten)]
    pub verdict: Verdict,
    pub dry_run: bool,
    /// The numbers it was made from (absent when they could not be read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub numbers: Option<Reading>,
    /// The names of the extra measures, in the order of `numbers.extra`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub measures: Vec<String>,
}

impl JudgeView {
    /// One line: `judge: Fail (dry run): error rate …`.
    pub fn line(&self) -> String {
        let dry = if self.dry_run { " (dry run)" } else { "" };
        match &self.verdict {
            Verdict::Pass => format!("judge: Pass{dry}"),
            Verdict::Fail { reason } => format!("judge: Fail{dry}: {reason}"),
            Verdict::Waiting { why } => format!("judge: Waiting{dry}: {why}"),
        }
    }
}
