//! Diagnostic: the resident memory of loading a manifest directory as the daemon's store does
//! (`cargo run --release --example store_rss -- DIR`; README "Performance").

fn rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("VmRSS") || l.starts_with("VmHWM"))
        .collect::<Vec<_>>()
        .join(" ")
}
fn main() {
    println!(
        "size_of Document {} Manifest {}",
        std::mem::size_of::<lambda_reconciler::manifest::Document>(),
        std::mem::size_of::<lambda_reconciler::manifest::Manifest>()
    );
    let dir = std::path::PathBuf::from(std::env::args().nth(1).unwrap());
    println!("start {}", rss());
    let mut s = lambda_reconciler::controller::store::Store::new(&dir, Some("us-east-1".into()));
    let r = s.reload();
    println!("after reload ({} changed) {}", r.changed.len(), rss());
    drop(r);
    println!("after dropping the reload {}", rss());
    let t = std::time::Instant::now();
    let r = s.reload();
    println!("a reload with nothing changed: {} ms ({} changed)", t.elapsed().as_millis(), r.changed.len());
    let one = std::fs::read_dir(&dir).unwrap().flatten().map(|e| e.path()).find(|p| p.is_file()).unwrap();
    for _ in 0..std::env::var("LOOPS").map_or(3, |v| v.parse().unwrap()) {
        let t = std::time::Instant::now();
        let r = s.reload_paths(&std::collections::BTreeSet::from([one.clone()]));
        println!("a reload of one named path: {} us ({} changed)", t.elapsed().as_micros(), r.changed.len());
    }
    let mut cache = lambda_reconciler::manifest::ParseCache::default();
    lambda_reconciler::manifest::scan_snapshot(&dir, &mut cache).unwrap();
    let t = std::time::Instant::now();
    let scan = lambda_reconciler::manifest::scan_snapshot(&dir, &mut cache).unwrap();
    println!("a rescan (parse cache warm): {} ms ({} files)", t.elapsed().as_millis(), scan.len());
    let t = std::time::Instant::now();
    let interest = s.interest();
    println!("interest over every manifest: {} ms ({} account-regions)", t.elapsed().as_millis(), interest.len());
    let snap = lambda_reconciler::manifest::load_dir(&dir).unwrap();
    println!("plus one load_dir ({} manifests) {}", snap.manifests.len(), rss());
}
