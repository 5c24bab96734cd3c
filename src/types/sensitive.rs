//! Which environment variables held a secret value when last applied, kept in a function tag so that a fresh process never prints them.

use std::collections::BTreeSet;

/// The tag recording the variables whose value came from a SecureString or Secrets Manager when
/// lambda-reconciler last wrote the environment: their live values are never printed, also by
/// a fresh process (CI's `plan`) and after the manifest stops referencing them.
pub const SENSITIVE_ENV_TAG: &str = "lambda-reconciler.io/sensitive-env";

/// AWS tag values are at most 256 characters; a longer list is recorded as "every variable".
const MAX_TAG_VALUE: usize = 256;

/// The variables recorded as sensitive.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SensitiveEnv {
    /// These variables (none when the tag is absent).
    #[default]
    None,
    Names(BTreeSet<String>),
    /// Every variable: the names did not fit in one tag value, or the tag could not be read
    /// as a list of names.
    All,
}

/// The tag value for "every variable": `@all` (variable names never hold `@`; `*` is outside
/// AWS's tag value pattern `[\p{L}\p{Z}\p{N}_.:/=+\-@]*`).
pub const ALL: &str = "@all";

impl SensitiveEnv {
    pub fn of(names: BTreeSet<String>) -> SensitiveEnv {
        if names.is_empty() {
            SensitiveEnv::None
        } else {
            SensitiveEnv::Names(names)
        }
    }

    /// `name` is recorded as sensitive.
    pub fn contains(&self, name: &str) -> bool {
        match self {
            SensitiveEnv::None => false,
            SensitiveEnv::Names(n) => n.contains(name),
            SensitiveEnv::All => true,
        }
    }

    /// Both lists together.
    pub fn union(&self, other: &SensitiveEnv) -> SensitiveEnv {
        match (self, other) {
            (SensitiveEnv::All, _) | (_, SensitiveEnv::All) => SensitiveEnv::All,
            (SensitiveEnv::None, x) | (x, SensitiveEnv::None) => x.clone(),
            (SensitiveEnv::Names(a), SensitiveEnv::Names(b)) => SensitiveEnv::Names(a.union(b).cloned().collect()),
        }
    }

    /// The tag value: the names separated by spaces (variable names are `[a-zA-Z][a-zA-Z0-9_]*`,
    /// all valid in a tag value), `*` when they do not fit, empty for none (no UntagResource).
    pub fn encode(&self) -> String {
        match self {
            SensitiveEnv::None => String::new(),
            SensitiveEnv::All => ALL.into(),
            SensitiveEnv::Names(n) => {
                let joined = n.iter().cloned().collect::<Vec<_>>().join(" ");
                let plain = joined.len() <= MAX_TAG_VALUE
                    && n.iter().all(|k| k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
                if plain {
                    joined
                } else {
                    ALL.into()
                }
            }
        }
    }

    /// The recorded list; a value that is not a list of names reads as every variable (never
    /// less than what was recorded).
    pub fn parse(value: Option<&str>) -> SensitiveEnv {
        match value.map(str::trim) {
            None | Some("") => SensitiveEnv::None,
            // `*` was written before AWS's tag value pattern was checked ("*" is not in it).
            Some("*") | Some(ALL) => SensitiveEnv::All,
            Some(v)
                if v.split(' ').all(|k| !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')) =>
            {
                SensitiveEnv::Names(v.split(' ').map(str::to_string).collect())
            }
            Some(_) => SensitiveEnv::All,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: &[&str]) -> SensitiveEnv {
        SensitiveEnv::of(n.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn the_tag_value_round_trips_and_falls_back_to_every_variable() {
        let n = names(&["DB_PASSWORD", "API_KEY"]);
        assert_eq!(n.encode(), "API_KEY DB_PASSWORD");
        assert_eq!(SensitiveEnv::parse(Some(&n.encode())), n);
        assert_eq!(SensitiveEnv::parse(None), SensitiveEnv::None);
        assert_eq!(SensitiveEnv::parse(Some(&names(&[]).encode())), SensitiveEnv::None);
        let many: Vec<String> = (0..40).map(|i| format!("SECRET_NUMBER_{i}")).collect();
        let many = SensitiveEnv::of(many.into_iter().collect());
        assert_eq!(many.encode(), ALL, "over 256 characters");
        assert!(SensitiveEnv::parse(Some(ALL)).contains("ANYTHING"));
        assert!(SensitiveEnv::parse(Some("*")).contains("ANYTHING"), "as written before");
        // AWS's tag value pattern: [\p{L}\p{Z}\p{N}_.:/=+\-@]*
        assert!(ALL.chars().all(|c| c.is_alphanumeric() || " _.:/=+-@".contains(c)));
        assert!(SensitiveEnv::parse(Some("A, B")).contains("C"), "an unreadable list hides everything");
        assert_eq!(names(&["A"]).union(&names(&["B"])), names(&["A", "B"]));
    }
}
