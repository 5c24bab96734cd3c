//! Rollout moves cut short between their alias write and their marker write (kill -9, or an AWS
//! error on the second call), and weights no rollout of this controller wrote.

use super::rollout::{HookKind, MarkerWrite, Move};
use super::rollout_tests::{desired, marker, observed, rollout, write, T0};
use super::{plan, Action};
use crate::observed::Observed;
use crate::types::*;

/// `o` after the alias write of `mv` only (the marker write never happened).
fn alias_only(mut o: Observed, mv: &Move) -> Observed {
    if let Move::Write { alias: Some((v, r)), .. } = mv {
        let a = o.aliases.get_mut("live").unwrap();
        a.function_version = v.clone();
        a.routing = r.clone();
    }
    o
}

/// `o` after both writes of `mv`.
fn both(o: Observed, mv: &Move) -> Observed {
    let mut o = alias_only(o, mv);
    let f = o.function.as_mut().unwrap();
    match mv {
        Move::Write { marker: MarkerWrite::Set(m), .. } => drop(f.markers.insert("live".into(), m.clone())),
        Move::Write { marker: MarkerWrite::Remove, .. } => drop(f.markers.remove("live")),
        _ => {}
    }
    o
}

#[test]
fn a_switch_with_a_post_traffic_hook_cut_short_after_its_alias_write_still_runs_the_hook() {
    let d = desired("{strategy: AllAtOnce, hooks: {postTraffic: post}}");
    let mut o = observed("6", &[], None, T0);
    // Follow the rollout's writes; the first one that moves the alias is cut short after it.
    for _ in 0..4 {
        let p = plan(&d, &o);
        let mv = rollout(&p).mv.clone();
        if let Move::Hook { kind, .. } = &mv {
            assert_eq!(*kind, HookKind::PostTraffic);
            return;
        }
        o = if write(&mv).1.is_some() { alias_only(o, &mv) } else { both(o, &mv) };
    }
    panic!("the postTraffic hook never ran: {:#?}", plan(&d, &o));
}

#[test]
fn a_hand_set_weight_is_not_adopted_past_a_pre_traffic_hook_that_never_ran() {
    // With a preTraffic hook the controller's first write is the pre-traffic marker, so a step's
    // weight with no marker is someone else's: drift, never a rollout past its hook.
    let d = desired("{strategy: Canary10Percent5Minutes, hooks: {preTraffic: pre}}");
    let p = plan(&d, &observed("6", &[("7", 0.1)], None, T0));
    assert!(
        matches!(&p.changes[..], [c] if matches!(&c.action, Action::UpdateAlias { routing: Some(r), .. } if r.is_empty())),
        "{p:#?}"
    );
    assert!(p.rollouts.is_empty(), "{p:#?}");
}

#[test]
fn a_failed_pre_traffic_hook_records_its_verdict_without_an_alias_write_first() {
    // The alias has not moved yet: an UpdateAlias before the marker only widens the window in
    // which the verdict is lost and the hook runs again (and may pass).
    let m = marker(Phase::PreTraffic, T0);
    let mv = super::rollout::hook_failed(HookKind::PreTraffic, &m, "no".into(), T0 + 1);
    let (MarkerWrite::Set(next), alias) = write(&mv) else { panic!("{mv:?}") };
    assert_eq!((&next.phase, alias), (&Phase::RolledBack { reason: "no".into() }, None));
    let post = super::rollout::hook_failed(HookKind::PostTraffic, &m, "no".into(), T0 + 1);
    assert_eq!(write(&post).1, Some(&("6".to_string(), Routing::new())), "from 100 %: the alias goes back");
}

#[test]
fn a_first_weight_whose_marker_write_was_cut_short_rolls_back_on_an_alarm_not_as_drift() {
    // The weight is this rollout's (adopted); a firing alarm rolls it back as the rollout does,
    // not as drift (which `driftPolicy: alert` or an ignored routing would leave in place).
    let d = desired("{steps: [{weight: 10, pause: 1m}, {weight: 50, pause: 2m}], alarms: [errors]}");
    let mut o = observed("6", &[("7", 0.1)], None, T0);
    o.alarms.insert("errors".into(), AlarmState::Alarm);
    let p = plan(&d, &o);
    assert!(p.changes.is_empty(), "{p:#?}");
    let (MarkerWrite::Set(m), alias) = write(&rollout(&p).mv) else { panic!("{p:#?}") };
    assert_eq!(
        (&m.phase, alias),
        (&Phase::RolledBack { reason: "alarm errors in ALARM".into() }, Some(&("6".to_string(), Routing::new())))
    );
}

#[test]
fn a_step_first_seen_after_a_restart_is_recorded_so_the_next_restart_does_not_count_its_pause_again() {
    // Steps 10 % (1m) and 50 % (2m); the alias reached 50 % in one write (the marker still names
    // step 0). A process that restarts more often than a pause would otherwise hold it forever.
    let d = desired("{steps: [{weight: 10, pause: 1m}, {weight: 50, pause: 2m}], alarms: [errors]}");
    let restart = |m: Marker, now: i64| {
        let mut o = observed("6", &[("7", 0.5)], Some(m), now);
        o.seen.insert("live".into(), now);
        o.seen_on_read.insert("live".into());
        o
    };
    let p = plan(&d, &restart(marker(Phase::Shifting { step: 0 }, T0), T0 + 90_000));
    let (MarkerWrite::Set(m), alias) = write(&rollout(&p).mv) else { panic!("{p:#?}") };
    assert_eq!((&m.phase, m.since_ms, alias), (&Phase::Shifting { step: 1 }, T0 + 90_000, None));
    // Another restart a minute later: the pause counts from the first read, not from now.
    let p = plan(&d, &restart(m.clone(), T0 + 150_000));
    assert_eq!(rollout(&p).mv, Move::Wait { until_ms: Some(T0 + 210_000) });
}
