//! The canary judge: the emulator's GetMetricData (percentiles per ExecutedVersion, AWS's
//! limits) through the SDK, and the daemon judging rollouts on the versions' own metrics with no
//! alarm defined. Metrics are written with PutMetricData as Lambda would publish them.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricDatum, MetricStat};

use crate::common::daemon::{Daemon, Webhook};
use crate::common::*;

pub(crate) const F: &str = "app-pay";

pub(crate) fn manifest(function: &str, version: &str, deployment: &str) -> String {
    format!(
        "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: {function}\nspec:\n  aliases:\n    live:\n      functionVersion: \"{version}\"\n      deployment: {deployment}\n"
    )
}

/// Functions with two published versions and alias `live` on version 1.
pub(crate) async fn seeded(functions: &[&str]) -> Emulator {
    let emu = Emulator::start();
    for f in functions {
        emu.seed_function(f, 2);
        emu.lambda().await.create_alias().function_name(*f).name("live").function_version("1").send().await.unwrap();
    }
    emu
}

pub(crate) async fn live(emu: &Emulator) -> (String, BTreeMap<String, f64>) {
    let a = emu.lambda().await.get_alias().function_name(F).name("live").send().await.unwrap();
    let w = a.routing_config().and_then(|r| r.additional_version_weights()).cloned().unwrap_or_default();
    (a.function_version().unwrap_or_default().to_string(), w.into_iter().collect())
}

pub(crate) fn dims(function: &str, version: &str) -> Vec<Dimension> {
    let d = |n: &str, v: &str| Dimension::builder().name(n).value(v).build();
    vec![d("FunctionName", function), d("Resource", &format!("{function}:live")), d("ExecutedVersion", version)]
}

/// Lambda's metrics of `version` now: invocations, errors and one Duration value per invocation.
pub(crate) async fn publish(
    emu: &Emulator,
    function: &str,
    version: &str,
    invocations: u32,
    errors: u32,
    duration_ms: f64,
) {
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

pub(crate) fn now_s() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn query(id: &str, metric: &str, stat: &str, period: i32) -> MetricDataQuery {
    let m = Metric::builder().namespace("AWS/Lambda").metric_name(metric).set_dimensions(Some(dims(F, "7"))).build();
    let s = MetricStat::builder().metric(m).period(period).stat(stat).build();
    MetricDataQuery::builder().id(id).metric_stat(s).build()
}

/// The GetMetricData requests the emulator saw, as their JSON bodies.
pub(crate) fn get_metric_data(emu: &Emulator) -> Vec<serde_json::Value> {
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

/// A daemon polling every 200 ms (alarms and the judge), with alerts to `hook`.
pub(crate) fn daemon(emu: &Emulator, dir: &str, hook: &Webhook) -> Daemon {
    Daemon::start(emu, dir, &["--alarm-poll", "200ms", "--resync-interval", "1s", "--alert-webhook", &hook.url])
}

pub(crate) async fn first_step(emu: &Emulator) {
    eventually("the first step", Duration::from_secs(30), || async { live(emu).await.1.get("2") == Some(&0.1) }).await;
}

#[tokio::test]
async fn a_new_version_whose_error_rate_jumps_is_rolled_back_with_no_alarm_defined() {
    let emu = seeded(&[F]).await;
    let hook = Webhook::start("t");
    let dep = "{steps: [{weight: 10, pause: 10m}], analysis: {minInvocations: 10}}";
    let dir = manifests(&[("f.yaml", &manifest(F, "2", dep))]);
    let daemon = daemon(&emu, path(&dir), &hook);
    first_step(&emu).await;
    publish(&emu, F, "1", 1000, 5, 100.0).await;
    publish(&emu, F, "2", 100, 20, 100.0).await;
    eventually("the roll back", Duration::from_secs(30), || async {
        live(&emu).await == ("1".into(), BTreeMap::new())
    })
    .await;
    let reason = "judge: error rate 20.0 percent on version 2 vs 0.5 percent on 1 - limit +1 point";
    eventually("one RolledBack alert", Duration::from_secs(10), || async { hook.count("RolledBack", F) == 1 }).await;
    let alert = hook.alerts().into_iter().find(|a| a["kind"] == "RolledBack").unwrap();
    assert_eq!(alert["message"], reason, "{alert}");
    eventually("RolledBack in status", Duration::from_secs(10), || async {
        daemon.manifest(F)["rollouts"][0]["phase"] == "RolledBack"
    })
    .await;
    assert_eq!(daemon.counter("lambda_reconciler_judge_failures_total{result=\"rolled_back\"}"), 1.0);
}

#[tokio::test]
async fn a_healthy_new_version_waits_for_its_invocations_then_is_promoted() {
    let emu = seeded(&[F]).await;
    let hook = Webhook::start("t");
    let dep = "{steps: [{weight: 10, pause: 1s}], analysis: {minInvocations: 50, noData: {wait: 10m}}}";
    let dir = manifests(&[("f.yaml", &manifest(F, "2", dep))]);
    let daemon = daemon(&emu, path(&dir), &hook);
    first_step(&emu).await;
    eventually("waiting for invocations after the pause", Duration::from_secs(30), || async {
        let r = &daemon.manifest(F)["rollouts"][0];
        // The pause (1 s) is over: the next step waits on the judge (noData.wait, 10 m).
        r["judge"]["verdict"] == "Waiting" && r["judge"]["why"] == "0 of 50 invocations of version 2"
    })
    .await;
    // Ten more polls (2 s at 200 ms): the 1 s pause is long over.
    let polls = get_metric_data(&emu).len();
    eventually("ten more polls", Duration::from_secs(30), || async { get_metric_data(&emu).len() >= polls + 10 }).await;
    assert_eq!(live(&emu).await.1.get("2"), Some(&0.1), "held at the step while the judge waits");
    publish(&emu, F, "1", 1000, 1, 100.0).await;
    publish(&emu, F, "2", 100, 0, 105.0).await;
    eventually("promoted", Duration::from_secs(30), || async { live(&emu).await == ("2".into(), BTreeMap::new()) })
        .await;
    assert_eq!(hook.count("RolledBack", F), 0);
}

#[tokio::test]
async fn a_dry_run_reports_a_failing_judge_once_and_the_rollout_goes_on() {
    let emu = seeded(&[F]).await;
    let hook = Webhook::start("t");
    let dep = "{steps: [{weight: 10, pause: 4s}], analysis: {minInvocations: 10, dryRun: true}}";
    let dir = manifests(&[("f.yaml", &manifest(F, "2", dep))]);
    let daemon = daemon(&emu, path(&dir), &hook);
    first_step(&emu).await;
    publish(&emu, F, "1", 1000, 5, 100.0).await;
    publish(&emu, F, "2", 100, 20, 100.0).await;
    eventually("the dry-run alert", Duration::from_secs(30), || async { hook.count("JudgeFailedDryRun", F) == 1 })
        .await;
    let alert = hook.alerts().into_iter().find(|a| a["kind"] == "JudgeFailedDryRun").unwrap();
    assert_eq!(
        alert["message"], "error rate 20.0 percent on version 2 vs 0.5 percent on 1 - limit +1 point",
        "{alert}"
    );
    eventually("promoted anyway", Duration::from_secs(30), || async {
        live(&emu).await == ("2".into(), BTreeMap::new())
    })
    .await;
    assert_eq!(hook.count("JudgeFailedDryRun", F), 1, "alerted once: {:?}", hook.alerts());
    assert_eq!(daemon.counter("lambda_reconciler_judge_failures_total{result=\"dry_run\"}"), 1.0);
    assert_eq!(hook.count("RolledBack", F), 0);
}

#[tokio::test]
async fn a_restart_in_the_middle_of_an_analysis_continues_from_cloudwatch() {
    let emu = seeded(&[F]).await;
    let hook = Webhook::start("t");
    let dep = "{steps: [{weight: 10, pause: 10m}], analysis: {minInvocations: 10}}";
    let dir = manifests(&[("f.yaml", &manifest(F, "2", dep))]);
    let first = daemon(&emu, path(&dir), &hook);
    first_step(&emu).await;
    publish(&emu, F, "2", 5, 0, 100.0).await;
    eventually("judging", Duration::from_secs(30), || async {
        first.manifest(F)["rollouts"][0]["judge"]["verdict"] == "Waiting"
    })
    .await;
    first.kill9();
    drop(first);
    publish(&emu, F, "1", 1000, 5, 100.0).await;
    publish(&emu, F, "2", 95, 20, 100.0).await;
    let _second = daemon(&emu, path(&dir), &hook);
    eventually("the roll back", Duration::from_secs(30), || async {
        live(&emu).await == ("1".into(), BTreeMap::new())
    })
    .await;
    eventually("its reason", Duration::from_secs(10), || async { hook.count("RolledBack", F) == 1 }).await;
    let alert = hook.alerts().into_iter().find(|a| a["kind"] == "RolledBack").unwrap();
    assert_eq!(
        alert["message"], "judge: error rate 20.0 percent on version 2 vs 0.5 percent on 1 - limit +1 point",
        "{alert}"
    );
}

#[tokio::test]
async fn twenty_judged_rollouts_in_a_region_cost_one_get_metric_data_per_poll() {
    let names: Vec<String> = (0..20).map(|i| format!("app-{i:02}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let emu = seeded(&refs).await;
    let dep = "{steps: [{weight: 10, pause: 10m}], analysis: {minInvocations: 10}}";
    let files: Vec<(String, String)> = names.iter().map(|n| (format!("{n}.yaml"), manifest(n, "2", dep))).collect();
    let files: Vec<(&str, &str)> = files.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let dir = manifests(&files);
    let _daemon = Daemon::start(&emu, path(&dir), &["--alarm-poll", "1s", "--resync-interval", "500ms"]);
    let all = |bodies: &[serde_json::Value]| {
        bodies.iter().any(|b| b["MetricDataQueries"].as_array().map_or(0, Vec::len) == 20 * 8)
    };
    eventually("a poll of all 20", Duration::from_secs(60), || async { all(&get_metric_data(&emu)) }).await;
    emu.clear_requests();
    eventually("three more polls", Duration::from_secs(30), || async { get_metric_data(&emu).len() >= 3 }).await;
    let sizes: Vec<usize> =
        get_metric_data(&emu).iter().map(|b| b["MetricDataQueries"].as_array().map_or(0, Vec::len)).collect();
    assert!(sizes.iter().all(|n| *n == 160), "every call answers all 20 rollouts, none reads its own: {sizes:?}");
    let reconciles =
        emu.requests().iter().filter(|r| r["path"].as_str().unwrap_or("").contains("/functions/app-")).count();
    assert!(reconciles > 0, "the functions were reconciled meanwhile (from the poll's answer)");
}
