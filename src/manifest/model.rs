//! The typed manifest model (`FunctionConfig` documents), with absent/null/value tri-state fields.

use std::collections::BTreeMap;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::types::{DeletionPolicy, DriftPolicy, Field, PublishPolicy, Strategy};

pub const API_GROUP: &str = "lambda-reconciler.io/";
pub const API_VERSION: &str = "lambda-reconciler.io/v1alpha1";
pub const KIND: &str = "FunctionConfig";

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Document {
    /// `lambda-reconciler.io/v1alpha1`
    #[schemars(extend("const" = "lambda-reconciler.io/v1alpha1"))]
    pub api_version: String,
    /// `FunctionConfig`
    #[schemars(extend("const" = "FunctionConfig"))]
    pub kind: String,
    pub metadata: Metadata,
    pub spec: Spec,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metadata {
    /// Unique across the manifest directory; 1-128 letters, digits, `-`, `_`, `.`.
    #[schemars(length(min = 1, max = 128))]
    pub name: String,
    /// Free-form labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Spec {
    /// Function name or unqualified function ARN; default `metadata.name`.
    pub function_name: Option<String>,
    /// Region of the function; default: the ARN's, else `--region` / `AWS_REGION`.
    pub region: Option<String>,
    /// An IAM role (`arn:aws:iam::ACCOUNT:role/NAME`) the controller assumes to manage this
    /// function, in that role's account; default: the controller's own credentials.
    pub role_arn: Option<String>,
    /// `correct` (default): fix drift. `alert`: report it only.
    #[serde(default)]
    pub drift_policy: DriftPolicy,
    /// Field paths never treated as drift, e.g. `aliases.prod.routing`.
    #[serde(default)]
    pub ignore_differences: Vec<String>,
    /// Delete live aliases that are not listed.
    #[serde(default)]
    pub prune: bool,
    /// What the daemon does with the owned configuration when the manifest is removed.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
    /// `onChange`: publish `$LATEST` as a new version when the controller changes its
    /// configuration (or it differs from the newest version the controller published); aliases
    /// with `functionVersion: published` follow that version. Default `never`.
    #[serde(default)]
    pub publish: PublishPolicy,
    /// Create the function when it is missing (CreateFunction with its code and whole
    /// definition: `code`, `executionRole` and, for a zip, `runtime` and `handler` are then
    /// required), then apply the rest in the same apply. Default `false`: a missing function is
    /// an error. A function the controller created carries the tag
    /// `lambda-reconciler.io/created-by`; only such a function is ever deleted (under
    /// `deletionPolicy: delete`, once its manifest is removed).
    #[serde(default)]
    pub create: bool,
    /// The runtime of a zip function, one of Lambda's (e.g. `python3.13`); refused for image
    /// functions. Absent: unmanaged.
    #[schemars(extend("enum" = super::definition::RUNTIMES))]
    pub runtime: Option<String>,
    /// The handler of a zip function (1-128 characters, no whitespace), e.g. `app.handler`.
    /// Absent: unmanaged.
    #[schemars(length(min = 1, max = 128))]
    pub handler: Option<String>,
    /// The execution role the function runs as (`arn:aws:iam::ACCOUNT:role/NAME`); not
    /// `roleArn`, the role the controller assumes. Absent: unmanaged.
    pub execution_role: Option<String>,
    /// The function's code: a zip in S3 or an ECR image (UpdateFunctionCode). Absent: unmanaged.
    pub code: Option<Code>,
    /// The instruction set: exactly one of `x86_64`, `arm64`; `null`: `x86_64` (Lambda's
    /// default). Sent with the code (UpdateFunctionCode), so it needs `code`. Absent: unmanaged.
    #[serde(default)]
    #[schemars(length(min = 1, max = 1))]
    pub architectures: Field<Vec<super::code::Architecture>>,
    /// The VPC: `subnetIds` (at most 16), `securityGroupIds` (at most 5), compared as sets, and
    /// `ipv6AllowedForDualStack`; `null` disconnects the function. Absent: unmanaged.
    #[serde(default)]
    pub vpc_config: Field<super::definition::VpcConfig>,
    /// At most one EFS access point mount (needs a VPC); `null` or `[]` removes it.
    #[serde(default)]
    #[schemars(length(max = 1))]
    pub file_system_configs: Field<Vec<super::definition::FileSystemConfig>>,
    /// `PublishedVersions` or `None` (Java 11+, Python 3.12+, .NET 8+ zip functions); `null`: None.
    #[serde(default)]
    pub snap_start: Field<super::definition::SnapStart>,
    /// An image function's ENTRYPOINT, CMD and WORKDIR overrides; `null`: the image's own.
    #[serde(default)]
    pub image_config: Field<super::definition::ImageConfig>,
    /// Memory in MB, 128-10240 (Lambda's quota). Absent: unmanaged.
    #[schemars(range(min = 128, max = 10240))]
    pub memory_size: Option<i64>,
    /// Timeout in seconds, 1-900. Absent: unmanaged.
    #[schemars(range(min = 1, max = 900))]
    pub timeout: Option<i64>,
    /// Size of /tmp in MB, 512-10240. Absent: unmanaged.
    #[schemars(range(min = 512, max = 10240))]
    pub ephemeral_storage: Option<i64>,
    /// The function's description (at most 256 characters); `null` clears it. Absent: unmanaged.
    #[serde(default)]
    pub description: Field<String>,
    /// X-Ray tracing: `Active` or `PassThrough`. Absent: unmanaged.
    pub tracing: Option<TracingMode>,
    /// Layer version ARNs in order (each with its version), at most 5; `null` or `[]` removes
    /// them. Absent: unmanaged.
    #[serde(default)]
    pub layers: Field<Vec<String>>,
    /// SQS queue or SNS topic ARN for failed asynchronous invocations; `null` removes it.
    #[serde(default)]
    pub dead_letter_target: Field<String>,
    /// KMS key ARN encrypting the environment at rest; `null`: Lambda's own key.
    #[serde(default)]
    pub kms_key_arn: Field<String>,
    /// Log format, levels and group; fields left out are unmanaged.
    pub logging_config: Option<LoggingConfig>,
    /// Event source mappings (SQS, Kinesis, DynamoDB streams) keyed by source and qualifier;
    /// mappings not listed are left alone unless `prune`. Absent: unmanaged.
    pub event_source_mappings: Option<Vec<EventSourceMapping>>,
    /// Resource-based policy statements by name (e.g. API Gateway allowed to invoke alias prod).
    /// The controller owns statement id `lambda-reconciler-NAME` and removes only statements it
    /// owns, on the qualifiers listed here; `{}` or `null` removes them all. Absent: unmanaged.
    #[serde(default)]
    pub permissions: Field<IndexMap<String, PermissionSpec>>,
    /// Function URLs by qualifier: an alias name, or `$LATEST` for the unqualified function.
    /// An entry `null` deletes that URL (and the controller's statements for it); `null` or
    /// `{}` deletes every URL of the function; qualifiers not listed are left alone. Absent:
    /// unmanaged.
    #[serde(default)]
    pub function_urls: Field<IndexMap<String, Field<super::url_model::FunctionUrlSpec>>>,
    /// Environment variables (the whole map); `null` removes them all. Absent: unmanaged.
    #[serde(default)]
    pub environment: Field<Environment>,
    /// Reserved concurrency (0 disables the function); `null` deletes it. Absent: unmanaged.
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub reserved_concurrency: Field<i64>,
    /// Asynchronous invocation config of the unqualified function; `null` deletes it.
    #[serde(default)]
    pub event_invoke_config: Field<EventInvokeConfig>,
    /// User tags, the whole set (keys outside `aws:` and `lambda-reconciler.io/`); `null` or `{}`
    /// removes every user tag (never the controller's or AWS's). Absent: unmanaged.
    #[serde(default)]
    pub tags: Field<BTreeMap<String, Scalar>>,
    /// Recursive loop detection, `Allow` or `Terminate`; `null`: Terminate (AWS's default).
    #[serde(default)]
    pub recursive_loop: Field<super::configs_model::RecursiveLoop>,
    /// Runtime management of `$LATEST` (zip functions); `null`: `Auto` (AWS's default).
    #[serde(default)]
    pub runtime_management: Field<super::configs_model::RuntimeManagementSpec>,
    /// Code signing configuration ARN (zip functions); `null` removes it.
    #[serde(default)]
    #[schemars(length(max = 200))]
    pub code_signing_config_arn: Field<String>,
    /// Aliases by name; listed aliases are created if missing.
    #[serde(default)]
    pub aliases: IndexMap<String, Alias>,
}

/// `spec.code`: exactly one of `s3` (a zip) and `imageUri`; for a zip, optionally the hash
/// Lambda must report for it.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Code {
    /// The zip in S3, in the function's region (a `Zip` function).
    pub s3: Option<S3Code>,
    /// An ECR image, `ACCOUNT.dkr.ecr.REGION.amazonaws.com/REPO@sha256:HEX` (an `Image`
    /// function); a `:TAG` is accepted with a warning (Lambda resolves it once).
    #[schemars(length(min = 1, max = 512))]
    pub image_uri: Option<String>,
    /// Base64 SHA-256 of the zip (Lambda's CodeSha256): the apply fails, publishing nothing, when
    /// Lambda reports another.
    #[schemars(length(min = 44, max = 44))]
    pub sha256: Option<String>,
}

/// A zip object in S3.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct S3Code {
    /// 3-63 lowercase letters, digits, `.`, `-`.
    #[schemars(length(min = 3, max = 63))]
    pub bucket: String,
    /// 1-1024 characters.
    #[schemars(length(min = 1, max = 1024))]
    pub key: String,
    /// The object's version (recommended: without it, an overwritten key goes unnoticed).
    #[schemars(length(min = 1, max = 1024))]
    pub object_version: Option<String>,
}

/// One event source mapping; settings left out are unmanaged (AWS's defaults on create).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventSourceMapping {
    /// The SQS queue, Kinesis stream or DynamoDB stream ARN.
    pub source: String,
    /// Alias or version the mapping invokes; absent: the unqualified function.
    pub qualifier: Option<Scalar>,
    /// Default true.
    pub enabled: Option<bool>,
    /// SQS 1-10,000 (FIFO 10; over 10 needs maximumBatchingWindow >= 1); streams 1-10,000.
    pub batch_size: Option<i64>,
    /// Seconds, 0-300; FIFO queues support none (0 or absent).
    pub maximum_batching_window: Option<i64>,
    /// SQS only: 2-1,000 concurrent invocations.
    pub maximum_concurrency: Option<i64>,
    /// `[ReportBatchItemFailures]` or `[]`.
    pub function_response_types: Option<Vec<String>>,
    /// Event filter patterns (JSON text), at most 5.
    pub filters: Option<Vec<String>>,
    /// Streams: LATEST (default) or TRIM_HORIZON; used when the mapping is created.
    pub starting_position: Option<String>,
    /// Streams: 1-10.
    pub parallelization_factor: Option<i64>,
    /// Streams.
    pub bisect_batch_on_function_error: Option<bool>,
    /// Streams: -1 (forever) to 10,000.
    pub maximum_retry_attempts: Option<i64>,
    /// Streams: -1 (forever) or 60-604,800 seconds.
    pub maximum_record_age: Option<i64>,
    /// Streams: SQS queue or SNS topic ARN for records that failed.
    pub on_failure: Option<String>,
}

/// One statement of the function's (or a qualifier's) resource-based policy.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PermissionSpec {
    /// Alias or version the statement is on; absent: the unqualified function.
    pub qualifier: Option<Scalar>,
    /// Who may act: a service principal (`apigateway.amazonaws.com`), an account id or an ARN.
    pub principal: String,
    /// Default `lambda:InvokeFunction`.
    pub action: Option<String>,
    /// Only requests from this resource (ARN, wildcards allowed), e.g. an API's execute-api ARN.
    pub source_arn: Option<String>,
    /// Only requests from resources of this account (12 digits).
    pub source_account: Option<Scalar>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum TracingMode {
    Active,
    PassThrough,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum LogFormat {
    #[serde(rename = "JSON")]
    Json,
    Text,
}

/// Application log level (needs `format: JSON`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum ApplicationLogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

/// System log level (needs `format: JSON`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum SystemLogLevel {
    Debug,
    Info,
    Warn,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoggingConfig {
    /// `JSON` or `Text`.
    pub format: Option<LogFormat>,
    /// TRACE, DEBUG, INFO, WARN, ERROR or FATAL (with `format: JSON`).
    pub application_log_level: Option<ApplicationLogLevel>,
    /// DEBUG, INFO or WARN (with `format: JSON`).
    pub system_log_level: Option<SystemLogLevel>,
    /// CloudWatch Logs group (default `/aws/lambda/FUNCTION`).
    pub log_group: Option<String>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Environment {
    #[serde(default)]
    pub variables: IndexMap<String, EnvValue>,
}

/// A literal value, a reference to an SSM parameter, or to a Secrets Manager secret.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum EnvValue {
    Literal(Scalar),
    FromSsm(FromSsm),
    FromSecret(FromSecret),
}

#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FromSecret {
    pub from_secret: SecretSpec,
}

/// A Secrets Manager secret (its value is sensitive: never printed).
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SecretSpec {
    /// The secret's name or ARN (required).
    pub id: Option<String>,
    /// A key of the secret's JSON object; absent: the whole SecretString.
    pub key: Option<String>,
    /// A staging label (`AWSCURRENT`, `AWSPREVIOUS`, your own) or a version id; absent: AWSCURRENT.
    pub version: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FromSsm {
    pub from_ssm: String,
}

/// A YAML scalar used as a string (numbers and booleans are written as text).
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
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

#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventInvokeConfig {
    /// 0-2; default 2.
    #[schemars(range(min = 0, max = 2))]
    pub maximum_retry_attempts: Option<i64>,
    /// 60-21600; default 21600.
    #[schemars(range(min = 60, max = 21600))]
    pub maximum_event_age_in_seconds: Option<i64>,
    /// SQS queue, SNS topic, Lambda function or EventBridge bus ARNs.
    pub destinations: Option<Destinations>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Destinations {
    pub on_success: Option<String>,
    pub on_failure: Option<String>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Alias {
    /// A published version number, `$LATEST`, or `published` (the newest version the
    /// controller published; needs `spec.publish: onChange`).
    pub function_version: Scalar,
    /// Alias description; absent: unmanaged.
    pub description: Option<String>,
    /// Absent: unmanaged. `{}` or `null`: no weights.
    #[serde(default)]
    pub routing: Field<BTreeMap<String, f64>>,
    /// Provisioned concurrency (>= 1; the starting value with autoscaling); `null` deletes it.
    #[serde(default)]
    #[schemars(range(min = 1))]
    pub provisioned_concurrency: Field<i64>,
    /// Application Auto Scaling of this alias's provisioned concurrency; `null` deregisters it.
    #[serde(default)]
    pub autoscaling: Field<Autoscaling>,
    /// Asynchronous invocation config of this alias; `null` deletes it.
    #[serde(default)]
    pub event_invoke_config: Field<EventInvokeConfig>,
    /// Shift traffic to a new functionVersion gradually (SAM's DeploymentPreference); the
    /// controller then owns the alias's routing, so `routing` must be absent.
    pub deployment: Option<Deployment>,
}

/// How a change of `functionVersion` reaches the alias.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Deployment {
    /// A predefined strategy; exclusive with `steps`.
    pub strategy: Option<Strategy>,
    /// Custom steps (weights in percent, increasing); 100 % follows the last one.
    pub steps: Option<Vec<DeploymentStep>>,
    /// CloudWatch alarm names (at most 10): any in ALARM during the rollout rolls it back.
    #[serde(default)]
    #[schemars(length(max = 10))]
    pub alarms: Vec<String>,
    /// Lambda functions invoked before traffic moves and after 100 %.
    pub hooks: Option<Hooks>,
    /// When the two versions differ in execution role or dead-letter target (AWS shares traffic
    /// only between versions with the same ones): `block` (default) holds the rollout and says
    /// why; `switch` moves all traffic at once, without weights (the hooks and alarms still run).
    pub on_role_or_dead_letter_change: Option<IncompatibleVersions>,
    /// The canary judge: the new version's error rate, Duration percentile and throttles
    /// against the old version's on the same alias; a failure rolls back like an alarm.
    pub analysis: Option<crate::types::AnalysisSpec>,
    /// Release waves: this alias rolls out in a wave of a release shared with other manifests
    /// (one function in several regions and accounts, or several functions).
    pub release: Option<super::release_rules::ReleaseSpec>,
}

/// What a rollout does when its two versions cannot share traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum IncompatibleVersions {
    Block,
    Switch,
}

#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeploymentStep {
    /// Percent of traffic on the new version, 0-100.
    #[schemars(range(min = 0, max = 100))]
    pub weight: f64,
    /// How long the step holds before the next one: `30s`, `5m`, `1h` (at most `7d`); or
    /// `manual`: it holds until a person approves it (`promote`), or `timeout` passes.
    pub pause: String,
    /// With `pause: manual`: the longest wait for approval (at most `7d`); absent: no limit.
    pub timeout: Option<String>,
    /// With `pause: manual` and a `timeout`: `rollback` (default) or `promote` when it passes.
    pub on_timeout: Option<crate::types::OnTimeout>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Hooks {
    /// Function (name or ARN) invoked before any weight moves; a failure moves no traffic.
    pub pre_traffic: Option<String>,
    /// Function invoked after 100 %; a failure rolls back.
    pub post_traffic: Option<String>,
    /// How long a hook may run (default `10m`, at most `15m`, Lambda's own limit).
    pub timeout: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Autoscaling {
    #[schemars(range(min = 0))]
    pub min_capacity: i64,
    #[schemars(range(min = 1))]
    pub max_capacity: i64,
    /// Target tracking on LambdaProvisionedConcurrencyUtilization, in (0, 1].
    #[schemars(range(max = 1.0))]
    pub target_utilization: Option<f64>,
    /// Seconds after a scale-in before another (target tracking; default 0).
    #[schemars(range(min = 0))]
    pub scale_in_cooldown: Option<i64>,
    /// Seconds after a scale-out before another (target tracking; default 0).
    #[schemars(range(min = 0))]
    pub scale_out_cooldown: Option<i64>,
    /// Target tracking only scales out (default false).
    pub disable_scale_in: Option<bool>,
    /// The whole set of scheduled actions.
    #[serde(default)]
    pub scheduled_actions: Vec<ScheduledAction>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScheduledAction {
    pub name: String,
    /// `cron(m h dom mon dow y)`, `rate(N unit)` or `at(yyyy-mm-ddThh:mm:ss)`.
    #[schemars(regex(pattern = r"^(cron|rate|at)\(.*\)$"))]
    pub schedule: String,
    pub min_capacity: Option<i64>,
    pub max_capacity: Option<i64>,
    /// IANA time zone of the schedule (default UTC).
    pub timezone: Option<String>,
    /// When the action starts running, RFC 3339 UTC (`2026-12-01T00:00:00Z`).
    pub start_time: Option<String>,
    /// When the action stops running, RFC 3339 UTC.
    pub end_time: Option<String>,
}
