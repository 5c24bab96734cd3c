//! `$LATEST`'s function settings the product manages beside the environment (memory, timeout,
//! storage, description, tracing, layers, dead-letter target, KMS key, logging) and its definition
//! (runtime, handler, execution role, VPC, file systems, SnapStart, image config), as one record
//! keyed by the manifest's field paths.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Each field is `None` when unmanaged (desired) or not read (observed). Observed values carry
/// AWS's defaults for what is unset ("" for no description, DLQ or KMS key; `[]` for layers).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    #[serde(rename = "memorySize", skip_serializing_if = "Option::is_none")]
    pub memory_size: Option<i64>,
    #[serde(rename = "timeout", skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    #[serde(rename = "ephemeralStorage", skip_serializing_if = "Option::is_none")]
    pub ephemeral_storage: Option<i64>,
    #[serde(rename = "description", skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(rename = "tracing", skip_serializing_if = "Option::is_none")]
    pub tracing: Option<String>,
    #[serde(rename = "layers", skip_serializing_if = "Option::is_none")]
    pub layers: Option<Vec<String>>,
    #[serde(rename = "deadLetterTarget", skip_serializing_if = "Option::is_none")]
    pub dead_letter_target: Option<String>,
    #[serde(rename = "kmsKeyArn", skip_serializing_if = "Option::is_none")]
    pub kms_key_arn: Option<String>,
    #[serde(rename = "loggingConfig.format", skip_serializing_if = "Option::is_none")]
    pub log_format: Option<String>,
    #[serde(rename = "loggingConfig.applicationLogLevel", skip_serializing_if = "Option::is_none")]
    pub application_log_level: Option<String>,
    #[serde(rename = "loggingConfig.systemLogLevel", skip_serializing_if = "Option::is_none")]
    pub system_log_level: Option<String>,
    #[serde(rename = "loggingConfig.logGroup", skip_serializing_if = "Option::is_none")]
    pub log_group: Option<String>,
    #[serde(rename = "runtime", skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    #[serde(rename = "handler", skip_serializing_if = "Option::is_none")]
    pub handler: Option<String>,
    #[serde(rename = "executionRole", skip_serializing_if = "Option::is_none")]
    pub execution_role: Option<String>,
    #[serde(rename = "vpcConfig", skip_serializing_if = "Option::is_none")]
    pub vpc_config: Option<Vpc>,
    #[serde(rename = "fileSystemConfigs", skip_serializing_if = "Option::is_none")]
    pub file_system_configs: Option<Vec<FileSystem>>,
    /// SnapStart's ApplyOn: `PublishedVersions` or `None`.
    #[serde(rename = "snapStart", skip_serializing_if = "Option::is_none")]
    pub snap_start: Option<String>,
    #[serde(rename = "imageConfig", skip_serializing_if = "Option::is_none")]
    pub image_config: Option<Image>,
}

/// A function's VPC: the lists sorted and deduplicated (AWS treats them as sets); empty lists
/// for none.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Vpc {
    pub subnet_ids: Vec<String>,
    pub security_group_ids: Vec<String>,
    pub ipv6_allowed_for_dual_stack: bool,
}

impl Vpc {
    /// The VPC with its lists as sorted sets.
    pub fn new(subnets: &[String], groups: &[String], ipv6: bool) -> Vpc {
        let set = |l: &[String]| l.iter().cloned().collect::<std::collections::BTreeSet<_>>().into_iter().collect();
        Vpc { subnet_ids: set(subnets), security_group_ids: set(groups), ipv6_allowed_for_dual_stack: ipv6 }
    }

    /// True when the function is connected to a VPC.
    pub fn is_connected(&self) -> bool {
        !self.subnet_ids.is_empty() || !self.security_group_ids.is_empty()
    }
}

/// One file system mount (an EFS access point).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileSystem {
    pub arn: String,
    pub local_mount_path: String,
}

/// An image function's overrides of its image's ENTRYPOINT, CMD and WORKDIR (empty: the image's).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    pub entry_point: Vec<String>,
    pub command: Vec<String>,
    pub working_directory: String,
}

/// Ephemeral storage SnapStart allows: "SnapStart does not support … ephemeral storage greater
/// than 512 MB" (snapstart.html).
pub const SNAP_START_MAX_EPHEMERAL: i64 = 512;

/// AWS (snapstart.html): SnapStart supports Java 11 and later, Python 3.12 and later, .NET 8 and
/// later managed runtimes ("nodejs22.x is not supported for SnapStart enabled functions").
pub fn snap_start_runtime(runtime: &str) -> bool {
    let major = |rest: &str| rest.split('.').next().and_then(|n| n.parse::<u32>().ok());
    if let Some(rest) = runtime.strip_prefix("python3.") {
        return major(rest).is_some_and(|n| n >= 12);
    }
    if let Some(rest) = runtime.strip_prefix("java") {
        return major(rest).is_some_and(|n| n >= 11);
    }
    runtime.strip_prefix("dotnet").and_then(major).is_some_and(|n| n >= 8)
}

/// The logging fields: AWS takes LoggingConfig whole, so a change to one sends every one managed.
pub const LOGGING_FIELDS: &[&str] = &[
    "loggingConfig.format",
    "loggingConfig.applicationLogLevel",
    "loggingConfig.systemLogLevel",
    "loggingConfig.logGroup",
];

impl Settings {
    /// The set fields by path (`memorySize`, `loggingConfig.format`, …).
    pub fn fields(&self) -> Map<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        }
    }

    /// Settings holding exactly `fields` (paths as in [`Settings::fields`]).
    pub fn from_fields(fields: Map<String, Value>) -> Settings {
        serde_json::from_value(Value::Object(fields)).unwrap_or_default()
    }

    pub fn is_empty(&self) -> bool {
        self.fields().is_empty()
    }

    /// True when any logging field is set.
    pub fn has_logging(&self) -> bool {
        self.log_format.is_some()
            || self.application_log_level.is_some()
            || self.system_log_level.is_some()
            || self.log_group.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip_by_their_manifest_paths() {
        let s = Settings { memory_size: Some(256), log_format: Some("JSON".into()), ..Settings::default() };
        let f = s.fields();
        assert_eq!(f.keys().collect::<Vec<_>>(), ["memorySize", "loggingConfig.format"]);
        assert_eq!(Settings::from_fields(f), s);
    }
}
