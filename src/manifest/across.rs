//! The rules across manifests: one manifest per name and per function, and each release's rules.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use super::snapshot::{error_at, Manifest, ManifestError, Snapshot};

/// Checks across documents: unique `metadata.name`, one manifest per function. A file with a
/// conflicting document is rejected whole (all-or-nothing per file).
pub fn across(snapshot: &mut Snapshot) {
    let (errors, rejected) = conflicts(&snapshot.manifests.iter().collect::<Vec<_>>(), None);
    snapshot.errors.extend(errors);
    snapshot.manifests.retain(|m| !rejected.contains(&m.file));
}

/// The function a manifest manages, as the cross-file rules compare it: (region, name), the
/// region falling back to `default_region` as the function's key does.
pub fn target<'a>(m: &'a Manifest, default_region: Option<&'a str>) -> (&'a str, &'a str) {
    let region = m.doc.spec.region.as_deref().or(m.function.region.as_deref()).or(default_region);
    (region.unwrap_or_default(), &m.function.name)
}

/// The cross-file rules over manifests in order: the first manifest of a name, or of a function
/// in a region, keeps it; every later one is an error, and its file is rejected.
pub fn conflicts(manifests: &[&Manifest], default_region: Option<&str>) -> (Vec<ManifestError>, HashSet<PathBuf>) {
    let mut names: HashMap<&str, &Manifest> = HashMap::new();
    let mut targets: HashMap<(&str, &str), &Manifest> = HashMap::new();
    let mut errors = Vec::new();
    let mut rejected_files = HashSet::new();
    for &m in manifests {
        if let Some(f) = names.get(m.name.as_str()) {
            let p = f.pos_of("metadata.name");
            errors.push(error_at(
                &m.file,
                m.pos_of("metadata.name"),
                "metadata.name",
                format!("duplicate name `{}` (first defined at {}:{}:{})", m.name, f.file.display(), p.line, p.column),
            ));
            rejected_files.insert(m.file.clone());
            continue;
        }
        names.insert(&m.name, m);
        let (region, function) = target(m, default_region);
        if let Some(f) = targets.get(&(region, function)) {
            errors.push(error_at(
                &m.file,
                m.pos_of("spec"),
                "spec.functionName",
                format!("function `{function}` is already managed by manifest `{}` ({})", f.name, f.file.display()),
            ));
            rejected_files.insert(m.file.clone());
            continue;
        }
        targets.insert((region, function), m);
    }
    let kept: Vec<&Manifest> = manifests.iter().copied().filter(|m| !rejected_files.contains(&m.file)).collect();
    for e in super::release_rules::across(&kept) {
        rejected_files.insert(e.file.clone());
        errors.push(e);
    }
    (errors, rejected_files)
}
