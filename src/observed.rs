//! Reading the live state of just the fields a desired state manages.

use std::collections::{BTreeMap, BTreeSet};

mod policies;
pub mod seen;

use crate::aws::scaling::resource_id;
use crate::aws::{AwsError, RegionClients};
use crate::desired::Desired;
use crate::types::{
    AlarmState, AliasState, AppliedGeneration, Deployment, FunctionState, InvokeConfig, MappingState, PcState,
    Permission, Phase, PublishPolicy, ScalingState, Settings, VersionConfig,
};

/// The live configuration of one function. Maps are empty for kinds that were not read.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Observed {
    pub function: Option<FunctionState>,
    pub aliases: BTreeMap<String, AliasState>,
    pub provisioned: BTreeMap<String, PcState>,
    /// Keyed by qualifier; `None` is the unqualified function.
    pub invoke_configs: BTreeMap<Option<String>, InvokeConfig>,
    /// Keyed by alias name.
    pub scaling: BTreeMap<String, ScalingState>,
    /// Event source mappings on the qualifiers the manifest's mappings name (and the function).
    pub mappings: Vec<MappingState>,
    /// Statements the controller owns (id `lambda-reconciler-…`), by qualifier ("" = the
    /// unqualified function) then statement id; read for the qualifiers the statements name, and
    /// for the unqualified function and the listed aliases only when the generation tag is not
    /// the manifest's (observed/policies.rs).
    pub policies: BTreeMap<String, BTreeMap<String, Permission>>,
    /// The deployments' alarms that exist, with their state (read only while a rollout may move).
    pub alarms: BTreeMap<String, AlarmState>,
    /// The canary judge's numbers of each alias in a step of a rollout with `analysis`.
    pub judged: BTreeMap<String, crate::types::Reading>,
    /// Whether each hook function exists (read only when a rollout is about to start).
    pub hooks: BTreeMap<String, bool>,
    /// The environment and settings of the newest version the controller published, read only
    /// when `$LATEST` changed since that publish (its revision differs from the tag's); `None`
    /// also when the version no longer exists.
    pub published_config: Option<(BTreeMap<String, String>, Settings)>,
    /// That version's CodeSha256 (read with `published_config`).
    pub published_code: Option<String>,
    /// The published versions a weighted rollout involves (the aliases' live versions, their
    /// targets, a marker's `from`): their role and dead-letter target must match.
    pub versions: BTreeMap<String, VersionConfig>,
    /// When the state was read, milliseconds since the epoch (rollout pauses are measured to it).
    pub now_ms: i64,
    /// Recursion, runtime management and code signing, each read only when managed.
    pub configs: crate::types::LiveConfigs,
    /// Function URLs and their owned statements by qualifier ("" = the unqualified function);
    /// read only when `functionUrls` is managed: the listed qualifiers (with `null`/`{}`, every
    /// URL's and the unqualified function's).
    pub urls: BTreeMap<String, crate::types::UrlState>,
    /// When this process first saw each marked alias at its version and weights (`seen.rs`): the
    /// start of a step the marker does not record.
    pub seen: BTreeMap<String, i64>,
    /// The aliases of `seen` this process only read as they are (never wrote them so): a step
    /// the marker does not name is recorded in it, so a restart does not count its pause again.
    pub seen_on_read: BTreeSet<String>,
}

/// Which kinds a desired state manages (and so which reads are needed).
pub struct Needs {
    pub aliases: bool,
    /// The qualifiers whose event source mappings to list ("" = the unqualified function).
    pub mappings: Vec<String>,
    /// The qualifiers whose resource policy to read ("" = the unqualified function).
    pub policies: Vec<String>,
    pub provisioned: bool,
    pub invoke_configs: bool,
    pub scaling: bool,
}

pub fn needs(d: &Desired) -> Needs {
    let any = |f: &dyn Fn(&crate::desired::DesiredAlias) -> bool| d.aliases.values().any(f);
    // With permissions managed: each qualifier a statement names; the others where an owned
    // statement the manifest dropped can be are read once the generation tag is known (policies.rs).
    let policies = policies::named(d);
    // Mappings: the qualifiers the manifest's mappings name; with prune also the unqualified
    // function and each listed alias (where an unlisted mapping to delete can be).
    let mappings: BTreeSet<String> = match &d.mappings {
        None => BTreeSet::new(),
        Some(m) => {
            let pruned = d.prune.then(|| std::iter::once(String::new()).chain(d.aliases.keys().cloned()));
            m.keys().map(|(_, q)| q.clone()).chain(pruned.into_iter().flatten()).collect()
        }
    };
    Needs {
        mappings: mappings.into_iter().collect(),
        policies,
        // A URL on an alias needs to know whether the alias is live (or created by this plan).
        aliases: !d.aliases.is_empty()
            || d.prune
            || d.function_urls.as_ref().is_some_and(|u| u.keys().any(|q| !q.is_empty())),
        provisioned: any(&|a| !a.provisioned_concurrency.is_absent() || !a.autoscaling.is_absent()),
        invoke_configs: !d.invoke_config.is_absent() || any(&|a| !a.invoke_config.is_absent()),
        scaling: d.prune || any(&|a| !a.autoscaling.is_absent() || a.delete),
    }
}

/// Reads the function; `function` is `None` when it does not exist (the other reads are then
/// discarded). The reads are independent, so they are issued together: a reconcile waits for
/// one round trip, not one per kind.
pub async fn read(c: &RegionClients, d: &Desired) -> Result<Observed, AwsError> {
    let f = &d.function_ref;
    let n = needs(d);
    let own_scaling = n.scaling && !d.prune;
    let (function, aliases, provisioned, invoke_configs, scaling, policies, mappings, configs) = tokio::join!(
        c.lambda.get_function(f),
        when(n.aliases, || c.lambda.list_aliases(f)),
        when(n.provisioned, || c.lambda.list_provisioned_concurrency(f)),
        when(n.invoke_configs, || c.lambda.list_event_invoke_configs(f)),
        when(own_scaling, || read_scaling(c, d, declared_scaling(d))),
        policies::read(c, f, &n.policies),
        when(!n.mappings.is_empty(), || c.lambda.list_mappings(f, &n.mappings)),
        when(d.configs.manages_any(), || c.lambda.read_configs(f, &d.configs)),
    );
    let Some(mut function) = function? else {
        c.lambda.forget_versions(f);
        return Ok(Observed::default());
    };
    if function.applied_generation == AppliedGeneration::NotReturned {
        let t = c.lambda.list_tags(&function.arn).await?;
        let f = &mut function;
        (f.applied_generation, f.markers, f.published, f.sensitive_env) =
            (t.generation, t.markers, t.published, t.sensitive_env);
        (f.code, f.user_tags, f.created_by) = (t.code, t.user_tags, t.created_by);
    }
    let dropped = policies::dropped(d, &function);
    let mut o = Observed {
        function: Some(function),
        aliases: aliases?,
        provisioned: provisioned?,
        invoke_configs: invoke_configs?,
        scaling: scaling?,
        policies: policies?,
        mappings: mappings?,
        alarms: Default::default(),
        judged: Default::default(),
        hooks: Default::default(),
        published_config: None,
        published_code: None,
        versions: BTreeMap::new(),
        now_ms: crate::types::now_ms(),
        configs: configs?,
        urls: BTreeMap::new(),
        seen: BTreeMap::new(),
        seen_on_read: BTreeSet::new(),
    };
    let seen = first_seen(&o);
    o.seen_on_read = seen.iter().filter(|(_, (_, wrote))| !wrote).map(|(k, _)| k.clone()).collect();
    o.seen = seen.into_iter().map(|(k, (at, _))| (k, at)).collect();
    o.policies.extend(policies::read(c, f, &dropped).await?);
    if let Some(urls) = &d.function_urls {
        let qualifiers: Vec<String> = urls.keys().cloned().collect();
        o.urls = c.lambda.read_urls(f, &qualifiers, urls.is_empty()).await?;
    }
    if n.scaling && d.prune {
        // Pruning covers every live alias: their names come from the alias list.
        o.scaling = read_scaling(c, d, o.aliases.keys().cloned().collect()).await?;
    }
    if let Some(v) = read_published_config(c, d, &o).await? {
        o.published_config = Some((v.environment, v.settings));
        o.published_code = Some(v.code_sha256);
    }
    let d = d.resolve_published(o.published_version(), &o.aliases);
    o.versions = read_versions(c, &d, &o).await?;
    read_rollout_inputs(c, &d, &mut o).await?;
    Ok(o)
}

/// When this process first saw each marked alias as it is now, and whether it wrote it so.
fn first_seen(o: &Observed) -> BTreeMap<String, (i64, bool)> {
    let Some(f) = &o.function else { return BTreeMap::new() };
    let live = |(name, m): (&String, &crate::types::Marker)| {
        let a = o.aliases.get(name)?;
        Some((name.clone(), seen::since(&f.arn, name, m, a, o.now_ms)))
    };
    f.markers.iter().filter_map(live).collect()
}

/// The configurations of the versions weighted rollouts involve: each alias's live version, its
/// target and its marker's `from` (each read once per process: a version never changes).
async fn read_versions(
    c: &RegionClients,
    d: &Desired,
    o: &Observed,
) -> Result<BTreeMap<String, VersionConfig>, AwsError> {
    let markers = o.function.as_ref().map(|f| &f.markers);
    let mut wanted = BTreeSet::new();
    for (name, a) in d.aliases.iter().filter(|(_, a)| !a.delete) {
        let (Some(dep), Some(live)) = (&a.deployment, o.aliases.get(name)) else { continue };
        if dep.steps.is_empty() {
            continue;
        }
        let from = markers.and_then(|m| m.get(name)).map(|m| m.from.clone());
        wanted.extend([live.function_version.clone(), a.function_version.clone()].into_iter().chain(from));
    }
    let mut out = BTreeMap::new();
    for v in wanted.into_iter().filter(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_digit())) {
        if let Some(config) = c.lambda.version_config(&d.function_ref, &v).await? {
            out.insert(v, config);
        }
    }
    Ok(out)
}

impl Observed {
    /// The newest version the controller published (from the function's tag).
    pub fn published_version(&self) -> Option<&str> {
        self.function.as_ref()?.published.as_ref().map(|p| p.version.as_str())
    }
}

/// With `publish: onChange`, the published version's configuration when `$LATEST` changed since
/// it was published (the tag's revision is not `$LATEST`'s). AWS changes `$LATEST`'s RevisionId
/// when it publishes a version (and on other writes), so that is nearly always: the version is
/// read once and kept ([`crate::aws::lambda::Lambda::version_config`]), never once per resync.
async fn read_published_config(
    c: &RegionClients,
    d: &Desired,
    o: &Observed,
) -> Result<Option<VersionConfig>, AwsError> {
    let Some(f) = o.function.as_ref().filter(|_| d.publish == PublishPolicy::OnChange) else { return Ok(None) };
    match &f.published {
        Some(p) if p.revision != f.revision_id => c.lambda.version_config(&d.function_ref, &p.version).await,
        _ => Ok(None),
    }
}

/// The aliases whose rollout may move now: one in flight to the target, or one that would start
/// (the live version is not the target); a rolled-back target is held and reads nothing.
fn moving<'a>(d: &'a Desired, o: &'a Observed) -> impl Iterator<Item = (&'a String, &'a Deployment)> + 'a {
    let markers = o.function.as_ref().map(|f| &f.markers);
    d.aliases.iter().filter_map(move |(name, a)| {
        let dep = a.deployment.as_ref()?;
        let live = o.aliases.get(name)?;
        let moving = match markers.and_then(|m| m.get(name)).filter(|m| m.to == a.function_version) {
            // A queued release member may start; a done one watches its alarms while its wave bakes.
            Some(m) if m.phase == Phase::Queued => true,
            Some(m) if m.phase == Phase::Done => {
                d.releases.get(name).is_some_and(|r| crate::types::now_ms() < r.bake_end(m, crate::types::now_ms()))
            }
            Some(m) => m.active(),
            None => live.function_version != a.function_version,
        };
        moving.then_some((name, dep))
    })
}

/// The metric subjects of the aliases in a step of a rollout with `analysis` (alias, subject).
pub fn judged_subjects(d: &Desired, o: &Observed) -> Vec<(String, crate::types::Subject)> {
    let Some(f) = &o.function else { return vec![] };
    let mut out = vec![];
    for (name, dep) in moving(d, o) {
        let (Some(a), Some(m), Some(cur)) = (&dep.analysis, f.markers.get(name), o.aliases.get(name)) else { continue };
        // The step the alias's weight shows, begun when the planner counts it (the same subject).
        let seen = o.seen.get(name).copied().unwrap_or(o.now_ms);
        let m = m.effective(&dep.steps, &cur.function_version, &cur.routing, seen);
        if matches!(m.phase, crate::types::Phase::Shifting { .. }) && m.to == d.aliases[name.as_str()].function_version
        {
            out.push((name.clone(), crate::types::Subject::of(&d.key.name, name, &m, a, o.now_ms)));
        }
    }
    out
}

/// Alarm states (one DescribeAlarms for all of the function's rollouts) and, for a rollout about
/// to start, whether its hook functions exist: read only while a rollout may move.
async fn read_rollout_inputs(c: &RegionClients, d: &Desired, o: &mut Observed) -> Result<(), AwsError> {
    let mut alarms = BTreeSet::new();
    let mut hooks = BTreeSet::new();
    let mut any_starting = false;
    for (name, dep) in moving(d, o) {
        alarms.extend(dep.alarms.iter().cloned());
        let target = &d.aliases[name.as_str()].function_version;
        let starting = o
            .function
            .as_ref()
            .is_none_or(|f| f.markers.get(name).is_none_or(|m| &m.to != target || m.phase == Phase::Queued));
        if starting {
            any_starting = true;
            hooks.extend(dep.pre_traffic.iter().chain(&dep.post_traffic).cloned());
        }
    }
    let alarms: Vec<String> = alarms.into_iter().collect();
    let subjects = judged_subjects(d, o);
    if !subjects.is_empty() {
        let readings = c.metrics.readings(&subjects.iter().map(|(_, s)| s.clone()).collect::<Vec<_>>()).await?;
        o.judged = subjects.into_iter().filter_map(|(alias, s)| Some((alias, readings.get(&s)?.clone()))).collect();
    }
    if any_starting {
        // A start checks that every alarm exists: read them by name.
        o.alarms = c.alarms.states(&alarms).await?;
    } else if !alarms.is_empty() {
        o.alarms = c.alarms.watched_states(&alarms).await?;
    }
    for h in hooks {
        let exists = c.lambda.get_function(&h).await?.is_some();
        o.hooks.insert(h, exists);
    }
    Ok(())
}

/// Runs `read` when `needed`; else nothing was read (an empty value).
async fn when<T: Default, R, F>(needed: bool, read: R) -> Result<T, AwsError>
where
    R: FnOnce() -> F,
    F: std::future::Future<Output = Result<T, AwsError>>,
{
    if needed {
        read().await
    } else {
        Ok(T::default())
    }
}

/// The aliases whose autoscaling the manifest declares (or deletes).
fn declared_scaling(d: &Desired) -> Vec<String> {
    d.aliases.iter().filter(|(_, a)| !a.autoscaling.is_absent() || a.delete).map(|(k, _)| k.clone()).collect()
}

/// The autoscaling state of `aliases`, keyed by alias name.
async fn read_scaling(
    c: &RegionClients,
    d: &Desired,
    aliases: Vec<String>,
) -> Result<BTreeMap<String, ScalingState>, AwsError> {
    let ids: Vec<String> = aliases.iter().map(|a| resource_id(&d.key.name, a)).collect();
    let by_id = c.scaling.read_for(&d.key.name, &ids).await?;
    Ok(aliases.into_iter().filter_map(|a| by_id.get(&resource_id(&d.key.name, &a)).cloned().map(|s| (a, s))).collect())
}
