//! The watcher follows atomic symlink swaps of a git-sync checkout and of a Kubernetes ConfigMap
//! volume: the new tree is loaded as one snapshot, a manifest that stays is never seen as
//! removed, one that goes is removed, one that comes is added.

use std::os::unix::fs::symlink;
use std::path::Path;
use std::time::Duration;

use crate::common::daemon::Daemon;
use crate::common::*;

fn doc(name: &str, reserved: i64, delete: bool) -> String {
    let policy = if delete { "  deletionPolicy: delete\n" } else { "" };
    format!("apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: {name}\nspec:\n{policy}  reservedConcurrency: {reserved}\n")
}

fn write(dir: &Path, files: &[(&str, String)]) {
    std::fs::create_dir_all(dir).unwrap();
    for (n, t) in files {
        std::fs::write(dir.join(n), t).unwrap();
    }
}

async fn wait_reserved(emu: &Emulator, f: &str, n: Option<i32>) {
    eventually(&format!("{f} reserved {n:?}"), Duration::from_secs(60), || async { reserved(emu, f).await == n }).await;
}

fn seed(emu: &Emulator) {
    for f in ["s1", "s2", "s3"] {
        emu.seed_function(f, 1);
    }
}

/// After the swap: s1 changed (never removed), s2 gone, s3 new.
async fn check_after_swap(emu: &Emulator, daemon: &Daemon, s2_deleted: bool) {
    wait_reserved(emu, "s1", Some(2)).await;
    wait_reserved(emu, "s3", Some(3)).await;
    if s2_deleted {
        wait_reserved(emu, "s2", None).await;
    }
    eventually("s2 forgotten", Duration::from_secs(60), || async { daemon.manifest("s2").is_null() }).await;
    let logs = daemon.log_text();
    let s1_removed = logs.lines().any(|l| l.contains("manifest removed") && l.contains("\"s1\""));
    assert!(!s1_removed, "s1 was never absent from a snapshot");
    assert!(!logs.contains("manifest rejected"), "no file was half-read");
    if !s2_deleted {
        assert_eq!(reserved(emu, "s2").await, Some(1), "retain leaves s2 as it was");
    }
    let s1_deletes = emu.write_calls().iter().filter(|w| w.starts_with("DELETE") && w.contains("/s1/")).count();
    assert_eq!(s1_deletes, 0);
}

#[tokio::test]
async fn a_git_sync_worktree_swap_is_followed_as_one_snapshot() {
    let emu = Emulator::start();
    seed(&emu);
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    write(&r.join(".worktrees/a"), &[("s1.yaml", doc("s1", 1, true)), ("s2.yaml", doc("s2", 1, true))]);
    symlink(".worktrees/a", r.join("repo")).unwrap();
    let daemon = Daemon::start(&emu, r.join("repo").to_str().unwrap(), &["--resync-interval", "1h"]);
    daemon.wait_ready().await;
    wait_reserved(&emu, "s2", Some(1)).await;

    write(&r.join(".worktrees/b"), &[("s1.yaml", doc("s1", 2, true)), ("s3.yaml", doc("s3", 3, true))]);
    symlink(".worktrees/b", r.join("repo.tmp")).unwrap();
    std::fs::rename(r.join("repo.tmp"), r.join("repo")).unwrap();
    std::fs::remove_dir_all(r.join(".worktrees/a")).unwrap();
    check_after_swap(&emu, &daemon, true).await;
    // A second swap, with the old tree left in place: only a watch moved to the new tree (and
    // on the link's directory) can see it.
    write(&r.join(".worktrees/c"), &[("s1.yaml", doc("s1", 4, true)), ("s3.yaml", doc("s3", 3, true))]);
    symlink(".worktrees/c", r.join("repo.tmp")).unwrap();
    std::fs::rename(r.join("repo.tmp"), r.join("repo")).unwrap();
    wait_reserved(&emu, "s1", Some(4)).await;
    // Reading the tree (every reload does, and so does `validate`) is not a change.
    eventually("swap settled", Duration::from_secs(60), || async { daemon.manifest("s1")["sync"] == "Synced" }).await;
    let reloads = daemon.counter("lambda_reconciler_manifest_reloads_total");
    emu.run(&["validate", "-m", r.join("repo").to_str().unwrap()]).expect(0);
    write(&r.join(".worktrees/c"), &[("s1.yaml", doc("s1", 5, true))]);
    wait_reserved(&emu, "s1", Some(5)).await;
    assert_eq!(daemon.counter("lambda_reconciler_manifest_reloads_total"), reloads + 1.0, "one reload per change");
}

#[tokio::test]
async fn a_configmap_data_swap_is_followed_as_one_snapshot() {
    let emu = Emulator::start();
    seed(&emu);
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    write(&r.join("..2026_11_22_a"), &[("s1.yaml", doc("s1", 1, false)), ("s2.yaml", doc("s2", 1, false))]);
    symlink("..2026_11_22_a", r.join("..data")).unwrap();
    for f in ["s1.yaml", "s2.yaml"] {
        symlink(format!("..data/{f}"), r.join(f)).unwrap();
    }
    let daemon = Daemon::start(&emu, r.to_str().unwrap(), &["--resync-interval", "1h"]);
    daemon.wait_ready().await;
    wait_reserved(&emu, "s2", Some(1)).await;

    // The kubelet's AtomicWriter order: new data dir, ..data_tmp, rename, new links, old links out.
    write(&r.join("..2026_11_22_b"), &[("s1.yaml", doc("s1", 2, false)), ("s3.yaml", doc("s3", 3, false))]);
    symlink("..2026_11_22_b", r.join("..data_tmp")).unwrap();
    std::fs::rename(r.join("..data_tmp"), r.join("..data")).unwrap();
    symlink("..data/s3.yaml", r.join("s3.yaml")).unwrap();
    std::fs::remove_file(r.join("s2.yaml")).unwrap();
    std::fs::remove_dir_all(r.join("..2026_11_22_a")).unwrap();
    check_after_swap(&emu, &daemon, false).await;
}
