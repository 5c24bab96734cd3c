//! Function URL configurations: listed, created, updated, deleted, one per qualifier.

use std::collections::BTreeMap;

use aws_sdk_lambda::types::{Cors, FunctionUrlAuthType, FunctionUrlConfig, InvokeMode};

use super::{pages, qualifier_of, Lambda};
use crate::aws::call::AwsError;
use crate::types::{is_url_sid, UrlAuthType, UrlConfig, UrlCors, UrlInvokeMode, UrlState};

fn config(c: &FunctionUrlConfig) -> UrlConfig {
    let cors = c.cors().map_or_else(UrlCors::default, |x| UrlCors {
        allow_credentials: x.allow_credentials().unwrap_or(false),
        allow_headers: x.allow_headers().to_vec(),
        allow_methods: x.allow_methods().to_vec(),
        allow_origins: x.allow_origins().to_vec(),
        expose_headers: x.expose_headers().to_vec(),
        max_age: x.max_age().unwrap_or(0),
    });
    UrlConfig {
        auth_type: match c.auth_type() {
            FunctionUrlAuthType::None => UrlAuthType::None,
            _ => UrlAuthType::AwsIam,
        },
        invoke_mode: match c.invoke_mode() {
            Some(InvokeMode::ResponseStream) => UrlInvokeMode::ResponseStream,
            _ => UrlInvokeMode::Buffered,
        },
        cors,
    }
}

/// The whole CORS object (an empty one clears what was there: AWS writes `Cors` whole).
fn cors(c: &UrlCors) -> Cors {
    Cors::builder()
        .allow_credentials(c.allow_credentials)
        .set_allow_headers(Some(c.allow_headers.clone()))
        .set_allow_methods(Some(c.allow_methods.clone()))
        .set_allow_origins(Some(c.allow_origins.clone()))
        .set_expose_headers(Some(c.expose_headers.clone()))
        .max_age(c.max_age)
        .build()
}

fn qualifier(q: &str) -> Option<String> {
    (!q.is_empty()).then(|| q.to_string())
}

impl Lambda {
    /// ListFunctionUrlConfigs: every URL of the function by qualifier (`""`: unqualified).
    pub async fn list_urls(&self, function: &str) -> Result<BTreeMap<String, UrlConfig>, AwsError> {
        const OP: &str = "lambda:ListFunctionUrlConfigs";
        let urls = pages::all(OP, |marker| async move {
            let page = self
                .caller
                .call(OP, || {
                    self.client.list_function_url_configs().function_name(function).set_marker(marker.clone()).send()
                })
                .await?;
            let items = page
                .function_url_configs()
                .iter()
                .map(|c| (qualifier_of(c.function_arn()).unwrap_or_default(), config(c)))
                .collect();
            Ok((items, page.next_marker().map(str::to_string)))
        })
        .await?;
        Ok(urls.into_iter().collect())
    }

    /// What `functionUrls` manages: every URL (one listing), and the URL statements of each
    /// qualifier in `qualifiers` (or, with `all`, of each URL's and the unqualified function).
    pub async fn read_urls(
        &self,
        function: &str,
        qualifiers: &[String],
        all: bool,
    ) -> Result<BTreeMap<String, UrlState>, AwsError> {
        let mut live = self.list_urls(function).await?;
        let mut wanted: Vec<String> = qualifiers.to_vec();
        if all {
            wanted = std::iter::once(String::new()).chain(live.keys().cloned()).collect();
            wanted.dedup();
        }
        let mut out = BTreeMap::new();
        for q in wanted {
            let policy = self.get_policy(function, qualifier(&q).as_deref()).await?;
            let statements = policy.into_iter().filter(|(sid, _)| is_url_sid(sid)).collect();
            out.insert(q.clone(), UrlState { config: live.remove(&q), statements });
        }
        Ok(out)
    }

    pub async fn create_url(&self, function: &str, q: &str, c: &UrlConfig) -> Result<(), AwsError> {
        let cors = (!c.cors.is_empty()).then(|| cors(&c.cors));
        self.caller
            .call("lambda:CreateFunctionUrlConfig", || {
                self.client
                    .create_function_url_config()
                    .function_name(function)
                    .set_qualifier(qualifier(q))
                    .auth_type(FunctionUrlAuthType::from(c.auth_type.as_str()))
                    .invoke_mode(InvokeMode::from(c.invoke_mode.as_str()))
                    .set_cors(cors.clone())
                    .send()
            })
            .await
            .map(drop)
    }

    pub async fn update_url(&self, function: &str, q: &str, c: &UrlConfig) -> Result<(), AwsError> {
        self.caller
            .call("lambda:UpdateFunctionUrlConfig", || {
                self.client
                    .update_function_url_config()
                    .function_name(function)
                    .set_qualifier(qualifier(q))
                    .auth_type(FunctionUrlAuthType::from(c.auth_type.as_str()))
                    .invoke_mode(InvokeMode::from(c.invoke_mode.as_str()))
                    .cors(cors(&c.cors))
                    .send()
            })
            .await
            .map(drop)
    }

    /// DeleteFunctionUrlConfig (already gone counts as deleted).
    pub async fn delete_url(&self, function: &str, q: &str) -> Result<(), AwsError> {
        let res = self
            .caller
            .call("lambda:DeleteFunctionUrlConfig", || {
                self.client.delete_function_url_config().function_name(function).set_qualifier(qualifier(q)).send()
            })
            .await;
        match res {
            Err(e) if e.is_not_found() => Ok(()),
            other => other.map(drop),
        }
    }
}
