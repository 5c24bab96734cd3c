//! Release waves: one function in three regions and a second account rolled out wave by wave;
//! a failure in the middle wave rolls that wave back and halts the later ones (and, asked, the
//! done ones); a kill -9 between waves resumes from the markers in AWS.

use std::collections::HashMap;
use std::time::Duration;

use crate::common::daemon::Daemon;
use crate::common::*;

const F: &str = "shop";
/// The function in the second account (one manifest per function name and region).
const G: &str = "shop-b";
const MINUTE: Duration = Duration::from_secs(60);
const WAVE1: &str = "eu-west-1";
const WAVE2: &str = "us-west-2";

/// A member: `shop` in `region` (or `shop-b` through `role`), wave `wave` of release `shop-2`.
fn member(name: &str, region: &str, role: Option<&str>, wave: u32, deployment: &str) -> String {
    let f = if role.is_some() { G } else { F };
    let role = role.map(|r| format!("  roleArn: {r}\n")).unwrap_or_default();
    format!(
        "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: {name}\nspec:\n  functionName: {f}\n  region: {region}\n{role}  aliases:\n    live:\n      functionVersion: \"2\"\n      deployment: {{{deployment}, release: {{name: shop-2, wave: {wave}, bake: 1s, onFailure: ONFAILURE}}}}\n"
    )
}

struct Release {
    emu: Emulator,
    role: String,
    dir: tempfile::TempDir,
}

/// `shop` on version 1 in eu-west-1 (wave 1), us-west-2 and the tests' region (wave 2) and in
/// account 222222222222 (wave 3); `pause` is each step's, `on_failure` the release's.
async fn release(wave2_pause: &str, on_failure: &str, alarm: bool) -> Release {
    let emu = Emulator::start();
    let role = emu.seed_role("222222222222", "lambda-reconciler-target");
    for region in [WAVE1, WAVE2, REGION] {
        let body = format!(r#"{{"region":"{region}","name":"{F}","versions":2}}"#);
        assert_eq!(emu.admin("POST", "/_ext/seed/function", &body).0, 200);
    }
    emu.seed_function_through(G, 2, &role);
    for (name, c) in clients(&emu, &role).await {
        c.create_alias().function_name(function(name)).name("live").function_version("1").send().await.unwrap();
    }
    let alarms = if alarm {
        emu.put_alarm("shop-errors").await;
        emu.set_alarm("shop-errors", "OK").await;
        ", alarms: [shop-errors]"
    } else {
        ""
    };
    let fast = "steps: [{weight: 10, pause: 1s}]";
    let slow = format!("steps: [{{weight: 10, pause: {wave2_pause}}}]");
    let files = [
        ("eu.yaml", member("shop-eu", WAVE1, None, 1, fast)),
        ("usw.yaml", member("shop-usw", WAVE2, None, 2, &slow)),
        ("ap.yaml", member("shop-ap", REGION, None, 2, &format!("{slow}{alarms}"))),
        ("acct.yaml", member("shop-acct", REGION, Some(&role), 3, fast)),
    ];
    let files: Vec<(&str, String)> = files.iter().map(|(n, t)| (*n, t.replace("ONFAILURE", on_failure))).collect();
    let dir = manifests(&files.iter().map(|(n, t)| (*n, t.as_str())).collect::<Vec<_>>());
    Release { emu, role, dir }
}

fn function(member: &str) -> &'static str {
    if member == "shop-acct" {
        G
    } else {
        F
    }
}

/// A Lambda client per member (by manifest name).
async fn clients(emu: &Emulator, role: &str) -> HashMap<&'static str, aws_sdk_lambda::Client> {
    let sdk = emu.sdk().await;
    let in_region = |r: &str| client_in(&sdk, r);
    HashMap::from([
        ("shop-eu", in_region(WAVE1)),
        ("shop-usw", in_region(WAVE2)),
        ("shop-ap", in_region(REGION)),
        ("shop-acct", emu.lambda_through(role).await),
    ])
}

/// Each member's alias: (version, weight on 2).
async fn aliases(r: &Release) -> HashMap<&'static str, (String, Option<f64>)> {
    let mut out = HashMap::new();
    for (name, c) in clients(&r.emu, &r.role).await {
        let a = c.get_alias().function_name(function(name)).name("live").send().await.unwrap();
        let w = a.routing_config().and_then(|r| r.additional_version_weights()).and_then(|w| w.get("2").copied());
        out.insert(name, (a.function_version().unwrap_or_default().to_string(), w));
    }
    out
}

/// Each member's rollout marker tag (fields by name).
async fn markers(r: &Release) -> HashMap<&'static str, HashMap<String, String>> {
    let mut out = HashMap::new();
    for (name, c) in clients(&r.emu, &r.role).await {
        let arn = c
            .get_function()
            .function_name(function(name))
            .send()
            .await
            .unwrap()
            .configuration()
            .unwrap()
            .function_arn()
            .unwrap()
            .to_string();
        let tags = c.list_tags().resource(arn).send().await.unwrap();
        let value = tags.tags().and_then(|t| t.get("lambda-reconciler.io/rollout/live")).cloned().unwrap_or_default();
        let (head, reason) = value.split_once(" reason=").unwrap_or((&value, ""));
        let mut fields: HashMap<String, String> =
            head.split(' ').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.into(), v.into())).collect();
        if !reason.is_empty() {
            fields.insert("reason".into(), reason.into());
        }
        out.insert(name, fields);
    }
    out
}

/// A Lambda client of the tests' account in `region`.
fn client_in(sdk: &aws_config::SdkConfig, region: &str) -> aws_sdk_lambda::Client {
    let conf =
        aws_sdk_lambda::config::Builder::from(sdk).region(aws_sdk_lambda::config::Region::new(region.to_string()));
    aws_sdk_lambda::Client::from_conf(conf.build())
}

/// `shop` with `versions` published versions in each of `regions`, its alias `live` on 1.
async fn seed_in<const N: usize>(emu: &Emulator, sdk: &aws_config::SdkConfig, regions: [&str; N], versions: u32) {
    for region in regions {
        let body = format!(r#"{{"region":"{region}","name":"{F}","versions":{versions}}}"#);
        assert_eq!(emu.admin("POST", "/_ext/seed/function", &body).0, 200);
        client_in(sdk, region).create_alias().function_name(F).name("live").function_version("1").send().await.unwrap();
    }
}

/// The rollout marker tag of `f`'s alias `live`, if any.
async fn marker_tag(c: &aws_sdk_lambda::Client, f: &str) -> Option<String> {
    let out = c.get_function().function_name(f).send().await.unwrap();
    let arn = out.configuration().and_then(|c| c.function_arn()).unwrap_or_default().to_string();
    let tags = c.list_tags().resource(arn).send().await.unwrap();
    tags.tags().and_then(|t| t.get("lambda-reconciler.io/rollout/live")).cloned()
}

fn at_version(all: &HashMap<&str, (String, Option<f64>)>, v: &str) -> bool {
    all.values().all(|(version, w)| version == v && w.is_none())
}

/// The start time of a marker's rollout (its id is `r` + the start in hex ms) and its `at`.
fn times(m: &HashMap<String, String>) -> (i64, i64) {
    let start = i64::from_str_radix(m["id"].trim_start_matches('r'), 16).unwrap();
    (start, m["at"].parse().unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_release_rolls_out_wave_by_wave_across_regions_and_accounts_each_after_the_last_baked() {
    let r = release("1s", "halt", false).await;
    let plan = r.emu.run(&["plan", "-m", path(&r.dir)]).expect(0);
    assert!(plan.stdout.contains("aliases.live 1 → 2 (custom): queued for its wave"), "{}", plan.all());
    assert!(
        plan.stdout.contains("release shop-2 wave 1 of 3 in progress (wave 1: shop-eu eu-west-1"),
        "{}",
        plan.all()
    );
    let md = r.emu.run(&["plan", "-m", path(&r.dir), "-o", "markdown"]).expect(0);
    assert!(md.stdout.contains("🌊 `live` is in wave 3 of 3 of release `shop-2`"), "{}", md.all());
    let daemon = Daemon::start(&r.emu, path(&r.dir), &["--resync-interval", "30s"]);
    eventually("every member on version 2", MINUTE, || async { at_version(&aliases(&r).await, "2") }).await;
    // The alias reaches 100 % first; its marker says done in the move after it.
    eventually("every member's marker done", MINUTE, || async {
        markers(&r).await.values().all(|f| f.get("phase").map(String::as_str) == Some("done"))
    })
    .await;
    let m = markers(&r).await;
    let (eu, usw, ap, acct) =
        (times(&m["shop-eu"]), times(&m["shop-usw"]), times(&m["shop-ap"]), times(&m["shop-acct"]));
    // Wave 2 started only after wave 1 was done and baked 1 s; wave 3 after both of wave 2.
    assert!(usw.0 >= eu.1 + 1000 && ap.0 >= eu.1 + 1000, "wave 2 started before wave 1 baked: {m:?}");
    assert!(acct.0 >= usw.1.max(ap.1) + 1000, "wave 3 started before wave 2 baked: {m:?}");
    let release = &daemon.manifest("shop-eu")["rollouts"];
    assert!(release.as_array().is_none_or(|a| a.is_empty()), "a finished release shows no rollout: {release}");
    daemon.sigterm();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failure_in_the_middle_wave_rolls_that_wave_back_halts_the_last_and_keeps_the_first() {
    let r = release("60s", "halt", true).await;
    let hook = daemon::Webhook::start("T0KEN-release");
    let args = ["--resync-interval", "30s", "--alarm-poll", "200ms", "--alert-webhook", &hook.url];
    let daemon = Daemon::start(&r.emu, path(&r.dir), &args);
    eventually("wave 2 at its first step", MINUTE, || async {
        let a = aliases(&r).await;
        a["shop-ap"].1 == Some(0.1) && a["shop-usw"].1 == Some(0.1)
    })
    .await;
    let status = daemon.manifest("shop-ap");
    let view = &status["rollouts"][0]["release"];
    assert_eq!(view["state"], "wave 2 of 3 in progress", "{status}");
    r.emu.set_alarm("shop-errors", "ALARM").await;
    eventually("wave 2 back on version 1, wave 3 held", MINUTE, || async {
        let m = markers(&r).await;
        let back = |n: &str| m[n].get("phase").map(String::as_str) == Some("rolledback");
        back("shop-ap") && back("shop-usw") && back("shop-acct")
    })
    .await;
    let a = aliases(&r).await;
    assert_eq!(a["shop-ap"], ("1".into(), None));
    assert_eq!(a["shop-usw"], ("1".into(), None), "the other member of the failed wave rolled back too");
    assert_eq!(a["shop-acct"], ("1".into(), None), "the last wave never started");
    assert_eq!(a["shop-eu"], ("2".into(), None), "under halt the first wave keeps the new version");
    let m = markers(&r).await;
    assert!(m["shop-usw"]["reason"].starts_with("release shop-2 failed in wave 2: shop-ap"), "{m:?}");
    assert!(!m["shop-acct"].contains_key("from") || m["shop-acct"]["from"] == "1");
    let view = &daemon.manifest("shop-usw")["rollouts"][0]["release"];
    assert!(view["state"].as_str().unwrap().starts_with("halted: shop-ap"), "{view}");
    let page = daemon.get("/").1;
    assert!(page.contains("release shop-2 halted: shop-ap (ap-northeast-1) in wave 2 rolled back"), "{page}");
    eventually("each roll back alerted", MINUTE, || async {
        hook.count("RolledBack", F) >= 2 && hook.count("RolledBack", G) >= 1
    })
    .await;
    daemon.sigterm();
}

#[tokio::test(flavor = "multi_thread")]
async fn under_rollback_all_a_failure_in_the_middle_wave_also_rolls_back_the_done_first_wave() {
    let r = release("60s", "rollbackAll", true).await;
    let daemon = Daemon::start(&r.emu, path(&r.dir), &["--resync-interval", "30s", "--alarm-poll", "200ms"]);
    eventually("wave 2 at its first step", MINUTE, || async { aliases(&r).await["shop-ap"].1 == Some(0.1) }).await;
    r.emu.set_alarm("shop-errors", "ALARM").await;
    eventually("every member back on version 1", MINUTE, || async { at_version(&aliases(&r).await, "1") }).await;
    let m = markers(&r).await;
    assert_eq!(m["shop-eu"]["phase"], "rolledback", "{m:?}");
    assert!(m["shop-eu"]["reason"].starts_with("release shop-2 failed in wave 2"), "{m:?}");
    daemon.sigterm();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kill_9_between_waves_resumes_from_the_markers_and_counts_the_bake_from_the_done_time_in_aws() {
    let r = release("1s", "halt", false).await;
    // Wave 1 bakes 30 minutes: only the done time in AWS can let wave 2 start within the test.
    let eu = std::fs::read_to_string(r.dir.path().join("eu.yaml")).unwrap().replace("bake: 1s", "bake: 30m");
    std::fs::write(r.dir.path().join("eu.yaml"), eu).unwrap();
    let mut daemon = Daemon::start(&r.emu, path(&r.dir), &["--resync-interval", "1s"]);
    eventually("wave 1 done", MINUTE, || async {
        markers(&r).await["shop-eu"].get("phase").map(String::as_str) == Some("done")
    })
    .await;
    let before = daemon.counter("lambda_reconciler_reconciles_total");
    daemon.wait_reconciles(before + 6.0).await;
    assert_eq!(aliases(&r).await["shop-usw"], ("1".into(), None), "wave 2 waits for wave 1's bake");
    daemon.kill9();
    daemon.wait_exit(Duration::from_secs(10));
    // Wave 1 finished 31 minutes ago, as its marker in AWS now says.
    let c = &clients(&r.emu, &r.role).await["shop-eu"];
    let value = marker_tag(c, F).await.unwrap();
    let at = markers(&r).await["shop-eu"]["at"].clone();
    let earlier = (at.parse::<i64>().unwrap() - 31 * 60_000).to_string();
    let value = value.replace(&format!("at={at}"), &format!("at={earlier}"));
    let arn = c
        .get_function()
        .function_name(F)
        .send()
        .await
        .unwrap()
        .configuration()
        .unwrap()
        .function_arn()
        .unwrap()
        .to_string();
    c.tag_resource().resource(arn).tags("lambda-reconciler.io/rollout/live", value).send().await.unwrap();
    let daemon = Daemon::start(&r.emu, path(&r.dir), &["--resync-interval", "1s"]);
    eventually("every member on version 2", MINUTE, || async { at_version(&aliases(&r).await, "2") }).await;
    let m = markers(&r).await;
    assert_eq!(m["shop-eu"]["at"], earlier, "wave 1 was not rolled out again");
    let (usw, ap, acct) = (times(&m["shop-usw"]), times(&m["shop-ap"]), times(&m["shop-acct"]));
    assert!(acct.0 >= usw.1.max(ap.1) + 1000, "{m:?}");
    daemon.sigterm();
}

#[tokio::test(flavor = "multi_thread")]
async fn in_a_second_release_a_blocked_first_wave_still_holds_the_second() {
    let emu = Emulator::start();
    let sdk = emu.sdk().await;
    let in_region = |r: &str| client_in(&sdk, r);
    seed_in(&emu, &sdk, [REGION, WAVE2], 3).await;
    emu.put_alarm("first-errors").await;
    emu.set_alarm("first-errors", "OK").await;
    let write = |dir: &std::path::Path, v: &str| {
        let one = member("shop-first", REGION, None, 1, "steps: [{weight: 10, pause: 1s}], alarms: [first-errors]");
        let two = member("shop-second", WAVE2, None, 2, "steps: [{weight: 10, pause: 1s}]");
        for (n, t) in [("first.yaml", one), ("second.yaml", two)] {
            let t =
                t.replace("ONFAILURE", "halt").replace("functionVersion: \"2\"", &format!("functionVersion: \"{v}\""));
            std::fs::write(dir.join(n), t).unwrap();
        }
    };
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "2");
    let daemon = Daemon::start(&emu, dir.path().to_str().unwrap(), &["--resync-interval", "1s"]);
    let version = |r: &'static str| {
        let c = in_region(r);
        async move {
            let a = c.get_alias().function_name(F).name("live").send().await.unwrap();
            let w = a
                .routing_config()
                .and_then(|r| r.additional_version_weights())
                .and_then(|w| w.values().next().copied());
            (a.function_version().unwrap_or_default().to_string(), w)
        }
    };
    eventually("the first release done", MINUTE, || async { version(WAVE2).await == ("2".into(), None) }).await;
    // The second release: the first wave's alarm fires before it starts, so its rollout is held.
    emu.set_alarm("first-errors", "ALARM").await;
    write(dir.path(), "3");
    eventually("the first wave blocked", MINUTE, || async { daemon.manifest("shop-first")["sync"] == "Blocked" }).await;
    let before = daemon.counter("lambda_reconciler_reconciles_total");
    daemon.wait_reconciles(before + 6.0).await;
    assert_eq!(version(REGION).await, ("2".into(), None), "the first wave is held by its alarm");
    assert_eq!(version(WAVE2).await, ("2".into(), None), "the second wave waits for the first");
    let m = marker_tag(&in_region(WAVE2), F).await;
    assert!(m.is_some_and(|m| m.contains("phase=queued") && m.contains("to=3")), "queued for version 3");
    daemon.sigterm();
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_leaves_a_later_wave_queued_behind_a_first_wave_that_cannot_start_instead_of_waiting_forever() {
    let emu = Emulator::start();
    let sdk = emu.sdk().await;
    let in_region = |r: &str| client_in(&sdk, r);
    seed_in(&emu, &sdk, [REGION, WAVE2], 2).await;
    // The first wave names an alarm that does not exist: its rollout cannot start.
    let one = member("shop-first", REGION, None, 1, "steps: [{weight: 10, pause: 1s}], alarms: [missing-alarm]");
    let two = member("shop-second", WAVE2, None, 2, "steps: [{weight: 10, pause: 1s}]");
    let dir = manifests(&[
        ("first.yaml", &one.replace("ONFAILURE", "halt")),
        ("second.yaml", &two.replace("ONFAILURE", "halt")),
    ]);
    let run = emu.run(&["apply", "-m", path(&dir)]).expect(1);
    assert!(run.all().contains("alarm `missing-alarm` not found"), "{}", run.all());
    assert!(run.all().contains("left queued (wave 1: shop-first (ap-northeast-1) is applying)"), "{}", run.all());
    let a = in_region(WAVE2).get_alias().function_name(F).name("live").send().await.unwrap();
    assert_eq!(a.function_version(), Some("1"));
    assert!(marker_tag(&in_region(WAVE2), F).await.is_some_and(|m| m.contains("phase=queued")));
}
