//! Render time of the status page (`/`) at 1,000 and 10,000 manifests, a third of them in
//! trouble, 50 recent alerts; median of 50 each:
//! - the page function alone (filter, sort, one page of rows);
//! - a whole GET / through the daemon's admin server on loopback (HTTP, the read of the status
//!   map and the alerts, the render, the response), as a browser sees it.
//!
//! Run: cargo run --release --example page_render

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Instant;

use lambda_reconciler::admin::{self, AdminState};
use lambda_reconciler::metrics::Metrics;
use lambda_reconciler::page::{render, Header, Query};
use lambda_reconciler::status::{AlertView, DriftValue, ManifestStatus, StatusStore, SyncState};
use lambda_reconciler::types::FunctionKey;

fn status(i: usize) -> ManifestStatus {
    ManifestStatus {
        manifest: format!("app-{i:05}"),
        file: format!("/git/repo/manifests/app-{i:05}.yaml"),
        function: format!("app-{i:05}"),
        region: "ap-northeast-1".into(),
        account: None,
        sync: [SyncState::Synced, SyncState::OutOfSync, SyncState::Error][i % 3],
        drifted_fields: if i % 3 == 1 { vec!["reservedConcurrency".into()] } else { vec![] },
        drift: if i % 3 == 1 {
            vec![DriftValue {
                field: "reservedConcurrency".into(),
                desired: 3.into(),
                actual: 9.into(),
                changed_by: None,
            }]
        } else {
            vec![]
        },
        labels: [("team".to_string(), format!("team-{}", i % 10))].into(),
        blocked: vec![],
        rollouts: vec![],
        progressing: vec![],
        last_applied: Some("2026-12-02T23:47:35Z".into()),
        last_reconciled: Some("2026-12-02T23:47:35Z".into()),
        last_error: (i % 3 == 2).then(|| "lambda:GetFunction: ResourceNotFoundException: Function not found".into()),
        generation: "8cec3abe1d3e5285".into(),
        observed_generation: Some("8cec3abe1d3e5285".into()),
        revision: None,
    }
}

fn median(mut times: Vec<f64>) -> (f64, f64) {
    times.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (times[times.len() / 2], times[times.len() - 1])
}

/// One `GET path` on a fresh connection; returns the body's length.
fn get(addr: std::net::SocketAddr, path: &str) -> usize {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).unwrap();
    assert!(resp.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&resp[..80.min(resp.len())]));
    resp.len()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let header =
        Header { role: "leader", ready: true, shards: &[], revision: Some("3f2a9c1d0e5b4a6978877665544332211000aabb") };
    let queries =
        [("all, page 1", "/"), ("?sync=Error", "/?sync=Error"), ("?label=team%3Dteam-3", "/?label=team%3Dteam-3")];
    println!("| manifests | query | page function, median / max | whole GET /, median / max | bytes |");
    println!("|---|---|---|---|---|");
    for n in [1_000, 10_000] {
        let store = Arc::new(StatusStore::default());
        for i in 0..n {
            store.upsert(&FunctionKey::own("ap-northeast-1", &format!("app-{i:05}")), |_| status(i));
        }
        for i in 0..50 {
            store.push_alert(AlertView {
                time: "2026-12-02T23:47:35Z".into(),
                kind: "Drift".into(),
                manifest: Some(format!("app-{i:05}")),
                text: format!("drift on app-{i:05} (ap-northeast-1) reservedConcurrency: 9 (git: 3), action: none"),
            });
        }
        let state = AdminState::new(store.clone(), Arc::new(Metrics::default()));
        let (addr, _task) = admin::serve("127.0.0.1:0".parse().unwrap(), state, std::future::pending()).await.unwrap();
        let alerts = store.recent_alerts();
        for (label, path) in queries {
            let q = Query::parse(path.trim_start_matches("/?").trim_start_matches('/'));
            let alone = median(
                (0..50)
                    .map(|_| {
                        let t = Instant::now();
                        let html = store.with_all(|all| render(all, &alerts, &q, &header));
                        std::hint::black_box(html.len());
                        t.elapsed().as_secs_f64() * 1000.0
                    })
                    .collect(),
            );
            let mut bytes = 0;
            let mut times = Vec::new();
            for _ in 0..50 {
                let path = path.to_string();
                let t = Instant::now();
                bytes = tokio::task::spawn_blocking(move || get(addr, &path)).await.unwrap();
                times.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            let whole = median(times);
            println!(
                "| {n} | {label} | {:.2} / {:.2} ms | {:.2} / {:.2} ms | {bytes} |",
                alone.0, alone.1, whole.0, whole.1
            );
        }
    }
}
