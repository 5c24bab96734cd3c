//! Unit tests for manifest validation: one per rule, asserting message and location.

use std::path::Path;

use super::load::load_file;
use super::snapshot::ManifestError;

const HEAD: &str = "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: fn\nspec:\n";

/// Loads `HEAD` + `spec_body` and returns its errors (spec body starts on line 6).
fn errors(spec_body: &str) -> Vec<ManifestError> {
    load_file(Path::new("m.yaml"), &format!("{HEAD}{spec_body}")).err().unwrap_or_default()
}

#[track_caller]
fn one(spec_body: &str, field: &str, line: usize, needle: &str) {
    let errs = errors(spec_body);
    let e = errs.iter().find(|e| e.field == field).unwrap_or_else(|| panic!("no error on {field}: {errs:#?}"));
    assert_eq!(e.line, line, "{e}");
    assert!(e.message.contains(needle), "{e}");
    assert_eq!(e.file, Path::new("m.yaml"));
}

#[test]
fn valid_full_example_has_no_errors() {
    let text = std::fs::read_to_string("manifests/examples/handson-function.yaml").unwrap();
    let ms = load_file(Path::new("x.yaml"), &text).unwrap();
    assert_eq!(ms[0].name, "handson-function");
}

#[test]
fn unknown_field_is_reported_at_its_key() {
    one("  reservedConcurency: 3\n", "spec.reservedConcurency", 6, "unknown field `reservedConcurency`");
}

#[test]
fn wrong_type_is_reported_at_the_field() {
    one("  reservedConcurrency: ten\n", "spec.reservedConcurrency", 6, "invalid type");
}

#[test]
fn nested_unknown_field_in_an_alias_is_located() {
    one(
        "  aliases:\n    prod:\n      functionVersion: \"1\"\n      wieght: 1\n",
        "spec.aliases.prod.wieght",
        9,
        "unknown field",
    );
}

#[test]
fn weight_outside_zero_one_is_rejected() {
    one(
        "  aliases:\n    prod:\n      functionVersion: \"1\"\n      routing: {\"2\": 1.5}\n",
        "spec.aliases.prod.routing.2",
        9,
        "outside [0, 1]",
    );
}

#[test]
fn more_than_one_additional_version_is_rejected() {
    one(
        "  aliases:\n    prod:\n      functionVersion: \"1\"\n      routing: {\"2\": 0.1, \"3\": 0.1}\n",
        "spec.aliases.prod.routing",
        9,
        "at most one",
    );
}

#[test]
fn weight_on_the_alias_own_version_is_rejected() {
    one(
        "  aliases:\n    prod:\n      functionVersion: 1\n      routing: {\"1\": 0.1}\n",
        "spec.aliases.prod.routing.1",
        9,
        "own functionVersion",
    );
}

#[test]
fn retries_outside_zero_to_two_are_rejected() {
    one(
        "  eventInvokeConfig:\n    maximumRetryAttempts: 3\n",
        "spec.eventInvokeConfig.maximumRetryAttempts",
        7,
        "outside 0-2",
    );
}

#[test]
fn event_age_outside_60_to_21600_is_rejected() {
    one(
        "  eventInvokeConfig:\n    maximumEventAgeInSeconds: 59\n",
        "spec.eventInvokeConfig.maximumEventAgeInSeconds",
        7,
        "outside 60-21600",
    );
}

#[test]
fn negative_reserved_concurrency_is_rejected() {
    one("  reservedConcurrency: -1\n", "spec.reservedConcurrency", 6, ">= 0");
}

#[test]
fn provisioned_concurrency_below_one_is_rejected() {
    one(
        "  aliases:\n    live:\n      functionVersion: \"2\"\n      provisionedConcurrency: 0\n",
        "spec.aliases.live.provisionedConcurrency",
        9,
        ">= 1",
    );
}

#[test]
fn autoscaling_min_greater_than_max_is_rejected() {
    let body = "  aliases:\n    live:\n      functionVersion: \"2\"\n      provisionedConcurrency: 5\n      autoscaling:\n        minCapacity: 10\n        maxCapacity: 5\n";
    one(body, "spec.aliases.live.autoscaling.minCapacity", 11, "greater than maxCapacity");
}

#[test]
fn target_utilization_outside_zero_one_is_rejected() {
    let body = "  aliases:\n    live:\n      functionVersion: \"2\"\n      provisionedConcurrency: 5\n      autoscaling: {minCapacity: 1, maxCapacity: 10, targetUtilization: 0}\n";
    one(body, "spec.aliases.live.autoscaling.targetUtilization", 10, "outside (0, 1]");
}

#[test]
fn bad_alias_name_is_rejected() {
    one("  aliases:\n    \"123\":\n      functionVersion: \"1\"\n", "spec.aliases.123", 7, "not a valid alias name");
    one("  aliases:\n    pr/od:\n      functionVersion: \"1\"\n", "spec.aliases.pr/od", 7, "not a valid alias name");
}

#[test]
fn schedule_that_is_not_cron_rate_or_at_is_rejected() {
    let body = "  aliases:\n    live:\n      functionVersion: \"2\"\n      provisionedConcurrency: 5\n      autoscaling:\n        minCapacity: 1\n        maxCapacity: 10\n        scheduledActions:\n          - name: a\n            schedule: every morning\n            minCapacity: 5\n";
    one(
        body,
        "spec.aliases.live.autoscaling.scheduledActions[0].schedule",
        15,
        "not a cron(...), rate(...) or at(...)",
    );
}

#[test]
fn schedule_shapes_accept_the_three_aws_forms() {
    use super::validate::check_schedule;
    assert!(check_schedule("cron(0 9 * * ? *)").is_ok());
    assert!(check_schedule("rate(5 minutes)").is_ok());
    assert!(check_schedule("rate(1 hour)").is_ok());
    assert!(check_schedule("at(2026-12-01T09:00:00)").is_ok());
    assert!(check_schedule("cron(0 9 * * ?)").unwrap_err().contains("5 fields"));
    assert!(check_schedule("rate(1 hours)").is_err());
}

#[test]
fn environment_over_4_kb_is_rejected() {
    let body = format!("  environment:\n    variables:\n      BIG: \"{}\"\n", "x".repeat(4100));
    one(&body, "spec.environment.variables", 7, "over Lambda's 4096-byte limit");
}

#[test]
fn ssm_values_do_not_count_toward_the_literal_4_kb_check() {
    let body =
        format!("  environment:\n    variables:\n      BIG: \"{}\"\n      S1: {{fromSsm: /a/b}}\n", "x".repeat(4000));
    assert!(errors(&body).is_empty());
}

#[test]
fn reserved_environment_variable_names_are_rejected() {
    one(
        "  environment:\n    variables:\n      AWS_REGION: x\n",
        "spec.environment.variables.AWS_REGION",
        8,
        "reserved by Lambda",
    );
}

#[test]
fn an_s3_bucket_is_an_on_failure_destination_only() {
    let body = "  eventInvokeConfig:\n    destinations:\n      onSuccess: arn:aws:s3:::bucket\n      onFailure: arn:aws:sns:ap-northeast-1:123456789012:topic\n";
    one(body, "spec.eventInvokeConfig.destinations.onSuccess", 8, "S3 buckets are for onFailure only");
    assert_eq!(errors(body).len(), 1);
    let ok = "  eventInvokeConfig:\n    destinations:\n      onSuccess: arn:aws:events:ap-northeast-1:123456789012:event-bus/default\n      onFailure: arn:aws:s3:::failed-events-bucket\n";
    assert!(errors(ok).is_empty(), "{:#?}", errors(ok));
}

#[test]
fn a_destination_that_is_no_queue_topic_function_bus_or_bucket_is_rejected() {
    let body = "  eventInvokeConfig:\n    destinations:\n      onFailure: arn:aws:dynamodb:ap-northeast-1:123456789012:table/t\n";
    one(body, "spec.eventInvokeConfig.destinations.onFailure", 8, "or S3 bucket ARN");
    let regional_bucket =
        "  eventInvokeConfig:\n    destinations:\n      onFailure: arn:aws:s3:ap-northeast-1:123456789012:bucket\n";
    one(regional_bucket, "spec.eventInvokeConfig.destinations.onFailure", 8, "is not an SQS queue");
}

#[test]
fn weighted_routing_on_an_alias_of_latest_is_rejected() {
    let body = "  aliases:\n    dev:\n      functionVersion: $LATEST\n      routing: {\"2\": 0.1}\n";
    one(body, "spec.aliases.dev.routing", 9, "needs a published functionVersion");
    let empty = "  aliases:\n    dev:\n      functionVersion: $LATEST\n      routing: {}\n";
    assert!(errors(empty).is_empty(), "no weights is fine on $LATEST");
}

#[test]
fn routing_traffic_to_latest_is_rejected() {
    let body = "  aliases:\n    prod:\n      functionVersion: \"1\"\n      routing: {$LATEST: 0.1}\n";
    one(body, "spec.aliases.prod.routing.$LATEST", 9, "$LATEST cannot receive weighted traffic");
}

#[test]
fn provisioned_concurrency_on_an_alias_of_latest_is_rejected() {
    let body = "  aliases:\n    dev:\n      functionVersion: $LATEST\n      provisionedConcurrency: 2\n";
    one(body, "spec.aliases.dev.provisionedConcurrency", 9, "cannot be set on an alias of $LATEST");
}

#[test]
fn the_environment_is_measured_as_json_like_lambda() {
    // 300 names of 4 + values of 8 = 3,600 bytes of names and values, but 5,401 bytes as JSON.
    let vars: String = (0..300).map(|i| format!("      V{i:03}: xxxxxxxx\n")).collect();
    one(&format!("  environment:\n    variables:\n{vars}"), "spec.environment.variables", 7, "5401 bytes as JSON");
    // Quotes and backslashes count escaped; SSM values count as "" until resolved.
    let escaped = format!("      Q1: '{}'\n      S1: {{fromSsm: /p/x}}\n", "\"".repeat(2040));
    one(&format!("  environment:\n    variables:\n{escaped}"), "spec.environment.variables", 7, "4097 bytes as JSON");
}

#[test]
fn env_value_of_the_wrong_shape_gets_a_clear_message() {
    one(
        "  environment:\n    variables:\n      A1: {fromSMS: x}\n",
        "spec.environment.variables.A1",
        8,
        "{fromSsm: PARAMETER_NAME}",
    );
}

#[test]
fn provisioned_concurrency_above_reserved_is_rejected() {
    let body = "  reservedConcurrency: 3\n  aliases:\n    live:\n      functionVersion: \"2\"\n      provisionedConcurrency: 5\n";
    one(body, "spec.reservedConcurrency", 6, "less than the provisioned concurrency");
}

#[test]
fn autoscaling_without_a_starting_provisioned_concurrency_is_rejected() {
    let body =
        "  aliases:\n    live:\n      functionVersion: \"2\"\n      autoscaling: {minCapacity: 1, maxCapacity: 10}\n";
    one(body, "spec.aliases.live.autoscaling", 9, "needs provisionedConcurrency");
}

#[test]
fn function_arn_region_conflicting_with_spec_region_is_rejected() {
    let body = "  functionName: arn:aws:lambda:us-east-1:123456789012:function:f\n  region: eu-west-1\n";
    one(body, "spec.region", 7, "conflicts with the function ARN's region");
}

#[test]
fn qualified_function_arn_is_rejected() {
    one(
        "  functionName: arn:aws:lambda:us-east-1:123456789012:function:f:prod\n",
        "spec.functionName",
        6,
        "not an unqualified Lambda function ARN",
    );
}

#[test]
fn unknown_ignore_difference_path_is_rejected() {
    one("  ignoreDifferences: [aliases.prod.weights]\n", "spec.ignoreDifferences[0]", 6, "not a managed field path");
}

#[test]
fn every_error_of_a_document_is_reported_at_once() {
    let body = "  reservedConcurrency: -1\n  eventInvokeConfig:\n    maximumRetryAttempts: 9\n    maximumEventAgeInSeconds: 1\n";
    assert_eq!(errors(body).len(), 3, "{:#?}", errors(body));
}

#[test]
fn documents_of_another_api_group_are_skipped() {
    let text = format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\nspec: {{replicas: 1}}\n---\n{HEAD}  reservedConcurrency: 1\n");
    let ms = load_file(Path::new("m.yaml"), &text).unwrap();
    assert_eq!(ms.len(), 1);
    let workflow = "name: plan\non: [pull_request]\njobs: {}\n";
    assert!(load_file(Path::new("ci.yaml"), workflow).unwrap().is_empty());
    let missing = "metadata:\n  name: f\nspec: {}\n";
    assert!(load_file(Path::new("m.yaml"), missing).is_err(), "ours without apiVersion is an error");
}

#[test]
fn wrong_api_version_and_kind_are_rejected() {
    let text = "apiVersion: lambda-reconciler.io/v1\nkind: Deployment\nmetadata:\n  name: fn\nspec: {}\n";
    let errs = load_file(Path::new("m.yaml"), text).unwrap_err();
    assert_eq!(errs.iter().map(|e| (e.field.as_str(), e.line)).collect::<Vec<_>>(), [("apiVersion", 1), ("kind", 2)]);
}

#[test]
fn yaml_syntax_error_points_at_the_line() {
    let errs = load_file(Path::new("m.yaml"), &format!("{HEAD}  aliases: [\n  x: 1\n")).unwrap_err();
    assert_eq!(errs.len(), 1);
    assert!(errs[0].line >= 6, "{}", errs[0]);
}

#[test]
fn duplicate_metadata_name_across_files_is_rejected_in_the_second_file() {
    let dir = tempfile::tempdir().unwrap();
    let doc =
        |f: &str| format!("{HEAD}  functionName: {f}\n").replace("spec:\n  functionName", "spec:\n  functionName");
    std::fs::write(dir.path().join("a.yaml"), doc("f1")).unwrap();
    std::fs::write(dir.path().join("b.yaml"), doc("f2")).unwrap();
    let snap = super::load_dir(dir.path()).unwrap();
    assert_eq!(snap.manifests.len(), 1);
    assert_eq!(snap.errors.len(), 1);
    let e = &snap.errors[0];
    assert!(e.file.ends_with("b.yaml") && e.line == 4 && e.message.contains("duplicate name `fn`"), "{e}");
}

#[test]
fn two_manifests_for_one_function_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.yaml"), HEAD.replace("name: fn", "name: one") + "  functionName: f\n").unwrap();
    std::fs::write(dir.path().join("b.yml"), HEAD.replace("name: fn", "name: two") + "  functionName: f\n").unwrap();
    let snap = super::load_dir(dir.path()).unwrap();
    assert_eq!(snap.manifests.len(), 1);
    assert!(snap.errors[0].message.contains("already managed by manifest `one`"));
}

#[test]
fn load_dir_reads_nested_multi_document_files_and_skips_hidden_dirs() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("team/x")).unwrap();
    std::fs::create_dir_all(dir.path().join(".git")).unwrap();
    let two =
        format!("{HEAD}  functionName: a\n---\n{}  functionName: b\n---\n", HEAD.replace("name: fn", "name: fn2"));
    std::fs::write(dir.path().join("team/x/two.yaml"), two).unwrap();
    std::fs::write(dir.path().join(".git/junk.yaml"), "not: [valid").unwrap();
    std::fs::write(dir.path().join("README.md"), "# not a manifest").unwrap();
    let snap = super::load_dir(dir.path()).unwrap();
    assert!(snap.errors.is_empty(), "{:?}", snap.errors);
    assert_eq!(snap.manifests.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), ["fn", "fn2"]);
}

#[test]
fn non_utf8_file_is_an_error_for_that_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.yaml"), [0xff, 0xfe, 0x00]).unwrap();
    let snap = super::load_dir(dir.path()).unwrap();
    assert!(snap.errors[0].message.contains("not valid UTF-8"));
}

#[test]
fn a_cron_schedule_needs_a_question_mark_in_exactly_one_day_field() {
    use super::validate::check_schedule;
    assert!(check_schedule("cron(0 9 * * ? *)").is_ok() && check_schedule("cron(0 9 ? * MON-FRI *)").is_ok());
    assert!(check_schedule("cron(0 9 * * * *)").unwrap_err().contains("exactly one of day-of-month and day-of-week"));
    assert!(check_schedule("cron(0 9 ? * ? *)").is_err());
}

#[test]
fn a_scheduled_action_name_follows_aws_pattern() {
    for bad in ["a/b", "a|b", " lead", "trail "] {
        let body = format!("  aliases:\n    live:\n      functionVersion: \"2\"\n      provisionedConcurrency: 2\n      autoscaling:\n        minCapacity: 1\n        maxCapacity: 4\n        scheduledActions:\n          - {{name: \"{bad}\", schedule: \"rate(1 day)\", minCapacity: 2}}\n");
        one(&body, "spec.aliases.live.autoscaling.scheduledActions[0].name", 14, "without `:`, `/`, `|`");
    }
}

#[test]
fn cooldowns_and_disable_scale_in_need_target_tracking() {
    let body = "  aliases:\n    live:\n      functionVersion: \"2\"\n      provisionedConcurrency: 2\n      autoscaling:\n        minCapacity: 1\n        maxCapacity: 4\n        scaleInCooldown: 60\n";
    one(body, "spec.aliases.live.autoscaling", 10, "set targetUtilization");
    let negative = "  aliases:\n    live:\n      functionVersion: \"2\"\n      provisionedConcurrency: 2\n      autoscaling:\n        minCapacity: 1\n        maxCapacity: 4\n        targetUtilization: 0.5\n        scaleOutCooldown: -1\n";
    one(negative, "spec.aliases.live.autoscaling.scaleOutCooldown", 14, "must be >= 0 seconds");
}

#[test]
fn scheduled_action_times_are_rfc_3339_and_end_after_start() {
    let action = |times: &str| {
        format!("  aliases:\n    live:\n      functionVersion: \"2\"\n      provisionedConcurrency: 2\n      autoscaling:\n        minCapacity: 1\n        maxCapacity: 4\n        scheduledActions:\n          - {{name: a, schedule: \"rate(1 day)\", minCapacity: 2, {times}}}\n")
    };
    let f = "spec.aliases.live.autoscaling.scheduledActions[0]";
    one(&action("startTime: tomorrow"), &format!("{f}.startTime"), 14, "not an RFC 3339 UTC time");
    let backwards = action("startTime: \"2026-12-02T00:00:00Z\", endTime: \"2026-12-01T00:00:00Z\"");
    one(&backwards, &format!("{f}.endTime"), 14, "must be after startTime");
    assert!(errors(&action("startTime: \"2026-12-01T00:00:00Z\", endTime: \"2027-01-01T00:00:00Z\"")).is_empty());
}

const LIVE: &str = "  aliases:\n    live:\n      functionVersion: \"7\"\n      deployment:\n";

#[test]
fn an_unknown_deployment_strategy_lists_the_valid_names_at_its_line() {
    let errs = errors(&format!("{LIVE}        strategy: Canary5Percent\n"));
    let e = errs.iter().find(|e| e.field.ends_with("strategy")).unwrap_or_else(|| panic!("{errs:#?}"));
    assert_eq!(e.line, 10, "{e}");
    for name in ["Canary10Percent5Minutes", "Linear10PercentEvery10Minutes", "AllAtOnce"] {
        assert!(e.message.contains(name), "{e}");
    }
}

#[test]
fn deployment_weights_the_alias_cannot_tell_apart_are_rejected() {
    // The alias's routing holds a weight to six decimals of a fraction, and the weight is the
    // step: two steps with the same routing weight would stall the rollout at the first.
    let body = format!(
        "{LIVE}        steps:\n          - {{weight: 10, pause: 1m}}\n          - {{weight: 10.00001, pause: 1m}}\n"
    );
    one(&body, "spec.aliases.live.deployment.steps[1].weight", 12, "not above the previous step's 10");
    // Nor a weight the alias would hold as no traffic (0) or all of it (1) on the new version.
    let ends = format!(
        "{LIVE}        steps:\n          - {{weight: 0.00001, pause: 1m}}\n          - {{weight: 99.99999, pause: 1m}}\n"
    );
    one(&ends, "spec.aliases.live.deployment.steps[0].weight", 11, "outside 0-100");
    one(&ends, "spec.aliases.live.deployment.steps[1].weight", 12, "outside 0-100");
}

#[test]
fn deployment_weights_out_of_order_or_range_are_rejected() {
    let body = format!(
        "{LIVE}        steps:\n          - {{weight: 50, pause: 1m}}\n          - {{weight: 20, pause: 1m}}\n          - {{weight: 120, pause: 1m}}\n"
    );
    one(&body, "spec.aliases.live.deployment.steps[1].weight", 12, "not above the previous step's 50");
    one(&body, "spec.aliases.live.deployment.steps[2].weight", 13, "outside 0-100");
    let ends =
        format!("{LIVE}        steps:\n          - {{weight: 0, pause: 1m}}\n          - {{weight: 100, pause: 1m}}\n");
    one(&ends, "spec.aliases.live.deployment.steps[0].weight", 11, "both excluded");
    one(&ends, "spec.aliases.live.deployment.steps[1].weight", 12, "both excluded");
}

#[test]
fn a_deployment_pause_longer_than_seven_days_is_refused() {
    let body = format!("{LIVE}        steps: [{{weight: 10, pause: 3years}}]\n");
    one(&body, "spec.aliases.live.deployment.steps[0].pause", 10, "at most 7d");
    let body = format!("{LIVE}        steps: [{{weight: 10, pause: 7d}}]\n");
    assert!(errors(&body).is_empty(), "{:?}", errors(&body));
}

#[test]
fn a_deployment_pause_must_be_a_duration() {
    let body = format!("{LIVE}        steps: [{{weight: 10, pause: five minutes}}]\n");
    one(&body, "spec.aliases.live.deployment.steps[0].pause", 10, "is not a duration");
}

#[test]
fn a_deployment_takes_at_most_ten_alarms() {
    let alarms: Vec<String> = (0..11).map(|i| format!("a{i}")).collect();
    let body = format!("{LIVE}        strategy: AllAtOnce\n        alarms: [{}]\n", alarms.join(", "));
    one(&body, "spec.aliases.live.deployment.alarms", 11, "11 alarms; at most 10");
}

#[test]
fn a_deployment_needs_one_of_strategy_or_steps_and_owns_the_routing() {
    one(
        &LIVE.replace("deployment:\n", "deployment: {}\n"),
        "spec.aliases.live.deployment",
        9,
        "needs a `strategy` or custom `steps`",
    );
    let both = format!("{LIVE}        strategy: AllAtOnce\n        steps: [{{weight: 10, pause: 1s}}]\n");
    one(&both, "spec.aliases.live.deployment.steps", 11, "not both");
    let routing = format!("{LIVE}        strategy: AllAtOnce\n      routing: {{\"6\": 0.5}}\n");
    one(&routing, "spec.aliases.live.routing", 11, "owns the alias's routing");
}

#[test]
fn a_deployment_on_latest_and_a_hook_timeout_past_lambdas_limit_are_rejected() {
    let body = "  aliases:\n    live:\n      functionVersion: $LATEST\n      deployment:\n        strategy: AllAtOnce\n        hooks: {preTraffic: pre-hook, timeout: 20m}\n";
    one(body, "spec.aliases.live.deployment", 9, "published versions");
    one(body, "spec.aliases.live.deployment.hooks.timeout", 11, "at most 15m");
}

#[test]
fn a_valid_deployment_resolves_its_strategy_and_hook_timeout() {
    let text = format!("{HEAD}{LIVE}        strategy: Linear10PercentEvery2Minutes\n        alarms: [errors]\n        hooks: {{postTraffic: post}}\n");
    let ms = load_file(Path::new("m.yaml"), &text).unwrap();
    let d = super::deploy_rules::resolve(ms[0].doc.spec.aliases["live"].deployment.as_ref().unwrap());
    assert_eq!((d.strategy.as_str(), d.steps.len(), d.hook_timeout_ms), ("Linear10PercentEvery2Minutes", 9, 600_000));
    assert_eq!((d.alarms, d.pre_traffic, d.post_traffic), (vec!["errors".to_string()], None, Some("post".into())));
}

#[test]
fn an_alias_following_published_needs_publish_on_change() {
    let body = "  aliases:\n    live:\n      functionVersion: published\n";
    one(body, "spec.aliases.live.functionVersion", 8, "spec.publish: onChange");
    assert!(errors(&format!("  publish: onChange\n{body}")).is_empty());
    one("  publish: always\n", "spec.publish", 6, "onChange");
}

#[test]
fn every_type_error_of_a_document_is_reported_not_only_the_first() {
    let body = "  memorySize: big\n  tracing: Sometimes\n  bogus: 1\n  layers: [a, [2]]\n  aliases:\n    live:\n      functionVersion: \"2\"\n      provisionedConcurrency: lots\n";
    let errs = errors(body);
    let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
    for f in
        ["spec.memorySize", "spec.tracing", "spec.bogus", "spec.layers[1]", "spec.aliases.live.provisionedConcurrency"]
    {
        assert!(fields.contains(&f), "{f} in {errs:#?}");
    }
    assert!(!errs.iter().any(|e| e.message.contains("missing field")), "{errs:#?}");
}

#[test]
fn bad_permissions_are_reported_per_field() {
    let body = "  permissions:\n    \"bad name\":\n      principal: s3.amazonaws.com\n    ok:\n      principal: \"a b\"\n      action: s3:GetObject\n      sourceAccount: 12345\n      sourceArn: not-an-arn\n";
    one(body, "spec.permissions.bad name", 7, "not a statement name");
    one(body, "spec.permissions.ok.principal", 10, "without spaces");
    one(body, "spec.permissions.ok.action", 11, "not a Lambda action");
    one(body, "spec.permissions.ok.sourceAccount", 12, "12-digit");
    one(body, "spec.permissions.ok.sourceArn", 13, "not an ARN");
}

#[test]
fn event_source_mappings_are_checked_against_their_source_types_rules() {
    let body = "  eventSourceMappings:\n    - source: arn:aws:sqs:ap-northeast-1:123456789012:q\n      batchSize: 50\n      parallelizationFactor: 2\n      functionResponseTypes: [Everything]\n    - source: arn:aws:kinesis:ap-northeast-1:123456789012:stream/s\n      maximumConcurrency: 5\n      maximumRecordAge: 30\n      filters: [not-json, '{}', '{}', '{}', '{}', '{}']\n    - source: arn:aws:s3:::bucket\n";
    one(body, "spec.eventSourceMappings[0].batchSize", 8, "maximumBatchingWindow of at least 1");
    one(body, "spec.eventSourceMappings[0].parallelizationFactor", 9, "streams only");
    one(body, "spec.eventSourceMappings[0].functionResponseTypes", 10, "ReportBatchItemFailures");
    one(body, "spec.eventSourceMappings[1].maximumConcurrency", 12, "SQS only");
    one(body, "spec.eventSourceMappings[1].maximumRecordAge", 13, "60-604800");
    one(body, "spec.eventSourceMappings[1].filters", 14, "over Lambda's 5");
    one(body, "spec.eventSourceMappings[1].filters[0]", 14, "JSON object");
    one(body, "spec.eventSourceMappings[2].source", 15, "not an SQS queue, Kinesis stream or DynamoDB stream ARN");
}

#[test]
fn a_fifo_queue_mapping_takes_no_batching_window() {
    let fifo = "  eventSourceMappings:\n    - source: arn:aws:sqs:ap-northeast-1:123456789012:orders.fifo\n      maximumBatchingWindow: 5\n";
    one(fifo, "spec.eventSourceMappings[0].maximumBatchingWindow", 8, "FIFO queues do not support a batching window");
    assert!(errors(&fifo.replace(": 5", ": 0")).is_empty(), "0 is the default: no window");
    assert!(errors(&fifo.replace(".fifo", "")).is_empty(), "a standard queue takes one");
}

#[test]
fn a_role_arn_must_be_an_iam_role_in_the_functions_account() {
    one("  roleArn: arn:aws:iam::123:role/x\n", "spec.roleArn", 6, "is not an IAM role ARN");
    one("  roleArn: arn:aws:iam::111122223333:user/x\n", "spec.roleArn", 6, "is not an IAM role ARN");
    let other = "  functionName: arn:aws:lambda:us-east-1:444455556666:function:f\n  roleArn: arn:aws:iam::111122223333:role/lr\n";
    one(
        other,
        "spec.roleArn",
        7,
        "the role is in account 111122223333 but the function ARN names account 444455556666",
    );
    assert!(errors("  roleArn: arn:aws:iam::111122223333:role/ops/lambda-reconciler-target\n").is_empty());
    let same = "  functionName: arn:aws:lambda:us-east-1:111122223333:function:f\n  roleArn: arn:aws:iam::111122223333:role/lr\n";
    assert!(errors(same).is_empty());
}

#[test]
fn code_bucket_key_version_and_sha256_are_checked_where_they_are_written() {
    let code = |bucket: &str, key: &str, version: &str, sha: &str| {
        format!("  code:\n    s3:\n      bucket: \"{bucket}\"\n      key: \"{key}\"\n      objectVersion: \"{version}\"\n    sha256: \"{sha}\"\n")
    };
    let sha = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
    assert!(errors(&code("app-code.v1", "a/b.zip", "v1", sha)).is_empty());
    one(&code("App_Code", "k", "v", sha), "spec.code.s3.bucket", 8, "not an S3 bucket name");
    one(&code("ab", "k", "v", sha), "spec.code.s3.bucket", 8, "3-63");
    one(&code("app", "", "v", sha), "spec.code.s3.key", 9, "1-1024");
    one(&code("app", &"k".repeat(1025), "v", sha), "spec.code.s3.key", 9, "1-1024");
    one(&code("app", "k", "", sha), "spec.code.s3.objectVersion", 10, "1-1024");
    one(&code("app", "k", "v", "e3b0c442"), "spec.code.sha256", 11, "base64 SHA-256");
}

#[test]
fn create_needs_the_code_the_role_the_runtime_and_the_handler() {
    one(
        "  create: true\n  memorySize: 256\n",
        "spec.create",
        6,
        "set `code`, `executionRole`, `runtime`, `handler` too",
    );
    let all = "  create: true\n  runtime: python3.12\n  handler: app.handler\n  executionRole: arn:aws:iam::123456789012:role/app\n  code:\n    s3: {bucket: app-code, key: k.zip, objectVersion: v1}\n";
    assert!(errors(all).is_empty(), "{:?}", errors(all));
    one(&all.replace("  handler: app.handler\n", ""), "spec.create", 6, "set `handler` too");
}

#[test]
fn a_manual_step_takes_a_bounded_timeout_and_only_it_does() {
    let step = |s: &str| {
        format!(
            "  aliases:\n    live:\n      functionVersion: \"2\"\n      deployment:\n        steps:\n          - {s}\n"
        )
    };
    assert!(errors(&step("{weight: 10, pause: manual}")).is_empty());
    assert!(errors(&step("{weight: 10, pause: manual, timeout: 2h, onTimeout: promote}")).is_empty());
    one(
        &step("{weight: 10, pause: manual, timeout: 8d}"),
        "spec.aliases.live.deployment.steps[0].timeout",
        11,
        "at most 7d",
    );
    one(
        &step("{weight: 10, pause: 5m, timeout: 1h}"),
        "spec.aliases.live.deployment.steps[0].timeout",
        11,
        "only a step with `pause: manual`",
    );
    one(
        &step("{weight: 10, pause: manual, onTimeout: rollback}"),
        "spec.aliases.live.deployment.steps[0].onTimeout",
        11,
        "needs a `timeout`",
    );
    one(&step("{weight: 10, pause: later}"), "spec.aliases.live.deployment.steps[0].pause", 11, "not a duration");
}

#[test]
fn code_needs_exactly_one_of_s3_and_an_ecr_image_uri() {
    let digest = format!("123456789012.dkr.ecr.eu-west-1.amazonaws.com/app@sha256:{}", "0".repeat(64));
    assert!(errors(&format!("  code:\n    imageUri: {digest}\n")).is_empty());
    let both = format!("  code:\n    s3: {{bucket: app, key: k, objectVersion: v}}\n    imageUri: {digest}\n");
    one(&both, "spec.code", 6, "exactly one of `s3` (a zip) and `imageUri`");
    one("  code: {}\n", "spec.code", 6, "exactly one of");
    one("  code:\n    imageUri: docker.io/app:v1\n", "spec.code.imageUri", 7, "not an ECR image URI");
    let no_image = "  code:\n    imageUri: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/app\n";
    one(no_image, "spec.code.imageUri", 7, "add @sha256:DIGEST");
    let sha =
        format!("  code:\n    imageUri: {digest}\n    sha256: \"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\"\n");
    one(&sha, "spec.code.sha256", 8, "applies to a zip");
}

#[test]
fn architectures_hold_exactly_one_known_value_and_need_code() {
    let code = "  code:\n    s3: {bucket: app, key: k, objectVersion: v}\n";
    assert!(errors(&format!("{code}  architectures: [arm64]\n")).is_empty());
    assert!(errors(&format!("{code}  architectures: null\n")).is_empty());
    one(&format!("{code}  architectures: [arm64, x86_64]\n"), "spec.architectures", 8, "exactly one");
    one(&format!("{code}  architectures: []\n"), "spec.architectures", 8, "exactly one");
    one(&format!("{code}  architectures: [arm]\n"), "spec.architectures[0]", 8, "unknown variant");
    one("  architectures: [arm64]\n", "spec.architectures", 6, "needs `code`");
}
