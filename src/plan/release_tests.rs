//! Release waves as data: (this member's alias and marker, the other members' states, the clock)
//! → its move, through the rollout planner.

use std::collections::BTreeMap;
use std::path::Path;

use super::super::rollout::{MarkerWrite, Move, Rollout};
use super::super::rollout_tests::observed;
use super::super::{plan, FunctionPlan};
use crate::desired::{build, releases, Desired};
use crate::manifest::load_file;
use crate::types::*;

const T0: i64 = 1_800_000_000_000;
const MIN: i64 = 60_000;

fn manifest(name: &str, region: &str, wave: u32, extra: &str) -> crate::manifest::Manifest {
    let text = format!(
        "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: {name}\nspec:\n  functionName: f\n  region: {region}\n  aliases:\n    live:\n      functionVersion: \"7\"\n      deployment: {{steps: [{{weight: 10, pause: 1m}}], alarms: [errors], release: {{name: shop, wave: {wave}, bake: 5m{extra}}}}}\n"
    );
    load_file(Path::new("t.yaml"), &text).unwrap_or_else(|e| panic!("{e:?}")).remove(0)
}

/// Member `me` (0: eu wave 1, 1: us wave 2, 2: ap wave 3) of a three-wave release, the others in
/// `states` (own entry ignored).
fn member(me: usize, states: [PeerState; 3], extra: &str) -> Desired {
    let ms = [
        manifest("eu", "eu-west-1", 1, extra),
        manifest("us", "us-east-1", 2, extra),
        manifest("ap", "ap-southeast-2", 3, extra),
    ];
    let all: Vec<&crate::manifest::Manifest> = ms.iter().collect();
    let mut d = build(&ms[me], None, &BTreeMap::new()).unwrap();
    d.releases = releases(&ms[me], &all, None);
    d.releases.get_mut("live").unwrap().peers = states.to_vec();
    d
}

fn release_id(d: &Desired) -> String {
    d.releases["live"].id.clone()
}

fn marker(d: &Desired, phase: Phase, since: i64) -> Marker {
    Marker {
        id: "r1".into(),
        from: "6".into(),
        to: "7".into(),
        phase,
        since_ms: since,
        gate: Gate::None,
        release: Some(release_id(d)),
    }
}

fn rollout(p: &FunctionPlan) -> &Rollout {
    assert_eq!(p.rollouts.len(), 1, "{p:#?}");
    &p.rollouts[0]
}

fn set(mv: &Move) -> (&Marker, Option<&(String, Routing)>) {
    match mv {
        Move::Write { marker: MarkerWrite::Set(m), alias } => (m, alias.as_ref()),
        other => panic!("not a marker write: {other:?}"),
    }
}

fn done(at_ms: i64) -> PeerState {
    PeerState::Done { at_ms, release: None }
}

fn unknown() -> PeerState {
    PeerState::Unknown { why: "n/a".into() }
}

#[test]
fn the_first_wave_starts_at_once_and_its_marker_names_the_release() {
    let d = member(0, [unknown(), PeerState::Behind, PeerState::Behind], "");
    // Later waves that have not applied yet do not hold the first wave; an unreadable one would.
    let d = Desired {
        releases: {
            let mut r = d.releases.clone();
            r.get_mut("live").unwrap().peers = vec![unknown(), PeerState::Queued, PeerState::Queued];
            r
        },
        ..d
    };
    let p = plan(&d, &observed("6", &[], None, T0));
    let (m, alias) = set(&rollout(&p).mv);
    assert_eq!((&m.phase, m.release.as_deref()), (&Phase::Shifting { step: 0 }, Some(release_id(&d).as_str())));
    assert!(alias.is_some());
    let view = rollout(&p).release.clone().unwrap();
    assert_eq!((view.name.as_str(), view.wave, view.waves), ("shop", 1, 3));
}

#[test]
fn a_later_wave_queues_until_every_earlier_member_is_done_and_its_bake_passed() {
    // Wave 1 still rolls: the wave 2 member writes a queued marker and moves no traffic.
    let d = member(1, [PeerState::Rolling, unknown(), PeerState::Queued], "");
    let p = plan(&d, &observed("6", &[], None, T0));
    let (m, alias) = set(&rollout(&p).mv);
    assert_eq!((&m.phase, alias), (&Phase::Queued, None));
    assert_eq!(rollout(&p).phase, "Queued");
    // Queued: it waits for the next read of the release.
    let q = marker(&d, Phase::Queued, T0);
    let p = plan(&d, &observed("6", &[], Some(q.clone()), T0 + 1000));
    assert_eq!(rollout(&p).mv, Move::Wait { until_ms: Some(T0 + 1000 + RELEASE_POLL_MS) });
    // Wave 1 done 1 minute ago with a 5-minute bake: it waits for the bake's end exactly.
    let d = member(1, [done(T0), unknown(), PeerState::Queued], "");
    let p = plan(&d, &observed("6", &[], Some(q.clone()), T0 + MIN));
    assert_eq!(rollout(&p).mv, Move::Wait { until_ms: Some(T0 + 5 * MIN) });
    // The bake passed: it starts (the first step's weight and a new marker in one move).
    let p = plan(&d, &observed("6", &[], Some(q), T0 + 5 * MIN));
    let (m, alias) = set(&rollout(&p).mv);
    assert_eq!(m.phase, Phase::Shifting { step: 0 });
    assert_eq!(alias, Some(&("6".to_string(), Routing::from([("7".to_string(), 0.1)]))));
    assert_eq!(rollout(&p).phase, "Starting");
}

#[test]
fn a_member_that_cannot_be_read_or_has_not_applied_its_manifest_holds_the_later_waves() {
    for s in [
        unknown(),
        PeerState::Behind,
        PeerState::Queued,
        PeerState::Failed { reason: "x".into(), by_release: true, release: None },
    ] {
        let d = member(2, [done(T0), s.clone(), unknown()], "");
        let p = plan(&d, &observed("6", &[], None, T0 + 10 * MIN));
        assert_eq!(set(&rollout(&p).mv).0.phase, Phase::Queued, "{s:?}");
    }
}

#[test]
fn a_failure_in_the_middle_wave_rolls_that_wave_back_halts_the_later_ones_and_keeps_the_done_ones() {
    let failed = |extra: &str| {
        let id = member(0, [unknown(), PeerState::Queued, PeerState::Queued], extra).releases["live"].id.clone();
        PeerState::Failed { reason: "alarm errors in ALARM".into(), by_release: false, release: Some(id) }
    };
    // A later wave never starts: its target is held, no traffic moved.
    let d = member(2, [done(T0), failed(""), unknown()], "");
    let p = plan(&d, &observed("6", &[], None, T0 + 10 * MIN));
    let (m, alias) = set(&rollout(&p).mv);
    let Phase::RolledBack { reason } = &m.phase else { panic!("{m:?}") };
    assert!(reason.starts_with("release shop failed in wave 2: us (us-east-1) rolled back: alarm errors"), "{reason}");
    assert_eq!(alias, None);
    // A queued one too.
    let p = plan(&d, &observed("6", &[], Some(marker(&d, Phase::Queued, T0)), T0 + 10 * MIN));
    assert!(matches!(set(&rollout(&p).mv).0.phase, Phase::RolledBack { .. }));
    // The done first wave keeps its version under `halt`.
    let d = member(0, [unknown(), failed(""), PeerState::Queued], "");
    let p = plan(&d, &observed("7", &[], Some(marker(&d, Phase::Done, T0)), T0 + 10 * MIN));
    assert!(p.changes.is_empty() && p.rollouts.iter().all(|r| matches!(r.mv, Move::Wait { .. })), "{p:#?}");
    // Under `rollbackAll` it goes back to its old version.
    let all = ", onFailure: rollbackAll";
    let d = member(0, [unknown(), failed(all), PeerState::Queued], all);
    let p = plan(&d, &observed("7", &[], Some(marker(&d, Phase::Done, T0)), T0 + 10 * MIN));
    let (m, alias) = set(&rollout(&p).mv);
    assert!(matches!(&m.phase, Phase::RolledBack { reason } if reason.starts_with(RELEASE_REASON_PREFIX)));
    assert_eq!(alias, Some(&("6".to_string(), Routing::new())));
}

#[test]
fn a_member_in_flight_rolls_back_when_another_member_of_its_wave_fails() {
    let ms = [manifest("eu", "eu-west-1", 1, ""), manifest("us", "us-east-1", 1, "")];
    let all: Vec<&crate::manifest::Manifest> = ms.iter().collect();
    let mut d = build(&ms[0], None, &BTreeMap::new()).unwrap();
    d.releases = releases(&ms[0], &all, None);
    d.releases.get_mut("live").unwrap().peers =
        vec![unknown(), PeerState::Failed { reason: "judge: error rate".into(), by_release: false, release: None }];
    let m = marker(&d, Phase::Shifting { step: 0 }, T0);
    let p = plan(&d, &observed("6", &[("7", 0.1)], Some(m), T0 + 1000));
    let (m, alias) = set(&rollout(&p).mv);
    assert!(matches!(&m.phase, Phase::RolledBack { reason } if reason.contains("us (us-east-1) rolled back: judge")));
    assert_eq!(alias, Some(&("6".to_string(), Routing::new())));
}

#[test]
fn a_done_member_done_in_an_earlier_release_is_not_rolled_back_by_this_one() {
    let all = ", onFailure: rollbackAll";
    let id = member(0, [unknown(), PeerState::Queued, PeerState::Queued], all).releases["live"].id.clone();
    let failed = PeerState::Failed { reason: "alarm".into(), by_release: false, release: Some(id) };
    let d = member(0, [unknown(), failed, PeerState::Queued], all);
    let old = Marker { release: Some("000000000000".into()), ..marker(&d, Phase::Done, T0) };
    let p = plan(&d, &observed("7", &[], Some(old), T0 + 10 * MIN));
    assert!(p.rollouts.iter().all(|r| matches!(r.mv, Move::Wait { .. })), "{p:#?}");
}

#[test]
fn a_release_member_finishes_with_a_done_marker_and_watches_its_alarms_while_its_wave_bakes() {
    let d = member(0, [unknown(), PeerState::Queued, PeerState::Queued], "");
    let p = plan(&d, &observed("7", &[], Some(marker(&d, Phase::PostTraffic, T0)), T0));
    let (m, alias) = set(&rollout(&p).mv);
    assert_eq!((&m.phase, m.since_ms, alias), (&Phase::Done, T0, None));
    // Baking: active (alarms watched), woken at the bake's end or the next poll.
    let p = plan(&d, &observed("7", &[], Some(marker(&d, Phase::Done, T0)), T0 + 1000));
    assert_eq!(rollout(&p).phase, "Baking");
    assert!(rollout(&p).active());
    // An alarm while it bakes is the wave's failure: back to the old version.
    let mut o = observed("7", &[], Some(marker(&d, Phase::Done, T0)), T0 + 1000);
    o.alarms.insert("errors".into(), AlarmState::Alarm);
    let p = plan(&d, &o);
    let (m, alias) = set(&rollout(&p).mv);
    assert!(matches!(&m.phase, Phase::RolledBack { reason } if reason.contains("while its wave baked")));
    assert_eq!(alias, Some(&("6".to_string(), Routing::new())));
    // After the bake, nothing moves; with every member finished there is no rollout to show.
    let d = member(0, [unknown(), done(T0 + 6 * MIN), PeerState::Idle], "");
    let p = plan(&d, &observed("7", &[], Some(marker(&d, Phase::Done, T0)), T0 + 10 * MIN));
    assert!(p.rollouts.is_empty() && p.changes.is_empty(), "{p:#?}");
}

#[test]
fn a_member_the_release_rolled_back_starts_again_once_no_member_failed_on_its_own() {
    let d = member(2, [done(T0), PeerState::Rolling, unknown()], "");
    let by_release = Phase::RolledBack { reason: format!("{RELEASE_REASON_PREFIX}shop failed in wave 2") };
    let p = plan(&d, &observed("6", &[], Some(marker(&d, by_release.clone(), T0)), T0 + MIN));
    assert_eq!(rollout(&p).mv, Move::Write { marker: MarkerWrite::Remove, alias: None });
    // Not while a member's own failure stands, nor while one cannot be read.
    for s in [PeerState::Failed { reason: "alarm".into(), by_release: false, release: None }, unknown()] {
        let d = member(2, [done(T0), s, unknown()], "");
        let p = plan(&d, &observed("6", &[], Some(marker(&d, by_release.clone(), T0)), T0 + MIN));
        assert!(matches!(rollout(&p).mv, Move::Wait { until_ms: None }), "{p:#?}");
    }
    // A member's own failure is never lifted by the release.
    let d = member(2, [done(T0), PeerState::Rolling, unknown()], "");
    let own = Phase::RolledBack { reason: "alarm errors in ALARM".into() };
    let p = plan(&d, &observed("6", &[], Some(marker(&d, own, T0)), T0 + MIN));
    assert!(matches!(rollout(&p).mv, Move::Wait { until_ms: None }));
}

#[test]
fn a_future_done_time_from_a_forged_tag_cannot_hold_the_next_wave_past_its_bake() {
    let d = member(1, [done(T0 + 1000 * MIN), unknown(), PeerState::Queued], "");
    let p = plan(&d, &observed("6", &[], None, T0));
    let Move::Write { .. } = rollout(&p).mv else { panic!() };
    let q = marker(&d, Phase::Queued, T0);
    let p = plan(&d, &observed("6", &[], Some(q), T0));
    assert_eq!(rollout(&p).mv, Move::Wait { until_ms: Some(T0 + 5 * MIN) });
}

#[test]
fn a_member_given_a_new_target_is_queued_for_it_in_the_write_that_ends_its_done_marker() {
    let d = member(1, [PeerState::Rolling, unknown(), PeerState::Queued], "");
    let old = Marker { to: "5".into(), from: "4".into(), ..marker(&d, Phase::Done, T0) };
    let p = plan(&d, &observed("6", &[], Some(old), T0 + MIN));
    let (m, alias) = set(&rollout(&p).mv);
    assert_eq!((&m.phase, m.to.as_str(), m.from.as_str(), alias), (&Phase::Queued, "7", "6", None));
}

#[test]
fn a_queued_member_whose_turn_came_still_waits_while_its_alarm_is_in_alarm() {
    let d = member(1, [done(T0), unknown(), PeerState::Queued], "");
    let mut o = observed("6", &[], Some(marker(&d, Phase::Queued, T0)), T0 + 10 * MIN);
    o.alarms.insert("errors".into(), AlarmState::Alarm);
    let p = plan(&d, &o);
    assert!(p.rollouts.is_empty() && p.blocked.iter().any(|b| b.contains("is in ALARM")), "{p:#?}");
}

#[test]
fn a_later_wave_that_cannot_be_read_or_failed_in_an_earlier_release_never_holds_an_earlier_wave() {
    let old_failure = PeerState::Failed { reason: "alarm".into(), by_release: false, release: Some("old".into()) };
    for s in [unknown(), old_failure] {
        let d = member(0, [unknown(), PeerState::Idle, s.clone()], "");
        let p = plan(&d, &observed("6", &[], None, T0));
        assert_eq!(set(&rollout(&p).mv).0.phase, Phase::Shifting { step: 0 }, "{s:?}");
    }
}

#[test]
fn a_queued_members_own_first_weight_is_taken_back_when_its_wave_may_not_go_whatever_the_drift_policy() {
    // Its start was cut short after the alias write (the marker still says queued), and the
    // release halted meanwhile: the weight goes as a rollout move, not as drift.
    let failed = PeerState::Failed { reason: "alarm".into(), by_release: false, release: None };
    let d = member(1, [failed, unknown(), PeerState::Queued], "");
    let q = marker(&d, Phase::Queued, T0);
    let p = plan(&d, &observed("6", &[("7", 0.1)], Some(q), T0 + 1000));
    assert!(p.changes.is_empty(), "not drift: {p:#?}");
    assert_eq!(rollout(&p).mv, Move::Write { marker: MarkerWrite::Keep, alias: Some(("6".into(), Routing::new())) });
}
