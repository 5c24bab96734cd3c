//! `$LATEST`'s settings: which managed fields differ, and the values to write (sent with the
//! environment in one UpdateFunctionConfiguration).

use serde_json::{json, Map, Value};

use super::{diff, Diff, Op};
use crate::desired::Desired;
use crate::types::{Settings, LOGGING_FIELDS};

fn op(from: &Value, to: &Value) -> Op {
    let none = |v: &Value| v.is_null() || *v == json!("") || *v == json!([]);
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

#[cfg(test)]
mod tests {
    use super::super::tests::{alias, desired, function, ops};
    use super::super::{plan, Action};
    use crate::observed::Observed;
    use crate::types::{Published, VersionConfig};

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
}
