//! A function's (or a qualifier's) resource-based policy: its statements read, added, removed.

use std::collections::BTreeMap;

use aws_sdk_lambda::types::FunctionUrlAuthType;
use serde_json::Value;

use super::Lambda;
use crate::aws::call::AwsError;
use crate::types::Permission;

/// The grant of one policy statement as GetPolicy returns it.
fn grant(s: &Value) -> Permission {
    let principal = match &s["Principal"] {
        Value::String(p) => p.clone(),
        Value::Object(m) => m.values().next().and_then(|v| v.as_str()).unwrap_or_default().to_string(),
        _ => String::new(),
    };
    let condition = |kind: &str, key: &str| s["Condition"][kind][key].as_str().map(str::to_string);
    Permission {
        principal,
        action: s["Action"].as_str().unwrap_or_default().to_string(),
        source_arn: condition("ArnLike", "AWS:SourceArn"),
        source_account: condition("StringEquals", "AWS:SourceAccount"),
        function_url_auth_type: condition("StringEquals", "lambda:FunctionUrlAuthType"),
        invoked_via_function_url: condition("Bool", "lambda:InvokedViaFunctionUrl").map(|b| b == "true"),
    }
}

impl Lambda {
    /// GetPolicy of `qualifier` (`None`: the unqualified function): statements by id; none when
    /// there is no policy (or the qualifier does not exist yet).
    pub async fn get_policy(
        &self,
        function: &str,
        qualifier: Option<&str>,
    ) -> Result<BTreeMap<String, Permission>, AwsError> {
        let res = self
            .caller
            .call("lambda:GetPolicy", || {
                self.client.get_policy().function_name(function).set_qualifier(qualifier.map(str::to_string)).send()
            })
            .await;
        let out = match res {
            Ok(o) => o,
            Err(e) if e.is_not_found() => return Ok(BTreeMap::new()),
            Err(e) => return Err(e),
        };
        let doc: Value = serde_json::from_str(out.policy().unwrap_or("{}")).unwrap_or_default();
        let statements = match &doc["Statement"] {
            Value::Array(a) => a.clone(),
            Value::Object(_) => vec![doc["Statement"].clone()],
            _ => vec![],
        };
        Ok(statements.iter().filter_map(|s| Some((s["Sid"].as_str()?.to_string(), grant(s)))).collect())
    }

    /// AddPermission: statement `sid` on `qualifier`.
    pub async fn add_permission(
        &self,
        function: &str,
        qualifier: Option<&str>,
        sid: &str,
        p: &Permission,
    ) -> Result<(), AwsError> {
        self.caller
            .call("lambda:AddPermission", || {
                self.client
                    .add_permission()
                    .function_name(function)
                    .set_qualifier(qualifier.map(str::to_string))
                    .statement_id(sid)
                    .action(&p.action)
                    .principal(&p.principal)
                    .set_source_arn(p.source_arn.clone())
                    .set_source_account(p.source_account.clone())
                    .set_function_url_auth_type(p.function_url_auth_type.as_deref().map(FunctionUrlAuthType::from))
                    .set_invoked_via_function_url(p.invoked_via_function_url)
                    .send()
            })
            .await
            .map(drop)
    }

    /// RemovePermission: statement `sid` of `qualifier` (already gone counts as removed).
    pub async fn remove_permission(&self, function: &str, qualifier: Option<&str>, sid: &str) -> Result<(), AwsError> {
        let res = self
            .caller
            .call("lambda:RemovePermission", || {
                self.client
                    .remove_permission()
                    .function_name(function)
                    .set_qualifier(qualifier.map(str::to_string))
                    .statement_id(sid)
                    .send()
            })
            .await;
        match res {
            Err(e) if e.is_not_found() => Ok(()),
            other => other.map(drop),
        }
    }
}
