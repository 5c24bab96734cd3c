//! Manifests + resolved SSM values → the desired state of each function (domain values).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use indexmap::IndexMap;

use crate::manifest::{self as m, Manifest};
pub use crate::types::SecretRef;
use crate::types::{
    environment_size, AliasState, Deployment, DriftPolicy, EnvMap, EnvValue, Field, FunctionKey, Interest,
    InvokeConfig, Parameter, PublishPolicy, Routing, Scheduled, Scope, Settings, TargetTracking, DEFAULT_EVENT_AGE,
    DEFAULT_RETRIES, ENV_LIMIT_BYTES, FOLLOW_PUBLISHED,
};

#[derive(Debug, thiserror::Error)]
pub enum DesiredError {
    #[error("{file}: {field}: SSM parameter `{parameter}` does not exist")]
    MissingParameter { file: PathBuf, field: String, parameter: String },
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Several(Vec<DesiredError>),
    #[error("{file}: {field}: secret `{id}` cannot be used: {reason}")]
    Secret { file: PathBuf, field: String, id: String, reason: String },
    #[error("{file}: spec.region: no region in the manifest, the function ARN, --region or the AWS config")]
    NoRegion { file: PathBuf },
    #[error("{file}: spec.environment.variables: {bytes} bytes as JSON after resolving SSM values, over Lambda's {limit}-byte limit")]
    EnvironmentTooLarge { file: PathBuf, bytes: usize, limit: usize },
}

#[derive(Debug, Clone, PartialEq)]
pub struct DesiredScaling {
    pub min_capacity: i64,
    pub max_capacity: i64,
    pub target_tracking: Option<TargetTracking>,
    pub scheduled_actions: Vec<Scheduled>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DesiredAlias {
    pub function_version: String,
    pub description: Option<String>,
    /// Absent: unmanaged; Value (possibly empty): owned exactly. `null` reads as empty.
    pub routing: Field<Routing>,
    pub provisioned_concurrency: Field<i64>,
    pub autoscaling: Field<DesiredScaling>,
    pub invoke_config: Field<InvokeConfig>,
    /// Delete the alias itself (a removed manifest with `deletionPolicy: delete` and `prune`).
    pub delete: bool,
    /// Shift a new `function_version` in by steps; the rollout then owns version and routing.
    pub deployment: Option<Deployment>,
}

impl DesiredAlias {
    /// `functionVersion: published` (before [`Desired::resolve_published`]).
    pub fn follows_published(&self) -> bool {
        self.function_version == FOLLOW_PUBLISHED
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Desired {
    pub manifest: String,
    pub file: PathBuf,
    pub generation: String,
    pub key: FunctionKey,
    /// Name or ARN as written, passed to Lambda.
    pub function_ref: String,
    pub drift_policy: DriftPolicy,
    pub ignore_differences: Vec<String>,
    pub prune: bool,
    pub publish: PublishPolicy,
    /// `$LATEST`'s managed settings (unset fields unmanaged).
    pub settings: Settings,
    /// Event source mappings by (source, qualifier); `None`: unmanaged.
    pub mappings: Option<crate::manifest::mapping_rules::Mappings>,
    /// Resource-policy statements the manifest owns; `None`: unmanaged.
    pub permissions: Option<crate::manifest::permission_rules::Permissions>,
    pub environment: Field<EnvMap>,
    /// The variables whose value comes from SSM or Secrets Manager (their owner may change it).
    pub sourced: BTreeSet<String>,
    pub reserved_concurrency: Field<i64>,
    pub invoke_config: Field<InvokeConfig>,
    /// `spec.code` (`None`: unmanaged).
    pub code: Option<crate::types::CodeSource>,
    /// The git revision the manifests are (recorded in the generation tag as `HASH@REVISION`).
    pub revision: Option<String>,
    /// `spec.create`: CreateFunction when the function is missing.
    pub create: bool,
    /// The manifest was removed under `deletionPolicy: delete`: a function it created (tag
    /// `lambda-reconciler.io/created-by` naming it) is deleted whole.
    pub delete_function: bool,
    /// User tags, recursion, runtime management, code signing.
    pub configs: crate::types::DesiredConfigs,
    /// `spec.architectures`' one item (`null`: x86_64; `None`: unmanaged).
    pub architecture: Option<String>,
    /// Function URLs by qualifier (`None`: unmanaged; an empty map deletes every URL).
    pub function_urls: Option<crate::manifest::url_rules::FunctionUrls>,
    pub aliases: IndexMap<String, DesiredAlias>,
    /// The releases (release waves) of the aliases in one, by alias, with the other members'
    /// states as the caller read them before planning (`set_releases`).
    pub releases: BTreeMap<String, crate::types::Release>,
}

impl Desired {
    /// The generation tag's value: the manifest's generation, and `@REVISION` when the git
    /// revision is known (what the status page shows as "synced to").
    pub fn generation_tag(&self) -> String {
        match &self.revision {
            Some(r) => format!("{}@{}", self.generation, crate::types::tag_safe(r, 64)),
            None => self.generation.clone(),
        }
    }

    /// True when `path` (e.g. `aliases.prod.routing`) is covered by `ignoreDifferences`.
    pub fn ignored(&self, path: &str) -> bool {
        self.ignore_differences
            .iter()
            .any(|i| path == i || path.strip_prefix(i.as_str()).is_some_and(|rest| rest.starts_with('.')))
    }

    /// This desired state with each `functionVersion: published` replaced by `published`, the
    /// newest version the controller published. With none known yet, such an alias keeps its
    /// live version, or is not created until the first publish.
    pub fn resolve_published(&self, published: Option<&str>, live: &BTreeMap<String, AliasState>) -> Cow<'_, Desired> {
        if !self.aliases.values().any(|a| a.follows_published()) {
            return Cow::Borrowed(self);
        }
        let mut d = self.clone();
        d.aliases.retain(|name, a| {
            if a.follows_published() {
                match published.or(live.get(name).map(|l| l.function_version.as_str())) {
                    Some(v) => a.function_version = v.to_string(),
                    None => return false,
                }
            }
            true
        });
        Cow::Owned(d)
    }

    /// Every SecureString value of this function (to mask wherever it appears).
    pub fn secrets(&self) -> BTreeSet<String> {
        match &self.environment {
            Field::Value(env) => env.values().filter(|v| v.sensitive).map(|v| v.value.clone()).collect(),
            _ => BTreeSet::new(),
        }
    }
}

fn secret_ref(r: &m::SecretSpec) -> SecretRef {
    SecretRef { id: r.id.clone().unwrap_or_default(), version: r.version.clone() }
}

/// The secrets referenced by `manifests` (deduplicated).
pub fn secret_refs<'a>(manifests: impl IntoIterator<Item = &'a Manifest>) -> Vec<SecretRef> {
    let mut refs = BTreeSet::new();
    for man in manifests {
        if let Field::Value(env) = &man.doc.spec.environment {
            for v in env.variables.values() {
                if let m::EnvValue::FromSecret(r) = v {
                    refs.insert(secret_ref(&r.from_secret));
                }
            }
        }
    }
    refs.into_iter().collect()
}

/// The SSM parameter names referenced by `manifests` (deduplicated).
pub fn ssm_names<'a>(manifests: impl IntoIterator<Item = &'a Manifest>) -> Vec<String> {
    let mut names = BTreeSet::new();
    for man in manifests {
        if let Field::Value(env) = &man.doc.spec.environment {
            for v in env.variables.values() {
                if let m::EnvValue::FromSsm(r) = v {
                    names.insert(r.from_ssm.clone());
                }
            }
        }
    }
    names.into_iter().collect()
}

fn invoke_config(c: &m::EventInvokeConfig) -> InvokeConfig {
    let d = c.destinations.as_ref();
    InvokeConfig {
        maximum_retry_attempts: c.maximum_retry_attempts.unwrap_or(DEFAULT_RETRIES),
        maximum_event_age_in_seconds: c.maximum_event_age_in_seconds.unwrap_or(DEFAULT_EVENT_AGE),
        on_success: d.and_then(|d| d.on_success.clone()),
        on_failure: d.and_then(|d| d.on_failure.clone()),
    }
}

fn scaling(s: &m::Autoscaling) -> DesiredScaling {
    DesiredScaling {
        min_capacity: s.min_capacity,
        max_capacity: s.max_capacity,
        target_tracking: s.target_utilization.map(|t| TargetTracking {
            target_utilization: t,
            scale_in_cooldown: s.scale_in_cooldown.unwrap_or(0),
            scale_out_cooldown: s.scale_out_cooldown.unwrap_or(0),
            disable_scale_in: s.disable_scale_in.unwrap_or(false),
        }),
        scheduled_actions: s
            .scheduled_actions
            .iter()
            .map(|a| Scheduled {
                name: a.name.clone(),
                schedule: a.schedule.clone(),
                min_capacity: a.min_capacity,
                max_capacity: a.max_capacity,
                timezone: crate::types::timezone(a.timezone.as_deref()),
                start_time: a.start_time.as_deref().and_then(crate::types::parse_time),
                end_time: a.end_time.as_deref().and_then(crate::types::parse_time),
            })
            .collect(),
    }
}

fn alias(a: &m::Alias) -> DesiredAlias {
    DesiredAlias {
        function_version: a.function_version.as_text(),
        description: a.description.clone(),
        routing: match &a.routing {
            Field::Absent => Field::Absent,
            Field::Null => Field::Value(Routing::new()),
            Field::Value(r) => Field::Value(r.clone()),
        },
        provisioned_concurrency: a.provisioned_concurrency.clone(),
        autoscaling: a.autoscaling.as_ref().map(scaling),
        invoke_config: a.event_invoke_config.as_ref().map(invoke_config),
        delete: false,
        deployment: a.deployment.as_ref().map(crate::manifest::deploy_rules::resolve),
    }
}

/// Turns a value the manifest managed into "ensure absent"; leaves unmanaged fields unmanaged.
fn absent<T>(f: &Field<T>) -> Field<T> {
    if f.is_absent() {
        Field::Absent
    } else {
        Field::Null
    }
}

impl Desired {
    /// The desired state that removes what this manifest owned (`deletionPolicy: delete`):
    /// provisioned concurrency, scalable targets, event invoke configs and reserved concurrency;
    /// its listed aliases only with `prune: true`; the environment is left as it is.
    pub fn for_deletion(&self) -> Desired {
        let aliases = self
            .aliases
            .iter()
            .map(|(k, a)| {
                let alias = DesiredAlias {
                    function_version: a.function_version.clone(),
                    description: None,
                    routing: Field::Absent,
                    provisioned_concurrency: absent(&a.provisioned_concurrency),
                    autoscaling: absent(&a.autoscaling),
                    invoke_config: absent(&a.invoke_config),
                    delete: self.prune,
                    deployment: None,
                };
                (k.clone(), alias)
            })
            .collect();
        Desired {
            environment: Field::Absent,
            sourced: BTreeSet::new(),
            settings: Settings::default(),
            permissions: self.permissions.as_ref().map(|_| Default::default()),
            // Read, to delete with a function it created (AWS's DeleteFunction leaves them);
            // otherwise left as they are (the mappings' plan skips a deletion).
            mappings: self.mappings.clone(),
            reserved_concurrency: absent(&self.reserved_concurrency),
            invoke_config: absent(&self.invoke_config),
            code: None,
            create: false,
            // Only a manifest that says `create: true` ever deletes (with the created-by tag).
            delete_function: self.create,
            configs: Default::default(),
            architecture: None,
            // The URLs it listed are deleted (an empty map, `null`, stays: every URL).
            function_urls: self.function_urls.as_ref().map(|u| u.keys().map(|q| (q.clone(), None)).collect()),
            prune: false,
            ignore_differences: vec![],
            aliases,
            ..self.clone()
        }
    }
}

fn environment(
    man: &Manifest,
    env: &m::Environment,
    params: &BTreeMap<String, Parameter>,
) -> Result<EnvMap, DesiredError> {
    let mut out = EnvMap::new();
    let mut errors = vec![];
    for (k, v) in &env.variables {
        let value = match v {
            m::EnvValue::Literal(s) => Ok(EnvValue::plain(s.as_text())),
            m::EnvValue::FromSecret(r) => secret_value(man, k, &r.from_secret, params),
            m::EnvValue::FromSsm(r) => match params.get(&r.from_ssm) {
                Some(p) => Ok(EnvValue { value: p.value.clone(), sensitive: p.secure }),
                None => Err(DesiredError::MissingParameter {
                    file: man.file.clone(),
                    field: format!("spec.environment.variables.{k}"),
                    parameter: r.from_ssm.clone(),
                }),
            },
        };
        match value {
            Ok(v) => drop(out.insert(k.clone(), v)),
            Err(e) => errors.push(e),
        }
    }
    // Every unresolvable value at once, not only the first.
    match errors.len() {
        0 => {}
        1 => return Err(errors.remove(0)),
        _ => return Err(DesiredError::Several(errors)),
    }
    let bytes = environment_size(out.iter().map(|(k, v)| (k.as_str(), v.value.as_str())));
    if bytes > ENV_LIMIT_BYTES {
        return Err(DesiredError::EnvironmentTooLarge { file: man.file.clone(), bytes, limit: ENV_LIMIT_BYTES });
    }
    Ok(out)
}

/// The value of a secret reference: the whole SecretString, or one key of its JSON object.
fn secret_value(
    man: &Manifest,
    var: &str,
    spec: &m::SecretSpec,
    params: &BTreeMap<String, Parameter>,
) -> Result<EnvValue, DesiredError> {
    let r = secret_ref(spec);
    let field = format!("spec.environment.variables.{var}.fromSecret");
    let fail = |reason: String| DesiredError::Secret {
        file: man.file.clone(),
        field: field.clone(),
        id: r.id.clone(),
        reason,
    };
    let Some(p) = params.get(&r.key()) else {
        let reason = params.get(&r.error_key()).map_or("it was not read".to_string(), |e| e.value.clone());
        return Err(fail(reason));
    };
    let value = match &spec.key {
        None => p.value.clone(),
        Some(key) => {
            let doc: serde_json::Value = serde_json::from_str(&p.value)
                .map_err(|_| fail(format!("its value is not a JSON object, so key `{key}` cannot be read")))?;
            match doc.get(key) {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(other) if !other.is_null() => other.to_string(),
                _ => return Err(fail(format!("its JSON has no key `{key}`"))),
            }
        }
    };
    Ok(EnvValue { value, sensitive: true })
}

/// The interest of each account-region in `manifests` (keyed by their function key's scope).
pub fn interest<'a>(manifests: impl IntoIterator<Item = (Scope, &'a Manifest)>) -> BTreeMap<Scope, Interest> {
    let mut by_region: BTreeMap<Scope, Vec<&Manifest>> = BTreeMap::new();
    for (scope, m) in manifests {
        by_region.entry(scope).or_default().push(m);
    }
    by_region
        .into_iter()
        .map(|(region, ms)| {
            let scaling = ms
                .iter()
                .filter(|m| m.doc.spec.prune || m.doc.spec.aliases.values().any(|a| !a.autoscaling.is_absent()))
                .count();
            let interest = Interest {
                ssm_names: ssm_names(ms.iter().copied()),
                secret_refs: secret_refs(ms.iter().copied()),
                scaling_functions: scaling,
            };
            (region, interest)
        })
        .collect()
}

/// The releases of `m`'s aliases (by alias) among `all` manifests, their members' states unread.
pub fn releases(
    m: &Manifest,
    all: &[&Manifest],
    default_region: Option<&str>,
) -> BTreeMap<String, crate::types::Release> {
    (m.doc.spec.aliases.keys())
        .filter_map(|alias| Some((alias.clone(), m::release_rules::release_of(m, alias, all, default_region)?)))
        .collect()
}

/// Builds the desired state of one manifest. `params` holds every resolved SSM parameter.
pub fn build(
    man: &Manifest,
    default_region: Option<&str>,
    params: &BTreeMap<String, Parameter>,
) -> Result<Desired, DesiredError> {
    let spec = &man.doc.spec;
    let key = man.key(default_region).ok_or_else(|| DesiredError::NoRegion { file: man.file.clone() })?;
    let environment = match &spec.environment {
        Field::Absent => Field::Absent,
        Field::Null => Field::Null,
        Field::Value(env) => Field::Value(environment(man, env, params)?),
    };
    let sourced = match &spec.environment {
        Field::Value(env) => env
            .variables
            .iter()
            .filter(|(_, v)| matches!(v, m::EnvValue::FromSsm(_) | m::EnvValue::FromSecret(_)))
            .map(|(k, _)| k.clone())
            .collect(),
        _ => BTreeSet::new(),
    };
    Ok(Desired {
        sourced,
        manifest: man.name.clone(),
        file: man.file.clone(),
        generation: man.content_hash(),
        key,
        function_ref: man.function.raw.clone(),
        drift_policy: spec.drift_policy,
        ignore_differences: spec.ignore_differences.clone(),
        prune: spec.prune,
        publish: spec.publish,
        settings: crate::manifest::definition_rules::resolve(spec, crate::manifest::settings_rules::resolve(spec)),
        permissions: crate::manifest::permission_rules::resolve(spec),
        mappings: crate::manifest::mapping_rules::resolve(spec),
        environment,
        reserved_concurrency: spec.reserved_concurrency.clone(),
        invoke_config: spec.event_invoke_config.as_ref().map(invoke_config),
        code: spec.code.as_ref().map(code_source),
        architecture: match &spec.architectures {
            Field::Absent => None,
            Field::Null => Some(crate::types::DEFAULT_ARCHITECTURE.to_string()),
            Field::Value(a) => a.first().map(|a| a.as_str().to_string()),
        },
        revision: None,
        create: spec.create,
        delete_function: false,
        configs: crate::manifest::function_rules::resolve(spec),
        function_urls: crate::manifest::url_rules::resolve(spec),
        aliases: spec.aliases.iter().map(|(k, a)| (k.clone(), alias(a))).collect(),
        releases: BTreeMap::new(),
    })
}

/// `spec.code` as the domain's source (validation made it exactly one of `s3` and `imageUri`).
fn code_source(c: &crate::manifest::Code) -> crate::types::CodeSource {
    use crate::types::CodeLocation;
    let location = match (&c.s3, &c.image_uri) {
        (Some(s3), _) => CodeLocation::S3 {
            bucket: s3.bucket.clone(),
            key: s3.key.clone(),
            object_version: s3.object_version.clone(),
        },
        (None, uri) => CodeLocation::Image { uri: uri.clone().unwrap_or_default() },
    };
    crate::types::CodeSource { location, sha256: c.sha256.clone() }
}
