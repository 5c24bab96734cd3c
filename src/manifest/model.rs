//! The typed manifest model (`FunctionConfig` documents), with absent/null/value tri-state fields.

use std::collections::BTreeMap;

use indexmap::IndexMap;
use serde::{Deserialize, Deserializer, Serialize};

pub const API_GROUP: &str = "lambda-reconciler.io/";
pub const API_VERSION: &str = "lambda-reconciler.io/v1alpha1";
pub const KIND: &str = "FunctionConfig";

/// A field that may be absent (unmanaged), `null` (ensure absent) or set (owned exactly).
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Field<T> {
    #[default]
    Absent,
    Null,
    Value(T),
}

impl<T> Field<T> {
    pub fn value(&self) -> Option<&T> {
        match self {
            Field::Value(v) => Some(v),
            _ => None,
        }
    }
    pub fn is_absent(&self) -> bool {
        matches!(self, Field::Absent)
    }
    pub fn as_ref(&self) -> Field<&T> {
        match self {
            Field::Absent => Field::Absent,
            Field::Null => Field::Null,
            Field::Value(v) => Field::Value(v),
        }
    }
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Field<U> {
        match self {
            Field::Absent => Field::Absent,
            Field::Null => Field::Null,
            Field::Value(v) => Field::Value(f(v)),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Field<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Option::<T>::deserialize(d)? {
            None => Field::Null,
            Some(v) => Field::Value(v),
        })
    }
}

impl<T: Serialize> Serialize for Field<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Field::Value(v) => v.serialize(s),
            _ => s.serialize_none(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Document {
    pub api_version: String,
    pub kind: String,
    pub metadata: Metadata,
    pub spec: Spec,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metadata {
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum DriftPolicy {
    #[default]
    Correct,
    Alert,
}

/// What happens to the configuration a manifest owned when the manifest is removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum DeletionPolicy {
    /// Leave it as it is and stop managing it.
    #[default]
    Retain,
    /// Remove provisioned concurrency, scalable targets, event invoke configs and reserved
    /// concurrency it declared (and its aliases when `prune: true`), then forget it.
    Delete,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Spec {
    pub function_name: Option<String>,
    pub region: Option<String>,
    #[serde(default)]
    pub drift_policy: DriftPolicy,
    #[serde(default)]
    pub ignore_differences: Vec<String>,
    #[serde(default)]
    pub prune: bool,
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
    #[serde(default)]
    pub environment: Field<Environment>,
    #[serde(default)]
    pub reserved_concurrency: Field<i64>,
    #[serde(default)]
    pub event_invoke_config: Field<EventInvokeConfig>,
    #[serde(default)]
    pub aliases: IndexMap<String, Alias>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Environment {
    #[serde(default)]
    pub variables: IndexMap<String, EnvValue>,
}

/// A literal value or a reference to an SSM parameter.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum EnvValue {
    Literal(Scalar),
    FromSsm(FromSsm),
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FromSsm {
    pub from_ssm: String,
}

/// A YAML scalar used as a string (numbers and booleans are written as text).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Scalar {
    pub fn as_text(&self) -> String {
        match self {
            Scalar::Str(s) => s.clone(),
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Bool(b) => b.to_string(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventInvokeConfig {
    pub maximum_retry_attempts: Option<i64>,
    pub maximum_event_age_in_seconds: Option<i64>,
    pub destinations: Option<Destinations>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Destinations {
    pub on_success: Option<String>,
    pub on_failure: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Alias {
    pub function_version: Scalar,
    pub description: Option<String>,
    /// Absent: unmanaged. `{}` or `null`: no weights.
    #[serde(default)]
    pub routing: Field<BTreeMap<String, f64>>,
    #[serde(default)]
    pub provisioned_concurrency: Field<i64>,
    #[serde(default)]
    pub autoscaling: Field<Autoscaling>,
    #[serde(default)]
    pub event_invoke_config: Field<EventInvokeConfig>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Autoscaling {
    pub min_capacity: i64,
    pub max_capacity: i64,
    pub target_utilization: Option<f64>,
    #[serde(default)]
    pub scheduled_actions: Vec<ScheduledAction>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScheduledAction {
    pub name: String,
    pub schedule: String,
    pub min_capacity: Option<i64>,
    pub max_capacity: Option<i64>,
    pub timezone: Option<String>,
}
