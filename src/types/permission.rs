//! Resource-based policy statements the product manages (AddPermission / RemovePermission),
//! as the manifest names them and as AWS keeps them.

use serde::Serialize;

/// One statement's grant. Observed, `principal` is in AWS's stored form (a service principal, or
/// an ARN: an account id becomes `arn:PARTITION:iam::ID:root`); desired, it is as the manifest
/// names it, since an account's ARN depends on the function's partition ([`Permission::stored`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Permission {
    pub principal: String,
    pub action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_arn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_account: Option<String>,
    /// AddPermission's `FunctionUrlAuthType` (`NONE`, `AWS_IAM`): the statement applies only to
    /// function URLs of that auth type (condition `lambda:FunctionUrlAuthType`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function_url_auth_type: Option<String>,
    /// AddPermission's `InvokedViaFunctionUrl`: the statement applies only to invocations through
    /// a function URL (condition `lambda:InvokedViaFunctionUrl`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoked_via_function_url: Option<bool>,
}

/// Statement ids the controller owns start with this; no other statement is ever removed.
pub const PERMISSION_SID_PREFIX: &str = "lambda-reconciler-";

/// The default action of a permission.
pub const INVOKE: &str = "lambda:InvokeFunction";

impl Permission {
    /// The grant as AWS stores it for a function in `partition` (`aws`, `aws-cn`,
    /// `aws-us-gov`, …): an account id becomes that partition's `arn:PARTITION:iam::ID:root`.
    pub fn stored(&self, partition: &str) -> Permission {
        let p = &self.principal;
        let principal = if crate::types::is_account(p) { format!("arn:{partition}:iam::{p}:root") } else { p.clone() };
        Permission { principal, ..self.clone() }
    }
}

/// The statement id the controller writes for the manifest's permission `name`.
pub fn owned_sid(name: &str) -> String {
    format!("{PERMISSION_SID_PREFIX}{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_principal_is_stored_as_its_root_in_the_functions_partition() {
        let p = Permission {
            principal: "111122223333".into(),
            action: INVOKE.into(),
            source_arn: None,
            source_account: None,
            function_url_auth_type: None,
            invoked_via_function_url: None,
        };
        for partition in ["aws", "aws-cn", "aws-us-gov"] {
            assert_eq!(p.stored(partition).principal, format!("arn:{partition}:iam::111122223333:root"));
        }
        let service = Permission { principal: "s3.amazonaws.com".into(), ..p };
        assert_eq!(service.stored("aws-cn"), service, "a service principal is kept");
    }
}
