//! Loading manifest files (recursively, multi-document) into a validated snapshot.

use std::fmt;
use std::path::{Path, PathBuf};

use super::model::Document;
use super::validate;
use super::yaml::{self, Pos, SpannedDoc};

/// One validation or parse problem, located in its file.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestError {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    /// Field path inside the document, e.g. `spec.aliases.prod.routing`; empty for syntax errors.
    pub field: String,
    pub message: String,
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file.display(), self.line, self.column)?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

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

/// A valid `FunctionConfig` document and where it came from.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub name: String,
    pub file: PathBuf,
    pub doc: Document,
    pub spanned: SpannedDoc,
}

impl Manifest {
    pub fn pos_of(&self, field: &str) -> Pos {
        self.spanned.pos_of(field)
    }

    /// A stable content hash of the document (observed generation).
    pub fn content_hash(&self) -> String {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.spanned.value.to_string().hash(&mut h);
        format!("{:016x}", h.finish())
    }
}

/// Every valid manifest of a directory, and every error found in it.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub manifests: Vec<Manifest>,
    pub errors: Vec<ManifestError>,
}

pub(crate) fn error_at(file: &Path, pos: Pos, field: &str, message: impl Into<String>) -> ManifestError {
    ManifestError {
        file: file.to_path_buf(),
        line: pos.line,
        column: pos.column,
        field: field.to_string(),
        message: message.into(),
    }
}

/// Parses and validates one file's text; all-or-nothing for the file.
pub fn load_file(file: &Path, text: &str) -> Result<Vec<Manifest>, Vec<ManifestError>> {
    let docs = yaml::parse(text).map_err(|e| vec![error_at(file, e.pos, "", e.message)])?;
    let mut manifests = Vec::new();
    let mut errors = Vec::new();
    for spanned in docs {
        if spanned.value.is_null() {
            continue; // an empty document (e.g. a trailing `---`)
        }
        match typed(file, &spanned) {
            Ok(doc) => {
                let before = errors.len();
                validate::document(file, &doc, &spanned, &mut errors);
                if errors.len() == before {
                    manifests.push(Manifest {
                        name: doc.metadata.name.clone(),
                        file: file.to_path_buf(),
                        doc,
                        spanned,
                    });
                }
            }
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(manifests)
    } else {
        Err(errors)
    }
}

fn typed(file: &Path, spanned: &SpannedDoc) -> Result<Document, ManifestError> {
    serde_path_to_error::deserialize(&spanned.value).map_err(|e| {
        let mut field = e.path().to_string();
        if field == "." {
            field.clear();
        }
        let message = friendly(&e.inner().to_string());
        error_at(file, spanned.pos_of(&field), &field, message)
    })
}

fn friendly(message: &str) -> String {
    if message.contains("untagged enum EnvValue") {
        "expected a string value or {fromSsm: PARAMETER_NAME}".into()
    } else if message.contains("untagged enum Scalar") {
        "expected a string or number".into()
    } else {
        message.to_string()
    }
}

fn is_manifest(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
}

/// Loads every `*.yaml`/`*.yml` under `dir` (recursively, following symlinks, sorted by path).
pub fn load_dir(dir: &Path) -> Result<Snapshot, LoadError> {
    let meta = std::fs::metadata(dir).map_err(|source| LoadError::ReadDir { path: dir.to_path_buf(), source })?;
    if !meta.is_dir() {
        return Err(LoadError::ReadDir { path: dir.to_path_buf(), source: std::io::Error::other("not a directory") });
    }
    let mut snapshot = Snapshot::default();
    // Hidden entries (`.git`, ConfigMap `..data` copies reached through their symlinks) are skipped.
    let walker = walkdir::WalkDir::new(dir)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
    for entry in walker {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                let path = e.path().unwrap_or(dir).to_path_buf();
                snapshot.errors.push(error_at(&path, Pos::default(), "", e.to_string()));
                continue;
            }
        };
        if !entry.file_type().is_file() || !is_manifest(entry.path()) {
            continue;
        }
        let path = entry.path();
        match std::fs::read(path) {
            Err(e) => snapshot.errors.push(error_at(path, Pos::default(), "", format!("cannot read: {e}"))),
            Ok(bytes) => match String::from_utf8(bytes) {
                Err(e) => snapshot.errors.push(error_at(
                    path,
                    Pos::default(),
                    "",
                    format!("not valid UTF-8 (byte {})", e.utf8_error().valid_up_to()),
                )),
                Ok(text) => match load_file(path, &text) {
                    Ok(ms) => snapshot.manifests.extend(ms),
                    Err(es) => snapshot.errors.extend(es),
                },
            },
        }
    }
    validate::across(&mut snapshot);
    Ok(snapshot)
}
