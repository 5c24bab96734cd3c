//! CreateFunction (opt-in creation) and DeleteFunction (of a function the controller created).

use aws_sdk_lambda::types::{
    ApplicationLogLevel, Architecture, DeadLetterConfig, Environment, EphemeralStorage, FunctionCode, LogFormat,
    LoggingConfig, PackageType, Runtime, SystemLogLevel, TracingConfig, TracingMode,
};

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
        let s = &c.settings;
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
        let to_i32 = |n: Option<i64>| n.map(|n| i32::try_from(n).unwrap_or(i32::MAX));
        let storage = to_i32(s.ephemeral_storage).and_then(|n| EphemeralStorage::builder().size(n).build().ok());
        let logging = s.has_logging().then(|| {
            LoggingConfig::builder()
                .set_log_format(s.log_format.as_deref().map(LogFormat::from))
                .set_application_log_level(s.application_log_level.as_deref().map(ApplicationLogLevel::from))
                .set_system_log_level(s.system_log_level.as_deref().map(SystemLogLevel::from))
                .set_log_group(s.log_group.clone())
                .build()
        });
        let out = self
            .caller
            .call("lambda:CreateFunction", || {
                self.client
                    .create_function()
                    .function_name(function)
                    .package_type(package.clone())
                    .code(code.clone())
                    .set_architectures(architectures.clone())
                    .set_role(s.execution_role.clone())
                    .set_runtime(s.runtime.as_deref().map(Runtime::from))
                    .set_handler(s.handler.clone())
                    .set_environment(env.clone())
                    .set_memory_size(to_i32(s.memory_size))
                    .set_timeout(to_i32(s.timeout))
                    .set_ephemeral_storage(storage.clone())
                    .set_description(s.description.clone().filter(|d| !d.is_empty()))
                    .set_tracing_config(
                        s.tracing.as_deref().map(|m| TracingConfig::builder().mode(TracingMode::from(m)).build()),
                    )
                    .set_layers(s.layers.clone().filter(|l| !l.is_empty()))
                    .set_dead_letter_config(
                        s.dead_letter_target
                            .as_ref()
                            .filter(|t| !t.is_empty())
                            .map(|t| DeadLetterConfig::builder().target_arn(t).build()),
                    )
                    .set_kms_key_arn(s.kms_key_arn.clone().filter(|k| !k.is_empty()))
                    .set_logging_config(logging.clone())
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
