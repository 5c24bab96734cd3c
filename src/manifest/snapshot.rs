//! What loading produces, shared by loading and validation: a valid manifest with its resolved
//! function, errors located at file, line, column and field, and the snapshot of a directory.

use std::fmt;
use std::path::{Path, PathBuf};

use super::model::Document;
use super::yaml::{Pos, SpannedDoc};
use crate::types::{FunctionKey, FunctionRef};

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

/// Every valid manifest of a directory, and every error found in it.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub manifests: Vec<Manifest>,
    pub errors: Vec<ManifestError>,
}

/// The longest excerpt of a file an error quotes: a quoted or backticked run is cut to this
/// many characters, so a file's content (a token behind a symlink, a huge scalar) never comes
/// back whole in an error, an alert, `/status`, the page or the log.
pub const MAX_EXCERPT_CHARS: usize = 60;
/// The longest message (and field path) of one error, in characters.
pub const MAX_MESSAGE_CHARS: usize = 400;

pub fn error_at(file: &Path, pos: Pos, field: &str, message: impl Into<String>) -> ManifestError {
    ManifestError {
        file: file.to_path_buf(),
        line: pos.line,
        column: pos.column,
        field: cut(field, MAX_MESSAGE_CHARS / 2),
        message: excerpted(&message.into()),
    }
}

/// `text` with every run between `"` `"` or `` ` `` `` ` `` cut to [`MAX_EXCERPT_CHARS`], control
/// characters as spaces, and at most [`MAX_MESSAGE_CHARS`] in all.
pub fn excerpted(text: &str) -> String {
    let mut out = String::new();
    let mut written = 0usize;
    let mut open: Option<char> = None;
    let mut run = 0usize;
    for c in text.chars() {
        let c = if c.is_control() { ' ' } else { c };
        let keep = match open {
            Some(q) if c == q => {
                open = None;
                Some(c)
            }
            Some(_) => {
                run += 1;
                match run {
                    r if r <= MAX_EXCERPT_CHARS => Some(c),
                    r if r == MAX_EXCERPT_CHARS + 1 => Some('…'),
                    _ => None,
                }
            }
            None => {
                if c == '"' || c == '`' {
                    open = Some(c);
                    run = 0;
                }
                Some(c)
            }
        };
        if let Some(c) = keep {
            if written == MAX_MESSAGE_CHARS {
                out.push('…');
                break;
            }
            out.push(c);
            written += 1;
        }
    }
    out
}

/// At most `max` characters of `text`, `…` marking a cut.
fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// A valid `FunctionConfig` document and where it came from. The parsed YAML tree is not kept
/// (a resident daemon holds thousands of these): only the generation and the positions that
/// checks across files report. Shared: the store keeps a manifest in several places (per file,
/// in force, parse cache), so a clone is one reference count; the fields read through `Deref`.
#[derive(Debug, Clone)]
pub struct Manifest(std::sync::Arc<Loaded>);

/// What a `Manifest` holds.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub name: String,
    pub file: PathBuf,
    pub doc: std::sync::Arc<Document>,
    /// The function it manages, resolved once here and passed down.
    pub function: FunctionRef,
    generation: String,
    positions: Positions,
    /// What validation warns about (valid, but likely a mistake): printed, never fatal.
    pub warnings: Vec<ManifestError>,
}

impl std::ops::Deref for Manifest {
    type Target = Loaded;
    fn deref(&self) -> &Loaded {
        &self.0
    }
}

/// Changing a shared manifest copies it first (copy on write).
impl std::ops::DerefMut for Manifest {
    fn deref_mut(&mut self) -> &mut Loaded {
        std::sync::Arc::make_mut(&mut self.0)
    }
}

/// Where the document, its `metadata.name` and its `spec` start.
#[derive(Debug, Clone, Copy)]
struct Positions {
    doc: Pos,
    name: Pos,
    spec: Pos,
}

impl Manifest {
    pub(super) fn new(file: &Path, doc: Document, spanned: &SpannedDoc) -> Self {
        let raw = doc.spec.function_name.as_deref().unwrap_or(&doc.metadata.name);
        // Validation accepted the reference; fall back to it verbatim just in case.
        let function = FunctionRef::parse(raw).unwrap_or_else(|_| FunctionRef::verbatim(raw));
        Manifest(std::sync::Arc::new(Loaded {
            name: doc.metadata.name.clone(),
            file: file.to_path_buf(),
            function,
            doc: std::sync::Arc::new(doc),
            generation: fnv1a(&spanned.value.to_string()),
            positions: Positions {
                doc: spanned.start,
                name: spanned.pos_of("metadata.name"),
                spec: spanned.pos_of("spec"),
            },
            warnings: Vec::new(),
        }))
    }

    /// The manifest with the warnings validation found in it.
    pub fn with_warnings(mut self, warnings: Vec<ManifestError>) -> Self {
        if !warnings.is_empty() {
            self.warnings = warnings;
        }
        self
    }

    /// Position of `metadata.name` or `spec` (the fields checks across files point at), else
    /// of the document.
    pub fn pos_of(&self, field: &str) -> Pos {
        match field {
            "metadata.name" => self.positions.name,
            "spec" => self.positions.spec,
            _ => self.positions.doc,
        }
    }

    /// The function's key: the manifest's region, else the ARN's, else `default_region`.
    pub fn key(&self, default_region: Option<&str>) -> Option<FunctionKey> {
        self.function.key(self.doc.spec.region.as_deref(), default_region, self.doc.spec.role_arn.as_deref())
    }

    /// The document's generation: FNV-1a 64 of its canonical JSON. Stable across builds and
    /// platforms, because it is stored on the function (tag) to tell drift from git changes.
    pub fn content_hash(&self) -> String {
        self.generation.clone()
    }
}

fn fnv1a(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}
