//! Replicas on one DynamoDB lease (the emulator's moto DynamoDB): one writer; a follower takes
//! over after kill -9 and at once after SIGTERM; a paused leader that wakes after losing the
//! lease sends no write; a leader that cannot reach DynamoDB steps down and no two replicas
//! write. Each replica signs with its own access key, so the emulator's request log tells who
//! wrote. Every wait is on a condition with a deadline.

use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType};

use crate::common::daemon::Daemon;
use crate::common::*;

const MINUTE: Duration = Duration::from_secs(60);
const A: &str = "AKIDTEST";
const B: &str = "AKIDTESTB";
/// Short lease timings so takeovers happen within seconds.
const FAST: [&str; 6] = ["--lease-duration", "3s", "--lease-heartbeat", "1s", "--lease-poll", "200ms"];

fn doc(name: &str, reserved: i32) -> String {
    format!(
        "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: {name}\nspec:\n  reservedConcurrency: {reserved}\n"
    )
}

pub(crate) async fn lease_table(emu: &Emulator) {
    let ddb = aws_sdk_dynamodb::Client::new(&emu.sdk().await);
    ddb.create_table()
        .table_name("lease")
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("key")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(KeySchemaElement::builder().attribute_name("key").key_type(KeyType::Hash).build().unwrap())
        .send()
        .await
        .unwrap();
}

/// An emulator with the lease table and function `app-ha` (reserved concurrency 2 in its
/// manifest).
async fn setup() -> (Emulator, tempfile::TempDir) {
    let emu = Emulator::start();
    lease_table(&emu).await;
    emu.seed_function("app-ha", 1);
    let dir = manifests(&[("app.yaml", &doc("app-ha", 2))]);
    (emu, dir)
}

/// A replica signing with `key`, on the lease table, with `timings` and `extra` flags.
fn replica(emu: &Emulator, dir: &str, key: &str, timings: &[&str], extra: &[&str]) -> Daemon {
    let mut args = vec!["--lease-table", "lease", "--resync-interval", "1h"];
    args.extend_from_slice(timings);
    args.extend_from_slice(extra);
    Daemon::start_as(emu, dir, &args, key)
}

async fn wait_role(d: &Daemon, role: &str) {
    eventually(&format!("role {role}"), MINUTE, || async { d.status()["role"] == role }).await;
}

async fn wait_reserved(emu: &Emulator, f: &str, n: i32) {
    eventually(&format!("{f} reserved concurrency {n}"), MINUTE, || async { reserved(emu, f).await == Some(n) }).await;
}

/// The replicas' Lambda writes in the request log from index `from` on (not the test's own
/// seeding): (access key, method and path).
fn lambda_writes(emu: &Emulator, from: usize) -> Vec<(String, String)> {
    emu.requests()
        .into_iter()
        .skip(from)
        .filter(|r| r["service"] == "lambda" && r["method"] != "GET" && (r["key"] == A || r["key"] == B))
        .map(|r| (r["key"].as_str().unwrap_or("").to_string(), format!("{} {}", r["method"], r["path"])))
        .collect()
}

fn edit(dir: &tempfile::TempDir, n: i32) {
    std::fs::write(dir.path().join("app.yaml"), doc("app-ha", n)).unwrap();
}

#[tokio::test]
async fn two_replicas_on_one_lease_write_only_through_the_holder() {
    let (emu, dir) = setup().await;
    let a = replica(&emu, path(&dir), A, &FAST, &[]);
    wait_role(&a, "leader").await;
    wait_reserved(&emu, "app-ha", 2).await;
    let b = replica(&emu, path(&dir), B, &FAST, &[]);
    wait_role(&b, "follower").await;
    assert_eq!(b.get("/readyz"), (200, "follower\n".to_string()), "ready, but not the writer");
    assert_eq!(b.counter("lambda_reconciler_leader"), 0.0);
    assert_eq!(a.counter("lambda_reconciler_leader"), 1.0);
    for n in 3..=5 {
        edit(&dir, n);
        wait_reserved(&emu, "app-ha", n).await;
    }
    let writes = lambda_writes(&emu, 0);
    assert!(writes.len() >= 4, "{writes:?}");
    assert!(writes.iter().all(|(key, _)| key == A), "only the holder writes: {writes:?}");
}

#[tokio::test]
async fn after_kill_9_of_the_leader_the_follower_takes_over_and_applies_an_edit() {
    let (emu, dir) = setup().await;
    let a = replica(&emu, path(&dir), A, &FAST, &[]);
    wait_role(&a, "leader").await;
    let b = replica(&emu, path(&dir), B, &FAST, &[]);
    wait_role(&b, "follower").await;
    wait_reserved(&emu, "app-ha", 2).await;
    a.kill9();
    let from = emu.requests().len();
    edit(&dir, 7);
    wait_role(&b, "leader").await;
    wait_reserved(&emu, "app-ha", 7).await;
    let writes = lambda_writes(&emu, from);
    assert!(!writes.is_empty() && writes.iter().all(|(key, _)| key == B), "{writes:?}");
    assert!(b.log_text().contains("lease acquired"));
}

#[tokio::test]
async fn sigterm_releases_the_lease_so_the_follower_takes_over_without_waiting_it_out() {
    let (emu, dir) = setup().await;
    // A lease of an hour: only the release can hand it over within the test's deadline.
    let hour = ["--lease-duration", "1h", "--lease-heartbeat", "1s", "--lease-poll", "200ms"];
    let mut a = replica(&emu, path(&dir), A, &hour, &[]);
    wait_role(&a, "leader").await;
    let b = replica(&emu, path(&dir), B, &hour, &[]);
    wait_role(&b, "follower").await;
    a.sigterm();
    assert_eq!(a.wait_exit(MINUTE), 0);
    assert!(a.log_text().contains("lease released"));
    wait_role(&b, "leader").await;
    edit(&dir, 4);
    wait_reserved(&emu, "app-ha", 4).await;
}

#[tokio::test]
async fn a_leader_paused_past_its_lease_sends_no_write_when_it_wakes() {
    let (emu, dir) = setup().await;
    let a = replica(&emu, path(&dir), A, &FAST, &[]);
    wait_role(&a, "leader").await;
    wait_reserved(&emu, "app-ha", 2).await;
    // The follower writes nothing either (dry run): any write after the pause would be A's.
    let b = replica(&emu, path(&dir), B, &FAST, &["--dry-run"]);
    wait_role(&b, "follower").await;
    a.signal("STOP");
    wait_role(&b, "leader").await;
    // DynamoDB now answers slowly: A, awake, cannot learn from a renewal that it lost the lease
    // before its worker reaches the write of the edit below. Only the fence stands in the way.
    emu.configure(r#"{"faults": {"dynamodb": {"latency_ms": 3000}}}"#);
    edit(&dir, 9);
    let from = emu.requests().len();
    a.signal("CONT");
    eventually("A withheld the write", MINUTE, || async { a.log_text().contains("write withheld") }).await;
    wait_role(&a, "follower").await;
    assert_eq!(lambda_writes(&emu, from), vec![], "no write after the lease was lost");
    assert_eq!(reserved(&emu, "app-ha").await, Some(2));
}

#[tokio::test]
async fn a_leader_that_cannot_reach_dynamodb_steps_down_and_no_two_replicas_write() {
    let (emu, dir) = setup().await;
    let a = replica(&emu, path(&dir), A, &FAST, &[]);
    wait_role(&a, "leader").await;
    let b = replica(&emu, path(&dir), B, &FAST, &[]);
    wait_role(&b, "follower").await;
    wait_reserved(&emu, "app-ha", 2).await;
    let mut n = 2;
    for outage in [r#"{"throttle": 1.0}"#, r#"{"reset": 1.0}"#] {
        emu.configure(&format!(r#"{{"faults": {{"dynamodb": {outage}}}}}"#));
        wait_role(&a, "follower").await;
        wait_role(&b, "follower").await;
        // No writer while DynamoDB is out: an edit waits (both replicas have read it).
        let reloads = (
            a.counter("lambda_reconciler_manifest_reloads_total"),
            b.counter("lambda_reconciler_manifest_reloads_total"),
        );
        let from = emu.requests().len();
        n += 1;
        edit(&dir, n);
        eventually("both replicas reloaded", MINUTE, || async {
            a.counter("lambda_reconciler_manifest_reloads_total") > reloads.0
                && b.counter("lambda_reconciler_manifest_reloads_total") > reloads.1
        })
        .await;
        assert_eq!(lambda_writes(&emu, from), vec![], "no replica writes without the lease ({outage})");
        emu.configure(r#"{"faults": {}}"#);
        wait_reserved(&emu, "app-ha", n).await;
        let writers: std::collections::BTreeSet<String> =
            lambda_writes(&emu, from).into_iter().map(|(k, _)| k).collect();
        assert_eq!(writers.len(), 1, "one writer after the outage ({outage}): {writers:?}");
    }
}

/// A lease of 15 heartbeats: far more than 3, where a renewal found written late, fenced from the
/// call that found it, would leave the holder writing seconds after a follower took over.
const LONG: [&str; 6] = ["--lease-duration", "15s", "--lease-heartbeat", "1s", "--lease-poll", "200ms"];

/// The emulator's receipt times (seconds) of A's lease writes whose request log entry has
/// `field` true (`None`: all).
fn lease_writes_of_a(emu: &Emulator, field: Option<&str>, value: bool) -> Vec<f64> {
    emu.requests()
        .into_iter()
        .filter(|r| r["key"] == A && r["target"] == "DynamoDB_20120810.PutItem")
        .filter(|r| field.is_none_or(|f| r[f] == value))
        .filter_map(|r| r["t"].as_f64())
        .collect()
}

/// A fault spec that fails A's lease writes (PutItem) with a 500.
fn a_lease_write_fails() -> String {
    format!(r#""operation": "dynamodb:PutItem", "key": "{A}", "status": 500, "code": "InternalServerError""#)
}

/// A leads, B follows in `--dry-run` (every Lambda write in the log is A's); then A's next
/// renewal is written but its answer lost, and every lease write of A's after it fails before it
/// is carried out, so A knows only the version before it (its fence from the last answered
/// renewal stays open for 14 s).
async fn a_renewal_answer_lost() -> (Emulator, tempfile::TempDir, Daemon, Daemon) {
    let (emu, dir) = setup().await;
    let a = replica(&emu, path(&dir), A, &LONG, &[]);
    wait_role(&a, "leader").await;
    wait_reserved(&emu, "app-ha", 2).await;
    let b = replica(&emu, path(&dir), B, &LONG, &["--dry-run"]);
    wait_role(&b, "follower").await;
    let put = a_lease_write_fails();
    emu.configure(&format!(r#"{{"fail_next": [{{{put}, "count": 1, "after": true}}, {{{put}, "count": 1000000}}]}}"#));
    eventually("A's renewal written, answer lost", MINUTE, || async {
        !lease_writes_of_a(&emu, Some("answer_lost"), true).is_empty()
    })
    .await;
    (emu, dir, a, b)
}

#[tokio::test]
async fn a_renewal_written_but_unanswered_fences_the_holder_from_when_it_was_sent() {
    let (emu, dir, a, b) = a_renewal_answer_lost().await;
    let put = a_lease_write_fails();
    let written = lease_writes_of_a(&emu, Some("answer_lost"), true)[0];
    // Seven seconds of A's retries later, one of them is answered: refused, since the record
    // moved on to the version of the lost answer, which A finds and keeps. After it, A's lease
    // writes fail again, so B sees that version unchanged and takes over 15 s after its write.
    eventually("A retried for 7 s", MINUTE, || async {
        lease_writes_of_a(&emu, None, true).last().is_some_and(|t| *t >= written + 7.0)
    })
    .await;
    let pass = format!(r#""operation": "dynamodb:PutItem", "key": "{A}", "count": 1, "pass": true"#);
    emu.configure(&format!(r#"{{"fail_next": [{{{pass}}}, {{{put}, "count": 1000000}}]}}"#));
    eventually("A's renewal answered", MINUTE, || async {
        lease_writes_of_a(&emu, Some("injected"), false).iter().any(|t| *t > written)
    })
    .await;
    wait_role(&b, "leader").await;
    // B holds the lease: an edit now must not be written by A.
    let reloads = a.counter("lambda_reconciler_manifest_reloads_total");
    let from = emu.requests().len();
    edit(&dir, 6);
    eventually("A reloaded the edit", MINUTE, || async {
        a.counter("lambda_reconciler_manifest_reloads_total") > reloads
    })
    .await;
    wait_role(&a, "follower").await;
    assert_eq!(lambda_writes(&emu, from), vec![], "A's fence closed before B could take over");
    assert_eq!(reserved(&emu, "app-ha").await, Some(2));
    assert!(a.log_text().contains("this replica keeps the lease"), "A had found its own record");
}

fn shards_of(d: &Daemon) -> Vec<u64> {
    d.status()["shards"].as_array().map(|a| a.iter().filter_map(|v| v.as_u64()).collect()).unwrap_or_default()
}

#[tokio::test]
async fn with_two_shards_two_replicas_split_the_account_regions_and_the_survivor_takes_both() {
    let emu = Emulator::start();
    lease_table(&emu).await;
    let candidates = ["ap-northeast-1", "us-west-2", "eu-west-1", "us-east-1", "eu-central-1", "ap-southeast-2"];
    let region_of =
        |shard| *candidates.iter().find(|r| lambda_reconciler::types::shard_of(None, r, 2) == shard).unwrap();
    let regions = [region_of(0), region_of(1)];
    let doc_in = |i: usize, n: i32| {
        format!(
            "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: app-s{i}\nspec:\n  region: {}\n  reservedConcurrency: {n}\n",
            regions[i]
        )
    };
    for (i, region) in regions.iter().enumerate() {
        let body = format!(r#"{{"region":"{region}","name":"app-s{i}","versions":1}}"#);
        assert_eq!(emu.admin("POST", "/_ext/seed/function", &body).0, 200);
    }
    let dir = manifests(&[("s0.yaml", &doc_in(0, 2)), ("s1.yaml", &doc_in(1, 2))]);
    let two = ["--shards", "2"];
    let a = replica(&emu, path(&dir), A, &FAST, &two);
    eventually("A holds both shards alone", MINUTE, || async { shards_of(&a) == [0, 1] }).await;
    let listed = |d: &Daemon| -> Vec<String> {
        let s = d.status();
        s["manifests"].as_array().unwrap().iter().map(|m| m["manifest"].as_str().unwrap().to_string()).collect()
    };
    eventually("A lists both manifests", MINUTE, || async { listed(&a).len() == 2 }).await;
    let b = replica(&emu, path(&dir), B, &FAST, &two);
    eventually("one shard each", MINUTE, || async { shards_of(&a).len() == 1 && shards_of(&b).len() == 1 }).await;
    // A lists only the manifest of the shard it kept: the other is B's to show.
    let kept = shards_of(&a)[0];
    eventually("a lost shard's status forgotten", MINUTE, || async { listed(&a) == [format!("app-s{kept}")] }).await;
    let from = emu.requests().len();
    for i in 0..2 {
        std::fs::write(dir.path().join(format!("s{i}.yaml")), doc_in(i, 5)).unwrap();
    }
    for (i, region) in regions.iter().enumerate() {
        let f = format!("app-s{i}");
        eventually(&format!("{f} at 5"), MINUTE, || async { reserved_in(&emu, region, &f).await == Some(5) }).await;
    }
    let holder = |shard: u64| if shards_of(&a) == [shard] { A } else { B };
    for (key, what) in lambda_writes(&emu, from) {
        let shard = if what.contains("app-s0") { 0 } else { 1 };
        assert_eq!(key, holder(shard), "{what} written by the holder of shard {shard}");
    }
    // The holder of shard 1 dies; the other takes its shard after the lease runs out.
    let survivor = if shards_of(&a) == [1] {
        a.kill9();
        &b
    } else {
        b.kill9();
        &a
    };
    eventually("the survivor holds both shards", MINUTE, || async { shards_of(survivor) == [0, 1] }).await;
    std::fs::write(dir.path().join("s1.yaml"), doc_in(1, 7)).unwrap();
    eventually("app-s1 at 7", MINUTE, || async { reserved_in(&emu, regions[1], "app-s1").await == Some(7) }).await;
}

#[tokio::test]
async fn a_file_rejected_before_the_replica_leads_is_alerted_once_it_leads() {
    let emu = Emulator::start();
    lease_table(&emu).await;
    emu.seed_function("app-ha", 1);
    let hook = crate::common::daemon::Webhook::start("T0KEN-ha");
    let dir = manifests(&[("app.yaml", &doc("app-ha", 2)), ("broken.yaml", "apiVersion: nope\n")]);
    // Loaded (and rejected) while following: the alert waits for the lease.
    let a = replica(&emu, path(&dir), A, &FAST, &["--alert-webhook", &hook.url]);
    wait_role(&a, "leader").await;
    eventually("the rejected file alerted by the writer", MINUTE, || async {
        hook.alerts()
            .iter()
            .any(|x| x["kind"] == "ManifestRejected" && x["text"].as_str().unwrap_or("").contains("broken.yaml"))
    })
    .await;
}

#[tokio::test]
async fn a_rollout_in_progress_continues_on_the_new_leader_from_its_step() {
    let emu = Emulator::start();
    lease_table(&emu).await;
    emu.seed_function("app-ha", 2);
    let lambda = emu.lambda().await;
    lambda.create_alias().function_name("app-ha").name("live").function_version("1").send().await.unwrap();
    let dep = "{steps: [{weight: 10, pause: 1s}, {weight: 50, pause: 3s}, {weight: 90, pause: 1s}]}";
    let m = format!(
        "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: app-ha\nspec:\n  aliases:\n    live:\n      functionVersion: \"2\"\n      deployment: {dep}\n"
    );
    let dir = manifests(&[("app.yaml", &m)]);
    let a = replica(&emu, path(&dir), A, &FAST, &[]);
    wait_role(&a, "leader").await;
    let b = replica(&emu, path(&dir), B, &FAST, &[]);
    wait_role(&b, "follower").await;
    let weight = || async {
        let alias = lambda.get_alias().function_name("app-ha").name("live").send().await.unwrap();
        let w = alias.routing_config().and_then(|r| r.additional_version_weights()).and_then(|w| w.get("2").copied());
        (alias.function_version().unwrap_or_default().to_string(), w)
    };
    eventually("step 2 (50 %)", MINUTE, || async { weight().await.1 == Some(0.5) }).await;
    a.kill9();
    let from = emu.requests().len();
    wait_role(&b, "leader").await;
    eventually("the end of the rollout", MINUTE, || async { weight().await == ("2".to_string(), None) }).await;
    let alias_writes: Vec<String> = emu
        .requests()
        .into_iter()
        .skip(from)
        .filter(|r| r["method"] == "PUT" && r["path"].as_str().unwrap_or("").ends_with("/aliases/live"))
        .map(|r| format!("{} {}", r["key"].as_str().unwrap_or(""), r["body"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(alias_writes.len(), 2, "resumed at its step (90 %, then the end), no restart: {alias_writes:?}");
    assert!(alias_writes.iter().all(|w| w.starts_with(B)), "{alias_writes:?}");
    assert!(alias_writes[0].contains("0.9"), "{alias_writes:?}");
}

#[tokio::test]
async fn a_replica_stopped_after_a_renewal_whose_answer_was_lost_still_releases_its_lease() {
    let (_emu, _dir, mut a, b) = a_renewal_answer_lost().await;
    a.sigterm();
    assert_eq!(a.wait_exit(MINUTE), 0);
    let log = a.log_text();
    assert!(log.contains("lease released") && !log.contains("already taken"), "its own record, released: {log}");
    wait_role(&b, "leader").await;
}

/// A release member: `app-r` in `region`, on `version`, in wave `wave` (one 1 s step, 1 s bake).
fn release_member(i: usize, region: &str, wave: u32, version: u32) -> String {
    format!(
        "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: app-r{i}\nspec:\n  functionName: app-r\n  region: {region}\n  aliases:\n    live:\n      functionVersion: \"{version}\"\n      deployment: {{steps: [{{weight: 10, pause: 1s}}], release: {{name: r, wave: {wave}, bake: 1s}}}}\n"
    )
}

#[tokio::test]
async fn with_two_shards_each_replica_rolls_its_members_of_a_release_and_the_waves_keep_their_order() {
    let emu = Emulator::start();
    lease_table(&emu).await;
    let candidates = ["ap-northeast-1", "us-west-2", "eu-west-1", "us-east-1", "eu-central-1", "ap-southeast-2"];
    let region_of =
        |shard| *candidates.iter().find(|r| lambda_reconciler::types::shard_of(None, r, 2) == shard).unwrap();
    // Wave 1 in shard 1, wave 2 in shard 0: whichever replica holds shard 0 waits for the other.
    let regions = [region_of(1), region_of(0)];
    let sdk = emu.sdk().await;
    let client = |r: &str| {
        let conf =
            aws_sdk_lambda::config::Builder::from(&sdk).region(aws_sdk_lambda::config::Region::new(r.to_string()));
        aws_sdk_lambda::Client::from_conf(conf.build())
    };
    for region in regions {
        let body = format!(r#"{{"region":"{region}","name":"app-r","versions":2}}"#);
        assert_eq!(emu.admin("POST", "/_ext/seed/function", &body).0, 200);
        client(region).create_alias().function_name("app-r").name("live").function_version("1").send().await.unwrap();
    }
    let files = |v: u32| [release_member(0, regions[0], 1, v), release_member(1, regions[1], 2, v)];
    let [w1, w2] = files(1);
    let dir = manifests(&[("r0.yaml", &w1), ("r1.yaml", &w2)]);
    let two = ["--shards", "2"];
    let a = replica(&emu, path(&dir), A, &FAST, &two);
    eventually("A holds both shards alone", MINUTE, || async { shards_of(&a) == [0, 1] }).await;
    let b = replica(&emu, path(&dir), B, &FAST, &two);
    eventually("one shard each", MINUTE, || async { shards_of(&a).len() == 1 && shards_of(&b).len() == 1 }).await;
    let from = emu.requests().len();
    for (i, text) in files(2).iter().enumerate() {
        std::fs::write(dir.path().join(format!("r{i}.yaml")), text).unwrap();
    }
    let marker = |region: &'static str| {
        let c = client(region);
        async move {
            let arn = format!("arn:aws:lambda:{region}:123456789012:function:app-r");
            let tags = c.list_tags().resource(arn).send().await.unwrap();
            tags.tags().and_then(|t| t.get("lambda-reconciler.io/rollout/live")).cloned().unwrap_or_default()
        }
    };
    for region in regions {
        eventually(&format!("{region} done"), MINUTE, || async { marker(region).await.contains("phase=done") }).await;
    }
    let field = |m: &str, k: &str| -> i64 {
        let v = m.split(' ').find_map(|kv| kv.strip_prefix(&format!("{k}="))).unwrap().trim_start_matches('r');
        if k == "id" {
            i64::from_str_radix(v, 16).unwrap()
        } else {
            v.parse().unwrap()
        }
    };
    let (first, second) = (marker(regions[0]).await, marker(regions[1]).await);
    assert!(
        field(&second, "id") >= field(&first, "at") + 1000,
        "wave 2 started before wave 1 baked: {first} / {second}"
    );
    let holder = |shard: u64| if shards_of(&a) == [shard] { A } else { B };
    let writes: Vec<(String, String)> = (emu.requests().into_iter().skip(from))
        .filter(|r| r["service"] == "lambda" && r["method"] != "GET" && (r["key"] == A || r["key"] == B))
        .map(|r| (r["key"].as_str().unwrap_or("").to_string(), r["region"].as_str().unwrap_or("").to_string()))
        .collect();
    assert!(!writes.is_empty());
    for (key, region) in writes {
        let shard = if region == regions[0] { 1 } else { 0 };
        assert_eq!(key, holder(shard), "a write in {region} made by the holder of shard {shard}");
    }
}
