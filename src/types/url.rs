//! Function URLs: a qualifier's URL configuration and the resource-policy statements it needs.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::permission::{Permission, INVOKE};

/// The manifest's key for the unqualified function's URL (AWS takes no qualifier for it).
pub const LATEST_QUALIFIER: &str = "$LATEST";
/// The statement a `NONE` URL needs: `lambda:InvokeFunctionUrl` for everyone, on URL requests.
pub const URL_SID: &str = "lambda-reconciler-url";
/// The second statement a `NONE` URL needs since October 2025: `lambda:InvokeFunction` for
/// everyone, only when invoked through the URL.
pub const URL_INVOKE_SID: &str = "lambda-reconciler-url-invoke";
/// The action of [`URL_SID`].
pub const INVOKE_URL: &str = "lambda:InvokeFunctionUrl";

/// `AuthType`: `NONE` (public, the resource policy must allow it) or `AWS_IAM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum UrlAuthType {
    None,
    AwsIam,
}

/// `InvokeMode`: `BUFFERED` (AWS's default) or `RESPONSE_STREAM`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum UrlInvokeMode {
    #[default]
    Buffered,
    ResponseStream,
}

impl UrlAuthType {
    pub fn as_str(self) -> &'static str {
        match self {
            UrlAuthType::None => "NONE",
            UrlAuthType::AwsIam => "AWS_IAM",
        }
    }
}

impl UrlInvokeMode {
    pub fn as_str(self) -> &'static str {
        match self {
            UrlInvokeMode::Buffered => "BUFFERED",
            UrlInvokeMode::ResponseStream => "RESPONSE_STREAM",
        }
    }
}

fn is_false(b: &bool) -> bool {
    !b
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

/// A URL's CORS settings; the default (nothing allowed, `maxAge` 0) is "no CORS".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UrlCors {
    #[serde(skip_serializing_if = "is_false")]
    pub allow_credentials: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allow_headers: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allow_methods: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allow_origins: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expose_headers: Vec<String>,
    #[serde(skip_serializing_if = "is_zero")]
    pub max_age: i32,
}

impl UrlCors {
    pub fn is_empty(&self) -> bool {
        *self == UrlCors::default()
    }
}

/// One qualifier's URL configuration, compared and written whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UrlConfig {
    pub auth_type: UrlAuthType,
    pub invoke_mode: UrlInvokeMode,
    #[serde(skip_serializing_if = "UrlCors::is_empty")]
    pub cors: UrlCors,
}

impl UrlConfig {
    /// The statements the controller owns on this URL's qualifier: two for `NONE` (AWS: "your
    /// function's resource-based policy is always in effect and must grant public access before
    /// your function URL can receive requests"; "Starting in October 2025, new function URLs will
    /// require both lambda:InvokeFunctionUrl and lambda:InvokeFunction permissions"), none for
    /// `AWS_IAM` (callers are authorized by their own identity policies).
    pub fn statements(&self) -> BTreeMap<String, Permission> {
        if self.auth_type == UrlAuthType::AwsIam {
            return BTreeMap::new();
        }
        let public = |action: &str| Permission {
            principal: "*".into(),
            action: action.into(),
            source_arn: None,
            source_account: None,
            function_url_auth_type: None,
            invoked_via_function_url: None,
        };
        BTreeMap::from([
            (URL_SID.to_string(), Permission { function_url_auth_type: Some("NONE".into()), ..public(INVOKE_URL) }),
            (URL_INVOKE_SID.to_string(), Permission { invoked_via_function_url: Some(true), ..public(INVOKE) }),
        ])
    }
}

/// True for the statement ids [`UrlConfig::statements`] writes (owned by `functionUrls`, not by
/// `permissions`).
pub fn is_url_sid(sid: &str) -> bool {
    sid == URL_SID || sid == URL_INVOKE_SID
}

/// What is live on one qualifier: its URL configuration (`None`: no URL) and the URL statements
/// the controller owns there.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UrlState {
    pub config: Option<UrlConfig>,
    pub statements: BTreeMap<String, Permission>,
}

/// The manifest key of a qualifier (`""`, the unqualified function, is `$LATEST`).
pub fn url_key(qualifier: &str) -> &str {
    if qualifier.is_empty() {
        LATEST_QUALIFIER
    } else {
        qualifier
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_public_url_needs_both_statements_and_an_iam_url_none() {
        let mut c =
            UrlConfig { auth_type: UrlAuthType::None, invoke_mode: UrlInvokeMode::Buffered, cors: Default::default() };
        let s = c.statements();
        assert_eq!(s[URL_SID].action, INVOKE_URL);
        assert_eq!(s[URL_SID].function_url_auth_type.as_deref(), Some("NONE"));
        assert_eq!(s[URL_INVOKE_SID].action, INVOKE);
        assert_eq!(s[URL_INVOKE_SID].invoked_via_function_url, Some(true));
        c.auth_type = UrlAuthType::AwsIam;
        assert!(c.statements().is_empty());
    }
}
