//! The environment's plan and what keeps secrets out of every printed value: redaction, the sensitive-env tag.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::{diff, Diff, Op};
use crate::desired::Desired;
use crate::types::{EnvMap, EnvValue, Field, FunctionState, SensitiveEnv};

/// A secret shorter than this many characters is recognised only whole (a value equal to it
/// prints `(sensitive)`), never searched for inside other text: cutting a short value out of a
/// message mangles it and reveals the value by context (`(sensitive)lying` for `app`). Such
/// values are kept out of messages by construction instead (errors name fields, never values;
/// AWS's message about a request that carried secret values is withheld when it quotes one).
pub const MIN_SECRET_IN_TEXT: usize = 8;

/// Whether `text` shows `secret`: equal to it, or (for one of [`MIN_SECRET_IN_TEXT`] characters
/// or more) containing it, also JSON-escaped.
pub fn shows(text: &str, secret: &str) -> bool {
    if secret.is_empty() {
        return false;
    }
    if text == secret {
        return true;
    }
    if secret.chars().count() < MIN_SECRET_IN_TEXT {
        return false;
    }
    text.contains(secret) || text.contains(escaped(secret).as_str())
}

/// `s` as it appears inside a JSON string (AWS echoes requests as JSON).
fn escaped(s: &str) -> String {
    let quoted = serde_json::to_string(s).unwrap_or_default();
    quoted[1..quoted.len() - 1].to_string()
}

/// Replaces every secret of [`MIN_SECRET_IN_TEXT`] characters or more in `message` with
/// `(sensitive)` (a message equal to a shorter one is replaced whole), then shortens it to one
/// readable line. AWS echoes request content in some errors (the environment in its 4 KB-limit
/// error) as JSON, so each secret is also matched JSON-escaped.
pub fn redact(message: &str, secrets: &BTreeSet<String>) -> String {
    if secrets.contains(message) {
        return "(sensitive)".into();
    }
    let mut out = message.to_string();
    // Longest first: a secret inside another is not left as a piece of the longer one.
    let mut ordered: Vec<&String> = secrets.iter().filter(|s| s.chars().count() >= MIN_SECRET_IN_TEXT).collect();
    ordered.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for s in ordered {
        out = out.replace(s.as_str(), "(sensitive)").replace(escaped(s).as_str(), "(sensitive)");
    }
    let mut out = out.replace(['\n', '\r'], " ");
    if out.chars().count() > 400 {
        out = out.chars().take(400).collect::<String>() + "…";
    }
    out
}

/// The tag to write before an update to `env`, when it puts a secret under a name `recorded`
/// does not list yet (the union of both: until the update is known to have applied, the old
/// names may still hold secrets).
pub fn record_first(env: &EnvMap, recorded: &SensitiveEnv) -> Option<SensitiveEnv> {
    let new = SensitiveEnv::of(env.iter().filter(|(_, v)| v.sensitive).map(|(k, _)| k.clone()).collect());
    let union = recorded.union(&new);
    (union != *recorded).then_some(union)
}

/// What the sensitive-env tag should list once the environment matches `d`: the names `d`
/// sources from a secret, and recorded names whose variable is ignored (its old value stays).
/// `None` when the tag already says so, or `d` does not manage the environment.
pub fn record_after(d: &Desired, f: &FunctionState) -> Option<SensitiveEnv> {
    let want: BTreeSet<String> = match &d.environment {
        Field::Absent => return None,
        Field::Null => BTreeSet::new(),
        Field::Value(env) => env.iter().filter(|(_, v)| v.sensitive).map(|(k, _)| k.clone()).collect(),
    };
    let kept_ignored = f.environment.keys().any(|k| f.sensitive_env.contains(k) && ignored(d, k));
    let want = match (&f.sensitive_env, kept_ignored) {
        (SensitiveEnv::All, true) => SensitiveEnv::All,
        (recorded, _) => {
            let kept = f.environment.keys().filter(|k| recorded.contains(k) && ignored(d, k)).cloned();
            SensitiveEnv::of(want.into_iter().chain(kept).collect())
        }
    };
    (want != f.sensitive_env).then_some(want)
}

fn ignored(d: &Desired, k: &str) -> bool {
    d.ignored("environment") || d.ignored("environment.variables") || d.ignored(&format!("environment.variables.{k}"))
}

/// The environment to write (the whole map) and its diffs, when it differs. A live value is
/// shown as `(sensitive)` when git's is a secret, when the function's tag records it held one,
/// or when it shows any secret.
pub fn plan(d: &Desired, f: &FunctionState) -> Option<(EnvMap, Vec<Diff>)> {
    let live = &f.environment;
    let desired = match &d.environment {
        Field::Absent => return None,
        Field::Null => EnvMap::new(),
        Field::Value(env) => env.clone(),
    };
    if d.ignored("environment") || d.ignored("environment.variables") {
        return None;
    }
    // Git's secrets, what AWS holds under a secret's name (the value before a rotation), and
    // what it holds under a name recorded as sensitive (a secret git no longer references).
    let mut secrets = d.secrets();
    let sensitive = |k: &str| desired.get(k).is_some_and(|e| e.sensitive) || f.sensitive_env.contains(k);
    secrets.extend(live.iter().filter(|(k, _)| sensitive(k)).map(|(_, v)| v.clone()));
    // A secret inside a longer value set outside git (`postgres://u:SECRET@h`) is cut out of it.
    let shown = |k: &str, v: &str| {
        if sensitive(k) {
            json!("(sensitive)")
        } else if secrets.iter().any(|s| shows(v, s)) {
            json!(redact(v, &secrets))
        } else {
            json!(v)
        }
    };
    let mut write = EnvMap::new();
    let mut diffs = vec![];
    for (k, v) in &desired {
        let path = format!("environment.variables.{k}");
        match live.get(k) {
            Some(cur) if d.ignored(&path) => {
                // Kept as it is; still a secret if it was one.
                write.insert(k.clone(), EnvValue { value: cur.clone(), sensitive: f.sensitive_env.contains(k) });
            }
            Some(cur) if *cur == v.value => {
                write.insert(k.clone(), v.clone());
            }
            Some(cur) => {
                diffs.push(diff(path, Op::Update, shown(k, cur), json!(v)));
                write.insert(k.clone(), v.clone());
            }
            None if d.ignored(&path) => {}
            None => {
                diffs.push(diff(path, Op::Create, Value::Null, json!(v)));
                write.insert(k.clone(), v.clone());
            }
        }
    }
    for (k, cur) in live.iter().filter(|(k, _)| !desired.contains_key(*k)) {
        let path = format!("environment.variables.{k}");
        if d.ignored(&path) {
            // Kept as it is; still a secret if it was one.
            let value = EnvValue { value: cur.clone(), sensitive: f.sensitive_env.contains(k) };
            write.insert(k.clone(), value);
        } else {
            diffs.push(diff(path, Op::Delete, shown(k, cur), Value::Null));
        }
    }
    (!diffs.is_empty()).then_some((write, diffs))
}
