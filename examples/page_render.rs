//! Render time of the status page (`/`) at 1,000 and 10,000 manifests: the page function alone
//! (sort, filter, one page of rows), median of 50 renders each, a third of the manifests in trouble.
//! Run: cargo run --release --example page_render

use std::time::Instant;

use lambda_reconciler::page::{render, Header, Query};
use lambda_reconciler::status::{ManifestStatus, SyncState};

fn statuses(n: usize) -> Vec<ManifestStatus> {
    (0..n)
        .map(|i| ManifestStatus {
            manifest: format!("app-{i:05}"),
            file: format!("/git/repo/manifests/app-{i:05}.yaml"),
            function: format!("app-{i:05}"),
            region: "ap-northeast-1".into(),
            account: None,
            sync: [SyncState::Synced, SyncState::OutOfSync, SyncState::Error][i % 3],
            drifted_fields: if i % 3 == 1 { vec!["reservedConcurrency".into()] } else { vec![] },
            blocked: vec![],
            rollouts: vec![],
            progressing: vec![],
            last_applied: Some("2026-12-02T23:47:35Z".into()),
            last_reconciled: Some("2026-12-02T23:47:35Z".into()),
            last_error: (i % 3 == 2)
                .then(|| "lambda:GetFunction: ResourceNotFoundException: Function not found".into()),
            generation: "8cec3abe1d3e5285".into(),
            observed_generation: Some("8cec3abe1d3e5285".into()),
        })
        .collect()
}

fn main() {
    let header = Header { role: "leader", ready: true, shards: &[] };
    for n in [1_000, 10_000] {
        let all = statuses(n);
        for (label, q) in
            [("all, page 1", Query::default()), ("?sync=Error", Query { sync: Some("Error".into()), page: None })]
        {
            let mut times: Vec<f64> = (0..50)
                .map(|_| {
                    let t = Instant::now();
                    let html = render(&all, &q, &header);
                    std::hint::black_box(html.len());
                    t.elapsed().as_secs_f64() * 1000.0
                })
                .collect();
            times.sort_by(|a, b| a.partial_cmp(b).unwrap());
            let bytes = render(&all, &q, &header).len();
            println!("{n} manifests, {label}: median {:.2} ms, max {:.2} ms, {bytes} bytes", times[25], times[49]);
        }
    }
}
