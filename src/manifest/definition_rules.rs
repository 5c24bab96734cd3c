//! Validation of the function's definition (runtime, handler, execution role) and its resolution into `Settings`.

use super::definition::RUNTIMES;
use super::model::Spec;
use crate::types::Settings;

/// The definition paths `ignoreDifferences` may name.
pub const PATHS: &[&str] = &["runtime", "handler", "executionRole"];

/// Handler: the model's 0-128 characters, pattern `[^\s]+` (so at least one).
pub const MAX_HANDLER: usize = 128;
/// An IAM role ARN is at most 2048 characters (IAM quotas: "ARN ... 2048"); the model allows 10000.
pub const MAX_ROLE_ARN: usize = 2048;

/// The model's RoleArn pattern `arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+`.
pub fn is_role_arn(arn: &str) -> bool {
    let Some(rest) = arn.strip_prefix("arn:") else { return false };
    let Some((partition, rest)) = rest.split_once(':') else { return false };
    let partition_ok = partition.is_empty()
        || partition.strip_prefix("aws").is_some_and(|p| p.chars().all(|c| c.is_ascii_alphabetic() || c == '-'));
    let Some(rest) = rest.strip_prefix("iam::") else { return false };
    let Some((account, rest)) = rest.split_once(':') else { return false };
    let Some(name) = rest.strip_prefix("role") else { return false };
    let name = name.strip_prefix('/').unwrap_or(name);
    partition_ok
        && account.len() == 12
        && account.chars().all(|c| c.is_ascii_digit())
        && !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || "+=,.@-_/".contains(c))
}

fn excerpt(s: &str) -> String {
    let cut: String = s.chars().take(80).collect();
    if cut.len() < s.len() {
        format!("{cut}…")
    } else {
        cut
    }
}

/// Checks the definition of `s`; `err(field, message)` takes paths under `spec.`.
pub fn check(s: &Spec, err: &mut dyn FnMut(&str, String)) {
    if let Some(r) = s.runtime.as_deref().filter(|r| !RUNTIMES.contains(r)) {
        err(
            "runtime",
            format!("`{}` is not a Lambda runtime (e.g. python3.13, nodejs22.x, java21, provided.al2023)", excerpt(r)),
        );
    }
    if let Some(h) = &s.handler {
        if h.is_empty() || h.chars().count() > MAX_HANDLER || h.chars().any(char::is_whitespace) {
            err("handler", format!("`{}` is not a handler (1-{MAX_HANDLER} characters, no whitespace)", excerpt(h)));
        }
    }
    if let Some(r) = &s.execution_role {
        if r.len() > MAX_ROLE_ARN || !is_role_arn(r) {
            err("executionRole", format!("`{}` is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)", excerpt(r)));
        }
    }
}

/// A hint for a serde error about the spec: `role` is not a field (see `executionRole`).
pub fn hint(message: &str) -> Option<String> {
    message.starts_with("unknown field `role`").then(|| {
        "unknown field `role`: the function's execution role is `executionRole` (`roleArn` is the role the controller assumes to manage the function)".to_string()
    })
}

/// Lays the managed definition of `s` over `settings`.
pub fn resolve(s: &Spec, settings: Settings) -> Settings {
    Settings {
        runtime: s.runtime.clone(),
        handler: s.handler.clone(),
        execution_role: s.execution_role.clone(),
        ..settings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns_follow_the_models_pattern() {
        assert!(is_role_arn("arn:aws:iam::123456789012:role/app"));
        assert!(is_role_arn("arn:aws-cn:iam::123456789012:role/service-role/app+x=y,z.@-_"));
        assert!(!is_role_arn("arn:aws:iam::123456789012:user/app"));
        assert!(!is_role_arn("arn:aws:iam::12345678901:role/app"));
        assert!(!is_role_arn("arn:aws:iam::123456789012:role/"));
        assert!(!is_role_arn("arn:aws:iam::123456789012:role/a b"));
        assert!(!is_role_arn("arn:gcp:iam::123456789012:role/app"));
    }
}
