//! `export`: the live configuration of a function as a manifest that `plan` shows in sync.
//! Environment values that look secret are replaced by `fromSsm` references, never printed.

use serde_json::{json, Map, Value};
use yaml_rust2::{Yaml, YamlEmitter};

use crate::aws::scaling::resource_id;
use crate::aws::{Aws, AwsError};
use crate::manifest::model::{API_VERSION, KIND};
use crate::types::{FunctionRef, InvokeConfig, ScalingState, Settings, INVOKE, PERMISSION_SID_PREFIX};

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{0}")]
    Aws(#[from] AwsError),
    #[error("function `{0}` not found in {1}")]
    NotFound(String, String),
    #[error("alias `{0}` not found on the function")]
    NoAlias(String),
    #[error("no region: pass --region or use a function ARN")]
    NoRegion,
}

/// Names that suggest a secret value.
const SECRET_HINTS: &[&str] =
    &["PASSWORD", "PASSWD", "SECRET", "TOKEN", "PRIVATE", "CREDENTIAL", "API_KEY", "APIKEY", "AUTH"];

fn looks_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_HINTS.iter().any(|h| upper.contains(h))
}

/// The manifest text, and warnings for stderr (names only, never values).
pub struct Exported {
    pub yaml: String,
    pub warnings: Vec<String>,
}

fn invoke_config(c: &InvokeConfig) -> Value {
    let mut v = json!({"maximumRetryAttempts": c.maximum_retry_attempts, "maximumEventAgeInSeconds": c.maximum_event_age_in_seconds});
    let mut d = Map::new();
    if let Some(s) = &c.on_success {
        d.insert("onSuccess".into(), json!(s));
    }
    if let Some(f) = &c.on_failure {
        d.insert("onFailure".into(), json!(f));
    }
    if !d.is_empty() {
        v["destinations"] = Value::Object(d);
    }
    v
}

fn autoscaling(s: &ScalingState, alias: &str, warnings: &mut Vec<String>) -> Value {
    let mut v = json!({"minCapacity": s.min_capacity, "maxCapacity": s.max_capacity});
    let mut tracked = s.policies.iter().filter(|p| p.tracking.is_some());
    if let Some(t) = tracked.next().and_then(|p| p.tracking.as_ref()) {
        v["targetUtilization"] = json!(t.target_utilization);
        if t.scale_in_cooldown != 0 {
            v["scaleInCooldown"] = json!(t.scale_in_cooldown);
        }
        if t.scale_out_cooldown != 0 {
            v["scaleOutCooldown"] = json!(t.scale_out_cooldown);
        }
        if t.disable_scale_in {
            v["disableScaleIn"] = json!(true);
        }
    }
    for p in s.policies.iter().filter(|p| p.tracking.is_none()).chain(tracked) {
        warnings.push(format!(
            "aliases.{alias}: scaling policy `{}` cannot be expressed in a manifest; plan would remove it",
            p.name
        ));
    }
    let actions: Vec<Value> = s
        .scheduled_actions
        .iter()
        .map(|a| {
            let mut x = json!({"name": a.name, "schedule": a.schedule});
            if let Some(n) = a.min_capacity {
                x["minCapacity"] = json!(n);
            }
            if let Some(n) = a.max_capacity {
                x["maxCapacity"] = json!(n);
            }
            if let Some(t) = a.start_time {
                x["startTime"] = json!(crate::types::format_time(t));
            }
            if let Some(t) = a.end_time {
                x["endTime"] = json!(crate::types::format_time(t));
            }
            if let Some(t) = &a.timezone {
                x["timezone"] = json!(t);
            }
            x
        })
        .collect();
    if !actions.is_empty() {
        v["scheduledActions"] = Value::Array(actions);
    }
    v
}

/// Reads the function and builds its manifest. `aliases` empty means every alias.
/// The function's settings, AWS's defaults left out (unmanaged) so the export round-trips.
fn settings(s: &Settings, name: &str, spec: &mut Map<String, Value>) {
    let mut put = |k: &str, v: Value| drop(spec.insert(k.into(), v));
    s.memory_size.into_iter().for_each(|m| put("memorySize", json!(m)));
    s.timeout.into_iter().for_each(|t| put("timeout", json!(t)));
    s.ephemeral_storage.filter(|e| *e != 512).into_iter().for_each(|e| put("ephemeralStorage", json!(e)));
    s.description.iter().filter(|d| !d.is_empty()).for_each(|d| put("description", json!(d)));
    s.tracing.iter().filter(|t| *t == "Active").for_each(|t| put("tracing", json!(t)));
    s.layers.iter().filter(|l| !l.is_empty()).for_each(|l| put("layers", json!(l)));
    s.dead_letter_target.iter().filter(|d| !d.is_empty()).for_each(|d| put("deadLetterTarget", json!(d)));
    s.kms_key_arn.iter().filter(|k| !k.is_empty()).for_each(|k| put("kmsKeyArn", json!(k)));
    s.runtime.iter().filter(|r| !r.is_empty()).for_each(|r| put("runtime", json!(r)));
    s.handler.iter().filter(|h| !h.is_empty()).for_each(|h| put("handler", json!(h)));
    s.execution_role.iter().filter(|r| !r.is_empty()).for_each(|r| put("executionRole", json!(r)));
    let vpc = s.vpc_config.iter().filter(|v| v.is_connected());
    vpc.for_each(|v| put("vpcConfig", json!(v)));
    s.file_system_configs.iter().filter(|f| !f.is_empty()).for_each(|f| put("fileSystemConfigs", json!(f)));
    s.snap_start.iter().filter(|a| *a == "PublishedVersions").for_each(|a| put("snapStart", json!(a)));
    s.image_config.iter().filter(|i| **i != Default::default()).for_each(|i| put("imageConfig", json!(i)));
    let default_group = format!("/aws/lambda/{name}");
    let json_format = s.log_format.as_deref() == Some("JSON");
    let custom_group = s.log_group.as_ref().filter(|g| **g != default_group);
    if json_format || custom_group.is_some() {
        let mut l = Map::new();
        l.insert("format".into(), json!(s.log_format));
        if json_format {
            s.application_log_level.iter().for_each(|a| drop(l.insert("applicationLogLevel".into(), json!(a))));
            s.system_log_level.iter().for_each(|a| drop(l.insert("systemLogLevel".into(), json!(a))));
        }
        custom_group.into_iter().for_each(|g| drop(l.insert("logGroup".into(), json!(g))));
        put("loggingConfig", Value::Object(l));
    }
}

/// An image function's code, pinned to the digest it runs, and its architecture (which needs
/// `code`). A zip's S3 location cannot be read back: neither is exported then.
fn code(f: &crate::types::FunctionState, spec: &mut Map<String, Value>, warnings: &mut Vec<String>) {
    let pinned = f.package.image_uri.as_deref().and_then(|u| crate::types::pinned_image_uri(u, &f.code_sha256));
    match pinned {
        Some(uri) => {
            spec.insert("code".into(), json!({"imageUri": uri}));
            spec.insert("architectures".into(), json!(f.package.architectures));
        }
        None if f.package.architectures.iter().any(|a| a != crate::types::DEFAULT_ARCHITECTURE) => {
            warnings.push(format!(
                "architectures {:?} left out: it is managed with `code`, whose S3 location Lambda does not report",
                f.package.architectures
            ))
        }
        None => {}
    }
}

/// The owned policy statements (others are reported, never adopted: that would duplicate them)
/// and the event source mappings of the function and its exported aliases.
async fn policies_and_mappings(
    c: &crate::aws::RegionClients,
    function: &str,
    qualifiers: &[String],
    spec: &mut Map<String, Value>,
    warnings: &mut Vec<String>,
) -> Result<(), ExportError> {
    let mut permissions = Map::new();
    let mut foreign = 0;
    for q in qualifiers {
        for (sid, p) in c.lambda.get_policy(function, Some(q.as_str()).filter(|q| !q.is_empty())).await? {
            if crate::types::is_url_sid(&sid) {
                continue; // functionUrls' own (function_urls)
            }
            let Some(name) = sid.strip_prefix(PERMISSION_SID_PREFIX) else {
                foreign += 1;
                continue;
            };
            let mut x = json!({"principal": p.principal});
            if !q.is_empty() {
                x["qualifier"] = json!(q);
            }
            if p.action != INVOKE {
                x["action"] = json!(p.action);
            }
            p.source_arn.iter().for_each(|a| x["sourceArn"] = json!(a));
            p.source_account.iter().for_each(|a| x["sourceAccount"] = json!(a));
            permissions.insert(name.to_string(), x);
        }
    }
    if foreign > 0 {
        warnings.push(format!("{foreign} resource-policy statement(s) not owned by lambda-reconciler left out: they stay as they are (re-declare them under permissions to manage them, then remove the originals)"));
    }
    if !permissions.is_empty() {
        spec.insert("permissions".into(), Value::Object(permissions));
    }
    let mut mappings = vec![];
    for m in c.lambda.list_mappings(function, qualifiers).await? {
        let mut x = Map::new();
        x.insert("source".into(), json!(m.source));
        if !m.qualifier.is_empty() {
            x.insert("qualifier".into(), json!(m.qualifier));
        }
        let mut fields = m.config.fields();
        if fields.get("enabled") == Some(&json!(true)) {
            fields.remove("enabled");
        }
        // Empty lists are AWS's defaults: left out (unmanaged) so the export round-trips.
        fields.retain(|_, v| *v != json!([]));
        x.extend(fields);
        mappings.push(Value::Object(x));
    }
    if !mappings.is_empty() {
        spec.insert("eventSourceMappings".into(), Value::Array(mappings));
    }
    Ok(())
}

/// The URLs of the function and its exported aliases as `functionUrls` (keyed `$LATEST` for the
/// unqualified function); a public URL without the controller's statements is said to gain them.
async fn function_urls(
    c: &crate::aws::RegionClients,
    function: &str,
    qualifiers: &[String],
    spec: &mut Map<String, Value>,
    warnings: &mut Vec<String>,
) -> Result<(), ExportError> {
    let mut urls = Map::new();
    for (q, config) in c.lambda.list_urls(function).await?.into_iter().filter(|(q, _)| qualifiers.contains(q)) {
        let key = crate::types::url_key(&q).to_string();
        let needed = config.statements();
        let held = c.lambda.get_policy(function, Some(q.as_str()).filter(|q| !q.is_empty())).await?;
        if needed.iter().any(|(sid, p)| held.get(sid) != Some(p)) {
            warnings.push(format!("functionUrls.{key}: a public (authType NONE) URL: apply adds the statements lambda-reconciler-url and lambda-reconciler-url-invoke; remove your own equivalent statements afterwards"));
        }
        urls.insert(key, json!(config));
    }
    if !urls.is_empty() {
        spec.insert("functionUrls".into(), Value::Object(urls));
    }
    Ok(())
}

pub async fn export(
    aws: &Aws,
    function: &str,
    aliases: &[String],
    region: Option<String>,
) -> Result<Exported, ExportError> {
    let f = FunctionRef::parse(function).unwrap_or_else(|_| FunctionRef::verbatim(function));
    let (name, arn_region) = (f.name, f.region);
    let region = arn_region.or(region).or_else(|| aws.default_region()).ok_or(ExportError::NoRegion)?;
    let c = aws.region(&region);
    let f =
        c.lambda.get_function(function).await?.ok_or_else(|| ExportError::NotFound(name.clone(), region.clone()))?;
    let mut live_aliases = c.lambda.list_aliases(function).await?;
    for a in aliases {
        if !live_aliases.contains_key(a) {
            return Err(ExportError::NoAlias(a.clone()));
        }
    }
    if !aliases.is_empty() {
        live_aliases.retain(|k, _| aliases.contains(k));
    }
    let pcs = c.lambda.list_provisioned_concurrency(function).await?;
    let eics = c.lambda.list_event_invoke_configs(function).await?;
    let ids: Vec<String> = live_aliases.keys().map(|a| resource_id(&name, a)).collect();
    let scaling = c.scaling.read(&ids).await?;
    let mut warnings = Vec::new();

    let mut spec = Map::new();
    spec.insert("functionName".into(), json!(name));
    spec.insert("region".into(), json!(region));
    settings(&f.settings, &name, &mut spec);
    code(&f, &mut spec, &mut warnings);
    if !f.environment.is_empty() {
        let (secure, unreadable) = c.ssm.secure_strings().await?;
        if unreadable > 0 {
            warnings.push(format!(
                "{unreadable} SecureString parameter(s) could not be read (access denied): a value equal to one of them is not recognised; review environment values before committing"
            ));
        }
        let mut vars = Map::new();
        for (k, v) in &f.environment {
            let stored = secure.iter().find(|(_, p)| p.value == *v).map(|(n, _)| n.clone());
            let value = match stored {
                Some(param) => json!({"fromSsm": param}),
                None if looks_secret(k) || f.sensitive_env.contains(k) => {
                    let placeholder = format!("/CHANGE-ME/{name}/{k}");
                    let why = if f.sensitive_env.contains(k) { "was applied from a secret" } else { "looks secret" };
                    warnings.push(format!(
                        "environment.variables.{k}: {why}; replaced by fromSsm {placeholder}: store the value there as a SecureString"
                    ));
                    json!({"fromSsm": placeholder})
                }
                None => json!(v),
            };
            vars.insert(k.clone(), value);
        }
        spec.insert("environment".into(), json!({"variables": vars}));
    }
    if let Some(n) = f.reserved_concurrency {
        spec.insert("reservedConcurrency".into(), json!(n));
    }
    if let Some(e) = eics.get(&None) {
        spec.insert("eventInvokeConfig".into(), invoke_config(e));
    }
    spec.extend(c.lambda.export_configs(function, &f).await?);
    let mut out_aliases = Map::new();
    for (a, state) in &live_aliases {
        // Empty description and routing are AWS's defaults: left out (unmanaged), not written
        // as `""` / `{}`, so the export round-trips through plan and apply unchanged.
        let mut x = json!({"functionVersion": state.function_version});
        if !state.description.is_empty() {
            x["description"] = json!(state.description);
        }
        if !state.routing.is_empty() {
            x["routing"] = json!(state.routing);
        }
        if let Some(pc) = pcs.get(a) {
            x["provisionedConcurrency"] = json!(pc.requested);
        }
        if let Some(s) = scaling.get(&resource_id(&name, a)) {
            x["autoscaling"] = autoscaling(s, a, &mut warnings);
        }
        if let Some(e) = eics.get(&Some(a.clone())) {
            x["eventInvokeConfig"] = invoke_config(e);
        }
        out_aliases.insert(a.clone(), x);
    }
    if !out_aliases.is_empty() {
        spec.insert("aliases".into(), Value::Object(out_aliases));
    }
    let qualifiers: Vec<String> = std::iter::once(String::new()).chain(live_aliases.keys().cloned()).collect();
    policies_and_mappings(&c, function, &qualifiers, &mut spec, &mut warnings).await?;
    function_urls(&c, function, &qualifiers, &mut spec, &mut warnings).await?;
    let doc = json!({
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": name},
        "spec": spec,
    });
    let mut yaml = format!("# Exported by lambda-reconciler from {}. Review before committing.\n", f.arn);
    yaml += &to_yaml(&doc);
    Ok(Exported { yaml, warnings })
}

/// A JSON value as a YAML node (mappings keep their order).
fn node(v: &Value) -> Yaml {
    match v {
        Value::Null => Yaml::Null,
        Value::Bool(b) => Yaml::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Yaml::Integer(i),
            None => Yaml::Real(n.to_string()),
        },
        Value::String(s) => Yaml::String(s.clone()),
        Value::Array(a) => Yaml::Array(a.iter().map(node).collect()),
        Value::Object(m) => Yaml::Hash(m.iter().map(|(k, x)| (Yaml::String(k.clone()), node(x))).collect()),
    }
}

/// Block-style YAML text of a JSON value, written by yaml-rust2's emitter (the parser's own
/// library, so what it writes reads back the same; it quotes only what needs quoting).
pub fn to_yaml(v: &Value) -> String {
    let mut out = String::new();
    let mut emitter = YamlEmitter::new(&mut out);
    emitter.compact(false);
    // Writing to a String cannot fail.
    let _ = emitter.dump(&node(v));
    let body = out.strip_prefix("---").unwrap_or(&out).trim_start_matches('\n');
    format!("{body}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emitted_yaml_parses_back_to_the_same_value() {
        let v = json!({"a": {"b c": "x: y", "n": 2, "f": 0.1, "e": {}, "l": [], "t": true},
                       "routing": {"2": 0.1}, "list": [{"name": "m", "k": [1, 2]}, "s"], "nul": null});
        let text = to_yaml(&v);
        let back = crate::manifest::yaml::parse(&text).unwrap().remove(0).value;
        assert_eq!(back, v, "{text}");
    }

    #[test]
    fn secret_looking_names_are_recognised() {
        assert!(looks_secret("DB_PASSWORD") && looks_secret("api_token") && looks_secret("STRIPE_API_KEY"));
        assert!(!looks_secret("LOG_LEVEL") && !looks_secret("PARAM_PREFIX"));
    }
}
