//! Executing a function's plan in order: waits on InProgress updates and on provisioned
//! concurrency, one write at a time per function.

mod configs;
pub mod operator;
mod rollout;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::aws::scaling::resource_id;
use crate::aws::{AwsError, RegionClients};
use crate::plan::{Action, FunctionPlan};
use crate::types::{CodeRecord, CodeSource, Creation, FunctionState, PcStatus, Published};

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("{0}")]
    Aws(#[from] AwsError),
    #[error("provisioned concurrency of alias `{alias}` FAILED: {reason}")]
    ProvisionedFailed { alias: String, reason: String },
    #[error("timed out after {seconds}s waiting for {what}")]
    Timeout { what: String, seconds: u64 },
    #[error("function disappeared while applying")]
    FunctionGone,
    #[error("the function changed while applying: {0}")]
    Changed(String),
    /// AWS (LastUpdateStatus): Failed, with its reason (a layer, a KMS key, a role Lambda cannot use).
    #[error("the configuration update failed (LastUpdateStatus Failed): {0}")]
    UpdateFailed(String),
    /// `spec.code.sha256` is not the CodeSha256 Lambda reports for the code it read.
    #[error(
        "the code of {location} has CodeSha256 {got}, not the {want} spec.code.sha256 names; nothing was published"
    )]
    CodeMismatch { location: String, want: String, got: String },
    /// AWS (State): Failed after CreateFunction, with its reason.
    #[error("the function's creation failed (State Failed): {0}; delete it, and the controller creates it again")]
    CreateFailed(String),
}

pub use rollout::{execute_move, Moved, Target};

/// Bounds on the waits of one apply.
#[derive(Debug, Clone, Copy)]
pub struct Waits {
    pub timeout: Duration,
    pub poll: Duration,
    /// How often a running hook's rollout alarms are read.
    pub alarm_poll: Duration,
}

impl Default for Waits {
    fn default() -> Self {
        Waits {
            timeout: Duration::from_secs(300),
            poll: Duration::from_millis(250),
            alarm_poll: Duration::from_secs(2),
        }
    }
}

/// Polls `check` until it returns `Some`, backing off from `poll` to 5 s, up to `timeout`.
async fn wait_for<T, F, Fut>(w: Waits, what: &str, mut check: F) -> Result<T, ApplyError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, ApplyError>>,
{
    let start = Instant::now();
    let mut delay = w.poll;
    let mut announced = false;
    loop {
        if let Some(v) = check().await? {
            return Ok(v);
        }
        if !announced {
            // Said once per wait, so a long apply is never silent about what holds it.
            tracing::info!(waiting_for = what, timeout_s = w.timeout.as_secs(), "waiting");
            announced = true;
        }
        if start.elapsed() >= w.timeout {
            return Err(ApplyError::Timeout { what: what.to_string(), seconds: w.timeout.as_secs() });
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// Waits until no update is in progress; returns the function as last read.
async fn wait_function_idle(c: &RegionClients, function: &str, w: Waits) -> Result<FunctionState, ApplyError> {
    wait_for(w, &format!("the update of {function} to finish (LastUpdateStatus InProgress)"), || async {
        match c.lambda.get_function(function).await? {
            None => Err(ApplyError::FunctionGone),
            Some(f) => Ok((!f.last_update_in_progress && !f.pending).then_some(f)),
        }
    })
    .await
}

/// PublishVersion of `$LATEST`, guarded by the revision and code hash read in this reconcile,
/// then the tag recording it. It waits for any update in progress (AWS refuses to publish
/// meanwhile); without a planned revision (this plan just updated `$LATEST`) the revision is the
/// one read once that update completed.
async fn publish(
    c: &RegionClients,
    f: &str,
    code_sha256: Option<&str>,
    revision_id: Option<&str>,
    w: Waits,
) -> Result<(), ApplyError> {
    let now = wait_function_idle(c, f, w).await?;
    if code_sha256.is_some_and(|h| h != now.code_sha256) || revision_id.is_some_and(|r| r != now.revision_id) {
        return Err(ApplyError::Changed("$LATEST changed since it was read; nothing was published".into()));
    }
    let code_sha256 = code_sha256.unwrap_or(&now.code_sha256);
    let revision = now.revision_id.clone();
    let description = format!("published by lambda-reconciler from $LATEST revision {revision}");
    let (version, arn) = c.lambda.publish_version(f, &revision, code_sha256, &description).await?;
    // A function deleted and created again numbers its versions anew: nothing kept of it holds.
    c.lambda.forget_versions(f);
    tracing::info!(function = f, version = %version, "published $LATEST");
    c.lambda.tag_published(&arn, &Published { version, revision }).await?;
    Ok(())
}

/// UpdateFunctionCode (guarded by the revision read in this reconcile), then the wait for it to
/// complete; the code tag is written only once Lambda reports the code `spec.code.sha256` names
/// (when it names one), so a mismatch is tried again at the next reconcile and publishes nothing
/// meanwhile.
async fn update_code(
    c: &RegionClients,
    f: &str,
    (source, architecture, revision_id): (&CodeSource, Option<&str>, Option<&str>),
    w: Waits,
) -> Result<(), ApplyError> {
    let now = wait_function_idle(c, f, w).await?;
    if revision_id.is_some_and(|r| r != now.revision_id) {
        return Err(ApplyError::Changed("$LATEST changed since it was read; its code was not updated".into()));
    }
    c.lambda.update_code(f, source, architecture, Some(&now.revision_id)).await?;
    let after = wait_function_idle(c, f, w).await?;
    if let Some(reason) = after.last_update_failed {
        return Err(ApplyError::UpdateFailed(reason));
    }
    record_code(c, f, source, after).await
}

/// CreateFunction, then the wait until it is Active, then the code check and tag. A function
/// that exists already (created meanwhile, or an answer lost) is not created twice: the plan is
/// made again from what exists.
async fn create(c: &RegionClients, f: &str, creation: &Creation, w: Waits) -> Result<(), ApplyError> {
    let sent: Vec<&str> =
        creation.environment.iter().flatten().filter(|(_, v)| v.sensitive).map(|(_, v)| v.value.as_str()).collect();
    match c.lambda.create_function(f, creation, &sent).await {
        Err(e) if e.code == "ResourceConflictException" => {
            return Err(ApplyError::Changed("the function exists already; nothing was created".into()))
        }
        r => r?,
    };
    tracing::info!(function = f, "created the function");
    let after = wait_for(w, &format!("the new function {f} to become Active (State Pending)"), || async {
        match c.lambda.get_function(f).await? {
            Some(s) if s.creation_failed.is_some() => {
                Err(ApplyError::CreateFailed(s.creation_failed.unwrap_or_default()))
            }
            Some(s) => Ok((!s.pending && !s.last_update_in_progress).then_some(s)),
            // Not visible yet (eventual consistency): read again.
            None => Ok(None),
        }
    })
    .await?;
    record_code(c, f, &creation.code, after).await
}

/// The `sha256` check of code Lambda has just read, then the code tag.
async fn record_code(c: &RegionClients, f: &str, source: &CodeSource, after: FunctionState) -> Result<(), ApplyError> {
    if let Some(want) = source.sha256.as_ref().filter(|h| **h != after.code_sha256) {
        let location: String = source.location().chars().take(200).collect();
        return Err(ApplyError::CodeMismatch { location, want: want.clone(), got: after.code_sha256 });
    }
    tracing::info!(function = f, code_sha256 = %after.code_sha256, "updated the code");
    c.lambda.tag_code(&after.arn, &CodeRecord { source: source.digest(), sha256: after.code_sha256 }).await?;
    Ok(())
}

async fn wait_provisioned(c: &RegionClients, function: &str, alias: &str, w: Waits) -> Result<(), ApplyError> {
    wait_for(w, &format!("provisioned concurrency of {function}:{alias} to be READY"), || async {
        match c.lambda.get_provisioned_concurrency(function, alias).await? {
            Some(pc) if pc.status == PcStatus::Failed => {
                Err(ApplyError::ProvisionedFailed { alias: alias.to_string(), reason: pc.reason.unwrap_or_default() })
            }
            Some(pc) => Ok((pc.status == PcStatus::Ready).then_some(())),
            None => Ok(Some(())),
        }
    })
    .await
}

/// What replaces an AWS message that quotes a secret value of the request.
const WITHHELD: &str = "(AWS's message withheld: it quotes a secret value of the environment)";

/// Executes one action.
async fn execute(c: &RegionClients, f: &str, name: &str, action: &Action, w: Waits) -> Result<(), ApplyError> {
    let l = &c.lambda;
    let s = &c.scaling;
    let id = |alias: &str| resource_id(name, alias);
    match action {
        Action::UpdateConfiguration { environment, settings, record_first } => {
            let now = wait_function_idle(c, f, w).await?;
            if let Some(names) = record_first {
                l.tag_sensitive_env(&now.arn, names).await?;
            }
            let vars: Option<BTreeMap<String, String>> =
                environment.as_ref().map(|env| env.iter().map(|(k, v)| (k.clone(), v.value.clone())).collect());
            // AWS's answer about a request that carried secret values is withheld when it
            // quotes one (its 4 KB error echoes the environment): never cut a value out of text.
            let sent: Vec<&str> =
                environment.iter().flatten().filter(|(_, v)| v.sensitive).map(|(_, v)| v.value.as_str()).collect();
            l.update_configuration(f, vars.as_ref(), settings).await.map_err(|e| e.withholding(&sent))?;
            let after = wait_function_idle(c, f, w).await?;
            if let Some(reason) = after.last_update_failed {
                let quoted = sent.iter().any(|s| !s.is_empty() && reason.contains(s));
                let reason = if quoted { WITHHELD.to_string() } else { reason };
                return Err(ApplyError::UpdateFailed(reason));
            }
        }
        Action::PublishVersion { code_sha256, revision_id } => {
            publish(c, f, code_sha256.as_deref(), revision_id.as_deref(), w).await?
        }
        Action::UpdateCode { source, architecture, revision_id } => {
            update_code(c, f, (source, architecture.as_deref(), revision_id.as_deref()), w).await?
        }
        Action::CreateFunction { creation } => create(c, f, creation, w).await?,
        Action::DeleteFunction => l.delete_function(f).await?,
        Action::PutReservedConcurrency(n) => l.put_reserved_concurrency(f, *n).await?,
        Action::DeleteReservedConcurrency => l.delete_reserved_concurrency(f).await?,
        Action::CreateAlias { alias, state } => l.create_alias(f, alias, state).await?,
        Action::UpdateAlias { alias, version, description, routing } => {
            l.update_alias(f, alias, version.as_deref(), description.as_deref(), routing.as_ref()).await?
        }
        Action::DeleteAlias { alias } => l.delete_alias(f, alias).await?,
        Action::PutProvisionedConcurrency { alias, value } => l.put_provisioned_concurrency(f, alias, *value).await?,
        Action::DeleteProvisionedConcurrency { alias } => l.delete_provisioned_concurrency(f, alias).await?,
        Action::WaitProvisionedReady { alias } => wait_provisioned(c, f, alias, w).await?,
        Action::PutEventInvokeConfig { qualifier, config } => {
            l.put_event_invoke_config(f, qualifier.as_deref(), config).await?
        }
        Action::DeleteEventInvokeConfig { qualifier } => l.delete_event_invoke_config(f, qualifier.as_deref()).await?,
        Action::RegisterScalableTarget { alias, min, max } => s.register(&id(alias), *min, *max).await?,
        Action::DeregisterScalableTarget { alias } => s.deregister(&id(alias)).await?,
        Action::PutTargetTrackingPolicy { alias, name, tracking } => {
            s.put_target_tracking(&id(alias), name, tracking).await?
        }
        Action::DeleteScalingPolicy { alias, name } => s.delete_policy(&id(alias), name).await?,
        Action::PutScheduledAction { alias, action } => s.put_scheduled_action(&id(alias), action).await?,
        Action::DeleteScheduledAction { alias, name } => s.delete_scheduled_action(&id(alias), name).await?,
        Action::AddPermission { qualifier, sid, permission } => {
            l.add_permission(f, qualifier.as_deref(), sid, permission).await?
        }
        Action::RemovePermission { qualifier, sid } => l.remove_permission(f, qualifier.as_deref(), sid).await?,
        Action::CreateMapping { qualifier, source, config, starting_position } => {
            l.create_mapping(f, qualifier, source, config, starting_position.as_deref()).await?
        }
        Action::UpdateMapping { uuid, config } => l.update_mapping(uuid, config).await?,
        Action::DeleteMapping { uuid } => l.delete_mapping(uuid).await?,
        Action::Config(a) => configs::execute(c, f, a, w).await?,
        // AWS answers 409 to a URL write while the function's update is in progress.
        Action::CreateUrl { qualifier, config } => {
            wait_function_idle(c, f, w).await?;
            l.create_url(f, qualifier, config).await?
        }
        Action::UpdateUrl { qualifier, config } => {
            wait_function_idle(c, f, w).await?;
            l.update_url(f, qualifier, config).await?
        }
        Action::DeleteUrl { qualifier } => {
            wait_function_idle(c, f, w).await?;
            l.delete_url(f, qualifier).await?
        }
    }
    Ok(())
}

/// Executes every change of `plan` in order; stops at the first failure (the next reconcile
/// re-reads the world and continues from wherever this one stopped).
pub async fn apply(c: &RegionClients, function_ref: &str, plan: &FunctionPlan, w: Waits) -> Result<usize, ApplyError> {
    let mut writes = 0;
    for change in &plan.changes {
        tracing::info!(operation = change.operation, function = %plan.function, "applying");
        execute(c, function_ref, &plan.function, &change.action, w).await?;
        writes += match change.action {
            Action::WaitProvisionedReady { .. } => 0,
            Action::PublishVersion { .. } | Action::UpdateCode { .. } | Action::CreateFunction { .. } => 2,
            _ => 1,
        };
    }
    Ok(writes)
}
