//! User tags (`spec.tags`): which keys are the user's, AWS's rules for a tag, and how many a
//! manifest may hold beside the tags the controller writes itself.

use std::collections::BTreeMap;

use super::{CODE_TAG, CREATED_BY_TAG, GENERATION_TAG, PUBLISHED_TAG, SENSITIVE_ENV_TAG};

/// The prefix of every tag the controller writes (its records: generation, published, …).
pub const CONTROLLER_TAG_PREFIX: &str = "lambda-reconciler.io/";

/// AWS (tag restrictions): "Don't use aws: … as a prefix … You can't edit or delete tag keys or
/// values with this prefix"; such tags "do not count against your tags per resource limit".
pub const AWS_TAG_PREFIX: &str = "aws:";

/// AWS (tag restrictions): "Maximum number of tags per resource – 50".
pub const MAX_TAGS_PER_RESOURCE: usize = 50;

/// The controller's own tags that are not per alias.
pub const CONTROLLER_TAGS: &[&str] = &[GENERATION_TAG, PUBLISHED_TAG, SENSITIVE_ENV_TAG, CODE_TAG, CREATED_BY_TAG];

/// AWS: a tag key is 1-128 characters, a value 0-256.
pub const MAX_TAG_KEY: usize = 128;
pub const MAX_TAG_VALUE: usize = 256;

/// The user tags a manifest may hold: 50, less the controller's own tags, less one rollout
/// marker per alias with a `deployment` (`deployments`). With no deployment: 45.
pub fn max_user_tags(deployments: usize) -> usize {
    MAX_TAGS_PER_RESOURCE.saturating_sub(CONTROLLER_TAGS.len() + deployments)
}

/// True for a key in the `aws:` namespace (any case: AWS reserves it so).
pub fn is_aws_tag(key: &str) -> bool {
    key.get(..AWS_TAG_PREFIX.len()).is_some_and(|p| p.eq_ignore_ascii_case(AWS_TAG_PREFIX))
}

/// True for a key in the controller's namespace (any case).
pub fn is_controller_tag(key: &str) -> bool {
    key.get(..CONTROLLER_TAG_PREFIX.len()).is_some_and(|p| p.eq_ignore_ascii_case(CONTROLLER_TAG_PREFIX))
}

/// True for a key the user owns: neither AWS's nor the controller's.
pub fn is_user_tag(key: &str) -> bool {
    !is_aws_tag(key) && !is_controller_tag(key)
}

/// AWS (TagKey, TagValue pattern `[\p{L}\p{Z}\p{N}_.:/=+\-@]*`): letters, separators, digits
/// and `_ . : / = + - @`.
pub fn is_tag_text(s: &str) -> bool {
    s.chars().all(|c| c.is_alphanumeric() || (c.is_whitespace() && !c.is_control()) || "_.:/=+-@".contains(c))
}

/// The user tags among a function's tags.
pub fn user_tags<'a>(all: impl IntoIterator<Item = (&'a String, &'a String)>) -> BTreeMap<String, String> {
    all.into_iter().filter(|(k, _)| is_user_tag(k)).map(|(k, v)| (k.clone(), v.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_keys_outside_the_aws_and_controller_namespaces_are_the_users() {
        for k in ["aws:cloudformation:stack-name", "AWS:x", "lambda-reconciler.io/generation", "Lambda-Reconciler.IO/x"]
        {
            assert!(!is_user_tag(k), "{k}");
        }
        for k in ["team", "aws", "awsx:y", "lambda-reconciler.io", "owner:aws:"] {
            assert!(is_user_tag(k), "{k}");
        }
        assert!(CONTROLLER_TAGS.iter().all(|t| is_controller_tag(t)));
        assert!(is_controller_tag(&crate::types::marker_tag("live")));
    }

    #[test]
    fn the_user_tag_budget_leaves_room_for_the_controllers_tags_and_each_rollout_marker() {
        assert_eq!(max_user_tags(0), 45);
        assert_eq!(max_user_tags(3), 42);
        assert_eq!(max_user_tags(99), 0);
    }

    #[test]
    fn tag_text_is_what_aws_allows() {
        assert!(is_tag_text("Équipe 7_.:/=+-@"));
        assert!(!is_tag_text("a#b") && !is_tag_text("tab\there") && !is_tag_text("a,b"));
    }
}
