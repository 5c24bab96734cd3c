//! `$LATEST`'s settings: which managed fields differ, and the values to write (sent with the
//! environment in one UpdateFunctionConfiguration).

use serde_json::{json, Map, Value};

use super::{diff, Diff, Op};
use crate::desired::Desired;
use crate::types::{snap_start_runtime, FunctionState, Settings, LOGGING_FIELDS, SNAP_START_MAX_EPHEMERAL};

/// True for a value that means "none": null, "", [], SnapStart `None`, or an object holding only
/// such values or `false` (no VPC, no image overrides).
fn none(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.values().all(|x| none(x) || *x == json!(false)),
        _ => v.is_null() || *v == json!("") || *v == json!([]) || *v == json!("None"),
    }
}

fn op(from: &Value, to: &Value) -> Op {
    match (none(from), none(to)) {
        (true, _) => Op::Create,
        (false, true) => Op::Delete,
        _ => Op::Update,
    }
}

/// The managed settings that differ from `live`: what to write, and the diffs shown.
pub(super) fn plan(d: &Desired, live: &Settings) -> Option<(Settings, Vec<Diff>)> {
    let want = d.settings.fields();
    let have = live.fields();
    let mut write = Map::new();
    let mut diffs = vec![];
    for (path, w) in want.iter().filter(|(p, _)| !d.ignored(p)) {
        let h = have.get(path).cloned().unwrap_or(Value::Null);
        if *w != h {
            diffs.push(diff(path.clone(), op(&h, w), h, w.clone()));
            write.insert(path.clone(), w.clone());
        }
    }
    if diffs.is_empty() {
        return None;
    }
    if write.keys().any(|k| LOGGING_FIELDS.contains(&k.as_str())) {
        // AWS takes LoggingConfig whole: send every logging field, the live value where unmanaged.
        for k in LOGGING_FIELDS {
            let managed = want.get(*k).filter(|_| !d.ignored(k));
            if let Some(v) = managed.or(have.get(*k)) {
                write.insert(k.to_string(), v.clone());
            }
        }
        // Log levels need JSON ("To use log-level filtering, your function must be configured to
        // use the JSON log format", monitoring-cloudwatchlogs-log-level): with Text, the live
        // JSON levels are not carried over (validate refuses managed ones).
        if write.get("loggingConfig.format") == Some(&json!("Text")) {
            write.remove("loggingConfig.applicationLogLevel");
            write.remove("loggingConfig.systemLogLevel");
        }
    }
    Some((Settings::from_fields(write), diffs))
}

/// `live` with `written` laid over it (what `$LATEST` holds once the write applied).
pub(super) fn overlay(live: &Settings, written: &Settings) -> Settings {
    let mut all = live.fields();
    all.extend(written.fields());
    Settings::from_fields(all)
}

/// True when the managed settings (ignored paths aside) of `a` and `b` differ.
pub(super) fn differ(d: &Desired, a: &Settings, b: &Settings) -> bool {
    let (a, b) = (a.fields(), b.fields());
    d.settings.fields().keys().filter(|p| !d.ignored(p)).any(|p| a.get(p) != b.get(p))
}

/// True when the function is an image function: the manifest's code kind when it names code,
/// else the live PackageType (GetFunction). The one place that decides it for the definition.
pub(super) fn is_image(d: &Desired, f: &FunctionState) -> bool {
    let kind = d.code.as_ref().map_or(f.package.kind, |c| c.package_type());
    kind == crate::types::PackageType::Image
}

/// Why the managed definition cannot be written to this function as it is (AWS would refuse
/// the update): said in the plan, nothing written.
pub(super) fn refusals(d: &Desired, f: &FunctionState) -> Vec<String> {
    let managed = |p: &str| d.settings.fields().contains_key(p) && !d.ignored(p);
    let after = overlay(&f.settings, &d.settings);
    let mut out = vec![];
    if is_image(d, f) {
        // Observed: "Please don't provide Handler or Runtime or Layer when the intended function
        // PackageType is Image."
        let set = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.is_empty());
        let layers = d.settings.layers.as_ref().is_some_and(|l| !l.is_empty());
        for (path, on) in
            [("runtime", set(&d.settings.runtime)), ("handler", set(&d.settings.handler)), ("layers", layers)]
        {
            if on && managed(path) {
                out.push(format!("spec.{path}: not for an image function (AWS: \"Please don't provide Handler or Runtime or Layer when the intended function PackageType is Image.\")"));
            }
        }
    } else if managed("imageConfig") && d.settings.image_config.as_ref().is_some_and(|i| *i != Default::default()) {
        out.push("spec.imageConfig: only for image functions; this one is a zip".into());
    }
    let efs = after.file_system_configs.as_ref().is_some_and(|f| !f.is_empty());
    let vpc = after.vpc_config.as_ref().is_some_and(|v| !v.subnet_ids.is_empty());
    if efs && !vpc && (managed("fileSystemConfigs") || managed("vpcConfig")) {
        out.push("spec.fileSystemConfigs: an EFS file system needs a VPC, and the function has none".into());
    }
    if after.snap_start.as_deref() == Some("PublishedVersions") {
        let touched = ["snapStart", "runtime", "ephemeralStorage", "fileSystemConfigs"].into_iter().any(managed);
        let runtime = after.runtime.clone().unwrap_or_default();
        let why = [
            (is_image(d, f), "container images".to_string()),
            (
                !is_image(d, f) && !snap_start_runtime(&runtime),
                format!("runtime {runtime} (Java 11+, Python 3.12+, .NET 8+ only)"),
            ),
            (
                after.ephemeral_storage.is_some_and(|n| n > SNAP_START_MAX_EPHEMERAL),
                "ephemeral storage greater than 512 MB".into(),
            ),
            (efs, "Amazon EFS".into()),
        ];
        for (_, what) in why.into_iter().filter(|(on, _)| *on && touched) {
            out.push(format!("spec.snapStart: SnapStart does not support {what}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::tests::{alias, desired, function, ops};
    use super::super::{plan, Action};
    use crate::observed::Observed;
    use crate::types::{Published, Settings, VersionConfig, Vpc};

    const ROLE_A: &str = "arn:aws:iam::123456789012:role/app-a";
    const ROLE_B: &str = "arn:aws:iam::123456789012:role/app-b";

    /// `$LATEST` and published version 4 (live on alias `live`) both run as role A.
    fn observed() -> Observed {
        let mut f = function();
        f.role = ROLE_A.into();
        f.settings.execution_role = Some(ROLE_A.into());
        f.published = Some(Published { version: "4".into(), revision: "r1".into() });
        let mut o = Observed { function: Some(f), ..Observed::default() };
        o.aliases.insert("live".into(), alias("4", &[]));
        o.versions.insert("4".into(), VersionConfig { role: ROLE_A.into(), ..VersionConfig::default() });
        o
    }

    fn spec(deployment: &str) -> String {
        format!("  publish: onChange\n  executionRole: {ROLE_B}\n  aliases:\n    live:\n      functionVersion: published\n{deployment}")
    }

    #[test]
    fn an_execution_role_change_is_written_in_the_configuration_update_then_published() {
        let p = plan(&desired(&spec("")), &observed());
        assert_eq!(ops(&p), ["UpdateFunctionConfiguration", "PublishVersion"], "{p:#?}");
        let Action::UpdateConfiguration { settings, .. } = &p.changes[0].action else { panic!("{p:#?}") };
        assert_eq!(settings.execution_role.as_deref(), Some(ROLE_B));
        assert_eq!(p.changes[0].diffs[0].field, "executionRole");
    }

    #[test]
    fn a_role_change_a_weighted_rollout_could_not_share_holds_the_update_and_the_publish() {
        let steps = "      deployment: {steps: [{weight: 10, pause: 1m}]}\n";
        let p = plan(&desired(&spec(steps)), &observed());
        assert!(p.changes.is_empty(), "{p:#?}");
        assert_eq!(p.blocked.len(), 1, "{p:#?}");
        assert!(p.blocked[0].contains(&format!("the version to publish has execution role {ROLE_B}")), "{p:#?}");
        let switch = "      deployment: {steps: [{weight: 10, pause: 1m}], onRoleOrDeadLetterChange: switch}\n";
        let p = plan(&desired(&spec(switch)), &observed());
        assert_eq!(ops(&p), ["UpdateFunctionConfiguration", "PublishVersion"], "{p:#?}");
    }

    fn live_zip() -> Observed {
        let mut f = function();
        f.settings = Settings {
            runtime: Some("nodejs22.x".into()),
            vpc_config: Some(Vpc::new(&["subnet-b".into(), "subnet-a".into()], &["sg-a".into()], false)),
            file_system_configs: Some(vec![]),
            snap_start: Some("None".into()),
            ..Settings::default()
        };
        Observed { function: Some(f), ..Observed::default() }
    }

    #[test]
    fn the_vpc_lists_are_sets_and_null_sends_empty_lists() {
        let d = desired("  vpcConfig: {subnetIds: [subnet-a, subnet-b, subnet-a], securityGroupIds: [sg-a]}\n");
        assert!(plan(&d, &live_zip()).changes.is_empty());
        let p = plan(&desired("  vpcConfig: null\n"), &live_zip());
        let Action::UpdateConfiguration { settings, .. } = &p.changes[0].action else { panic!("{p:#?}") };
        assert_eq!(settings.vpc_config, Some(Vpc::default()));
        assert_eq!(p.changes[0].diffs[0].op, crate::plan::Op::Delete);
    }

    #[test]
    fn snap_start_on_a_live_runtime_without_it_is_blocked_before_any_write() {
        let p = plan(&desired("  snapStart: PublishedVersions\n"), &live_zip());
        assert!(p.changes.is_empty(), "{p:#?}");
        assert!(p.blocked[0].contains("SnapStart does not support runtime nodejs22.x"), "{p:#?}");
        let p = plan(&desired("  snapStart: PublishedVersions\n  runtime: java21\n"), &live_zip());
        assert_eq!(ops(&p), ["UpdateFunctionConfiguration"], "{p:#?}");
    }

    #[test]
    fn a_file_system_on_a_function_without_a_vpc_is_blocked() {
        let fs = "  fileSystemConfigs: [{arn: arn:aws:elasticfilesystem:ap-northeast-1:123456789012:access-point/fsap-0123456789abcdef0, localMountPath: /mnt/data}]\n";
        let mut o = live_zip();
        assert!(plan(&desired(fs), &o).blocked.is_empty());
        o.function.as_mut().unwrap().settings.vpc_config = Some(Vpc::default());
        let p = plan(&desired(fs), &o);
        assert!(p.changes.is_empty() && p.blocked[0].contains("needs a VPC"), "{p:#?}");
    }

    #[test]
    fn runtime_handler_and_layers_are_refused_for_a_live_image_function_and_image_config_for_a_zip() {
        let mut o = live_zip();
        o.function.as_mut().unwrap().package.kind = crate::types::PackageType::Image;
        let p = plan(&desired("  handler: app.main\n  memorySize: 512\n"), &o);
        assert!(p.changes.is_empty(), "{p:#?}");
        assert!(p.blocked[0].starts_with("spec.handler: not for an image function"), "{p:#?}");
        assert!(plan(&desired("  imageConfig: {command: [app.main]}\n"), &o).blocked.is_empty());
        let p = plan(&desired("  imageConfig: {command: [app.main]}\n"), &live_zip());
        assert!(p.blocked[0].starts_with("spec.imageConfig: only for image functions"), "{p:#?}");
    }
}
