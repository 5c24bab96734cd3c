//! `plan(desired, observed) -> FunctionPlan`: pure, ordered, printable (text and JSON).

mod alias;
mod code;
#[cfg(test)]
mod code_tests;
mod compat;
pub mod configs;
#[cfg(test)]
mod configs_tests;
mod create;
pub mod environment;
pub mod judge;
mod judge_extra;
mod mappings;
pub mod markdown;
mod permissions;
mod publish;
#[cfg(test)]
mod publish_tests;
pub mod release;
pub mod render;
pub mod rollout;
#[cfg(test)]
mod rollout_cut_tests;
mod rollout_state;
#[cfg(test)]
mod rollout_tests;
mod rollout_view;
mod settings;
mod tags;
#[cfg(test)]
mod tests;
mod urls;

pub use environment::redact;
use serde::Serialize;
use serde_json::{json, Value};

use crate::desired::Desired;
use crate::observed::Observed;
use crate::types::{
    AliasState, CodeSource, Creation, DriftPolicy, EnvMap, Field, InvokeConfig, MappingConfig, Permission, Routing,
    Scheduled, SensitiveEnv, Settings, TargetTracking, UrlConfig,
};

/// One write the apply engine performs, in plan order.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// CreateFunction with the code and the whole definition, a wait until it is Active (State
    /// Pending meanwhile), the `sha256` check, then the code tag. The rest of the manifest is
    /// planned once the function exists.
    CreateFunction {
        creation: Box<Creation>,
    },
    /// DeleteFunction of a function this manifest created (its versions and aliases with it).
    DeleteFunction,
    /// UpdateFunctionCode of `$LATEST` from S3 or ECR, a wait for it to complete, the `sha256`
    /// check, then the code tag.
    UpdateCode {
        source: CodeSource,
        /// The one architecture to send (`None`: unmanaged, not sent).
        architecture: Option<String>,
        /// `$LATEST`'s revision when planned: AWS refuses the update (412) if it changed since.
        revision_id: Option<String>,
    },
    /// UpdateFunctionConfiguration of `$LATEST`: the environment (when `Some`, the whole map) and
    /// the set settings, in one call.
    UpdateConfiguration {
        environment: Option<EnvMap>,
        settings: Box<Settings>,
        /// Written first (the sensitive-env tag) when the new environment puts a secret under a
        /// name the tag does not list yet: the tag never lags behind a secret in AWS.
        record_first: Option<SensitiveEnv>,
    },
    /// PublishVersion of `$LATEST`, then the published-version tag.
    PublishVersion {
        /// `$LATEST`'s code hash when planned: nothing is published if the code changed since;
        /// `None` when this plan updates the code (the hash is then the one that update left).
        code_sha256: Option<String>,
        /// `$LATEST`'s revision when planned; `None` when an earlier change of this plan updates
        /// `$LATEST` (the revision is then read once that update has completed).
        revision_id: Option<String>,
    },
    PutReservedConcurrency(i64),
    DeleteReservedConcurrency,
    CreateAlias {
        alias: String,
        state: AliasState,
    },
    UpdateAlias {
        alias: String,
        version: Option<String>,
        description: Option<String>,
        routing: Option<Routing>,
    },
    DeleteAlias {
        alias: String,
    },
    PutProvisionedConcurrency {
        alias: String,
        value: i64,
    },
    DeleteProvisionedConcurrency {
        alias: String,
    },
    /// Barrier: wait until the alias's provisioned concurrency is READY (or FAILED).
    WaitProvisionedReady {
        alias: String,
    },
    PutEventInvokeConfig {
        qualifier: Option<String>,
        config: InvokeConfig,
    },
    DeleteEventInvokeConfig {
        qualifier: Option<String>,
    },
    RegisterScalableTarget {
        alias: String,
        min: i64,
        max: i64,
    },
    DeregisterScalableTarget {
        alias: String,
    },
    PutTargetTrackingPolicy {
        alias: String,
        name: String,
        tracking: TargetTracking,
    },
    DeleteScalingPolicy {
        alias: String,
        name: String,
    },
    PutScheduledAction {
        alias: String,
        action: Scheduled,
    },
    DeleteScheduledAction {
        alias: String,
        name: String,
    },
    /// CreateEventSourceMapping from `source` to `qualifier` ("" = the unqualified function).
    CreateMapping {
        qualifier: String,
        source: String,
        config: MappingConfig,
        starting_position: Option<String>,
    },
    /// UpdateEventSourceMapping of the settings in `config`.
    UpdateMapping {
        uuid: String,
        config: MappingConfig,
    },
    DeleteMapping {
        uuid: String,
    },
    /// AddPermission of statement `sid` on `qualifier` (`None`: the unqualified function).
    AddPermission {
        qualifier: Option<String>,
        sid: String,
        permission: Permission,
    },
    RemovePermission {
        qualifier: Option<String>,
        sid: String,
    },
    /// Code signing, runtime management, recursion, user tags.
    Config(configs::ConfigAction),
    /// CreateFunctionUrlConfig on `qualifier` ("" = the unqualified function).
    CreateUrl {
        qualifier: String,
        config: UrlConfig,
    },
    /// UpdateFunctionUrlConfig: the whole configuration.
    UpdateUrl {
        qualifier: String,
        config: UrlConfig,
    },
    DeleteUrl {
        qualifier: String,
    },
}

impl Action {
    /// The AWS operation this action performs.
    pub fn operation(&self) -> &'static str {
        match self {
            Action::CreateFunction { .. } => "lambda:CreateFunction",
            Action::DeleteFunction => "lambda:DeleteFunction",
            Action::UpdateCode { .. } => "lambda:UpdateFunctionCode",
            Action::UpdateConfiguration { .. } => "lambda:UpdateFunctionConfiguration",
            Action::PublishVersion { .. } => "lambda:PublishVersion",
            Action::PutReservedConcurrency(_) => "lambda:PutFunctionConcurrency",
            Action::DeleteReservedConcurrency => "lambda:DeleteFunctionConcurrency",
            Action::CreateAlias { .. } => "lambda:CreateAlias",
            Action::UpdateAlias { .. } => "lambda:UpdateAlias",
            Action::DeleteAlias { .. } => "lambda:DeleteAlias",
            Action::PutProvisionedConcurrency { .. } => "lambda:PutProvisionedConcurrencyConfig",
            Action::DeleteProvisionedConcurrency { .. } => "lambda:DeleteProvisionedConcurrencyConfig",
            Action::WaitProvisionedReady { .. } => "wait:ProvisionedConcurrencyReady",
            Action::PutEventInvokeConfig { .. } => "lambda:PutFunctionEventInvokeConfig",
            Action::DeleteEventInvokeConfig { .. } => "lambda:DeleteFunctionEventInvokeConfig",
            Action::RegisterScalableTarget { .. } => "autoscaling:RegisterScalableTarget",
            Action::DeregisterScalableTarget { .. } => "autoscaling:DeregisterScalableTarget",
            Action::PutTargetTrackingPolicy { .. } => "autoscaling:PutScalingPolicy",
            Action::DeleteScalingPolicy { .. } => "autoscaling:DeleteScalingPolicy",
            Action::PutScheduledAction { .. } => "autoscaling:PutScheduledAction",
            Action::DeleteScheduledAction { .. } => "autoscaling:DeleteScheduledAction",
            Action::AddPermission { .. } => "lambda:AddPermission",
            Action::CreateMapping { .. } => "lambda:CreateEventSourceMapping",
            Action::UpdateMapping { .. } => "lambda:UpdateEventSourceMapping",
            Action::DeleteMapping { .. } => "lambda:DeleteEventSourceMapping",
            Action::RemovePermission { .. } => "lambda:RemovePermission",
            Action::Config(a) => a.operation(),
            Action::CreateUrl { .. } => "lambda:CreateFunctionUrlConfig",
            Action::UpdateUrl { .. } => "lambda:UpdateFunctionUrlConfig",
            Action::DeleteUrl { .. } => "lambda:DeleteFunctionUrlConfig",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Create,
    Update,
    Delete,
}

impl Op {
    pub fn symbol(self) -> char {
        match self {
            Op::Create => '+',
            Op::Update => '~',
            Op::Delete => '-',
        }
    }
}

/// One displayed field difference: `field: from → to`. Values are already redacted.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diff {
    pub field: String,
    pub op: Op,
    pub from: Value,
    pub to: Value,
}

/// One write with the differences that cause it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub operation: &'static str,
    pub diffs: Vec<Diff>,
    #[serde(skip)]
    pub action: Action,
}

/// The plan of one function.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionPlan {
    pub manifest: String,
    pub function: String,
    pub region: String,
    /// The account of the role the function is reached through (`None`: the controller's own).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The runtime the manifest manages (for the deprecated-runtime flag of `-o markdown`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    pub drift_policy: DriftPolicy,
    pub changes: Vec<Change>,
    /// For a function this plan creates: what follows once it exists (shown, not executed: the
    /// apply plans again from the function it created).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub after_create: Vec<Change>,
    /// Reasons some changes cannot be made now (they are withheld, not attempted).
    pub blocked: Vec<String>,
    /// Settings converging on their own (provisioned concurrency IN_PROGRESS).
    pub progressing: Vec<String>,
    /// Live aliases the manifest does not list (left alone unless `prune`).
    pub unmanaged_aliases: Vec<String>,
    /// Rollouts of aliases with a deployment: where each is and its next move.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rollouts: Vec<rollout::Rollout>,
    /// Why this function could not be planned (missing function, AWS error, SSM error).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl FunctionPlan {
    pub fn new(d: &Desired) -> Self {
        FunctionPlan {
            manifest: d.manifest.clone(),
            function: d.key.name.clone(),
            region: d.key.region.clone(),
            account: d.key.account().map(str::to_string),
            runtime: d.settings.runtime.clone(),
            drift_policy: d.drift_policy,
            changes: vec![],
            after_create: vec![],
            blocked: vec![],
            progressing: vec![],
            unmanaged_aliases: vec![],
            rollouts: vec![],
            error: None,
        }
    }

    /// A plan that could not be made; `error` is redacted of `secrets` and shortened.
    pub fn failed(d: &Desired, error: &str) -> Self {
        let mut p = FunctionPlan::new(d);
        p.error = Some(redact(error, &d.secrets()));
        p
    }

    pub fn in_sync(&self) -> bool {
        self.changes.is_empty() && self.blocked.is_empty() && self.error.is_none()
    }

    /// The number of write calls this plan makes (barriers excluded; a publish also tags).
    pub fn writes(&self) -> usize {
        self.changes
            .iter()
            .map(|c| match c.action {
                Action::WaitProvisionedReady { .. } => 0,
                Action::PublishVersion { .. } | Action::UpdateCode { .. } | Action::CreateFunction { .. } => 2,
                _ => 1,
            })
            .sum()
    }

    pub(crate) fn push(&mut self, action: Action, diffs: Vec<Diff>) {
        self.changes.push(Change { operation: action.operation(), diffs, action });
    }
}

/// A whole plan: one entry per manifest.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Plan {
    pub functions: Vec<FunctionPlan>,
}

impl Plan {
    pub fn has_changes(&self) -> bool {
        self.functions.iter().any(|f| {
            !f.changes.is_empty()
                || !f.blocked.is_empty()
                || f.rollouts.iter().any(|r| !matches!(r.mv, rollout::Move::Wait { .. }))
        })
    }
    pub fn has_errors(&self) -> bool {
        self.functions.iter().any(|f| f.error.is_some())
    }
}

pub(crate) fn diff(field: impl Into<String>, op: Op, from: Value, to: Value) -> Diff {
    Diff { field: field.into(), op, from, to }
}

/// Plans one function. Pure: the same inputs always give the same plan.
pub fn plan(manifest: &Desired, o: &Observed) -> FunctionPlan {
    let resolved = manifest.resolve_published(o.published_version(), &o.aliases);
    let d = &*resolved;
    let mut p = FunctionPlan::new(d);
    let Some(function) = &o.function else {
        create::missing(manifest, d, o.now_ms, &mut p);
        return p;
    };
    if create::deletes(d, function) {
        create::delete(d, o, &mut p);
        return p;
    }
    if let (Some(e), false) = (&function.environment_error, d.environment.is_absent()) {
        // The variables are unknown, not empty: never plan to rewrite them from nothing.
        let text =
            format!("the function's environment cannot be read ({e}); fix the function (KMS key, permissions) first");
        p.error = Some(redact(&text, &d.secrets()));
        return p;
    }
    alias::removals(d, o, &mut p);
    configs::code_signing(d, function, o, &mut p);
    code::plan(d, function, &mut p);
    configuration(d, function, &mut p);
    configs::runtime_management(d, function, o, &mut p);
    publish::publish(manifest, o, function, &mut p);
    configs::recursion(d, o, &mut p);
    tags::plan(d, function, &mut p);
    let reserved = reserved(d, function.reserved_concurrency);
    let raise_first =
        matches!(
            (&reserved, function.reserved_concurrency),
            (Some(Action::PutReservedConcurrency(n)), Some(cur)) if *n >= cur
        ) || matches!((&reserved, function.reserved_concurrency), (Some(Action::PutReservedConcurrency(_)), None));
    let reserved_change = reserved.map(|a| {
        let to = match &a {
            Action::PutReservedConcurrency(n) => json!(n),
            _ => Value::Null,
        };
        let op = if to.is_null() {
            Op::Delete
        } else if function.reserved_concurrency.is_none() {
            Op::Create
        } else {
            Op::Update
        };
        (a, vec![diff("reservedConcurrency", op, json!(function.reserved_concurrency), to)])
    });
    if raise_first {
        if let Some((a, ds)) = reserved_change.clone() {
            p.push(a, ds);
        }
    }
    for (name, a) in &d.aliases {
        alias::plan_alias(d, o, name, a, &mut p);
    }
    if !raise_first {
        if let Some((a, ds)) = reserved_change {
            p.push(a, ds);
        }
    }
    invoke_config(d, None, "eventInvokeConfig", &d.invoke_config, o, &mut p);
    permissions::plan(d, o, &mut p);
    urls::plan(manifest, d, o, &mut p);
    mappings::plan(d, o, &mut p);
    publish::defer_to_new_aliases(manifest, d, &mut p);
    rollout_view::stale_markers(d, o, &mut p);
    if !d.prune {
        p.unmanaged_aliases = o.aliases.keys().filter(|k| !d.aliases.contains_key(*k)).cloned().collect();
    }
    p
}

fn reserved(d: &Desired, current: Option<i64>) -> Option<Action> {
    if d.ignored("reservedConcurrency") {
        return None;
    }
    match (&d.reserved_concurrency, current) {
        (Field::Value(n), cur) if cur != Some(*n) => Some(Action::PutReservedConcurrency(*n)),
        (Field::Null, Some(_)) => Some(Action::DeleteReservedConcurrency),
        _ => None,
    }
}

/// One UpdateFunctionConfiguration for whatever differs in the environment and the settings.
fn configuration(d: &Desired, f: &crate::types::FunctionState, p: &mut FunctionPlan) {
    let refused = settings::refusals(d, f);
    if !refused.is_empty() {
        p.blocked.extend(refused);
        return;
    }
    let env = environment::plan(d, f);
    let set = settings::plan(d, &f.settings);
    if env.is_none() && set.is_none() {
        return;
    }
    let (environment, mut diffs) = env.map_or((None, vec![]), |(e, ds)| (Some(e), ds));
    let (settings, more) = set.unwrap_or_default();
    diffs.extend(more);
    let record_first = environment.as_ref().and_then(|e| environment::record_first(e, &f.sensitive_env));
    p.push(Action::UpdateConfiguration { environment, settings: Box::new(settings), record_first }, diffs);
}

/// Plans an event invoke config (function-level when `qualifier` is `None`).
pub(crate) fn invoke_config(
    d: &Desired,
    qualifier: Option<&str>,
    path: &str,
    want: &Field<InvokeConfig>,
    o: &Observed,
    p: &mut FunctionPlan,
) {
    if d.ignored(path) {
        return;
    }
    let cur = o.invoke_configs.get(&qualifier.map(str::to_string));
    let q = qualifier.map(str::to_string);
    match (want, cur) {
        (Field::Value(w), Some(c)) if w != c => p.push(
            Action::PutEventInvokeConfig { qualifier: q, config: w.clone() },
            vec![diff(path, Op::Update, json!(c), json!(w))],
        ),
        (Field::Value(w), None) => p.push(
            Action::PutEventInvokeConfig { qualifier: q, config: w.clone() },
            vec![diff(path, Op::Create, Value::Null, json!(w))],
        ),
        (Field::Null, Some(c)) => p.push(
            Action::DeleteEventInvokeConfig { qualifier: q },
            vec![diff(path, Op::Delete, json!(c), Value::Null)],
        ),
        _ => {}
    }
}
