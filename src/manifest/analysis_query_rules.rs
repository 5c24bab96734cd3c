//! Validation of the canary judge's extra measures (`deadLetterErrors`,
//! `destinationDeliveryFailures`, `iteratorAge`) and user metric `queries` with their bounds, and
//! their resolution into measures.

use std::collections::BTreeSet;

use crate::types::{AnalysisSpec, DeliverySpec, Fold, Measure, MetricQuery, UserQuerySpec};

/// User metric queries per analysis: with the 3 extra metrics, a rollout asks at most
/// 8 + 2 × 13 = 34 of GetMetricData's 500 queries a call.
pub const MAX_QUERIES: usize = 10;
/// CloudWatch's Metric.Dimensions: "Maximum number of 30 items".
pub const MAX_DIMENSIONS: usize = 30;
/// CloudWatch's Namespace, MetricName and Dimension.Name: "Maximum length of 255".
pub const MAX_NAME: usize = 255;
/// CloudWatch's Dimension.Value: "Maximum length of 1024" (after the placeholders are filled).
pub const MAX_VALUE: usize = 1024;
pub const MAX_QUERY_NAME: usize = 64;
pub const MAX_COUNT: f64 = 1e9;
/// A stream's longest retention (Kinesis: 365 days).
pub const MAX_ITERATOR_AGE_MS: f64 = 31_536_000_000.0;
pub const MAX_QUERY_RATIO: f64 = 1000.0;
/// The placeholders and the longest text each stands for (a function name 64, an alias 128,
/// a version number).
const PLACEHOLDERS: [(&str, usize); 3] = [("{function}", 64), ("{alias}", 128), ("{version}", 16)];
const STATS: [&str; 5] = ["Sum", "SampleCount", "Average", "Minimum", "Maximum"];

fn excerpt(s: &str) -> String {
    s.chars().take(32).collect()
}

fn range(err: &mut dyn FnMut(&str, String), field: &str, v: Option<f64>, lo: f64, hi: f64) {
    if let Some(v) = v.filter(|v| !(v.is_finite() && *v >= lo && *v <= hi)) {
        err(field, format!("{v} is outside {lo}-{hi}"));
    }
}

fn delivery(err: &mut dyn FnMut(&str, String), field: &str, d: &DeliverySpec) {
    range(err, &format!("{field}.maxIncrease"), d.max_increase, 0.0, 100.0);
    range(err, &format!("{field}.max"), d.max, 0.0, MAX_COUNT);
    if d.max_increase.is_none() && d.max.is_none() {
        err(field, "give `maxIncrease`, `max` or both".into());
    }
}

/// The longest a dimension value can be once its placeholders are filled, or the first
/// `{…}` that is not a placeholder.
fn filled_len(v: &str) -> Result<usize, String> {
    let mut len = v.len();
    let mut rest = v;
    while let Some(i) = rest.find('{') {
        let tail = &rest[i..];
        let Some((p, longest)) = PLACEHOLDERS.iter().find(|(p, _)| tail.starts_with(p)) else {
            return Err(format!("`{}` is not a placeholder ({{function}}, {{alias}}, {{version}})", excerpt(tail)));
        };
        len = len - p.len() + longest;
        rest = &tail[p.len()..];
    }
    Ok(len)
}

fn tag_safe(s: &str) -> bool {
    s.chars().all(|c| c.is_ascii_alphanumeric() || c == ' ' || "_.:/=+-@".contains(c))
}

fn query(err: &mut dyn FnMut(&str, String), f: &str, q: &UserQuerySpec, percentile_ok: fn(&str) -> bool) {
    if q.name.is_empty() || q.name.len() > MAX_QUERY_NAME || !tag_safe(&q.name) {
        let why = format!("1-{MAX_QUERY_NAME} of letters, digits, space and _.:/=+-@");
        err(&format!("{f}.name"), format!("`{}`: {why} (the name is in the verdict's reason)", excerpt(&q.name)));
    }
    if q.namespace.is_empty() || q.namespace.len() > MAX_NAME || q.namespace.starts_with(':') {
        err(&format!("{f}.namespace"), format!("a namespace is 1-{MAX_NAME} characters, not starting with `:`"));
    }
    if q.metric.is_empty() || q.metric.len() > MAX_NAME {
        err(&format!("{f}.metric"), format!("a metric name is 1-{MAX_NAME} characters"));
    }
    if q.dimensions.len() > MAX_DIMENSIONS {
        err(
            &format!("{f}.dimensions"),
            format!("{} dimensions; CloudWatch allows {MAX_DIMENSIONS}", q.dimensions.len()),
        );
    }
    for (name, value) in &q.dimensions {
        let field = format!("{f}.dimensions.{}", excerpt(name));
        if name.is_empty() || name.len() > MAX_NAME {
            err(&field, format!("a dimension name is 1-{MAX_NAME} characters"));
        }
        match filled_len(value) {
            Err(m) => err(&field, m),
            Ok(0) => err(&field, "a dimension value is at least 1 character".into()),
            Ok(n) if n > MAX_VALUE => {
                err(&field, format!("up to {n} characters once filled in; CloudWatch allows {MAX_VALUE}"))
            }
            Ok(_) => {}
        }
    }
    if let Some(s) = q.stat.as_deref().filter(|s| !STATS.contains(s) && !percentile_ok(s)) {
        err(
            &format!("{f}.stat"),
            format!("`{}` is not Sum, SampleCount, Average, Minimum, Maximum or p50…p99.9", excerpt(s)),
        );
    }
    range(err, &format!("{f}.maxRatio"), q.max_ratio, 1.0, MAX_QUERY_RATIO);
    range(err, &format!("{f}.max"), q.max, -1e15, 1e15);
    if q.max_ratio.is_none() && q.max.is_none() {
        err(f, "give `maxRatio`, `max` or both".into());
    }
}

/// Checks the extra measures of `a`; `err(field, message)` takes paths relative to `analysis`.
pub fn check(a: &AnalysisSpec, err: &mut dyn FnMut(&str, String), percentile_ok: fn(&str) -> bool) {
    if let Some(d) = &a.dead_letter_errors {
        delivery(err, "deadLetterErrors", d);
    }
    if let Some(d) = &a.destination_delivery_failures {
        delivery(err, "destinationDeliveryFailures", d);
    }
    if let Some(i) = &a.iterator_age {
        range(err, "iteratorAge.maxMs", i.max_ms, 1.0, MAX_ITERATOR_AGE_MS);
        range(err, "iteratorAge.maxRatio", i.max_ratio, 1.0, 100.0);
        if i.max_ms.is_none() && i.max_ratio.is_none() {
            err("iteratorAge", "give `maxMs`, `maxRatio` or both".into());
        }
    }
    if a.queries.len() > MAX_QUERIES {
        err("queries", format!("{} queries; at most {MAX_QUERIES}", a.queries.len()));
    }
    let mut names = BTreeSet::new();
    for (i, q) in a.queries.iter().enumerate() {
        query(err, &format!("queries[{i}]"), q, percentile_ok);
        if !names.insert(q.name.as_str()) {
            err(&format!("queries[{i}].name"), format!("`{}` names another query too", excerpt(&q.name)));
        }
    }
}

fn fold(stat: &str) -> Fold {
    match stat {
        "Sum" | "SampleCount" => Fold::Sum,
        "Maximum" => Fold::Max,
        "Minimum" => Fold::Min,
        _ => Fold::Mean,
    }
}

/// The measures of a valid `a`, in a fixed order (the built-in ones, then the queries).
pub fn resolve(a: &AnalysisSpec) -> Vec<Measure> {
    let mut out = vec![];
    for (name, d) in
        [("DeadLetterErrors", &a.dead_letter_errors), ("DestinationDeliveryFailures", &a.destination_delivery_failures)]
    {
        if let Some(d) = d {
            let query = MetricQuery::lambda(name, "Sum", Fold::Sum);
            out.push(Measure {
                name: name.into(),
                query,
                max_increase: d.max_increase,
                max_ratio: None,
                max: d.max,
                unit: "",
            });
        }
    }
    if let Some(i) = &a.iterator_age {
        let query = MetricQuery::lambda("IteratorAge", "Maximum", Fold::Max);
        out.push(Measure {
            name: "IteratorAge".into(),
            query,
            max_increase: None,
            max_ratio: i.max_ratio,
            max: i.max_ms,
            unit: " ms",
        });
    }
    for q in a.queries.iter().take(MAX_QUERIES) {
        let stat = q.stat.clone().unwrap_or_else(|| "Sum".into());
        let query = MetricQuery {
            namespace: q.namespace.clone(),
            metric: q.metric.clone(),
            dimensions: q.dimensions.iter().map(|(n, v)| (n.clone(), v.clone())).collect(),
            fold: fold(&stat),
            stat,
        };
        out.push(Measure {
            name: q.name.clone(),
            query,
            max_increase: None,
            max_ratio: q.max_ratio,
            max: q.max,
            unit: "",
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::load::load_file;

    const HEAD: &str = "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: fn\nspec:\n  aliases:\n    live:\n      functionVersion: \"7\"\n      deployment:\n        steps: [{weight: 10, pause: 1m}]\n        analysis:\n";

    fn errors(body: &str) -> Vec<(String, usize, String)> {
        let errs = load_file(Path::new("m.yaml"), &format!("{HEAD}{body}")).err().unwrap_or_default();
        errs.into_iter().map(|e| (e.field, e.line, e.message)).collect()
    }

    #[track_caller]
    fn one(body: &str, field: &str, line: usize, needle: &str) {
        let errs = errors(body);
        let full = format!("spec.aliases.live.deployment.analysis.{field}");
        let e = errs.iter().find(|e| e.0 == full).unwrap_or_else(|| panic!("no error on {full}: {errs:#?}"));
        assert_eq!(e.1, line, "{e:?}");
        assert!(e.2.contains(needle), "{e:?}");
    }

    fn q(fields: &str) -> String {
        format!("          queries:\n          - name: pay\n            namespace: App\n            metric: Failures\n{fields}")
    }

    #[test]
    fn extra_metrics_out_of_their_bounds_are_refused_at_each_fields_line() {
        one("          deadLetterErrors: {maxIncrease: 101}\n", "deadLetterErrors.maxIncrease", 12, "outside 0-100");
        one("          deadLetterErrors: {}\n", "deadLetterErrors", 12, "give `maxIncrease`, `max` or both");
        one("          destinationDeliveryFailures: {max: -1}\n", "destinationDeliveryFailures.max", 12, "outside 0-");
        one("          iteratorAge: {maxMs: 0}\n", "iteratorAge.maxMs", 12, "outside 1-");
        one("          iteratorAge: {maxRatio: 0.5}\n", "iteratorAge.maxRatio", 12, "outside 1-100");
        one("          iteratorAge: {}\n", "iteratorAge", 12, "give `maxMs`");
        let ok = "          deadLetterErrors: {max: 0}\n          destinationDeliveryFailures: {maxIncrease: 1}\n          iteratorAge: {maxMs: 60000, maxRatio: 2}\n";
        assert_eq!(errors(ok), vec![]);
    }

    #[test]
    fn a_user_query_out_of_its_bounds_is_refused_at_its_fields_line() {
        assert_eq!(errors(&q("            dimensions: {FunctionName: \"{function}\", Resource: \"{function}:{alias}\", ExecutedVersion: \"{version}\"}\n            stat: p99\n            maxRatio: 1.5\n")), vec![]);
        one(
            &q("            max: 1\n").replace("name: pay", "name: \"pay|x\""),
            "queries[0].name",
            13,
            "letters, digits",
        );
        one(
            &q("            max: 1\n").replace("namespace: App", "namespace: \":App\""),
            "queries[0].namespace",
            14,
            "not starting with `:`",
        );
        one(
            &q("            max: 1\n").replace("metric: Failures", &format!("metric: {}", "m".repeat(256))),
            "queries[0].metric",
            15,
            "1-255",
        );
        one(&q("            max: 1\n            stat: p100\n"), "queries[0].stat", 17, "is not Sum");
        one(&q("            maxRatio: 0.5\n"), "queries[0].maxRatio", 16, "outside 1-1000");
        one(&q("            stat: Sum\n"), "queries[0]", 13, "give `maxRatio`, `max` or both");
        one(
            &q("            max: 1\n            dimensions: {Stage: \"{stage}\"}\n"),
            "queries[0].dimensions.Stage",
            17,
            "`{stage}` is not a placeholder",
        );
        let long = format!("            max: 1\n            dimensions: {{A: \"{}{{alias}}\"}}\n", "a".repeat(900));
        one(&q(&long), "queries[0].dimensions.A", 17, "once filled in; CloudWatch allows 1024");
        let long_name = format!("            max: 1\n            dimensions: {{{}: v}}\n", "n".repeat(256));
        one(&q(&long_name), &format!("queries[0].dimensions.{}", "n".repeat(32)), 17, "1-255");
        one(&q("            max: 1\n            dimensions: {A: \"\"}\n"), "queries[0].dimensions.A", 17, "at least 1");
        one(&q("            max: 1e16\n"), "queries[0].max", 16, "outside");
        let many: String = (0..31).map(|i| format!("D{i}: v, ")).collect();
        one(
            &q(&format!("            max: 1\n            dimensions: {{{many}}}\n")),
            "queries[0].dimensions",
            17,
            "31 dimensions; CloudWatch allows 30",
        );
        let twice =
            format!("{}          - {{name: pay, namespace: App, metric: M, max: 1}}\n", q("            max: 1\n"));
        one(&twice, "queries[1].name", 17, "names another query");
        let eleven: String =
            (0..11).map(|i| format!("          - {{name: q{i}, namespace: App, metric: M, max: 1}}\n")).collect();
        one(&format!("          queries:\n{eleven}"), "queries", 12, "11 queries; at most 10");
    }

    #[test]
    fn extra_metrics_and_queries_resolve_into_measures_in_order() {
        let body = format!(
            "          iteratorAge: {{maxMs: 60000}}\n          deadLetterErrors: {{max: 3}}\n{}",
            q("            stat: Maximum\n            maxRatio: 2\n")
        );
        let ms = load_file(Path::new("m.yaml"), &format!("{HEAD}{body}")).unwrap();
        let d = super::super::deploy_rules::resolve(ms[0].doc.spec.aliases["live"].deployment.as_ref().unwrap());
        let m = d.analysis.unwrap().measures;
        let names: Vec<(&str, &str, &str)> =
            m.iter().map(|m| (m.name.as_str(), m.query.metric.as_str(), m.query.stat.as_str())).collect();
        assert_eq!(
            names,
            vec![
                ("DeadLetterErrors", "DeadLetterErrors", "Sum"),
                ("IteratorAge", "IteratorAge", "Maximum"),
                ("pay", "Failures", "Maximum")
            ]
        );
        assert_eq!(
            (m[1].max, m[1].unit, m[2].max_ratio, m[2].query.fold),
            (Some(60000.0), " ms", Some(2.0), crate::types::Fold::Max)
        );
    }
}
