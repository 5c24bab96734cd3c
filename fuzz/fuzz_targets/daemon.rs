//! Fuzz target, the daemon's path: any manifest that validates, against live aliases with any
//! rollout marker tag (any timestamp, step or phase), is planned, printed, and its next wake is
//! scheduled on the daemon's work queue, without a panic.
#![no_main]

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use lambda_reconciler::controller::queue::Queue;
use lambda_reconciler::controller::rollouts::wake;
use lambda_reconciler::desired::build;
use lambda_reconciler::manifest::load_file;
use lambda_reconciler::observed::Observed;
use lambda_reconciler::plan::{plan, render, Plan};
use lambda_reconciler::types::{AliasState, FunctionState, Marker, Parameter};
use libfuzzer_sys::fuzz_target;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap())
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 20 {
        return;
    }
    let (head, rest) = data.split_at(20);
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let Ok(manifests) = load_file(Path::new("fuzz.yaml"), text) else { return };
    let at = i64::from_le_bytes(head[0..8].try_into().unwrap());
    let now = i64::from_le_bytes(head[8..16].try_into().unwrap());
    let step = u16::from_le_bytes(head[16..18].try_into().unwrap());
    let phase = ["pre", "shift", "post", "rolledback"][usize::from(head[18] % 4)];
    let tag = format!("to=2 from=1 id=r1 at={at} phase={phase} step={step} reason=fuzz");
    let marker = Marker::parse(&tag);
    let params: BTreeMap<String, Parameter> = BTreeMap::new();
    let queue = runtime().block_on(async { Queue::<String>::new() });
    for m in manifests {
        let Ok(d) = build(&m, Some("us-east-1"), &params) else { continue };
        let live = |v: &str| AliasState { function_version: v.into(), description: String::new(), routing: BTreeMap::new() };
        let observed = Observed {
            function: Some(FunctionState {
                arn: "arn:aws:lambda:us-east-1:123456789012:function:f".into(),
                markers: d.aliases.keys().filter_map(|a| Some((a.clone(), marker.clone()?))).collect(),
                ..FunctionState::default()
            }),
            aliases: d.aliases.keys().map(|a| (a.clone(), live(if head[19] % 2 == 0 { "1" } else { "2" }))).collect(),
            now_ms: now,
            ..Observed::default()
        };
        let p = plan(&d, &observed);
        let _ = render::text(&Plan { functions: vec![p.clone()] });
        if let Some(delay) = wake(&p, head[19] & 2 == 0) {
            runtime().block_on(async { queue.add_after(d.key.name.clone(), delay) });
        }
    }
});
