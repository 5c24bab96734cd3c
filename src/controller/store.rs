//! The manifests in force: per-file last-good versions, reloads that report what changed, and
//! the guards that keep a broken or emptied directory from ever meaning "delete".

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use crate::manifest::yaml::Pos;
use crate::manifest::{error_at, scan_snapshot, validate, FileResult, Manifest, ManifestError, ParseCache, PathNow};
use crate::types::FunctionKey;

#[derive(Default, Clone)]
struct FileEntry {
    /// The last version of this file that loaded cleanly (kept while it is broken).
    good: Vec<Manifest>,
    rejected: Option<Vec<ManifestError>>,
    /// Clean manifests the cross-file rules rejected: admitted when the conflict goes away.
    candidate: Option<Vec<Manifest>>,
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

impl Reload {
    /// Reports `path` rejected with `errors`, unless `old` (its entry before) already was with
    /// the same errors: a broken file is reported once, not on every reload.
    fn reject(&mut self, path: &Path, old: Option<&FileEntry>, errors: &[ManifestError]) {
        if old.and_then(|o| o.rejected.as_deref()) != Some(errors) {
            self.rejected.push((path.to_path_buf(), errors.to_vec()));
        }
    }
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

    /// The files rejected now, with their errors.
    pub fn rejected(&self) -> Vec<(PathBuf, Vec<ManifestError>)> {
        self.files.iter().filter_map(|(p, e)| Some((p.clone(), e.rejected.clone()?))).collect()
    }

    /// Every role the manifests name (each is assumed to reach its functions).
    pub fn roles(&self) -> std::collections::BTreeSet<String> {
        self.current.keys().filter_map(|k| k.role.clone()).collect()
    }

    /// What each account-region's manifests need read region-wide.
    pub fn interest(&self) -> BTreeMap<crate::types::Scope, crate::types::Interest> {
        crate::desired::interest(self.current.iter().map(|(k, m)| (k.scope(), m)))
    }

    /// The releases of `m`'s aliases, with their members among the manifests in force.
    pub fn releases(&self, m: &Manifest) -> BTreeMap<String, crate::types::Release> {
        let all: Vec<&Manifest> = self.current.values().collect();
        crate::desired::releases(m, &all, self.default_region.as_deref())
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
                Ok(good) => FileEntry { good, ..FileEntry::default() },
                Err(errors) => {
                    out.reject(&path, old, &errors);
                    let good = old.map(|o| o.good.clone()).unwrap_or_default();
                    FileEntry { good, rejected: Some(errors), candidate: None }
                }
            };
            files.insert(path, entry);
        }
        keep_unreadable(&mut files, &previous);
        cross_file(&mut files, &previous, self.default_region.as_deref(), &mut out);
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

/// Above this many changed paths (or files waiting on a conflict), a full rescan is cheaper than
/// checking each file against the rest.
const MAX_INCREMENTAL: usize = 64;

impl Store {
    /// Re-reads only `paths`, the files the watcher saw change: one edit among 10,000 files costs
    /// one read and one check against the manifests in force, not a rescan. Whatever only a scan
    /// can answer (a directory, a ConfigMap swap, many paths, the last file going) falls back to
    /// `reload`. On a conflict, the manifest already in force keeps its name and function.
    pub fn reload_paths(&mut self, paths: &BTreeSet<PathBuf>) -> Reload {
        let waiting = self.files.values().filter(|e| e.candidate.is_some()).count();
        if self.files.is_empty() || paths.len() + waiting > MAX_INCREMENTAL {
            return self.reload();
        }
        let mut now: Vec<(PathBuf, Option<FileResult>)> = Vec::new();
        for p in paths {
            match self.parsed.path_now(&self.dir, p) {
                PathNow::NeedsScan => return self.reload(),
                // A directory that went away: its files are known only to a scan.
                PathNow::Absent
                    if self.files.range(p.clone()..).next().is_some_and(|(f, _)| f != p && f.starts_with(p)) =>
                {
                    return self.reload()
                }
                PathNow::Absent if !self.files.contains_key(p) => {}
                PathNow::Absent => now.push((p.clone(), None)),
                PathNow::Manifest(r) => now.push((p.clone(), Some(r))),
            }
        }
        // `now` names a file as gone only if it is one of `files`.
        if now.iter().all(|(_, r)| r.is_none()) && now.len() == self.files.len() {
            return self.reload(); // the last file going: the emptied-directory guard decides
        }
        // Removals first: a manifest moved to a file that sorts earlier is not a duplicate.
        now.sort_by_key(|(_, r)| r.is_some());
        let mut out = Reload::default();
        for (path, result) in now {
            match result {
                None => {
                    if let Some(old) = self.files.remove(&path) {
                        self.replace_in_force(&path, &old.good, &[], &mut out);
                    }
                }
                Some(r) => self.update(path, r, &mut out),
            }
        }
        let waiting: Vec<PathBuf> =
            self.files.iter().filter(|(_, e)| e.candidate.is_some()).map(|(p, _)| p.clone()).collect();
        for path in waiting {
            let mut entry = self.files.remove(&path).unwrap_or_default();
            let ms = entry.candidate.take().unwrap_or_default();
            self.settle(path, entry, ms, &mut out);
        }
        self.net(&mut out);
        out
    }

    /// A changed file: clean manifests go through the cross-file rules; a rejected file keeps
    /// its last good manifests in force.
    fn update(&mut self, path: PathBuf, result: FileResult, out: &mut Reload) {
        let old = self.files.remove(&path).unwrap_or_default();
        match result.and_then(|ms| self.with_keys(&path, ms)) {
            Ok(ms) => self.settle(path, old, ms, out),
            Err(errors) => {
                out.reject(&path, Some(&old), &errors);
                self.files.insert(path, FileEntry { good: old.good, rejected: Some(errors), candidate: None });
            }
        }
    }

    /// Admits the clean manifests `ms` of `path` (whose entry is out of `files`) unless they
    /// conflict with a manifest in force elsewhere; then they wait as the file's candidate.
    fn settle(&mut self, path: PathBuf, old: FileEntry, ms: Vec<Manifest>, out: &mut Reload) {
        // Only manifests in force elsewhere with one of these names or functions can clash.
        let region = self.default_region.as_deref();
        let clash = |c: &Manifest| {
            ms.iter().any(|m| m.name == c.name || validate::target(m, region) == validate::target(c, region))
                && c.file != path
        };
        let refs: Vec<&Manifest> = self.current.values().filter(|c| clash(c)).chain(ms.iter()).collect();
        let errors: Vec<ManifestError> =
            validate::conflicts(&refs, region).0.into_iter().filter(|e| e.file == path).collect();
        if errors.is_empty() {
            self.replace_in_force(&path, &old.good, &ms, out);
            self.files.insert(path, FileEntry { good: ms, ..FileEntry::default() });
            return;
        }
        out.reject(&path, Some(&old), &errors);
        self.files.insert(path, FileEntry { good: old.good, rejected: Some(errors), candidate: Some(ms) });
    }

    /// Puts `new` in force in place of `old`, the manifests `path` had in force.
    fn replace_in_force(&mut self, path: &Path, old: &[Manifest], new: &[Manifest], out: &mut Reload) {
        let region = self.default_region.as_deref();
        let keys: HashSet<FunctionKey> = new.iter().filter_map(|m| m.key(region)).collect();
        for k in old.iter().filter_map(|m| m.key(region)).filter(|k| !keys.contains(k)) {
            if self.current.get(&k).is_some_and(|c| c.file == path) {
                let m = self.current.remove(&k).expect("checked above");
                // Another file's (last good) manifest of the function takes over, as a full
                // reload would choose it: the first in path order.
                let heir = self.files.values().flat_map(|e| e.good.iter()).find(|h| h.key(region).as_ref() == Some(&k));
                match heir.cloned() {
                    Some(h) => {
                        if h.content_hash() != m.content_hash() {
                            out.changed.push(k.clone());
                        }
                        self.current.insert(k, h);
                    }
                    None => out.removed.push((k, m)),
                }
            }
        }
        for m in new {
            let Some(k) = m.key(region) else { continue };
            if self.current.get(&k).map(|c| c.content_hash()) != Some(m.content_hash()) {
                out.changed.push(k.clone());
            }
            self.current.insert(k, m.clone());
        }
    }

    /// A function that left one file and came back in another within one reload is neither
    /// removed nor (with the same content) changed, as a full reload would report it.
    fn net(&self, out: &mut Reload) {
        let mut same = HashSet::new();
        out.removed.retain(|(k, m)| match self.current.get(k) {
            None => true,
            Some(c) => {
                if c.content_hash() == m.content_hash() {
                    same.insert(k.clone());
                }
                false
            }
        });
        let mut seen = HashSet::new();
        out.changed.retain(|k| !same.contains(k) && seen.insert(k.clone()));
    }
}

/// A directory the scan could not read keeps the entries it held: unreadable never means removed.
fn keep_unreadable(files: &mut BTreeMap<PathBuf, FileEntry>, previous: &BTreeMap<PathBuf, FileEntry>) {
    let unreadable: Vec<PathBuf> =
        files.iter().filter(|(p, e)| e.rejected.is_some() && p.is_dir()).map(|(p, _)| p.clone()).collect();
    for dir in unreadable {
        for (p, e) in previous.range(dir.clone()..).take_while(|(p, _)| p.starts_with(&dir)) {
            files.entry(p.clone()).or_insert_with(|| e.clone());
        }
    }
}

/// Applies the cross-file rules to the clean files; a file they reject keeps its last good.
fn cross_file(
    files: &mut BTreeMap<PathBuf, FileEntry>,
    previous: &BTreeMap<PathBuf, FileEntry>,
    default_region: Option<&str>,
    out: &mut Reload,
) {
    let clean: Vec<&Manifest> = files.values().filter(|e| e.rejected.is_none()).flat_map(|e| e.good.iter()).collect();
    let (errors, rejected) = validate::conflicts(&clean, default_region);
    let kept: HashSet<PathBuf> = clean.iter().map(|m| m.file.clone()).filter(|f| !rejected.contains(f)).collect();
    let mut errors_by_file: BTreeMap<PathBuf, Vec<ManifestError>> = BTreeMap::new();
    for e in errors {
        errors_by_file.entry(e.file.clone()).or_default().push(e);
    }
    for (path, entry) in files.iter_mut() {
        if entry.rejected.is_some() || entry.good.is_empty() || kept.contains(path) {
            continue;
        }
        let errors =
            errors_by_file.remove(path).unwrap_or_else(|| vec![error_at(path, Pos::default(), "", "rejected")]);
        let old = previous.get(path);
        out.reject(path, old, &errors);
        entry.candidate = Some(std::mem::replace(&mut entry.good, old.map(|o| o.good.clone()).unwrap_or_default()));
        entry.rejected = Some(errors);
    }
}
