//! Tests of the manifest store: full reloads, and reloads of named paths against them.

use super::store::*;
use std::collections::BTreeSet;
use std::path::PathBuf;

fn doc(name: &str, reserved: i64) -> String {
    format!("apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: {name}\nspec:\n  reservedConcurrency: {reserved}\n")
}

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::new(dir.path(), Some("us-east-1".into()));
    (dir, s)
}

#[test]
fn reload_reports_new_and_changed_manifests_only() {
    let (dir, mut s) = store();
    std::fs::write(dir.path().join("a.yaml"), doc("a", 1)).unwrap();
    std::fs::write(dir.path().join("b.yaml"), doc("b", 1)).unwrap();
    assert_eq!(s.reload().changed.len(), 2);
    std::fs::write(dir.path().join("b.yaml"), doc("b", 2)).unwrap();
    let r = s.reload();
    assert_eq!(r.changed.iter().map(|k| k.name.as_str()).collect::<Vec<_>>(), ["b"]);
    assert!(s.reload().changed.is_empty());
}

#[test]
fn a_broken_file_keeps_its_last_good_manifests_and_is_reported_once() {
    let (dir, mut s) = store();
    std::fs::write(dir.path().join("a.yaml"), doc("a", 1)).unwrap();
    s.reload();
    std::fs::write(dir.path().join("a.yaml"), "apiVersion: [broken").unwrap();
    let r = s.reload();
    assert!(r.removed.is_empty() && r.changed.is_empty());
    assert_eq!(r.rejected.len(), 1);
    assert_eq!(s.keys().len(), 1, "last good version still in force");
    assert!(s.reload().rejected.is_empty(), "same errors are not reported again");
}

#[test]
fn an_emptied_or_missing_directory_removes_nothing() {
    let (dir, mut s) = store();
    std::fs::write(dir.path().join("a.yaml"), doc("a", 1)).unwrap();
    s.reload();
    std::fs::remove_file(dir.path().join("a.yaml")).unwrap();
    let r = s.reload();
    assert!(r.unavailable.is_some() && r.removed.is_empty());
    let gone = dir.path().to_path_buf();
    drop(dir);
    let mut s2 = Store::new(&gone, None);
    assert!(s2.reload().unavailable.is_some());
    assert_eq!(s.keys().len(), 1);
}

#[test]
fn a_deleted_file_removes_its_manifests_while_others_stay() {
    let (dir, mut s) = store();
    std::fs::write(dir.path().join("a.yaml"), doc("a", 1)).unwrap();
    std::fs::write(dir.path().join("b.yaml"), doc("b", 1)).unwrap();
    s.reload();
    std::fs::remove_file(dir.path().join("a.yaml")).unwrap();
    let r = s.reload();
    assert_eq!(r.removed.iter().map(|(k, _)| k.name.as_str()).collect::<Vec<_>>(), ["a"]);
}

#[test]
fn a_duplicate_in_a_new_file_is_rejected_without_disturbing_the_first() {
    let (dir, mut s) = store();
    std::fs::write(dir.path().join("a.yaml"), doc("a", 1)).unwrap();
    s.reload();
    std::fs::write(dir.path().join("b.yaml"), doc("a", 5)).unwrap();
    let r = s.reload();
    assert!(r.changed.is_empty() && r.removed.is_empty());
    assert!(r.rejected[0].0.ends_with("b.yaml"));
}

/// Runs `step` on the files, then checks that a reload of the named paths reports what a
/// full reload reports and leaves the same manifests in force.
fn both(dir: &std::path::Path, full: &mut Store, inc: &mut Store, paths: &[&str], step: impl FnOnce()) -> Reload {
    step();
    let set: BTreeSet<PathBuf> = paths.iter().map(|p| dir.join(p)).collect();
    let (a, b) = (full.reload(), inc.reload_paths(&set));
    let names = |r: &Reload| {
        let mut changed: Vec<String> = r.changed.iter().map(|k| k.name.clone()).collect();
        let mut removed: Vec<String> = r.removed.iter().map(|(k, _)| k.name.clone()).collect();
        let mut rejected: Vec<PathBuf> = r.rejected.iter().map(|(p, _)| p.clone()).collect();
        changed.sort();
        removed.sort();
        rejected.sort();
        (changed, removed, rejected, r.unavailable.is_some())
    };
    assert_eq!(names(&a), names(&b), "paths {paths:?}");
    assert_eq!(full.keys(), inc.keys());
    b
}

/// A directory and two stores over it: one reloaded in full, one by named paths.
fn pair() -> (tempfile::TempDir, PathBuf, Store, Store) {
    let (dir, full) = store();
    let inc = Store::new(dir.path(), Some("us-east-1".into()));
    let p = dir.path().to_path_buf();
    (dir, p, full, inc)
}

#[test]
fn a_reload_of_named_paths_reports_what_a_full_reload_reports() {
    let (_dir, p, mut full, mut inc) = pair();
    let w = |f: &str, text: String| std::fs::write(p.join(f), text).unwrap();
    both(&p, &mut full, &mut inc, &[], || {
        w("a.yaml", doc("a", 1));
        w("b.yaml", doc("b", 1));
    });
    let r = both(&p, &mut full, &mut inc, &["b.yaml"], || w("b.yaml", doc("b", 2)));
    assert_eq!(r.changed.len(), 1, "an edit");
    let r = both(&p, &mut full, &mut inc, &["b.yaml"], || w("b.yaml", doc("b", 2)));
    assert!(r.changed.is_empty(), "same bytes again");
    let r = both(&p, &mut full, &mut inc, &["c.yaml"], || w("c.yaml", doc("c", 1)));
    assert_eq!(r.changed.len(), 1, "a new file");
    let r = both(&p, &mut full, &mut inc, &["c.yaml"], || w("c.yaml", "apiVersion: [broken".into()));
    assert_eq!((r.rejected.len(), full.keys().len()), (1, 3), "broken: last good stays");
    let r = both(&p, &mut full, &mut inc, &["d.yaml"], || w("d.yaml", doc("a", 7)));
    assert_eq!(r.rejected.len(), 1, "a duplicate of a manifest in force");
    let r = both(&p, &mut full, &mut inc, &["a.yaml"], || std::fs::remove_file(p.join("a.yaml")).unwrap());
    assert_eq!(r.changed.len(), 1, "the duplicate is admitted once the first is gone");
    let r = both(&p, &mut full, &mut inc, &["e.yaml", "d.yaml"], || {
        std::fs::rename(p.join("d.yaml"), p.join("e.yaml")).unwrap();
    });
    assert!(r.changed.is_empty() && r.removed.is_empty(), "a rename is not a change");
    both(&p, &mut full, &mut inc, &["sub"], || {
        std::fs::create_dir(p.join("sub")).unwrap();
        w("sub/f.yaml", doc("f", 1));
    });
    assert_eq!(inc.keys().len(), 4, "a new directory is scanned");
    both(&p, &mut full, &mut inc, &["notes.txt", ".e.yaml.swp"], || w("notes.txt", "x".into()));
    let r = both(&p, &mut full, &mut inc, &["b.yaml", "c.yaml", "e.yaml", "sub/f.yaml"], || {
        for f in ["b.yaml", "c.yaml", "e.yaml", "sub/f.yaml"] {
            std::fs::remove_file(p.join(f)).unwrap();
        }
    });
    assert!(r.unavailable.is_some() && r.removed.is_empty(), "the last files going remove nothing");
}

#[test]
fn a_reload_of_named_paths_reads_only_those_files() {
    let (dir, mut s) = store();
    std::fs::write(dir.path().join("a.yaml"), doc("a", 1)).unwrap();
    std::fs::write(dir.path().join("b.yaml"), doc("b", 1)).unwrap();
    s.reload();
    std::fs::write(dir.path().join("a.yaml"), "apiVersion: [broken").unwrap();
    std::fs::write(dir.path().join("b.yaml"), doc("b", 2)).unwrap();
    let r = s.reload_paths(&BTreeSet::from([dir.path().join("b.yaml")]));
    assert_eq!(r.changed.iter().map(|k| k.name.as_str()).collect::<Vec<_>>(), ["b"]);
    assert!(r.rejected.is_empty(), "a.yaml was not named, so not read");
}

fn doc_of(name: &str, spec: &str) -> String {
    format!("apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: {name}\nspec:\n{spec}")
}

#[test]
fn a_function_named_with_and_without_the_default_region_is_one_function_and_never_removed_by_the_other() {
    let (_dir, p, mut full, mut inc) = pair();
    let w = |f: &str, text: String| std::fs::write(p.join(f), text).unwrap();
    both(&p, &mut full, &mut inc, &[], || {
        w("a.yaml", doc_of("a", "  functionName: f\n  region: us-east-1\n  reservedConcurrency: 1\n"))
    });
    let r = both(&p, &mut full, &mut inc, &["b.yaml"], || {
        w("b.yaml", doc_of("b", "  functionName: f\n  deletionPolicy: delete\n  reservedConcurrency: 2\n"))
    });
    assert_eq!((r.changed.len(), r.rejected.len()), (0, 1), "the second manifest of f is rejected");
    let r = both(&p, &mut full, &mut inc, &["b.yaml"], || std::fs::remove_file(p.join("b.yaml")).unwrap());
    assert!(r.removed.is_empty(), "f is still a.yaml's");
}

#[test]
fn a_manifest_moved_to_a_file_that_sorts_earlier_is_not_a_duplicate() {
    let (_dir, p, mut full, mut inc) = pair();
    both(&p, &mut full, &mut inc, &[], || std::fs::write(p.join("b.yaml"), doc("b", 1)).unwrap());
    let r = both(&p, &mut full, &mut inc, &["0.yaml", "b.yaml"], || {
        std::fs::rename(p.join("b.yaml"), p.join("0.yaml")).unwrap()
    });
    assert!(r.rejected.is_empty() && r.removed.is_empty() && r.changed.is_empty(), "{r:?}");
}

#[test]
fn a_directory_moved_away_is_rescanned_and_the_last_file_going_removes_nothing() {
    let (_dir, p, mut full, mut inc) = pair();
    both(&p, &mut full, &mut inc, &[], || {
        std::fs::create_dir(p.join("team")).unwrap();
        std::fs::write(p.join("team/t.yaml"), doc("t", 1)).unwrap();
        std::fs::write(p.join("a.yaml"), doc("a", 1)).unwrap();
    });
    let away = tempfile::tempdir().unwrap();
    let r =
        both(&p, &mut full, &mut inc, &["team"], || std::fs::rename(p.join("team"), away.path().join("team")).unwrap());
    assert_eq!(r.removed.len(), 1, "the moved directory's manifest left");
    let r = both(&p, &mut full, &mut inc, &["a.yaml"], || std::fs::remove_file(p.join("a.yaml")).unwrap());
    assert!(r.unavailable.is_some() && r.removed.is_empty());
}
