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
