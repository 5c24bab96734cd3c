//! Plain domain values shared by every layer (the bottom of the module graph: it imports no other
//! module of the crate): the manifest's field states, which function, and the configuration
//! values desired state, observed state, the plan and the AWS edge exchange.

mod analysis;
mod analysis_extra;
mod attribution;
mod code;
mod configs;
mod creation;
mod field;
mod function;
pub mod limits;
mod mapping;
mod permission;
mod release;
mod rollout;
mod secret;
mod sensitive;
mod settings;
mod tags;
mod url;

pub use analysis::{
    Analysis, AnalysisSpec, DurationSpec, ErrorRateSpec, JudgeView, Judging, NoData, NoDataSpec, Reading, Sample,
    Subject, ThrottlesSpec, Verdict,
};
pub use analysis_extra::{DeliverySpec, Fold, IteratorAgeSpec, Measure, MetricQuery, Pair, UserQuerySpec};
pub use attribution::{ChangedBy, PRINCIPAL_TYPES, UNKNOWN_PRINCIPAL};
pub use code::{
    is_bucket_name, is_sha256_base64, parse_image_uri, pinned_image_uri, CodeLocation, CodeRecord, CodeSource,
    ImageRef, Package, PackageType, CODE_TAG, DEFAULT_ARCHITECTURE, MAX_IMAGE_URI_CHARS,
};
pub use configs::{DesiredConfigs, LiveConfigs, RuntimeManagement, DEFAULT_RECURSIVE_LOOP, DEFAULT_UPDATE_RUNTIME_ON};
pub use creation::{Creation, CREATED_BY_TAG};
pub use field::{DeletionPolicy, DriftPolicy, Field, PublishPolicy};
pub use function::{
    is_account, is_region, partition_of, shard_of, AppliedGeneration, FunctionKey, FunctionRef, FunctionState,
    Published, Scope, VersionConfig, FOLLOW_PUBLISHED, GENERATION_TAG, PUBLISHED_TAG,
};
pub use mapping::{normalize_pattern, DesiredMapping, MappingConfig, MappingState};
pub use permission::{owned_sid, Permission, INVOKE, PERMISSION_SID_PREFIX};
pub use release::{
    OnFailure, PeerState, Release, ReleaseMember, ReleaseMemberView, ReleaseView, MAX_BAKE_MS, MAX_RELEASE_MEMBERS,
    MAX_WAVE, RELEASE_POLL_MS, RELEASE_REASON_PREFIX,
};
pub use rollout::{
    marker_tag, step_weight, tag_safe, AlarmState, Approval, Deployment, Gate, HookResult, Marker, OnTimeout, Phase,
    RolloutView, Step, Strategy, MARKER_TAG_PREFIX,
};
pub use secret::SecretRef;
pub use sensitive::{SensitiveEnv, SENSITIVE_ENV_TAG};
pub use settings::{snap_start_runtime, FileSystem, Image, Settings, Vpc, LOGGING_FIELDS, SNAP_START_MAX_EPHEMERAL};
pub use tags::{
    is_aws_tag, is_controller_tag, is_tag_text, is_user_tag, max_user_tags, user_tags, MAX_TAG_KEY, MAX_TAG_VALUE,
};
pub use url::{
    is_url_sid, url_key, UrlAuthType, UrlConfig, UrlCors, UrlInvokeMode, UrlState, INVOKE_URL, LATEST_QUALIFIER,
    URL_INVOKE_SID, URL_SID,
};

use std::collections::BTreeMap;
use std::fmt;

use serde::{Serialize, Serializer};

/// An environment value that prints as `(sensitive)` when it came from a SecureString.
#[derive(Clone, PartialEq, Eq)]
pub struct EnvValue {
    pub value: String,
    pub sensitive: bool,
}

impl EnvValue {
    pub fn plain(v: impl Into<String>) -> Self {
        EnvValue { value: v.into(), sensitive: false }
    }
    pub fn shown(&self) -> &str {
        if self.sensitive {
            "(sensitive)"
        } else {
            &self.value
        }
    }
}

impl fmt::Debug for EnvValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.shown())
    }
}

impl Serialize for EnvValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.shown())
    }
}

pub type EnvMap = BTreeMap<String, EnvValue>;

/// Lambda's limit on a function's environment. AWS measures the variables map serialized as JSON
/// (its refusal reads "... exceeded the 4KB limit. String measured: {...}").
pub const ENV_LIMIT_BYTES: usize = 4096;

/// The size Lambda measures: the variables as one compact JSON object, in UTF-8 bytes.
pub fn environment_size<'a>(vars: impl IntoIterator<Item = (&'a str, &'a str)>) -> usize {
    let map: serde_json::Map<String, serde_json::Value> =
        vars.into_iter().map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string()))).collect();
    serde_json::to_string(&map).map_or(usize::MAX, |s| s.len())
}

/// Lambda's defaults for an event invoke config's omitted fields.
pub const DEFAULT_RETRIES: i64 = 2;
pub const DEFAULT_EVENT_AGE: i64 = 21600;

/// An event invoke config with AWS defaults filled in (so absent == default compares equal).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InvokeConfig {
    pub maximum_retry_attempts: i64,
    pub maximum_event_age_in_seconds: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_success: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<String>,
}

impl Default for InvokeConfig {
    fn default() -> Self {
        InvokeConfig {
            maximum_retry_attempts: DEFAULT_RETRIES,
            maximum_event_age_in_seconds: DEFAULT_EVENT_AGE,
            on_success: None,
            on_failure: None,
        }
    }
}

/// Additional version → weight.
pub type Routing = BTreeMap<String, f64>;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AliasState {
    pub function_version: String,
    pub description: String,
    pub routing: Routing,
    /// AWS's RevisionId of the alias as read ("A unique identifier that changes when you update
    /// the alias"); empty when not read. Never shown: a conditional write's precondition only.
    #[serde(skip)]
    pub revision: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PcStatus {
    InProgress,
    Ready,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PcState {
    pub requested: i64,
    pub allocated: i64,
    pub status: PcStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// An Application Auto Scaling scheduled action on provisioned concurrency, compared and written
/// whole (AWS, PutScheduledAction: "If you don't specify start and end times, the old values are
/// deleted").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Scheduled {
    pub name: String,
    pub schedule: String,
    pub min_capacity: Option<i64>,
    pub max_capacity: Option<i64>,
    /// An IANA time zone; `None` is UTC (AWS's default), whatever alias AWS reports it by.
    pub timezone: Option<String>,
    /// When the action starts / stops running, in seconds since the epoch (UTC).
    #[serde(serialize_with = "rfc3339", skip_serializing_if = "Option::is_none")]
    pub start_time: Option<i64>,
    #[serde(serialize_with = "rfc3339", skip_serializing_if = "Option::is_none")]
    pub end_time: Option<i64>,
}

/// UTC by any of its names is the default (`None`), so "unset" and "UTC" compare equal.
pub fn timezone(tz: Option<&str>) -> Option<String> {
    tz.filter(|t| !matches!(*t, "UTC" | "Etc/UTC" | "Etc/GMT" | "GMT" | "")).map(str::to_string)
}

/// Milliseconds since the epoch, now (rollout markers and pauses are measured in it).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// Seconds since the epoch as RFC 3339 (`2026-12-01T09:00:00Z`).
pub fn format_time(secs: i64) -> String {
    let secs = limits::clamp_epoch_ms(secs.saturating_mul(1000)) / 1000;
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// An RFC 3339 UTC time (`2026-12-01T09:00:00Z`) as seconds since the epoch.
pub fn parse_time(text: &str) -> Option<i64> {
    let t = humantime::parse_rfc3339(text).ok()?;
    t.duration_since(std::time::UNIX_EPOCH).ok().and_then(|d| i64::try_from(d.as_secs()).ok())
}

fn rfc3339<S: Serializer>(secs: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match secs {
        Some(t) => s.serialize_str(&format_time(*t)),
        None => s.serialize_none(),
    }
}

/// A target-tracking configuration on LambdaProvisionedConcurrencyUtilization, compared whole,
/// with AWS's defaults filled in (cooldowns 0 s for Lambda, scale-in enabled) so that an omitted
/// field and its default compare equal.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetTracking {
    pub target_utilization: f64,
    pub scale_in_cooldown: i64,
    pub scale_out_cooldown: i64,
    pub disable_scale_in: bool,
}

impl TargetTracking {
    /// Equal up to float noise in the target.
    pub fn same(&self, other: &TargetTracking) -> bool {
        (self.target_utilization - other.target_utilization).abs() < 1e-9
            && (self.scale_in_cooldown, self.scale_out_cooldown, self.disable_scale_in)
                == (other.scale_in_cooldown, other.scale_out_cooldown, other.disable_scale_in)
    }
}

/// A scaling policy, narrowed to what is compared.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    pub name: String,
    /// `Some` for a target-tracking policy on LambdaProvisionedConcurrencyUtilization.
    pub tracking: Option<TargetTracking>,
}

/// The scalable target of an alias's provisioned concurrency, with its policies and actions.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScalingState {
    pub min_capacity: i64,
    pub max_capacity: i64,
    pub policies: Vec<Policy>,
    pub scheduled_actions: Vec<Scheduled>,
}

/// A resolved parameter value; `secure` for SecureString (never printed).
#[derive(Clone, PartialEq, Eq)]
pub struct Parameter {
    pub value: String,
    pub secure: bool,
}

impl std::fmt::Debug for Parameter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parameter").field("secure", &self.secure).finish_non_exhaustive()
    }
}

/// What one region's manifests need read: the SSM names and secrets they use, and how many manage
/// autoscaling.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Interest {
    pub ssm_names: Vec<String>,
    /// The Secrets Manager values they use (read together, 20 a call, once per resync).
    pub secret_refs: Vec<SecretRef>,
    pub scaling_functions: usize,
}

/// The name of the target-tracking policy the controller owns on each scalable target.
pub const POLICY_NAME: &str = "lambda-reconciler-target-tracking";

/// A git object name: 40 (SHA-1) or 64 (SHA-256) lowercase hex digits.
pub fn is_commit(s: &str) -> bool {
    (s.len() == 40 || s.len() == 64) && s.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
}

/// A revision as people name it: the first 7 hex digits of a commit, anything else as given
/// (cut at 64 characters, control characters dropped).
pub fn short_revision(rev: &str) -> String {
    if is_commit(rev) {
        rev[..7].to_string()
    } else {
        rev.chars().filter(|c| !c.is_control()).take(64).collect()
    }
}
