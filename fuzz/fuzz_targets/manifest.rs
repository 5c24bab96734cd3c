//! Fuzz target: any bytes through manifest parsing, validation, desired state and planning must
//! never panic (errors are fine).
#![no_main]

use std::collections::BTreeMap;
use std::path::Path;

use lambda_reconciler::desired::build;
use lambda_reconciler::manifest::load_file;
use lambda_reconciler::observed::Observed;
use lambda_reconciler::plan::{plan, render, Plan};
use lambda_reconciler::types::{FunctionState, Parameter};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(manifests) = load_file(Path::new("fuzz.yaml"), text) else { return };
    let params: BTreeMap<String, Parameter> = BTreeMap::new();
    let observed = Observed {
        function: Some(FunctionState {
            arn: "arn:aws:lambda:us-east-1:123456789012:function:f".into(),
            environment: BTreeMap::from([("A1".into(), "x".into())]),
            reserved_concurrency: Some(3),
            ..FunctionState::default()
        }),
        ..Observed::default()
    };
    for m in manifests {
        let _ = m.content_hash();
        if let Ok(d) = build(&m, Some("us-east-1"), &params) {
            let p = Plan { functions: vec![plan(&d, &observed), plan(&d.for_deletion(), &observed)] };
            let _ = render::text(&p);
            let _ = render::json(&p);
        }
    }
});
