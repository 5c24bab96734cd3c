//! Rollout planner tables: (alias, marker, alarms, clock) → the one move to make now.

use std::collections::BTreeMap;
use std::path::Path;

use super::rollout::{HookKind, MarkerWrite, Move, Rollout};
use super::{plan, Action, FunctionPlan};
use crate::desired::{build, Desired};
use crate::manifest::load_file;
use crate::observed::Observed;
use crate::types::*;

pub(super) const T0: i64 = 1_800_000_000_000;

pub(super) fn desired(deployment: &str) -> Desired {
    let text = format!(
        "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: f\nspec:\n  aliases:\n    live:\n      functionVersion: \"7\"\n      deployment: {deployment}\n"
    );
    let m = load_file(Path::new("t.yaml"), &text).unwrap_or_else(|e| panic!("{e:?}")).remove(0);
    build(&m, Some("us-east-1"), &BTreeMap::new()).unwrap()
}

const STEPS: &str = "{steps: [{weight: 10, pause: 1m}, {weight: 50, pause: 2m}], alarms: [errors]}";

pub(super) fn observed(version: &str, routing: &[(&str, f64)], marker: Option<Marker>, now: i64) -> Observed {
    let f = FunctionState {
        arn: "arn:aws:lambda:us-east-1:123456789012:function:f".into(),
        markers: marker.into_iter().map(|m| ("live".to_string(), m)).collect(),
        ..super::tests::function()
    };
    let alias = AliasState {
        function_version: version.into(),
        description: String::new(),
        routing: routing.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        revision: String::new(),
    };
    Observed {
        function: Some(f),
        aliases: BTreeMap::from([("live".to_string(), alias)]),
        alarms: BTreeMap::from([("errors".to_string(), AlarmState::Ok)]),
        now_ms: now,
        ..Observed::default()
    }
}

pub(super) fn marker(phase: Phase, since: i64) -> Marker {
    Marker {
        id: "r1".into(),
        from: "6".into(),
        to: "7".into(),
        phase,
        since_ms: since,
        gate: Gate::None,
        release: None,
    }
}

pub(super) fn rollout(p: &FunctionPlan) -> &Rollout {
    assert_eq!(p.rollouts.len(), 1, "{p:#?}");
    &p.rollouts[0]
}

pub(super) fn write(mv: &Move) -> (&MarkerWrite, Option<&(String, Routing)>) {
    match mv {
        Move::Write { marker, alias } => (marker, alias.as_ref()),
        other => panic!("not a write: {other:?}"),
    }
}

fn to7(w: f64) -> Routing {
    Routing::from([("7".to_string(), w)])
}

#[test]
fn a_version_change_starts_at_the_first_step_and_writes_its_marker() {
    let p = plan(&desired(STEPS), &observed("6", &[], None, T0));
    assert!(p.changes.is_empty(), "the rollout, not an UpdateAlias, moves the version: {p:#?}");
    let (m, alias) = write(&rollout(&p).mv);
    let MarkerWrite::Set(m) = m else { panic!("{m:?}") };
    assert_eq!((m.from.as_str(), m.to.as_str(), &m.phase, m.since_ms), ("6", "7", &Phase::Shifting { step: 0 }, T0));
    assert_eq!(alias, Some(&("6".to_string(), to7(0.1))));
}

#[test]
fn a_step_waits_for_its_pause_then_moves_to_the_next_weight() {
    let m = marker(Phase::Shifting { step: 0 }, T0);
    let early = plan(&desired(STEPS), &observed("6", &[("7", 0.1)], Some(m.clone()), T0 + 59_999));
    assert_eq!(rollout(&early).mv, Move::Wait { until_ms: Some(T0 + 60_000) });
    let due = plan(&desired(STEPS), &observed("6", &[("7", 0.1)], Some(m), T0 + 60_000));
    // One write: the alias's weight is the step; the marker stays as it is.
    assert_eq!(write(&rollout(&due).mv), (&MarkerWrite::Keep, Some(&("6".to_string(), to7(0.5)))));
}

#[test]
fn a_step_the_marker_does_not_name_is_read_from_the_weight_and_its_pause_counts_from_when_it_was_first_seen() {
    let m = marker(Phase::Shifting { step: 0 }, T0);
    let mut o = observed("6", &[("7", 0.5)], Some(m), T0 + 90_000);
    o.seen.insert("live".into(), T0 + 60_000);
    let p = plan(&desired(STEPS), &o);
    assert_eq!(rollout(&p).step, 2, "{p:#?}");
    assert_eq!(rollout(&p).mv, Move::Wait { until_ms: Some(T0 + 180_000) });
    assert!(p.changes.is_empty(), "not drift: {p:#?}");
    // A new process (nothing seen): the pause counts from now, never from the marker's time.
    let restarted = plan(
        &desired(STEPS),
        &observed("6", &[("7", 0.5)], Some(marker(Phase::Shifting { step: 0 }, T0)), T0 + 90_000),
    );
    assert_eq!(rollout(&restarted).mv, Move::Wait { until_ms: Some(T0 + 90_000 + 120_000) });
}

#[test]
fn after_the_last_step_the_alias_goes_to_the_new_version_and_then_the_marker_goes() {
    let m = marker(Phase::Shifting { step: 1 }, T0);
    let p = plan(&desired(STEPS), &observed("6", &[("7", 0.5)], Some(m.clone()), T0 + 120_000));
    assert_eq!(write(&rollout(&p).mv), (&MarkerWrite::Keep, Some(&("7".to_string(), Routing::new()))));
    let done = plan(&desired(STEPS), &observed("7", &[], Some(m), T0 + 120_001));
    assert_eq!(rollout(&done).phase, "PostTraffic");
    assert_eq!(rollout(&done).mv, Move::Write { marker: MarkerWrite::Remove, alias: None });
}

#[test]
fn an_alarm_in_alarm_rolls_back_to_the_old_version_without_routing() {
    let mut o = observed("6", &[("7", 0.1)], Some(marker(Phase::Shifting { step: 0 }, T0)), T0 + 1000);
    o.alarms.insert("errors".into(), AlarmState::Alarm);
    let p = plan(&desired(STEPS), &o);
    let (MarkerWrite::Set(m), alias) = write(&rollout(&p).mv) else { panic!() };
    assert_eq!(m.phase, Phase::RolledBack { reason: "alarm errors in ALARM".into() });
    assert_eq!(alias, Some(&("6".to_string(), Routing::new())));
}

#[test]
fn a_rolled_back_target_is_held_until_the_manifest_changes_it() {
    let m = marker(Phase::RolledBack { reason: "alarm errors in ALARM".into() }, T0);
    let held = plan(&desired(STEPS), &observed("6", &[], Some(m.clone()), T0 + 3_600_000));
    assert_eq!(rollout(&held).mv, Move::Wait { until_ms: None });
    assert_eq!((rollout(&held).phase.as_str(), held.changes.len()), ("RolledBack", 0));
    let mut next = desired(STEPS);
    next.aliases["live"].function_version = "8".into();
    let p = plan(&next, &observed("6", &[], Some(m), T0));
    assert_eq!(rollout(&p).mv, Move::Write { marker: MarkerWrite::Remove, alias: None }, "the old marker goes first");
}

#[test]
fn a_roll_back_cut_short_between_its_alias_and_marker_writes_ends_rolled_back_not_stepped_again() {
    for m in [
        marker(Phase::Shifting { step: 0 }, T0),
        marker(Phase::Shifting { step: 1 }, T0),
        marker(Phase::PostTraffic, T0),
    ] {
        let p = plan(&desired(STEPS), &observed("6", &[], Some(m), T0 + 1));
        let (MarkerWrite::Set(back), alias) = write(&rollout(&p).mv) else { panic!("{p:#?}") };
        assert!(
            matches!(&back.phase, Phase::RolledBack { reason } if reason.contains("roll back cut short")),
            "{back:?}"
        );
        assert_eq!(alias, None, "the alias is back already: only the marker is written");
        assert!(p.changes.is_empty(), "{p:#?}");
    }
}

#[test]
fn a_first_weight_whose_marker_write_was_cut_short_is_taken_as_the_rollout_not_drift() {
    let p = plan(&desired(STEPS), &observed("6", &[("7", 0.1)], None, T0));
    let (MarkerWrite::Set(m), alias) = write(&rollout(&p).mv) else { panic!("{p:#?}") };
    assert_eq!((m.from.as_str(), m.to.as_str(), &m.phase, alias), ("6", "7", &Phase::Shifting { step: 0 }, None));
    assert!(p.changes.is_empty(), "{p:#?}");
    // A weight no step has is not this rollout's: put right first.
    let p = plan(&desired(STEPS), &observed("6", &[("7", 0.3)], None, T0));
    assert!(p.rollouts.is_empty() && p.changes.len() == 1, "{p:#?}");
}

#[test]
fn a_weight_past_the_pre_traffic_hook_writes_the_shifting_phase_before_anything_else() {
    let d = desired("{strategy: Canary10Percent5Minutes, hooks: {preTraffic: pre}}");
    let p = plan(&d, &observed("6", &[("7", 0.1)], Some(marker(Phase::PreTraffic, T0)), T0 + 5));
    let (MarkerWrite::Set(m), alias) = write(&rollout(&p).mv) else { panic!("{p:#?}") };
    assert_eq!((&m.phase, alias), (&Phase::Shifting { step: 0 }, None));
}

#[test]
fn a_manual_step_reached_by_its_weight_writes_its_gate_for_promote() {
    let d = desired("{steps: [{weight: 10, pause: 1m}, {weight: 50, pause: manual}]}");
    let p = plan(&d, &observed("6", &[("7", 0.5)], Some(marker(Phase::Shifting { step: 0 }, T0)), T0 + 61_000));
    let (MarkerWrite::Set(m), alias) = write(&rollout(&p).mv) else { panic!("{p:#?}") };
    assert_eq!((&m.phase, m.gate, alias), (&Phase::Shifting { step: 1 }, Gate::Waiting, None));
    // Entering a manual step writes the weight and then its gate.
    let p = plan(&d, &observed("6", &[("7", 0.1)], Some(marker(Phase::Shifting { step: 0 }, T0)), T0 + 60_000));
    let (MarkerWrite::Set(m), alias) = write(&rollout(&p).mv) else { panic!("{p:#?}") };
    assert_eq!(
        (&m.phase, m.gate, alias),
        (&Phase::Shifting { step: 1 }, Gate::Waiting, Some(&("6".to_string(), to7(0.5))))
    );
}

#[test]
fn a_roll_back_whose_alias_is_back_already_writes_only_its_marker() {
    let mut o = observed("6", &[], Some(marker(Phase::Shifting { step: 1 }, T0)), T0 + 1000);
    o.alarms.insert("errors".into(), AlarmState::Alarm);
    let p = plan(&desired(STEPS), &o);
    let (MarkerWrite::Set(m), alias) = write(&rollout(&p).mv) else { panic!() };
    assert_eq!((m.phase.clone(), alias), (Phase::RolledBack { reason: "alarm errors in ALARM".into() }, None));
}

#[test]
fn a_step_index_past_an_edited_step_list_is_clamped_not_drift_to_a_full_weight() {
    // The list shrank under a rollout at step 6: the alias at the list's last weight is that
    // step (not drift towards a weight of 1.0), and the rollout goes on to 100 % after its pause.
    let m = marker(Phase::Shifting { step: 5 }, T0);
    let mut o = observed("6", &[("7", 0.5)], Some(m.clone()), T0 + 1);
    o.seen.insert("live".into(), T0 - 120_000);
    let p = plan(&desired(STEPS), &o);
    assert!(p.changes.is_empty(), "{p:#?}");
    assert_eq!(write(&rollout(&p).mv), (&MarkerWrite::Keep, Some(&("7".to_string(), Routing::new()))));
    // A weight the shorter list does not have: back to its last step's.
    let p = plan(&desired(STEPS), &observed("6", &[("7", 0.7)], Some(m), T0 + 1));
    assert!(matches!(&p.changes[0].action, Action::UpdateAlias { routing: Some(r), .. } if *r == to7(0.5)), "{p:#?}");
}

#[test]
fn a_rollout_never_starts_from_an_alias_on_latest() {
    let p = plan(&desired(STEPS), &observed("$LATEST", &[], None, T0));
    assert!(p.rollouts.is_empty() && p.blocked[0].contains("$LATEST"), "{p:#?}");
}

#[test]
fn a_weight_changed_by_someone_else_mid_rollout_is_drift_restored_to_the_step() {
    let m = marker(Phase::Shifting { step: 0 }, T0);
    let p = plan(&desired(STEPS), &observed("6", &[("7", 0.3)], Some(m), T0 + 1));
    // The rollout stays in flight, making no move, so its alarms are still watched meanwhile.
    assert_eq!(rollout(&p).mv, Move::Wait { until_ms: None });
    assert!(rollout(&p).active());
    assert_eq!(
        p.changes[0].action,
        Action::UpdateAlias {
            alias: "live".into(),
            version: Some("6".into()),
            description: None,
            routing: Some(to7(0.1))
        }
    );
    assert_eq!(p.changes[0].diffs.last().unwrap().field, "aliases.live.routing");
}

#[test]
fn a_target_edited_mid_rollout_ends_it_at_the_stable_version_first() {
    let mut d = desired(STEPS);
    d.aliases["live"].function_version = "8".into();
    let p = plan(&d, &observed("6", &[("7", 0.5)], Some(marker(Phase::Shifting { step: 1 }, T0)), T0));
    assert_eq!(rollout(&p).mv, Move::Write { marker: MarkerWrite::Remove, alias: Some(("6".into(), Routing::new())) });
}

#[test]
fn a_pre_traffic_hook_runs_before_any_weight_moves() {
    let d = desired("{strategy: Canary10Percent5Minutes, hooks: {preTraffic: pre, timeout: 30s}}");
    let start = plan(&d, &observed("6", &[], None, T0));
    let (MarkerWrite::Set(m), alias) = write(&rollout(&start).mv) else { panic!() };
    assert_eq!((&m.phase, alias), (&Phase::PreTraffic, None));
    let p = plan(&d, &observed("6", &[], Some(m.clone()), T0 + 5));
    let Move::Hook { kind, function, timeout_ms, then, .. } = &rollout(&p).mv else { panic!("{p:#?}") };
    assert_eq!((*kind, function.as_str(), *timeout_ms), (HookKind::PreTraffic, "pre", 30_000));
    assert_eq!(write(then).1, Some(&("6".to_string(), to7(0.1))));
}

#[test]
fn a_rollout_does_not_start_with_a_missing_hook_or_alarm_or_a_firing_alarm() {
    let d = desired("{strategy: AllAtOnce, alarms: [errors], hooks: {postTraffic: post}}");
    let mut o = observed("6", &[], None, T0);
    o.hooks.insert("post".into(), false);
    assert!(plan(&d, &o).blocked[0].contains("hook function `post` not found"));
    o.hooks.insert("post".into(), true);
    o.alarms.clear();
    assert!(plan(&d, &o).blocked[0].contains("alarm `errors` not found"));
    o.alarms.insert("errors".into(), AlarmState::Alarm);
    let p = plan(&d, &o);
    assert!(p.blocked[0].contains("is in ALARM") && p.rollouts.is_empty(), "{p:#?}");
}

#[test]
fn all_at_once_without_hooks_switches_without_a_marker() {
    let p = plan(&desired("{strategy: AllAtOnce}"), &observed("6", &[], None, T0));
    assert_eq!(rollout(&p).mv, Move::Write { marker: MarkerWrite::Keep, alias: Some(("7".into(), Routing::new())) });
}

#[test]
fn a_marker_left_on_an_alias_without_a_deployment_is_removed() {
    let mut d = desired(STEPS);
    d.aliases["live"].deployment = None;
    let p = plan(&d, &observed("7", &[], Some(marker(Phase::PostTraffic, T0)), T0));
    assert_eq!(rollout(&p).mv, Move::Write { marker: MarkerWrite::Remove, alias: None });
}

#[test]
fn a_roll_back_from_one_hundred_percent_or_a_promote_cut_short_is_finished_not_drift() {
    let back = marker(Phase::RolledBack { reason: "hook failed".into() }, T0);
    let p = plan(&desired(STEPS), &observed("7", &[], Some(back), T0 + 1));
    assert!(p.changes.is_empty(), "{p:#?}");
    assert_eq!(rollout(&p).mv, Move::Write { marker: MarkerWrite::Keep, alias: Some(("6".into(), Routing::new())) });
    let promoted = marker(Phase::PostTraffic, T0);
    let p = plan(&desired(STEPS), &observed("6", &[("7", 0.1)], Some(promoted), T0 + 1));
    assert!(p.changes.is_empty(), "{p:#?}");
    assert_eq!(write(&rollout(&p).mv).1, Some(&("7".to_string(), Routing::new())));
}

#[test]
fn weights_on_a_third_version_before_a_start_are_drift_put_right_before_the_rollout_starts() {
    let p = plan(&desired(STEPS), &observed("6", &[("5", 0.2)], None, T0));
    assert!(p.rollouts.is_empty(), "{p:#?}");
    assert_eq!(p.changes.len(), 1);
    assert!(
        matches!(&p.changes[0].action, Action::UpdateAlias { version: Some(v), routing: Some(r), .. } if v == "6" && r.is_empty())
    );
    assert_eq!(p.changes[0].diffs.last().unwrap().field, "aliases.live.routing");
}

#[test]
fn a_step_weight_prints_as_the_percent_the_manifest_gives() {
    let p =
        plan(&desired("{steps: [{weight: 55, pause: 1m}, {weight: 70, pause: 1m}]}"), &observed("6", &[], None, T0));
    let text = super::render::text(&super::Plan { functions: vec![p] });
    assert!(text.contains("then 55% on 7"), "{text}");
}

/// Versions 6 and 7 read, 7 with a dead-letter target 6 lacks.
fn with_different_dead_letter_targets(mut o: Observed) -> Observed {
    let role = "arn:aws:iam::123456789012:role/app";
    o.versions.insert("6".into(), VersionConfig { role: role.into(), ..VersionConfig::default() });
    let mut seven = VersionConfig { role: role.into(), ..VersionConfig::default() };
    seven.settings.dead_letter_target = Some("arn:aws:sqs:us-east-1:123456789012:dlq".into());
    o.versions.insert("7".into(), seven);
    o
}

#[test]
fn weights_between_versions_with_different_dead_letter_targets_hold_the_rollout_naming_both() {
    let p = plan(&desired(STEPS), &with_different_dead_letter_targets(observed("6", &[], None, T0)));
    assert!(p.rollouts.is_empty() && p.changes.is_empty(), "{p:#?}");
    assert_eq!(p.blocked.len(), 1, "{p:#?}");
    let said = &p.blocked[0];
    assert!(
        said.contains(
            "version 6 has execution role arn:aws:iam::123456789012:role/app, dead-letter target none; version 7 has"
        ),
        "{said}"
    );
    assert!(said.contains("dead-letter target arn:aws:sqs:us-east-1:123456789012:dlq"), "{said}");
    // A rollout that wrote its marker before the versions were compared waits, no weight moved.
    let pre = observed("6", &[], Some(marker(Phase::PreTraffic, T0)), T0);
    let p = plan(&desired(STEPS), &with_different_dead_letter_targets(pre));
    assert_eq!((p.blocked.len(), &rollout(&p).mv), (1, &Move::Wait { until_ms: None }), "{p:#?}");
}

#[test]
fn with_the_switch_chosen_such_versions_take_all_traffic_at_once() {
    let spec = STEPS.replace("alarms: [errors]", "alarms: [errors], onRoleOrDeadLetterChange: switch");
    let p = plan(&desired(&spec), &with_different_dead_letter_targets(observed("6", &[], None, T0)));
    assert!(p.blocked.is_empty(), "{p:#?}");
    let (m, alias) = write(&rollout(&p).mv);
    assert_eq!((m, alias), (&MarkerWrite::Keep, Some(&("7".to_string(), Routing::new()))));
}

const GATED: &str = "{steps: [{weight: 10, pause: manual}, {weight: 50, pause: 1m}]}";
const GATED_TIMEOUT: &str = "{steps: [{weight: 10, pause: manual, timeout: 1h}, {weight: 50, pause: 1m}]}";
const GATED_PROMOTE: &str = "{steps: [{weight: 10, pause: manual, timeout: 1h, onTimeout: promote}]}";

fn gated(gate: Gate) -> Marker {
    Marker { gate, ..marker(Phase::Shifting { step: 0 }, T0) }
}

#[test]
fn a_manual_step_is_entered_waiting_and_holds_its_weight_until_approved() {
    let start = plan(&desired(GATED), &observed("6", &[], None, T0));
    let (MarkerWrite::Set(m), _) = write(&rollout(&start).mv) else { panic!() };
    assert_eq!((&m.phase, m.gate), (&Phase::Shifting { step: 0 }, Gate::Waiting));
    let days_later = T0 + 30 * 86_400_000;
    let waiting = plan(&desired(GATED), &observed("6", &[("7", 0.1)], Some(gated(Gate::Waiting)), days_later));
    assert_eq!(rollout(&waiting).mv, Move::Wait { until_ms: None }, "no timeout: it waits for a person");
    assert_eq!(rollout(&waiting).waiting_for_approval.as_deref(), Some("waiting for approval (promote)"));
    let approved = plan(&desired(GATED), &observed("6", &[("7", 0.1)], Some(gated(Gate::Approved)), T0 + 1));
    // Leaving an approved step writes the marker too: no gate stays on a step the alias left.
    let (MarkerWrite::Set(next), alias) = write(&rollout(&approved).mv) else { panic!() };
    assert_eq!((&next.phase, next.gate), (&Phase::Shifting { step: 1 }, Gate::None));
    assert_eq!(alias, Some(&("6".to_string(), to7(0.5))));
}

#[test]
fn a_manual_step_that_times_out_rolls_back_or_goes_on_as_its_manifest_says() {
    let o = |now| observed("6", &[("7", 0.1)], Some(gated(Gate::Waiting)), now);
    let early = plan(&desired(GATED_TIMEOUT), &o(T0 + 3_599_999));
    assert_eq!(rollout(&early).mv, Move::Wait { until_ms: Some(T0 + 3_600_000) });
    assert!(rollout(&early)
        .waiting_for_approval
        .as_deref()
        .unwrap()
        .starts_with("waiting for approval (promote) until "));
    let late = plan(&desired(GATED_TIMEOUT), &o(T0 + 3_600_000));
    let (MarkerWrite::Set(m), alias) = write(&rollout(&late).mv) else { panic!() };
    assert_eq!(m.phase, Phase::RolledBack { reason: "step 1 was not approved in time".into() });
    assert_eq!(alias, Some(&("6".to_string(), Routing::new())));
    let promoted = plan(&desired(GATED_PROMOTE), &o(T0 + 3_600_000));
    let (MarkerWrite::Set(m), alias) = write(&rollout(&promoted).mv) else { panic!() };
    assert_eq!(m.phase, Phase::PostTraffic);
    assert_eq!(alias, Some(&("7".to_string(), Routing::new())));
}

const JUDGED: &str =
    "{steps: [{weight: 10, pause: 1m}], analysis: {minInvocations: 100, noData: {wait: 5m, then: hold}}}";

fn judged(reading: Reading, now: i64, analysis: &str) -> FunctionPlan {
    let mut o = observed("6", &[("7", 0.1)], Some(marker(Phase::Shifting { step: 0 }, T0)), now);
    o.judged.insert("live".into(), reading);
    plan(&desired(&JUDGED.replace("noData: {wait: 5m, then: hold}", analysis)), &o)
}

fn reading(old: (f64, f64), new: (f64, f64)) -> Reading {
    let s = |(invocations, errors)| Sample { invocations, errors, throttles: 0.0, duration_ms: Some(100.0) };
    Reading { old: s(old), new: s(new), ..Default::default() }
}

#[test]
fn a_judge_fail_mid_step_rolls_back_before_the_pause_ends_and_shows_its_numbers() {
    let p = judged(reading((1000.0, 5.0), (200.0, 14.0)), T0 + 1000, "noData: {wait: 5m}");
    let (MarkerWrite::Set(m), alias) = write(&rollout(&p).mv) else { panic!() };
    let reason = "judge: error rate 7.0 percent on version 7 vs 0.5 percent on 6 - limit +1 point";
    assert_eq!(m.phase, Phase::RolledBack { reason: reason.into() });
    // The marker tag keeps the reason as it is: a restart shows the same text.
    assert_eq!(Marker::parse(&m.encode()).map(|m| m.phase), Some(Phase::RolledBack { reason: reason.into() }));
    assert_eq!(alias, Some(&("6".to_string(), Routing::new())));
    let j = rollout(&p).judge.clone().unwrap();
    assert_eq!(j.numbers.unwrap().new.errors, 14.0);
    assert!(
        super::render::rollout_line(rollout(&p)).contains("error rate 7.0 percent"),
        "{}",
        super::render::rollout_line(rollout(&p))
    );
}

#[test]
fn a_judge_in_dry_run_reports_a_fail_and_the_step_goes_on() {
    let p = judged(reading((1000.0, 5.0), (200.0, 14.0)), T0 + 60_000, "dryRun: true");
    assert_eq!(write(&rollout(&p).mv).1, Some(&("7".to_string(), Routing::new())), "on to 100 %");
    assert!(matches!(rollout(&p).judge.as_ref().unwrap().verdict, Verdict::Fail { .. }));
}

#[test]
fn a_step_with_too_few_invocations_waits_then_holds_blocked_under_no_data_hold() {
    let few = reading((1000.0, 0.0), (3.0, 0.0));
    let p = judged(few.clone(), T0 + 60_000, "noData: {wait: 5m, then: hold}");
    assert_eq!(rollout(&p).mv, Move::Wait { until_ms: Some(T0 + 300_000) });
    let p = judged(few, T0 + 300_000, "noData: {wait: 5m, then: hold}");
    assert_eq!(rollout(&p).mv, Move::Wait { until_ms: None });
    assert!(p.blocked.iter().any(|b| b.contains("3 of 100 invocations of version 7")), "{:?}", p.blocked);
    let healthy = judged(reading((1000.0, 0.0), (100.0, 0.0)), T0 + 300_000, "noData: {wait: 5m, then: hold}");
    assert_eq!(
        write(&rollout(&healthy).mv).1,
        Some(&("7".to_string(), Routing::new())),
        "a pass after the hold goes on"
    );
}
