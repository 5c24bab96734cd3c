//! The module graph stays layered (README "Architecture"): types at the bottom; manifest →
//! desired → observed → plan → apply → reconcile; aws below all of them; the daemon (controller)
//! and the commands on top. A `use crate::X` that points upward fails here, by file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module → the modules of the crate it may use (test code excluded).
const ALLOWED: &[(&str, &[&str])] = &[
    ("types", &[]),
    ("manifest", &["types"]),
    ("desired", &["manifest", "types"]),
    ("aws", &["types"]),
    ("observed", &["aws", "desired", "types"]),
    ("plan", &["desired", "observed", "types"]),
    ("apply", &["aws", "plan", "types"]),
    ("reconcile", &["apply", "aws", "desired", "observed", "plan", "types"]),
    ("export", &["aws", "manifest", "types"]),
    ("trail", &["types"]),
    ("metrics", &["types"]),
    ("status", &["types"]),
    ("page", &["status", "types"]),
    ("admin", &["metrics", "page", "status"]),
    ("alerts", &["aws", "metrics", "status", "types"]),
    (
        "controller",
        &[
            "admin",
            "alerts",
            "apply",
            "aws",
            "desired",
            "manifest",
            "metrics",
            "plan",
            "reconcile",
            "status",
            "trail",
            "types",
        ],
    ),
    ("set_code", &["manifest"]),
    ("cli", &[]),
    ("progress", &[]),
];

fn sources(p: &Path, out: &mut Vec<PathBuf>) {
    if p.is_dir() {
        for e in std::fs::read_dir(p).unwrap() {
            sources(&e.unwrap().path(), out);
        }
    } else if p.extension().is_some_and(|e| e == "rs") {
        out.push(p.to_path_buf());
    }
}

/// The crate modules a file names (`crate::X`), outside its `#[cfg(test)]` module.
fn uses(text: &str) -> BTreeSet<String> {
    let code = text.split("#[cfg(test)]").next().unwrap_or(text);
    code.match_indices("crate::")
        .map(|(i, _)| code[i + 7..].chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect())
        .collect()
}

#[test]
fn modules_depend_only_downward() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut violations = vec![];
    for (module, may) in &allowed {
        let mut files = vec![];
        let dir = src.join(module);
        let root = if dir.is_dir() { dir } else { src.join(format!("{module}.rs")) };
        sources(&root, &mut files);
        assert!(!files.is_empty(), "module {module} has no source");
        for f in files.iter().filter(|f| !f.file_name().unwrap().to_string_lossy().ends_with("tests.rs")) {
            for used in uses(&std::fs::read_to_string(f).unwrap()) {
                if used != *module && !may.contains(&used.as_str()) {
                    violations.push(format!("{} uses crate::{used}", f.strip_prefix(&src).unwrap().display()));
                }
            }
        }
    }
    assert!(violations.is_empty(), "upward dependencies:\n{}", violations.join("\n"));
}

#[test]
fn the_manifest_module_is_layered_too() {
    // yaml → model → snapshot → validate → load (schema beside model).
    let order = ["yaml", "model", "snapshot", "validate", "load"];
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/manifest");
    for (i, m) in order.iter().enumerate() {
        let text = std::fs::read_to_string(dir.join(format!("{m}.rs"))).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap();
        for later in &order[i + 1..] {
            assert!(!code.contains(&format!("super::{later}")), "manifest/{m}.rs uses {later}, which is above it");
        }
    }
}
