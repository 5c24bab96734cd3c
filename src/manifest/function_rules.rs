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
        // A key too long to be one is reported at `tags`, quoting its start only.
        let field = if k.chars().count() <= MAX_TAG_KEY { format!("tags.{k}") } else { "tags".into() };
        if is_aws_tag(k) {
            // AWS: "Don't use aws: … as a prefix … You can't edit or delete tag keys or values
            // with this prefix."
            err(&field, "keys beginning with `aws:` are reserved by AWS".into());
        } else if is_controller_tag(k) {
            err(&field, "keys beginning with `lambda-reconciler.io/` are the controller's own records".into());
        }
        if !(1..=MAX_TAG_KEY).contains(&k.chars().count()) || !is_tag_text(k) {
            err(&field, format!("`{}`: a tag key is 1-{MAX_TAG_KEY} letters, digits, spaces and `_.:/=+-@`", short(k)));
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

    /// The errors of a manifest whose spec is `body` (spec lines start at line 6), as
    /// (field, line, message).
    fn errors(body: &str) -> Vec<(String, usize, String)> {
        let head = "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: fn\nspec:\n";
        let errs = super::super::load::load_file(std::path::Path::new("m.yaml"), &format!("{head}{body}"));
        errs.err().unwrap_or_default().into_iter().map(|e| (e.field, e.line, e.message)).collect()
    }

    #[track_caller]
    fn refused(body: &str, field: &str, line: usize, needle: &str) {
        let errs = errors(body);
        let e = errs.iter().find(|e| e.0 == field).unwrap_or_else(|| panic!("no error on {field}: {errs:#?}"));
        assert_eq!(e.1, line, "{e:?}");
        assert!(e.2.contains(needle), "{e:?}");
    }

    #[test]
    fn tag_keys_of_aws_or_of_the_controller_are_refused_at_validate() {
        refused("  tags:\n    team: a\n    AWS:owner: b\n", "spec.tags.AWS:owner", 8, "reserved by AWS");
        refused(
            "  tags:\n    lambda-reconciler.io/code: x\n",
            "spec.tags.lambda-reconciler.io/code",
            7,
            "controller's own",
        );
    }

    #[test]
    fn tag_keys_and_values_follow_aws_lengths_and_characters() {
        let long = "k".repeat(129);
        refused(&format!("  tags:\n    {long}: a\n"), "spec.tags", 6, "1-128");
        refused("  tags:\n    \"a#b\": a\n", "spec.tags.a#b", 7, "letters, digits");
        refused(&format!("  tags:\n    k: {}\n", "v".repeat(257)), "spec.tags.k", 7, "at most 256");
        assert!(errors("  tags:\n    team: payments\n    cost-center: 42\n    \"x:y/z=w+v-u@t s\": \"\"\n").is_empty());
    }

    #[test]
    fn more_user_tags_than_the_budget_left_by_the_controllers_tags_are_refused() {
        let tags = |n: usize| (0..n).map(|i| format!("    k{i}: v\n")).collect::<String>();
        assert!(errors(&format!("  tags:\n{}", tags(45))).is_empty());
        refused(&format!("  tags:\n{}", tags(46)), "spec.tags", 6, "over the 45");
        // Each alias with a deployment keeps a rollout marker in a tag.
        let alias = "  publish: onChange\n  aliases:\n    live:\n      functionVersion: published\n      deployment: {strategy: AllAtOnce}\n";
        refused(&format!("{alias}  tags:\n{}", tags(45)), "spec.tags", 11, "over the 44");
    }

    #[test]
    fn manual_runtime_management_needs_a_runtime_version_and_only_manual_takes_one() {
        refused(
            "  runtimeManagement: {updateRuntimeOn: Manual}\n",
            "spec.runtimeManagement.runtimeVersionArn",
            6,
            "required",
        );
        let arn = "arn:aws:lambda:eu-west-1::runtime:0cdcfbdefbc5e7d3343f73c2e2dd3cba";
        refused(
            &format!("  runtimeManagement: {{updateRuntimeOn: Auto, runtimeVersionArn: \"{arn}\"}}\n"),
            "spec.runtimeManagement.runtimeVersionArn",
            6,
            "only with updateRuntimeOn: Manual",
        );
        refused(
            "  runtimeManagement: {updateRuntimeOn: Manual, runtimeVersionArn: \"arn:aws:lambda:eu-west-1:1:function:f\"}\n",
            "spec.runtimeManagement.runtimeVersionArn",
            6,
            "not a runtime version ARN",
        );
        refused(
            "  runtimeManagement: {updateRuntimeOn: Sometimes}\n",
            "spec.runtimeManagement.updateRuntimeOn",
            6,
            "unknown variant",
        );
        assert!(errors(&format!("  runtimeManagement: {{updateRuntimeOn: Manual, runtimeVersionArn: \"{arn}\"}}\n"))
            .is_empty());
        assert!(errors("  runtimeManagement: null\n  recursiveLoop: Allow\n  codeSigningConfigArn: null\n").is_empty());
    }

    #[test]
    fn recursive_loop_and_code_signing_take_only_what_aws_accepts() {
        refused("  recursiveLoop: Block\n", "spec.recursiveLoop", 6, "unknown variant");
        refused(
            "  codeSigningConfigArn: csc-1\n",
            "spec.codeSigningConfigArn",
            6,
            "not a code signing configuration ARN",
        );
    }

    #[test]
    fn ignore_differences_accepts_these_fields_and_single_tags() {
        assert!(errors(
            "  ignoreDifferences: [tags.team, tags, recursiveLoop, runtimeManagement, codeSigningConfigArn]\n"
        )
        .is_empty());
    }

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
