//! Loading manifest files (recursively, multi-document) into a validated snapshot.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use super::model::Document;
use super::snapshot::{error_at, Manifest, ManifestError, Snapshot};
use super::validate;
use super::yaml::{self, Pos, SpannedDoc};

/// Failure to read the manifest directory itself.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("manifest directory {path}: {source}")]
    ReadDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Files larger than this are rejected unread (a manifest is a few KB).
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// A manifest tree of more entries (files and directories) than this is refused whole, as an
/// unreadable directory is: the last good snapshot stays in force, nothing is deleted.
pub const MAX_ENTRIES: usize = 100_000;

/// Parses and validates one file's text; all-or-nothing for the file.
pub fn load_file(file: &Path, text: &str) -> Result<Vec<Manifest>, Vec<ManifestError>> {
    let docs = yaml::parse(text).map_err(|e| vec![error_at(file, e.pos, "", e.message)])?;
    if docs.iter().all(|d| d.value.is_null()) {
        return Err(vec![error_at(file, Pos { line: 1, column: 1 }, "", "empty file: no YAML document")]);
    }
    let mut manifests = Vec::new();
    let mut errors = Vec::new();
    for spanned in docs {
        if spanned.value.is_null() {
            continue; // an empty document (e.g. a trailing `---`)
        }
        if is_foreign(&spanned.value) {
            tracing::debug!(file = %file.display(), line = spanned.start.line, "skipping a document of another API group");
            continue;
        }
        match typed(file, &spanned) {
            Ok(doc) => {
                let before = errors.len();
                validate::document(file, &doc, &spanned, &mut errors);
                if errors.len() == before {
                    let warnings = super::warnings::document(file, &doc, &spanned);
                    manifests.push(Manifest::new(file, doc, &spanned).with_warnings(warnings));
                }
            }
            Err(e) => errors.extend(e),
        }
    }
    if errors.is_empty() {
        Ok(manifests)
    } else {
        Err(errors)
    }
}

/// A document that is not ours, living beside the manifests: a Kubernetes object (another API
/// group), or a file with none of our top-level keys (a CI workflow, say). Documents of our group
/// with a wrong version or kind, or with `metadata`/`spec` but no `apiVersion`, are still errors.
fn is_foreign(v: &serde_json::Value) -> bool {
    let Some(map) = v.as_object() else { return false };
    match map.get("apiVersion").and_then(|a| a.as_str()) {
        Some(a) => !a.starts_with(super::model::API_GROUP) && map.get("kind").is_some_and(|k| k.is_string()),
        None => !["apiVersion", "kind", "metadata", "spec"].iter().any(|k| map.contains_key(*k)),
    }
}

/// The typed document, or every type error in it: after each error the offending value is set
/// aside (its key removed; a list element set to null, then its list removed) and the rest
/// deserialized again, so one wrong type does not hide the next.
fn typed(file: &Path, spanned: &SpannedDoc) -> Result<Document, Vec<ManifestError>> {
    let mut value = spanned.value.clone();
    let mut errors = vec![];
    let mut removed: Vec<String> = vec![];
    for _ in 0..MAX_TYPE_ERRORS {
        let e = match serde_path_to_error::deserialize::<_, Document>(&value) {
            Ok(doc) if errors.is_empty() => return Ok(doc),
            Ok(_) => break,
            Err(e) => e,
        };
        let mut field = e.path().to_string();
        if field == "." {
            field.clear();
        }
        let message = e.inner().to_string();
        // A required field we set aside ourselves is not the user's error: stop there.
        if let Some(missing) = message.strip_prefix("missing field `").and_then(|m| m.split('`').next()) {
            let path = if field.is_empty() { missing.to_string() } else { format!("{field}.{missing}") };
            if removed.contains(&path) {
                break;
            }
        }
        errors.push(error_at(file, spanned.pos_of(&field), &field, friendly(&message)));
        if field.is_empty() || !set_aside(&mut value, &field, &mut removed) {
            break;
        }
    }
    Err(errors)
}

/// At most this many type errors are reported per document.
const MAX_TYPE_ERRORS: usize = 50;

/// Removes the value at `path` (`a.b[2].c`) from `v`; a list element is first set to null (its
/// list is removed if that fails again). False when nothing could be set aside.
fn set_aside(v: &mut serde_json::Value, path: &str, removed: &mut Vec<String>) -> bool {
    let (parent, last) = match path.rfind(['.', '[']) {
        Some(i) => (&path[..i], &path[i..]),
        None => ("", path),
    };
    let Some(container) = pointer_mut(v, parent) else { return false };
    if let Some(index) = last.strip_prefix('[').and_then(|l| l.strip_suffix(']')).and_then(|i| i.parse::<usize>().ok())
    {
        if removed.iter().any(|r| r == path) {
            // Null did not fit either: set the whole list aside.
            return set_aside(v, parent, removed);
        }
        removed.push(path.to_string());
        return container.get_mut(index).map(|e| *e = serde_json::Value::Null).is_some();
    }
    let key = last.trim_start_matches('.');
    removed.push(path.to_string());
    container.as_object_mut().and_then(|o| o.remove(key)).is_some()
}

/// The value at a serde_path_to_error path (`a.b[2].c`; "" is the root).
fn pointer_mut<'a>(v: &'a mut serde_json::Value, path: &str) -> Option<&'a mut serde_json::Value> {
    let mut cur = v;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, indices) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            cur = cur.get_mut(key)?;
        }
        for i in indices.split(']').filter(|s| !s.is_empty()) {
            cur = cur.get_mut(i.trim_start_matches('[').parse::<usize>().ok()?)?;
        }
    }
    Some(cur)
}

fn friendly(message: &str) -> String {
    if let Some(hint) = super::definition_rules::hint(message) {
        hint
    } else if message.contains("untagged enum EnvValue") {
        "expected a string value, {fromSsm: PARAMETER_NAME} or {fromSecret: {id: NAME_OR_ARN, key: JSON_KEY, version: STAGE_OR_ID}}".into()
    } else if message.contains("untagged enum Scalar") {
        "expected a string or number".into()
    } else {
        message.to_string()
    }
}

fn is_manifest(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
}

/// The outcome of loading one file: its manifests, or every error in it.
pub type FileResult = Result<Vec<Manifest>, Vec<ManifestError>>;

/// Reads and validates every `*.yaml`/`*.yml` under `dir` (recursively, following symlinks,
/// sorted by path), file by file. Cross-file rules are not applied here.
pub fn scan_dir(dir: &Path, cache: &mut ParseCache) -> Result<Vec<(PathBuf, FileResult)>, LoadError> {
    let mut next = HashMap::new();
    let out = scan_into(dir, &mut ParseCache(std::mem::take(&mut cache.0)), &mut next)?;
    cache.0 = next;
    Ok(out)
}

/// The result of parsing each file, keyed by path and content hash: a reload re-reads every file
/// but parses and validates only those whose bytes changed (one edit among thousands of files).
#[derive(Default)]
pub struct ParseCache(HashMap<PathBuf, (u64, FileResult)>);

fn content_key(bytes: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

/// Parses `bytes` of `path`, or reuses the previous result for the same content.
fn parse_cached(
    path: &Path,
    bytes: Vec<u8>,
    old: &mut ParseCache,
    next: &mut HashMap<PathBuf, (u64, FileResult)>,
) -> FileResult {
    let key = content_key(&bytes);
    if let Some((k, result)) = old.0.remove(path).filter(|(k, _)| *k == key) {
        next.insert(path.to_path_buf(), (k, result.clone()));
        return result;
    }
    let result = match String::from_utf8(bytes) {
        Err(e) => Err(vec![error_at(
            path,
            Pos::default(),
            "",
            format!("not valid UTF-8 (byte {})", e.utf8_error().valid_up_to()),
        )]),
        Ok(text) => load_file(path, &text),
    };
    next.insert(path.to_path_buf(), (key, result.clone()));
    result
}

fn scan_into(
    dir: &Path,
    old: &mut ParseCache,
    next: &mut HashMap<PathBuf, (u64, FileResult)>,
) -> Result<Vec<(PathBuf, FileResult)>, LoadError> {
    let refuse =
        |message: String| LoadError::ReadDir { path: dir.to_path_buf(), source: std::io::Error::other(message) };
    let meta = std::fs::metadata(dir).map_err(|source| LoadError::ReadDir { path: dir.to_path_buf(), source })?;
    if !meta.is_dir() {
        return Err(refuse("not a directory".into()));
    }
    let root = std::fs::canonicalize(dir).map_err(|source| LoadError::ReadDir { path: dir.to_path_buf(), source })?;
    let mut walk = Walk { root, seen: HashSet::new(), out: Vec::new() };
    let mut bytes = 0u64;
    // Hidden entries (`.git`, ConfigMap `..data` copies reached through their symlinks) are skipped.
    let mut walker = walkdir::WalkDir::new(dir)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
    let mut entries = 0usize;
    while let Some(entry) = walker.next() {
        entries += 1;
        if entries > MAX_ENTRIES {
            return Err(refuse(format!("more than {MAX_ENTRIES} files and directories; refused whole")));
        }
        let Some((entry, target)) = walk.admit(entry, dir) else {
            continue;
        };
        if entry.file_type().is_dir() {
            if target.is_none() {
                walker.skip_current_dir();
            }
            continue;
        }
        if let Some(target) = target {
            let (result, read) = read_file(entry.path(), &target, old, next);
            bytes += read;
            if bytes > MAX_TREE_BYTES {
                return Err(refuse(format!("more than {MAX_TREE_BYTES} bytes of manifests; refused whole")));
            }
            walk.out.push((entry.path().to_path_buf(), result));
        }
    }
    Ok(walk.out)
}

/// A manifest tree whose files add up to more bytes than this is refused whole, as an
/// unreadable directory is (64 files at the 1 MiB file limit).
pub const MAX_TREE_BYTES: u64 = 64 * 1024 * 1024;

/// One walk of a manifest tree: its resolved root, every directory and file already read (by
/// resolved path: one read each, however many links lead to it), and what was found.
struct Walk {
    root: PathBuf,
    seen: HashSet<PathBuf>,
    out: Vec<(PathBuf, FileResult)>,
}

impl Walk {
    /// The entry and, for a directory to walk or a manifest file to read, its resolved path;
    /// `None` for what is skipped (an error recorded where one is due).
    fn admit(
        &mut self,
        entry: walkdir::Result<walkdir::DirEntry>,
        dir: &Path,
    ) -> Option<(walkdir::DirEntry, Option<PathBuf>)> {
        let entry = match entry {
            Ok(e) => e,
            // A dangling symlink (a ConfigMap file whose target left in the last swap) is absent;
            // a symlink loop is an error.
            Err(e) if e.path().is_some_and(is_dangling) => return None,
            Err(e) => {
                let path = e.path().unwrap_or(dir).to_path_buf();
                let err = error_at(&path, Pos::default(), "", e.to_string());
                self.out.push((path, Err(vec![err])));
                return None;
            }
        };
        let (is_dir, link) = (entry.file_type().is_dir(), entry.path_is_symlink() && entry.depth() > 0);
        if entry.depth() == 0 || !(is_dir || (entry.file_type().is_file() && is_manifest(entry.path()))) {
            return Some((entry, is_dir.then(PathBuf::new)));
        }
        let target = match (link, std::fs::canonicalize(entry.path())) {
            (true, _) => confined(&self.root, entry.path()),
            (false, Ok(t)) => Ok(t),
            (false, Err(_)) => Ok(entry.path().to_path_buf()),
        };
        let target = match target {
            Ok(t) if self.seen.insert(t.clone()) => Some(t),
            Ok(_) if link => {
                let what = if is_dir { "directory" } else { "file" };
                let m = format!("symbolic link to a {what} already read through another path; it is not read twice");
                self.out.push((entry.path().to_path_buf(), Err(vec![error_at(entry.path(), Pos::default(), "", m)])));
                None
            }
            Ok(_) => None, // a directory or file read earlier through a link to it
            Err(err) => {
                self.out.push((entry.path().to_path_buf(), Err(vec![err])));
                None
            }
        };
        Some((entry, target))
    }
}

/// The resolved target of the link `path`, when it lies inside `root` (the resolved manifest
/// directory: git-sync's `repo` link and a ConfigMap's `..data` resolve inside it). Any other
/// link is refused by name: its target is never opened, and its content never quoted.
fn confined(root: &Path, path: &Path) -> Result<PathBuf, ManifestError> {
    let refuse = |why: &str| error_at(path, Pos::default(), "", format!("symbolic link {why}; it is not read"));
    match std::fs::canonicalize(path) {
        Ok(target) if target.starts_with(root) => Ok(target),
        Ok(_) => Err(refuse("to a target outside the manifest directory")),
        Err(_) => Err(refuse("that cannot be resolved")),
    }
}

/// Reads at most [`MAX_FILE_BYTES`] + 1 bytes of `path`, whatever its metadata says (procfs
/// reports 0 for files of any length): a longer file is refused, not read to its end.
fn read_bounded(path: &Path) -> std::io::Result<Result<Vec<u8>, String>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Ok(Err(format!("file is over the {MAX_FILE_BYTES}-byte limit")));
    }
    Ok(Ok(bytes))
}

/// Reads and parses the manifest file `path` (its resolved, confined target `target`) through
/// the cache; with the number of bytes read.
fn read_file(
    path: &Path,
    target: &Path,
    old: &mut ParseCache,
    next: &mut HashMap<PathBuf, (u64, FileResult)>,
) -> (FileResult, u64) {
    match read_bounded(target) {
        Err(e) => (Err(vec![error_at(path, Pos::default(), "", format!("cannot read: {e}"))]), 0),
        Ok(Err(message)) => (Err(vec![error_at(path, Pos::default(), "", message)]), MAX_FILE_BYTES),
        Ok(Ok(bytes)) => {
            let n = bytes.len() as u64;
            (parse_cached(path, bytes, old, next), n)
        }
    }
}

/// What one path of the tree is now, for a reload of named paths only.
#[derive(Debug)]
pub enum PathNow {
    /// A manifest file (`*.yaml`/`*.yml`, not hidden), read and parsed.
    Manifest(FileResult),
    /// Nothing a scan would read: absent, or not a manifest file name.
    Absent,
    /// Something only a full scan can answer: a directory, a hidden `..` entry (a ConfigMap's
    /// swap), or a path outside `dir`.
    NeedsScan,
}

impl ParseCache {
    /// What a scan of `dir` would find at `path` now, read and parsed through this cache
    /// (one edited file among thousands: no directory walk).
    pub fn path_now(&mut self, dir: &Path, path: &Path) -> PathNow {
        let Ok(rel) = path.strip_prefix(dir) else { return PathNow::NeedsScan };
        let hidden = |prefix: &str| rel.components().any(|c| c.as_os_str().to_string_lossy().starts_with(prefix));
        if hidden("..") {
            return PathNow::NeedsScan;
        }
        if hidden(".") {
            return PathNow::Absent; // a scan skips hidden entries (`.git`, editor swap files)
        }
        let meta = std::fs::metadata(path);
        if meta.as_ref().is_ok_and(|m| m.is_dir()) {
            return PathNow::NeedsScan;
        }
        if !is_manifest(path) {
            return PathNow::Absent;
        }
        match meta {
            Ok(m) if m.is_file() => {
                let target = match confined_path(dir, path) {
                    Ok(t) => t,
                    Err(e) => return PathNow::Manifest(Err(vec![e])),
                };
                let mut next = HashMap::new();
                let (result, _) = read_file(path, &target, self, &mut next);
                self.0.extend(next);
                PathNow::Manifest(result)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !path.is_symlink() => {
                self.0.remove(path);
                PathNow::Absent
            }
            _ => PathNow::NeedsScan, // a dangling symlink, a socket, unreadable metadata
        }
    }
}

/// `path` under `dir` resolved, when every link on the way stays inside the resolved `dir`.
fn confined_path(dir: &Path, path: &Path) -> Result<PathBuf, ManifestError> {
    let root = std::fs::canonicalize(dir)
        .map_err(|e| error_at(path, Pos::default(), "", format!("manifest directory cannot be resolved: {e}")))?;
    confined(&root, path)
}

fn is_dangling(p: &Path) -> bool {
    p.is_symlink() && std::fs::metadata(p).is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
}

/// What identifies the version of a tree that is swapped atomically: the resolved directory
/// (git-sync's `repo` symlink) and its `..data` link (a Kubernetes ConfigMap volume).
fn tree_version(dir: &Path) -> (Option<PathBuf>, Option<PathBuf>) {
    (std::fs::canonicalize(dir).ok(), std::fs::canonicalize(dir.join("..data")).ok())
}

/// `scan_dir` of one consistent version of the tree: if a symlink swap happened while scanning
/// (the version changed), the scan is repeated, so old and new files are never mixed.
pub fn scan_snapshot(dir: &Path, cache: &mut ParseCache) -> Result<Vec<(PathBuf, FileResult)>, LoadError> {
    let mut attempts = 0;
    loop {
        let before = tree_version(dir);
        let scan = scan_dir(dir, cache)?;
        attempts += 1;
        if tree_version(dir) == before || attempts >= 5 {
            return Ok(scan);
        }
        tracing::debug!(dir = %dir.display(), "manifest tree swapped during the scan; scanning again");
    }
}

/// Loads every manifest under `dir` into one snapshot, applying the cross-file rules.
pub fn load_dir(dir: &Path) -> Result<Snapshot, LoadError> {
    let mut snapshot = Snapshot::default();
    for (_, result) in scan_snapshot(dir, &mut ParseCache::default())? {
        match result {
            Ok(ms) => snapshot.manifests.extend(ms),
            Err(es) => snapshot.errors.extend(es),
        }
    }
    validate::across(&mut snapshot);
    Ok(snapshot)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(name: &str, reserved: i64) -> String {
        format!("apiVersion: lambda-reconciler.io/v1alpha1\nkind: FunctionConfig\nmetadata:\n  name: {name}\nspec:\n  reservedConcurrency: {reserved}\n")
    }

    fn manifests(scan: &[(PathBuf, FileResult)], file: &str) -> usize {
        scan.iter().find(|(p, _)| p.ends_with(file)).map(|(_, r)| r.as_ref().map_or(0, Vec::len)).unwrap()
    }

    #[test]
    fn a_rescan_parses_only_changed_files_and_forgets_removed_ones() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.yaml"), dir.path().join("b.yaml"));
        std::fs::write(&a, doc("a", 1)).unwrap();
        std::fs::write(&b, doc("b", 1)).unwrap();
        let mut cache = ParseCache::default();
        scan_dir(dir.path(), &mut cache).unwrap();
        // Plant a marker result for a.yaml: a rescan that reuses the cache returns it.
        cache.0.get_mut(&a).unwrap().1 = Ok(vec![]);
        std::fs::write(&b, doc("b", 2)).unwrap();
        let scan = scan_dir(dir.path(), &mut cache).unwrap();
        assert_eq!(manifests(&scan, "a.yaml"), 0, "unchanged bytes: not parsed again");
        assert_eq!(manifests(&scan, "b.yaml"), 1, "changed bytes: parsed again");
        std::fs::remove_file(&a).unwrap();
        scan_dir(dir.path(), &mut cache).unwrap();
        assert_eq!(cache.0.len(), 1, "a removed file leaves the cache");
    }

    fn errors(scan: &[(PathBuf, FileResult)]) -> String {
        scan.iter().filter_map(|(_, r)| r.as_ref().err()).flatten().map(|e| format!("{e}\n")).collect()
    }

    #[test]
    fn a_link_to_a_file_outside_the_manifest_directory_is_refused_by_name_and_never_read() {
        let outside = tempfile::tempdir().unwrap();
        let token = outside.path().join("token");
        std::fs::write(&token, "eyJhbGciOiJSUzI1NiIsImtpZCI6InNlY3JldC10b2tlbi12YWx1ZSJ9").unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(&token, dir.path().join("x.yaml")).unwrap();
        std::os::unix::fs::symlink("../../../../../../../../etc/passwd", dir.path().join("p.yaml")).unwrap();
        std::fs::write(dir.path().join("ok.yaml"), doc("ok", 1)).unwrap();
        let scan = scan_dir(dir.path(), &mut ParseCache::default()).unwrap();
        let text = errors(&scan);
        assert!(text.contains("x.yaml") && text.contains("p.yaml"), "{text}");
        assert!(text.contains("outside the manifest directory"), "{text}");
        assert!(!text.contains("eyJhbGci") && !text.contains("root:"), "no content quoted: {text}");
        assert_eq!(manifests(&scan, "ok.yaml"), 1, "the other files still load");
        // A reload of the named path refuses it the same way.
        let now = ParseCache::default().path_now(dir.path(), &dir.path().join("x.yaml"));
        assert!(matches!(now, PathNow::Manifest(Err(ref e)) if e[0].message.contains("outside")), "{now:?}");
    }

    #[test]
    fn a_link_to_a_directory_outside_is_refused_and_not_walked() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("other.yaml"), doc("other", 1)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("sub")).unwrap();
        let scan = scan_dir(dir.path(), &mut ParseCache::default()).unwrap();
        assert!(scan.iter().all(|(p, _)| !p.ends_with("other.yaml")), "{scan:?}");
        assert!(errors(&scan).contains("sub:0:0: symbolic link to a target outside"), "{}", errors(&scan));
    }

    #[test]
    fn links_that_resolve_inside_the_root_are_followed() {
        // A ConfigMap volume: x.yaml -> ..data/x.yaml -> ..2026_a/x.yaml; the root itself a link.
        let top = tempfile::tempdir().unwrap();
        let real = top.path().join("real");
        std::fs::create_dir_all(real.join("..2026_a")).unwrap();
        std::fs::write(real.join("..2026_a/x.yaml"), doc("x", 1)).unwrap();
        std::os::unix::fs::symlink("..2026_a", real.join("..data")).unwrap();
        std::os::unix::fs::symlink("..data/x.yaml", real.join("x.yaml")).unwrap();
        std::os::unix::fs::symlink(&real, top.path().join("repo")).unwrap();
        let scan = scan_dir(&top.path().join("repo"), &mut ParseCache::default()).unwrap();
        assert_eq!(manifests(&scan, "x.yaml"), 1, "{scan:?}");
    }

    #[test]
    fn a_file_is_read_to_the_limit_whatever_its_size_says() {
        // Like procfs (size 0 for a file of gigabytes), /dev/zero says 0 and never ends.
        assert_eq!(std::fs::metadata("/dev/zero").unwrap().len(), 0);
        let read = read_bounded(Path::new("/dev/zero")).unwrap();
        assert!(read.unwrap_err().contains("over the 1048576-byte limit"));
    }

    #[test]
    fn an_error_quotes_at_most_a_short_excerpt_of_the_file() {
        let long = "s3cr3t".repeat(200);
        let text =
            format!("{}  reservedConcurrency: \"{long}\"\n", doc("x", 1).replace("  reservedConcurrency: 1\n", ""));
        let errs = load_file(Path::new("x.yaml"), &text).unwrap_err();
        let shown = errs[0].to_string();
        assert!(shown.contains("invalid type: string"), "{shown}");
        assert!(!shown.contains(&long[..120]), "{shown}");
        assert!(shown.len() < 300, "{shown}");
    }

    #[test]
    fn a_tree_of_more_entries_than_the_limit_is_refused_whole() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.yaml"), doc("a", 1)).unwrap();
        for i in 0..MAX_ENTRIES {
            std::fs::File::create(dir.path().join(format!("n{i}"))).unwrap();
        }
        let err = scan_dir(dir.path(), &mut ParseCache::default()).expect_err("refused");
        assert!(err.to_string().contains("more than 100000 files and directories"), "{err}");
    }
    #[test]
    fn a_file_reached_through_many_link_paths_is_read_and_parsed_once() {
        // d0/{a,b} -> ../d1, d1/{a,b} -> ../d2 ...: 2^10 paths to one file in a tree of 33
        // entries; a 1 MiB file there makes `validate` grow past 7 GB (2^16 paths: far more).
        let dir = tempfile::tempdir().unwrap();
        for i in 0..=10 {
            std::fs::create_dir(dir.path().join(format!("d{i}"))).unwrap();
        }
        for i in 0..10 {
            for l in ["a", "b"] {
                std::os::unix::fs::symlink(format!("../d{}", i + 1), dir.path().join(format!("d{i}/{l}"))).unwrap();
            }
        }
        std::fs::write(dir.path().join("d10/big.yaml"), doc("big", 1)).unwrap();
        let scan = scan_dir(dir.path(), &mut ParseCache::default()).unwrap();
        let parsed = scan.iter().filter(|(p, r)| p.ends_with("big.yaml") && r.is_ok()).count();
        assert_eq!(parsed, 1, "{} paths read and parsed: no bound on the bytes a tree makes us read", scan.len());
    }
}
