//! Recursive loop detection, runtime management, code signing and user tags: the reads the plan
//! needs (each only when managed) and their writes.

use std::collections::BTreeMap;

use aws_sdk_lambda::types::{RecursiveLoop, UpdateRuntimeOn};

use super::{ignore_not_found, Lambda};
use crate::aws::call::AwsError;
use crate::types::{DesiredConfigs, FunctionState, LiveConfigs, RuntimeManagement};

impl Lambda {
    /// The manifest fields `export` writes for these configurations: the user tags, and each
    /// configuration that is not AWS's default (defaults are left out: unmanaged).
    pub async fn export_configs(
        &self,
        function: &str,
        f: &FunctionState,
    ) -> Result<serde_json::Map<String, serde_json::Value>, AwsError> {
        use serde_json::json;
        let mut spec = serde_json::Map::new();
        if let Some(tags) = f.user_tags.as_ref().filter(|t| !t.is_empty()) {
            spec.insert("tags".into(), json!(tags));
        }
        let recursion = self.get_recursion(function).await?;
        if recursion != crate::types::DEFAULT_RECURSIVE_LOOP {
            spec.insert("recursiveLoop".into(), json!(recursion));
        }
        if f.package.kind == crate::types::PackageType::Image {
            return Ok(spec);
        }
        let runtime = self.get_runtime_management(function, None).await?;
        if runtime != RuntimeManagement::default_mode() {
            spec.insert("runtimeManagement".into(), json!(runtime));
        }
        if let Some(arn) = self.get_code_signing(function).await? {
            spec.insert("codeSigningConfigArn".into(), json!(arn));
        }
        Ok(spec)
    }

    /// The live configurations `want` manages (no call for the others).
    pub async fn read_configs(&self, function: &str, want: &DesiredConfigs) -> Result<LiveConfigs, AwsError> {
        let mut live = LiveConfigs::default();
        if !want.recursive_loop.is_absent() {
            live.recursive_loop = Some(self.get_recursion(function).await?);
        }
        if !want.runtime_management.is_absent() {
            live.runtime_management = Some(self.get_runtime_management(function, None).await?);
        }
        if !want.code_signing_config_arn.is_absent() {
            live.code_signing_config_arn = Some(self.get_code_signing(function).await?);
        }
        Ok(live)
    }

    /// GetFunctionRecursionConfig (AWS's default, Terminate, when it answers none).
    pub async fn get_recursion(&self, function: &str) -> Result<String, AwsError> {
        let out = self
            .caller
            .call("lambda:GetFunctionRecursionConfig", || {
                self.client.get_function_recursion_config().function_name(function).send()
            })
            .await?;
        Ok(out.recursive_loop().map_or(crate::types::DEFAULT_RECURSIVE_LOOP, |r| r.as_str()).to_string())
    }

    /// PutFunctionRecursionConfig on the unqualified function.
    pub async fn put_recursion(&self, function: &str, value: &str) -> Result<(), AwsError> {
        self.caller
            .call("lambda:PutFunctionRecursionConfig", || {
                self.client
                    .put_function_recursion_config()
                    .function_name(function)
                    .recursive_loop(RecursiveLoop::from(value))
                    .send()
            })
            .await
            .map(drop)
    }

    /// GetRuntimeManagementConfig of `$LATEST` (or of a version).
    pub async fn get_runtime_management(
        &self,
        function: &str,
        qualifier: Option<&str>,
    ) -> Result<RuntimeManagement, AwsError> {
        let out = self
            .caller
            .call("lambda:GetRuntimeManagementConfig", || {
                self.client
                    .get_runtime_management_config()
                    .function_name(function)
                    .set_qualifier(qualifier.map(str::to_string))
                    .send()
            })
            .await?;
        Ok(RuntimeManagement {
            update_runtime_on: out
                .update_runtime_on()
                .map_or(crate::types::DEFAULT_UPDATE_RUNTIME_ON, |u| u.as_str())
                .to_string(),
            runtime_version_arn: out.runtime_version_arn().filter(|a| !a.is_empty()).map(str::to_string),
        })
    }

    /// PutRuntimeManagementConfig of `$LATEST`. AWS: RuntimeVersionArn "is only required if
    /// you're using the Manual runtime update mode".
    pub async fn put_runtime_management(&self, function: &str, r: &RuntimeManagement) -> Result<(), AwsError> {
        self.caller
            .call("lambda:PutRuntimeManagementConfig", || {
                self.client
                    .put_runtime_management_config()
                    .function_name(function)
                    .update_runtime_on(UpdateRuntimeOn::from(r.update_runtime_on.as_str()))
                    .set_runtime_version_arn(r.runtime_version_arn.clone())
                    .send()
            })
            .await
            .map(drop)
    }

    /// GetFunctionCodeSigningConfig: the configuration's ARN, `None` when the function has none.
    pub async fn get_code_signing(&self, function: &str) -> Result<Option<String>, AwsError> {
        let res = self
            .caller
            .call("lambda:GetFunctionCodeSigningConfig", || {
                self.client.get_function_code_signing_config().function_name(function).send()
            })
            .await;
        match res {
            Ok(out) => Ok(Some(out.code_signing_config_arn().to_string()).filter(|a| !a.is_empty())),
            Err(e) if e.code == "CodeSigningConfigNotFoundException" => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// PutFunctionCodeSigningConfig.
    pub async fn put_code_signing(&self, function: &str, arn: &str) -> Result<(), AwsError> {
        self.caller
            .call("lambda:PutFunctionCodeSigningConfig", || {
                self.client
                    .put_function_code_signing_config()
                    .function_name(function)
                    .code_signing_config_arn(arn)
                    .send()
            })
            .await
            .map(drop)
    }

    /// DeleteFunctionCodeSigningConfig (none left is success).
    pub async fn delete_code_signing(&self, function: &str) -> Result<(), AwsError> {
        let res = self
            .caller
            .call("lambda:DeleteFunctionCodeSigningConfig", || {
                self.client.delete_function_code_signing_config().function_name(function).send()
            })
            .await;
        ignore_not_found(res.map(drop))
    }

    /// TagResource of user tags on the function's unqualified ARN.
    pub async fn tag_user(&self, arn: &str, tags: &BTreeMap<String, String>) -> Result<(), AwsError> {
        let tags: std::collections::HashMap<String, String> = tags.clone().into_iter().collect();
        self.caller
            .call("lambda:TagResource", || self.client.tag_resource().resource(arn).set_tags(Some(tags.clone())).send())
            .await
            .map(drop)
    }

    /// UntagResource of user tags (never called with a key of the controller or of AWS).
    pub async fn untag_user(&self, arn: &str, keys: &[String]) -> Result<(), AwsError> {
        let keys: Vec<String> = keys.iter().filter(|k| crate::types::is_user_tag(k)).cloned().collect();
        if keys.is_empty() {
            return Ok(());
        }
        self.caller
            .call("lambda:UntagResource", || {
                self.client.untag_resource().resource(arn).set_tag_keys(Some(keys.clone())).send()
            })
            .await
            .map(drop)
    }
}
