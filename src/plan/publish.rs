//! Publishing `$LATEST` as a version (`publish: onChange`): when, and what follows it.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{diff, Action, FunctionPlan, Op};
use crate::desired::Desired;
use crate::observed::Observed;
use crate::types::{FunctionState, PublishPolicy, Settings};

/// Why `$LATEST` must be published now, if it must: this plan changes it, no version was
/// published yet, or it differs (in the managed configuration) from the version last published.
fn reason(d: &Desired, o: &Observed, f: &FunctionState, p: &FunctionPlan) -> Option<String> {
    if p.changes.iter().any(|c| matches!(c.action, Action::UpdateCode { .. })) {
        return Some("this plan changes $LATEST's code".into());
    }
    if p.changes.iter().any(|c| super::configs::changes_latest(&c.action)) {
        return Some("this plan changes $LATEST's runtime management".into());
    }
    let update = p.changes.iter().find_map(|c| match &c.action {
        Action::UpdateConfiguration { environment, settings, .. } => Some((environment, settings)),
        _ => None,
    });
    if let Some((env, set)) = update {
        // What $LATEST holds once this plan's update applied.
        let env = env
            .as_ref()
            .map_or_else(|| f.environment.clone(), |e| e.iter().map(|(k, v)| (k.clone(), v.value.clone())).collect());
        let after = (env, super::settings::overlay(&f.settings, set));
        // Drift put right: $LATEST goes back to what the published version already holds.
        let restores = f.published.is_some() && o.published_config.as_ref().is_some_and(|pc| !differs(d, pc, &after));
        return (!restores).then(|| "this plan changes $LATEST".into());
    }
    let Some(published) = &f.published else {
        return Some("no version published by lambda-reconciler yet".into());
    };
    if published.revision == f.revision_id {
        return None;
    }
    let v = &published.version;
    let latest = (f.environment.clone(), f.settings.clone());
    let code_differs = |pc_code: &str| d.code.is_some() && !d.ignored("code") && pc_code != f.code_sha256;
    match &o.published_config {
        None => Some(format!("version {v} (the last one published) no longer exists")),
        Some(pc) if differs(d, pc, &latest) => Some(format!("$LATEST differs from version {v}")),
        Some(_) if o.published_code.as_deref().is_some_and(code_differs) => {
            Some(format!("$LATEST's code differs from version {v}"))
        }
        // $LATEST changed in what the manifest does not manage (code, unmanaged settings).
        Some(_) => None,
    }
}

type Config = (BTreeMap<String, String>, Settings);

/// True when the managed configuration of `a` and `b` differs (ignored paths aside), in what a
/// version inherits from `$LATEST`. AWS (PublishVersion, Description): "A description for the
/// version to override the description in the function configuration": the controller publishes
/// with its own description, so a version never carries `$LATEST`'s and `description` is left out
/// (else a managed description would make every resync after a code upload publish again).
fn differs(d: &Desired, a: &Config, b: &Config) -> bool {
    let inherited = |s: &Settings| Settings { description: None, ..s.clone() };
    env_differs(d, &a.0, &b.0) || super::settings::differ(d, &inherited(&a.1), &inherited(&b.1))
}

fn env_differs(d: &Desired, a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> bool {
    if d.environment.is_absent() || d.ignored("environment") || d.ignored("environment.variables") {
        return false;
    }
    let kept = |k: &&String| !d.ignored(&format!("environment.variables.{k}"));
    !a.iter().filter(|(k, _)| kept(k)).eq(b.iter().filter(|(k, _)| kept(k)))
}

/// Why the version this plan would publish could not share traffic with the live version of an
/// alias that follows it by weights (execution role or dead-letter target differ; see
/// [`super::compat::RULE`]), unless the deployment chose `onRoleOrDeadLetterChange: switch`.
fn cannot_share_traffic(d: &Desired, o: &Observed, f: &FunctionState, p: &FunctionPlan) -> Option<String> {
    let written = p.changes.iter().find_map(|c| match &c.action {
        Action::UpdateConfiguration { settings, .. } => Some(settings),
        _ => None,
    });
    let dlq = written.and_then(|s| s.dead_letter_target.clone());
    let dlq = dlq.or_else(|| f.settings.dead_letter_target.clone()).unwrap_or_default();
    // `executionRole` written by this plan: the version to publish carries it.
    let role = written.and_then(|s| s.execution_role.clone()).unwrap_or_else(|| f.role.clone());
    let weighted = |a: &crate::desired::DesiredAlias| {
        a.deployment.as_ref().is_some_and(|dep| !dep.steps.is_empty() && !dep.switch_if_incompatible)
    };
    d.aliases.iter().filter(|(_, a)| a.follows_published() && !a.delete && weighted(a)).find_map(|(name, _)| {
        let live = &o.aliases.get(name)?.function_version;
        let from = super::compat::traits(o.versions.get(live)?);
        let why = super::compat::clash(&format!("version {live}"), from, "the version to publish", (&role, &dlq))?;
        Some(super::compat::blocked(name, &why, "nothing is updated or published"))
    })
}

/// Plans a PublishVersion after this plan's `$LATEST` changes, when `d` (the manifest, aliases
/// not yet resolved) asks for `publish: onChange`.
pub(super) fn publish(d: &Desired, o: &Observed, f: &FunctionState, p: &mut FunctionPlan) {
    if d.publish != PublishPolicy::OnChange {
        return;
    }
    let Some(why) = reason(d, o, f, p) else { return };
    if let Some(held) = cannot_share_traffic(d, o, f, p) {
        // Said before anything is written: publishing would leave the rollout unable to move.
        p.changes.retain(|c| !matches!(c.action, Action::UpdateConfiguration { .. } | Action::UpdateCode { .. }));
        p.blocked.push(held);
        return;
    }
    let updates = p
        .changes
        .iter()
        .any(|c| matches!(c.action, Action::UpdateConfiguration { .. }) || super::configs::changes_latest(&c.action));
    let code = p.changes.iter().any(|c| matches!(c.action, Action::UpdateCode { .. }));
    let last = f.published.as_ref().map_or(Value::Null, |p| json!(p.version));
    let mut diffs = vec![diff("publish", Op::Create, last, json!(format!("a new version of $LATEST ({why})")))];
    for (name, _) in d.aliases.iter().filter(|(_, a)| a.follows_published()) {
        let live = o.aliases.get(name).map_or(Value::Null, |a| json!(a.function_version));
        diffs.push(diff(format!("aliases.{name}.functionVersion"), Op::Update, live, json!("(the new version)")));
    }
    let action = Action::PublishVersion {
        code_sha256: (!code).then(|| f.code_sha256.clone()),
        revision_id: (!updates && !code).then(|| f.revision_id.clone()),
    };
    p.push(action, diffs);
}

/// The alias an action names as its qualifier, if any.
fn alias_of(a: &Action) -> Option<&str> {
    match a {
        Action::AddPermission { qualifier, .. }
        | Action::RemovePermission { qualifier, .. }
        | Action::PutEventInvokeConfig { qualifier, .. }
        | Action::DeleteEventInvokeConfig { qualifier, .. } => qualifier.as_deref(),
        Action::CreateMapping { qualifier, .. }
        | Action::CreateUrl { qualifier, .. }
        | Action::UpdateUrl { qualifier, .. }
        | Action::DeleteUrl { qualifier } => Some(qualifier.as_str()).filter(|q| !q.is_empty()),
        Action::PutProvisionedConcurrency { alias, .. }
        | Action::WaitProvisionedReady { alias }
        | Action::RegisterScalableTarget { alias, .. }
        | Action::PutTargetTrackingPolicy { alias, .. }
        | Action::PutScheduledAction { alias, .. } => Some(alias.as_str()),
        _ => None,
    }
}

/// Aliases on `functionVersion: published` that can only be created once this plan's publish
/// exists (none published yet, the alias not live): what names one as its qualifier (a
/// permission, a mapping) would be refused before ("Cannot find alias"), so it waits for the
/// next pass of the same apply, which creates the alias first; the publish shows it meanwhile.
pub(super) fn defer_to_new_aliases(manifest: &Desired, d: &Desired, p: &mut FunctionPlan) {
    let new = |name: &str| {
        manifest.aliases.get(name).is_some_and(|a| a.follows_published() && !a.delete) && !d.aliases.contains_key(name)
    };
    if !p.changes.iter().any(|c| alias_of(&c.action).is_some_and(new)) {
        return;
    }
    let (waiting, kept) =
        std::mem::take(&mut p.changes).into_iter().partition(|c| alias_of(&c.action).is_some_and(new));
    p.changes = kept;
    let waiting: Vec<super::Change> = waiting;
    if let Some(publish) = p.changes.iter_mut().find(|c| matches!(c.action, Action::PublishVersion { .. })) {
        publish.diffs.extend(waiting.into_iter().flat_map(|c| c.diffs));
    }
}
