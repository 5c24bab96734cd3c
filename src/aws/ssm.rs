//! SSM Parameter Store reads: batched GetParameters (10 names a call) with decryption.

use std::collections::BTreeMap;

use aws_sdk_ssm::types::ParameterType;

use super::call::{AwsError, Caller};

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

/// GetParameters accepts at most 10 names per call.
pub const BATCH: usize = 10;

#[derive(Clone)]
pub struct Ssm {
    client: aws_sdk_ssm::Client,
    caller: Caller,
}

impl Ssm {
    pub fn new(config: &aws_config::SdkConfig, caller: Caller) -> Self {
        Ssm { client: aws_sdk_ssm::Client::new(config), caller }
    }

    /// Resolves `names`; names that do not exist are returned in the second map as missing.
    pub async fn get_parameters(
        &self,
        names: &[String],
    ) -> Result<(BTreeMap<String, Parameter>, Vec<String>), AwsError> {
        let mut found = BTreeMap::new();
        let mut missing = Vec::new();
        for chunk in names.chunks(BATCH) {
            let out = self
                .caller
                .call("ssm:GetParameters", || {
                    self.client.get_parameters().set_names(Some(chunk.to_vec())).with_decryption(true).send()
                })
                .await?;
            for p in out.parameters() {
                let secure = p.r#type() == Some(&ParameterType::SecureString);
                let value = p.value().unwrap_or_default().to_string();
                // Requested by ARN or by name: index under both so either lookup finds it.
                if let Some(arn) = p.arn() {
                    found.insert(arn.to_string(), Parameter { value: value.clone(), secure });
                }
                found.insert(p.name().unwrap_or_default().to_string(), Parameter { value, secure });
            }
            missing.extend(out.invalid_parameters().iter().cloned());
        }
        Ok((found, missing))
    }
}
