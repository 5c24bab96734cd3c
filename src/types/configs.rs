//! The function-level configurations beside UpdateFunctionConfiguration: recursive loop
//! detection, runtime management and code signing, desired (with user tags) and live.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Field;

/// AWS (GetFunctionRecursionConfig): "By default, Lambda sets your function's configuration to
/// Terminate."
pub const DEFAULT_RECURSIVE_LOOP: &str = "Terminate";

/// AWS (UpdateRuntimeOn): the default mode is `Auto`.
pub const DEFAULT_UPDATE_RUNTIME_ON: &str = "Auto";

/// `$LATEST`'s runtime management: the update mode and, in `Manual` mode only, the runtime
/// version's ARN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeManagement {
    pub update_runtime_on: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime_version_arn: Option<String>,
}

impl RuntimeManagement {
    /// AWS's default (`null` in a manifest).
    pub fn default_mode() -> Self {
        RuntimeManagement { update_runtime_on: DEFAULT_UPDATE_RUNTIME_ON.into(), runtime_version_arn: None }
    }
}

/// What a manifest says of the function-level configurations (each tri-state).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DesiredConfigs {
    /// The whole set of user tags; `Null` removes them all.
    pub tags: Field<BTreeMap<String, String>>,
    /// `Allow` or `Terminate`; `Null`: Terminate.
    pub recursive_loop: Field<String>,
    /// `Null`: Auto.
    pub runtime_management: Field<RuntimeManagement>,
    /// `Null`: no code signing configuration.
    pub code_signing_config_arn: Field<String>,
}

impl DesiredConfigs {
    pub fn manages_any(&self) -> bool {
        !(self.tags.is_absent()
            && self.recursive_loop.is_absent()
            && self.runtime_management.is_absent()
            && self.code_signing_config_arn.is_absent())
    }
}

/// The live configurations, each read only when its field is managed (`None`: not read).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LiveConfigs {
    pub recursive_loop: Option<String>,
    pub runtime_management: Option<RuntimeManagement>,
    /// `Some(None)`: read, the function has none.
    pub code_signing_config_arn: Option<Option<String>>,
}
