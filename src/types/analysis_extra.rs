//! The canary judge's extra measures: Lambda's `DeadLetterErrors`, `DestinationDeliveryFailures`
//! and `IteratorAge`, and user metric queries; as the manifest gives them and resolved into one
//! shape (a query per version, how its periods add up, and its limits).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `deadLetterErrors` / `destinationDeliveryFailures`: asynchronous deliveries that failed.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeliverySpec {
    /// Percentage points (failures ÷ invocations) above the old version's (0-100).
    pub max_increase: Option<f64>,
    /// An absolute limit on the new version's count in the step (0-1000000000).
    pub max: Option<f64>,
}

/// `iteratorAge`: an event source mapping's stream lag, the new version's Maximum in the step.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IteratorAgeSpec {
    /// An absolute limit in milliseconds (1-31536000000, a year).
    pub max_ms: Option<f64>,
    /// At most this times the old version's Maximum (1-100).
    pub max_ratio: Option<f64>,
}

/// A user metric query: one CloudWatch metric read for each version.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserQuerySpec {
    /// Named in the verdict (1-64 of letters, digits, space and `_.:/=+-@`; unique).
    pub name: String,
    /// The metric's namespace (1-255 characters, not starting with `:`).
    pub namespace: String,
    /// The metric's name (1-255 characters).
    pub metric: String,
    /// Dimension name to value (at most 30, as CloudWatch); `{function}`, `{alias}` and
    /// `{version}` in a value are filled in for each version.
    #[serde(default)]
    pub dimensions: BTreeMap<String, String>,
    /// `Sum` (default), `SampleCount`, `Average`, `Minimum`, `Maximum`, or `p50`…`p99.9`.
    pub stat: Option<String>,
    /// At most this times the old version's value (1-1000; only when the old value is above 0).
    pub max_ratio: Option<f64>,
    /// An absolute limit on the new version's value.
    pub max: Option<f64>,
}

/// How a query's periods make the step's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Fold {
    /// Summed (Sum, SampleCount).
    Sum,
    /// The largest period's (Maximum).
    Max,
    /// The smallest period's (Minimum).
    Min,
    /// The periods' mean (Average, a percentile).
    Mean,
}

/// One metric of a version to read: `{function}`, `{alias}` and `{version}` in the dimension
/// values are filled in for each version.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricQuery {
    pub namespace: String,
    pub metric: String,
    pub dimensions: Vec<(String, String)>,
    pub stat: String,
    pub fold: Fold,
}

impl MetricQuery {
    /// A Lambda metric of the version on the alias (FunctionName, Resource, ExecutedVersion).
    pub fn lambda(metric: &str, stat: &str, fold: Fold) -> MetricQuery {
        let d = |n: &str, v: &str| (n.to_string(), v.to_string());
        MetricQuery {
            namespace: "AWS/Lambda".into(),
            metric: metric.into(),
            dimensions: vec![
                d("FunctionName", "{function}"),
                d("Resource", "{function}:{alias}"),
                d("ExecutedVersion", "{version}"),
            ],
            stat: stat.into(),
            fold,
        }
    }

    /// The dimensions of version `version` of `function`'s alias `alias`.
    pub fn filled(&self, function: &str, alias: &str, version: &str) -> Vec<(String, String)> {
        let fill = |v: &str| v.replace("{function}", function).replace("{alias}", alias).replace("{version}", version);
        self.dimensions.iter().map(|(n, v)| (n.clone(), fill(v))).collect()
    }
}

/// An extra measure's limits: points of (value ÷ invocations) above the old version's, times
/// the old version's value, and an absolute maximum (with its unit in the reason).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Measure {
    /// How the verdict names it (`DeadLetterErrors`, a query's name).
    pub name: String,
    pub query: MetricQuery,
    pub max_increase: Option<f64>,
    pub max_ratio: Option<f64>,
    pub max: Option<f64>,
    /// ` ms` for a time, empty for a count.
    pub unit: &'static str,
}

/// An extra measure's values for the two versions (`None`: no datapoint in the step).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Pair {
    pub old: Option<f64>,
    pub new: Option<f64>,
}
