//! `$LATEST` settings beside the environment: one UpdateFunctionConfiguration for all of them,
//! the emulator holding what moto drops, AWS's refusals, a failed update reported with its reason.

use aws_sdk_lambda::types::{TracingConfig, TracingMode};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::common::*;

const F: &str = "app-set";

fn manifest(body: &str) -> String {
    format!("apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: {F}\nspec:\n{body}")
}

fn settings(layer: &str) -> String {
    format!(
        "  memorySize: 512\n  timeout: 30\n  ephemeralStorage: 1024\n  description: payments api\n  tracing: Active\n  layers: [\"{layer}\"]\n  deadLetterTarget: arn:aws:sqs:{REGION}:123456789012:app-dlq\n  kmsKeyArn: arn:aws:kms:{REGION}:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab\n  loggingConfig: {{format: JSON, applicationLogLevel: WARN, systemLogLevel: INFO, logGroup: /app/set}}\n  environment:\n    variables:\n      MODE: fast\n"
    )
}

fn config_writes(emu: &Emulator) -> usize {
    emu.write_calls().iter().filter(|w| w.contains("/configuration")).count()
}

#[tokio::test]
async fn every_setting_goes_out_in_one_update_with_the_environment_and_is_then_in_sync() {
    let emu = Emulator::start();
    emu.seed_function(F, 1);
    let layer = emu.seed_layer("app-deps");
    let dir = manifests(&[("f.yaml", &manifest(&settings(&layer)))]);
    emu.clear_requests();
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    assert_eq!(config_writes(&emu), 1, "{:?}", emu.write_calls());
    let c = emu.lambda().await.get_function_configuration().function_name(F).send().await.unwrap();
    assert_eq!(
        (c.memory_size(), c.timeout(), c.ephemeral_storage().map(|e| e.size())),
        (Some(512), Some(30), Some(1024))
    );
    assert_eq!(c.description(), Some("payments api"));
    assert_eq!(c.tracing_config().and_then(|t| t.mode()), Some(&TracingMode::Active));
    assert_eq!(c.layers().iter().filter_map(|l| l.arn()).collect::<Vec<_>>(), [layer.as_str()]);
    assert!(c.dead_letter_config().and_then(|d| d.target_arn()).unwrap().ends_with(":app-dlq"));
    assert!(c.kms_key_arn().unwrap().contains(":key/"));
    let l = c.logging_config().unwrap();
    assert_eq!(
        (l.log_format().map(|f| f.as_str()), l.application_log_level().map(|a| a.as_str()), l.log_group()),
        (Some("JSON"), Some("WARN"), Some("/app/set"))
    );
    emu.clear_requests();
    emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(0);
    emu.run(&["apply", "-m", path(&dir)]).expect(0);
    assert_eq!(emu.write_calls(), Vec::<String>::new(), "no write when nothing differs");

    // Out of band: tracing back to PassThrough is drift, shown and corrected.
    let tracing = TracingConfig::builder().mode(TracingMode::PassThrough).build();
    emu.lambda().await.update_function_configuration().function_name(F).tracing_config(tracing).send().await.unwrap();
    let plan = emu.run(&["plan", "-m", path(&dir), "--detailed-exitcode"]).expect(2);
    assert!(plan.stdout.contains("~ tracing: PassThrough → Active"), "{}", plan.stdout);
}

#[tokio::test]
async fn the_emulator_refuses_settings_outside_lambdas_limits_as_aws_does() {
    let emu = Emulator::start();
    emu.seed_function(F, 1);
    let lambda = emu.lambda().await;
    let update = || lambda.update_function_configuration().function_name(F);
    let e = update().memory_size(20_480).send().await.unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterValueException"), "{e:?}");
    let e = update().timeout(901).send().await.unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterValueException"));
    let six: Vec<String> = (1..=6).map(|i| format!("arn:aws:lambda:{REGION}:123456789012:layer:l{i}:1")).collect();
    let e = update().set_layers(Some(six)).send().await.unwrap_err();
    assert!(e.message().unwrap_or("").contains("more than 5 layers"), "{e:?}");
    let logging = aws_sdk_lambda::types::LoggingConfig::builder()
        .log_format(aws_sdk_lambda::types::LogFormat::Text)
        .application_log_level(aws_sdk_lambda::types::ApplicationLogLevel::Debug)
        .build();
    let e = update().logging_config(logging).send().await.unwrap_err();
    assert_eq!(e.code(), Some("InvalidParameterValueException"));
    let dlq = aws_sdk_lambda::types::DeadLetterConfig::builder().target_arn("arn:aws:s3:::bucket").build();
    assert_eq!(
        update().dead_letter_config(dlq).send().await.unwrap_err().code(),
        Some("InvalidParameterValueException")
    );
}

#[tokio::test]
async fn switching_the_log_format_from_json_to_text_sends_no_levels_and_is_then_in_sync() {
    let emu = Emulator::start();
    emu.seed_function(F, 1);
    let json = manifests(&[(
        "f.yaml",
        &manifest("  loggingConfig: {format: JSON, applicationLogLevel: WARN, systemLogLevel: INFO}\n"),
    )]);
    emu.run(&["apply", "-m", path(&json)]).expect(0);
    // Text with the levels left unmanaged: the live JSON levels must not go out with it.
    let text = manifests(&[("f.yaml", &manifest("  loggingConfig: {format: Text}\n"))]);
    let plan = emu.run(&["plan", "-m", path(&text), "--detailed-exitcode"]).expect(2);
    assert!(plan.stdout.contains("loggingConfig.format: JSON → Text"), "{}", plan.stdout);
    emu.clear_requests();
    emu.run(&["apply", "-m", path(&text)]).expect(0);
    let c = emu.lambda().await.get_function_configuration().function_name(F).send().await.unwrap();
    let l = c.logging_config().unwrap();
    assert_eq!(l.log_format().map(|f| f.as_str()), Some("Text"));
    assert_eq!((l.application_log_level(), l.system_log_level()), (None, None));
    emu.run(&["plan", "-m", path(&text), "--detailed-exitcode"]).expect(0);
}

#[tokio::test]
async fn a_failed_update_is_an_error_with_its_reason_and_other_manifests_still_reconcile() {
    let emu = Emulator::start();
    emu.seed_function(F, 1);
    emu.seed_function("app-other", 1);
    emu.configure(&format!(
        r#"{{"update_fails": {{"{F}": {{"code": "InvalidConfiguration", "reason": "layer app-deps:1 cannot be used"}}}}}}"#
    ));
    let other = "apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: app-other\nspec:\n  memorySize: 1024\n";
    let dir = manifests(&[("f.yaml", &manifest("  memorySize: 512\n")), ("other.yaml", other)]);
    let run = emu.run(&["apply", "-m", path(&dir)]).expect(1);
    assert!(
        run.all().contains("LastUpdateStatus Failed): InvalidConfiguration: layer app-deps:1 cannot be used"),
        "{}",
        run.all()
    );
    let c = emu.lambda().await.get_function_configuration().function_name("app-other").send().await.unwrap();
    assert_eq!(c.memory_size(), Some(1024));
}

#[test]
fn bad_settings_are_reported_with_file_line_and_field_all_at_once() {
    let dir = manifests(&[(
        "bad.yaml",
        &manifest("  memorySize: 20480\n  timeout: 0\n  layers: [\"arn:aws:lambda:ap-northeast-1:123456789012:layer:deps\"]\n  deadLetterTarget: arn:aws:s3:::bucket\n  loggingConfig: {format: Text, applicationLogLevel: DEBUG}\n"),
    )]);
    let run = Emulator::unstarted(1).run(&["validate", "-m", path(&dir)]).expect(1);
    for needle in [
        "bad.yaml:6:3: spec.memorySize: 20480 is outside 128-10240",
        "bad.yaml:7:3: spec.timeout: 0 is outside 1-900",
        "spec.layers[0]: `arn:aws:lambda:ap-northeast-1:123456789012:layer:deps` has no version",
        "spec.deadLetterTarget: `arn:aws:s3:::bucket` is not an SQS queue or SNS topic ARN",
        "spec.loggingConfig.applicationLogLevel: needs loggingConfig.format: JSON",
    ] {
        assert!(run.all().contains(needle), "{needle} in {}", run.all());
    }
    let level = manifests(&[("lvl.yaml", &manifest("  loggingConfig: {format: JSON, applicationLogLevel: LOUD}\n"))]);
    let run = Emulator::unstarted(1).run(&["validate", "-m", path(&level)]).expect(1);
    assert!(run.all().contains("lvl.yaml:6:") && run.all().contains("TRACE"), "{}", run.all());
}
