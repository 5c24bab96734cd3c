//! Validation of `permissions` (resource-based policy statements) against AddPermission's rules,
//! and their resolution into the domain `Permission`s keyed by (qualifier, statement id).

use std::collections::BTreeMap;

use super::model::{PermissionSpec, Spec};
use crate::types::{owned_sid, Field, Permission, INVOKE, PERMISSION_SID_PREFIX};

/// StatementId: 1-100 of `[a-zA-Z0-9-_]`, the owned prefix included.
pub const MAX_NAME: usize = 100 - PERMISSION_SID_PREFIX.len();

/// (qualifier or "" for the unqualified function, statement id) → grant.
pub type Permissions = BTreeMap<(String, String), Permission>;

fn qualifier(p: &PermissionSpec) -> String {
    p.qualifier.as_ref().map(|q| q.as_text()).unwrap_or_default()
}

/// Checks `s.permissions`; `err(field, message)` takes paths under `spec.`.
pub fn check(s: &Spec, err: &mut dyn FnMut(&str, String)) {
    let Field::Value(perms) = &s.permissions else { return };
    for (name, p) in perms {
        let field = format!("permissions.{name}");
        let name_ok = !name.is_empty()
            && name.len() <= MAX_NAME
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !name_ok {
            err(&field, format!("`{name}` is not a statement name (1-{MAX_NAME} of letters, digits, `-`, `_`)"));
        }
        if crate::types::is_url_sid(&owned_sid(name)) {
            err(&field, format!("`{name}` is reserved: statement id `{}` belongs to functionUrls", owned_sid(name)));
        }
        let q = qualifier(p);
        let alias_or_version =
            !q.is_empty() && q.len() <= 128 && q.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if p.qualifier.is_some() && !alias_or_version {
            err(&format!("{field}.qualifier"), format!("`{q}` is not an alias name or version number"));
        }
        if p.principal.is_empty() || p.principal.chars().any(char::is_whitespace) {
            err(&format!("{field}.principal"), "a service principal, account id or ARN, without spaces".into());
        }
        // AddPermission Action: pattern (lambda:[*]|lambda:[a-zA-Z]+|[*]).
        if let Some(a) = &p.action {
            let ok = a == "*"
                || a.strip_prefix("lambda:")
                    .is_some_and(|r| r == "*" || (!r.is_empty() && r.chars().all(|c| c.is_ascii_alphabetic())));
            if !ok {
                err(
                    &format!("{field}.action"),
                    format!("`{a}` is not a Lambda action (lambda:InvokeFunction, lambda:*)"),
                );
            }
        }
        if let Some(arn) = &p.source_arn {
            let parts: Vec<&str> = arn.splitn(6, ':').collect();
            if parts.len() < 6 || parts[0] != "arn" || !parts[1].starts_with("aws") || parts[2].is_empty() {
                err(&format!("{field}.sourceArn"), format!("`{arn}` is not an ARN"));
            }
        }
        if let Some(a) = &p.source_account {
            let a = a.as_text();
            if !crate::types::is_account(&a) {
                err(&format!("{field}.sourceAccount"), format!("`{a}` is not a 12-digit account id"));
            }
        }
    }
}

/// The managed statements (`None`: unmanaged; `null` manages none, so owned ones are removed).
pub fn resolve(s: &Spec) -> Option<Permissions> {
    let perms = match &s.permissions {
        Field::Absent => return None,
        Field::Null => return Some(Permissions::new()),
        Field::Value(p) => p,
    };
    let grant = |p: &PermissionSpec| Permission {
        // An account id stays an id here: the plan builds its ARN in the function's partition.
        principal: p.principal.clone(),
        action: p.action.clone().unwrap_or_else(|| INVOKE.to_string()),
        source_arn: p.source_arn.clone(),
        source_account: p.source_account.as_ref().map(|a| a.as_text()),
        function_url_auth_type: None,
        invoked_via_function_url: None,
    };
    Some(perms.iter().map(|(name, p)| ((qualifier(p), owned_sid(name)), grant(p))).collect())
}
