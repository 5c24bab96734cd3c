//! The canary judge's extra measures end to end: Lambda's DeadLetterErrors per ExecutedVersion
//! and a user metric query (its dimensions filled per version) each roll a rollout back with no
//! alarm; the emulator reads a user metric by its namespace and refuses what CloudWatch refuses.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricDatum, MetricStat};

use crate::common::daemon::Webhook;
use crate::common::*;
use crate::judge::{daemon, dims, first_step, live, manifest, now_s, publish, seeded, F};

fn dim(n: &str, v: &str) -> Dimension {
    Dimension::builder().name(n).value(v).build()
}

/// Puts one value of `namespace`/`metric` with `dims` now.
async fn put(emu: &Emulator, namespace: &str, metric: &str, dims: Vec<Dimension>, value: f64) {
    let datum = MetricDatum::builder()
        .metric_name(metric)
        .set_dimensions(Some(dims))
        .timestamp(DateTime::from_secs(now_s()))
        .value(value)
        .build();
    emu.cloudwatch().await.put_metric_data().namespace(namespace).metric_data(datum).send().await.unwrap();
}

fn query(id: &str, namespace: &str, metric: &str, dims: Vec<Dimension>) -> MetricDataQuery {
    let m = Metric::builder().namespace(namespace).metric_name(metric).set_dimensions(Some(dims)).build();
    let s = MetricStat::builder().metric(m).period(60).stat("Sum").build();
    MetricDataQuery::builder().id(id).metric_stat(s).build()
}

#[tokio::test]
async fn the_emulator_reads_a_user_metric_by_its_namespace_and_refuses_what_cloudwatch_refuses() {
    let emu = Emulator::start();
    let app = || vec![dim("Service", F), dim("Version", "2")];
    put(&emu, "App", "Errors", app(), 7.0).await;
    put(&emu, "AWS/Lambda", "Errors", app(), 1000.0).await;
    let cw = emu.cloudwatch().await;
    let (start, end) = (DateTime::from_secs(now_s() - 600), DateTime::from_secs(now_s() + 600));
    let call = |queries: Vec<MetricDataQuery>| {
        cw.get_metric_data().set_metric_data_queries(Some(queries)).start_time(start).end_time(end).send()
    };
    let out =
        call(vec![query("app", "App", "Errors", app()), query("lambda", "AWS/Lambda", "Errors", app())]).await.unwrap();
    let got: BTreeMap<&str, f64> =
        out.metric_data_results().iter().map(|r| (r.id().unwrap(), r.values().iter().sum())).collect();
    assert_eq!(got, BTreeMap::from([("app", 7.0), ("lambda", 1000.0)]), "each namespace reads its own");
    let refused = |queries: Vec<MetricDataQuery>| async {
        let e = call(queries).await.unwrap_err().into_service_error();
        format!("{e:?}")
    };
    let many: Vec<Dimension> = (0..31).map(|i| dim(&format!("D{i}"), "v")).collect();
    assert!(refused(vec![query("q", "App", "M", many)]).await.contains("less than or equal to 30"));
    let thirty: Vec<Dimension> = (0..30).map(|i| dim(&format!("D{i}"), "v")).collect();
    call(vec![query("q", "App", "M", thirty)]).await.unwrap();
    assert!(refused(vec![query("Q", "App", "M", app())]).await.contains("must start with a lowercase letter"));
    let twice = vec![query("q", "App", "M", app()), query("q", "App", "N", app())];
    assert!(refused(twice).await.contains("must be unique"));
    assert!(refused(vec![query("q", ":App", "M", app())]).await.contains("[^:].*"));
    assert!(refused(vec![query("q", "App", &"m".repeat(256), app())]).await.contains("between 1 and 255"));
    let long = vec![dim("Service", &"v".repeat(1025))];
    assert!(refused(vec![query("q", "App", "M", long)]).await.contains("between 1 and 1024"));
    call(vec![query("q", "App", "M", vec![dim("Service", &"v".repeat(1024))])]).await.unwrap();
}

#[tokio::test]
async fn a_new_version_whose_dead_letter_errors_pass_their_limit_is_rolled_back() {
    let emu = seeded(&[F]).await;
    let hook = Webhook::start("t");
    let dep = "{steps: [{weight: 10, pause: 10m}], analysis: {minInvocations: 10, deadLetterErrors: {max: 5}}}";
    let dir = manifests(&[("f.yaml", &manifest(F, "2", dep))]);
    let daemon = daemon(&emu, path(&dir), &hook);
    first_step(&emu).await;
    publish(&emu, F, "1", 1000, 5, 100.0).await;
    publish(&emu, F, "2", 100, 1, 100.0).await;
    put(&emu, "AWS/Lambda", "DeadLetterErrors", dims(F, "1"), 40.0).await;
    put(&emu, "AWS/Lambda", "DeadLetterErrors", dims(F, "2"), 9.0).await;
    eventually("the roll back", Duration::from_secs(60), || async {
        live(&emu).await == ("1".into(), BTreeMap::new())
    })
    .await;
    eventually("one RolledBack alert", Duration::from_secs(10), || async { hook.count("RolledBack", F) == 1 }).await;
    let alert = hook.alerts().into_iter().find(|a| a["kind"] == "RolledBack").unwrap();
    assert_eq!(alert["message"], "judge: DeadLetterErrors 9 on version 2 - limit 5", "{alert}");
    eventually("RolledBack in status", Duration::from_secs(10), || async {
        daemon.manifest(F)["rollouts"][0]["phase"] == "RolledBack"
    })
    .await;
}

#[tokio::test]
async fn a_user_query_over_its_limit_rolls_a_new_version_back_reading_each_versions_dimensions() {
    let emu = seeded(&[F]).await;
    let hook = Webhook::start("t");
    let dep = "{steps: [{weight: 10, pause: 10m}], analysis: {minInvocations: 10, queries: [{name: payment failures, namespace: App, metric: PaymentFailures, dimensions: {Service: \"{function}\", Version: \"{version}\"}, maxRatio: 2}]}}";
    let dir = manifests(&[("f.yaml", &manifest(F, "2", dep))]);
    let daemon = daemon(&emu, path(&dir), &hook);
    first_step(&emu).await;
    publish(&emu, F, "1", 1000, 5, 100.0).await;
    publish(&emu, F, "2", 100, 1, 100.0).await;
    let app = |v: &str| vec![dim("Service", F), dim("Version", v)];
    put(&emu, "App", "PaymentFailures", app("1"), 10.0).await;
    eventually("passing with the new version's no failures", Duration::from_secs(60), || async {
        let judge = &daemon.manifest(F)["rollouts"][0]["judge"];
        judge["verdict"] == "Pass" && judge["numbers"]["extra"][0]["old"] == 10.0
    })
    .await;
    let judge = daemon.manifest(F)["rollouts"][0]["judge"].clone();
    assert_eq!(judge["measures"], serde_json::json!(["payment failures"]), "{judge}");
    assert_eq!(judge["numbers"]["extra"][0]["new"], serde_json::Value::Null, "{judge}");
    put(&emu, "App", "PaymentFailures", app("2"), 50.0).await;
    eventually("the roll back", Duration::from_secs(60), || async {
        live(&emu).await == ("1".into(), BTreeMap::new())
    })
    .await;
    eventually("one RolledBack alert", Duration::from_secs(10), || async { hook.count("RolledBack", F) == 1 }).await;
    let alert = hook.alerts().into_iter().find(|a| a["kind"] == "RolledBack").unwrap();
    assert_eq!(alert["message"], "judge: payment failures 50 on version 2 vs 10 on 1 - limit 2 times", "{alert}");
}
