//! Who the daemon is (STS GetCallerIdentity): its CloudTrail events carry this ARN.

use super::call::{AwsError, Caller};

/// The account and ARN of a set of credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub account: String,
    pub arn: String,
}

/// GetCallerIdentity needs no IAM permission ("No permissions are required to perform this
/// operation", STS API reference).
pub async fn identity(config: &aws_config::SdkConfig, caller: &Caller) -> Result<Identity, AwsError> {
    let client = aws_sdk_sts::Client::new(config);
    let out = caller.call_unlimited("sts:GetCallerIdentity", || client.get_caller_identity().send()).await?;
    Ok(Identity { account: out.account.unwrap_or_default(), arn: out.arn.unwrap_or_default() })
}
