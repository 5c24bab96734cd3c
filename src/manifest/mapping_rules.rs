//! Validation of `eventSourceMappings` against Lambda's rules per source type (SQS, FIFO SQS,
//! Kinesis and DynamoDB streams), and their resolution keyed by (source, qualifier).

use std::collections::{BTreeMap, BTreeSet};

use super::model::{EventSourceMapping, Spec};
use crate::types::{normalize_pattern, DesiredMapping, MappingConfig};

/// (source ARN, qualifier or "" for the unqualified function) → the mapping.
pub type Mappings = BTreeMap<(String, String), DesiredMapping>;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Sqs,
    Fifo,
    Stream,
}

fn kind(source: &str) -> Option<Kind> {
    let p: Vec<&str> = source.splitn(6, ':').collect();
    if p.len() < 6 || p[0] != "arn" || !p[1].starts_with("aws") || p[5].is_empty() {
        return None;
    }
    match p[2] {
        "sqs" if source.ends_with(".fifo") => Some(Kind::Fifo),
        "sqs" => Some(Kind::Sqs),
        "kinesis" if p[5].starts_with("stream/") => Some(Kind::Stream),
        "dynamodb" if p[5].contains("/stream/") => Some(Kind::Stream),
        _ => None,
    }
}

fn qualifier(m: &EventSourceMapping) -> String {
    m.qualifier.as_ref().map(|q| q.as_text()).unwrap_or_default()
}

/// Checks every mapping; `err(field, message)` takes paths under `spec.`.
pub fn check(s: &Spec, err: &mut dyn FnMut(&str, String)) {
    let Some(list) = &s.event_source_mappings else { return };
    let mut seen = BTreeSet::new();
    for (i, m) in list.iter().enumerate() {
        let f = |name: &str| format!("eventSourceMappings[{i}].{name}");
        let Some(k) = kind(&m.source) else {
            err(&f("source"), format!("`{}` is not an SQS queue, Kinesis stream or DynamoDB stream ARN", m.source));
            continue;
        };
        if !seen.insert((m.source.clone(), qualifier(m))) {
            err(
                &f("source"),
                "listed twice for the same qualifier (a mapping is keyed by source and qualifier)".into(),
            );
        }
        let mut range = |name: &str, v: Option<i64>, lo: i64, hi: i64| {
            if let Some(n) = v.filter(|n| !(lo..=hi).contains(n)) {
                err(&f(name), format!("{n} is outside {lo}-{hi}"));
            }
        };
        range("batchSize", m.batch_size, 1, if k == Kind::Fifo { 10 } else { 10_000 });
        range("maximumBatchingWindow", m.maximum_batching_window, 0, 300);
        range("maximumConcurrency", m.maximum_concurrency, 2, 1000);
        range("parallelizationFactor", m.parallelization_factor, 1, 10);
        range("maximumRetryAttempts", m.maximum_retry_attempts, -1, 10_000);
        if let Some(age) = m.maximum_record_age.filter(|a| *a != -1 && !(60..=604_800).contains(a)) {
            err(&f("maximumRecordAge"), format!("{age} is neither -1 (forever) nor 60-604800 seconds"));
        }
        // services-sqs-parameters, MaximumBatchingWindowInSeconds: "Batching window is not
        // supported for FIFO queues" (0, the default, sets none).
        if k == Kind::Fifo && m.maximum_batching_window.is_some_and(|w| w > 0) {
            err(&f("maximumBatchingWindow"), "FIFO queues do not support a batching window: leave it out".into());
        }
        // "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10"
        if k != Kind::Stream && m.batch_size.is_some_and(|b| b > 10) && m.maximum_batching_window.unwrap_or(0) < 1 {
            err(&f("batchSize"), "over 10 for SQS needs maximumBatchingWindow of at least 1 second".into());
        }
        let stream_only = [
            ("startingPosition", m.starting_position.is_some()),
            ("parallelizationFactor", m.parallelization_factor.is_some()),
            ("bisectBatchOnFunctionError", m.bisect_batch_on_function_error.is_some()),
            ("maximumRetryAttempts", m.maximum_retry_attempts.is_some()),
            ("maximumRecordAge", m.maximum_record_age.is_some()),
            ("onFailure", m.on_failure.is_some()),
        ];
        for (name, set) in stream_only {
            if set && k != Kind::Stream {
                err(&f(name), "applies to Kinesis and DynamoDB streams only".into());
            }
        }
        if m.maximum_concurrency.is_some() && k == Kind::Stream {
            err(&f("maximumConcurrency"), "applies to SQS only".into());
        }
        if let Some(p) = m.starting_position.as_deref().filter(|p| !["LATEST", "TRIM_HORIZON"].contains(p)) {
            err(&f("startingPosition"), format!("`{p}` is not LATEST or TRIM_HORIZON"));
        }
        for t in m.function_response_types.iter().flatten().filter(|t| *t != "ReportBatchItemFailures") {
            err(&f("functionResponseTypes"), format!("`{t}` is not ReportBatchItemFailures"));
        }
        if let Some(filters) = &m.filters {
            if filters.len() > 5 {
                err(&f("filters"), format!("{} filters, over Lambda's 5", filters.len()));
            }
            for (j, p) in filters.iter().enumerate() {
                if serde_json::from_str::<serde_json::Value>(p).map_or(true, |v| !v.is_object()) {
                    err(&f(&format!("filters[{j}]")), "not a JSON object pattern".into());
                }
            }
        }
        if let Some(d) = &m.on_failure {
            let p: Vec<&str> = d.splitn(6, ':').collect();
            if !(p.len() == 6 && p[0] == "arn" && ["sqs", "sns"].contains(&p[2])) {
                err(&f("onFailure"), format!("`{d}` is not an SQS queue or SNS topic ARN"));
            }
        }
    }
}

/// The managed mappings (`None`: unmanaged).
pub fn resolve(s: &Spec) -> Option<Mappings> {
    let list = s.event_source_mappings.as_ref()?;
    let stream = |m: &EventSourceMapping| kind(&m.source) == Some(Kind::Stream);
    Some(
        list.iter()
            .map(|m| {
                let config = MappingConfig {
                    enabled: Some(m.enabled.unwrap_or(true)),
                    batch_size: m.batch_size,
                    maximum_batching_window: m.maximum_batching_window,
                    maximum_concurrency: m.maximum_concurrency,
                    function_response_types: m.function_response_types.clone(),
                    filters: m.filters.as_ref().map(|f| f.iter().map(|p| normalize_pattern(p)).collect()),
                    parallelization_factor: m.parallelization_factor,
                    bisect_batch_on_function_error: m.bisect_batch_on_function_error,
                    maximum_retry_attempts: m.maximum_retry_attempts,
                    maximum_record_age: m.maximum_record_age,
                    on_failure: m.on_failure.clone(),
                };
                let start = m.starting_position.clone().or_else(|| stream(m).then(|| "LATEST".to_string()));
                ((m.source.clone(), qualifier(m)), DesiredMapping { config, starting_position: start })
            })
            .collect(),
    )
}
