//! Resource-based policy statements the product manages (AddPermission / RemovePermission),
//! as the manifest names them and as AWS keeps them.

use serde::Serialize;

/// One statement's grant. `principal` is in AWS's stored form (a service principal, or an ARN:
/// an account id becomes `arn:aws:iam::ID:root`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Permission {
    pub principal: String,
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_account: Option<String>,
}

/// Statement ids the controller owns start with this; no other statement is ever removed.
pub const PERMISSION_SID_PREFIX: &str = "lambda-reconciler-";

/// The default action of a permission.
pub const INVOKE: &str = "lambda:InvokeFunction";

/// AWS's stored form of a principal.
pub fn principal(p: &str) -> String {
    if p.len() == 12 && p.chars().all(|c| c.is_ascii_digit()) {
        format!("arn:aws:iam::{p}:root")
    } else {
        p.to_string()
    }
}

/// The statement id the controller writes for the manifest's permission `name`.
pub fn owned_sid(name: &str) -> String {
    format!("{PERMISSION_SID_PREFIX}{name}")
}
