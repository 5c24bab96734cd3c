//! Manifest values of the function's definition: runtime, handler, execution role, VPC, file systems, SnapStart, image config.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The `Runtime` enum of Lambda's API model (botocore 1.44.8, lambda 2015-03-31). Deprecated
/// runtimes are listed too: AWS refuses them ("Lambda blocks creating new functions and updating
/// existing functions shortly after each runtime is deprecated") and the plan shows its message.
pub const RUNTIMES: &[&str] = &[
    "nodejs",
    "nodejs4.3",
    "nodejs6.10",
    "nodejs8.10",
    "nodejs10.x",
    "nodejs12.x",
    "nodejs14.x",
    "nodejs16.x",
    "nodejs18.x",
    "nodejs20.x",
    "nodejs22.x",
    "nodejs24.x",
    "java8",
    "java8.al2",
    "java11",
    "java17",
    "java21",
    "java25",
    "python2.7",
    "python3.6",
    "python3.7",
    "python3.8",
    "python3.9",
    "python3.10",
    "python3.11",
    "python3.12",
    "python3.13",
    "python3.14",
    "dotnetcore1.0",
    "dotnetcore2.0",
    "dotnetcore2.1",
    "dotnetcore3.1",
    "dotnet6",
    "dotnet8",
    "dotnet10",
    "nodejs4.3-edge",
    "go1.x",
    "ruby2.5",
    "ruby2.7",
    "ruby3.2",
    "ruby3.3",
    "ruby3.4",
    "ruby4.0",
    "provided",
    "provided.al2",
    "provided.al2023",
    "nodejs26.x",
    "python3.15",
    "java8.al2023",
    "java11.al2023",
    "java17.al2023",
    "custom",
];

/// `spec.vpcConfig`: the subnets and security groups the function connects through (sets).
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VpcConfig {
    /// Subnet ids (`subnet-…`), at most 16.
    #[serde(default)]
    #[schemars(length(max = 16))]
    pub subnet_ids: Vec<String>,
    /// Security group ids (`sg-…`), at most 5.
    #[serde(default)]
    #[schemars(length(max = 5))]
    pub security_group_ids: Vec<String>,
    /// Outbound IPv6 on dual-stack subnets (default false).
    #[serde(default)]
    pub ipv6_allowed_for_dual_stack: bool,
}

/// One entry of `spec.fileSystemConfigs`: an EFS access point and where it is mounted.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FileSystemConfig {
    /// The access point's ARN (`arn:aws:elasticfilesystem:REGION:ACCOUNT:access-point/fsap-…`).
    #[schemars(length(max = 256))]
    pub arn: String,
    /// `/mnt/NAME`, at most 160 characters.
    #[schemars(length(max = 160))]
    pub local_mount_path: String,
}

/// SnapStart's `ApplyOn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum SnapStart {
    PublishedVersions,
    None,
}

/// `spec.imageConfig` (image functions): overrides of the image's ENTRYPOINT, CMD and WORKDIR;
/// a field left out is the image's own.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageConfig {
    /// At most 1,500 items.
    #[serde(default)]
    #[schemars(length(max = 1500))]
    pub entry_point: Vec<String>,
    /// At most 1,500 items.
    #[serde(default)]
    #[schemars(length(max = 1500))]
    pub command: Vec<String>,
    /// At most 1,000 characters.
    #[schemars(length(max = 1000))]
    pub working_directory: Option<String>,
}
