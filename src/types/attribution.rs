//! Who changed a function outside git: the principal, call and time of the CloudTrail event that reported it.

use serde::Serialize;

/// CloudTrail's `userIdentity.type` values; any other is counted as `Other` (a metric label stays
/// a small, fixed set). `Unknown`: no event was seen for the change.
pub const PRINCIPAL_TYPES: &[&str] = &[
    "IAMUser",
    "AssumedRole",
    "AWSService",
    "Root",
    "FederatedUser",
    "IdentityCenterUser",
    "WebIdentityUser",
    "SAMLUser",
    "AWSAccount",
    "Other",
    "Unknown",
];

/// The longest principal (an ARN, or an AWS service's name) kept; longer ones are cut.
pub const MAX_PRINCIPAL_CHARS: usize = 256;

/// A change seen through CloudTrail: who made it (`principal` is `userIdentity.arn`, or the
/// service for an AWS service), their type, the API call and when (`eventTime`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangedBy {
    pub principal_type: String,
    pub principal: String,
    pub call: String,
    pub at: String,
}

impl ChangedBy {
    /// Built from an event's fields, bounded: an unknown type reads `Other`, the principal is
    /// cut at [`MAX_PRINCIPAL_CHARS`], the time at 40 characters.
    pub fn new(principal_type: &str, principal: &str, call: &str, at: &str) -> ChangedBy {
        let kind = if PRINCIPAL_TYPES.contains(&principal_type) && principal_type != "Unknown" {
            principal_type
        } else {
            "Other"
        };
        let clean = |s: &str, n: usize| s.chars().filter(|c| !c.is_control()).take(n).collect::<String>();
        ChangedBy {
            principal_type: kind.to_string(),
            principal: clean(principal, MAX_PRINCIPAL_CHARS),
            call: clean(call, 64),
            at: clean(at, 40),
        }
    }

    /// `arn:…:user/alice (IAMUser) with UpdateFunctionConfiguration at 2026-12-04T10:00:00Z`.
    pub fn describe(&self) -> String {
        format!("{} ({}) with {} at {}", self.principal, self.principal_type, self.call, self.at)
    }
}

/// What an alert says when no event named the change's author.
pub const UNKNOWN_PRINCIPAL: &str = "an unknown principal (no CloudTrail event seen for it; see --events-queue-url)";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unlisted_type_counts_as_other_and_long_values_are_cut() {
        let c = ChangedBy::new("SomethingNew", &"a".repeat(1000), "UpdateAlias", "2026-12-04T10:00:00Z");
        assert_eq!(c.principal_type, "Other");
        assert_eq!(c.principal.len(), MAX_PRINCIPAL_CHARS);
        assert_eq!(ChangedBy::new("Unknown", "x", "c", "t").principal_type, "Other", "Unknown means no event");
        assert_eq!(ChangedBy::new("AWSService", "x\ny", "c", "t").principal, "xy");
    }
}
