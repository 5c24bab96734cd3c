//! The function's own configuration (`$LATEST` settings and environment, versions): read,
//! update, publish.

use std::collections::BTreeMap;

use aws_sdk_lambda::types::{Architecture, Environment, FunctionConfiguration, LastUpdateStatus, State};

use super::definition::{with_parts, Parts};
use super::{applied_generation, code_record, created_by, markers, published, qualifier_of, Lambda};
use crate::aws::call::AwsError;
use crate::types::limits::MAX_CACHED_VERSIONS;
use crate::types::{
    CodeLocation, CodeRecord, CodeSource, FunctionState, Package, PackageType, Published, SensitiveEnv, Settings,
    VersionConfig, CODE_TAG, PUBLISHED_TAG, SENSITIVE_ENV_TAG,
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

/// AWS (State): "Failed": "When the function creation fails, Lambda sets the function state to
/// failed"; the reason says why.
fn creation_failed(c: &FunctionConfiguration) -> Option<String> {
    (c.state() == Some(&State::Failed)).then(|| {
        let code = c.state_reason_code().map_or("", |r| r.as_str());
        format!("{code}: {}", c.state_reason().unwrap_or_default())
    })
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
        if let (Some(arn), Some(_)) = (conf.and_then(|c| c.function_arn()), out.tags()) {
            super::super::ledger::markers(arn, &markers(out.tags()));
        }
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
            created_by: created_by(out.tags()),
            pending: conf.and_then(|c| c.state()) == Some(&State::Pending),
            creation_failed: conf.and_then(creation_failed),
            user_tags: out.tags().map(crate::types::user_tags),
            package: Package {
                kind: PackageType::parse(conf.and_then(|c| c.package_type()).map(|p| p.as_str())),
                image_uri: out.code().and_then(|c| c.image_uri()).map(str::to_string),
                architectures: conf
                    .map(|c| c.architectures().iter().map(|a| a.as_str().to_string()).collect())
                    .unwrap_or_default(),
            },
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
        let parts = Parts::of(s);
        self.caller
            .call("lambda:UpdateFunctionConfiguration", || {
                let update = self.client.update_function_configuration().function_name(function);
                with_parts!(update, parts.clone()).set_environment(env.clone()).send()
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

    /// UpdateFunctionCode from the S3 object or the ECR image `code` names, with the
    /// architecture when managed, guarded by `revision_id`.
    /// AWS (UpdateFunctionCode): "S3ObjectVersion: For versioned objects, the version of the
    /// deployment package object to use." The bucket must be in the function's region. "ImageUri:
    /// URI of a container image in the Amazon ECR registry. Do not use for a function defined
    /// with a .zip file archive." "RevisionId: Update the function only if the revision ID matches
    /// the ID that's specified."
    pub async fn update_code(
        &self,
        function: &str,
        code: &CodeSource,
        architecture: Option<&str>,
        revision_id: Option<&str>,
    ) -> Result<(), AwsError> {
        let architectures = architecture.map(|a| vec![Architecture::from(a)]);
        self.caller
            .call("lambda:UpdateFunctionCode", || {
                let r = self
                    .client
                    .update_function_code()
                    .function_name(function)
                    .set_architectures(architectures.clone())
                    .set_revision_id(revision_id.map(str::to_string));
                match &code.location {
                    CodeLocation::S3 { bucket, key, object_version } => {
                        r.s3_bucket(bucket).s3_key(key).set_s3_object_version(object_version.clone())
                    }
                    CodeLocation::Image { uri } => r.image_uri(uri),
                }
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
