//! A function the controller creates (`create: true`): what CreateFunction carries, and the tag that marks it as the controller's own.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{CodeSource, EnvMap, Settings};

/// The tag CreateFunction sets: the name of the manifest that created the function. Only a
/// function carrying it (naming the removed manifest) is ever deleted.
pub const CREATED_BY_TAG: &str = "lambda-reconciler.io/created-by";

/// One CreateFunction: the code, the managed settings (unmanaged ones take AWS's defaults), the
/// environment when managed, and the tags set at creation (so a crash right after it still
/// leaves the function marked as created by this manifest).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Creation {
    pub code: CodeSource,
    /// `spec.architectures`' one value (`None`: Lambda's default, x86_64).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    pub settings: Settings,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<EnvMap>,
    pub tags: BTreeMap<String, String>,
    /// CodeSigningConfigArn, when the manifest names one (set before any code is deployed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_signing: Option<String>,
}
