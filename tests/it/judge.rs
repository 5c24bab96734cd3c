//! The canary judge: the emulator's GetMetricData (percentiles per ExecutedVersion, AWS's
//! limits) through the SDK, and the daemon judging rollouts on the versions' own metrics with no
//! alarm defined. Metrics are written with PutMetricData as Lambda would publish them.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricDatum, MetricStat};

use crate::common::daemon::{Daemon, Webhook};
use crate::common::*;

const F: &str = "app-pay";

fn manifest(function: &str, version: &str, deployment: &str) -> String {
    format!(
        "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: {function}\nspec:\n  aliases:\n    live:\n      functionVersion: \"{version}\"\n      deployment: {deployment}\n"
    )
}

/// Functions with two published versions and alias `live` on version 1.
async fn seeded(functions: &[&str]) -> Emulator {
    let emu = Emulator::start();
    for f in functions {
        emu.seed_function(f, 2);
        emu.lambda().await.create_alias().function_name(*f).name("live").function_version("1").send().await.unwrap();
    }
    emu
}

async fn live(emu: &Emulator) -> (String, BTreeMap<String, f64>) {
    let a = emu.lambda().await.get_alias().function_name(F).name("live").send().await.unwrap();
    let w = a.routing_config().and_then(|r| r.additional_version_weights()).cloned().unwrap_or_default();
    (a.function_version().unwrap_or_default().to_string(), w.into_iter().collect())
}

fn dims(function: &str, version: &str) -> Vec<Dimension> {
    let d = |n: &str, v: &str| Dimension::builder().name(n).value(v).build();
    vec![d("FunctionName", function), d("Resource", &format!("{function}:live")), d("ExecutedVersion", version)]
}

/// Lambda's metrics of `version` now: invocations, errors and one Duration value per invocation.
async fn publish(emu: &Emulator, function: &str, version: &str, invocations: u32, errors: u32, duration_ms: f64) {
    let now = DateTime::from_secs(now_s());
    let datum = |name: &str, value: f64| {
        MetricDatum::builder()
            .metric_name(name)
            .set_dimensions(Some(dims(function, version)))
            .timestamp(now)
            .value(value)
            .build()
    };
    let durations = MetricDatum::builder()
        .metric_name("Duration")
        .set_dimensions(Some(dims(function, version)))
        .timestamp(now)
        .values(duration_ms)
        .counts(f64::from(invocations))
        .build();
    emu.cloudwatch()
        .await
        .put_metric_data()
        .namespace("AWS/Lambda")
        .metric_data(datum("Invocations", f64::from(invocations)))
        .metric_data(datum("Errors", f64::from(errors)))
        .metric_data(durations)
        .send()
        .await
        .unwrap();
}

fn now_s() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn query(id: &str, metric: &str, stat: &str, period: i32) -> MetricDataQuery {
    let m = Metric::builder().namespace("AWS/Lambda").metric_name(metric).set_dimensions(Some(dims(F, "7"))).build();
    let s = MetricStat::builder().metric(m).period(period).stat(stat).build();
    MetricDataQuery::builder().id(id).metric_stat(s).build()
}

/// The GetMetricData requests the emulator saw, as their JSON bodies.
fn get_metric_data(emu: &Emulator) -> Vec<serde_json::Value> {
    emu.requests()
        .into_iter()
        .filter(|r| r["path"].as_str().unwrap_or("").ends_with("/operation/GetMetricData"))
        .map(|r| serde_json::from_str(r["body"].as_str().unwrap_or("{}")).unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn the_emulator_answers_percentiles_of_the_raw_values_put_per_executed_version() {
    let emu = Emulator::start();
    let cw = emu.cloudwatch().await;
    let values: Vec<f64> = (1..=1000).map(f64::from).collect();
    let datum = MetricDatum::builder()
        .metric_name("Duration")
        .set_dimensions(Some(dims(F, "7")))
        .timestamp(DateTime::from_secs(now_s()))
        .set_values(Some(values))
        .build();
    let other = MetricDatum::builder()
        .metric_name("Duration")
        .set_dimensions(Some(dims(F, "6")))
        .timestamp(DateTime::from_secs(now_s()))
        .value(5000.0)
        .build();
    cw.put_metric_data().namespace("AWS/Lambda").metric_data(datum).metric_data(other).send().await.unwrap();
    let out = cw
        .get_metric_data()
        .metric_data_queries(query("p99", "Duration", "p99", 3600))
        .metric_data_queries(query("p50", "Duration", "p50", 3600))
        .metric_data_queries(query("p999", "Duration", "p99.9", 3600))
        .metric_data_queries(query("avg", "Duration", "Average", 3600))
        .start_time(DateTime::from_secs(now_s() - 600))
        .end_time(DateTime::from_secs(now_s() + 600))
        .send()
        .await
        .unwrap();
    let got: BTreeMap<&str, Vec<f64>> =
        out.metric_data_results().iter().map(|r| (r.id().unwrap(), r.values().to_vec())).collect();
    let want =
        BTreeMap::from([("avg", vec![500.5]), ("p50", vec![500.0]), ("p99", vec![990.0]), ("p999", vec![999.0])]);
    assert_eq!(got, want);
}

#[tokio::test]
async fn the_emulator_refuses_get_metric_data_beyond_awss_limits() {
    let emu = Emulator::start();
    let cw = emu.cloudwatch().await;
    let (start, end) = (DateTime::from_secs(now_s() - 600), DateTime::from_secs(now_s()));
    let call = |queries: Vec<MetricDataQuery>, start: DateTime, end: DateTime| {
        cw.get_metric_data().set_metric_data_queries(Some(queries)).start_time(start).end_time(end).send()
    };
    let many: Vec<MetricDataQuery> = (0..501).map(|i| query(&format!("q{i}"), "Invocations", "Sum", 60)).collect();
    let e = call(many, start, end).await.unwrap_err().into_service_error();
    assert!(e.to_string().contains("less than or equal to 500") || format!("{e:?}").contains("500"), "{e:?}");
    let five_hundred: Vec<MetricDataQuery> =
        (0..500).map(|i| query(&format!("q{i}"), "Invocations", "Sum", 60)).collect();
    call(five_hundred, start, end).await.unwrap();
    for bad in [90, 7, 0] {
        let e = call(vec![query("q", "Invocations", "Sum", bad)], start, end).await.unwrap_err().into_service_error();
        assert!(format!("{e:?}").contains("must be 1, 5, 10, 20, 30, 60 or a multiple of 60"), "{bad}: {e:?}");
    }
    for good in [1, 5, 10, 20, 30, 60, 120] {
        call(vec![query("q", "Invocations", "Sum", good)], start, end).await.unwrap();
    }
    let e = call(vec![query("q", "Invocations", "Sum", 60)], end, end).await.unwrap_err().into_service_error();
    assert!(format!("{e:?}").contains("StartTime must not equal"), "{e:?}");
}
