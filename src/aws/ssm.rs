//! SSM Parameter Store reads: batched GetParameters (10 names a call) with decryption, and the
//! region's snapshot of every parameter the manifests use, read once per resync.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use aws_sdk_ssm::types::{ParameterStringFilter, ParameterType};

use super::call::{AwsError, Caller, ErrorClass};
use super::pages;
use super::values::Values;
use crate::types::Parameter;

/// GetParameters accepts at most 10 names per call.
pub const BATCH: usize = 10;

#[derive(Clone)]
pub struct Ssm {
    client: aws_sdk_ssm::Client,
    caller: Caller,
    /// The region's snapshot of the parameters the manifests use.
    values: Values<String>,
}

impl Ssm {
    pub fn new(config: &aws_config::SdkConfig, caller: Caller, stale_after: Duration) -> Self {
        Ssm { client: aws_sdk_ssm::Client::new(config), caller, values: Values::new(stale_after, String::clone) }
    }

    /// Every parameter name the region's manifests use.
    pub fn set_wanted(&self, names: Vec<String>) {
        self.values.set_wanted(names);
    }

    /// The values of `names` for `consumer` (a function), from the region snapshot: a refresh
    /// reads every wanted name in batches of 10; names new since are read on their own.
    pub async fn resolve(&self, consumer: &str, names: &[String]) -> Result<BTreeMap<String, Parameter>, AwsError> {
        let out: HashSet<String> = names.iter().cloned().collect();
        let all = |every: Vec<String>| async move { self.read_leniently(&every).await };
        // New names, or a batch refused as a whole: this function's own (its error only).
        let some = |missing: Vec<String>| async move { Ok(self.get_parameters(&missing).await?.0) };
        self.values.resolve((&self.caller, consumer), names, &out, all, some).await
    }

    /// Reads `names` batch by batch; a batch refused for good (access denied, invalid) is left out
    /// of the returned read set rather than failing every function. Transient errors fail.
    async fn read_leniently(
        &self,
        names: &[String],
    ) -> Result<(BTreeMap<String, Parameter>, HashSet<String>), AwsError> {
        let mut values = BTreeMap::new();
        let mut read = HashSet::new();
        for chunk in names.chunks(BATCH) {
            match self.get_parameters(chunk).await {
                Ok((found, _)) => {
                    values.extend(found);
                    read.extend(chunk.iter().cloned());
                }
                Err(e) if matches!(e.class, ErrorClass::Terminal | ErrorClass::NotFound) => {
                    tracing::debug!(code = %e.code, names = chunk.len(), "a parameter batch was refused; its functions read their own");
                }
                Err(e) => return Err(e),
            }
        }
        Ok((values, read))
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
                // AWS answers `/name:3` or `/name:label` with the bare Name and the selector apart
                // (Selector: ":3"); requested by ARN or by name: index under both, each with the
                // selector, so the string the manifest wrote finds it.
                let selector = p.selector().unwrap_or_default();
                if let Some(arn) = p.arn() {
                    found.insert(format!("{arn}{selector}"), Parameter { value: value.clone(), secure });
                }
                found.insert(format!("{}{selector}", p.name().unwrap_or_default()), Parameter { value, secure });
            }
            missing.extend(out.invalid_parameters().iter().cloned());
        }
        Ok((found, missing))
    }

    /// Every SecureString of the region the caller may read, decrypted (for `export` to recognise
    /// secret values; the values never leave the caller), and how many it may not read (a batch
    /// refused as a whole, say GetParameters allowed only under a path, is skipped, not fatal).
    pub async fn secure_strings(&self) -> Result<(BTreeMap<String, Parameter>, usize), AwsError> {
        const OP: &str = "ssm:DescribeParameters";
        let filter =
            ParameterStringFilter::builder().key("Type").option("Equals").values("SecureString").build().map_err(
                |e| AwsError {
                    operation: OP,
                    code: "BuildError".into(),
                    message: e.to_string(),
                    status: None,
                    class: ErrorClass::Terminal,
                },
            )?;
        let filter = &filter;
        let names = pages::all(OP, |token| async move {
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
            let names = page.parameters().iter().filter_map(|p| p.name().map(str::to_string)).collect();
            Ok((names, page.next_token().map(str::to_string)))
        })
        .await?;
        let (values, read) = self.read_leniently(&names).await?;
        let values = values.into_iter().filter(|(k, _)| !k.starts_with("arn:")).collect();
        Ok((values, names.len() - read.len()))
    }
}
