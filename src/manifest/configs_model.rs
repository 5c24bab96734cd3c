//! The manifest's function-level configurations: `recursiveLoop`, `runtimeManagement` (with
//! `tags` and `codeSigningConfigArn`, plain fields of `Spec`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Recursive loop detection: `Terminate` (AWS's default) stops a function invoked in a loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum RecursiveLoop {
    Allow,
    Terminate,
}

/// When Lambda moves the function to a new runtime version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum UpdateRuntimeOn {
    /// Lambda's default: runtime updates are rolled out automatically.
    Auto,
    /// On the next update of the function.
    FunctionUpdate,
    /// Pinned to `runtimeVersionArn`.
    Manual,
}

impl UpdateRuntimeOn {
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateRuntimeOn::Auto => "Auto",
            UpdateRuntimeOn::FunctionUpdate => "FunctionUpdate",
            UpdateRuntimeOn::Manual => "Manual",
        }
    }
}

/// `$LATEST`'s runtime management (zip functions only).
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuntimeManagementSpec {
    pub update_runtime_on: UpdateRuntimeOn,
    /// With `Manual` only (and required then): `arn:aws:lambda:REGION::runtime:ID`, 26-2048
    /// characters.
    #[schemars(length(min = 26, max = 2048))]
    pub runtime_version_arn: Option<String>,
}
