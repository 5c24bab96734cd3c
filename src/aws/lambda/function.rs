//! The function's own configuration (`$LATEST` settings and environment, versions): read,
//! update, publish.

use std::collections::BTreeMap;

use aws_sdk_lambda::types::{
    ApplicationLogLevel, DeadLetterConfig, Environment, EphemeralStorage, FunctionConfiguration, LastUpdateStatus,
    LogFormat, LoggingConfig, SystemLogLevel, TracingConfig, TracingMode,
};

use super::{applied_generation, code_record, markers, published, qualifier_of, Lambda};
use crate::aws::call::AwsError;
use crate::types::limits::MAX_CACHED_VERSIONS;
use crate::types::{
    CodeRecord, CodeSource, FunctionState, Published, SensitiveEnv, Settings, VersionConfig, CODE_TAG, PUBLISHED_TAG,
    SENSITIVE_ENV_TAG,
};

/// The state reason codes that mean Lambda cannot decrypt the environment (the variables are then
/// absent from the answer, not empty).
const KMS_REASONS: &[&str] = &["KMSKeyAccessDenied", "KMSKeyNotFound", "InvalidStateKMSKey", "DisabledKMSKey"];

/// AWS (EnvironmentResponse.Error): "Error messages for environment variables that couldn't be
/// applied"; a KMS StateReasonCode / LastUpdateStatusReasonCode means the same for reading them.
fn environment_error(c: &aws_sdk_lambda::types::FunctionConfiguration) -> Option<String> {
    if let Some(e) = c.environment().and_then(|e| e.error()) {
        return Some(format!("{}: {}", e.error_code().unwrap_or("EnvironmentError"), e.message().unwrap_or_default()));
    }
    let state = c.state_reason_code().map(|r| (r.as_str(), c.state_reason()));
    let update = c.last_update_status_reason_code().map(|r| (r.as_str(), c.last_update_status_reason()));
    state
        .into_iter()
        .chain(update)
        .find(|(code, _)| KMS_REASONS.contains(code))
        .map(|(code, reason)| format!("{code}: {}", reason.unwrap_or_default()))
}

/// The settings of a configuration, AWS's defaults for what is unset.
fn settings(c: &FunctionConfiguration) -> Settings {
    let logging = c.logging_config();
    let name = c.function_name().unwrap_or_default();
    Settings {
        memory_size: c.memory_size().map(i64::from),
        timeout: c.timeout().map(i64::from),
        ephemeral_storage: Some(c.ephemeral_storage().map_or(512, |e| e.size().into())),
        description: Some(c.description().unwrap_or_default().to_string()),
        tracing: Some(c.tracing_config().and_then(|t| t.mode()).map_or("PassThrough", |m| m.as_str()).to_string()),
        layers: Some(c.layers().iter().filter_map(|l| l.arn().map(str::to_string)).collect()),
        dead_letter_target: Some(c.dead_letter_config().and_then(|d| d.target_arn()).unwrap_or_default().to_string()),
        kms_key_arn: Some(c.kms_key_arn().unwrap_or_default().to_string()),
        log_format: Some(logging.and_then(|l| l.log_format()).map_or("Text", |f| f.as_str()).to_string()),
        application_log_level: logging.and_then(|l| l.application_log_level()).map(|l| l.as_str().to_string()),
        system_log_level: logging.and_then(|l| l.system_log_level()).map(|l| l.as_str().to_string()),
        log_group: Some(logging.and_then(|l| l.log_group()).map_or(format!("/aws/lambda/{name}"), str::to_string)),
        ..super::definition::read(c, Settings::default())
    }
}

/// The variables of a configuration (none when unset or unreadable).
fn variables(c: Option<&FunctionConfiguration>) -> BTreeMap<String, String> {
    c.and_then(|c| c.environment())
        .and_then(|e| e.variables())
        .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

/// AWS (LastUpdateStatus): "Failed": the update did not apply; the reason says why.
fn update_failed(c: &FunctionConfiguration) -> Option<String> {
    (c.last_update_status() == Some(&LastUpdateStatus::Failed)).then(|| {
        let code = c.last_update_status_reason_code().map_or("", |r| r.as_str());
        format!("{code}: {}", c.last_update_status_reason().unwrap_or_default())
    })
}

impl Lambda {
    /// GetFunction: configuration, environment and reserved concurrency in one call.
    pub async fn get_function(&self, function: &str) -> Result<Option<FunctionState>, AwsError> {
        let res =
            self.caller.call("lambda:GetFunction", || self.client.get_function().function_name(function).send()).await;
        let out = match res {
            Ok(o) => o,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        let conf = out.configuration();
        let environment = variables(conf);
        Ok(Some(FunctionState {
            environment_error: conf.and_then(environment_error),
            arn: conf.and_then(|c| c.function_arn()).unwrap_or_default().to_string(),
            environment,
            reserved_concurrency: out.concurrency().and_then(|c| c.reserved_concurrent_executions()).map(i64::from),
            last_update_in_progress: conf.and_then(|c| c.last_update_status()) == Some(&LastUpdateStatus::InProgress),
            applied_generation: applied_generation(out.tags(), out.tags_error()),
            markers: markers(out.tags()),
            revision_id: conf.and_then(|c| c.revision_id()).unwrap_or_default().to_string(),
            code_sha256: conf.and_then(|c| c.code_sha256()).unwrap_or_default().to_string(),
            role: conf.and_then(|c| c.role()).unwrap_or_default().to_string(),
            published: published(out.tags()),
            code: code_record(out.tags()),
            package_type: conf.and_then(|c| c.package_type()).map_or("", |p| p.as_str()).to_string(),
            settings: conf.map(settings).unwrap_or_default(),
            last_update_failed: conf.and_then(update_failed),
            // Tags refused (TagsError): every variable is taken as secret until they can be read.
            sensitive_env: match out.tags_error() {
                Some(_) => SensitiveEnv::All,
                None => SensitiveEnv::parse(out.tags().and_then(|t| t.get(SENSITIVE_ENV_TAG)).map(String::as_str)),
            },
        }))
    }

    /// One UpdateFunctionConfiguration for the environment (when `vars`) and the set `settings`.
    pub async fn update_configuration(
        &self,
        function: &str,
        vars: Option<&BTreeMap<String, String>>,
        s: &Settings,
    ) -> Result<(), AwsError> {
        let env = vars.map(|v| Environment::builder().set_variables(Some(v.clone().into_iter().collect())).build());
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
        self.caller
            .call("lambda:UpdateFunctionConfiguration", || {
                let update = self.client.update_function_configuration();
                super::definition::write(update, s)
                    .function_name(function)
                    .set_environment(env.clone())
                    .set_memory_size(to_i32(s.memory_size))
                    .set_timeout(to_i32(s.timeout))
                    .set_ephemeral_storage(storage.clone())
                    .set_description(s.description.clone())
                    .set_tracing_config(
                        s.tracing.as_deref().map(|m| TracingConfig::builder().mode(TracingMode::from(m)).build()),
                    )
                    .set_layers(s.layers.clone())
                    .set_dead_letter_config(
                        s.dead_letter_target.as_ref().map(|t| DeadLetterConfig::builder().target_arn(t).build()),
                    )
                    .set_kms_key_arn(s.kms_key_arn.clone())
                    .set_logging_config(logging.clone())
                    .send()
            })
            .await
            .map(drop)
    }

    /// The configuration of a published version (GetFunctionConfiguration with a qualifier);
    /// `None` when the version does not exist. A version never changes, so each is read once and
    /// kept (a function's are dropped by [`Lambda::forget_versions`]).
    pub async fn version_config(&self, function: &str, version: &str) -> Result<Option<VersionConfig>, AwsError> {
        let key = (function.to_string(), version.to_string());
        if let Some(v) = self.versions.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
            return Ok(Some(v.clone()));
        }
        let res = self
            .caller
            .call("lambda:GetFunctionConfiguration", || {
                self.client.get_function_configuration().function_name(function).qualifier(version).send()
            })
            .await;
        let c = match res {
            Ok(c) => c,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        let conf = super::definition::copy(&c, FunctionConfiguration::builder())
            .set_environment(c.environment().cloned())
            .set_memory_size(c.memory_size())
            .set_timeout(c.timeout())
            .set_ephemeral_storage(c.ephemeral_storage().cloned())
            .set_description(c.description().map(str::to_string))
            .set_tracing_config(c.tracing_config().cloned())
            .set_layers(Some(c.layers().to_vec()))
            .set_dead_letter_config(c.dead_letter_config().cloned())
            .set_kms_key_arn(c.kms_key_arn().map(str::to_string))
            .set_logging_config(c.logging_config().cloned())
            .set_function_name(c.function_name().map(str::to_string))
            .build();
        let v = VersionConfig {
            environment: variables(Some(&conf)),
            settings: settings(&conf),
            role: c.role().unwrap_or_default().to_string(),
            code_sha256: c.code_sha256().unwrap_or_default().to_string(),
        };
        // An environment that could not be read (Environment.Error) is not kept: read again.
        if c.environment().and_then(|e| e.error()).is_some() {
            return Ok(Some(v));
        }
        let mut cache = self.versions.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= MAX_CACHED_VERSIONS {
            cache.clear();
        }
        cache.insert(key, v.clone());
        Ok(Some(v))
    }

    /// Drops the versions kept for `function` (it was found missing, or a version of it was
    /// published: a function deleted and created again numbers its versions anew).
    pub fn forget_versions(&self, function: &str) {
        self.versions.lock().unwrap_or_else(|e| e.into_inner()).retain(|(f, _), _| f != function);
    }

    /// PublishVersion guarded by the `$LATEST` revision and code hash read in this reconcile.
    /// AWS (PublishVersion): RevisionId "Only update the function if the revision ID matches the
    /// ID that's specified"; CodeSha256 "Only publish a version if the hash value matches the
    /// value that's specified". A mismatch means the function changed since it was read
    /// (`ErrorClass::Stale`: read again, then plan anew). Returns the version and the function's
    /// unqualified ARN.
    pub async fn publish_version(
        &self,
        function: &str,
        revision_id: &str,
        code_sha256: &str,
        description: &str,
    ) -> Result<(String, String), AwsError> {
        let res = self
            .caller
            .call("lambda:PublishVersion", || {
                self.client
                    .publish_version()
                    .function_name(function)
                    .revision_id(revision_id)
                    .code_sha256(code_sha256)
                    .description(description)
                    .send()
            })
            .await;
        // The version's ARN is qualified (`…:function:NAME:VERSION`); tags go on the function's.
        res.map(|out| {
            let arn = out.function_arn().unwrap_or_default();
            let unqualified =
                if qualifier_of(arn).is_some() { arn.rsplit_once(':').map_or(arn, |(f, _)| f) } else { arn };
            (out.version().unwrap_or_default().to_string(), unqualified.to_string())
        })
    }

    /// Records which variables hold a secret value (TagResource; an empty value for none).
    pub async fn tag_sensitive_env(&self, arn: &str, names: &SensitiveEnv) -> Result<(), AwsError> {
        self.put_tag(arn, SENSITIVE_ENV_TAG, &names.encode()).await
    }

    /// UpdateFunctionCode from the S3 object `code` names (at its version when given).
    /// AWS (UpdateFunctionCode): "S3ObjectVersion: For versioned objects, the version of the
    /// deployment package object to use." The bucket must be in the function's region.
    pub async fn update_code(&self, function: &str, code: &CodeSource) -> Result<(), AwsError> {
        self.caller
            .call("lambda:UpdateFunctionCode", || {
                self.client
                    .update_function_code()
                    .function_name(function)
                    .s3_bucket(&code.bucket)
                    .s3_key(&code.key)
                    .set_s3_object_version(code.object_version.clone())
                    .send()
            })
            .await
            .map(drop)
    }

    /// Records the code deployed (TagResource): the source digest and its CodeSha256.
    pub async fn tag_code(&self, arn: &str, r: &CodeRecord) -> Result<(), AwsError> {
        self.put_tag(arn, CODE_TAG, &r.encode()).await
    }

    /// Records the version lambda-reconciler published (TagResource).
    pub async fn tag_published(&self, arn: &str, p: &Published) -> Result<(), AwsError> {
        self.put_tag(arn, PUBLISHED_TAG, &p.encode()).await
    }
}
