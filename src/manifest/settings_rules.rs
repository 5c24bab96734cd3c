//! Validation of a manifest's `$LATEST` settings (memory, timeout, storage, description,
//! tracing, layers, dead-letter target, KMS key, logging) against Lambda's limits, and their
//! resolution into the domain `Settings`.

use super::model::{ApplicationLogLevel, LogFormat, LoggingConfig, Spec, SystemLogLevel, TracingMode};
use crate::types::{Field, Settings};

/// Lambda's quotas page (and the seed's section 1.3): memory 128-10,240 MB. The newest API model
/// accepts up to 32,768 for some compute types; accounts are held to 10,240, so that is the rule.
pub const MEMORY_MB: (i64, i64) = (128, 10_240);
/// Timeout 1-900 seconds (15 minutes).
pub const TIMEOUT_S: (i64, i64) = (1, 900);
/// EphemeralStorage: "any whole number between 512 and 10,240 MB".
pub const EPHEMERAL_MB: (i64, i64) = (512, 10_240);
/// "A function can have up to five layers at a time."
pub const MAX_LAYERS: usize = 5;
const MAX_DESCRIPTION: usize = 256;

/// The setting paths `ignoreDifferences` may name.
pub const PATHS: &[&str] = &[
    "memorySize",
    "timeout",
    "ephemeralStorage",
    "description",
    "tracing",
    "layers",
    "deadLetterTarget",
    "kmsKeyArn",
    "loggingConfig",
    "loggingConfig.format",
    "loggingConfig.applicationLogLevel",
    "loggingConfig.systemLogLevel",
    "loggingConfig.logGroup",
];

fn range(err: &mut dyn FnMut(&str, String), field: &str, v: Option<i64>, (lo, hi): (i64, i64), unit: &str) {
    if let Some(n) = v.filter(|n| !(lo..=hi).contains(n)) {
        err(field, format!("{n} is outside {lo}-{hi} {unit}"));
    }
}

/// `arn:PARTITION:lambda:REGION:ACCOUNT:layer:NAME:VERSION` → (name ARN, version ok).
fn layer(arn: &str) -> Option<(String, bool)> {
    let p: Vec<&str> = arn.split(':').collect();
    let shape = p.len() >= 7 && p[0] == "arn" && p[1].starts_with("aws") && p[2] == "lambda" && p[5] == "layer";
    let name_ok =
        p.get(6).is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    if !(shape && name_ok && crate::types::is_region(p[3]) && crate::types::is_account(p[4])) {
        return None;
    }
    let version_ok = p.len() == 8 && !p[7].is_empty() && p[7].chars().all(|c| c.is_ascii_digit());
    Some((p[..7].join(":"), version_ok))
}

fn arn_of(arn: &str, service: &str) -> bool {
    let p: Vec<&str> = arn.splitn(6, ':').collect();
    p.len() == 6 && p[0] == "arn" && p[1].starts_with("aws") && p[2] == service && !p[5].is_empty()
}

/// Checks the settings of `s`; `err(field, message)` takes paths under `spec.`.
pub fn check(s: &Spec, err: &mut dyn FnMut(&str, String)) {
    range(err, "memorySize", s.memory_size, MEMORY_MB, "MB (Lambda's quota)");
    range(err, "timeout", s.timeout, TIMEOUT_S, "seconds");
    range(err, "ephemeralStorage", s.ephemeral_storage, EPHEMERAL_MB, "MB");
    if let Field::Value(d) = &s.description {
        if d.chars().count() > MAX_DESCRIPTION {
            err("description", format!("{} characters, over Lambda's {MAX_DESCRIPTION}", d.chars().count()));
        }
    }
    if let Field::Value(layers) = &s.layers {
        if layers.len() > MAX_LAYERS {
            err("layers", format!("{} layers, over Lambda's {MAX_LAYERS}", layers.len()));
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, l) in layers.iter().enumerate() {
            match layer(l) {
                None => err(
                    &format!("layers[{i}]"),
                    format!("`{l}` is not a layer version ARN (arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION)"),
                ),
                Some((_, false)) => err(
                    &format!("layers[{i}]"),
                    format!("`{l}` has no version: name the layer version (…:layer:NAME:VERSION)"),
                ),
                Some((name, true)) if !names.insert(name.clone()) => err(
                    &format!("layers[{i}]"),
                    format!("layer `{name}` is listed twice (a function uses one version of a layer)"),
                ),
                Some(_) => {}
            }
        }
    }
    if let Field::Value(t) = &s.dead_letter_target {
        if !arn_of(t, "sqs") && !arn_of(t, "sns") {
            err("deadLetterTarget", format!("`{t}` is not an SQS queue or SNS topic ARN"));
        }
    }
    if let Field::Value(k) = &s.kms_key_arn {
        if !(arn_of(k, "kms") && k.split(':').nth(5).is_some_and(|r| r.starts_with("key/"))) {
            err("kmsKeyArn", format!("`{k}` is not a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)"));
        }
    }
    if let Some(l) = &s.logging_config {
        logging(l, err);
    }
}

fn logging(l: &LoggingConfig, err: &mut dyn FnMut(&str, String)) {
    let json = l.format == Some(LogFormat::Json);
    // AWS: "To use this option, your function must use structured JSON logging."
    if l.application_log_level.is_some() && !json {
        err("loggingConfig.applicationLogLevel", "needs loggingConfig.format: JSON".into());
    }
    if l.system_log_level.is_some() && !json {
        err("loggingConfig.systemLogLevel", "needs loggingConfig.format: JSON".into());
    }
    if let Some(g) = &l.log_group {
        let ok = !g.is_empty() && g.len() <= 512 && g.chars().all(|c| c.is_ascii_alphanumeric() || "._-/#".contains(c));
        if !ok {
            err("loggingConfig.logGroup", format!("`{g}` is not a log group name (1-512 of letters, digits, `._-/#`)"));
        }
    }
}

fn text<T: serde::Serialize>(v: T) -> String {
    serde_json::to_value(v).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

/// The managed settings of `s` (`null` resolves to Lambda's "none": "", `[]`).
pub fn resolve(s: &Spec) -> Settings {
    let cleared = |f: &Field<String>| match f {
        Field::Absent => None,
        Field::Null => Some(String::new()),
        Field::Value(v) => Some(v.clone()),
    };
    let l = s.logging_config.as_ref();
    Settings {
        memory_size: s.memory_size,
        timeout: s.timeout,
        ephemeral_storage: s.ephemeral_storage,
        description: cleared(&s.description),
        tracing: s.tracing.map(text::<TracingMode>),
        layers: match &s.layers {
            Field::Absent => None,
            Field::Null => Some(vec![]),
            Field::Value(v) => Some(v.clone()),
        },
        dead_letter_target: cleared(&s.dead_letter_target),
        kms_key_arn: cleared(&s.kms_key_arn),
        log_format: l.and_then(|l| l.format).map(text::<LogFormat>),
        application_log_level: l.and_then(|l| l.application_log_level).map(text::<ApplicationLogLevel>),
        system_log_level: l.and_then(|l| l.system_log_level).map(text::<SystemLogLevel>),
        log_group: l.and_then(|l| l.log_group.clone()),
        ..Settings::default()
    }
}
