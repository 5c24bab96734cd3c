//! The manifests in force: per-file last-good versions, reloads that report what changed, and
//! the guards that keep a broken or emptied directory from ever meaning "delete".

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use crate::manifest::yaml::Pos;
use crate::manifest::{error_at, scan_snapshot, validate, Manifest, ManifestError, ParseCache, Snapshot};
use crate::types::FunctionKey;

#[derive(Default)]
struct FileEntry {
    /// The last version of this file that loaded cleanly (kept while it is broken).
    good: Vec<Manifest>,
    rejected: Option<Vec<ManifestError>>,
}

/// What one reload changed.
#[derive(Default, Debug)]
pub struct Reload {
    /// Functions whose manifest is new or has a new generation.
    pub changed: Vec<FunctionKey>,
    /// Functions whose manifest is gone from a file that still parses, or whose file is gone.
    pub removed: Vec<(FunctionKey, Manifest)>,
    /// Files newly rejected (or rejected with different errors).
    pub rejected: Vec<(PathBuf, Vec<ManifestError>)>,
    /// The directory could not be read, or holds no manifest while some were loaded: nothing changed.
    pub unavailable: Option<String>,
}

pub struct Store {
    dir: PathBuf,
    default_region: Option<String>,
    files: BTreeMap<PathBuf, FileEntry>,
    current: BTreeMap<FunctionKey, Manifest>,
    parsed: ParseCache,
}

impl Store {
    pub fn new(dir: &Path, default_region: Option<String>) -> Self {
        Store {
            dir: dir.to_path_buf(),
            default_region,
            files: BTreeMap::new(),
            current: BTreeMap::new(),
            parsed: ParseCache::default(),
        }
    }

    pub fn get(&self, key: &FunctionKey) -> Option<&Manifest> {
        self.current.get(key)
    }

    /// The keys of the managed function `name` in `region`, whatever role reaches it.
    pub fn find(&self, region: &str, name: &str) -> Vec<FunctionKey> {
        self.current.keys().filter(|k| k.region == region && k.name == name).cloned().collect()
    }

    /// Every role the manifests name (each is assumed to reach its functions).
    pub fn roles(&self) -> std::collections::BTreeSet<String> {
        self.current.keys().filter_map(|k| k.role.clone()).collect()
    }

    /// What each account-region's manifests need read region-wide.
    pub fn interest(&self) -> BTreeMap<crate::types::Scope, crate::types::Interest> {
        crate::desired::interest(self.current.iter().map(|(k, m)| (k.scope(), m)))
    }

    pub fn keys(&self) -> Vec<FunctionKey> {
        self.current.keys().cloned().collect()
    }

    /// Checks that every manifest of a file has a region (the function key needs one).
    fn with_keys(&self, path: &Path, ms: Vec<Manifest>) -> Result<Vec<Manifest>, Vec<ManifestError>> {
        let errors: Vec<ManifestError> = ms
            .iter()
            .filter(|m| m.key(self.default_region.as_deref()).is_none())
            .map(|m| {
                error_at(
                    path,
                    m.pos_of("spec"),
                    "spec.region",
                    "no region in the manifest, the ARN, --region or the AWS config",
                )
            })
            .collect();
        if errors.is_empty() {
            Ok(ms)
        } else {
            Err(errors)
        }
    }

    /// Re-reads the directory. A file that fails keeps its last good manifests in force.
    pub fn reload(&mut self) -> Reload {
        let mut out = Reload::default();
        let scan = match scan_snapshot(&self.dir, &mut self.parsed) {
            Ok(s) => s,
            Err(e) => {
                out.unavailable = Some(e.to_string());
                return out;
            }
        };
        if scan.is_empty() && !self.current.is_empty() {
            out.unavailable = Some(format!(
                "no manifest files under {}; keeping the {} loaded",
                self.dir.display(),
                self.current.len()
            ));
            return out;
        }
        let previous = std::mem::take(&mut self.files);
        let mut files: BTreeMap<PathBuf, FileEntry> = BTreeMap::new();
        for (path, result) in scan {
            let old = previous.get(&path);
            let entry = match result.and_then(|ms| self.with_keys(&path, ms)) {
                Ok(good) => FileEntry { good, rejected: None },
                Err(errors) => {
                    if old.and_then(|o| o.rejected.as_ref()) != Some(&errors) {
                        out.rejected.push((path.clone(), errors.clone()));
                    }
                    FileEntry { good: old.map(|o| o.good.clone()).unwrap_or_default(), rejected: Some(errors) }
                }
            };
            files.insert(path, entry);
        }
        cross_file(&mut files, &previous, &mut out);
        let mut next: BTreeMap<FunctionKey, Manifest> = BTreeMap::new();
        for entry in files.values() {
            for m in &entry.good {
                if let Some(k) = m.key(self.default_region.as_deref()) {
                    next.entry(k).or_insert_with(|| m.clone());
                }
            }
        }
        for (k, m) in &next {
            if self.current.get(k).map(|o| o.content_hash()) != Some(m.content_hash()) {
                out.changed.push(k.clone());
            }
        }
        for (k, m) in std::mem::take(&mut self.current) {
            if !next.contains_key(&k) {
                out.removed.push((k, m));
            }
        }
        self.current = next;
        self.files = files;
        out
    }
}

/// Applies the cross-file rules to the clean files; a file they reject keeps its last good.
fn cross_file(files: &mut BTreeMap<PathBuf, FileEntry>, previous: &BTreeMap<PathBuf, FileEntry>, out: &mut Reload) {
    let mut snapshot = Snapshot::default();
    for e in files.values().filter(|e| e.rejected.is_none()) {
        snapshot.manifests.extend(e.good.iter().cloned());
    }
    validate::across(&mut snapshot);
    let kept: HashSet<&PathBuf> = snapshot.manifests.iter().map(|m| &m.file).collect();
    let mut errors_by_file: BTreeMap<PathBuf, Vec<ManifestError>> = BTreeMap::new();
    for e in snapshot.errors {
        errors_by_file.entry(e.file.clone()).or_default().push(e);
    }
    for (path, entry) in files.iter_mut() {
        if entry.rejected.is_some() || entry.good.is_empty() || kept.contains(path) {
            continue;
        }
        let errors =
            errors_by_file.remove(path).unwrap_or_else(|| vec![error_at(path, Pos::default(), "", "rejected")]);
        let old = previous.get(path);
        if old.and_then(|o| o.rejected.as_ref()) != Some(&errors) {
            out.rejected.push((path.clone(), errors.clone()));
        }
        entry.good = old.map(|o| o.good.clone()).unwrap_or_default();
        entry.rejected = Some(errors);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
