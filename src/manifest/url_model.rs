//! The manifest's `functionUrls` entries (one per qualifier) and their CORS settings.

use schemars::JsonSchema;
use serde::Deserialize;

use crate::types::{UrlAuthType, UrlInvokeMode};

/// A function URL (CreateFunctionUrlConfig / UpdateFunctionUrlConfig), written whole.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FunctionUrlSpec {
    /// `NONE`: public (the controller adds the two statements a public URL needs); `AWS_IAM`:
    /// callers need `lambda:InvokeFunctionUrl` in their own policies.
    pub auth_type: UrlAuthType,
    /// `BUFFERED` (default) or `RESPONSE_STREAM`.
    pub invoke_mode: Option<UrlInvokeMode>,
    /// Cross-origin resource sharing; absent: none.
    pub cors: Option<CorsSpec>,
}

/// A URL's CORS settings (omitted fields: AWS's defaults, nothing allowed).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CorsSpec {
    /// Cookies and credentials allowed (default false).
    pub allow_credentials: Option<bool>,
    /// At most 100 headers of at most 1,024 characters.
    #[schemars(length(max = 100))]
    pub allow_headers: Option<Vec<String>>,
    /// At most 6 methods of at most 6 characters (`GET`, `POST`, `*`).
    #[schemars(length(max = 6))]
    pub allow_methods: Option<Vec<String>>,
    /// At most 100 origins of 1-253 characters (`https://www.example.com`, `*`).
    #[schemars(length(max = 100))]
    pub allow_origins: Option<Vec<String>>,
    /// At most 100 headers of at most 1,024 characters.
    #[schemars(length(max = 100))]
    pub expose_headers: Option<Vec<String>>,
    /// Seconds a browser may cache a preflight answer, 0-86,400 (default 0).
    #[schemars(range(min = 0, max = 86400))]
    pub max_age: Option<i64>,
}
