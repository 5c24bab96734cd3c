//! Region-wide read snapshots: with many managed functions, Application Auto Scaling and SSM are
//! read with a few paginated or batched calls per resync, not per function; a snapshot never
//! hides a function's own write from its verify pass, and drift made after a snapshot is still
//! corrected at the next resync.

use std::time::Duration;

use crate::common::daemon::Daemon;
use crate::common::*;

const FUNCTIONS: usize = 12;
const MINUTE: Duration = Duration::from_secs(60);

fn manifest(i: usize, target: f64) -> String {
    format!(
        "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: snap{i:02}\nspec:\n  environment:\n    variables:\n      DB_HOST: {{fromSsm: /snap/snap{i:02}/db_host}}\n  aliases:\n    live:\n      functionVersion: \"1\"\n      provisionedConcurrency: 1\n      autoscaling:\n        minCapacity: 1\n        maxCapacity: 2\n        targetUtilization: {target}\n        scheduledActions:\n          - {{name: morning, schedule: \"cron(0 9 * * ? *)\", minCapacity: 2}}\n"
    )
}

/// Seeds and applies the fleet; returns its manifest directory.
async fn fleet(emu: &Emulator) -> tempfile::TempDir {
    for i in 0..FUNCTIONS {
        emu.seed_function(&format!("snap{i:02}"), 1);
        emu.put_parameter(&format!("/snap/snap{i:02}/db_host"), &format!("db{i}.internal"), false).await;
    }
    let dir = tempfile::tempdir().unwrap();
    for i in 0..FUNCTIONS {
        std::fs::write(dir.path().join(format!("snap{i:02}.yaml")), manifest(i, 0.7)).unwrap();
    }
    emu.configure(r#"{"pc_ready_delay": 0.05, "update_in_progress_seconds": 0.05}"#);
    emu.run(&["apply", "-m", path(&dir), "--aws-rps", "0"]).expect(0);
    dir
}

/// Requests received for a JSON-protocol operation (by its X-Amz-Target suffix).
fn calls(emu: &Emulator, op: &str) -> usize {
    emu.requests().iter().filter(|r| r["target"].as_str().unwrap_or("").ends_with(&format!(".{op}"))).count()
}

fn lambda_reads(emu: &Emulator) -> usize {
    emu.requests().iter().filter(|r| r["service"] == "lambda" && r["method"] == "GET").count()
}

async fn policy_target(emu: &Emulator, function: &str) -> Option<f64> {
    let out = emu
        .scaling()
        .await
        .describe_scaling_policies()
        .service_namespace(aws_sdk_applicationautoscaling::types::ServiceNamespace::Lambda)
        .resource_id(format!("function:{function}:live"))
        .send()
        .await
        .ok()?;
    out.scaling_policies().first()?.target_tracking_scaling_policy_configuration().map(|c| c.target_value())
}

async fn set_policy_target(emu: &Emulator, function: &str, value: f64) {
    use aws_sdk_applicationautoscaling::types::*;
    let metric = PredefinedMetricSpecification::builder()
        .predefined_metric_type(MetricType::LambdaProvisionedConcurrencyUtilization)
        .build()
        .unwrap();
    let cfg = TargetTrackingScalingPolicyConfiguration::builder()
        .target_value(value)
        .predefined_metric_specification(metric)
        .build()
        .unwrap();
    emu.scaling()
        .await
        .put_scaling_policy()
        .policy_name("lambda-reconciler-target-tracking")
        .service_namespace(ServiceNamespace::Lambda)
        .scalable_dimension(ScalableDimension::LambdaFunctionProvisionedConcurrency)
        .resource_id(format!("function:{function}:live"))
        .policy_type(PolicyType::TargetTrackingScaling)
        .target_tracking_scaling_policy_configuration(cfg)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn plan_over_twelve_functions_reads_autoscaling_and_ssm_per_page_not_per_function() {
    let emu = Emulator::start();
    let dir = fleet(&emu).await;
    emu.clear_requests();
    emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(0);
    assert_eq!(calls(&emu, "DescribeScalableTargets"), 1, "12 targets fit one page of 50");
    assert_eq!(calls(&emu, "DescribeScalingPolicies"), 2, "12 policies, pages of 10");
    assert_eq!(calls(&emu, "DescribeScheduledActions"), 1, "12 actions fit one page of 50");
    assert_eq!(calls(&emu, "GetParameters"), 2, "12 names, batches of 10");
    assert_eq!(lambda_reads(&emu), 3 * FUNCTIONS, "GetFunction, ListAliases, ListProvisionedConcurrencyConfigs");
}

#[tokio::test]
async fn an_autoscaling_edit_is_verified_against_its_own_write_not_the_older_snapshot() {
    let emu = Emulator::start();
    let dir = fleet(&emu).await;
    let daemon = Daemon::start(&emu, path(&dir), &["--resync-interval", "1h", "--aws-rps", "0"]);
    daemon.wait_ready().await;
    emu.clear_requests();
    std::fs::write(dir.path().join("snap03.yaml"), manifest(3, 0.5)).unwrap();
    eventually("snap03 policy at 0.5", MINUTE, || async { policy_target(&emu, "snap03").await == Some(0.5) }).await;
    eventually("snap03 Synced", MINUTE, || async {
        let m = daemon.manifest("snap03");
        m["sync"] == "Synced" && m["observedGeneration"] == m["generation"]
    })
    .await;
    let puts = emu.write_calls().iter().filter(|w| w.ends_with(".PutScalingPolicy")).count();
    assert_eq!(puts, 1, "one write, verified at once: {:?}", emu.write_calls());
    assert_eq!(daemon.manifest("snap03")["lastError"], serde_json::Value::Null);
}

#[tokio::test]
async fn autoscaling_drift_made_after_a_snapshot_is_corrected_at_the_next_resync() {
    let emu = Emulator::start();
    let dir = fleet(&emu).await;
    let daemon = Daemon::start(&emu, path(&dir), &["--resync-interval", "2s", "--aws-rps", "0"]);
    daemon.wait_ready().await;
    set_policy_target(&emu, "snap05", 0.3).await;
    eventually("snap05 policy back at 0.7", MINUTE, || async { policy_target(&emu, "snap05").await == Some(0.7) })
        .await;
    assert!(daemon.counter("lambda_reconciler_drift_detected_total") >= 1.0);
}

#[tokio::test]
async fn a_refused_parameter_batch_fails_no_function() {
    let emu = Emulator::start();
    let dir = fleet(&emu).await;
    emu.clear_requests();
    // The daemon's first call is the SSM snapshot's first batch (10 names): refuse it.
    emu.configure(r#"{"fail_next": {"count": 1, "status": 400, "code": "AccessDeniedException"}}"#);
    let daemon = Daemon::start(&emu, path(&dir), &["--resync-interval", "1h", "--aws-rps", "0"]);
    daemon.wait_ready().await;
    let first = emu.requests().into_iter().next().unwrap();
    assert!(first["target"].as_str().unwrap().ends_with(".GetParameters"), "{first}");
    assert_eq!(first["injected"], true);
    let status = daemon.status();
    let ms = status["manifests"].as_array().unwrap();
    assert_eq!(ms.len(), FUNCTIONS);
    assert!(ms.iter().all(|m| m["sync"] == "Synced"), "{status}");
}
