//! Validation rules for one document and across a snapshot; every error is collected.

use std::collections::HashMap;
use std::path::Path;

pub use super::across::{across, conflicts, target};
use super::model::*;
use super::snapshot::{error_at, ManifestError};
use super::yaml::SpannedDoc;
use crate::types::{
    environment_size, is_account, is_region, Field, FunctionRef, PublishPolicy, ENV_LIMIT_BYTES, FOLLOW_PUBLISHED,
};

/// Environment variable names Lambda reserves (cannot be set on a function).
const RESERVED_ENV: &[&str] = &[
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
];

struct Ctx<'a> {
    file: &'a Path,
    spanned: &'a SpannedDoc,
    errors: &'a mut Vec<ManifestError>,
}

impl Ctx<'_> {
    fn err(&mut self, field: &str, message: impl Into<String>) {
        let pos = self.spanned.pos_of(field);
        self.errors.push(error_at(self.file, pos, field, message));
    }
}

/// Checks one typed document; pushes every problem found.
pub fn document(file: &Path, doc: &Document, spanned: &SpannedDoc, errors: &mut Vec<ManifestError>) {
    let mut c = Ctx { file, spanned, errors };
    if doc.api_version != API_VERSION {
        c.err("apiVersion", format!("must be `{API_VERSION}`"));
    }
    if doc.kind != KIND {
        c.err("kind", format!("must be `{KIND}`"));
    }
    let name = &doc.metadata.name;
    if name.is_empty() || name.len() > 128 || !name.chars().all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch)) {
        c.err("metadata.name", "must be 1-128 characters of letters, digits, `-`, `_` or `.`");
    }
    spec(&mut c, doc);
}

/// The account of an IAM role ARN (`arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME`, the name of
/// 1-64 characters of `\w+=,.@-`), or `None` when it is not one.
pub fn role_account(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [_, partition, "iam", "", account, resource] = parts.as_slice() else { return None };
    let name = resource.strip_prefix("role/")?.rsplit('/').next()?;
    let name_ok =
        (1..=64).contains(&name.len()) && name.chars().all(|ch| ch.is_ascii_alphanumeric() || "_+=,.@-".contains(ch));
    (parts[0] == "arn" && partition.starts_with("aws") && is_account(account) && name_ok).then_some(*account)
}

fn spec(c: &mut Ctx, doc: &Document) {
    let s = &doc.spec;
    let function = s.function_name.as_deref().unwrap_or(&doc.metadata.name);
    let field = if s.function_name.is_some() { "spec.functionName" } else { "metadata.name" };
    match FunctionRef::parse(function) {
        Err(m) => c.err(field, m),
        Ok(f) => {
            if let (Some(arn_region), Some(r)) = (&f.region, s.region.as_deref()) {
                if r != arn_region {
                    c.err("spec.region", format!("`{r}` conflicts with the function ARN's region `{arn_region}`"));
                }
            }
            if let Some(role) = &s.role_arn {
                match role_account(role) {
                    None => c.err(
                        "spec.roleArn",
                        format!("`{role}` is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)"),
                    ),
                    Some(acct) if f.account.as_deref().is_some_and(|a| a != acct) => c.err(
                        "spec.roleArn",
                        format!(
                            "the role is in account {acct} but the function ARN names account {}",
                            f.account.as_deref().unwrap_or_default()
                        ),
                    ),
                    Some(_) => {}
                }
            }
        }
    }
    if let Some(r) = &s.region {
        if !is_region(r) {
            c.err("spec.region", format!("`{r}` is not an AWS region name"));
        }
    }
    for (i, p) in s.ignore_differences.iter().enumerate() {
        if let Err(m) = check_ignore_path(p) {
            c.err(&format!("spec.ignoreDifferences[{i}]"), m);
        }
    }
    super::settings_rules::check(s, &mut |f, m| c.err(&format!("spec.{f}"), m));
    super::definition_rules::check(s, &mut |f, m| c.err(&format!("spec.{f}"), m));
    super::permission_rules::check(s, &mut |f, m| c.err(&format!("spec.{f}"), m));
    super::url_rules::check(s, &mut |f, m| c.err(&format!("spec.{f}"), m));
    super::mapping_rules::check(s, &mut |f, m| c.err(&format!("spec.{f}"), m));
    super::function_rules::check(s, &mut |f, m| c.err(&format!("spec.{f}"), m));
    super::code::check(s, &mut |f, m| c.err(&format!("spec.{f}"), m));
    if s.create {
        create_rules(c, s);
    }
    if let Field::Value(env) = &s.environment {
        environment(c, env);
    }
    if let Field::Value(n) = s.reserved_concurrency {
        if n < 0 {
            c.err("spec.reservedConcurrency", "must be >= 0 (0 disables the function)");
        }
    }
    if let Field::Value(e) = &s.event_invoke_config {
        event_invoke_config(c, "spec.eventInvokeConfig", e);
    }
    let mut provisioned = 0;
    for (name, alias) in &s.aliases {
        alias_rules(c, &format!("spec.aliases.{name}"), name, alias);
        let follows = alias.function_version.as_text() == FOLLOW_PUBLISHED;
        if follows && s.publish == PublishPolicy::Never {
            c.err(
                &format!("spec.aliases.{name}.functionVersion"),
                "`published` follows the versions the controller publishes: set spec.publish: onChange",
            );
        }
        provisioned += alias.provisioned_concurrency.value().copied().unwrap_or(0);
    }
    if let Field::Value(reserved) = s.reserved_concurrency {
        if reserved >= 0 && provisioned > reserved {
            c.err(
                "spec.reservedConcurrency",
                format!("{reserved} is less than the provisioned concurrency of its aliases ({provisioned}); Lambda rejects that"),
            );
        }
    }
}

const ALIAS_FIELDS: &[&str] =
    &["functionVersion", "description", "routing", "provisionedConcurrency", "autoscaling", "eventInvokeConfig"];

fn check_ignore_path(p: &str) -> Result<(), String> {
    let parts: Vec<&str> = p.split('.').collect();
    let ok = match parts.as_slice() {
        ["environment"] | ["environment", "variables"] | ["environment", "variables", _] => true,
        ["reservedConcurrency"] | ["eventInvokeConfig"] | ["code"] | ["architectures"] | ["aliases", _] => true,
        _ if super::settings_rules::PATHS.contains(&p) => true,
        _ if super::definition_rules::PATHS.contains(&p) => true,
        _ if super::function_rules::is_ignore_path(p) => true,
        ["permissions"] | ["permissions", _] | ["eventSourceMappings"] => true,
        ["functionUrls"] | ["functionUrls", _] => true,
        ["aliases", _, f] => ALIAS_FIELDS.contains(f),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{p}` is not a managed field path (environment[.variables[.NAME]], reservedConcurrency, eventInvokeConfig, code, architectures, functionUrls[.QUALIFIER], {}, tags.KEY, {}, aliases.NAME[.{}])",
            [super::settings_rules::PATHS, super::definition_rules::PATHS].concat().join(", "),
            super::function_rules::PATHS.join(", "),
            ALIAS_FIELDS.join("|")
        ))
    }
}

/// A secret reference: an id (name 1-512 characters or an ARN), an optional JSON key, an optional
/// version (a staging label of 1-256 characters or a version id of 32-64).
/// `create: true`: what CreateFunction requires ("Runtime and Handler are mandatory parameters
/// for functions created with deployment packages"; Role and Code are required members).
fn create_rules(c: &mut Ctx, s: &Spec) {
    let zip = s.code.as_ref().is_none_or(|code| code.image_uri.is_none());
    let missing: Vec<&str> = [
        ("code", s.code.is_none()),
        ("executionRole", s.execution_role.is_none()),
        ("runtime", zip && s.runtime.is_none()),
        ("handler", zip && s.handler.is_none()),
    ]
    .into_iter()
    .filter_map(|(f, absent)| absent.then_some(f))
    .collect();
    if !missing.is_empty() {
        let list = missing.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", ");
        c.err("spec.create", format!("a function is created from its code and definition: set {list} too"));
    }
}

fn secret_ref(c: &mut Ctx, field: &str, r: &SecretSpec) {
    match r.id.as_deref() {
        None | Some("") => c.err(&format!("{field}.id"), "required: the secret's name or ARN"),
        Some(id) if id.len() > 2048 => c.err(&format!("{field}.id"), "longer than a secret name or ARN can be"),
        Some(_) => {}
    }
    if r.key.as_deref() == Some("") {
        c.err(&format!("{field}.key"), "empty: name a key of the secret's JSON, or leave key out for the whole value");
    }
    if let Some(v) = &r.version {
        if v.is_empty() || v.len() > 256 {
            c.err(&format!("{field}.version"), "a staging label (1-256 characters) or a version id");
        }
    }
}

fn environment(c: &mut Ctx, env: &Environment) {
    for (key, value) in &env.variables {
        let field = format!("spec.environment.variables.{key}");
        let key_ok = key.len() >= 2
            && key.starts_with(|ch: char| ch.is_ascii_alphabetic())
            && key.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
        if !key_ok {
            c.err(&field, "variable names must start with a letter and contain only letters, digits and `_` (at least 2 characters)");
        }
        if RESERVED_ENV.contains(&key.as_str()) {
            c.err(&field, format!("`{key}` is reserved by Lambda and cannot be set"));
        }
        if let EnvValue::FromSsm(r) = value {
            if r.from_ssm.is_empty() || r.from_ssm.len() > 2048 {
                c.err(&format!("{field}.fromSsm"), "must be an SSM parameter name or ARN");
            }
        }
        if let EnvValue::FromSecret(r) = value {
            secret_ref(c, &format!("{field}.fromSecret"), &r.from_secret);
        }
    }
    // Measured as Lambda does (the variables as JSON); SSM values count as "" until resolved.
    let literals: Vec<(String, String)> = env
        .variables
        .iter()
        .map(|(k, v)| match v {
            EnvValue::Literal(s) => (k.clone(), s.as_text()),
            EnvValue::FromSsm(_) | EnvValue::FromSecret(_) => (k.clone(), String::new()),
        })
        .collect();
    let bytes = environment_size(literals.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    if bytes > ENV_LIMIT_BYTES {
        c.err(
            "spec.environment.variables",
            format!("environment is {bytes} bytes as JSON (names, literal values, quotes and separators), over Lambda's {ENV_LIMIT_BYTES}-byte limit"),
        );
    }
}

fn event_invoke_config(c: &mut Ctx, field: &str, e: &EventInvokeConfig) {
    if let Some(n) = e.maximum_retry_attempts {
        if !(0..=2).contains(&n) {
            c.err(&format!("{field}.maximumRetryAttempts"), format!("{n} is outside 0-2"));
        }
    }
    if let Some(n) = e.maximum_event_age_in_seconds {
        if !(60..=21600).contains(&n) {
            c.err(&format!("{field}.maximumEventAgeInSeconds"), format!("{n} is outside 60-21600"));
        }
    }
    if let Some(d) = &e.destinations {
        for (name, arn, on_failure) in [("onSuccess", &d.on_success, false), ("onFailure", &d.on_failure, true)] {
            if let Some(arn) = arn {
                if !is_destination_arn(arn, on_failure) {
                    let kinds = if on_failure {
                        "an SQS queue, SNS topic, Lambda function, EventBridge event bus or S3 bucket ARN"
                    } else {
                        "an SQS queue, SNS topic, Lambda function or EventBridge event bus ARN (S3 buckets are for onFailure only)"
                    };
                    c.err(&format!("{field}.destinations.{name}"), format!("`{arn}` is not {kinds}"));
                }
            }
        }
    }
}

/// AWS (DestinationConfig): OnSuccess takes an SQS queue, SNS topic, Lambda function or
/// EventBridge event bus; OnFailure also an S3 bucket ("arn:aws:s3:::BUCKET", no region or account).
fn is_destination_arn(arn: &str, on_failure: bool) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" || !parts[1].starts_with("aws") {
        return false;
    }
    let resource = parts[5];
    if parts[2] == "s3" {
        let bucket_ok = (3..=63).contains(&resource.len())
            && resource.chars().all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ".-".contains(ch));
        return on_failure && parts[3].is_empty() && parts[4].is_empty() && bucket_ok;
    }
    if !is_region(parts[3]) || !is_account(parts[4]) {
        return false;
    }
    match parts[2] {
        "sqs" | "sns" => !resource.is_empty() && !resource.contains(':'),
        "lambda" => resource.strip_prefix("function:").is_some_and(|r| !r.is_empty()),
        "events" => resource.strip_prefix("event-bus/").is_some_and(|r| !r.is_empty()),
        _ => false,
    }
}

fn alias_rules(c: &mut Ctx, field: &str, name: &str, a: &Alias) {
    let name_ok = !name.is_empty()
        && name.len() <= 128
        && name.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
        && !name.chars().all(|ch| ch.is_ascii_digit());
    if !name_ok {
        c.err(field, format!("`{name}` is not a valid alias name (1-128 letters, digits, `-`, `_`, not all digits)"));
    }
    let version = a.function_version.as_text();
    let is_number = |v: &str| !v.is_empty() && v.chars().all(|ch| ch.is_ascii_digit());
    if version != "$LATEST" && version != FOLLOW_PUBLISHED && !is_number(&version) {
        c.err(
            &format!("{field}.functionVersion"),
            format!("`{version}` is not a version number, $LATEST or `{FOLLOW_PUBLISHED}`"),
        );
    }
    if let Field::Value(r) = &a.routing {
        routing(c, &format!("{field}.routing"), &version, r);
        // AWS refuses weights on an alias of $LATEST: only published versions can share traffic.
        if version == "$LATEST" && !r.is_empty() {
            c.err(&format!("{field}.routing"), "weighted routing needs a published functionVersion, not $LATEST");
        }
    }
    if let Field::Value(n) = a.provisioned_concurrency {
        if n < 1 {
            c.err(&format!("{field}.provisionedConcurrency"), format!("{n} must be >= 1 (use null to remove it)"));
        }
        if version == "$LATEST" {
            c.err(&format!("{field}.provisionedConcurrency"), "cannot be set on an alias of $LATEST");
        }
    }
    if let Field::Value(e) = &a.event_invoke_config {
        event_invoke_config(c, &format!("{field}.eventInvokeConfig"), e);
    }
    if let Field::Value(s) = &a.autoscaling {
        autoscaling(c, &format!("{field}.autoscaling"), s, &a.provisioned_concurrency);
    }
    super::deploy_rules::check(name, a, &mut |f, m| c.err(&format!("{field}.{f}"), m));
}

fn routing(c: &mut Ctx, field: &str, version: &str, r: &std::collections::BTreeMap<String, f64>) {
    if r.len() > 1 {
        c.err(field, "at most one additional version can receive weighted traffic");
    }
    for (v, w) in r {
        let f = format!("{field}.{v}");
        if v == "$LATEST" {
            c.err(&f, "$LATEST cannot receive weighted traffic; route to a published version");
        } else if v.is_empty() || !v.chars().all(|ch| ch.is_ascii_digit()) {
            c.err(&f, format!("`{v}` is not a published version number"));
        } else if v == version {
            c.err(&f, "the alias's own functionVersion cannot be an additional version");
        }
        if !(0.0..=1.0).contains(w) {
            c.err(&f, format!("weight {w} is outside [0, 1]"));
        }
    }
}

fn autoscaling(c: &mut Ctx, field: &str, s: &Autoscaling, pc: &Field<i64>) {
    if s.min_capacity < 0 {
        c.err(&format!("{field}.minCapacity"), "must be >= 0");
    }
    if s.max_capacity < 1 {
        c.err(&format!("{field}.maxCapacity"), "must be >= 1");
    }
    if s.min_capacity > s.max_capacity {
        c.err(
            &format!("{field}.minCapacity"),
            format!("minCapacity {} is greater than maxCapacity {}", s.min_capacity, s.max_capacity),
        );
    }
    if let Some(t) = s.target_utilization {
        if !(t > 0.0 && t <= 1.0) {
            c.err(&format!("{field}.targetUtilization"), format!("{t} is outside (0, 1]"));
        }
    }
    for (k, v) in [("scaleInCooldown", s.scale_in_cooldown), ("scaleOutCooldown", s.scale_out_cooldown)] {
        if v.is_some_and(|v| v < 0) {
            c.err(&format!("{field}.{k}"), "must be >= 0 seconds");
        }
    }
    let tuned = s.scale_in_cooldown.is_some() || s.scale_out_cooldown.is_some() || s.disable_scale_in.is_some();
    if tuned && s.target_utilization.is_none() {
        c.err(
            field,
            "scaleInCooldown, scaleOutCooldown and disableScaleIn tune target tracking: set targetUtilization",
        );
    }
    let parent = field.trim_end_matches(".autoscaling");
    match pc {
        Field::Value(n) if *n < s.min_capacity || *n > s.max_capacity => c.err(
            &format!("{parent}.provisionedConcurrency"),
            format!("starting value {n} is outside autoscaling [{}, {}]", s.min_capacity, s.max_capacity),
        ),
        Field::Value(_) => {}
        _ => c.err(field, "autoscaling needs provisionedConcurrency set as its starting value"),
    }
    let mut seen = HashMap::new();
    for (i, a) in s.scheduled_actions.iter().enumerate() {
        let f = format!("{field}.scheduledActions[{i}]");
        // AWS (ScheduledActionName): 1-256 characters, none of `:`, `/`, `|` or control
        // characters, no leading or trailing space.
        let name_ok = !a.name.is_empty()
            && a.name.chars().count() <= 256
            && !a.name.chars().any(|ch| ":/|".contains(ch) || ch.is_control())
            && a.name.trim() == a.name;
        if !name_ok {
            c.err(
                &format!("{f}.name"),
                "must be 1-256 characters without `:`, `/`, `|`, control characters or surrounding spaces",
            );
        }
        if seen.insert(a.name.clone(), i).is_some() {
            c.err(&format!("{f}.name"), format!("duplicate scheduled action name `{}`", a.name));
        }
        if let Err(m) = check_schedule(&a.schedule) {
            c.err(&format!("{f}.schedule"), m);
        }
        let time = |c: &mut Ctx, k: &str, v: &Option<String>| {
            let t = v.as_deref().map(|s| (s, crate::types::parse_time(s)));
            if let Some((s, None)) = t {
                c.err(&format!("{f}.{k}"), format!("`{s}` is not an RFC 3339 UTC time like 2026-12-01T09:00:00Z"));
            }
            t.and_then(|(_, t)| t)
        };
        let (start, end) = (time(c, "startTime", &a.start_time), time(c, "endTime", &a.end_time));
        if let (Some(s), Some(e)) = (start, end) {
            if s >= e {
                c.err(&format!("{f}.endTime"), "must be after startTime");
            }
        }
        match (a.min_capacity, a.max_capacity) {
            (None, None) => c.err(&f, "set minCapacity, maxCapacity or both"),
            (Some(lo), Some(hi)) if lo > hi => {
                c.err(&format!("{f}.minCapacity"), format!("minCapacity {lo} is greater than maxCapacity {hi}"))
            }
            _ => {}
        }
        for (k, v) in [("minCapacity", a.min_capacity), ("maxCapacity", a.max_capacity)] {
            if v.is_some_and(|v| v < 0) {
                c.err(&format!("{f}.{k}"), "must be >= 0");
            }
        }
    }
}

/// Application Auto Scaling schedule expressions: `cron(6 fields)`, `rate(N unit)`, `at(yyyy-mm-ddThh:mm:ss)`.
pub fn check_schedule(s: &str) -> Result<(), String> {
    let inner = |p: &str| s.strip_prefix(p).and_then(|r| r.strip_suffix(')'));
    if let Some(body) = inner("cron(") {
        let fields: Vec<&str> = body.split_whitespace().collect();
        if fields.len() != 6 {
            return Err(format!("cron expression has {} fields; Application Auto Scaling needs 6 (minutes hours day-of-month month day-of-week year)", fields.len()));
        }
        // AWS (cron expressions): "You can't specify the Day-of-month and Day-of-week fields in
        // the same cron expression. If you specify a value or a * (asterisk) in one of the
        // fields, you must use a ? (question mark) in the other."
        return match (fields[2] == "?", fields[4] == "?") {
            (true, false) | (false, true) => Ok(()),
            _ => Err(format!(
                "`{s}`: exactly one of day-of-month and day-of-week must be `?` (e.g. `cron(0 9 * * ? *)`)"
            )),
        };
    }
    if let Some(body) = inner("rate(") {
        let parts: Vec<&str> = body.split_whitespace().collect();
        let ok = match parts.as_slice() {
            [n, unit] => match n.parse::<u32>() {
                Ok(1) => matches!(*unit, "minute" | "hour" | "day"),
                Ok(n) if n > 1 => matches!(*unit, "minutes" | "hours" | "days"),
                _ => false,
            },
            _ => false,
        };
        return if ok { Ok(()) } else { Err(format!("`{s}` is not `rate(N minute(s)|hour(s)|day(s))`")) };
    }
    if let Some(body) = inner("at(") {
        let b = body.as_bytes();
        let shape = b.len() == 19
            && body.char_indices().all(|(i, ch)| match i {
                4 | 7 => ch == '-',
                10 => ch == 'T',
                13 | 16 => ch == ':',
                _ => ch.is_ascii_digit(),
            });
        return if shape { Ok(()) } else { Err(format!("`{s}` is not `at(yyyy-mm-ddThh:mm:ss)`")) };
    }
    Err(format!("`{s}` is not a cron(...), rate(...) or at(...) expression"))
}
