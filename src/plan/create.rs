//! A missing function created when the manifest opts in (`create: true`), and a function the controller created deleted once its manifest is removed under `deletionPolicy: delete`.

use serde_json::{json, Value};

use super::{diff, environment, Action, FunctionPlan, Op};
use crate::desired::Desired;
use crate::observed::Observed;
use crate::types::{
    AppliedGeneration, CodeLocation, CodeRecord, Creation, FunctionState, Package, SensitiveEnv, CREATED_BY_TAG,
    DEFAULT_ARCHITECTURE, SENSITIVE_ENV_TAG,
};

/// The plan for a function that does not exist: CreateFunction with its whole definition when
/// the manifest says `create: true`, nothing when its removal was to delete it anyway, an error
/// otherwise (as before creation existed).
pub(super) fn missing(manifest: &Desired, d: &Desired, now_ms: i64, p: &mut FunctionPlan) {
    if d.delete_function {
        return;
    }
    if !d.create {
        p.error = Some(format!(
            "function `{}` not found in {} (set `create: true` to have the controller create it)",
            d.function_ref, d.key.region
        ));
        return;
    }
    let Some(code) = &d.code else {
        p.blocked.push("create: the function is missing and `code` is not set, so it cannot be created".into());
        return;
    };
    // The environment as it would be written to a function that has none: its diffs show
    // secrets as `(sensitive)`, like every other plan.
    let (environment, env_diffs) =
        environment::plan(d, &FunctionState::default()).map_or((None, vec![]), |(e, ds)| (Some(e), ds));
    let mut diffs = vec![
        diff("function", Op::Create, Value::Null, json!(d.key.name)),
        diff("code", Op::Create, Value::Null, json!(code.location())),
    ];
    diffs.extend(d.settings.fields().into_iter().map(|(k, v)| diff(k, Op::Create, Value::Null, v)));
    diffs.extend(env_diffs);
    // The user tags and the code signing configuration are set at creation (code deployed
    // unsigned, or a function untagged for a moment, is what the manifest forbids).
    let mut tags = d.configs.tags.value().cloned().unwrap_or_default();
    tags.insert(CREATED_BY_TAG.to_string(), d.manifest.clone());
    let code_signing = d.configs.code_signing_config_arn.value().cloned();
    let secret_names = environment.iter().flatten().filter(|(_, v)| v.sensitive).map(|(k, _)| k.clone());
    let sensitive = SensitiveEnv::of(secret_names.collect()).encode();
    if !sensitive.is_empty() {
        // Recorded at creation, so no plan ever prints these values, whatever happens next.
        tags.insert(SENSITIVE_ENV_TAG.to_string(), sensitive);
    }
    let architecture = d.architecture.clone();
    let creation =
        Creation { code: code.clone(), architecture, settings: d.settings.clone(), environment, tags, code_signing };
    let then = Observed { function: Some(as_created(d, &creation)), now_ms, ..Observed::default() };
    p.after_create = super::plan(manifest, &then).changes;
    p.push(Action::CreateFunction { creation: Box::new(creation) }, diffs);
}

/// The function as CreateFunction leaves it (what the rest of the plan is shown against).
fn as_created(d: &Desired, c: &Creation) -> FunctionState {
    let sha256 = c.code.sha256.clone().unwrap_or_default();
    FunctionState {
        environment: c.environment.iter().flatten().map(|(k, v)| (k.clone(), v.value.clone())).collect(),
        settings: d.settings.clone(),
        code_sha256: sha256.clone(),
        code: Some(CodeRecord { source: c.code.digest(), sha256 }),
        created_by: Some(d.manifest.clone()),
        package: Package {
            kind: c.code.package_type(),
            image_uri: match &c.code.location {
                CodeLocation::Image { uri } => Some(uri.clone()),
                CodeLocation::S3 { .. } => None,
            },
            architectures: vec![c.architecture.clone().unwrap_or_else(|| DEFAULT_ARCHITECTURE.to_string())],
        },
        sensitive_env: SensitiveEnv::parse(c.tags.get(SENSITIVE_ENV_TAG).map(String::as_str)),
        applied_generation: AppliedGeneration::Untagged,
        ..FunctionState::default()
    }
}

/// True when `f` was created by this manifest, whose removal (`deletionPolicy: delete`) now
/// deletes it whole. A function the controller adopted never carries the tag.
pub(super) fn deletes(d: &Desired, f: &FunctionState) -> bool {
    d.delete_function && f.created_by.as_deref() == Some(d.manifest.as_str())
}

/// DeleteFunction: every version and alias goes with it. The event source mappings the manifest
/// listed are deleted first: AWS's DeleteFunction leaves them ("To delete Lambda event source
/// mappings that invoke a function, use DeleteEventSourceMapping"); so are the aliases' scalable
/// targets (Application Auto Scaling's, with their policies and alarms), as before an alias's
/// own deletion.
pub(super) fn delete(d: &Desired, o: &Observed, p: &mut FunctionPlan) {
    for (alias, s) in &o.scaling {
        let field = format!("aliases.{alias}.autoscaling");
        p.push(
            Action::DeregisterScalableTarget { alias: alias.clone() },
            vec![diff(field, Op::Delete, json!(s), Value::Null)],
        );
    }
    let listed = |m: &&crate::types::MappingState| {
        d.mappings.as_ref().is_some_and(|w| w.contains_key(&(m.source.clone(), m.qualifier.clone())))
    };
    for m in o.mappings.iter().filter(listed).filter(|m| m.state != "Deleting") {
        let field = super::mappings::path(&m.source, &m.qualifier);
        let action = Action::DeleteMapping { uuid: m.uuid.clone() };
        p.push(action, vec![diff(field, Op::Delete, json!(m.config), Value::Null)]);
    }
    p.push(Action::DeleteFunction, vec![diff("function", Op::Delete, json!(d.key.name), Value::Null)]);
}

#[cfg(test)]
mod tests {
    use super::super::tests::{desired, function};
    use super::super::{plan, Action};
    use crate::observed::Observed;
    use crate::types::CREATED_BY_TAG;

    const CODE: &str = "  runtime: python3.12\n  handler: app.handler\n  executionRole: arn:aws:iam::123456789012:role/app\n  code:\n    s3: {bucket: app-code, key: k.zip, objectVersion: v1}\n";

    #[test]
    fn a_missing_function_without_create_is_an_error_and_plans_nothing() {
        let p = plan(&desired(&format!("  memorySize: 256\n{CODE}")), &Observed::default());
        assert!(p.error.as_deref().unwrap_or("").contains("create: true"), "{:?}", p.error);
        assert!(p.changes.is_empty());
    }

    #[test]
    fn a_missing_function_with_create_plans_one_creation_with_its_definition_and_tags_its_maker() {
        let d = desired(&format!("  create: true\n  memorySize: 256\n{CODE}  environment:\n    variables:\n      PW: {{fromSsm: /p/secret}}\n  aliases:\n    live: {{functionVersion: \"1\"}}\n"));
        let p = plan(&d, &Observed::default());
        assert_eq!(p.error, None);
        assert_eq!(p.changes.len(), 1, "the rest is planned once the function exists: {:?}", p.changes);
        let Action::CreateFunction { creation } = &p.changes[0].action else { panic!("{:?}", p.changes) };
        assert_eq!(creation.settings.memory_size, Some(256));
        assert_eq!(creation.tags.get(CREATED_BY_TAG).map(String::as_str), Some("f"));
        assert_eq!(creation.tags.get(crate::types::SENSITIVE_ENV_TAG).map(String::as_str), Some("PW"));
        let then: Vec<&str> = p.after_create.iter().map(|c| c.operation).collect();
        assert_eq!(then, ["lambda:CreateAlias"], "shown once it exists, not executed");
        let shown = serde_json::to_string(&p).unwrap();
        assert!(!shown.contains("hunter2-secret"), "{shown}");
        assert!(shown.contains("s3://app-code/k.zip@v1"), "{shown}");
    }

    #[test]
    fn a_removed_manifest_deletes_only_the_function_it_created() {
        let d = desired(&format!("  create: true\n  deletionPolicy: delete\n  reservedConcurrency: 2\n{CODE}"))
            .for_deletion();
        let mut ours = function();
        ours.created_by = Some("f".into());
        let o = |f| Observed { function: Some(f), ..Observed::default() };
        let p = plan(&d, &o(ours.clone()));
        assert!(matches!(p.changes[..], [ref c] if matches!(c.action, Action::DeleteFunction)), "{:?}", p.changes);
        ours.created_by = Some("another-manifest".into());
        let p = plan(&d, &o(ours.clone()));
        assert!(!p.changes.iter().any(|c| matches!(c.action, Action::DeleteFunction)), "{:?}", p.changes);
        ours.created_by = None;
        let p = plan(&d, &o(ours));
        assert!(!p.changes.iter().any(|c| matches!(c.action, Action::DeleteFunction)), "{:?}", p.changes);
        let gone = plan(&d, &Observed::default());
        assert!(gone.in_sync(), "already deleted: {gone:?}");
    }
}
