//! Event source mappings (SQS, Kinesis, DynamoDB streams) the product manages, keyed by source
//! ARN and target qualifier, with their settings keyed by the manifest's field names.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A mapping's settings; `None` is unmanaged (desired) or absent (observed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MappingConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<i64>,
    /// MaximumBatchingWindowInSeconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum_batching_window: Option<i64>,
    /// ScalingConfig.MaximumConcurrency (SQS).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum_concurrency: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_response_types: Option<Vec<String>>,
    /// FilterCriteria patterns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filters: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parallelization_factor: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bisect_batch_on_function_error: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum_retry_attempts: Option<i64>,
    /// MaximumRecordAgeInSeconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum_record_age: Option<i64>,
    /// DestinationConfig.OnFailure.Destination (streams).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<String>,
}

impl MappingConfig {
    pub fn fields(&self) -> Map<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        }
    }

    pub fn from_fields(fields: Map<String, Value>) -> MappingConfig {
        serde_json::from_value(Value::Object(fields)).unwrap_or_default()
    }
}

/// A filter pattern in one canonical spelling (AWS may store it with other whitespace or key
/// order); text that is not JSON is kept as it is.
pub fn normalize_pattern(p: &str) -> String {
    serde_json::from_str::<Value>(p).map_or_else(|_| p.to_string(), |v| v.to_string())
}

/// A live mapping: its id, state, source, qualifier ("" = the unqualified function) and settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingState {
    pub uuid: String,
    pub state: String,
    pub source: String,
    pub qualifier: String,
    pub config: MappingConfig,
}

impl MappingState {
    /// AWS refuses Update and Delete while a mapping is Creating, Updating or Deleting
    /// (ResourceInUseException): such a mapping is waited on, not fought.
    pub fn settled(&self) -> bool {
        matches!(self.state.as_str(), "Enabled" | "Disabled")
    }
}

/// What a new mapping needs beyond its settings: where a stream starts (create only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredMapping {
    pub config: MappingConfig,
    pub starting_position: Option<String>,
}
