//! Property: for any valid desired state and any observed state, executing the plan on the
//! observed state (a model of what AWS does for each action) yields a state whose plan is empty,
//! unless the plan reported a blocked change.

use std::collections::BTreeMap;
use std::path::Path;

use lambda_reconciler::desired::build;
use lambda_reconciler::manifest::load_file;
use lambda_reconciler::observed::Observed;
use lambda_reconciler::plan::configs::ConfigAction;
use lambda_reconciler::plan::{plan, Action, FunctionPlan};
use lambda_reconciler::types::*;
use proptest::prelude::*;
use proptest::strategy::Strategy;

/// What AWS does for a write to user tags or a function-level configuration.
fn config(f: &mut FunctionState, live: &mut LiveConfigs, a: &ConfigAction) {
    let tags = f.user_tags.as_mut();
    match a {
        ConfigAction::TagUser(t) => tags.into_iter().for_each(|l| l.extend(t.clone())),
        ConfigAction::UntagUser(keys) => tags.into_iter().for_each(|l| l.retain(|k, _| !keys.contains(k))),
        ConfigAction::PutRecursion(r) => live.recursive_loop = Some(r.clone()),
        ConfigAction::PutRuntimeManagement(r) => live.runtime_management = Some(r.clone()),
        ConfigAction::PutCodeSigning { arn } => live.code_signing_config_arn = Some(Some(arn.clone())),
        ConfigAction::DeleteCodeSigning => live.code_signing_config_arn = Some(None),
    }
}

/// What AWS does for each action, applied to the observed model.
fn simulate(mut o: Observed, p: &FunctionPlan) -> Observed {
    let f = o.function.as_mut().unwrap();
    for c in &p.changes {
        match &c.action {
            Action::UpdateConfiguration { environment, settings, .. } => {
                if let Some(env) = environment {
                    f.environment = env.iter().map(|(k, v)| (k.clone(), v.value.clone())).collect();
                }
                let mut all = f.settings.fields();
                all.extend(settings.fields());
                f.settings = Settings::from_fields(all);
                f.revision_id.push('+');
            }
            Action::UpdateCode { .. } => f.revision_id.push('+'),
            Action::CreateFunction { .. } | Action::DeleteFunction => unreachable!("the function exists and is kept"),
            Action::PublishVersion { .. } => {
                let next = f.published.as_ref().map_or(1, |p| p.version.parse::<u32>().unwrap() + 1);
                f.published = Some(Published { version: next.to_string(), revision: f.revision_id.clone() });
            }
            Action::PutReservedConcurrency(n) => f.reserved_concurrency = Some(*n),
            Action::DeleteReservedConcurrency => f.reserved_concurrency = None,
            Action::CreateAlias { alias, state } => drop(o.aliases.insert(alias.clone(), state.clone())),
            Action::UpdateAlias { alias, version, description, routing } => {
                let a = o.aliases.get_mut(alias).expect("UpdateAlias on a live alias");
                if let Some(v) = version {
                    a.function_version = v.clone();
                }
                if let Some(d) = description {
                    a.description = d.clone();
                }
                if let Some(r) = routing {
                    a.routing = r.clone();
                }
            }
            Action::DeleteAlias { alias } => {
                o.aliases.remove(alias);
                o.provisioned.remove(alias);
                o.invoke_configs.remove(&Some(alias.clone()));
            }
            Action::PutProvisionedConcurrency { alias, value } => {
                assert!(o.aliases.contains_key(alias), "provisioned concurrency on a live alias");
                let weights = !o.aliases[alias].routing.is_empty();
                assert!(!weights, "Lambda refuses provisioned concurrency changes on an alias with weights");
                o.provisioned.insert(
                    alias.clone(),
                    PcState { requested: *value, allocated: *value, status: PcStatus::Ready, reason: None },
                );
            }
            Action::DeleteProvisionedConcurrency { alias } => drop(o.provisioned.remove(alias)),
            Action::WaitProvisionedReady { alias } => {
                // The barrier returns once AWS reports READY.
                if let Some(pc) = o.provisioned.get_mut(alias) {
                    (pc.status, pc.allocated) = (PcStatus::Ready, pc.requested);
                }
            }
            Action::PutEventInvokeConfig { qualifier, config } => {
                drop(o.invoke_configs.insert(qualifier.clone(), config.clone()))
            }
            Action::DeleteEventInvokeConfig { qualifier } => drop(o.invoke_configs.remove(qualifier)),
            Action::RegisterScalableTarget { alias, min, max } => {
                let s = o.scaling.entry(alias.clone()).or_insert(ScalingState {
                    min_capacity: 0,
                    max_capacity: 0,
                    policies: vec![],
                    scheduled_actions: vec![],
                });
                s.min_capacity = *min;
                s.max_capacity = *max;
            }
            Action::DeregisterScalableTarget { alias } => drop(o.scaling.remove(alias)),
            Action::PutTargetTrackingPolicy { alias, name, tracking } => {
                let s = o.scaling.get_mut(alias).expect("policy on a registered target");
                s.policies.retain(|p| &p.name != name);
                s.policies.push(Policy { name: name.clone(), tracking: Some(tracking.clone()) });
            }
            Action::DeleteScalingPolicy { alias, name } => {
                o.scaling.get_mut(alias).unwrap().policies.retain(|p| &p.name != name)
            }
            Action::PutScheduledAction { alias, action } => {
                let s = o.scaling.get_mut(alias).expect("action on a registered target");
                s.scheduled_actions.retain(|a| a.name != action.name);
                s.scheduled_actions.push(action.clone());
            }
            Action::DeleteScheduledAction { alias, name } => {
                o.scaling.get_mut(alias).unwrap().scheduled_actions.retain(|a| &a.name != name)
            }
            Action::AddPermission { qualifier, sid, permission } => {
                let q = qualifier.clone().unwrap_or_default();
                if lambda_reconciler::types::is_url_sid(sid) {
                    o.urls.entry(q.clone()).or_default().statements.insert(sid.clone(), permission.clone());
                }
                o.policies.entry(q).or_default().insert(sid.clone(), permission.clone());
            }
            Action::RemovePermission { qualifier, sid } => {
                let q = qualifier.clone().unwrap_or_default();
                o.urls.entry(q.clone()).or_default().statements.remove(sid);
                o.policies.entry(q).or_default().remove(sid);
            }
            Action::CreateMapping { qualifier, source, config, .. } => o.mappings.push(MappingState {
                uuid: format!("u{}", o.mappings.len()),
                state: "Enabled".into(),
                source: source.clone(),
                qualifier: qualifier.clone(),
                config: config.clone(),
            }),
            Action::UpdateMapping { uuid, config } => {
                let m = o.mappings.iter_mut().find(|m| &m.uuid == uuid).unwrap();
                let mut all = m.config.fields();
                all.extend(config.fields());
                m.config = MappingConfig::from_fields(all);
            }
            Action::DeleteMapping { uuid } => o.mappings.retain(|m| &m.uuid != uuid),
            Action::Config(a) => config(f, &mut o.configs, a),
            Action::CreateUrl { qualifier, config } | Action::UpdateUrl { qualifier, config } => {
                o.urls.entry(qualifier.clone()).or_default().config = Some(config.clone())
            }
            Action::DeleteUrl { qualifier } => o.urls.entry(qualifier.clone()).or_default().config = None,
        }
    }
    o
}

const ALIASES: [&str; 3] = ["prod", "live", "old"];

fn field<T: std::fmt::Debug + Clone + 'static>(
    s: impl Strategy<Value = T>,
) -> impl Strategy<Value = Option<Option<T>>> {
    prop_oneof![Just(None), Just(Some(None)), s.prop_map(|v| Some(Some(v)))]
}

fn yaml_field(name: &str, indent: &str, v: &Option<Option<String>>) -> String {
    match v {
        None => String::new(),
        Some(None) => format!("{indent}{name}: null\n"),
        Some(Some(x)) => format!("{indent}{name}: {x}\n"),
    }
}

fn alias_yaml() -> impl Strategy<Value = String> {
    (
        1u8..=2,
        field(prop_oneof![Just("{}".to_string()), (0u8..=10).prop_map(|w| format!("{{\"3\": {}}}", w as f64 / 10.0))]),
        field(1i64..=8),
        prop::option::of((1i64..=4, 0i64..=4, prop::option::of(1u8..=9), 0usize..=2)),
        field((0i64..=2, prop::option::of(60i64..=900)).prop_map(|(r, a)| match a {
            Some(a) => format!("{{maximumRetryAttempts: {r}, maximumEventAgeInSeconds: {a}}}"),
            None => format!("{{maximumRetryAttempts: {r}}}"),
        })),
        prop::option::of("[a-z]{0,6}"),
    )
        .prop_map(|(version, routing, pc, scaling, eic, description)| {
            let mut s = format!("      functionVersion: \"{version}\"\n");
            if let Some(d) = description {
                s += &format!("      description: \"{d}\"\n");
            }
            s += &yaml_field("routing", "      ", &routing);
            match scaling {
                Some((min, extra, target, actions)) => {
                    let max = min + extra;
                    let start = match pc {
                        Some(Some(n)) => n.clamp(min, max),
                        _ => min,
                    };
                    s += &format!("      provisionedConcurrency: {start}\n      autoscaling:\n        minCapacity: {min}\n        maxCapacity: {max}\n");
                    if let Some(t) = target {
                        s += &format!("        targetUtilization: {}\n", t as f64 / 10.0);
                        if t % 3 == 1 {
                            s += "        scaleInCooldown: 300\n        disableScaleIn: true\n";
                        }
                    }
                    s += "        scheduledActions:\n";
                    for i in 0..actions {
                        s += &format!("          - {{name: a{i}, schedule: \"rate({} days)\", minCapacity: {min}}}\n", i + 2);
                    }
                    if actions == 0 {
                        s = s.replace("        scheduledActions:\n", "");
                    }
                }
                None => {
                    s += &yaml_field("provisionedConcurrency", "      ", &pc.map(|x| x.map(|n| n.to_string())));
                    if fastrand_like(version) {
                        s += "      autoscaling: null\n";
                    }
                }
            }
            s += &yaml_field("eventInvokeConfig", "      ", &eic);
            s
        })
}

fn fastrand_like(v: u8) -> bool {
    v == 2
}

fn desired_yaml() -> impl Strategy<Value = String> {
    (
        field(prop::collection::btree_map("[A-Z][A-Z0-9_]{1,4}", "[a-z0-9]{0,5}", 0..4)),
        field(40i64..=60),
        field(Just("{maximumRetryAttempts: 1}".to_string())),
        prop::collection::btree_map(prop::sample::select(ALIASES.to_vec()), alias_yaml(), 0..3),
        any::<bool>(),
        prop::sample::select(vec![
            "",
            "  ignoreDifferences: [aliases.prod.routing]\n",
            "  ignoreDifferences: [environment.variables.KEEP]\n",
        ]),
    )
        .prop_map(|(env, reserved, eic, aliases, prune, ignore)| {
            let mut s = String::from(
                "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: f\nspec:\n",
            );
            s += ignore;
            if prune {
                s += "  prune: true\n";
            }
            match env {
                None => {}
                Some(None) => s += "  environment: null\n",
                Some(Some(vars)) => {
                    s += "  environment:\n    variables:\n";
                    for (k, v) in vars {
                        s += &format!("      {k}: \"{v}\"\n");
                    }
                    s += "      SECRET: {fromSsm: /p/secret}\n";
                }
            }
            s += &yaml_field("reservedConcurrency", "  ", &reserved.map(|r| r.map(|n| n.to_string())));
            s += &yaml_field("eventInvokeConfig", "  ", &eic);
            if !aliases.is_empty() {
                s += "  aliases:\n";
                for (name, body) in aliases {
                    s += &format!("    {name}:\n{body}");
                }
            }
            s
        })
}

fn observed() -> impl Strategy<Value = Observed> {
    let alias = (1u8..=3, prop::option::of(0u8..=10), "[a-z]{0,3}").prop_map(|(v, w, d)| AliasState {
        function_version: v.to_string(),
        description: d,
        routing: w.map(|w| BTreeMap::from([("3".to_string(), w as f64 / 10.0)])).unwrap_or_default(),
        revision: String::new(),
    });
    let pc = (1i64..=12, prop::sample::select(vec![PcStatus::Ready, PcStatus::InProgress, PcStatus::Failed]))
        .prop_map(|(n, status)| PcState { requested: n, allocated: n, status, reason: None });
    let scaling = (
        0i64..=3,
        3i64..=9,
        prop::option::of((prop::sample::select(vec![POLICY_NAME, "other"]), prop::option::of(1u8..=9))),
    )
        .prop_map(|(min, max, p)| ScalingState {
            min_capacity: min,
            max_capacity: max,
            policies: p
                .map(|(n, t)| Policy {
                    name: n.to_string(),
                    tracking: t.map(|t| TargetTracking {
                        target_utilization: t as f64 / 10.0,
                        scale_in_cooldown: if t % 2 == 1 { 300 } else { 0 },
                        scale_out_cooldown: 0,
                        disable_scale_in: t % 3 == 0,
                    }),
                })
                .into_iter()
                .collect(),
            scheduled_actions: vec![Scheduled {
                name: "a0".into(),
                schedule: "rate(9 days)".into(),
                min_capacity: Some(1),
                max_capacity: None,
                timezone: None,
                start_time: None,
                end_time: None,
            }],
        });
    let eic = (0i64..=2).prop_map(|r| InvokeConfig { maximum_retry_attempts: r, ..InvokeConfig::default() });
    (
        prop::collection::btree_map("[A-Z]{2,3}|KEEP", "[a-z]{0,3}", 0..3),
        prop::option::of(0i64..=70),
        prop::collection::btree_map(prop::sample::select(ALIASES.to_vec()), alias, 0..3),
        prop::collection::btree_map(prop::sample::select(ALIASES.to_vec()), pc, 0..3),
        prop::collection::btree_map(
            prop::option::of(prop::sample::select(ALIASES.to_vec()).prop_map(String::from)),
            eic,
            0..3,
        ),
        prop::collection::btree_map(prop::sample::select(ALIASES.to_vec()), scaling, 0..2),
    )
        .prop_map(|(env, reserved, aliases, pcs, eics, scaling)| {
            let aliases: BTreeMap<String, AliasState> = aliases.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            // What exists only for live aliases (AWS removes them with the alias).
            let live = |k: &str| aliases.contains_key(k);
            Observed {
                function: Some(FunctionState {
                    arn: "arn:aws:lambda:us-east-1:123456789012:function:f".into(),
                    environment: env,
                    reserved_concurrency: reserved,
                    last_update_in_progress: false,
                    applied_generation: AppliedGeneration::Untagged,
                    environment_error: None,
                    markers: BTreeMap::new(),
                    revision_id: "r1".into(),
                    code_sha256: "c1".into(),
                    role: String::new(),
                    published: None,
                    settings: Settings::default(),
                    last_update_failed: None,
                    sensitive_env: Default::default(),
                    code: None,
                    user_tags: Some(Default::default()),
                    package: Default::default(),
                    ..FunctionState::default()
                }),
                provisioned: pcs.into_iter().filter(|(k, _)| live(k)).map(|(k, v)| (k.to_string(), v)).collect(),
                invoke_configs: eics.into_iter().filter(|(k, _)| k.as_deref().is_none_or(live)).collect(),
                scaling: scaling.into_iter().filter(|(k, _)| live(k)).map(|(k, v)| (k.to_string(), v)).collect(),
                aliases,
                ..Observed::default()
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn executing_a_plan_leaves_nothing_to_plan(text in desired_yaml(), o in observed()) {
        let manifests = load_file(Path::new("p.yaml"), &text);
        // Only valid manifests are ever planned.
        prop_assume!(manifests.is_ok());
        let m = manifests.unwrap().remove(0);
        let params = BTreeMap::from([("/p/secret".to_string(), Parameter { value: "s3cret".into(), secure: true })]);
        let d = build(&m, Some("us-east-1"), &params).unwrap();
        let first = plan(&d, &o);
        prop_assume!(first.blocked.is_empty());
        let mut after = simulate(o, &first);
        // Then AWS finishes what was in flight: provisioned concurrency the plan did not touch
        // (reported as progressing, not changed) becomes READY.
        for pc in after.provisioned.values_mut().filter(|pc| pc.status == PcStatus::InProgress) {
            (pc.status, pc.allocated) = (PcStatus::Ready, pc.requested);
        }
        let second = plan(&d, &after);
        prop_assert!(
            second.changes.is_empty() && second.progressing.is_empty(),
            "first plan:\n{:#?}\nsecond plan:\n{:#?}\nprogressing: {:?}\n{}", first.changes, second.changes, second.progressing, text
        );
    }
}
