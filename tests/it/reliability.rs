//! Reliability under faults: 20 functions with every config kind converge under throttling,
//! 5xx, 409 conflicts, latency spikes and connection resets (alone and together) with a bounded
//! number of calls; kill -9 during apply loses nothing; an unreachable endpoint makes the daemon
//! unready and alerts once, and it recovers. Figures are printed (run with --nocapture).

use std::time::{Duration, Instant};

use crate::common::daemon::{Daemon, Webhook};
use crate::common::*;

const FUNCTIONS: usize = 20;

fn manifest(i: usize, reserved: i64, level: &str) -> String {
    format!(
        "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: fn{i:02}\nspec:\n  environment:\n    variables:\n      LEVEL: {level}\n      DB_PASSWORD: {{fromSsm: /rel/secret}}\n  reservedConcurrency: {reserved}\n  eventInvokeConfig: {{maximumRetryAttempts: 1}}\n  aliases:\n    prod:\n      functionVersion: \"1\"\n      routing: {{\"2\": 0.1}}\n      eventInvokeConfig: {{maximumEventAgeInSeconds: 600}}\n    live:\n      functionVersion: \"2\"\n      provisionedConcurrency: 2\n      autoscaling:\n        minCapacity: 1\n        maxCapacity: 4\n        targetUtilization: 0.6\n        scheduledActions:\n          - {{name: morning, schedule: \"cron(0 9 * * ? *)\", minCapacity: 2}}\n"
    )
}

async fn fleet(emu: &Emulator) -> tempfile::TempDir {
    for i in 0..FUNCTIONS {
        emu.seed_function(&format!("fn{i:02}"), 2);
    }
    emu.put_parameter("/rel/secret", SECRET_VALUE, true).await;
    let dir = tempfile::tempdir().unwrap();
    for i in 0..FUNCTIONS {
        std::fs::write(dir.path().join(format!("fn{i:02}.yaml")), manifest(i, 3, "info")).unwrap();
    }
    dir
}

async fn all_synced(daemon: &Daemon, deadline: Duration) {
    eventually("every manifest Synced", deadline, || async {
        let s = daemon.status();
        let ms = s["manifests"].as_array().cloned().unwrap_or_default();
        ms.len() == FUNCTIONS && ms.iter().all(|m| m["sync"] == "Synced")
    })
    .await;
}

/// Runs the fleet to convergence under `faults`; returns (seconds, AWS requests received).
async fn converge_under(faults: &str) -> (f64, usize, Vec<String>) {
    let emu = Emulator::start();
    let dir = fleet(&emu).await;
    emu.clear_requests();
    emu.configure(&format!(r#"{{"faults": {faults}, "pc_ready_delay": 0.2}}"#));
    let start = Instant::now();
    let daemon = Daemon::start(
        &emu,
        path(&dir),
        &["--resync-interval", "1h", "--aws-rps", "0", "--max-concurrent-reconciles", "8"],
    );
    all_synced(&daemon, Duration::from_secs(240)).await;
    let seconds = start.elapsed().as_secs_f64();
    let requests = emu.requests().len();
    let logs = daemon.log_text();
    assert!(!logs.contains("panicked"), "no panic under {faults}");
    drop(daemon);
    emu.configure(r#"{"faults": {}}"#);
    emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(0);
    // No duplicate side effects: each alias was created exactly once (faults are injected before
    // the emulator processes a request, so only served requests count).
    let creates = emu
        .requests()
        .iter()
        .filter(|r| {
            r["method"] == "POST" && r["path"].as_str().unwrap_or("").ends_with("/aliases") && r["injected"] == false
        })
        .count();
    assert_eq!(creates, 2 * FUNCTIONS, "CreateAlias served once per alias under {faults}");
    (seconds, requests, vec![logs])
}

/// A fault spec applied to every service.
fn each(spec: &str) -> String {
    let all = ["lambda", "application-autoscaling", "ssm"];
    format!("{{{}}}", all.iter().map(|s| format!("\"{s}\": {spec}")).collect::<Vec<_>>().join(", "))
}

const ALL_TOGETHER: &str =
    r#"{"throttle": 0.3, "error500": 0.1, "conflict": 0.1, "reset": 0.05, "latency_ms": 2000, "latency_rate": 0.05}"#;

/// Runs each scenario after a fault-free baseline; asserts convergence with bounded calls.
async fn fault_matrix(scenarios: &[(&str, String)]) {
    let mut baseline = 0;
    let mut rows = vec![];
    for (name, faults) in std::iter::once(&("none", "{}".to_string())).chain(scenarios) {
        let (seconds, requests, logs) = converge_under(faults).await;
        if *name == "none" {
            baseline = requests;
        }
        let amplification = requests as f64 / baseline as f64;
        for l in &logs {
            assert!(!l.contains(SECRET_VALUE));
        }
        assert!(amplification < 4.0, "{name}: {requests} calls for {baseline} needed");
        rows.push(format!(
            "{name:<24} converged in {seconds:>5.1} s, {requests:>5} calls, amplification {amplification:.2}"
        ));
    }
    eprintln!("\nfault convergence ({FUNCTIONS} functions, every config kind):\n{}", rows.join("\n"));
}

/// The default suite's representative case: every fault kind at once.
#[tokio::test(flavor = "multi_thread")]
async fn twenty_functions_converge_under_every_fault_kind_at_once() {
    fault_matrix(&[("all together", each(ALL_TOGETHER))]).await;
}

/// The whole matrix, each fault alone and all together (scripts/soak).
#[tokio::test(flavor = "multi_thread")]
#[ignore = "soak: run by scripts/soak"]
async fn soak_twenty_functions_converge_under_each_fault_alone_and_all_together() {
    fault_matrix(&[
        ("throttle 30%", each(r#"{"throttle": 0.3}"#)),
        ("500 10%", each(r#"{"error500": 0.1}"#)),
        ("409 on updates 30%", each(r#"{"conflict": 0.3}"#)),
        ("2 s latency spikes 5%", each(r#"{"latency_ms": 2000, "latency_rate": 0.05}"#)),
        ("connection resets 10%", each(r#"{"reset": 0.1}"#)),
        ("all together", each(ALL_TOGETHER)),
    ])
    .await;
}

/// Kills the daemon with SIGKILL during apply `rounds` times, the manifests changing every round;
/// the next start converges to the last manifests.
async fn kill_9_during_apply(rounds: usize) {
    let emu = Emulator::start();
    let dir = fleet(&emu).await;
    emu.configure(r#"{"pc_ready_delay": 0.2}"#);
    let mut rng = fastrand::Rng::with_seed(20261122);
    let last = rounds - 1;
    for round in 0..rounds {
        // New work for every round: the manifests change, then the daemon dies mid-apply.
        for i in 0..FUNCTIONS {
            std::fs::write(
                dir.path().join(format!("fn{i:02}.yaml")),
                manifest(i, 3 + (round % 4) as i64, &format!("r{round}")),
            )
            .unwrap();
        }
        let before = emu.write_calls().len();
        let kill_after = rng.usize(1..40);
        let mut daemon = Daemon::start(&emu, path(&dir), &["--resync-interval", "1h", "--aws-rps", "0"]);
        eventually("writes under way", Duration::from_secs(60), || async {
            emu.write_calls().len() >= before + kill_after
        })
        .await;
        daemon.kill9();
        assert_ne!(daemon.wait_exit(Duration::from_secs(10)), 0);
    }
    let daemon = Daemon::start(&emu, path(&dir), &["--resync-interval", "1h", "--aws-rps", "0"]);
    all_synced(&daemon, Duration::from_secs(120)).await;
    emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(0);
    let lambda = emu.lambda().await;
    for i in 0..FUNCTIONS {
        let f = lambda.get_function().function_name(format!("fn{i:02}")).send().await.unwrap();
        let env = f.configuration().unwrap().environment().unwrap().variables().unwrap();
        assert_eq!(env["LEVEL"], format!("r{last}"));
        assert_eq!(f.concurrency().unwrap().reserved_concurrent_executions(), Some(3 + (last % 4) as i32));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_during_apply_loses_nothing() {
    kill_9_during_apply(3).await;
}

/// The repeated kill loop (scripts/soak; `LAMBDA_RECONCILER_KILLS`, default 50).
#[tokio::test(flavor = "multi_thread")]
#[ignore = "soak: run by scripts/soak"]
async fn soak_kill_9_during_apply_many_times_loses_nothing() {
    let rounds = std::env::var("LAMBDA_RECONCILER_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(50);
    kill_9_during_apply(rounds).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_endpoint_makes_the_daemon_unready_alerts_once_and_recovers() {
    // Down at start: nothing listens on the port yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let hook = Webhook::start("t");
    let dir = manifests(&[("up.yaml", "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: up\nspec:\n  reservedConcurrency: 2\n")]);
    let fake = Emulator::unstarted(port);
    let daemon = Daemon::start(&fake, path(&dir), &["--resync-interval", "300ms", "--alert-webhook", &hook.url]);
    assert_eq!(daemon.get("/healthz").0, 200, "alive while AWS is unreachable");
    eventually("unreachable alert", Duration::from_secs(120), || async { hook.count("AwsUnreachable", "") == 1 }).await;
    assert_eq!(daemon.get("/readyz").0, 503);
    let emu = Emulator::start_on(port);
    emu.seed_function("up", 1);
    daemon.wait_ready().await;
    eventually("applied after recovery", Duration::from_secs(120), || async {
        daemon.manifest("up")["sync"] == "Synced"
    })
    .await;

    // Down in the middle.
    emu.configure(r#"{"down": true}"#);
    eventually("unready while down", Duration::from_secs(120), || async { daemon.get("/readyz").0 == 503 }).await;
    daemon.wait_reconciles(3.0).await;
    assert_eq!(hook.count("AwsUnreachable", ""), 2, "one alert per outage, not per function or retry");
    emu.configure(r#"{"down": false}"#);
    daemon.wait_ready().await;
    assert_eq!(daemon.get("/healthz").0, 200);
}
