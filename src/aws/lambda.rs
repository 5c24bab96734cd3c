//! The Lambda control plane, narrowed to the fields the product manages.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_lambda::types::{
    AliasRoutingConfiguration, DestinationConfig, OnFailure, OnSuccess, ProvisionedConcurrencyStatusEnum, TagsError,
};

use super::call::{AwsError, Caller};
use super::pages;
use crate::types::{
    marker_tag, AliasState, AppliedGeneration, CodeRecord, HookResult, InvokeConfig, Marker, PcState, PcStatus,
    Published, Routing, SensitiveEnv, CODE_TAG, CREATED_BY_TAG, DEFAULT_EVENT_AGE, DEFAULT_RETRIES, GENERATION_TAG,
    MARKER_TAG_PREFIX, PUBLISHED_TAG, SENSITIVE_ENV_TAG,
};

/// What the product keeps in a function's tags, as ListTags read them.
#[derive(Debug, Clone, PartialEq)]
pub struct TagState {
    pub generation: AppliedGeneration,
    pub markers: BTreeMap<String, Marker>,
    pub published: Option<Published>,
    pub sensitive_env: SensitiveEnv,
    pub code: Option<CodeRecord>,
    /// The user tags (`None`: unreadable).
    pub user_tags: Option<BTreeMap<String, String>>,
    /// The manifest that created the function.
    pub created_by: Option<String>,
}

#[derive(Clone)]
pub struct Lambda {
    client: aws_sdk_lambda::Client,
    /// The same service on a keepalive HTTP client, for hook invocations that wait for minutes.
    hooks: aws_sdk_lambda::Client,
    caller: Caller,
    /// Published versions' configurations by (function as called, version): read once, as a
    /// version never changes (at most `MAX_CACHED_VERSIONS`).
    versions: std::sync::Arc<std::sync::Mutex<HashMap<(String, String), crate::types::VersionConfig>>>,
}

/// The qualifier of a qualified ARN (`…:function:NAME:QUALIFIER`); `None` for unqualified or $LATEST.
fn qualifier_of(arn: &str) -> Option<String> {
    let parts: Vec<&str> = arn.split(':').collect();
    match parts.get(7) {
        Some(q) if *q != "$LATEST" => Some(q.to_string()),
        _ => None,
    }
}

/// A provisioned concurrency config as the List and Get outputs carry it.
fn pc_state(
    requested: Option<i32>,
    allocated: Option<i32>,
    status: Option<&ProvisionedConcurrencyStatusEnum>,
    reason: Option<&str>,
) -> PcState {
    let status = match status {
        Some(ProvisionedConcurrencyStatusEnum::Ready) => PcStatus::Ready,
        Some(ProvisionedConcurrencyStatusEnum::Failed) => PcStatus::Failed,
        _ => PcStatus::InProgress,
    };
    PcState {
        requested: requested.unwrap_or(0).into(),
        allocated: allocated.unwrap_or(0).into(),
        status,
        reason: reason.map(str::to_string),
    }
}

/// The rollout markers among `tags`, by alias (a marker that does not parse is left out: the
/// rollout then restarts from the alias's live version, never jumps ahead).
fn markers(tags: Option<&HashMap<String, String>>) -> BTreeMap<String, Marker> {
    tags.into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.strip_prefix(MARKER_TAG_PREFIX)?.to_string(), Marker::parse(v)?)))
        .collect()
}

/// The variables recorded as secret; every variable when the tags could not be read (a value is
/// hidden rather than a secret shown because its record was unreadable).
fn sensitive_env(tags: Option<&HashMap<String, String>>) -> SensitiveEnv {
    match tags {
        Some(t) => SensitiveEnv::parse(t.get(SENSITIVE_ENV_TAG).map(String::as_str)),
        None => SensitiveEnv::All,
    }
}

/// The version lambda-reconciler last published (a value that does not parse reads as none).
/// The code lambda-reconciler deployed (the code tag; `None` when absent or unparsable).
fn code_record(tags: Option<&HashMap<String, String>>) -> Option<CodeRecord> {
    tags.and_then(|t| t.get(CODE_TAG)).and_then(|v| CodeRecord::parse(v))
}

fn created_by(tags: Option<&HashMap<String, String>>) -> Option<String> {
    tags.and_then(|t| t.get(CREATED_BY_TAG)).cloned()
}

fn published(tags: Option<&HashMap<String, String>>) -> Option<Published> {
    tags.and_then(|t| t.get(PUBLISHED_TAG)).and_then(|v| Published::parse(v))
}

/// AWS (GetFunction, Tags): "Lambda returns tag data only if you have explicit allow permissions
/// for lambda:ListTags"; a TagsError says the tags could not be read.
fn applied_generation(tags: Option<&HashMap<String, String>>, error: Option<&TagsError>) -> AppliedGeneration {
    match (tags, error) {
        (_, Some(e)) => {
            AppliedGeneration::Unreadable(format!("GetFunction TagsError {}: {}", e.error_code(), e.message()))
        }
        (Some(t), None) => {
            t.get(GENERATION_TAG).cloned().map_or(AppliedGeneration::Untagged, AppliedGeneration::Recorded)
        }
        (None, None) => AppliedGeneration::NotReturned,
    }
}

/// An alias as ListAliases, CreateAlias and UpdateAlias answer it.
fn alias_state(
    version: Option<&str>,
    description: Option<&str>,
    cfg: Option<&AliasRoutingConfiguration>,
    revision: Option<&str>,
) -> AliasState {
    AliasState {
        function_version: version.unwrap_or_default().to_string(),
        description: description.unwrap_or_default().to_string(),
        routing: routing(cfg),
        revision: revision.unwrap_or_default().to_string(),
    }
}

fn routing(cfg: Option<&AliasRoutingConfiguration>) -> Routing {
    cfg.and_then(|r| r.additional_version_weights())
        .map(|w| w.iter().map(|(k, v)| (k.clone(), *v)).collect())
        .unwrap_or_default()
}

mod create;
pub use create::Created;
mod configs;
mod definition;
mod function;
mod mappings;
mod policy;
mod urls;

impl Lambda {
    pub fn new(
        config: &aws_config::SdkConfig,
        caller: Caller,
        hook_http: &aws_smithy_runtime_api::client::http::SharedHttpClient,
    ) -> Self {
        let conf = aws_sdk_lambda::config::Builder::from(config).interceptor(caller.fence.interceptor());
        let hooks = conf.clone().http_client(hook_http.clone()).build();
        Lambda {
            client: aws_sdk_lambda::Client::from_conf(conf.build()),
            hooks: aws_sdk_lambda::Client::from_conf(hooks),
            caller,
            versions: Default::default(),
        }
    }

    pub async fn list_aliases(&self, function: &str) -> Result<BTreeMap<String, AliasState>, AwsError> {
        const OP: &str = "lambda:ListAliases";
        let aliases = pages::all(OP, |marker| async move {
            let page = self
                .caller
                .call(OP, || self.client.list_aliases().function_name(function).set_marker(marker.clone()).send())
                .await?;
            let items = page
                .aliases()
                .iter()
                .map(|a| {
                    let state = alias_state(a.function_version(), a.description(), a.routing_config(), a.revision_id());
                    super::ledger::alias(function, a.name().unwrap_or_default(), Some(state.clone()));
                    (a.name().unwrap_or_default().to_string(), state)
                })
                .collect();
            Ok((items, page.next_marker().map(str::to_string)))
        })
        .await?;
        Ok(aliases.into_iter().collect())
    }

    pub async fn list_provisioned_concurrency(&self, function: &str) -> Result<BTreeMap<String, PcState>, AwsError> {
        const OP: &str = "lambda:ListProvisionedConcurrencyConfigs";
        let configs = pages::all(OP, |marker| async move {
            let page = self
                .caller
                .call(OP, || {
                    self.client
                        .list_provisioned_concurrency_configs()
                        .function_name(function)
                        .set_marker(marker.clone())
                        .send()
                })
                .await?;
            let items = page
                .provisioned_concurrency_configs()
                .iter()
                .filter_map(|c| {
                    let q = c.function_arn().and_then(qualifier_of)?;
                    let state = pc_state(
                        c.requested_provisioned_concurrent_executions(),
                        c.allocated_provisioned_concurrent_executions(),
                        c.status(),
                        c.status_reason(),
                    );
                    Some((q, state))
                })
                .collect();
            Ok((items, page.next_marker().map(str::to_string)))
        })
        .await?;
        Ok(configs.into_iter().collect())
    }

    /// Event invoke configs keyed by qualifier (`None` = the unqualified function).
    pub async fn list_event_invoke_configs(
        &self,
        function: &str,
    ) -> Result<BTreeMap<Option<String>, InvokeConfig>, AwsError> {
        const OP: &str = "lambda:ListFunctionEventInvokeConfigs";
        let configs = pages::all(OP, |marker| async move {
            let page = self
                .caller
                .call(OP, || {
                    self.client
                        .list_function_event_invoke_configs()
                        .function_name(function)
                        .set_marker(marker.clone())
                        .send()
                })
                .await?;
            let items = page
                .function_event_invoke_configs()
                .iter()
                .map(|c| {
                    let dest = c.destination_config();
                    let cfg = InvokeConfig {
                        maximum_retry_attempts: c.maximum_retry_attempts().map_or(DEFAULT_RETRIES, i64::from),
                        maximum_event_age_in_seconds: c
                            .maximum_event_age_in_seconds()
                            .map_or(DEFAULT_EVENT_AGE, i64::from),
                        on_success: dest.and_then(|d| d.on_success()).and_then(|s| s.destination()).map(str::to_string),
                        on_failure: dest.and_then(|d| d.on_failure()).and_then(|s| s.destination()).map(str::to_string),
                    };
                    (c.function_arn().and_then(qualifier_of), cfg)
                })
                .collect();
            Ok((items, page.next_marker().map(str::to_string)))
        })
        .await?;
        Ok(configs.into_iter().collect())
    }

    pub async fn get_provisioned_concurrency(&self, function: &str, alias: &str) -> Result<Option<PcState>, AwsError> {
        let res = self
            .caller
            .call("lambda:GetProvisionedConcurrencyConfig", || {
                self.client.get_provisioned_concurrency_config().function_name(function).qualifier(alias).send()
            })
            .await;
        let c = match res {
            Ok(c) => c,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(Some(pc_state(
            c.requested_provisioned_concurrent_executions(),
            c.allocated_provisioned_concurrent_executions(),
            c.status(),
            c.status_reason(),
        )))
    }

    /// ListTags, for a function whose GetFunction answer carried no tags: the generation recorded,
    /// or `Unreadable` when the caller may not list tags (drift detection needs lambda:ListTags).
    pub async fn list_tags(&self, arn: &str) -> Result<TagState, AwsError> {
        match self.caller.call("lambda:ListTags", || self.client.list_tags().resource(arn).send()).await {
            Ok(out) => {
                let tags = Some(out.tags().unwrap_or(&HashMap::new())).cloned();
                let sensitive = sensitive_env(tags.as_ref());
                super::ledger::markers(arn, &markers(tags.as_ref()));
                Ok(TagState {
                    generation: applied_generation(tags.as_ref(), None),
                    markers: markers(tags.as_ref()),
                    published: published(tags.as_ref()),
                    sensitive_env: sensitive,
                    code: code_record(tags.as_ref()),
                    user_tags: tags.as_ref().map(crate::types::user_tags),
                    created_by: created_by(tags.as_ref()),
                })
            }
            Err(e) if e.code == "AccessDeniedException" => Ok(TagState {
                generation: AppliedGeneration::Unreadable(format!("ListTags refused: {}: {}", e.code, e.message)),
                markers: BTreeMap::new(),
                published: None,
                sensitive_env: SensitiveEnv::All,
                code: None,
                user_tags: None,
                created_by: None,
            }),
            Err(e) => Err(e),
        }
    }

    /// Sets one of the controller's own tags on the function (TagResource): every record the
    /// controller keeps in AWS goes through here.
    async fn put_tag(&self, arn: &str, key: &str, value: &str) -> Result<(), AwsError> {
        self.caller
            .call("lambda:TagResource", || self.client.tag_resource().resource(arn).tags(key, value).send())
            .await
            .map(drop)
    }

    /// Records the applied manifest generation on the function (TagResource).
    pub async fn tag_generation(&self, arn: &str, generation: &str) -> Result<(), AwsError> {
        self.put_tag(arn, GENERATION_TAG, generation).await
    }

    /// Invokes a rollout hook synchronously with `payload`. AWS (Invoke): "If there is an error in
    /// the function, the response contains ... FunctionError"; a JSON answer whose `status` is
    /// `Failed` also fails the hook (our contract, README "Progressive delivery").
    pub async fn invoke_hook(&self, function: &str, payload: &serde_json::Value) -> Result<HookResult, AwsError> {
        let body = aws_smithy_types::Blob::new(serde_json::to_vec(payload).unwrap_or_default());
        let out = self
            .caller
            .call_once("lambda:InvokeFunction", || {
                self.hooks
                    .invoke()
                    .function_name(function)
                    .invocation_type(aws_sdk_lambda::types::InvocationType::RequestResponse)
                    .payload(body.clone())
                    .send()
            })
            .await?;
        let text = out.payload().map(|p| String::from_utf8_lossy(p.as_ref()).to_string()).unwrap_or_default();
        // Kept long: the caller redacts secrets first, then shortens (a cut must not split one).
        let excerpt: String = text.chars().take(4000).collect();
        if let Some(kind) = out.function_error() {
            return Ok(HookResult::Failed(format!("hook {function} failed ({kind}): {excerpt}")));
        }
        let status = serde_json::from_str::<serde_json::Value>(&text).ok().and_then(|v| {
            let o = v.as_object()?;
            o.get("status").or_else(|| o.get("Status")).and_then(|s| s.as_str()).map(str::to_string)
        });
        Ok(match status {
            Some(s) if s.eq_ignore_ascii_case("failed") => {
                HookResult::Failed(format!("hook {function} answered status Failed: {excerpt}"))
            }
            _ => HookResult::Succeeded,
        })
    }

    /// Writes an alias's rollout marker (TagResource).
    pub async fn tag_marker(&self, arn: &str, alias: &str, marker: &Marker) -> Result<(), AwsError> {
        self.put_tag(arn, &marker_tag(alias), &marker.encode()).await?;
        // As a read would parse it back (the tag value is cut to AWS's limits).
        super::ledger::marker(arn, alias, Marker::parse(&marker.encode()).as_ref());
        Ok(())
    }

    /// Removes an alias's rollout marker (UntagResource).
    pub async fn untag_marker(&self, arn: &str, alias: &str) -> Result<(), AwsError> {
        self.caller
            .call("lambda:UntagResource", || {
                self.client.untag_resource().resource(arn).tag_keys(marker_tag(alias)).send()
            })
            .await?;
        super::ledger::marker(arn, alias, None);
        Ok(())
    }

    pub async fn put_reserved_concurrency(&self, function: &str, n: i64) -> Result<(), AwsError> {
        let n = i32::try_from(n).unwrap_or(i32::MAX);
        self.caller
            .call("lambda:PutFunctionConcurrency", || {
                self.client.put_function_concurrency().function_name(function).reserved_concurrent_executions(n).send()
            })
            .await
            .map(drop)
    }

    pub async fn delete_reserved_concurrency(&self, function: &str) -> Result<(), AwsError> {
        let res = self
            .caller
            .call("lambda:DeleteFunctionConcurrency", || {
                self.client.delete_function_concurrency().function_name(function).send()
            })
            .await;
        ignore_not_found(res.map(drop))
    }

    fn routing_config(r: &Routing) -> AliasRoutingConfiguration {
        AliasRoutingConfiguration::builder()
            .set_additional_version_weights(Some(r.clone().into_iter().collect()))
            .build()
    }

    pub async fn create_alias(&self, function: &str, name: &str, a: &AliasState) -> Result<(), AwsError> {
        let rc = Self::routing_config(&a.routing);
        let out = self
            .caller
            .call("lambda:CreateAlias", || {
                self.client
                    .create_alias()
                    .function_name(function)
                    .name(name)
                    .function_version(&a.function_version)
                    .description(&a.description)
                    .routing_config(rc.clone())
                    .send()
            })
            .await?;
        let state = alias_state(out.function_version(), out.description(), out.routing_config(), out.revision_id());
        super::ledger::alias(function, name, Some(state));
        Ok(())
    }

    /// UpdateAlias; `None` fields are left as they are.
    pub async fn update_alias(
        &self,
        function: &str,
        name: &str,
        version: Option<&str>,
        description: Option<&str>,
        routing: Option<&Routing>,
    ) -> Result<(), AwsError> {
        self.put_alias(function, name, version, description, routing, None).await.map(drop)
    }

    /// UpdateAlias of version and routing only if the alias is still at `revision` (AWS: "Only
    /// update the alias if the revision ID matches the ID that's specified"; else 412
    /// PreconditionFailedException, an error of class `Stale`). Returns the alias's new revision.
    pub async fn update_alias_if(
        &self,
        function: &str,
        name: &str,
        version: &str,
        routing: &Routing,
        revision: &str,
    ) -> Result<String, AwsError> {
        self.put_alias(function, name, Some(version), None, Some(routing), Some(revision)).await
    }

    /// UpdateAlias; records the alias as AWS answered it and returns its new RevisionId.
    async fn put_alias(
        &self,
        function: &str,
        name: &str,
        version: Option<&str>,
        description: Option<&str>,
        routing: Option<&Routing>,
        revision: Option<&str>,
    ) -> Result<String, AwsError> {
        let rc = routing.map(Self::routing_config);
        let out = self
            .caller
            .call("lambda:UpdateAlias", || {
                self.client
                    .update_alias()
                    .function_name(function)
                    .name(name)
                    .set_function_version(version.map(str::to_string))
                    .set_description(description.map(str::to_string))
                    .set_routing_config(rc.clone())
                    .set_revision_id(revision.map(str::to_string))
                    .send()
            })
            .await?;
        let state = alias_state(out.function_version(), out.description(), out.routing_config(), out.revision_id());
        let revision = state.revision.clone();
        super::ledger::alias(function, name, Some(state));
        Ok(revision)
    }

    pub async fn delete_alias(&self, function: &str, name: &str) -> Result<(), AwsError> {
        let res = self
            .caller
            .call("lambda:DeleteAlias", || self.client.delete_alias().function_name(function).name(name).send())
            .await;
        let res = ignore_not_found(res.map(drop));
        if res.is_ok() {
            super::ledger::alias(function, name, None);
        }
        res
    }

    pub async fn put_provisioned_concurrency(&self, function: &str, alias: &str, n: i64) -> Result<(), AwsError> {
        let n = i32::try_from(n).unwrap_or(i32::MAX);
        self.caller
            .call("lambda:PutProvisionedConcurrencyConfig", || {
                self.client
                    .put_provisioned_concurrency_config()
                    .function_name(function)
                    .qualifier(alias)
                    .provisioned_concurrent_executions(n)
                    .send()
            })
            .await
            .map(drop)
    }

    pub async fn delete_provisioned_concurrency(&self, function: &str, alias: &str) -> Result<(), AwsError> {
        let res = self
            .caller
            .call("lambda:DeleteProvisionedConcurrencyConfig", || {
                self.client.delete_provisioned_concurrency_config().function_name(function).qualifier(alias).send()
            })
            .await;
        ignore_not_found(res.map(drop))
    }

    /// PutFunctionEventInvokeConfig (replaces the whole config).
    pub async fn put_event_invoke_config(
        &self,
        function: &str,
        qualifier: Option<&str>,
        c: &InvokeConfig,
    ) -> Result<(), AwsError> {
        let dest = (c.on_success.is_some() || c.on_failure.is_some()).then(|| {
            DestinationConfig::builder()
                .set_on_success(c.on_success.as_ref().map(|d| OnSuccess::builder().destination(d).build()))
                .set_on_failure(c.on_failure.as_ref().map(|d| OnFailure::builder().destination(d).build()))
                .build()
        });
        self.caller
            .call("lambda:PutFunctionEventInvokeConfig", || {
                self.client
                    .put_function_event_invoke_config()
                    .function_name(function)
                    .set_qualifier(qualifier.map(str::to_string))
                    .maximum_retry_attempts(c.maximum_retry_attempts as i32)
                    .maximum_event_age_in_seconds(c.maximum_event_age_in_seconds as i32)
                    .set_destination_config(dest.clone())
                    .send()
            })
            .await
            .map(drop)
    }

    pub async fn delete_event_invoke_config(&self, function: &str, qualifier: Option<&str>) -> Result<(), AwsError> {
        let res = self
            .caller
            .call("lambda:DeleteFunctionEventInvokeConfig", || {
                self.client
                    .delete_function_event_invoke_config()
                    .function_name(function)
                    .set_qualifier(qualifier.map(str::to_string))
                    .send()
            })
            .await;
        ignore_not_found(res.map(drop))
    }
}

/// Deleting something already gone is success (idempotent removal).
pub(crate) fn ignore_not_found(r: Result<(), AwsError>) -> Result<(), AwsError> {
    match r {
        Err(e) if e.is_not_found() => Ok(()),
        other => other,
    }
}
