//! Planner tables: desired (from manifest YAML) + observed → expected ordered changes.

use std::collections::BTreeMap;
use std::path::Path;

use super::{plan, Action, FunctionPlan};
use crate::desired::{build, Desired};
use crate::manifest::load_file;
use crate::observed::Observed;
use crate::types::*;

pub(super) fn desired(spec: &str) -> Desired {
    let text =
        format!("apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: f\nspec:\n{spec}");
    let m = load_file(Path::new("t.yaml"), &text).unwrap_or_else(|e| panic!("{e:?}")).remove(0);
    let mut params = BTreeMap::new();
    params.insert("/p/secret".to_string(), Parameter { value: "hunter2-secret".into(), secure: true });
    params.insert("/p/host".to_string(), Parameter { value: "db.example".into(), secure: false });
    build(&m, Some("ap-northeast-1"), &params).unwrap()
}

pub(super) fn function() -> FunctionState {
    FunctionState {
        arn: "arn:aws:lambda:ap-northeast-1:123456789012:function:f".into(),
        applied_generation: AppliedGeneration::Untagged,
        revision_id: "r1".into(),
        code_sha256: "c1".into(),
        user_tags: Some(Default::default()),
        ..FunctionState::default()
    }
}

/// Target tracking at `target` with AWS's defaults.
fn tracking(target: f64) -> TargetTracking {
    TargetTracking { target_utilization: target, scale_in_cooldown: 0, scale_out_cooldown: 0, disable_scale_in: false }
}

fn observed() -> Observed {
    Observed { function: Some(function()), ..Observed::default() }
}

pub(super) fn alias(version: &str, routing: &[(&str, f64)]) -> AliasState {
    AliasState {
        function_version: version.into(),
        description: String::new(),
        routing: routing.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        revision: String::new(),
    }
}

fn pc(requested: i64, status: PcStatus) -> PcState {
    PcState { requested, allocated: requested, status, reason: None }
}

pub(super) fn ops(p: &FunctionPlan) -> Vec<&'static str> {
    p.changes.iter().map(|c| c.operation.rsplit(':').next().unwrap()).collect()
}

const LIVE_PC: &str = "  aliases:\n    live:\n      functionVersion: \"2\"\n      provisionedConcurrency: 5\n";

#[test]
fn plan_is_empty_when_observed_matches_desired() {
    let d = desired(LIVE_PC);
    let mut o = observed();
    o.aliases.insert("live".into(), alias("2", &[]));
    o.provisioned.insert("live".into(), pc(5, PcStatus::Ready));
    let p = plan(&d, &o);
    assert!(p.in_sync(), "{p:#?}");
}

#[test]
fn plan_reports_an_error_when_the_function_is_missing() {
    let p = plan(&desired(LIVE_PC), &Observed::default());
    assert!(p.error.as_deref().unwrap().contains("not found"));
    assert!(p.changes.is_empty());
}

#[test]
fn plan_leaves_absent_fields_unmanaged() {
    let d = desired("  aliases: {}\n");
    let mut o = observed();
    o.function.as_mut().unwrap().reserved_concurrency = Some(7);
    o.function.as_mut().unwrap().environment.insert("X1".into(), "y".into());
    o.invoke_configs.insert(None, InvokeConfig::default());
    assert!(plan(&d, &o).changes.is_empty());
}

#[test]
fn a_switch_to_text_logs_sends_no_levels_where_they_are_unmanaged() {
    let mut o = observed();
    let live = &mut o.function.as_mut().unwrap().settings;
    live.log_format = Some("JSON".into());
    live.application_log_level = Some("WARN".into());
    live.system_log_level = Some("INFO".into());
    live.log_group = Some("/aws/lambda/f".into());
    let p = plan(&desired("  loggingConfig: {format: Text}\n"), &o);
    let Action::UpdateConfiguration { settings, .. } = &p.changes[0].action else { panic!("{p:#?}") };
    assert_eq!(settings.log_format.as_deref(), Some("Text"));
    assert_eq!((&settings.application_log_level, &settings.system_log_level), (&None, &None));
    assert_eq!(settings.log_group.as_deref(), Some("/aws/lambda/f"), "the rest of LoggingConfig goes whole");
}

#[test]
fn plan_deletes_reserved_concurrency_when_set_to_null() {
    let mut o = observed();
    o.function.as_mut().unwrap().reserved_concurrency = Some(7);
    let p = plan(&desired("  reservedConcurrency: null\n"), &o);
    assert_eq!(p.changes[0].action, Action::DeleteReservedConcurrency);
}

#[test]
fn plan_treats_a_key_added_outside_git_as_drift_and_writes_the_whole_map() {
    let d = desired("  environment:\n    variables:\n      LOG_LEVEL: DEBUG\n");
    let mut o = observed();
    let env = &mut o.function.as_mut().unwrap().environment;
    env.insert("LOG_LEVEL".into(), "DEBUG".into());
    env.insert("EXTRA".into(), "x".into());
    let p = plan(&d, &o);
    let Action::UpdateConfiguration { environment: Some(w), .. } = &p.changes[0].action else { panic!() };
    assert_eq!(w.keys().collect::<Vec<_>>(), ["LOG_LEVEL"]);
    assert_eq!(p.changes[0].diffs[0].field, "environment.variables.EXTRA");
}

#[test]
fn plan_keeps_the_live_value_of_an_ignored_environment_key() {
    let d = desired(
        "  ignoreDifferences: [environment.variables.BUILD]\n  environment:\n    variables:\n      LOG_LEVEL: DEBUG\n",
    );
    let mut o = observed();
    o.function.as_mut().unwrap().environment.insert("BUILD".into(), "42".into());
    let p = plan(&d, &o);
    let Action::UpdateConfiguration { environment: Some(w), .. } = &p.changes[0].action else { panic!() };
    assert_eq!(w["BUILD"].value, "42");
    assert_eq!(p.changes[0].diffs.len(), 1);
}

#[test]
fn plan_masks_secure_string_values_in_text_and_json() {
    let d = desired(
        "  environment:\n    variables:\n      DB_PASSWORD: {fromSsm: /p/secret}\n      DB_HOST: {fromSsm: /p/host}\n",
    );
    let mut o = observed();
    o.function.as_mut().unwrap().environment.insert("DB_PASSWORD".into(), "old-hunter2-secret".into());
    o.function.as_mut().unwrap().environment.insert("COPY".into(), "hunter2-secret".into());
    let p = super::Plan { functions: vec![plan(&d, &o)] };
    let (text, json) = (super::render::text(&p), super::render::json(&p));
    for out in [&text, &json, &format!("{p:?}")] {
        assert!(!out.contains("hunter2-secret"), "{out}");
    }
    assert!(text.contains("DB_PASSWORD: (sensitive) → (sensitive)"), "{text}");
    assert!(text.contains("db.example"));
}

#[test]
fn plan_cuts_a_secure_string_out_of_a_longer_value_set_outside_git() {
    let d = desired("  environment:\n    variables:\n      DB_PASSWORD: {fromSsm: /p/secret}\n");
    let mut o = observed();
    o.function.as_mut().unwrap().environment.insert("DB_URL".into(), "postgres://u:hunter2-secret@db".into());
    let p = plan(&d, &o);
    let url = p.changes.iter().flat_map(|c| &c.diffs).find(|x| x.field == "environment.variables.DB_URL").unwrap();
    assert_eq!(url.from, serde_json::json!("postgres://u:(sensitive)@db"));
}

#[test]
fn plan_cuts_the_value_a_secret_had_before_its_rotation_out_of_other_values() {
    let d = desired("  environment:\n    variables:\n      DB_PASSWORD: {fromSsm: /p/secret}\n");
    let mut o = observed();
    let env = &mut o.function.as_mut().unwrap().environment;
    env.insert("DB_PASSWORD".into(), "before-rotation-pw".into());
    env.insert("DB_URL".into(), "postgres://u:before-rotation-pw@db".into());
    let p = plan(&d, &o);
    let url = p.changes.iter().flat_map(|c| &c.diffs).find(|x| x.field == "environment.variables.DB_URL").unwrap();
    assert_eq!(url.from, serde_json::json!("postgres://u:(sensitive)@db"));
}

#[test]
fn a_secret_inside_a_longer_secret_leaves_no_piece_of_the_longer_one() {
    let secrets = std::collections::BTreeSet::from(["abcdefgh".to_string(), "abcdefghijkl".to_string()]);
    assert_eq!(super::redact("key=abcdefghijkl", &secrets), "key=(sensitive)");
}

#[test]
fn a_secret_too_short_to_cut_out_of_text_is_never_searched_for_in_it() {
    // `app` cut out of "applying" would read "(sensitive)lying": mangled, and it tells the value.
    let secrets = std::collections::BTreeSet::from(["app".to_string()]);
    let message = "applying: lambda:AddPermission: ResourceConflictException";
    assert_eq!(super::redact(message, &secrets), message);
    assert_eq!(super::redact("app", &secrets), "(sensitive)", "a value equal to it is still hidden");
}

#[test]
fn a_live_value_recorded_as_sensitive_is_never_printed_after_git_stops_referencing_it() {
    // The manifest replaced `{fromSsm: …}` by a literal, and dropped another secret entirely.
    let d = desired("  environment:\n    variables:\n      DB_PASSWORD: literal-now\n");
    let mut o = observed();
    let f = o.function.as_mut().unwrap();
    f.environment.insert("DB_PASSWORD".into(), "S3CR3T-live-value".into());
    f.environment.insert("API_KEY".into(), "another-S3CR3T".into());
    f.environment.insert("DB_URL".into(), "postgres://u:S3CR3T-live-value@h".into());
    f.sensitive_env = crate::types::SensitiveEnv::parse(Some("API_KEY DB_PASSWORD"));
    let p = super::Plan { functions: vec![plan(&d, &o)] };
    let (text, json) = (super::render::text(&p), super::render::json(&p));
    for out in [&text, &json] {
        assert!(!out.contains("S3CR3T"), "{out}");
    }
    assert!(text.contains("DB_PASSWORD: (sensitive) → literal-now"), "{text}");
    assert!(text.contains("API_KEY: (sensitive)"), "{text}");
}

#[test]
fn plan_removes_provisioned_concurrency_when_set_to_null() {
    let d = desired("  aliases:\n    live:\n      functionVersion: \"2\"\n      provisionedConcurrency: null\n");
    let mut o = observed();
    o.aliases.insert("live".into(), alias("2", &[]));
    o.provisioned.insert("live".into(), pc(5, PcStatus::Ready));
    assert_eq!(ops(&plan(&d, &o)), ["DeleteProvisionedConcurrencyConfig"]);
}

#[test]
fn plan_deregisters_the_scalable_target_before_deleting_provisioned_concurrency() {
    let d = desired("  aliases:\n    live:\n      functionVersion: \"2\"\n      provisionedConcurrency: null\n      autoscaling: null\n");
    let mut o = observed();
    o.aliases.insert("live".into(), alias("2", &[]));
    o.provisioned.insert("live".into(), pc(5, PcStatus::Ready));
    o.scaling.insert(
        "live".into(),
        ScalingState { min_capacity: 1, max_capacity: 9, policies: vec![], scheduled_actions: vec![] },
    );
    assert_eq!(ops(&plan(&d, &o)), ["DeregisterScalableTarget", "DeleteProvisionedConcurrencyConfig"]);
}

const SCALED: &str = "  aliases:\n    live:\n      functionVersion: \"2\"\n      provisionedConcurrency: 5\n      autoscaling:\n        minCapacity: 5\n        maxCapacity: 100\n        targetUtilization: 0.7\n        scheduledActions:\n          - {name: morning, schedule: cron(0 9 * * ? *), minCapacity: 50, maxCapacity: 200}\n";

fn scaled_observed(requested: i64) -> Observed {
    let mut o = observed();
    o.aliases.insert("live".into(), alias("2", &[]));
    o.provisioned.insert("live".into(), pc(requested, PcStatus::Ready));
    let action = Scheduled {
        name: "morning".into(),
        schedule: "cron(0 9 * * ? *)".into(),
        min_capacity: Some(50),
        max_capacity: Some(200),
        timezone: None,
        start_time: None,
        end_time: None,
    };
    let policy = Policy { name: POLICY_NAME.into(), tracking: Some(tracking(0.7)) };
    o.scaling.insert(
        "live".into(),
        ScalingState { min_capacity: 5, max_capacity: 100, policies: vec![policy], scheduled_actions: vec![action] },
    );
    o
}

#[test]
fn plan_creates_alias_then_provisioned_concurrency_then_scaling_in_order() {
    let mut o = observed();
    o.aliases.clear();
    let p = plan(&desired(SCALED), &o);
    assert_eq!(
        ops(&p),
        [
            "CreateAlias",
            "PutProvisionedConcurrencyConfig",
            "ProvisionedConcurrencyReady",
            "RegisterScalableTarget",
            "PutScalingPolicy",
            "PutScheduledAction"
        ]
    );
}

#[test]
fn plan_does_not_treat_autoscaler_moved_provisioned_concurrency_as_drift() {
    assert!(plan(&desired(SCALED), &scaled_observed(37)).in_sync());
}

#[test]
fn plan_corrects_provisioned_concurrency_outside_the_autoscaling_range() {
    let p = plan(&desired(SCALED), &scaled_observed(300));
    assert_eq!(p.changes[0].action, Action::PutProvisionedConcurrency { alias: "live".into(), value: 5 });
}

#[test]
fn plan_replaces_the_scheduled_action_set_exactly_and_drops_foreign_policies() {
    let mut o = scaled_observed(5);
    let s = o.scaling.get_mut("live").unwrap();
    s.scheduled_actions[0].min_capacity = Some(10);
    s.scheduled_actions.push(Scheduled {
        name: "stray".into(),
        schedule: "rate(1 day)".into(),
        min_capacity: Some(1),
        max_capacity: None,
        timezone: None,
        start_time: None,
        end_time: None,
    });
    s.policies.push(Policy { name: "console-made".into(), tracking: None });
    assert_eq!(
        ops(&plan(&desired(SCALED), &o)),
        ["DeleteScalingPolicy", "PutScheduledAction", "DeleteScheduledAction"]
    );
}

#[test]
fn plan_sets_provisioned_concurrency_before_adding_weights() {
    let d = desired("  aliases:\n    prod:\n      functionVersion: \"1\"\n      routing: {\"2\": 0.1}\n      provisionedConcurrency: 3\n");
    let mut o = observed();
    o.aliases.insert("prod".into(), alias("1", &[]));
    let p = plan(&d, &o);
    assert_eq!(ops(&p), ["PutProvisionedConcurrencyConfig", "ProvisionedConcurrencyReady", "UpdateAlias"]);
    let Action::UpdateAlias { routing: Some(r), .. } = &p.changes[2].action else { panic!() };
    assert_eq!(r["2"], 0.1);
}

#[test]
fn plan_blocks_a_provisioned_concurrency_change_on_an_alias_with_weights() {
    let d = desired("  aliases:\n    prod:\n      functionVersion: \"1\"\n      routing: {\"2\": 0.1}\n      provisionedConcurrency: 8\n      eventInvokeConfig: {maximumRetryAttempts: 0}\n");
    let mut o = observed();
    o.aliases.insert("prod".into(), alias("1", &[("2", 0.1)]));
    o.provisioned.insert("prod".into(), pc(3, PcStatus::Ready));
    let p = plan(&d, &o);
    assert!(
        p.blocked[0].contains("Alias with weights can not be used with Provisioned Concurrency"),
        "{:?}",
        p.blocked
    );
    assert_eq!(ops(&p), ["PutFunctionEventInvokeConfig"]);
}

#[test]
fn plan_removes_weights_first_when_provisioned_concurrency_changes_and_weights_go() {
    let d = desired(
        "  aliases:\n    prod:\n      functionVersion: \"2\"\n      routing: {}\n      provisionedConcurrency: 8\n",
    );
    let mut o = observed();
    o.aliases.insert("prod".into(), alias("1", &[("2", 0.1)]));
    o.provisioned.insert("prod".into(), pc(3, PcStatus::Ready));
    let p = plan(&d, &o);
    assert!(p.blocked.is_empty());
    assert_eq!(ops(&p), ["UpdateAlias", "PutProvisionedConcurrencyConfig", "ProvisionedConcurrencyReady"]);
}

#[test]
fn plan_reports_in_progress_provisioned_concurrency_as_progressing_not_drift() {
    let d = desired(LIVE_PC);
    let mut o = observed();
    o.aliases.insert("live".into(), alias("2", &[]));
    o.provisioned
        .insert("live".into(), PcState { requested: 5, allocated: 2, status: PcStatus::InProgress, reason: None });
    let p = plan(&d, &o);
    assert!(p.changes.is_empty());
    assert!(p.progressing[0].contains("IN_PROGRESS"));
}

#[test]
fn plan_reapplies_failed_provisioned_concurrency_showing_the_reason() {
    let mut o = observed();
    o.aliases.insert("live".into(), alias("2", &[]));
    o.provisioned.insert(
        "live".into(),
        PcState { requested: 5, allocated: 0, status: PcStatus::Failed, reason: Some("capacity".into()) },
    );
    let p = plan(&desired(LIVE_PC), &o);
    assert_eq!(p.changes[0].diffs[0].from, serde_json::json!("FAILED: capacity"));
}

#[test]
fn plan_respects_ignore_differences_for_alias_routing() {
    let d = desired("  ignoreDifferences: [aliases.prod.routing]\n  aliases:\n    prod:\n      functionVersion: \"1\"\n      routing: {}\n");
    let mut o = observed();
    o.aliases.insert("prod".into(), alias("1", &[("2", 0.5)]));
    assert!(plan(&d, &o).changes.is_empty());
}

#[test]
fn plan_reports_unlisted_aliases_as_unmanaged_and_deletes_them_only_with_prune() {
    let mut o = observed();
    o.aliases.insert("old".into(), alias("1", &[]));
    let p = plan(&desired("  aliases: {}\n"), &o);
    assert_eq!(p.unmanaged_aliases, ["old"]);
    assert!(p.changes.is_empty());
    o.scaling.insert(
        "old".into(),
        ScalingState { min_capacity: 1, max_capacity: 2, policies: vec![], scheduled_actions: vec![] },
    );
    let p = plan(&desired("  prune: true\n  aliases: {}\n"), &o);
    assert_eq!(ops(&p), ["DeregisterScalableTarget", "DeleteAlias"]);
}

#[test]
fn plan_compares_event_invoke_configs_with_aws_defaults_filled_in() {
    let d = desired("  eventInvokeConfig:\n    maximumRetryAttempts: 2\n");
    let mut o = observed();
    o.invoke_configs.insert(None, InvokeConfig::default());
    assert!(plan(&d, &o).changes.is_empty());
    let p = plan(&desired("  eventInvokeConfig: null\n"), &o);
    assert_eq!(p.changes[0].action, Action::DeleteEventInvokeConfig { qualifier: None });
}

#[test]
fn plan_raises_reserved_concurrency_before_aliases_and_lowers_it_after() {
    let spec = |n: i64| format!("  reservedConcurrency: {n}\n{LIVE_PC}");
    let mut o = observed();
    o.function.as_mut().unwrap().reserved_concurrency = Some(8);
    o.aliases.insert("live".into(), alias("2", &[]));
    o.provisioned.insert("live".into(), pc(3, PcStatus::Ready));
    assert_eq!(ops(&plan(&desired(&spec(20)), &o))[0], "PutFunctionConcurrency");
    let lowered = plan(&desired(&spec(6)), &o);
    assert_eq!(ops(&lowered).last(), Some(&"PutFunctionConcurrency"));
}

#[test]
fn plan_changing_alias_version_and_description_is_one_update() {
    let d = desired("  aliases:\n    prod:\n      functionVersion: \"2\"\n      description: Production alias\n");
    let mut o = observed();
    o.aliases.insert("prod".into(), alias("1", &[("2", 0.3)]));
    let p = plan(&d, &o);
    assert_eq!(ops(&p), ["UpdateAlias"]);
    let Action::UpdateAlias { version, description, routing, .. } = &p.changes[0].action else { panic!() };
    assert_eq!((version.as_deref(), description.as_deref(), routing), (Some("2"), Some("Production alias"), &None));
}

#[test]
fn error_messages_are_redacted_of_secrets_and_kept_to_one_line() {
    let d = desired("  environment:\n    variables:\n      DB_PASSWORD: {fromSsm: /p/secret}\n");
    let aws =
        "InvalidParameterValueException: environment over 4KB.\nString measured: {\"DB_PASSWORD\":\"hunter2-secret\"}";
    let p = super::FunctionPlan::failed(&d, aws);
    let e = p.error.unwrap();
    assert!(!e.contains("hunter2-secret") && !e.contains('\n'), "{e}");
    assert!(e.contains("\"DB_PASSWORD\":\"(sensitive)\""));
}

#[test]
fn a_secret_echoed_json_escaped_by_aws_is_redacted_too() {
    let secrets = std::collections::BTreeSet::from([r#"pa"ss\word"#.to_string()]);
    let aws =
        r#"InvalidParameterValueException: exceeded the 4KB limit. String measured: {"DB_PASSWORD":"pa\"ss\\word"}"#;
    let e = super::redact(aws, &secrets);
    assert!(!e.contains(r#"pa\"ss"#) && !e.contains("word"), "{e}");
    assert!(e.contains(r#""DB_PASSWORD":"(sensitive)""#), "{e}");
}

#[test]
fn plan_adopts_an_existing_target_tracking_policy_under_its_own_name() {
    let mut o = scaled_observed(5);
    let s = o.scaling.get_mut("live").unwrap();
    s.policies = vec![Policy { name: "made-in-console".into(), tracking: Some(tracking(0.5)) }];
    let p = plan(&desired(SCALED), &o);
    assert_eq!(
        p.changes.iter().map(|c| c.action.clone()).collect::<Vec<_>>(),
        [Action::PutTargetTrackingPolicy {
            alias: "live".into(),
            name: "made-in-console".into(),
            tracking: tracking(0.7)
        }]
    );
}

#[test]
fn an_unreadable_environment_is_an_error_not_an_empty_environment_to_rewrite() {
    let d = desired("  environment:\n    variables:\n      LOG_LEVEL: info\n  reservedConcurrency: 3\n");
    let mut o = observed();
    o.function.as_mut().unwrap().environment_error = Some("KMSKeyAccessDenied: the key policy denies Decrypt".into());
    let p = plan(&d, &o);
    assert!(p.changes.is_empty(), "nothing is planned: {:?}", ops(&p));
    assert!(p.error.as_deref().is_some_and(|e| e.contains("KMSKeyAccessDenied")), "{:?}", p.error);
    let unmanaged = desired("  reservedConcurrency: 3\n");
    assert_eq!(ops(&plan(&unmanaged, &o)), ["PutFunctionConcurrency"], "unmanaged environment: no matter");
}

#[test]
fn plan_compares_the_whole_target_tracking_configuration_not_only_the_target() {
    let scaled = SCALED.replace(
        "targetUtilization: 0.7",
        "targetUtilization: 0.7\n        scaleInCooldown: 300\n        disableScaleIn: true",
    );
    let mut o = scaled_observed(5);
    o.scaling.get_mut("live").unwrap().policies =
        vec![Policy { name: POLICY_NAME.into(), tracking: Some(tracking(0.7)) }];
    let p = plan(&desired(&scaled), &o);
    let want = TargetTracking { scale_in_cooldown: 300, disable_scale_in: true, ..tracking(0.7) };
    assert_eq!(
        p.changes.iter().map(|c| c.action.clone()).collect::<Vec<_>>(),
        [Action::PutTargetTrackingPolicy { alias: "live".into(), name: POLICY_NAME.into(), tracking: want.clone() }]
    );
    o.scaling.get_mut("live").unwrap().policies[0].tracking = Some(want);
    assert!(plan(&desired(&scaled), &o).changes.is_empty(), "the same configuration is in sync");
}

#[test]
fn an_ignored_variable_recorded_as_sensitive_is_written_as_a_secret_also_when_git_still_lists_it() {
    // DB_PASSWORD held a secret (recorded); git now gives it a literal but ignores it, and
    // changes another variable: the whole map is written, DB_PASSWORD with its live value.
    let d = desired(
        "  ignoreDifferences: [environment.variables.DB_PASSWORD]\n  environment:\n    variables:\n      DB_PASSWORD: x\n      LOG_LEVEL: DEBUG\n",
    );
    let mut o = observed();
    let f = o.function.as_mut().unwrap();
    f.environment.insert("DB_PASSWORD".into(), "S3CR3T-live-value".into());
    f.sensitive_env = crate::types::SensitiveEnv::parse(Some("DB_PASSWORD"));
    let p = plan(&d, &o);
    let env = p
        .changes
        .iter()
        .find_map(|c| match &c.action {
            Action::UpdateConfiguration { environment: Some(e), .. } => Some(e.clone()),
            _ => None,
        })
        .expect("an environment update");
    // Not sensitive: AWS's 4 KB error echoing this request is not withheld (apply/mod.rs
    // `sent`), and d.secrets() does not know the live value either: it reaches status and alerts.
    assert!(env["DB_PASSWORD"].sensitive, "the recorded secret is sent as a plain value");
}
