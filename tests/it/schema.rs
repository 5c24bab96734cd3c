//! The committed JSON Schema equals the one generated from the Rust types, and every example
//! manifest validates against it.

use std::path::Path;

use lambda_reconciler::manifest::{schema, yaml};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn committed() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(root().join("manifests/schema.json")).unwrap()).unwrap()
}

#[test]
fn the_committed_schema_is_the_generated_one() {
    let committed = std::fs::read_to_string(root().join("manifests/schema.json")).unwrap();
    assert!(
        committed == schema::json(),
        "manifests/schema.json is stale: run `lambda-reconciler schema > manifests/schema.json`"
    );
}

#[test]
fn every_example_validates_against_the_schema_and_names_it() {
    let validator = jsonschema::validator_for(&committed()).unwrap();
    let mut seen = 0;
    for entry in std::fs::read_dir(root().join("manifests/examples")).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("# yaml-language-server: $schema=../schema.json"),
            "{} has no schema line",
            path.display()
        );
        for doc in yaml::parse(&text).unwrap() {
            let errors: Vec<String> = validator.iter_errors(&doc.value).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{}: {errors:?}", path.display());
            seen += 1;
        }
    }
    assert!(seen > 0);
}

#[test]
fn the_schema_rejects_what_validation_rejects_by_type_and_range() {
    let validator = jsonschema::validator_for(&committed()).unwrap();
    let bad = serde_json::json!({
        "apiVersion": "lambda-reconciler.io/v1alpha1", "kind": "FunctionConfig", "metadata": {"name": "f"},
        "spec": {"eventInvokeConfig": {"maximumRetryAttempts": 5}, "unknownField": 1}
    });
    assert!(validator.iter_errors(&bad).count() >= 2);
}
