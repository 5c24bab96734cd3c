//! An edit's own kinds first: when a manifest change touches only the function's configuration (settings, environment, reserved concurrency, its event invoke config), just those are read and written before the reconcile that follows reads and converges every kind as before.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use super::store::{Reload, Store};
use super::Ctx;
use crate::desired::{self, Desired};
use crate::manifest::Manifest;
use crate::reconcile::{self, ReconcileError};
use crate::types::{AppliedGeneration, Field, FunctionKey, PublishPolicy, Settings};

/// The manifest each key was last reconciled with (or first loaded with): what an edit changed
/// is told against it. One entry per manifest in force; a removed one's goes with it.
#[derive(Default)]
pub struct Previous(Mutex<HashMap<FunctionKey, Manifest>>);

impl Previous {
    /// A reload: the first load is the previous version of every key; a removed key is forgotten.
    /// (A later change leaves the entry as it was, so the reconcile can tell what changed.)
    pub fn reloaded(&self, store: &Store, r: &Reload, first: bool) {
        let mut known = self.0.lock().unwrap();
        for (key, _) in &r.removed {
            known.remove(key);
        }
        if first {
            for key in &r.changed {
                if let Some(m) = store.get(key) {
                    known.insert(key.clone(), m.clone());
                }
            }
        }
    }

    /// Records that `key` is reconciled with `m` now; returns the version it had before.
    pub fn swap(&self, key: &FunctionKey, m: &Manifest) -> Option<Manifest> {
        self.0.lock().unwrap().insert(key.clone(), m.clone())
    }
}

/// A reload: [`Previous::reloaded`]; and a removed manifest's function has no rollout move left.
pub fn reloaded(ctx: &Ctx, r: &Reload, first: bool) {
    ctx.previous.reloaded(&ctx.store.read().unwrap(), r, first);
    for (key, _) in &r.removed {
        ctx.rolling.set(key, false);
    }
}

/// The kinds an edit may write on their own, ahead of the reconcile of every kind.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Kinds {
    pub settings: bool,
    pub environment: bool,
    pub reserved_concurrency: bool,
    pub invoke_config: bool,
}

impl Kinds {
    fn any(&self) -> bool {
        self.settings || self.environment || self.reserved_concurrency || self.invoke_config
    }
}

/// `m` without its environment (built without reading SSM or Secrets Manager).
fn without_environment(m: &Manifest) -> Manifest {
    let mut stripped = m.clone();
    Arc::make_mut(&mut stripped.doc).spec.environment = Field::Absent;
    stripped
}

/// What changed from `before` to `now` when only function-level kinds did; `None` when anything
/// else changed (aliases, code, mappings, permissions, URLs, tags, publish …), or either version
/// cannot be built: the edit is then reconciled whole, as any other.
pub fn changed(before: &Manifest, now: &Manifest, region: &str) -> Option<Kinds> {
    let build = |m: &Manifest| desired::build(&without_environment(m), Some(region), &BTreeMap::new()).ok();
    let (mut old, new) = (build(before)?, build(now)?);
    let kinds = Kinds {
        settings: old.settings != new.settings,
        // The manifest's own text (references, not values): no value is read or kept here.
        environment: format!("{:?}", before.doc.spec.environment) != format!("{:?}", now.doc.spec.environment),
        reserved_concurrency: old.reserved_concurrency != new.reserved_concurrency,
        invoke_config: old.invoke_config != new.invoke_config,
    };
    old.settings = new.settings.clone();
    old.reserved_concurrency = new.reserved_concurrency.clone();
    old.invoke_config = new.invoke_config.clone();
    (old.manifest, old.file, old.generation) = (new.manifest.clone(), new.file.clone(), new.generation.clone());
    (old == new && kinds.any()).then_some(kinds)
}

/// `d` managing only `kinds`: every other kind unmanaged, so it is neither read nor planned.
pub fn only(d: &Desired, kinds: &Kinds) -> Desired {
    let mut p = d.clone();
    p.aliases.clear();
    (p.mappings, p.permissions, p.function_urls, p.code, p.architecture) = (None, None, None, None, None);
    p.configs = Default::default();
    (p.prune, p.create, p.delete_function, p.publish) = (false, false, false, PublishPolicy::Never);
    if !kinds.settings {
        p.settings = Settings::default();
    }
    if !kinds.environment {
        p.environment = Field::Absent;
        p.sourced.clear();
    }
    if !kinds.reserved_concurrency {
        p.reserved_concurrency = Field::Absent;
    }
    if !kinds.invoke_config {
        p.invoke_config = Field::Absent;
    }
    p
}

/// Writes the kinds an edit changed (against `before`, the manifest the key was last reconciled
/// with) after reading only those; the caller then reconciles every kind. Nothing is done when
/// other kinds changed too, under `--dry-run`, or when that read finds the function missing, its
/// tags unreadable or its plan in error (the full reconcile reports those). Returns the writes.
pub async fn write_first(
    ctx: &Ctx,
    key: &FunctionKey,
    (before, now): (Option<&Manifest>, &Manifest),
    d: &Desired,
) -> Result<usize, ReconcileError> {
    let Some(before) = before.filter(|b| !ctx.opts.dry_run && b.content_hash() != d.generation) else {
        return Ok(0);
    };
    let Some(kinds) = changed(before, now, &key.region) else { return Ok(0) };
    let partial = only(d, &kinds);
    let clients = ctx.aws.clients(key.role.as_deref(), &key.region);
    let (plan, o) = reconcile::observe_and_plan(&clients, &partial).await?;
    let readable =
        o.function.as_ref().is_some_and(|f| !matches!(f.applied_generation, AppliedGeneration::Unreadable(_)));
    if !readable || plan.error.is_some() || !plan.blocked.is_empty() || plan.changes.is_empty() {
        return Ok(0);
    }
    let writes = crate::apply::apply(&clients, &partial.function_ref, &plan, ctx.opts.waits)
        .await
        .map_err(ReconcileError::Apply)?;
    tracing::info!(?kinds, writes, "the edit's own kinds written first; now reconciling every kind");
    Ok(writes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(body: &str) -> Manifest {
        let text = format!(
            "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: f\nspec:\n  functionName: f\n  region: us-east-1\n{body}"
        );
        crate::manifest::load::load_file(std::path::Path::new("f.yaml"), &text).unwrap().remove(0)
    }

    const BASE: &str = "  memorySize: 256\n  environment:\n    variables:\n      LEVEL: debug\n  aliases:\n    live:\n      functionVersion: \"1\"\n";

    #[test]
    fn an_edit_of_the_environment_or_settings_is_written_on_its_own_and_any_other_is_not() {
        let before = manifest(BASE);
        let env = manifest(&BASE.replace("debug", "info"));
        let kinds = changed(&before, &env, "us-east-1").unwrap();
        assert_eq!(kinds, Kinds { environment: true, ..Kinds::default() });
        let memory = manifest(&BASE.replace("256", "512"));
        assert_eq!(changed(&before, &memory, "us-east-1").unwrap(), Kinds { settings: true, ..Kinds::default() });
        let reference = manifest(&BASE.replace("debug", "{fromSsm: /app/level}"));
        assert!(changed(&before, &reference, "us-east-1").unwrap().environment, "a new reference is a change");
        let alias = manifest(&BASE.replace("\"1\"", "\"2\"").replace("debug", "info"));
        assert_eq!(changed(&before, &alias, "us-east-1"), None, "an alias change is reconciled whole");
        assert_eq!(changed(&before, &manifest(BASE), "us-east-1"), None, "nothing changed");
    }

    #[test]
    fn the_partial_state_manages_only_the_changed_kinds() {
        let m = manifest(&BASE.replace("debug", "info"));
        let d = desired::build(&m, Some("us-east-1"), &BTreeMap::new()).unwrap();
        let p = only(&d, &Kinds { environment: true, ..Kinds::default() });
        assert!(p.aliases.is_empty() && p.settings == Settings::default());
        assert_eq!(p.environment, d.environment);
        let needs = crate::observed::needs(&p);
        assert!(!needs.aliases && !needs.provisioned && !needs.invoke_configs && needs.policies.is_empty());
    }
}
