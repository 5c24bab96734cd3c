//! Validation of `functionUrls` against Create/UpdateFunctionUrlConfig's rules, and their
//! resolution into domain `UrlConfig`s keyed by qualifier (`""` for the unqualified function).

use std::collections::BTreeMap;

use super::model::Spec;
use super::url_model::{CorsSpec, FunctionUrlSpec};
use crate::types::{Field, UrlConfig, UrlCors, LATEST_QUALIFIER};

/// At most this many entries: each costs one GetPolicy per reconcile (the controller's bound).
pub const MAX_URLS: usize = 100;

/// Qualifier → URL (`None`: delete it). Empty: every URL of the function is deleted.
pub type FunctionUrls = BTreeMap<String, Option<UrlConfig>>;

/// AWS's FunctionUrlQualifier: 1-128 characters, pattern `((?!^\d+$)^[0-9a-zA-Z-_]+$)` (an alias
/// name; never a version number, never `$LATEST`).
fn is_url_qualifier(q: &str) -> bool {
    (1..=128).contains(&q.len())
        && q.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && !q.chars().all(|c| c.is_ascii_digit())
}

fn short(s: &str) -> String {
    let cut: String = s.chars().take(64).collect();
    if cut.len() < s.len() {
        format!("{cut}…")
    } else {
        cut
    }
}

/// One CORS list: its field, its items, the most items, and each item's length range.
type CorsList<'a> = (&'static str, &'a Option<Vec<String>>, usize, usize, usize);

/// The CORS lists, as AWS's model bounds them.
fn cors_lists(c: &CorsSpec) -> [CorsList<'_>; 4] {
    [
        ("allowHeaders", &c.allow_headers, 100, 0, 1024),
        ("allowMethods", &c.allow_methods, 6, 0, 6),
        ("allowOrigins", &c.allow_origins, 100, 1, 253),
        ("exposeHeaders", &c.expose_headers, 100, 0, 1024),
    ]
}

fn check_cors(field: &str, c: &CorsSpec, err: &mut dyn FnMut(&str, String)) {
    for (name, list, most, min, max) in cors_lists(c) {
        let Some(list) = list else { continue };
        if list.len() > most {
            err(&format!("{field}.{name}"), format!("{} items: at most {most}", list.len()));
        }
        for (i, item) in list.iter().enumerate().filter(|(_, s)| !(min..=max).contains(&s.chars().count())) {
            let what = format!("`{}` must be {min}-{max} characters", short(item));
            err(&format!("{field}.{name}[{i}]"), what);
        }
    }
    if let Some(age) = c.max_age.filter(|a| !(0..=86400).contains(a)) {
        err(&format!("{field}.maxAge"), format!("{age}: must be 0-86400 seconds"));
    }
}

/// Checks `s.functionUrls`; `err(field, message)` takes paths under `spec.`.
pub fn check(s: &Spec, err: &mut dyn FnMut(&str, String)) {
    let Field::Value(urls) = &s.function_urls else { return };
    if urls.len() > MAX_URLS {
        err("functionUrls", format!("{} entries: at most {MAX_URLS}", urls.len()));
    }
    for (q, u) in urls {
        let field = format!("functionUrls.{q}");
        if q != LATEST_QUALIFIER && !is_url_qualifier(q) {
            let why = if !q.is_empty() && q.chars().all(|c| c.is_ascii_digit()) {
                "a version number: a function URL is on an alias or `$LATEST` (AWS's Qualifier pattern ((?!^\\d+$)^[0-9a-zA-Z-_]+$))"
            } else {
                "not an alias name (1-128 of letters, digits, `-`, `_`) or `$LATEST`"
            };
            err(&field, format!("`{}` is {why}", short(q)));
        }
        if let Field::Value(FunctionUrlSpec { cors: Some(c), .. }) = u {
            check_cors(&format!("{field}.cors"), c, err);
        }
    }
}

fn cors(c: &CorsSpec) -> UrlCors {
    let list = |l: &Option<Vec<String>>| l.clone().unwrap_or_default();
    UrlCors {
        allow_credentials: c.allow_credentials.unwrap_or(false),
        allow_headers: list(&c.allow_headers),
        allow_methods: list(&c.allow_methods),
        allow_origins: list(&c.allow_origins),
        expose_headers: list(&c.expose_headers),
        max_age: c.max_age.and_then(|a| i32::try_from(a).ok()).unwrap_or(0),
    }
}

/// The managed URLs (`None`: unmanaged; `null` and `{}` manage none, so every URL is deleted).
pub fn resolve(s: &Spec) -> Option<FunctionUrls> {
    let urls = match &s.function_urls {
        Field::Absent => return None,
        Field::Null => return Some(FunctionUrls::new()),
        Field::Value(u) => u,
    };
    let config = |u: &FunctionUrlSpec| UrlConfig {
        auth_type: u.auth_type,
        invoke_mode: u.invoke_mode.unwrap_or_default(),
        cors: u.cors.as_ref().map(cors).unwrap_or_default(),
    };
    let qualifier = |q: &str| if q == LATEST_QUALIFIER { String::new() } else { q.to_string() };
    Some(urls.iter().map(|(q, u)| (qualifier(q), u.value().map(config))).collect())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::manifest::load::load_file;
    use crate::manifest::snapshot::ManifestError;

    fn errors(spec: &str) -> Vec<ManifestError> {
        let head = "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: fn\nspec:\n";
        load_file(Path::new("m.yaml"), &format!("{head}{spec}")).err().unwrap_or_default()
    }

    #[track_caller]
    fn has(errs: &[ManifestError], field: &str, needle: &str) {
        let e = errs.iter().find(|e| e.field == field).unwrap_or_else(|| panic!("no error on {field}: {errs:#?}"));
        assert!(e.message.contains(needle), "{e}");
    }

    #[test]
    fn seven_cors_methods_and_a_max_age_over_a_day_are_both_refused_at_their_fields() {
        let errs = errors(
            "  aliases: {prod: {functionVersion: \"1\"}}\n  functionUrls:\n    prod:\n      authType: NONE\n      cors:\n        allowMethods: [GET, PUT, POST, HEAD, PATCH, DELETE, OPTIONS]\n        maxAge: 86401\n",
        );
        has(&errs, "spec.functionUrls.prod.cors.allowMethods", "7 items: at most 6");
        has(&errs, "spec.functionUrls.prod.cors.allowMethods[6]", "must be 0-6 characters");
        has(&errs, "spec.functionUrls.prod.cors.maxAge", "86401: must be 0-86400");
        assert_eq!(errs[0].line, 11, "{errs:#?}");
    }

    #[test]
    fn an_origin_longer_than_253_characters_is_refused() {
        let long = "o".repeat(254);
        let errs = errors(&format!(
            "  functionUrls:\n    $LATEST: {{authType: AWS_IAM, cors: {{allowOrigins: [\"{long}\"]}}}}\n"
        ));
        has(&errs, "spec.functionUrls.$LATEST.cors.allowOrigins[0]", "must be 1-253 characters");
    }

    #[test]
    fn a_version_number_as_url_qualifier_is_refused_as_aws_refuses_it() {
        let errs = errors("  functionUrls:\n    \"3\": {authType: NONE}\n");
        has(&errs, "spec.functionUrls.3", "a version number");
        let errs = errors("  functionUrls:\n    \"prod:1\": {authType: NONE}\n");
        has(&errs, "spec.functionUrls.prod:1", "not an alias name");
    }

    #[test]
    fn a_permission_named_like_a_url_statement_is_refused() {
        let errs = errors("  permissions:\n    url-invoke: {principal: \"*\"}\n");
        has(&errs, "spec.permissions.url-invoke", "belongs to functionUrls");
    }

    #[test]
    fn urls_on_latest_and_an_alias_with_cors_are_valid_and_resolve_with_aws_defaults() {
        let text = "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: fn\nspec:\n  functionUrls:\n    $LATEST: {authType: AWS_IAM, invokeMode: RESPONSE_STREAM}\n    prod: {authType: NONE, cors: {allowOrigins: [\"https://x.example\"], maxAge: 300}}\n    old: null\n";
        let m = load_file(Path::new("m.yaml"), text).unwrap().remove(0);
        let urls = super::resolve(&m.doc.spec).unwrap();
        assert_eq!(urls[""].as_ref().unwrap().invoke_mode, crate::types::UrlInvokeMode::ResponseStream);
        let prod = urls["prod"].as_ref().unwrap();
        assert_eq!((prod.invoke_mode, prod.cors.max_age), (crate::types::UrlInvokeMode::Buffered, 300));
        assert_eq!(urls["old"], None);
    }
}
