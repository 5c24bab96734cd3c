//! SSM Parameter Store reads: batched GetParameters (10 names a call) with decryption.

use std::collections::BTreeMap;

use aws_sdk_ssm::types::{ParameterStringFilter, ParameterType};

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

    /// Every SecureString of the region, decrypted (for `export` to recognise secret values; the
    /// values never leave the caller).
    pub async fn secure_strings(&self) -> Result<BTreeMap<String, Parameter>, AwsError> {
        const OP: &str = "ssm:DescribeParameters";
        let filter =
            ParameterStringFilter::builder().key("Type").option("Equals").values("SecureString").build().map_err(
                |e| AwsError {
                    operation: OP,
                    code: "BuildError".into(),
                    message: e.to_string(),
                    status: None,
                    class: super::ErrorClass::Terminal,
                },
            )?;
        let mut names = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .caller
                .call(OP, || {
                    self.client
                        .describe_parameters()
                        .parameter_filters(filter.clone())
                        .max_results(50)
                        .set_next_token(token.clone())
                        .send()
                })
                .await?;
            names.extend(page.parameters().iter().filter_map(|p| p.name().map(str::to_string)));
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        Ok(self.get_parameters(&names).await?.0.into_iter().filter(|(k, _)| !k.starts_with("arn:")).collect())
    }
}
