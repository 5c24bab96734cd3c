//! Whether two versions can share an alias's traffic: the same execution role and dead-letter
//! target, as AWS requires of a weighted alias.

use crate::observed::Observed;
use crate::types::VersionConfig;

/// AWS (Lambda Developer Guide, configuring-alias-routing): "You can point an alias to a maximum
/// of two Lambda function versions. The versions must meet the following criteria: Both versions
/// must have the same execution role. Both versions must have the same dead-letter queue
/// configuration, or no dead-letter queue configuration."
pub const RULE: &str = "AWS shares an alias's traffic only between versions with the same execution role and the same dead-letter queue configuration";

/// What the rule compares of a version: its role and its dead-letter target ("" for none).
pub type Traits<'a> = (&'a str, &'a str);

pub fn traits(v: &VersionConfig) -> Traits<'_> {
    (v.role.as_str(), v.settings.dead_letter_target.as_deref().unwrap_or(""))
}

fn show((role, dlq): Traits<'_>) -> String {
    let or_none = |s: &str| if s.is_empty() { "none".to_string() } else { s.to_string() };
    format!("execution role {}, dead-letter target {}", or_none(role), or_none(dlq))
}

/// Why `from` and `to` cannot share traffic, naming both versions' values; `None` when they can.
pub fn clash(from_label: &str, from: Traits<'_>, to_label: &str, to: Traits<'_>) -> Option<String> {
    (from != to).then(|| format!("{from_label} has {}; {to_label} has {}", show(from), show(to)))
}

/// The clash between two published versions, when both were read (unknown: none assumed, AWS
/// still refuses).
pub fn versions(o: &Observed, from: &str, to: &str) -> Option<String> {
    let (a, b) = (o.versions.get(from)?, o.versions.get(to)?);
    clash(&format!("version {from}"), traits(a), &format!("version {to}"), traits(b))
}

/// What the plan says when a rollout is held for it.
pub fn blocked(name: &str, why: &str, held: &str) -> String {
    format!(
        "aliases.{name}.deployment: {why}: {RULE}; {held} (set deployment.onRoleOrDeadLetterChange: switch to move all traffic at once, without weights)"
    )
}
