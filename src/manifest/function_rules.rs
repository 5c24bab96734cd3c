//! Validation of `tags`, `recursiveLoop`, `runtimeManagement` and `codeSigningConfigArn` against
//! AWS's rules, and their resolution into the desired configurations.

use std::collections::BTreeMap;

use super::configs_model::UpdateRuntimeOn;
use super::model::Spec;
use crate::types::{
    is_account, is_aws_tag, is_controller_tag, is_region, is_tag_text, max_user_tags, DesiredConfigs, Field,
    RuntimeManagement, MAX_TAG_KEY, MAX_TAG_VALUE,
};

/// The paths `ignoreDifferences` may name among these fields.
pub const PATHS: &[&str] = &["tags", "recursiveLoop", "runtimeManagement", "codeSigningConfigArn"];

/// True for `tags.KEY` or one of [`PATHS`].
pub fn is_ignore_path(p: &str) -> bool {
    PATHS.contains(&p) || p.strip_prefix("tags.").is_some_and(|k| !k.is_empty())
}

/// At most 64 characters of what was refused.
fn short(s: &str) -> String {
    s.chars().take(64).collect()
}

/// `arn:PARTITION:lambda:REGION:ACCOUNT:code-signing-config:csc-` and 17 of `[a-z0-9]`, at most
/// 200 characters (CodeSigningConfigArn's pattern).
pub fn is_code_signing_arn(arn: &str) -> bool {
    let p: Vec<&str> = arn.split(':').collect();
    let id_ok = |id: &str| {
        id.strip_prefix("csc-")
            .is_some_and(|r| r.len() == 17 && r.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()))
    };
    arn.len() <= 200
        && p.len() == 7
        && p[0] == "arn"
        && p[1].starts_with("aws")
        && p[2] == "lambda"
        && is_region(p[3].strip_prefix("eusc-").unwrap_or(p[3]))
        && is_account(p[4])
        && p[5] == "code-signing-config"
        && id_ok(p[6])
}

/// RuntimeVersionArn: 26-2048 characters, `arn:PARTITION:lambda:REGION::runtime:ID` (or an
/// account's `…:ACCOUNT:runtime/NAME/version/V`).
pub fn is_runtime_version_arn(arn: &str) -> bool {
    let p: Vec<&str> = arn.splitn(6, ':').collect();
    let shape = p.len() == 6 && p[0] == "arn" && p[1].starts_with("aws") && p[2] == "lambda";
    let resource = |p: &[&str]| match p[4] {
        "" => p[5].strip_prefix("runtime:").is_some_and(|id| !id.is_empty()),
        account => is_account(account) && p[5].starts_with("runtime/") && p[5].contains("/version/"),
    };
    (26..=2048).contains(&arn.len()) && shape && is_region(p[3].strip_prefix("eusc-").unwrap_or(p[3])) && resource(&p)
}

/// Checks the four fields of `s`; `err(field, message)` takes paths under `spec.`.
pub fn check(s: &Spec, err: &mut dyn FnMut(&str, String)) {
    if let Field::Value(tags) = &s.tags {
        let deployments = s.aliases.values().filter(|a| a.deployment.is_some()).count();
        check_tags(tags, deployments, err);
    }
    if let Field::Value(r) = &s.runtime_management {
        match (r.update_runtime_on, &r.runtime_version_arn) {
            (UpdateRuntimeOn::Manual, None) => err(
                "runtimeManagement.runtimeVersionArn",
                "required with updateRuntimeOn: Manual (the runtime version to pin)".into(),
            ),
            (UpdateRuntimeOn::Manual, Some(a)) if !is_runtime_version_arn(a) => err(
                "runtimeManagement.runtimeVersionArn",
                format!("`{}` is not a runtime version ARN (arn:aws:lambda:REGION::runtime:ID)", short(a)),
            ),
            (mode, Some(_)) if mode != UpdateRuntimeOn::Manual => err(
                "runtimeManagement.runtimeVersionArn",
                format!("only with updateRuntimeOn: Manual (Lambda picks the version in {} mode)", mode.as_str()),
            ),
            _ => {}
        }
    }
    if let Field::Value(a) = &s.code_signing_config_arn {
        if !is_code_signing_arn(a) {
            err(
                "codeSigningConfigArn",
                format!(
                    "`{}` is not a code signing configuration ARN (arn:aws:lambda:REGION:ACCOUNT:code-signing-config:csc- and 17 lowercase letters or digits)",
                    short(a)
                ),
            );
        }
    }
}

fn check_tags(tags: &BTreeMap<String, super::model::Scalar>, deployments: usize, err: &mut dyn FnMut(&str, String)) {
    let max = max_user_tags(deployments);
    if tags.len() > max {
        err(
            "tags",
            format!(
                "{} tags, over the {max} a manifest may hold: AWS allows 50 per function, and the controller keeps its own records (and one rollout marker per alias with a deployment) in tags",
                tags.len()
            ),
        );
    }
    for (k, v) in tags {
        let field = format!("tags.{}", short(k));
        if is_aws_tag(k) {
            // AWS: "Don't use aws: … as a prefix … You can't edit or delete tag keys or values
            // with this prefix."
            err(&field, "keys beginning with `aws:` are reserved by AWS".into());
        } else if is_controller_tag(k) {
            err(&field, "keys beginning with `lambda-reconciler.io/` are the controller's own records".into());
        }
        if !(1..=MAX_TAG_KEY).contains(&k.chars().count()) || !is_tag_text(k) {
            err(&field, format!("a tag key is 1-{MAX_TAG_KEY} letters, digits, spaces and `_.:/=+-@`"));
        }
        let v = v.as_text();
        if v.chars().count() > MAX_TAG_VALUE || !is_tag_text(&v) {
            err(&field, format!("a tag value is at most {MAX_TAG_VALUE} letters, digits, spaces and `_.:/=+-@`"));
        }
    }
}

/// The desired configurations of `spec`.
pub fn resolve(spec: &Spec) -> DesiredConfigs {
    DesiredConfigs {
        tags: spec.tags.clone().map(|t| t.into_iter().map(|(k, v)| (k, v.as_text())).collect()),
        recursive_loop: spec.recursive_loop.clone().map(|r| format!("{r:?}")),
        runtime_management: spec.runtime_management.clone().map(|r| RuntimeManagement {
            update_runtime_on: r.update_runtime_on.as_str().to_string(),
            runtime_version_arn: r.runtime_version_arn,
        }),
        code_signing_config_arn: spec.code_signing_config_arn.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_are_checked_against_the_api_models_patterns() {
        assert!(is_code_signing_arn("arn:aws:lambda:eu-west-1:123456789012:code-signing-config:csc-0123456789abcdef0"));
        assert!(!is_code_signing_arn("arn:aws:lambda:eu-west-1:123456789012:code-signing-config:csc-0123"));
        assert!(!is_code_signing_arn("arn:aws:lambda:eu-west-1:123456789012:function:csc-0123456789abcdef0"));
        assert!(is_runtime_version_arn(
            "arn:aws:lambda:eu-west-1::runtime:0cdcfbdefbc5e7d3343f73c2e2dd3cba17d61dea0686b404502a0c9ce83931b9"
        ));
        assert!(!is_runtime_version_arn("arn:aws:lambda:eu-west-1:123456789012:function:f"));
    }
}
