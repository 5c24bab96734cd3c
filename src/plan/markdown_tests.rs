//! `plan -o markdown`: a golden comment, each flag from a plan made as data, and no secret or markup injection.

use std::collections::BTreeMap;

use super::super::plan;
use super::super::tests::{desired, function};
use super::{flags, markdown, MARKER};
use crate::observed::Observed;
use crate::types::*;

/// 2026-12-04T00:00:00Z.
const NOW: i64 = 1_796_342_400_000;

fn observed(f: FunctionState) -> Observed {
    Observed { function: Some(f), now_ms: NOW, ..Observed::default() }
}

fn with_alias(mut o: Observed, version: &str) -> Observed {
    let a = AliasState {
        function_version: version.into(),
        description: String::new(),
        routing: Routing::new(),
        revision: String::new(),
    };
    o.aliases.insert("live".into(), a);
    o
}

fn flags_of(spec: &str, o: &Observed) -> Vec<String> {
    flags(&plan(&desired(spec), o), NOW)
}

fn has(flags: &[String], needle: &str) -> bool {
    flags.iter().any(|f| f.contains(needle))
}

#[test]
fn the_comment_has_the_marker_a_table_and_a_collapsible_diff_per_changed_function() {
    let mut f = function();
    f.settings.memory_size = Some(128);
    let p =
        crate::plan::Plan { functions: vec![plan(&desired("  memorySize: 256\n  publish: onChange\n"), &observed(f))] };
    let want = format!(
        "{MARKER}\n### lambda-reconciler plan: 1 of 1 function(s) change, 0 error(s)\n\n| function | region / account | changes | flags |\n|---|---|---|---|\n| `f` | ap-northeast-1 | 2 field(s), 3 write call(s) | 📦 publishes a new version |\n\n<details><summary><code>f</code> (ap-northeast-1): 2 field(s), 3 write call(s)</summary>\n\n```diff\n~ f (ap-northeast-1) [manifest f]\n    ~ memorySize: 128 → 256\n    + publish: a new version of $LATEST (this plan changes $LATEST)\n```\n</details>\n"
    );
    assert_eq!(markdown(&p, NOW), want);
}

#[test]
fn a_rollout_start_is_flagged_with_its_strategy_steps_pauses_and_alarms() {
    let spec = "  aliases:\n    live:\n      functionVersion: \"7\"\n      deployment: {steps: [{weight: 10, pause: 5m}, {weight: 50, pause: manual}], alarms: [errors]}\n";
    let mut o = with_alias(observed(function()), "6");
    o.alarms.insert("errors".into(), AlarmState::Ok);
    let f = flags_of(spec, &o);
    assert!(has(&f, "starts a rollout of `live` 6 → 7 (custom, 2 step(s), 5m of pauses, 1 approval gate(s), judged by alarms errors)"), "{f:?}");
    let unjudged = spec.replace(", alarms: [errors]", "");
    assert!(has(&flags_of(&unjudged, &o), "no alarms, no canary analysis"));
    let analysed = unjudged.replace("]}", "], analysis: {errorRate: {maxIncrease: 1}}}");
    assert!(has(&flags_of(&analysed, &o), "judged by the canary analysis)"), "{:?}", flags_of(&analysed, &o));
}

#[test]
fn an_alias_switch_without_a_deployment_moves_all_traffic_at_once() {
    let o = with_alias(observed(function()), "6");
    let f = flags_of("  aliases:\n    live:\n      functionVersion: \"7\"\n", &o);
    assert!(has(&f, "moves all traffic at once: `live` 6 → 7"), "{f:?}");
}

#[test]
fn removing_a_permission_or_a_destination_is_flagged() {
    let mut o = observed(function());
    let statement = Permission {
        principal: "apigateway.amazonaws.com".into(),
        action: "lambda:InvokeFunction".into(),
        source_arn: None,
        source_account: None,
        function_url_auth_type: None,
        invoked_via_function_url: None,
    };
    o.policies.insert(String::new(), BTreeMap::from([(owned_sid("api"), statement)]));
    assert!(has(&flags_of("  permissions: {}\n", &o), "removes permission `lambda-reconciler-api`"));
    let mut o = observed(function());
    let live = InvokeConfig {
        on_failure: Some("arn:aws:sqs:ap-northeast-1:123456789012:dlq".into()),
        ..InvokeConfig::default()
    };
    o.invoke_configs.insert(None, live);
    let f = flags_of("  eventInvokeConfig: {maximumRetryAttempts: 1}\n", &o);
    assert!(has(&f, "removes a destination of `eventInvokeConfig`"), "{f:?}");
}

#[test]
fn reserved_zero_and_provisioned_changes_are_flagged_with_their_size() {
    let f = flags_of("  reservedConcurrency: 0\n", &observed(function()));
    assert!(has(&f, "every invocation is throttled"), "{f:?}");
    let mut o = with_alias(observed(function()), "6");
    o.provisioned.insert("live".into(), PcState { requested: 2, allocated: 2, status: PcStatus::Ready, reason: None });
    let f = flags_of("  aliases:\n    live:\n      functionVersion: \"6\"\n      provisionedConcurrency: 5\n", &o);
    assert!(has(&f, "provisioned concurrency of `live` 2 → 5 (+3)"), "{f:?}");
}

#[test]
fn a_deprecated_runtime_and_one_deprecating_soon_are_flagged_and_a_current_one_is_not() {
    let f = flags_of("  runtime: python3.9\n", &observed(function()));
    assert!(has(&f, "runtime `python3.9` is deprecated (since 2025-12-15)"), "{f:?}");
    let f = flags_of("  runtime: ruby3.3\n", &observed(function()));
    assert!(has(&f, "runtime `ruby3.3` is deprecated on 2027-03-31 (in 117 days)"), "{f:?}");
    assert!(flags_of("  runtime: python3.13\n", &observed(function())).is_empty());
}

#[test]
fn code_uploaded_outside_git_that_the_merge_overwrites_is_flagged() {
    let spec = "  code:\n    s3: {bucket: app-code, key: k.zip, objectVersion: v1}\n";
    let d = desired(spec);
    let mut f = function();
    f.code = Some(CodeRecord { source: d.code.as_ref().unwrap().digest(), sha256: "deployed=".into() });
    f.code_sha256 = "uploaded-by-hand=".into();
    assert!(has(&flags(&plan(&d, &observed(f)), NOW), "overwrites code uploaded outside git"));
}

#[test]
fn creating_a_function_is_flagged() {
    let spec = "  create: true\n  runtime: python3.13\n  handler: app.handler\n  executionRole: arn:aws:iam::123456789012:role/app\n  publish: onChange\n  code:\n    s3: {bucket: app-code, key: k.zip, objectVersion: v1}\n";
    let f = flags(&plan(&desired(spec), &Observed { now_ms: NOW, ..Observed::default() }), NOW);
    assert!(has(&f, "creates the function") && has(&f, "publishes a new version"), "{f:?}");
}

#[test]
fn no_secret_and_no_markup_from_a_value_reaches_the_comment() {
    let mut f = function();
    f.environment.insert("PW".into(), "old-secret-value".into());
    f.sensitive_env = SensitiveEnv::of(["PW".to_string()].into());
    let spec = "  environment:\n    variables:\n      PW: {fromSsm: /p/secret}\n  description: \"</summary></details><img src=x onerror=alert(1)> ```` | x\"\n";
    let d = desired(spec);
    let failed = crate::plan::FunctionPlan::failed(&d, "AWS said <img src=x onerror=alert(1)> | `x`\nsecond line");
    let p = crate::plan::Plan { functions: vec![plan(&d, &observed(f)), failed] };
    let md = markdown(&p, NOW);
    assert!(!md.contains("hunter2-secret") && !md.contains("old-secret-value"), "{md}");
    // Outside the diff's code block nothing renders as markup; inside it, nothing closes it:
    // the value's four backticks are fenced by five.
    let outside = outside_code(&md);
    assert!(!outside.contains("<img") && outside.contains("&lt;img"), "{md}");
    assert!(outside.contains("\\| `x` second line |"), "a | or a line break cannot split the table's cell: {md}");
    assert!(md.contains("`````diff\n"), "{md}");
}

#[test]
fn a_backslash_before_a_pipe_cannot_split_a_table_cell() {
    let d = desired("  memorySize: 256\n");
    let failed = crate::plan::FunctionPlan::failed(&d, r"bad value a\|b\\|c");
    let md = markdown(&crate::plan::Plan { functions: vec![failed] }, NOW);
    let row = md.lines().find(|l| l.starts_with("| `f`")).unwrap();
    assert_eq!(gfm_cells(row), 4, "{row}");
}

/// The cells of a table row as GitHub splits it: a backslash escapes the character after it
/// (itself included), any other `|` ends a cell.
fn gfm_cells(row: &str) -> usize {
    let (mut cells, mut chars) = (0, row.trim().trim_start_matches('|').chars());
    let mut open = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
                open = true;
            }
            '|' => {
                cells += 1;
                open = false;
            }
            _ => open = true,
        }
    }
    cells + usize::from(open)
}

/// The comment without its fenced code blocks (a fence closes only with as many backticks as opened it).
fn outside_code(md: &str) -> String {
    let mut open: Option<usize> = None;
    let mut out = String::new();
    for line in md.lines() {
        let ticks = line.chars().take_while(|c| *c == '`').count();
        match open {
            None if ticks >= 3 => open = Some(ticks),
            Some(n) if ticks >= n && line.trim_end_matches('`').is_empty() => open = None,
            None => {
                out.push_str(line);
                out.push('\n');
            }
            Some(_) => {}
        }
    }
    out
}
