//! CreateFunction (opt-in creation) and DeleteFunction (of a function the controller created).

use aws_sdk_lambda::types::{Architecture, Environment, FunctionCode, PackageType};

use super::definition::{with_parts, Parts};
use super::Lambda;
use crate::aws::call::AwsError;
use crate::types::{CodeLocation, Creation};

/// What CreateFunction answered: the function's ARN and the hash of the code Lambda read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub arn: String,
    pub code_sha256: String,
}

impl Lambda {
    /// CreateFunction with the code, the managed settings (AWS's defaults for the rest), the
    /// environment and the creation tags; `Publish` false (the controller publishes itself, once
    /// the rest of the definition is applied). AWS answers 409 ResourceConflictException when the
    /// function exists (a lost answer, another writer): the caller re-reads and adopts nothing
    /// twice.
    pub async fn create_function(&self, function: &str, c: &Creation, sent: &[&str]) -> Result<Created, AwsError> {
        let (package, code) = match &c.code.location {
            CodeLocation::S3 { bucket, key, object_version } => (
                PackageType::Zip,
                FunctionCode::builder().s3_bucket(bucket).s3_key(key).set_s3_object_version(object_version.clone()),
            ),
            // AWS: "Set to Image for container image" (a zip's Runtime and Handler are then refused).
            CodeLocation::Image { uri } => (PackageType::Image, FunctionCode::builder().image_uri(uri)),
        };
        let code = code.build();
        let architectures = c.architecture.as_deref().map(|a| vec![Architecture::from(a)]);
        let env = c.environment.as_ref().map(|e| {
            Environment::builder()
                .set_variables(Some(e.iter().map(|(k, v)| (k.clone(), v.value.clone())).collect()))
                .build()
        });
        let parts = Parts::of(&c.settings).for_creation();
        let out = self
            .caller
            .call("lambda:CreateFunction", || {
                let create = self.client.create_function().function_name(function);
                with_parts!(create, parts.clone())
                    .package_type(package.clone())
                    .code(code.clone())
                    .set_architectures(architectures.clone())
                    .set_environment(env.clone())
                    .set_tags(Some(c.tags.clone().into_iter().collect()))
                    .set_code_signing_config_arn(c.code_signing.clone())
                    .publish(false)
                    .send()
            })
            .await
            .map_err(|e| e.withholding(sent))?;
        Ok(Created {
            arn: out.function_arn().unwrap_or_default().to_string(),
            code_sha256: out.code_sha256().unwrap_or_default().to_string(),
        })
    }

    /// DeleteFunction without a qualifier: AWS deletes every version and alias with it ("A
    /// deleted Lambda function cannot be recovered"). A function already gone is not an error.
    pub async fn delete_function(&self, function: &str) -> Result<(), AwsError> {
        match self
            .caller
            .call("lambda:DeleteFunction", || self.client.delete_function().function_name(function).send())
            .await
        {
            Err(e) if e.is_not_found() => Ok(()),
            r => r.map(drop),
        }
    }
}
